"""Fills config.json.in with the principals of the authentication interop test.

Run with the Crossbar virtualenv's Python (it has autobahn with PyNaCl, argon2-cffi and
passlib): the SCRAM Argon2 credential comes from autobahn's own derive_scram_credential and
the cryptosign public key from PyNaCl, so the Rust side is checked against independent
derivations. Usage: principals.py PORT TLS_PORT CBDIR < config.json.in > config.json

For TLS client certificate authentication it writes, into CBDIR, a self-signed server
certificate for 127.0.0.1 (server.crt, server.key) and a self-signed client certificate
(client.crt, client.key: Crossbar trusts it as its own CA and knows its principal by SHA-1
fingerprint), made with the cryptography package.

Every secret here is a test fixture, known to interop/crossbar-auth/run.sh and to the Rust
program (examples/crossbar_auth.rs), which must agree on them.
"""

import datetime
import hashlib
import hmac
import ipaddress
import json
import os
import sys

from autobahn.wamp.auth import derive_scram_credential
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from nacl.signing import SigningKey

# The private key is the first test vector of the cryptosign specification.
CRYPTOSIGN_SEED = "4d57d97a68f555696620a6d849c0ce582568518d729eb753dc7c732de2804510"
PBKDF2_SALT = bytes(range(16))


def pbkdf2_credential(password, salt, iterations):
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations, 32)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    return {
        "kdf": "pbkdf2",
        "iterations": iterations,
        "memory": 0,
        "salt": salt.hex(),
        "stored-key": hashlib.sha256(client_key).hexdigest(),
        "server-key": hmac.new(salted, b"Server Key", hashlib.sha256).hexdigest(),
    }


def self_signed(directory, name, cn, server):
    """Writes NAME.crt and NAME.key (PKCS#8) to DIRECTORY; returns the SHA-1 fingerprint as
    Crossbar formats it (AB:CD:...)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.timezone.utc)
    if server:
        names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        usage = ExtendedKeyUsageOID.SERVER_AUTH
    else:
        names = [x509.DNSName(cn)]
        usage = ExtendedKeyUsageOID.CLIENT_AUTH
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .sign(key, hashes.SHA256())
    )
    with open(os.path.join(directory, name + ".key"), "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    with open(os.path.join(directory, name + ".crt"), "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    return ":".join("{:02X}".format(b) for b in cert.fingerprint(hashes.SHA1()))  # nosec B303


port, tls_port, cbdir = sys.argv[1], sys.argv[2], sys.argv[3]
self_signed(cbdir, "server", "127.0.0.1", server=True)
client_sha1 = self_signed(cbdir, "client", "tls-user", server=False)

pubkey = SigningKey(bytes.fromhex(CRYPTOSIGN_SEED)).verify_key.encode().hex()
argon2 = derive_scram_credential("scram-argon2", "scram-secret-1")
argon2["role"] = "scram-role"
pbkdf2 = pbkdf2_credential("scram-secret-2", PBKDF2_SALT, 4096)
pbkdf2["role"] = "scram-role"

auth = {
    "ticket": {
        "type": "static",
        "principals": {"ticket-user": {"ticket": "ticket-secret-1", "role": "ticket-role"}},
    },
    "wampcra": {
        "type": "static",
        "users": {
            "cra-user": {"secret": "cra-secret-1", "role": "cra-role"},
            "cra-salted": {
                "secret": "cra-secret-2",
                "role": "cra-role",
                "salt": "salt123",
                "iterations": 1000,
                "keylen": 32,
            },
        },
    },
    "cryptosign": {
        "type": "static",
        "principals": {"cs-user": {"authorized_keys": [pubkey], "role": "cs-role"}},
    },
    "scram": {
        "type": "static",
        "principals": {"scram-argon2": argon2, "scram-pbkdf2": pbkdf2},
    },
}
# A second WebSocket path tracks cookies: a session there that authenticates by ticket
# binds its cookie, and the next connection presenting it is welcomed by cookie.
cookie_auth = {"ticket": auth["ticket"], "cookie": {}}
# The TLS transport asks for a client certificate and knows its principal by fingerprint.
tls_auth = {
    "tls": {
        "type": "static",
        "principals": {"tls-user": {"certificate-sha1": client_sha1, "role": "tls-role"}},
    }
}
allow_all = {
    "uri": "",
    "match": "prefix",
    "allow": {"call": True, "register": True, "publish": True, "subscribe": True},
    "disclose": {"caller": False, "publisher": False},
    "cache": True,
}
roles = [
    {"name": name, "permissions": [allow_all]}
    for name in ("ticket-role", "cra-role", "cs-role", "scram-role", "tls-role")
]

template = sys.stdin.read()
sys.stdout.write(
    template.replace("@WS_PORT@", port)
    .replace("@TLS_PORT@", tls_port)
    .replace("@AUTH@", json.dumps(auth, indent=4))
    .replace("@COOKIE_AUTH@", json.dumps(cookie_auth, indent=4))
    .replace("@TLS_AUTH@", json.dumps(tls_auth, indent=4))
    .replace("@ROLES@", ",\n".join(json.dumps(r) for r in roles))
)
