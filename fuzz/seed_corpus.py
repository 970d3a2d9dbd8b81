#!/usr/bin/env python3
"""Seeds the fuzz corpora with the encodings of the vendored WAMP test vectors.

Usage: python3 fuzz/seed_corpus.py  (from the repository root)
"""
import glob
import hashlib
import json
import os
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VECTORS = os.path.join(ROOT, "core", "tests", "testsuite", "singlemessage")
CORPUS = os.path.join(ROOT, "fuzz", "corpus")
SERIALIZERS = ("json", "msgpack", "cbor")
BATCH_PICK = {"cbor": 0, "msgpack": 1, "json": 2}  # Serializer::ALL = [Cbor, MsgPack, Json]


def write(target, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


count = 0
for path in sorted(glob.glob(os.path.join(VECTORS, "**", "*.json"), recursive=True)):
    with open(path) as f:
        doc = json.load(f)
    for sample in doc.get("samples", []):
        for ser, variants in sample.get("serializers", {}).items():
            if ser not in SERIALIZERS:
                continue
            for v in variants:
                data = bytes.fromhex(v["bytes_hex"])
                write("decode_" + ser, data)
                if ser == "json":
                    batch = data + b"\x18"
                else:
                    batch = struct.pack(">I", len(data)) + data
                write("decode_batch", bytes([BATCH_PICK[ser]]) + batch)
                count += 1
print(f"seeded {count} encodings")
