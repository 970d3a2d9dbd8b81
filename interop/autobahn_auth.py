#!/usr/bin/env python3
"""Authentication interoperability of nexusd with autobahn-python clients.

Makes a throw-away PKI (CA, router certificate, client certificates from the CA and from a
rogue CA), cryptosign keys and SCRAM credentials, writes a nexusd config file enabling every
method (ticket, WAMP-CRA plain and salted, cryptosign with and without router
authentication, Autobahn's SCRAM with Argon2id and PBKDF2, cookie, TLS client certificates),
starts nexusd with it, and runs autobahn sessions against it: each method must succeed with
the right credentials and end in ABORT with the wrong ones. Prints `PASS name` or
`FAIL name: reason` per scenario and `N passed, N failed`; exits 1 if anything failed.

Autobahn's WebSocket client keeps no cookies: the cookie scenario reads `Set-Cookie` from the
handshake response (the protocol's `http_headers`) and sends it back with the factory's
`headers` option, as a browser would.

Usage: autobahn_auth.py [--nexusd PATH] [-k SUBSTRING] [--log FILE]
"""

import argparse
import asyncio
import base64
import datetime
import ipaddress
import os
import signal
import ssl
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path
from urllib.parse import urlsplit

import txaio

txaio.use_asyncio()

from autobahn.asyncio.rawsocket import WampRawSocketClientFactory  # noqa: E402
from autobahn.asyncio.wamp import Session  # noqa: E402
from autobahn.asyncio.websocket import WampWebSocketClientFactory  # noqa: E402
from autobahn.wamp.auth import create_authenticator  # noqa: E402
from autobahn.wamp.serializer import CBORSerializer, JsonSerializer, MsgPackSerializer  # noqa: E402
from autobahn.wamp.types import ComponentConfig  # noqa: E402
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: E402
from nacl.signing import VerifyKey  # noqa: E402

REALM = "auth.realm"
STEP_TIMEOUT = 15.0
FAILED = "wamp.error.authentication_failed"
NO_MATCH = "wamp.error.no_matching_auth_method"

ALICE_SEED = bytes(range(1, 33))
ROUTER_SEED = bytes(range(101, 133))
ROGUE_SEED = bytes(range(201, 233))


class Failure(Exception):
    pass


def pubkey_hex(seed):
    from nacl.signing import SigningKey

    return SigningKey(seed).verify_key.encode().hex()


# ---- a throw-away PKI -------------------------------------------------------------------


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject, issuer_name, key, issuer_key, *, ca=False, sans=(), eku=None):
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    if eku:
        b = b.add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
    if ca:
        b = b.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    return b.sign(issuer_key, hashes.SHA256())


def _write(dir, name, cert, key):
    (dir / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if key is not None:
        (dir / f"{name}.key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )


def make_pki(dir):
    def new_key():
        return ec.generate_private_key(ec.SECP256R1())

    for prefix in ("", "rogue-"):
        ca_key = new_key()
        ca = _cert(f"{prefix}nexus interop CA", _name(f"{prefix}nexus interop CA"), ca_key, ca_key, ca=True)
        _write(dir, f"{prefix}ca", ca, ca_key)
        client_key = new_key()
        client = _cert(
            "device-17", ca.subject, client_key, ca_key, eku=ExtendedKeyUsageOID.CLIENT_AUTH
        )
        _write(dir, f"{prefix}client", client, client_key)
        if not prefix:
            server_key = new_key()
            server = _cert(
                "router",
                ca.subject,
                server_key,
                ca_key,
                sans=[x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
                eku=ExtendedKeyUsageOID.SERVER_AUTH,
            )
            _write(dir, "server", server, server_key)


def scram_credential(nexusd, kdf, iterations, memory=None):
    argv = [nexusd, "scram-credential", "--method", "scram", "--kdf", kdf, "--iterations", str(iterations)]
    if memory:
        argv += ["--memory", str(memory)]
    out = subprocess.run(argv, input=b"scram-pw\n", capture_output=True, check=True).stdout.decode()
    # Drop the table header: the caller names the table.
    return "\n".join(out.splitlines()[1:])


def write_config(dir, nexusd):
    (dir / "router.key").write_text(ROUTER_SEED.hex() + "\n")
    # Argon2id only: autobahn's own PBKDF2 path of `scram` fails before sending anything
    # ("Invalid argument types": it hands the base64 salt text to a function that wants
    # bytes), so PBKDF2 is covered by nexus's own tests.
    argon = scram_credential(nexusd, "argon2id13", 16, 1024)
    pbkdf2 = scram_credential(nexusd, "argon2id13", 8, 2048)
    config = f"""
listen = ["tcp://127.0.0.1:0"]

[tls]
cert = "{dir}/server.pem"
key = "{dir}/server.key"

[[listener]]
url = "ws://127.0.0.1:0/ws"
cookie = {{ name = "cbtid", max_age_secs = 600 }}

[[listener]]
url = "wss://127.0.0.1:0/ws"
client_certificates = "optional"
client_ca = "{dir}/ca.pem"

[[listener]]
url = "tcps://127.0.0.1:0"
client_certificates = "required"
client_ca = "{dir}/ca.pem"

[[realm]]
name = "{REALM}"

[realm.auth]
methods = ["ticket", "wampcra", "cryptosign", "scram", "cookie", "tls"]
router_key_file = "{dir}/router.key"

[[realm.auth.user]]
authid = "alice"
role = "admin"
ticket = "alice-ticket"
cryptosign = ["{pubkey_hex(ALICE_SEED)}"]
[realm.auth.user.wampcra]
secret = "alice-secret"
[realm.auth.user.scram]
{argon}

[[realm.auth.user]]
authid = "bob"
role = "user"
[realm.auth.user.wampcra]
secret = "L3L1YUE8Txlw"
salt = "salt123"
iterations = 1000
keylen = 32
[realm.auth.user.scram]
{pbkdf2}

[[realm.auth.user]]
authid = "device-17"
role = "device"
"""
    path = dir / "nexusd.toml"
    path.write_text(config)
    return path


# ---- sessions -----------------------------------------------------------------------------


class AuthSession(Session):
    """A session joining with `authenticators` (autobahn's), or, without any, with the
    plain `join_kw` (methods without a CHALLENGE: cookie, tls)."""

    def __init__(self, config, outcome, authenticators, join_kw):
        super().__init__(config)
        self.outcome = outcome
        self.join_kw = join_kw
        self.challenges = []
        for a in authenticators:
            self.add_authenticator(a)

    def onConnect(self):
        if self._authenticators:
            super().onConnect()
        else:
            self.join(self.config.realm, **self.join_kw)

    def onChallenge(self, challenge):
        self.challenges.append(challenge)
        return super().onChallenge(challenge)

    def onJoin(self, details):
        if not self.outcome.done():
            self.outcome.set_result(("welcome", details))
        self.leave()

    def onLeave(self, details):
        if not self.outcome.done():
            self.outcome.set_result(("abort", details))
        self.disconnect()

    def onDisconnect(self):
        if not self.outcome.done():
            self.outcome.set_result(("closed", None))


class Harness:
    def __init__(self, nexusd, log_path):
        self.nexusd, self.log_path = nexusd, log_path
        self.urls = {}
        self.passed = self.failed = 0
        self.router = None

    async def start(self, dir):
        make_pki(dir)
        config = write_config(dir, self.nexusd)
        self.dir = dir
        self.log = open(self.log_path, "wb")
        self.router = await asyncio.create_subprocess_exec(
            self.nexusd, "--config", str(config), stdout=asyncio.subprocess.PIPE, stderr=self.log
        )
        for _ in range(4):
            line = await asyncio.wait_for(self.router.stdout.readline(), STEP_TIMEOUT)
            text = line.decode().strip()
            if not text.startswith("listening on "):
                raise RuntimeError(f"nexusd printed {text!r} instead of 'listening on URL'")
            url = text[len("listening on ") :]
            self.urls[url.split(":")[0]] = url
        if set(self.urls) != {"ws", "wss", "tcp", "tcps"}:
            raise RuntimeError(f"nexusd listeners: {self.urls}")

    async def stop(self):
        if self.router and self.router.returncode is None:
            self.router.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.router.wait(), 10)
            except asyncio.TimeoutError:
                self.router.kill()
                await self.router.wait()

    def tls_context(self, client=None):
        ctx = ssl.create_default_context(cafile=str(self.dir / "ca.pem"))
        if client:
            ctx.load_cert_chain(str(self.dir / f"{client}.pem"), str(self.dir / f"{client}.key"))
        return ctx

    async def attempt(self, transport="ws", authenticators=(), join_kw=None, headers=None, client_cert=None):
        """One join: returns (kind, details, session, protocol) with kind "welcome", "abort"
        or "closed"."""
        loop = asyncio.get_running_loop()
        url = self.urls[transport]
        outcome = loop.create_future()
        holder = {}

        def make():
            s = AuthSession(ComponentConfig(REALM, {}), outcome, list(authenticators), join_kw or {})
            holder["session"] = s
            return s

        if transport in ("ws", "wss"):
            factory = WampWebSocketClientFactory(
                make, url=url, serializers=[JsonSerializer()], headers=headers or {}
            )
        else:
            factory = WampRawSocketClientFactory(make, serializer=CBORSerializer())
        if hasattr(factory, "loop"):
            factory.loop = loop
        u = urlsplit(url)
        ssl_ctx = self.tls_context(client_cert) if transport in ("wss", "tcps") else None

        def protocol():
            # A TLS 1.3 server refuses a client certificate after the client's handshake
            # finished: the connection then closes before the RawSocket handshake, and
            # autobahn never tells the session. The protocol hears it.
            proto = factory()
            connection_lost = proto.connection_lost

            def lost(exc):
                if not outcome.done():
                    outcome.set_result(("closed", exc))
                connection_lost(exc)

            proto.connection_lost = lost
            return proto

        try:
            tr, proto = await asyncio.wait_for(
                loop.create_connection(
                    protocol, u.hostname, u.port, ssl=ssl_ctx, server_hostname="localhost" if ssl_ctx else None
                ),
                STEP_TIMEOUT,
            )
        except (OSError, ssl.SSLError) as e:
            return ("refused", e, None, None)
        try:
            kind, details = await asyncio.wait_for(outcome, STEP_TIMEOUT)
        except asyncio.TimeoutError:
            raise Failure("no WELCOME or ABORT in time") from None
        finally:
            tr.close()
        return (kind, details, holder.get("session"), proto)

    def report(self, name, error):
        if error is None:
            self.passed += 1
            print(f"PASS {name}", flush=True)
        else:
            self.failed += 1
            print(f"FAIL {name}: {error}", flush=True)

    async def run(self, name, fn):
        try:
            await asyncio.wait_for(fn(self), 60)
            error = None
        except Failure as e:
            error = str(e)
        except asyncio.TimeoutError:
            error = "timed out"
        except Exception as e:
            traceback.print_exc()
            error = f"{type(e).__name__}: {e}"
        self.report(name, error)


def expect_welcome(result, authid, authrole, authmethod):
    kind, details = result[0], result[1]
    if kind != "welcome":
        reason = getattr(details, "reason", details)
        raise Failure(f"expected WELCOME, got {kind} ({reason})")
    got = (details.authid, details.authrole, details.authmethod, details.authprovider)
    want = (authid, authrole, authmethod, "static")
    if got != want:
        raise Failure(f"WELCOME identity {got}, expected {want}")


def expect_abort(result, reason):
    kind, details = result[0], result[1]
    if kind != "abort" or details.reason != reason:
        raise Failure(f"expected ABORT {reason}, got {kind} ({getattr(details, 'reason', details)})")


# ---- scenarios ----------------------------------------------------------------------------


def ticket(authid, ticket):
    return create_authenticator("ticket", authid=authid, ticket=ticket)


def wampcra(authid, secret):
    return create_authenticator("wampcra", authid=authid, secret=secret)


def cryptosign(seed, authid=None, authextra=None):
    kw = {"privkey": seed.hex(), "authextra": dict(authextra or {})}
    if authid:
        kw["authid"] = authid
    return create_authenticator("cryptosign", **kw)


def scram(authid, password):
    return create_authenticator("scram", authid=authid, password=password)


def simple(name, at, authenticators, expected):
    async def scenario(h):
        result = await h.attempt(at, authenticators=authenticators())
        if expected[0] == "abort":
            expect_abort(result, expected[1])
        else:
            expect_welcome(result, *expected)

    return (name, scenario)


async def wampcra_salted_challenge(h):
    result = await h.attempt("ws", authenticators=[wampcra("bob", "L3L1YUE8Txlw")])
    expect_welcome(result, "bob", "user", "wampcra")
    extra = result[2].challenges[0].extra
    if (extra.get("salt"), extra.get("iterations"), extra.get("keylen")) != ("salt123", 1000, 32):
        raise Failure(f"salted CHALLENGE extra {extra}")


async def cryptosign_router_auth(h):
    client_challenge = os.urandom(32)
    result = await h.attempt(
        "ws", authenticators=[cryptosign(ALICE_SEED, "alice", {"challenge": client_challenge.hex()})]
    )
    expect_welcome(result, "alice", "admin", "cryptosign")
    extra = result[2].challenges[0].extra
    if extra.get("pubkey") != pubkey_hex(ROUTER_SEED):
        raise Failure(f"CHALLENGE pubkey {extra.get('pubkey')}, expected the router's key")
    signed = bytes.fromhex(extra["signature"])
    if signed[64:] != client_challenge:
        raise Failure("the router signed something else than the client's challenge")
    VerifyKey(bytes.fromhex(extra["pubkey"])).verify(signed[64:], signed[:64])


async def cryptosign_tls_unique(h):
    """autobahn can only ask for tls-unique, which rustls cannot provide: the CHALLENGE then
    carries no channel_binding (the spec's way of saying "not in use")."""
    result = await h.attempt(
        "wss", authenticators=[cryptosign(ALICE_SEED, "alice", {"channel_binding": "tls-unique"})]
    )
    session = result[2]
    if not session or not session.challenges:
        raise Failure(f"no CHALLENGE ({result[0]})")
    extra = session.challenges[0].extra
    if extra.get("channel_binding") is not None:
        raise Failure(f"CHALLENGE claims channel_binding {extra.get('channel_binding')!r}")


async def cookie_round_trip(h):
    first = await h.attempt("ws", authenticators=[ticket("alice", "alice-ticket")])
    expect_welcome(first, "alice", "admin", "ticket")
    set_cookie = first[3].http_headers.get("set-cookie") if first[3] else None
    if not set_cookie or "HttpOnly" not in set_cookie:
        raise Failure(f"Set-Cookie in the handshake response: {set_cookie!r}")
    cookie = set_cookie.split(";")[0]
    second = await h.attempt("ws", join_kw={"authmethods": ["cookie"]}, headers={"Cookie": cookie})
    expect_welcome(second, "alice", "admin", "cookie")
    if "set-cookie" in second[3].http_headers:
        raise Failure("a known cookie was replaced")
    forged = await h.attempt("ws", join_kw={"authmethods": ["cookie"]}, headers={"Cookie": "cbtid=forged"})
    expect_abort(forged, NO_MATCH)


async def tls_certificate(h):
    for at in ("wss", "tcps"):
        result = await h.attempt(at, join_kw={"authmethods": ["tls"]}, client_cert="client")
        expect_welcome(result, "device-17", "device", "tls")


async def tls_refused(h):
    # Optional listener, no certificate: no tls identity.
    result = await h.attempt("wss", join_kw={"authmethods": ["tls"]})
    expect_abort(result, NO_MATCH)
    # Required listener: no session without a certificate, nor with a rogue CA's.
    for cert in (None, "rogue-client"):
        result = await h.attempt("tcps", join_kw={"authmethods": ["tls"]}, client_cert=cert)
        if result[0] == "welcome":
            raise Failure(f"welcomed with certificate {cert}")
    result = await h.attempt("wss", join_kw={"authmethods": ["tls"]}, client_cert="rogue-client")
    if result[0] == "welcome":
        raise Failure("welcomed with a rogue certificate")


def scenarios():
    out = []
    for at in ("ws", "tcp", "wss"):
        out.append(simple(f"ticket@{at}", at, lambda: [ticket("alice", "alice-ticket")], ("alice", "admin", "ticket")))
    out += [
        simple("ticket.wrong", "ws", lambda: [ticket("alice", "alice-ticket!")], ("abort", FAILED)),
        simple("ticket.unknown-user", "ws", lambda: [ticket("mallory", "x")], ("abort", FAILED)),
        simple("wampcra", "ws", lambda: [wampcra("alice", "alice-secret")], ("alice", "admin", "wampcra")),
        simple("wampcra@tcp", "tcp", lambda: [wampcra("alice", "alice-secret")], ("alice", "admin", "wampcra")),
        simple("wampcra.wrong", "ws", lambda: [wampcra("alice", "alice-secreT")], ("abort", FAILED)),
        ("wampcra.salted", wampcra_salted_challenge),
        simple("wampcra.salted.wrong", "ws", lambda: [wampcra("bob", "L3L1YUE8Txl")], ("abort", FAILED)),
        simple("cryptosign", "ws", lambda: [cryptosign(ALICE_SEED, "alice")], ("alice", "admin", "cryptosign")),
        simple("cryptosign@tcp", "tcp", lambda: [cryptosign(ALICE_SEED, "alice")], ("alice", "admin", "cryptosign")),
        simple("cryptosign.no-authid", "ws", lambda: [cryptosign(ALICE_SEED)], ("alice", "admin", "cryptosign")),
        ("cryptosign.router-authentication", cryptosign_router_auth),
        ("cryptosign.tls-unique-not-bound", cryptosign_tls_unique),
        simple("cryptosign.wrong-key", "ws", lambda: [cryptosign(ROGUE_SEED, "alice")], ("abort", FAILED)),
        simple("scram.argon2id", "ws", lambda: [scram("alice", "scram-pw")], ("alice", "admin", "scram")),
        simple("scram@tcp", "tcp", lambda: [scram("bob", "scram-pw")], ("bob", "user", "scram")),
        simple("scram.wrong", "ws", lambda: [scram("alice", "scram-pW")], ("abort", FAILED)),
        simple("scram.unknown-user", "ws", lambda: [scram("mallory", "scram-pw")], ("abort", FAILED)),
        simple(
            "order.client-preference",
            "ws",
            lambda: [cryptosign(ALICE_SEED, "alice"), ticket("alice", "alice-ticket")],
            ("alice", "admin", "cryptosign"),
        ),
        ("cookie.round-trip", cookie_round_trip),
        ("tls.client-certificate", tls_certificate),
        ("tls.refused", tls_refused),
    ]
    return out


async def main():
    root = Path(__file__).resolve().parent.parent
    target = Path(os.environ.get("CARGO_TARGET_DIR", root / "target"))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nexusd", default=os.environ.get("NEXUSD", str(target / "debug" / "nexusd")))
    ap.add_argument("-k", dest="only", default="")
    ap.add_argument("--log", default=str(target / "interop-auth-nexusd.log"))
    opts = ap.parse_args()
    if not os.access(opts.nexusd, os.X_OK):
        sys.exit(f"not an executable: {opts.nexusd} (build with: cargo build -p nexusd)")
    h = Harness(opts.nexusd, opts.log)
    with tempfile.TemporaryDirectory(prefix="nexus-auth-interop-") as tmp:
        try:
            try:
                await h.start(Path(tmp))
            except Exception as e:
                traceback.print_exc()
                h.report("nexusd.start", f"{type(e).__name__}: {e}")
            else:
                for name, fn in scenarios():
                    if opts.only in name:
                        await h.run(name, fn)
        finally:
            await h.stop()
    print(f"{h.passed} passed, {h.failed} failed", flush=True)
    if h.failed:
        print(f"(nexusd log: {opts.log})", file=sys.stderr)
    return 1 if h.failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
