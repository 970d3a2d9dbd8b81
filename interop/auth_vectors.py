#!/usr/bin/env python3
"""Prints what autobahn-python computes for WAMP authentication with fixed inputs.

The Rust tests in core/src/auth/tests.rs assert the same values (pasted there as constants),
so nexus computes exactly what Autobahn and Crossbar compute.

WAMP-CRA needs only autobahn; cryptosign needs PyNaCl, SCRAM argon2-cffi and passlib (the
"encryption" and "scram" extras). Sections whose modules are missing print "skipped". The
Crossbar virtualenv (see conformance/crossbar/lib.sh) has all of them:

    target/crossbar-venv/bin/python interop/auth_vectors.py
"""

import base64
import hashlib
import json

import txaio

try:
    import twisted.python.failure  # noqa: F401

    txaio.use_twisted()
except ImportError:  # cryptosign (the only user of futures here) is skipped then anyway
    txaio.use_asyncio()

from autobahn.wamp import auth  # noqa: E402
from autobahn.wamp.types import Challenge  # noqa: E402


def section(name):
    print(f"\n== {name}")


def resolve(value):
    """Autobahn returns some results as Deferreds (Twisted fires them synchronously)."""
    out = []
    if txaio.is_future(value):
        txaio.add_callbacks(value, out.append, None)
        return out[0]
    return value


section("wampcra")
SECRET = "L3L1YUE8Txlw"
print("derive_key(secret, salt123, 1000, 32) =", auth.derive_key(SECRET, "salt123", 1000, 32).decode())
print("derive_key(sécret✓, sel✓, 10, 16) =", auth.derive_key("sécret✓", "sel✓", 10, 16).decode())
CHALLENGE = json.dumps(
    {
        "authid": "joe",
        "authrole": "user",
        "authmethod": "wampcra",
        "authprovider": "static",
        "session": 3251278072152162,
        "nonce": "LHRTC9zeOIrt_9U3",
        "timestamp": "2014-06-22T16:51:41.643Z",
    },
    ensure_ascii=False,
)
print("challenge =", CHALLENGE)
plain = auth.AuthWampCra(authid="joe", secret=SECRET)
print("plain signature =", plain.on_challenge(None, Challenge("wampcra", {"challenge": CHALLENGE})))
salted = auth.AuthWampCra(authid="joe", secret=SECRET)
extra = {"challenge": CHALLENGE, "salt": "salt123", "iterations": 1000, "keylen": 32}
print("salted signature =", salted.on_challenge(None, Challenge("wampcra", extra)))
unicode_challenge = '{"authid": "jö", "nonce": "✓"}'
print("unicode signature =", auth.compute_wcs("sécret✓", unicode_challenge).decode())

section("cryptosign")
try:
    from autobahn.wamp.cryptosign import CryptosignKey
except ImportError:
    print("skipped (PyNaCl missing)")
else:
    key = CryptosignKey.from_bytes(bytes(range(32)))
    print("seed = " + bytes(range(32)).hex())
    print("public key =", key.public_key())
    challenge = Challenge("cryptosign", {"challenge": "a5" * 32})
    print("signature (no binding) =", resolve(key.sign_challenge(challenge)))
    channel_id = bytes(range(32, 64))
    print("channel id = " + channel_id.hex())
    print(
        "signature (tls-unique) =",
        resolve(key.sign_challenge(challenge, channel_id=channel_id, channel_id_type="tls-unique")),
    )

section("scram")
if not auth.HAS_ARGON:
    print("skipped (argon2-cffi or passlib missing)")
else:
    client_nonce = bytes(range(100, 116))
    server_nonce = bytes(range(200, 216))
    salt = bytes(range(16))
    for password in ("secret", "pässwörd"):
        client = auth.AuthScram(authid="alice", password=password)
        client._client_nonce = base64.b64encode(client_nonce).decode()
        extra = {
            "nonce": base64.b64encode(client_nonce + server_nonce).decode(),
            "salt": base64.b64encode(salt).decode(),
            "kdf": "argon2id-13",
            "iterations": 3,
            "memory": 1024,
        }
        proof = client.on_challenge(None, Challenge("scram", extra))
        print(f"argon2id-13 t=3 m=1024 password={password!r} client nonce {client._client_nonce}")
        print("  challenge =", json.dumps(extra))
        print("  proof =", proof.decode())
        print("  salted password =", client._salted_password.decode())
    # Autobahn's pbkdf2 path passes the base64 salt text where bytes are required.
    client = auth.AuthScram(authid="alice", password="secret")
    client._client_nonce = base64.b64encode(client_nonce).decode()
    extra = dict(extra, kdf="pbkdf2", iterations=4096)
    try:
        client.on_challenge(None, Challenge("scram", extra))
        print("pbkdf2: works")
    except Exception as e:  # noqa: BLE001
        print(f"pbkdf2: fails in autobahn ({type(e).__name__}: {e})")
    credential = auth.derive_scram_credential("alice@example.com", "secret")
    print("derive_scram_credential(alice@example.com, secret) =", json.dumps(credential, sort_keys=True))
    print("  salt = sha256(email)[:16] =", hashlib.sha256(b"alice@example.com").digest()[:16].hex())
