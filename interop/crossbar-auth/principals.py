"""Fills config.json.in with the principals of the authentication interop test.

Run with the Crossbar virtualenv's Python (it has autobahn with PyNaCl, argon2-cffi and
passlib): the SCRAM Argon2 credential comes from autobahn's own derive_scram_credential and
the cryptosign public key from PyNaCl, so the Rust side is checked against independent
derivations. Usage: principals.py PORT < config.json.in > config.json

Every secret here is a test fixture, known to interop/crossbar-auth/run.sh and to the Rust
program (examples/crossbar_auth.rs), which must agree on them.
"""

import hashlib
import hmac
import json
import sys

from autobahn.wamp.auth import derive_scram_credential
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
allow_all = {
    "uri": "",
    "match": "prefix",
    "allow": {"call": True, "register": True, "publish": True, "subscribe": True},
    "disclose": {"caller": False, "publisher": False},
    "cache": True,
}
roles = [
    {"name": name, "permissions": [allow_all]}
    for name in ("ticket-role", "cra-role", "cs-role", "scram-role")
]

template = sys.stdin.read()
sys.stdout.write(
    template.replace("@WS_PORT@", sys.argv[1])
    .replace("@AUTH@", json.dumps(auth, indent=4))
    .replace("@ROLES@", ",\n".join(json.dumps(r) for r in roles))
)
