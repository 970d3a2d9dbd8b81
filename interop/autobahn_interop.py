#!/usr/bin/env python3
"""Interoperability test of nexus against autobahn-python, the reference WAMP client.

Starts nexusd (WebSocket and RawSocket listeners on free ports), then runs scenarios between
autobahn sessions and the Rust interop peer (examples/interop_peer.rs) over both transports
with every serializer (JSON, MessagePack, CBOR). Prints `PASS name` or `FAIL name: reason`
per scenario and finally `N passed, N failed`; exits 1 if anything failed. The last scenario
stops nexusd with SIGTERM and checks that it says GOODBYE and exits with status 0.

Usage: autobahn_interop.py [--nexusd PATH] [--peer PATH] [-k SUBSTRING] [--log FILE]
  (defaults: $NEXUSD or target/debug/nexusd, $INTEROP_PEER or
  target/debug/examples/interop_peer, under $CARGO_TARGET_DIR when set; nexusd's log goes
  to target/interop-nexusd.log; $NEXUSD_ARGS adds arguments, e.g. "--log-level debug")

Conventions shared with the Rust peer: its arguments and output are JSON, binary values
written {"$bytes": "<hex>"}. No sleeps: every wait is a future/queue/line awaited with a
timeout.
"""

import argparse
import asyncio
import contextlib
import functools
import itertools
import json
import logging
import os
import signal
import sys
import traceback
from pathlib import Path
from urllib.parse import urlsplit

# autobahn's JSON serializer must be the stdlib one: the ujson variant cannot carry binary.
os.environ.pop("AUTOBAHN_USE_UJSON", None)

import txaio  # noqa: E402

txaio.use_asyncio()

from autobahn.asyncio.rawsocket import WampRawSocketClientFactory  # noqa: E402
from autobahn.asyncio.wamp import ApplicationSession  # noqa: E402
from autobahn.asyncio.websocket import WampWebSocketClientFactory  # noqa: E402
from autobahn.wamp.exception import ApplicationError  # noqa: E402
from autobahn.wamp.serializer import (  # noqa: E402
    CBORSerializer,
    JsonSerializer,
    MsgPackSerializer,
)
from autobahn.wamp.types import (  # noqa: E402
    CallOptions,
    CallResult,
    ComponentConfig,
    PublishOptions,
    SubscribeOptions,
)

REALM = "realm1"
STEP_TIMEOUT = 10.0  # one awaited step (a join, a call, an event, a line from the peer)
SCENARIO_TIMEOUT = 30.0  # a whole scenario, as a backstop
SHUTDOWN_TIMEOUT = 5.0  # nexusd must exit this soon after SIGTERM
SERIALIZERS = {"json": JsonSerializer, "msgpack": MsgPackSerializer, "cbor": CBORSerializer}
# Batched WebSocket (wamp.2.<name>.batched): autobahn only, WebSocket only.
BATCHED = {f"{name}.batched": functools.partial(cls, batched=True) for name, cls in SERIALIZERS.items()}
TRANSPORTS = ("ws", "rs")  # WebSocket, RawSocket (nexusd's tcp:// listener)
ID_MAX = 2**53

# Payloads every echo scenario sends: (label, args, kwargs). Avoid kwargs named "options",
# "details", "callee*", "enc_algo" or "forward_for": autobahn's API takes those for itself.
PAYLOADS = [
    ("no arguments", [], {}),
    ("integers", [0, 1, -1, 42, -42, 255, 256, 65536, -(2**31), 2**32, 2**53, -(2**53)], {}),
    ("64-bit integers", [2**53 + 1, 2**63 - 1, -(2**63), 2**64 - 1], {}),
    ("floats", [0.0, 0.5, -1.25, 3.141592653589793, 1.0, -2.0, 1e300, -2.5e-300, 5e-324], {}),
    (
        "strings",
        ["", "hello", "grüße", "日本語", "emoji 🎉", 'quote " backslash \\ /', "ctl \n\t\r\x01"]
        + ["x" * 10000],
        {},
    ),
    ("binary", [b"", b"\x00", b"\x00\x01\xfe\xff", bytes(range(256)), b"\x00" * 1000], {}),
    ("null and booleans", [None, True, False], {}),
    (
        "nested",
        [[1, [2, [3, [4, []]]]], {"a": {"b": {"c": [None, True, {"d": b"\x01\x02"}]}}}, [], {}],
        {},
    ),
    (
        "kwargs",
        [],
        {
            "int": 1,
            "neg": -(2**53),
            "big": 2**53,
            "float": 2.5,
            "str": "ü",
            "bytes": b"\xff\x00",
            "null": None,
            "true": True,
            "false": False,
            "list": [1, "a", [b"z"]],
            "dict": {"x": {}, "y": [{}]},
            "unicode key ß 🎉": "v",
            "": "empty key",
        },
    ),
    ("args and kwargs", [1, "two", [3.5], {"four": 4}], {"five": 5, "six": [6.0, b"\x06"]}),
]


class _ExpectedNoise(logging.Filter):
    """Drops two autobahn warnings this test causes on purpose: the `error` procedure's
    ApplicationError, and "session closed with reason ..." for any GOODBYE reason but
    autobahn's own `wamp.close.normal` (nexus answers GOODBYE with the spec's
    `wamp.close.goodbye_and_out`, and says `wamp.close.system_shutdown` when stopping)."""

    def filter(self, record):
        msg = record.getMessage()
        return not (
            msg.startswith('Peer.onUserError(): "com.interop.error')
            or msg.startswith("session closed with reason wamp.close.goodbye_and_out")
            or msg.startswith("session closed with reason wamp.close.system_shutdown")
        )


logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="autobahn %(levelname)s: %(message)s")
for _handler in logging.getLogger().handlers:
    _handler.addFilter(_ExpectedNoise())


class Failure(Exception):
    """A scenario's check failed; the message is the reason printed."""


# ---- comparing payloads exactly ------------------------------------------------------------


def diff(expected, actual, path="$"):
    """The first difference between two payload values, or None. Types count: 1 is not 1.0,
    True is not 1, and bytes are not str."""

    def show(v):
        r = repr(v)
        return (r[:60] + "...") if len(r) > 60 else r

    def bad():
        kinds = type(expected).__name__, type(actual).__name__
        return f"{path}: expected {show(expected)} ({kinds[0]}), got {show(actual)} ({kinds[1]})"

    if isinstance(expected, (list, tuple)):
        if not isinstance(actual, (list, tuple)):
            return bad()
        for i, (e, a) in enumerate(zip(expected, actual)):
            d = diff(e, a, f"{path}[{i}]")
            if d:
                return d
        if len(actual) != len(expected):
            return f"{path}: expected {len(expected)} elements, got {len(actual)}: {show(actual)}"
        return None
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return bad()
        if set(actual) != set(expected):
            missing, extra = set(expected) - set(actual), set(actual) - set(expected)
            return f"{path}: keys missing {sorted(missing)}, unexpected {sorted(extra)}"
        for k in expected:
            d = diff(expected[k], actual[k], f"{path}[{k!r}]")
            if d:
                return d
        return None
    if isinstance(expected, (bytes, bytearray)):
        ok = isinstance(actual, (bytes, bytearray)) and bytes(actual) == bytes(expected)
    else:
        ok = type(actual) is type(expected) and actual == expected
    return None if ok else bad()


def check_payload(what, exp_args, exp_kwargs, args, kwargs):
    d = diff(list(exp_args), list(args or []), "args") or diff(exp_kwargs, dict(kwargs or {}), "kwargs")
    if d:
        raise Failure(f"{what}: {d}")


def check_id(what, value):
    if type(value) is not int or not 1 <= value <= ID_MAX:
        raise Failure(f"{what}: {value!r} is not a WAMP ID in [1, 2^53]")


# ---- the JSON convention of the Rust peer --------------------------------------------------


def to_peer_json(v):
    if isinstance(v, (bytes, bytearray)):
        return {"$bytes": bytes(v).hex()}
    if isinstance(v, (list, tuple)):
        return [to_peer_json(x) for x in v]
    if isinstance(v, dict):
        return {k: to_peer_json(x) for k, x in v.items()}
    return v


def from_peer_json(v):
    if isinstance(v, list):
        return [from_peer_json(x) for x in v]
    if isinstance(v, dict):
        if len(v) == 1 and isinstance(v.get("$bytes"), str):
            return bytes.fromhex(v["$bytes"])
        return {k: from_peer_json(x) for k, x in v.items()}
    return v


# ---- autobahn sessions ---------------------------------------------------------------------


class Peer(ApplicationSession):
    """An autobahn session whose lifecycle is visible as futures."""

    def __init__(self, config, joined):
        super().__init__(config)
        loop = asyncio.get_running_loop()
        self.joined = joined  # set to the session on WELCOME
        self.left = loop.create_future()  # CloseDetails of the GOODBYE/ABORT
        self.gone = loop.create_future()  # transport closed

    def onJoin(self, details):
        if not self.joined.done():
            self.joined.set_result(self)

    def onLeave(self, details):
        if not self.left.done():
            self.left.set_result(details)
        super().onLeave(details)  # disconnects

    def onDisconnect(self):
        if not self.joined.done():
            self.joined.set_exception(Failure("the transport closed before WELCOME"))
        if not self.gone.done():
            self.gone.set_result(None)


class Queue:
    """Events of one autobahn subscription: (args, kwargs, EventDetails)."""

    def __init__(self):
        self.q = asyncio.Queue()

    def handler(self, *args, details=None, **kwargs):
        self.q.put_nowait((list(args), kwargs, details))


def echo(*args, **kwargs):
    return CallResult(*args, **kwargs)


def add(*args):
    return sum(args)


def error(*args, **kwargs):
    raise ApplicationError("com.interop.error", *args, **kwargs)


class Scenario:
    """One scenario's resources (sessions, peer processes), released however it ends."""

    def __init__(self, harness, name):
        self.h = harness
        self.name = name
        self.cleanups = []

    async def wait(self, aw, what, timeout=STEP_TIMEOUT):
        try:
            return await asyncio.wait_for(aw, timeout)
        except asyncio.TimeoutError:
            raise Failure(f"timed out after {timeout:g} s waiting for {what}") from None

    async def session(self, transport, ser):
        """An autobahn session joined to REALM over `transport` with serializer `ser`."""
        loop = asyncio.get_running_loop()
        url = self.h.urls[transport]
        joined = loop.create_future()
        make = lambda: Peer(ComponentConfig(REALM, {}), joined)  # noqa: E731
        if transport == "ws":
            factory = WampWebSocketClientFactory(
                make, url=url, serializers=[{**SERIALIZERS, **BATCHED}[ser]()]
            )
        else:
            factory = WampRawSocketClientFactory(make, serializer=SERIALIZERS[ser]())
        if hasattr(factory, "loop"):
            factory.loop = loop
        u = urlsplit(url)
        try:
            tr, _ = await self.wait(
                loop.create_connection(factory, u.hostname, u.port), f"TCP connect to {url}"
            )
        except OSError as e:
            raise Failure(f"cannot connect to {url}: {e}") from None
        self.cleanups.append(lambda: tr.close())
        s = await self.wait(joined, f"WELCOME ({transport}/{ser})")
        self.cleanups.append(lambda: self.close(s))
        return s

    async def close(self, s):
        if s.is_attached():
            s.leave()
        await self.wait(asyncio.shield(s.gone), "the session to close", timeout=5)

    async def callee(self, s, prefix):
        for name, fn in (("echo", echo), ("add", add), ("error", error)):
            await self.wait(s.register(fn, f"{prefix}.{name}"), f"REGISTERED {prefix}.{name}")

    async def subscribe(self, s, topic):
        q = Queue()
        await self.wait(
            s.subscribe(q.handler, topic, options=SubscribeOptions(details=True)), f"SUBSCRIBED {topic}"
        )
        return q

    async def event(self, q, what):
        return await self.wait(q.q.get(), what)

    async def call(self, s, proc, args, kwargs):
        """('result', args, kwargs) or ('error', uri, args, kwargs)."""
        try:
            r = await self.wait(
                s.call(proc, *args, options=CallOptions(details=True), **kwargs), f"RESULT of {proc}"
            )
        except ApplicationError as e:
            return ("error", e.error, list(e.args), e.kwargs)
        if not isinstance(r, CallResult):  # details=True always gives a CallResult
            raise Failure(f"{proc}: unexpected result object {r!r}")
        return ("result", list(r.results), r.kwresults)

    async def peer(self, transport, ser, role, *args):
        """Starts the Rust interop peer."""
        argv = [self.h.peer, self.h.urls[transport], ser, role, *args]
        p = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        rp = RustPeer(self, p, f"Rust {role} ({transport}/{ser})")
        self.cleanups.append(rp.kill)
        return rp

    async def cleanup(self):
        for c in reversed(self.cleanups):
            with contextlib.suppress(Exception):
                r = c()
                if asyncio.iscoroutine(r):
                    await asyncio.wait_for(r, 5)


class RustPeer:
    def __init__(self, sc, proc, name):
        self.sc, self.p, self.name = sc, proc, name

    async def line(self, key):
        """The next output line, which must be an object with `key`; returns its value."""
        raw = await self.sc.wait(self.p.stdout.readline(), f"{self.name} to print {key!r}")
        if not raw:
            await self.finish(expect_output=False)
            raise Failure(f"{self.name} ended without printing {key!r}")
        try:
            obj = json.loads(raw)
        except ValueError:
            raise Failure(f"{self.name} printed {raw!r}, not JSON") from None
        if not isinstance(obj, dict) or key not in obj:
            raise Failure(f"{self.name} printed {raw.decode().strip()}, expected {key!r}")
        return from_peer_json(obj[key])

    async def finish(self, expect_output=True):
        """Closes stdin (a callee's signal to leave) and checks the peer exits with 0."""
        if self.p.stdin and not self.p.stdin.is_closing():
            self.p.stdin.close()
        rest, err = await self.sc.wait(self.p.communicate(), f"{self.name} to exit")
        if self.p.returncode != 0:
            raise Failure(
                f"{self.name} exited with {self.p.returncode}: {err.decode(errors='replace').strip()}"
            )
        if expect_output and rest.strip():
            raise Failure(f"{self.name} printed unexpected output: {rest.decode(errors='replace').strip()}")

    async def kill(self):
        if self.p.returncode is None:
            self.p.kill()
            await self.p.wait()


# ---- scenarios -----------------------------------------------------------------------------

_names = itertools.count(1)


def unique(kind):
    """A fresh URI, so scenarios never see each other's registrations or events."""
    return f"com.interop.{kind}{next(_names)}"


async def check_echoes(call, prefix):
    """Calls prefix.echo with every payload through `call` and checks each comes back."""
    problems = []
    for label, args, kwargs in PAYLOADS:
        r = await call(f"{prefix}.echo", args, kwargs)
        if r[0] != "result":
            problems.append(f"{label}: got error {r[1:]}")
            continue
        d = diff(args, r[1], "args") or diff(kwargs, r[2], "kwargs")
        if d:
            problems.append(f"{label}: {d}")
    if problems:
        raise Failure("; ".join(problems))


async def check_add_and_errors(call, prefix):
    r = await call(f"{prefix}.add", [2, 3], {})
    if r[0] != "result":
        raise Failure(f"add(2, 3): {r}")
    check_payload("add(2, 3)", [5], {}, r[1], r[2])
    args, kwargs = ["bad thing", -7, 2.5, b"\x00\xff", {"nested": [None]}], {
        "code": 42,
        "why": "ünïcode",
        "raw": b"\x01",
    }
    r = await call(f"{prefix}.error", args, kwargs)
    if r[0] != "error" or r[1] != "com.interop.error":
        raise Failure(f"error: expected ERROR com.interop.error, got {r}")
    check_payload("application error", args, kwargs, r[2], r[3])
    r = await call(f"{prefix}.unregistered", [1], {"a": 1})
    if r[0] != "error" or r[1] != "wamp.error.no_such_procedure":
        raise Failure(f"unregistered procedure: expected ERROR wamp.error.no_such_procedure, got {r}")


async def rpc(sc, callee_at, caller_at):
    """autobahn callee <-> autobahn caller; `*_at` are (transport, serializer)."""
    callee = await sc.session(*callee_at)
    caller = await sc.session(*caller_at)
    prefix = unique("rpc")
    await sc.callee(callee, prefix)

    async def call(proc, args, kwargs):
        return await sc.call(caller, proc, args, kwargs)

    await check_echoes(call, prefix)
    await check_add_and_errors(call, prefix)


async def pubsub(sc, pub_at, sub_at):
    """Acknowledged and unacknowledged publications with exact payloads; the publisher,
    subscribed too, does not get its own events (publisher exclusion by default)."""
    pub = await sc.session(*pub_at)
    sub = await sc.session(*sub_at)
    topic = unique("topic")
    own = await sc.subscribe(pub, topic)
    events = await sc.subscribe(sub, topic)
    for label, args, kwargs in PAYLOADS:
        p = await sc.wait(
            pub.publish(topic, *args, options=PublishOptions(acknowledge=True), **kwargs), "PUBLISHED"
        )
        check_id("acknowledged publication", getattr(p, "id", None))
        eargs, ekwargs, details = await sc.event(events, f"the event of {label!r}")
        check_payload(f"event {label!r}", args, kwargs, eargs, ekwargs)
        if details.publication != p.id:
            raise Failure(f"event {label!r}: publication {details.publication}, PUBLISHED said {p.id}")
    args, kwargs = ["unacknowledged", b"\x00\x01", -1.5], {"k": [None, True]}
    if pub.publish(topic, *args, **kwargs) is not None:
        raise Failure("an unacknowledged publish returned something")
    eargs, ekwargs, details = await sc.event(events, "the unacknowledged event")
    check_payload("unacknowledged event", args, kwargs, eargs, ekwargs)
    check_id("event publication", details.publication)
    # The subscriber publishes a marker; its first arrival at the publisher proves that the
    # publisher got none of its own events before (events are delivered in order).
    await sc.wait(
        sub.publish(topic, "marker", options=PublishOptions(acknowledge=True)), "PUBLISHED (marker)"
    )
    first = await sc.event(own, "the marker at the publisher")
    if first[0] != ["marker"]:
        raise Failure(f"the publisher received its own event: {first[0]!r}")


async def rust_callee(sc, t, s):
    """The Rust peer registers echo/add/error; an autobahn caller calls them."""
    prefix = unique("rustcallee")
    peer = await sc.peer(t, s, "callee", prefix)
    await peer.line("registered")
    caller = await sc.session(t, s)

    async def call(proc, args, kwargs):
        return await sc.call(caller, proc, args, kwargs)

    await check_echoes(call, prefix)
    await check_add_and_errors(call, prefix)
    await peer.finish()


async def rust_caller(sc, t, s):
    """An autobahn callee; the Rust peer calls it, one process per call."""
    callee = await sc.session(t, s)
    prefix = unique("rustcaller")
    await sc.callee(callee, prefix)

    async def call(proc, args, kwargs):
        peer = await sc.peer(
            t, s, "caller", proc, json.dumps(to_peer_json(args)), json.dumps(to_peer_json(kwargs))
        )
        raw = await sc.wait(peer.p.stdout.readline(), f"{peer.name} to print its answer")
        await peer.finish()
        try:
            obj = from_peer_json(json.loads(raw))
        except ValueError:
            raise Failure(f"{peer.name} printed {raw!r}, not JSON") from None
        if "result" in obj:
            return ("result", obj["result"]["args"], obj["result"]["kwargs"])
        if "error" in obj:
            e = obj["error"]
            return ("error", e["uri"], e["args"], e["kwargs"])
        raise Failure(f"{peer.name} printed {raw!r}")

    await check_echoes(call, prefix)
    await check_add_and_errors(call, prefix)


async def rust_publisher(sc, t, s):
    """The Rust peer publishes (acknowledged, then not); an autobahn session subscribes."""
    sub = await sc.session(t, s)
    topic = unique("rustpub")
    events = await sc.subscribe(sub, topic)
    for label, args, kwargs in PAYLOADS:
        for ack in ("ack", "noack"):
            peer = await sc.peer(
                t,
                s,
                "publisher",
                topic,
                json.dumps(to_peer_json(args)),
                json.dumps(to_peer_json(kwargs)),
                ack,
            )
            published = await peer.line("published")
            await peer.finish()
            eargs, ekwargs, details = await sc.event(events, f"the event of {label!r} ({ack})")
            check_payload(f"event {label!r} ({ack})", args, kwargs, eargs, ekwargs)
            if ack == "ack":
                check_id("acknowledged publication", published)
                if details.publication != published:
                    raise Failure(
                        f"event {label!r}: publication {details.publication}, PUBLISHED said {published}"
                    )
            elif published is not None:
                raise Failure(f"unacknowledged publication printed {published!r}")


async def rust_subscriber(sc, t, s):
    """An autobahn session publishes every payload; the Rust peer subscribes."""
    topic = unique("rustsub")
    peer = await sc.peer(t, s, "subscriber", topic, str(len(PAYLOADS) + 1))
    check_id("subscription", await peer.line("subscribed"))
    pub = await sc.session(t, s)
    for label, args, kwargs in PAYLOADS:
        p = await sc.wait(
            pub.publish(topic, *args, options=PublishOptions(acknowledge=True), **kwargs), "PUBLISHED"
        )
        ev = await peer.line("event")
        check_payload(f"event {label!r}", args, kwargs, ev["args"], ev["kwargs"])
        if ev["publication"] != p.id:
            raise Failure(f"event {label!r}: publication {ev['publication']}, PUBLISHED said {p.id}")
    pub.publish(topic, "unacknowledged", b"\xff")
    ev = await peer.line("event")
    check_payload("unacknowledged event", ["unacknowledged", b"\xff"], {}, ev["args"], ev["kwargs"])
    await peer.finish()


async def shutdown(sc):
    """SIGTERM: connected sessions get GOODBYE wamp.close.system_shutdown, then nexusd exits 0."""
    try:
        ab = await sc.session("ws", "json")
        ab_rs = await sc.session("rs", "cbor")
        rust = await sc.peer("rs", "msgpack", "callee", unique("shutdown"))
        await rust.line("registered")
    finally:
        await sc.h.stop_router()
    for s, what in ((ab, "ws/json"), (ab_rs, "rs/cbor")):
        details = await sc.wait(asyncio.shield(s.left), f"GOODBYE at the autobahn session ({what})")
        if details.reason != "wamp.close.system_shutdown":
            raise Failure(
                f"autobahn session ({what}) closed with {details.reason}, expected wamp.close.system_shutdown"
            )
    await rust.finish()  # the session ended, so the callee leaves on its own
    await sc.h.check_router_exit()


def scenarios():
    out = []
    for t in TRANSPORTS:
        for s in SERIALIZERS:
            at = (t, s)
            out.append((f"rpc@{t}/{s}", lambda sc, at=at: rpc(sc, at, at)))
            out.append((f"pubsub@{t}/{s}", lambda sc, at=at: pubsub(sc, at, at)))
    for s in BATCHED:
        at = ("ws", s)
        out.append((f"rpc@ws/{s}", lambda sc, at=at: rpc(sc, at, at)))
        out.append((f"pubsub@ws/{s}", lambda sc, at=at: pubsub(sc, at, at)))
    out += [
        ("cross.json-caller-to-cbor-callee", lambda sc: rpc(sc, ("ws", "cbor"), ("ws", "json"))),
        (
            "cross.msgpack-publisher-to-json-subscriber",
            lambda sc: pubsub(sc, ("ws", "msgpack"), ("ws", "json")),
        ),
        ("cross.rs-msgpack-caller-to-ws-json-callee", lambda sc: rpc(sc, ("ws", "json"), ("rs", "msgpack"))),
        (
            "cross.rs-cbor-publisher-to-ws-msgpack-subscriber",
            lambda sc: pubsub(sc, ("rs", "cbor"), ("ws", "msgpack")),
        ),
    ]
    for t in TRANSPORTS:
        for s in SERIALIZERS:
            out.append((f"rust.callee@{t}/{s}", lambda sc, t=t, s=s: rust_callee(sc, t, s)))
            out.append((f"rust.caller@{t}/{s}", lambda sc, t=t, s=s: rust_caller(sc, t, s)))
            out.append((f"rust.publisher@{t}/{s}", lambda sc, t=t, s=s: rust_publisher(sc, t, s)))
            out.append((f"rust.subscriber@{t}/{s}", lambda sc, t=t, s=s: rust_subscriber(sc, t, s)))
    return out


# ---- the harness ---------------------------------------------------------------------------


class Harness:
    def __init__(self, nexusd, peer, log_path):
        self.nexusd, self.peer, self.log_path = nexusd, peer, log_path
        self.router = None
        self.urls = {}
        self.passed = self.failed = 0

    async def start_router(self):
        self.log = open(self.log_path, "wb")
        self.router = await asyncio.create_subprocess_exec(
            self.nexusd,
            "--listen",
            "ws://127.0.0.1:0/ws",
            "--listen",
            "tcp://127.0.0.1:0",
            *os.environ.get("NEXUSD_ARGS", "").split(),
            stdout=asyncio.subprocess.PIPE,
            stderr=self.log,
        )
        for _ in range(2):
            try:
                line = await asyncio.wait_for(self.router.stdout.readline(), STEP_TIMEOUT)
            except asyncio.TimeoutError:
                raise RuntimeError(f"nexusd printed no 'listening on' line in {STEP_TIMEOUT:g} s") from None
            text = line.decode().strip()
            if not text.startswith("listening on "):
                raise RuntimeError(f"nexusd printed {text!r} instead of 'listening on URL'")
            url = text[len("listening on ") :]
            self.urls["ws" if url.startswith("ws://") else "rs"] = url
        if set(self.urls) != {"ws", "rs"}:
            raise RuntimeError(f"nexusd listeners: {self.urls}")

    async def stop_router(self):
        if self.router and self.router.returncode is None:
            self.router.send_signal(signal.SIGTERM)

    async def check_router_exit(self):
        try:
            code = await asyncio.wait_for(self.router.wait(), SHUTDOWN_TIMEOUT)
        except asyncio.TimeoutError:
            raise Failure(f"nexusd still running {SHUTDOWN_TIMEOUT:g} s after SIGTERM") from None
        if code != 0:
            raise Failure(f"nexusd exited with status {code} after SIGTERM")

    async def kill_router(self):
        """The last resort, if the shutdown scenario did not stop nexusd."""
        if self.router and self.router.returncode is None:
            await self.stop_router()
            try:
                await asyncio.wait_for(self.router.wait(), SHUTDOWN_TIMEOUT)
            except asyncio.TimeoutError:
                self.router.kill()
                await self.router.wait()

    def report(self, name, error):
        if error is None:
            self.passed += 1
            print(f"PASS {name}", flush=True)
        else:
            self.failed += 1
            one_line = " | ".join(line for line in str(error).splitlines() if line.strip())
            print(f"FAIL {name}: {one_line}", flush=True)

    async def run(self, name, fn):
        sc = Scenario(self, name)
        try:
            await asyncio.wait_for(fn(sc), SCENARIO_TIMEOUT)
            error = None
        except Failure as e:
            error = str(e)
        except asyncio.TimeoutError:
            error = f"timed out after {SCENARIO_TIMEOUT:g} s"
        except Exception as e:  # a crash of the test itself is a failure too
            traceback.print_exc()
            error = f"{type(e).__name__}: {e}"
        await sc.cleanup()
        self.report(name, error)


async def main():
    root = Path(__file__).resolve().parent.parent
    target = Path(os.environ.get("CARGO_TARGET_DIR", root / "target"))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nexusd", default=os.environ.get("NEXUSD", str(target / "debug" / "nexusd")))
    ap.add_argument(
        "--peer", default=os.environ.get("INTEROP_PEER", str(target / "debug" / "examples" / "interop_peer"))
    )
    ap.add_argument("-k", dest="only", default="", help="run only scenarios whose name contains this")
    ap.add_argument("--log", default=str(target / "interop-nexusd.log"), help="nexusd's stderr goes here")
    opts = ap.parse_args()
    for path in (opts.nexusd, opts.peer):
        if not os.access(path, os.X_OK):
            build = "cargo build -p nexusd -p nexus-examples --bin nexusd --example interop_peer"
            sys.exit(f"not an executable: {path} (build with: {build})")

    h = Harness(opts.nexusd, opts.peer, opts.log)
    try:
        try:
            await h.start_router()
        except Exception as e:
            h.report("nexusd.start", f"{type(e).__name__}: {e}")
        else:
            for name, fn in scenarios():
                if opts.only in name:
                    await h.run(name, fn)
            # Always last: it stops the router.
            await h.run("shutdown.graceful", shutdown)
    finally:
        await h.kill_router()
    print(f"{h.passed} passed, {h.failed} failed", flush=True)
    if h.failed:
        print(f"(nexusd log: {opts.log})", file=sys.stderr)
    return 1 if h.failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
