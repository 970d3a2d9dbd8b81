#!/usr/bin/env python3
"""Seeds the fuzz corpora with the encodings of the vendored WAMP test vectors, and the
router target's corpus with scenarios that walk into each feature of the advanced profile.

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

# ---- the router target -------------------------------------------------------------------------
# Each scenario is an input of fuzz_targets/router.rs: a configuration byte, then operations in
# its encoding (an opcode byte, a client index, the operation's argument bytes; keep the two in
# step). Arguments are picked from the target's small sets by index; NEXT is the request-ID byte
# meaning "the client's next request ID".

NEXT = 3
ADVANCED = 0x80  # the advanced-profile realms (| 0x02: external authentication on realm1,
CALLERS_ALWAYS = 0x04  # callers always disclosed,
PUBLISHERS_NEVER = 0x20  # publishers never disclosed)
TINY = 0x01  # tiny queues, external authentication and authorization on realm1


def attach(transport=0):
    return [0, 0, transport]


def detach(c):
    return [1, c]


def advance(step):
    return [2, step]


def hello(c, realm=0, roles=0, drop=0):
    # roles 0: every role; drop: a mask of the advanced features not announced
    return [3, c, realm, roles, drop, 3]


def goodbye(c):
    return [4, c, 0]


def publish(c, topic=0, flags=4, lists=0, extra=()):
    return [6, c, NEXT, topic, flags, lists, *extra]


def subscribe(c, topic=1, policy=0, flags=0):
    return [7, c, NEXT, topic, policy, flags]


def register(c, topic=0, policy=0, invoke=5, flags=0):
    return [9, c, NEXT, topic, policy, invoke, flags]


def call(c, topic=0, flags=1, runmode=3, extra=()):
    return [11, c, NEXT, topic, flags, runmode, *extra]


def cancel(c, mode):
    return [12, c, 0, mode]


def yield_(c, invocation=0, flags=1, extra=()):
    return [13, c, invocation, flags, *extra]


def callee_error(c, invocation=0, flags=2, extra=()):
    return [14, c, invocation, flags, *extra]


def resolve_authentication(identity):
    return [20, 0, 0, identity]


def authorize(allowed=True):
    return [21, 0 if allowed else 1]


def pause(c):
    return [22, c]


def chunk(c, which=0, more=1, topic=0):
    return [24, c, which, topic, more]


def meta(c, procedure, args=()):
    return [25, c, NEXT, procedure, *args]


def revoke(client_byte, kind):
    return [26, client_byte, kind, 0]


def testament(c, flags, scope, topic, options, lists, tail):
    return [27, c, NEXT, flags, scope, topic, options, lists, tail]


THREE = [attach(), attach(), attach(), hello(0), hello(1), hello(2)]
EXTERNAL_TWO = [attach(), attach(), hello(0), resolve_authentication(0), hello(1), resolve_authentication(1)]
ROUTER_SCENARIOS = {
    "progressive": (ADVANCED, THREE + [
        register(0), call(1, flags=4), chunk(1), chunk(1), yield_(0, flags=0), chunk(1, more=0),
        yield_(0), call(2, flags=4), yield_(0), chunk(2), chunk(2, more=0)]),
    "passthru": (ADVANCED, [
        attach(), attach(), attach(), hello(0), hello(1), hello(2, drop=64), register(0),
        call(1, flags=0x81, extra=[1]), yield_(0, flags=5, extra=[3]), call(2),
        yield_(0, flags=5, extra=[0]), callee_error(0, flags=34, extra=[1])]),
    "retained_history": (ADVANCED, THREE + [
        subscribe(0, flags=1), publish(1, flags=21), publish(1, topic=1, flags=21),
        publish(1, topic=4, flags=21), subscribe(2, policy=6, flags=1),
        meta(0, 14, [2, 0, 1, 1]), meta(2, 14, [2, 0x7f, 1, 2, 0, 3, 2, 2, 1, 2, 1, 1, 1, 1])]),
    "meta_kill": (ADVANCED, [
        attach(), attach(), attach(), attach(), hello(0), subscribe(0, topic=44, policy=6),
        hello(1), hello(2), hello(3), register(1), subscribe(2), meta(1, 19, [10, 3, 1, 1]),
        meta(0, 17, [1, 1, 1]), meta(0, 22, [5, 1, 1]), meta(0, 16, [0, 1, 1])]),
    "testaments": (ADVANCED, THREE + [
        subscribe(0), testament(1, 5, 3, 0, 0, 0, 0x12), testament(1, 1, 2, 0, 20, 0, 0x12),
        testament(2, 5, 0, 0, 8, 0, 0x12), testament(2, 0, 3, 0, 0, 0, 0), goodbye(1), detach(2)]),
    "revocation": (ADVANCED, THREE + [
        register(0), subscribe(0), register(1, topic=1), subscribe(1, topic=5), revoke(0, 1),
        revoke(0, 0), meta(2, 6, [2, 10, 0, 1, 1]), meta(2, 13, [2, 10, 0, 1, 1]),
        meta(2, 3, [2, 1, 1]), meta(2, 1, [0, 1, 1])]),
    "shards_reroute": (ADVANCED, THREE + [
        register(0, invoke=2), register(1, invoke=2), call(2, runmode=0), call(2, runmode=1),
        call(2, runmode=2), call(2, runmode=8), yield_(0), yield_(1),
        register(0, topic=1, invoke=3), register(1, topic=1, invoke=3), call(2, topic=1),
        callee_error(0, flags=18), yield_(1)]),
    "disclosure": (ADVANCED | CALLERS_ALWAYS | PUBLISHERS_NEVER, THREE + [
        register(0, flags=1), subscribe(0), call(1, flags=9), yield_(0), publish(1, flags=13),
        publish(1), call(1)]),
    "external_identities": (ADVANCED | 0x02, [
        attach(2), attach(1), attach(3), hello(0), resolve_authentication(0), hello(1),
        resolve_authentication(1), hello(2), resolve_authentication(2), subscribe(0),
        subscribe(1), publish(2, lists=16, extra=[1, 1]), publish(2, lists=8, extra=[1, 0]),
        publish(2, lists=1, extra=[1, 1]), publish(2, flags=12), meta(2, 20, [2, 3, 1, 1]),
        meta(2, 17, [2, 1, 1])]),
    "slow_subscriber": (ADVANCED, THREE + [
        subscribe(0), subscribe(2, topic=8), pause(0)] + [publish(1)] * 12),
    "timeouts": (ADVANCED, THREE + [
        register(0, flags=2), register(1, topic=1), call(2, flags=0x61),
        call(2, topic=1, flags=0x51), advance(3), advance(3), call(2, topic=1, flags=0x71),
        cancel(2, 2), yield_(1), call(2, topic=1), cancel(2, 1)]),
    "stream_authorized": (TINY, EXTERNAL_TWO + [
        register(0), authorize(), call(1, flags=4), chunk(1), chunk(1, more=0), authorize(),
        yield_(0)]),
    "stream_denied": (TINY, EXTERNAL_TWO + [
        register(0), authorize(), call(1, flags=4), chunk(1), chunk(1, more=0),
        authorize(False), call(1), authorize(), yield_(0)]),
    "late_chunks": (ADVANCED, THREE + [
        register(0), call(1, flags=4), pause(1), chunk(1), yield_(0), chunk(1), chunk(1, more=0),
        pause(1), call(1, flags=4), chunk(1, which=15, more=3, topic=1), yield_(0, flags=0)]),
    "cancel_stream": (ADVANCED, THREE + [
        register(0), call(1, flags=4), cancel(1, 2), chunk(1), yield_(0), call(2, flags=4),
        cancel(2, 3), chunk(2, more=0), call(2, flags=5), cancel(2, 1), yield_(0, flags=0)]),
    "leave_stream": (ADVANCED, THREE + [
        register(0), register(1, topic=1), call(2, flags=4), chunk(2), detach(0), chunk(2),
        call(0, topic=1, flags=4), chunk(0), goodbye(0), yield_(0, flags=0)]),
}
for name, (config, ops) in ROUTER_SCENARIOS.items():
    write("router", bytes([config] + [b for op in ops for b in op]))
print(f"seeded {count} encodings and {len(ROUTER_SCENARIOS)} router scenarios")
