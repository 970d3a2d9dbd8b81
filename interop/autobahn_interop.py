#!/usr/bin/env python3
"""Interoperability test of nexus against autobahn-python, the reference WAMP client.

Starts nexusd (WebSocket and RawSocket listeners on free ports), then runs scenarios between
autobahn sessions and the Rust interop peer (examples/interop_peer.rs) over both transports
with every serializer (JSON, MessagePack, CBOR). Prints `PASS name` or `FAIL name: reason`
per scenario and finally `N passed, N failed`; exits 1 if anything failed. The last scenario
stops nexusd with SIGTERM and checks that it says GOODBYE and exits with status 0.

The advanced RPC scenarios (rpc.progress, rpc.cancel.<mode>, rpc.timeout,
rpc.caller-identification, rpc.pattern, rpc.shared), the advanced publish/subscribe ones
(pubsub.lists, pubsub.publisher-identification, pubsub.pattern, pubsub.retention,
pubsub.meta, pubsub.revocation) and session.meta are between autobahn sessions only. Each
autobahn session records the WAMP messages it sends and receives, so they also check the wire
(INTERRUPT modes, answers autobahn ignores, late answers that must reach nobody, one EVENT per
matching subscription, the UNSUBSCRIBED of a revocation). Where autobahn 26.10.2 has no API
for what nexus implements (CANCEL modes, CALL.Options.disclose_me,
REGISTER.Options.disclose_caller, PUBLISH.Options.disclose_me), the scenario sends it itself
on the session's transport. The meta API scenarios share the realm with the others, so they
only count meta events about their own sessions and subscriptions.

Usage: autobahn_interop.py [--nexusd PATH] [--peer PATH] [-k SUBSTRING] [--log FILE]
  (defaults: $NEXUSD or target/debug/nexusd, $INTEROP_PEER or
  target/debug/examples/interop_peer, under $CARGO_TARGET_DIR when set; nexusd's log goes
  to target/interop-nexusd.log; $NEXUSD_ARGS adds arguments, e.g. "--log-level debug")

Conventions shared with the Rust peer: its arguments and output are JSON, binary values
written {"$bytes": "<hex>"}. No sleeps: every wait is a future/queue/line awaited with a
timeout; "nothing (else) arrived" is checked after a round trip on the connection concerned.
"""

import argparse
import asyncio
import contextlib
import datetime
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
from autobahn.wamp import message  # noqa: E402
from autobahn.wamp.exception import ApplicationError  # noqa: E402
from autobahn.wamp.role import (  # noqa: E402
    DEFAULT_CLIENT_ROLES,
    RoleCalleeFeatures,
    RoleSubscriberFeatures,
)
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
    RegisterOptions,
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
# CALL.Options.timeout (ms) of the call-timeout scenarios: the callees never answer in time.
CALL_TIMEOUT_MS = 150
# The advanced RPC scenarios run over both transports with these serializers.
ADVANCED_SERIALIZERS = ("json", "msgpack", "cbor")
# A callee that does not announce call_canceling (nor progressive_call_results, which nexus
# only honours together with it): the dealer must never send it INTERRUPT.
UNINTERRUPTIBLE_ROLES = {
    **DEFAULT_CLIENT_ROLES,
    "callee": RoleCalleeFeatures(
        caller_identification=True,
        pattern_based_registration=True,
        shared_registration=True,
        registration_revocation=True,
    ),
}
# A subscriber that does not announce subscription_revocation: the broker must not tell it
# (with UNSUBSCRIBED) that its subscription was revoked.
UNREVOCABLE_ROLES = {
    **DEFAULT_CLIENT_ROLES,
    "subscriber": RoleSubscriberFeatures(
        publisher_identification=True,
        pattern_based_subscription=True,
        payload_transparency=True,
    ),
}

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


# Sessions whose transport closes without GOODBYE on purpose (pubsub.revocation: autobahn
# drops it; session.meta: the scenario closes it).
EXPECTED_DROPS = set()
# What autobahn 26.10.2 says about the UNSUBSCRIBED of a subscription revocation.
REVOCATION_NOISE = "UNSUBSCRIBED received for non-pending request ID 0"


class _ExpectedNoise(logging.Filter):
    """Drops autobahn warnings this test causes on purpose: the `error` procedure's
    ApplicationError, the `wamp.error.canceled` an interrupted callee answers with,
    "session closed with reason ..." for any GOODBYE reason but
    autobahn's own `wamp.close.normal` (nexus answers GOODBYE with the spec's
    `wamp.close.goodbye_and_out`, says `wamp.close.system_shutdown` when stopping, and the
    reason given, or `wamp.close.killed`, to sessions killed with the session meta API), the
    protocol error and dropped connection of a subscription revocation (autobahn cannot handle
    the UNSUBSCRIBED it gets then), and the lost transport of the EXPECTED_DROPS sessions."""

    def filter(self, record):
        msg = record.getMessage()
        return not (
            msg.startswith('Peer.onUserError(): "com.interop.error')
            or msg.startswith('Peer.onUserError(): "wamp.error.canceled')
            or msg.startswith("session closed with reason wamp.close.goodbye_and_out")
            or msg.startswith("session closed with reason wamp.close.system_shutdown")
            or msg.startswith("session closed with reason wamp.close.killed")
            or msg.startswith("session closed with reason com.interop.killed")
            or REVOCATION_NOISE in msg
            or any(
                msg.startswith("session closed with reason wamp.close.transport_lost")
                and f" the session {session} " in msg
                for session in EXPECTED_DROPS
            )
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


@functools.lru_cache(maxsize=None)
def with_options(cls, extra):
    """A subclass of autobahn's message class `cls` (CALL, REGISTER) whose Options also carry
    `extra` (a tuple of items). It adds no slots, so a message's __class__ can be switched to
    it: autobahn 26.10.2 has no API for some options nexus implements (disclose_me,
    disclose_caller)."""

    class WithOptions(cls):
        __slots__ = ()

        def marshal_options(self):
            return {**super().marshal_options(), **dict(extra)}

    WithOptions.__name__ = WithOptions.__qualname__ = cls.__name__
    return WithOptions


class Peer(ApplicationSession):
    """An autobahn session whose lifecycle is visible as futures, and whose WAMP messages
    (sent and received) are recorded so that scenarios can check the wire, e.g. an INTERRUPT
    the callee got or the ERROR of a call whose future was canceled."""

    def __init__(self, config, joined, roles=None):
        super().__init__(config)
        if roles is not None:
            self._session_roles = roles  # what HELLO announces
        loop = asyncio.get_running_loop()
        self.joined = joined  # set to the session on WELCOME
        self.left = loop.create_future()  # CloseDetails of the GOODBYE/ABORT
        self.gone = loop.create_future()  # transport closed
        self.details = None  # SessionDetails of the WELCOME
        self.messages = {"in": [], "out": []}  # every WAMP message received / sent
        self._expected = []  # (direction, predicate, future) of expect()
        self._extra_options = {}  # message class -> Options added to the next one sent

    def onOpen(self, transport):
        send = transport.send

        def send_recorded(msg):
            extra = self._extra_options.pop(type(msg), None)
            if extra:
                msg.__class__ = with_options(type(msg), tuple(extra.items()))
            self._record("out", msg)
            return send(msg)

        transport.send = send_recorded
        super().onOpen(transport)

    def onMessage(self, msg):
        self._record("in", msg)
        super().onMessage(msg)

    def _record(self, direction, msg):
        self.messages[direction].append(msg)
        for e in list(self._expected):
            d, pred, fut = e
            if d == direction and (fut.done() or pred(msg)):
                self._expected.remove(e)
                if not fut.done():
                    fut.set_result(msg)

    def expect(self, direction, pred):
        """A future of the first message received ("in") or sent ("out") that matches `pred`,
        earlier ones included."""
        fut = asyncio.get_running_loop().create_future()
        found = [m for m in self.messages[direction] if pred(m)]
        if found:
            fut.set_result(found[0])
        else:
            self._expected.append((direction, pred, fut))
        return fut

    def find(self, direction, pred):
        return [m for m in self.messages[direction] if pred(m)]

    def add_options(self, cls, **extra):
        """The next message of class `cls` this session sends carries `extra` in its Options."""
        self._extra_options[cls] = extra

    def request_of(self, call):
        """The request ID of the CALL behind a pending `session.call` future."""
        for request, r in self._call_reqs.items():
            if r.on_reply is call:
                return request
        raise Failure("the call is not pending")

    def onJoin(self, details):
        self.details = details
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
        self.subscription = None  # autobahn's Subscription, once SUBSCRIBED

    def handler(self, *args, details=None, **kwargs):
        self.q.put_nowait((list(args), kwargs, details))

    def drain(self):
        """The events received so far (after a barrier: all that were sent), removed."""
        out = []
        while not self.q.empty():
            out.append(self.q.get_nowait())
        return out


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

    async def session(self, transport, ser, roles=None):
        """An autobahn session joined to REALM over `transport` with serializer `ser`
        (announcing `roles` instead of autobahn's defaults if given)."""
        loop = asyncio.get_running_loop()
        url = self.h.urls[transport]
        joined = loop.create_future()
        make = lambda: Peer(ComponentConfig(REALM, {}), joined, roles)  # noqa: E731
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

    async def barrier(self, s, what):
        """One round trip on `s`'s connection: when it returns, the router has handled what
        `s` sent before, and `s` has received what the router sent it before."""
        await self.wait(s.subscribe(lambda *a, **kw: None, unique("barrier")), f"SUBSCRIBED ({what})")

    async def subscribe(self, s, topic, **options):
        """A Queue of `s`'s events on `topic`; `options` are more SubscribeOptions (match,
        get_retained)."""
        q = Queue()
        q.subscription = await self.wait(
            s.subscribe(q.handler, topic, options=SubscribeOptions(details=True, **options)),
            f"SUBSCRIBED {topic}",
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


# ---- advanced RPC: progressive results, canceling, timeouts, caller identification, ------
# ---- pattern-based and shared registrations ----------------------------------------------


class Held:
    """A procedure whose invocations wait until the test releases them, or until the router
    interrupts them (autobahn then cancels the handler's coroutine: it answers ERROR
    wamp.error.canceled, as the spec asks of an interrupted callee)."""

    class Invocation:
        def __init__(self, details):
            loop = asyncio.get_running_loop()
            self.details = details
            self.started = loop.create_future()  # the handler's coroutine runs
            self.release = loop.create_future()  # the test lets the handler return
            self.outcome = loop.create_future()  # "finished" or "interrupted"

        def interrupted(self):
            if not self.outcome.done():
                self.outcome.set_result("interrupted")

    def __init__(self):
        self.invocations = asyncio.Queue()

    def handler(self, *args, details=None):
        # The task is made here, not by autobahn, so that an INTERRUPT processed before the
        # coroutine's first step (canceling it before it starts) is seen too.
        inv = Held.Invocation(details)
        self.invocations.put_nowait(inv)
        task = asyncio.ensure_future(self.hold(inv))
        task.add_done_callback(lambda t: t.cancelled() and inv.interrupted())
        return task

    async def hold(self, inv):
        inv.started.set_result(None)
        try:
            await inv.release
        except asyncio.CancelledError:
            inv.interrupted()
            raise ApplicationError(ApplicationError.CANCELED, "interrupted by the callee") from None
        inv.outcome.set_result("finished")
        return "late result"

    async def register(self, sc, s, proc):
        return await sc.wait(
            s.register(self.handler, proc, options=RegisterOptions(details=True)), f"REGISTERED {proc}"
        )

    async def next(self, sc, what, started=True):
        inv = await sc.wait(self.invocations.get(), f"the INVOCATION of {what}")
        if started:
            await sc.wait(inv.started, f"the handler of {what} to start")
        return inv


def invocation_of(callee, registration):
    """The request ID of the last INVOCATION `callee` received for `registration`."""
    got = callee.find("in", lambda m: isinstance(m, message.Invocation) and m.registration == registration.id)
    if not got:
        raise Failure(f"no INVOCATION recorded for registration {registration.id}")
    return got[-1].request


def answers_to(request):
    """Matches the RESULTs and ERRORs of CALL `request` (at the caller)."""
    return lambda m: (
        isinstance(m, message.Result)
        or (isinstance(m, message.Error) and m.request_type == message.Call.MESSAGE_TYPE)
    ) and m.request == request


def answer_of(invocation):
    """Matches the YIELD or ERROR a callee sends for `invocation`."""
    return lambda m: (
        isinstance(m, message.Yield)
        or (isinstance(m, message.Error) and m.request_type == message.Invocation.MESSAGE_TYPE)
    ) and m.request == invocation


def interrupt_of(invocation):
    return lambda m: isinstance(m, message.Interrupt) and m.request == invocation


async def expect_error(sc, aw, uri, what):
    """Awaits `aw`, which must fail with ApplicationError `uri`; returns the error."""
    try:
        r = await sc.wait(aw, what)
    except ApplicationError as e:
        if e.error != uri:
            raise Failure(f"{what}: expected ERROR {uri}, got {e.error} {list(e.args)}") from None
        return e
    raise Failure(f"{what}: expected ERROR {uri}, got the result {r!r}")


async def late_answer_dropped(sc, callee, invocation, caller, call):
    """The callee's answer to an invocation that already ended reaches nobody: after round
    trips on both connections, the caller has exactly one answer for its call."""
    await sc.wait(callee.expect("out", answer_of(invocation)), "the callee's late answer")
    await sc.barrier(callee, "callee")
    await sc.barrier(caller, "caller")
    got = caller.find("in", answers_to(call))
    if len(got) != 1:
        raise Failure(f"the caller got {len(got)} answers for its call: {got}")


async def rpc_progress(sc, at):
    """Progressive call results: the callee sends every payload as a progressive result, the
    caller (receive_progress, via on_progress) gets them all in order, then the final result;
    a caller that did not ask gets only the final result, and the callee sees no progress."""
    callee = await sc.session(*at)
    caller = await sc.session(*at)
    proc = unique("progress")
    offered = []  # details.progress of each invocation

    def progressive(*args, details=None):
        offered.append(details.progress)
        if details.progress:
            for _, pargs, pkwargs in PAYLOADS:
                details.progress(*pargs, **pkwargs)
        return CallResult("done", *args, count=len(PAYLOADS))

    await sc.wait(
        callee.register(progressive, proc, options=RegisterOptions(details=True)), f"REGISTERED {proc}"
    )
    got = []
    options = CallOptions(on_progress=lambda *args, **kwargs: got.append((list(args), kwargs)))
    r = await sc.wait(caller.call(proc, "with progress", options=options), "the final RESULT")
    if not isinstance(r, CallResult):
        raise Failure(f"final result: unexpected result object {r!r}")
    check_payload("final result", ["done", "with progress"], {"count": len(PAYLOADS)}, r.results, r.kwresults)
    if len(offered) != 1 or not callable(offered[0]):
        raise Failure(f"the callee was not offered progressive results (details.progress={offered})")
    if len(got) != len(PAYLOADS):
        raise Failure(f"{len(got)} progressive results before the final one, expected {len(PAYLOADS)}")
    for (label, args, kwargs), (pargs, pkwargs) in zip(PAYLOADS, got):
        check_payload(f"progressive result {label!r}", args, kwargs, pargs, pkwargs)
    # Without receive_progress: no progressive results offered, only the final one.
    r = await sc.wait(caller.call(proc, "without"), "RESULT without progress")
    if not isinstance(r, CallResult):
        raise Failure(f"final result: unexpected result object {r!r}")
    expected = ["done", "without"], {"count": len(PAYLOADS)}
    check_payload("result without progress", *expected, r.results, r.kwresults)
    if offered[1:] != [None]:
        raise Failure(f"a call without receive_progress offered details.progress={offered[1]!r}")
    if len(got) != len(PAYLOADS):
        raise Failure("progressive results arrived for a call that did not ask for them")


async def rpc_cancel(sc, at, mode):
    """Call canceling. `mode` "autobahn": the caller cancels the future session.call returned
    (autobahn sends CANCEL without a mode, which nexus treats as killnowait); autobahn then
    ignores the ERROR, so it is checked on the wire. Otherwise the caller sends CANCEL with
    that mode (autobahn has no API for modes) and its call fails with wamp.error.canceled.
    skip: the callee is not told and runs on; kill: the callee is interrupted and its ERROR is
    what the caller gets; killnowait: the caller gets the ERROR at once, the callee is
    interrupted. A late answer of the callee reaches nobody."""
    callee = await sc.session(*at)
    caller = await sc.session(*at)
    proc = unique("cancel")
    held = Held()
    registration = await held.register(sc, callee, proc)
    call = caller.call(proc, "to be canceled")
    inv = await held.next(sc, proc)
    request = caller.request_of(call)
    invocation = invocation_of(callee, registration)
    if mode == "autobahn":
        call.cancel()
        err = await sc.wait(caller.expect("in", answers_to(request)), "the ERROR of the canceled call")
        if not isinstance(err, message.Error) or err.error != ApplicationError.CANCELED:
            raise Failure(f"canceled call: expected ERROR {ApplicationError.CANCELED}, got {err}")
    else:
        caller._transport.send(message.Cancel(request, mode=mode))
        e = await expect_error(sc, call, ApplicationError.CANCELED, "the canceled call")
        if mode == "kill":
            # The dealer waited for the callee: its ERROR is the one the caller got.
            if not inv.outcome.done():
                raise Failure("kill: the caller got its ERROR before the callee was interrupted")
            if list(e.args) != ["interrupted by the callee"]:
                raise Failure(f"kill: the caller got {list(e.args)}, not the callee's ERROR")
    if mode == "skip":
        # No INTERRUPT: had one been sent, it would have arrived before this round trip ends.
        await sc.barrier(callee, "callee")
        if inv.outcome.done() or callee.find("in", interrupt_of(invocation)):
            raise Failure("skip: the callee was interrupted")
        inv.release.set_result(None)
        outcome = await sc.wait(inv.outcome, "the callee's handler to return")
    else:
        outcome = await sc.wait(inv.outcome, "the callee's handler to be interrupted")
        m = await sc.wait(callee.expect("in", interrupt_of(invocation)), "INTERRUPT")
        want = "killnowait" if mode == "autobahn" else mode
        if m.mode != want:
            raise Failure(f"INTERRUPT mode {m.mode!r}, expected {want!r}")
        if m.reason is not None and m.reason != ApplicationError.CANCELED:
            raise Failure(f"INTERRUPT reason {m.reason!r}, expected {ApplicationError.CANCELED!r}")
    want = "finished" if mode == "skip" else "interrupted"
    if outcome != want:
        raise Failure(f"the callee's handler {outcome}, expected {want}")
    await late_answer_dropped(sc, callee, invocation, caller, request)
    if mode == "autobahn" and not call.cancelled():
        raise Failure(f"the canceled call's future ended with {call!r}")


async def rpc_timeout(sc, at):
    """Call timeouts, enforced by the dealer: a call answered in time is unaffected; calls
    whose callees do not answer within CALL.Options.timeout fail with wamp.error.timeout no
    earlier than that. A callee that announced call_canceling gets INTERRUPT killnowait and
    its handler is canceled; one that did not is not told and runs on. Late answers reach
    nobody."""
    callee = await sc.session(*at)
    deaf = await sc.session(*at, roles=UNINTERRUPTIBLE_ROLES)
    caller = await sc.session(*at)
    quick, proc, proc_deaf = unique("timeout"), unique("timeout"), unique("timeout")
    await sc.wait(callee.register(echo, quick), f"REGISTERED {quick}")
    held, held_deaf = Held(), Held()
    registration = await held.register(sc, callee, proc)
    registration_deaf = await held_deaf.register(sc, deaf, proc_deaf)
    r = await sc.wait(caller.call(quick, "in time", options=CallOptions(timeout=10_000)), "RESULT in time")
    if r != "in time":
        raise Failure(f"a call answered in time returned {r!r}")

    loop = asyncio.get_running_loop()
    start = loop.time()
    options = CallOptions(timeout=CALL_TIMEOUT_MS)
    call, call_deaf = caller.call(proc, options=options), caller.call(proc_deaf, options=options)
    requests = caller.request_of(call), caller.request_of(call_deaf)
    inv, inv_deaf = await held.next(sc, proc, False), await held_deaf.next(sc, proc_deaf, False)
    for c, what in ((call, "the interruptible callee"), (call_deaf, "the uninterruptible callee")):
        await expect_error(sc, c, ApplicationError.TIMEOUT, f"the call to {what}")
        elapsed = (loop.time() - start) * 1000
        if elapsed < CALL_TIMEOUT_MS - 1:
            raise Failure(f"the call to {what} timed out after {elapsed:.0f} ms < {CALL_TIMEOUT_MS} ms")

    invocation = invocation_of(callee, registration)
    outcome = await sc.wait(inv.outcome, "the callee's handler to be interrupted")
    if outcome != "interrupted":
        raise Failure(f"the interruptible callee's handler {outcome}")
    m = await sc.wait(callee.expect("in", interrupt_of(invocation)), "INTERRUPT")
    if m.mode != "killnowait":
        raise Failure(f"INTERRUPT mode {m.mode!r}, expected 'killnowait'")
    if m.reason is not None and m.reason != ApplicationError.TIMEOUT:
        raise Failure(f"INTERRUPT reason {m.reason!r}, expected {ApplicationError.TIMEOUT!r}")

    invocation_deaf = invocation_of(deaf, registration_deaf)
    await sc.barrier(deaf, "uninterruptible callee")
    if inv_deaf.outcome.done() or deaf.find("in", lambda m: isinstance(m, message.Interrupt)):
        raise Failure("the callee without call_canceling was interrupted")
    inv_deaf.release.set_result(None)
    if await sc.wait(inv_deaf.outcome, "the uninterruptible handler to return") != "finished":
        raise Failure("the uninterruptible callee's handler did not finish")

    await late_answer_dropped(sc, callee, invocation, caller, requests[0])
    await late_answer_dropped(sc, deaf, invocation_deaf, caller, requests[1])


async def rpc_caller_identification(sc, at):
    """Caller identification with the realm's default policy (disclose on request): the callee
    learns nothing by default; CALL.Options.disclose_me or REGISTER.Options.disclose_caller
    (sent on the wire: autobahn 26.10.2 has no API for either) disclose the caller's session
    ID, authid and authrole in the invocation details."""
    callee = await sc.session(*at)
    caller = await sc.session(*at)
    seen = []

    def who(*args, details=None):
        seen.append((details.caller, details.caller_authid, details.caller_authrole))

    plain, disclosing = unique("identify"), unique("identify")
    await sc.wait(callee.register(who, plain, options=RegisterOptions(details=True)), f"REGISTERED {plain}")
    callee.add_options(message.Register, disclose_caller=True)
    await sc.wait(
        callee.register(who, disclosing, options=RegisterOptions(details=True)), f"REGISTERED {disclosing}"
    )
    me = (caller._session_id, caller.details.authid, caller.details.authrole)
    check_id("caller session", me[0])
    if not all(isinstance(x, str) and x for x in me[1:]):
        raise Failure(f"the caller's WELCOME has authid {me[1]!r}, authrole {me[2]!r}")
    nobody = (None, None, None)
    for proc, disclose_me, expected, what in (
        (plain, False, nobody, "a plain call"),
        (plain, True, me, "a call with disclose_me"),
        (disclosing, False, me, "a call to a disclose_caller registration"),
        (disclosing, True, me, "a call with disclose_me to a disclose_caller registration"),
    ):
        if disclose_me:
            caller.add_options(message.Call, disclose_me=True)
        await sc.wait(caller.call(proc), f"RESULT of {what}")
        got = seen.pop() if seen else None
        if got != expected:
            raise Failure(f"{what}: the callee saw (caller, authid, authrole) = {got}, expected {expected}")


async def rpc_pattern(sc, at):
    """Pattern-based registrations: calls route to prefix and wildcard registrations with the
    concrete procedure in the invocation details; exact beats prefix beats wildcard, the
    longest prefix wins, and among wildcards the longest leading run of literal components."""
    callee = await sc.session(*at)
    caller = await sc.session(*at)
    base = unique("pattern")

    def named(name, *args, details=None):
        return CallResult(name, details.procedure)

    registrations = [
        ("exact a.b", f"{base}.a.b", None),
        ("prefix a", f"{base}.a", "prefix"),
        ("prefix a.x", f"{base}.a.x", "prefix"),
        ("prefix z", f"{base}.z", "prefix"),
        ("wildcard ..b", f"{base}..b", "wildcard"),
        ("wildcard c.", f"{base}.c.", "wildcard"),
    ]
    for name, uri, match in registrations:
        options = RegisterOptions(match=match, details=True)
        await sc.wait(
            callee.register(functools.partial(named, name), uri, options=options), f"REGISTERED {uri}"
        )
    problems = []
    for suffix, expected in (
        (".a.b", "exact a.b"),  # also matches prefix a and wildcard ..b
        (".a.y", "prefix a"),
        (".a", "prefix a"),
        (".ax", "prefix a"),  # a prefix of the string, not of components (as the spec says)
        (".a.x.y", "prefix a.x"),  # the longest prefix
        (".a.x", "prefix a.x"),
        (".z.b", "prefix z"),  # beats wildcard ..b
        (".y.b", "wildcard ..b"),
        (".c.y", "wildcard c."),
        (".c.b", "wildcard c."),  # a longer first run of literal components than ..b
    ):
        proc = base + suffix
        r = await sc.call(caller, proc, [], {})
        if r[0] != "result" or r[1] != [expected, proc]:
            problems.append(f"{proc}: expected [{expected!r}, {proc!r}], got {r}")
    r = await sc.call(caller, f"{base}.y.y", [], {})
    if r[0] != "error" or r[1] != "wamp.error.no_such_procedure":
        problems.append(f"{base}.y.y: expected ERROR wamp.error.no_such_procedure, got {r}")
    if problems:
        raise Failure("; ".join(problems))


async def rpc_shared(sc, at):
    """Shared registrations: roundrobin alternates between two callees; first/last pick the
    oldest/newest registration (and the next one when it unregisters); a registration with
    another invocation policy (or "single") is refused with procedure_already_exists."""
    a = await sc.session(*at)
    b = await sc.session(*at)
    caller = await sc.session(*at)

    async def register(s, name, proc, invoke):
        return await sc.wait(
            s.register(lambda *args: name, proc, options=RegisterOptions(invoke=invoke)),
            f"REGISTERED {proc} ({name}, {invoke})",
        )

    async def picks(proc, n):
        return [await sc.wait(caller.call(proc), f"RESULT of {proc}") for _ in range(n)]

    rr = unique("shared")
    await register(a, "A", rr, "roundrobin")
    await register(b, "B", rr, "roundrobin")
    got = await picks(rr, 4)
    if sorted(got[:2]) != ["A", "B"] or got[2:] != got[:2]:
        raise Failure(f"roundrobin picked {got}")

    for invoke, older, newer in (("first", "A", "B"), ("last", "B", "A")):
        proc = unique("shared")
        reg_a = await register(a, "A", proc, invoke)
        reg_b = await register(b, "B", proc, invoke)
        got = await picks(proc, 2)
        if got != [older] * 2:
            raise Failure(f"{invoke} picked {got}, expected {[older] * 2}")
        await sc.wait((reg_a if older == "A" else reg_b).unregister(), "UNREGISTERED")
        got = await picks(proc, 1)
        if got != [newer]:
            raise Failure(f"{invoke}, after {older} unregistered, picked {got}, expected {[newer]}")

    for existing, others in (("roundrobin", ("first", "last", "random", None)), (None, ("roundrobin", None))):
        proc = unique("shared")
        await register(a, "A", proc, existing)
        for invoke in others:
            await expect_error(
                sc,
                b.register(lambda: "B", proc, options=RegisterOptions(invoke=invoke)),
                "wamp.error.procedure_already_exists",
                f"registering {invoke or 'single'} where {existing or 'single'} is registered",
            )
        if await picks(proc, 2) != ["A", "A"]:
            raise Failure(f"after refused registrations, calls to {proc} did not all go to A")


# ---- advanced publish/subscribe: black- and whitelisting, publisher identification, ------
# ---- pattern-based subscriptions, retention, the subscription meta API, revocation -------


def announces(s, role, *features):
    """Fails unless the router's WELCOME to `s` announced `features` for `role`."""
    r = (s._router_roles or {}).get(role)
    missing = [f for f in features if getattr(r, f, None) is not True]
    if missing:
        raise Failure(f"the router's WELCOME does not announce the {role} features {missing}")


async def publish_acked(sc, s, topic, *args, **options):
    """An acknowledged publication; returns autobahn's Publication (its id)."""
    return await sc.wait(
        s.publish(topic, *args, options=PublishOptions(acknowledge=True, **options)),
        f"PUBLISHED {topic} {list(args)}",
    )


async def pubsub_lists(sc, at):
    """Subscriber black- and whitelisting: of a publisher and three other sessions subscribed
    to one topic, each gets exactly the publications whose lists admit it (by session ID,
    authid, authrole: every list present must admit it, none exclude it), the publisher only
    with exclude_me=False."""
    everyone = [await sc.session(*at) for _ in range(4)]
    P, A, B, C = everyone
    announces(P, "broker", "subscriber_blackwhite_listing", "publisher_exclusion")
    topic = unique("lists")
    queues = [await sc.subscribe(s, topic) for s in everyone]

    def sid(s):
        return s._session_id

    def authid(s):
        return s.details.authid

    role = P.details.authrole
    # nexusd's anonymous sessions: one authrole, distinct (random) authids.
    if len({authid(s) for s in everyone}) != 4 or {s.details.authrole for s in everyone} != {role}:
        raise Failure(f"unexpected identities {[(authid(s), s.details.authrole) for s in everyone]}")
    cases = [  # (label, PublishOptions, who gets it)
        ("no lists", {}, "ABC"),
        ("exclude_me=False", dict(exclude_me=False), "PABC"),
        ("exclude A (one ID, not a list)", dict(exclude=sid(A)), "BC"),
        ("eligible A, B", dict(eligible=[sid(A), sid(B)]), "AB"),
        ("eligible A, B; exclude B", dict(eligible=[sid(A), sid(B)], exclude=[sid(B)]), "A"),
        ("exclude_authid B", dict(exclude_authid=[authid(B)]), "AC"),
        ("eligible_authid C (one authid)", dict(eligible_authid=authid(C)), "C"),
        (
            "eligible_authid A, B; exclude A",
            dict(eligible_authid=[authid(A), authid(B)], exclude=[sid(A)]),
            "B",
        ),
        ("eligible A; eligible_authid B", dict(eligible=[sid(A)], eligible_authid=[authid(B)]), ""),
        ("eligible_authrole (theirs)", dict(eligible_authrole=[role]), "ABC"),
        ("eligible_authrole (another)", dict(eligible_authrole=["com.interop.nobody"]), ""),
        ("exclude_authrole (theirs)", dict(exclude_authrole=[role]), ""),
        ("exclude_authrole (another)", dict(exclude_authrole="com.interop.nobody"), "ABC"),
        (
            "eligible_authrole (theirs); exclude_authid C",
            dict(eligible_authrole=[role], exclude_authid=[authid(C)]),
            "AB",
        ),
        ("eligible P, A", dict(eligible=[sid(P), sid(A)]), "A"),
        ("eligible P, A; exclude_me=False", dict(eligible=[sid(P), sid(A)], exclude_me=False), "PA"),
        ("exclude P; exclude_me=False", dict(exclude=[sid(P)], exclude_me=False), "ABC"),
        ("exclude_authid P; exclude_me=False", dict(exclude_authid=[authid(P)], exclude_me=False), "ABC"),
        ("eligible unknown session", dict(eligible=[ID_MAX]), ""),
        ("eligible []", dict(eligible=[]), ""),
        ("exclude []", dict(exclude=[]), "ABC"),
    ]
    for i, (label, options, _) in enumerate(cases):
        await publish_acked(sc, P, topic, i, **options)
    for name, s in zip("PABC", everyone):
        await sc.barrier(s, name)
    problems = []
    for name, q in zip("PABC", queues):
        got = [args[0] if len(args) == 1 else args for args, _, _ in q.drain()]
        want = [i for i, case in enumerate(cases) if name in case[2]]
        if got != want:
            missing = [cases[i][0] for i in want if i not in got]
            extra = [cases[i][0] if i in range(len(cases)) else i for i in got if i not in want]
            problems.append(f"{name} missed {missing}, got {extra}" if missing or extra else f"{name}: {got}")
    if problems:
        raise Failure("; ".join(problems))


async def pubsub_publisher_identification(sc, at):
    """Publisher identification with the realm's default policy (disclose on request): the
    subscriber learns who published only when PUBLISH.Options.disclose_me is true (sent on
    the wire: autobahn 26.10.2 has no API for it), then the publisher's session ID, authid
    and authrole; a pattern subscription's EVENT of the same publication says the same."""
    pub = await sc.session(*at)
    sub = await sc.session(*at)
    announces(pub, "broker", "publisher_identification")
    topic = unique("disclose")
    events = await sc.subscribe(sub, topic)
    by_prefix = await sc.subscribe(sub, topic, match="prefix")
    me = (pub._session_id, pub.details.authid, pub.details.authrole)
    check_id("publisher session", me[0])
    nobody = (None, None, None)
    for disclose_me, expected, what in (
        (None, nobody, "a plain publication"),
        (True, me, "a publication with disclose_me"),
        (False, nobody, "a publication with disclose_me=False"),
    ):
        if disclose_me is not None:
            pub.add_options(message.Publish, disclose_me=disclose_me)
        p = await publish_acked(sc, pub, topic, what)
        for q, kind in ((events, "exact"), (by_prefix, "prefix")):
            args, _, d = await sc.event(q, f"the event of {what} ({kind} subscription)")
            if args != [what] or d.publication != p.id:
                raise Failure(f"{what} ({kind}): got {args}, publication {d.publication}, expected {p.id}")
            got = (d.publisher, d.publisher_authid, d.publisher_authrole)
            if got != expected:
                raise Failure(
                    f"{what} ({kind}): the subscriber saw (publisher, authid, authrole) = {got}, "
                    f"expected {expected}"
                )


async def pubsub_pattern(sc, at):
    """Pattern-based subscriptions: a publication reaches every subscription it matches, exact,
    prefix (a prefix of the string) and wildcard (empty components match any one), with one
    EVENT per subscription even when one session holds them all; the EVENTs of pattern
    subscriptions give the concrete topic (EventDetails.topic)."""
    sub = await sc.session(*at)
    pub = await sc.session(*at)
    announces(sub, "broker", "pattern_based_subscription")
    base = unique("subpattern")
    subscriptions = [
        ("exact a.b", f"{base}.a.b", None),
        ("prefix a", f"{base}.a", "prefix"),
        ("wildcard ..b", f"{base}..b", "wildcard"),
        ("prefix z", f"{base}.z", "prefix"),
        ("wildcard c.", f"{base}.c.", "wildcard"),
    ]
    queues = {}
    for name, uri, match in subscriptions:
        queues[name] = await sc.subscribe(sub, uri, match=match)
        check_id(f"subscription {name}", queues[name].subscription.id)
    ids = {q.subscription.id for q in queues.values()}
    if len(ids) != len(subscriptions):
        raise Failure(f"{len(subscriptions)} subscriptions share IDs: {sorted(ids)}")
    cases = [  # (topic suffix, the subscriptions it reaches)
        (".a.b", {"exact a.b", "prefix a", "wildcard ..b"}),
        (".a.x", {"prefix a"}),
        (".a", {"prefix a"}),
        (".ax", {"prefix a"}),  # a prefix of the string, not of components
        (".a.x.b", {"prefix a"}),  # ..b has two components after the base, this three
        (".y.b", {"wildcard ..b"}),
        (".c.b", {"wildcard c.", "wildcard ..b"}),
        (".z.b", {"prefix z", "wildcard ..b"}),
        (".c.b.d", set()),
        (".c", set()),
        (".b", set()),
    ]
    publications = {}
    for suffix, _ in cases:
        publications[suffix] = (await publish_acked(sc, pub, base + suffix, suffix)).id
    await sc.barrier(sub, "subscriber")
    problems = []
    for name, uri, match in subscriptions:
        q = queues[name]
        want = [suffix for suffix, reached in cases if name in reached]
        got = []
        for args, _, d in q.drain():
            suffix = args[0] if args else None
            got.append(suffix)
            topic = base + str(suffix)
            if d.topic != topic:
                problems.append(f"{name}: the event of {topic} has details.topic {d.topic!r}")
            if d.subscription.id != q.subscription.id or d.publication != publications.get(suffix):
                problems.append(
                    f"{name}: the event of {topic} has subscription {d.subscription.id}, "
                    f"publication {d.publication}"
                )
        if got != want:
            problems.append(f"{name} got events of {got}, expected {want}")
    # On the wire: one EVENT per matching subscription (autobahn calls every handler of a
    # subscription ID for one EVENT, so the handlers alone would not show it).
    for suffix, reached in cases:
        got = sorted(
            m.subscription
            for m in sub.find("in", lambda m: isinstance(m, message.Event))
            if m.publication == publications[suffix]
        )
        want = sorted(queues[name].subscription.id for name in reached)
        if got != want:
            problems.append(f"{base + suffix}: EVENTs for subscriptions {got}, expected {want}")
    if problems:
        raise Failure("; ".join(problems))


async def pubsub_retention(sc, at):
    """Event retention: a subscriber asking get_retained gets, right after SUBSCRIBED, the last
    event published to the topic with retain=True (details.retained true, its publication ID
    and publisher disclosure), and later events as usual (not marked retained); without
    get_retained it gets none; a prefix subscription gets the retained event of each topic
    it matches, with the topic; the publisher (excluded by default) and a session the
    retained publication's lists exclude get nothing."""
    pub = await sc.session(*at)
    announces(pub, "broker", "event_retention")
    excluded = await sc.session(*at)  # joined first, so that a publication can exclude it
    base = unique("retain")
    t1, t2, t3 = f"{base}.t1", f"{base}.t2", f"{base}.t3"
    await publish_acked(sc, pub, t1, "first", retain=True)
    pub.add_options(message.Publish, disclose_me=True)
    second = await publish_acked(sc, pub, t1, "second", retain=True)
    await publish_acked(sc, pub, t1, "not retained")
    restricted = await publish_acked(sc, pub, t2, "restricted", retain=True, exclude=[excluded._session_id])
    await publish_acked(sc, pub, t3, "not retained either")

    def check_retained(what, ev, topic, args, publication, publisher):
        eargs, ekwargs, d = ev
        if eargs != args or ekwargs or d.topic != topic:
            raise Failure(f"{what}: got {eargs} {ekwargs} of {d.topic}, expected {args} of {topic}")
        if d.retained is not True:
            raise Failure(f"{what}: details.retained is {d.retained!r}, expected True")
        if d.publication != publication or d.publisher != publisher:
            raise Failure(
                f"{what}: publication {d.publication}, publisher {d.publisher}; "
                f"expected {publication}, {publisher}"
            )

    s1 = await sc.session(*at)
    q1 = await sc.subscribe(s1, t1, get_retained=True)
    ev = await sc.event(q1, "the retained event")
    check_retained("the retained event", ev, t1, ["second"], second.id, pub._session_id)
    s2 = await sc.session(*at)
    q2 = await sc.subscribe(s2, t1)  # the same subscription, without get_retained
    q_pub = await sc.subscribe(pub, t1, get_retained=True)
    q_excluded = await sc.subscribe(excluded, t2, get_retained=True)
    s3 = await sc.session(*at)
    q_prefix = await sc.subscribe(s3, f"{base}.t", match="prefix", get_retained=True)
    q_none = await sc.subscribe(s3, t3, get_retained=True)
    for s, what in ((s1, "s1"), (s2, "s2"), (pub, "publisher"), (excluded, "excluded"), (s3, "s3")):
        await sc.barrier(s, what)
    problems = []
    for q, what in (
        (q1, "the get_retained subscriber (a second event)"),
        (q2, "a subscriber without get_retained"),
        (q_pub, "the publisher"),
        (q_excluded, "a session the retained publication excludes"),
        (q_none, "a get_retained subscriber of a topic without retained event"),
    ):
        got = q.drain()
        if got:
            problems.append(f"{what} got {[(a, d.topic, d.retained) for a, _, d in got]}")
    by_topic = sorted(q_prefix.drain(), key=lambda ev: str(ev[2].topic))
    if len(by_topic) != 2:
        problems.append(
            f"the prefix subscriber got {[(a, d.topic) for a, _, d in by_topic]}, expected t1 and t2"
        )
    if problems:
        raise Failure("; ".join(problems))
    check_retained("retained t1 (prefix)", by_topic[0], t1, ["second"], second.id, pub._session_id)
    check_retained("retained t2 (prefix)", by_topic[1], t2, ["restricted"], restricted.id, None)
    live = await publish_acked(sc, pub, t1, "live")
    for q, what in ((q1, "s1"), (q2, "s2"), (q_prefix, "s3 (prefix)")):
        args, _, d = await sc.event(q, f"the live event at {what}")
        if args != ["live"] or d.publication != live.id or d.retained:
            raise Failure(
                f"the live event at {what}: {args}, publication {d.publication}, retained {d.retained!r}"
            )


class MetaEvents:
    """The wamp.subscription.on_* meta events an autobahn observer receives, in order of
    arrival. Only those about subscriptions in `watched` count (the realm is shared with
    other scenarios and with barriers)."""

    NAMES = ("on_create", "on_subscribe", "on_unsubscribe", "on_delete")

    def __init__(self, sc, observer):
        self.sc, self.s = sc, observer
        self.q = asyncio.Queue()
        self.watched = set()

    async def start(self):
        for name in self.NAMES:
            topic = f"wamp.subscription.{name}"
            handler = functools.partial(self._got, name)
            await self.sc.wait(self.s.subscribe(handler, topic), f"SUBSCRIBED {topic}")

    def _got(self, name, *args, **kwargs):
        self.q.put_nowait((name, args, kwargs))

    def _parse(self, name, args, kwargs):
        """(name, session, subscription, SubscriptionDetails of on_create or None)."""
        if len(args) != 2 or kwargs:
            raise Failure(f"wamp.subscription.{name} with args {list(args)}, kwargs {kwargs}")
        session, arg = args
        if name == "on_create":
            if not isinstance(arg, dict):
                raise Failure(f"wamp.subscription.on_create with details {arg!r}")
            return name, session, arg.get("id"), arg
        return name, session, arg, None

    async def expect(self, *expected):
        """The next meta events about watched subscriptions are `expected`, each (name,
        session, subscription); returns them with their details."""
        out = []
        for name, session, subscription in expected:
            while True:
                raw = await self.sc.wait(
                    self.q.get(), f"wamp.subscription.{name} ({session}, {subscription})"
                )
                ev = self._parse(*raw)
                if ev[2] in self.watched:
                    break
            if ev[:3] != (name, session, subscription):
                raise Failure(
                    f"expected the meta event {name}({session}, {subscription}), "
                    f"got {ev[0]}({ev[1]}, {ev[2]})"
                )
            out.append(ev)
        return out

    async def nothing_more(self, what):
        """After a round trip on the observer's connection: no meta event about a watched
        subscription arrived that `expect` did not take."""
        await self.sc.barrier(self.s, "meta observer")
        while not self.q.empty():
            ev = self._parse(*self.q.get_nowait())
            if ev[2] in self.watched:
                raise Failure(f"unexpected meta event {ev[0]}({ev[1]}, {ev[2]}) {what}")


def check_subscription_details(what, d, subscription, uri, match):
    """SubscriptionDetails: {id, created (ISO 8601), uri, match}."""
    if not isinstance(d, dict) or set(d) != {"id", "created", "uri", "match"}:
        raise Failure(f"{what}: SubscriptionDetails {d!r}, expected keys id, created, uri, match")
    if (d["id"], d["uri"], d["match"]) != (subscription, uri, match):
        raise Failure(f"{what}: {d!r}, expected id {subscription}, uri {uri}, match {match}")
    created = d["created"]
    try:
        # Python 3.11 reads RFC 3339 with any number of fraction digits and "Z".
        t = datetime.datetime.fromisoformat(created) if isinstance(created, str) else None
    except ValueError:
        t = None
    if t is None or t.tzinfo is None:
        raise Failure(f"{what}: created {created!r} is not an ISO 8601 time with a time zone")
    age = (datetime.datetime.now(datetime.timezone.utc) - t).total_seconds()
    if not -60 < age < 60:
        raise Failure(f"{what}: created {created!r} is {age:.0f} s from now")


async def pubsub_meta(sc, at):
    """The subscription meta API: an observer sees on_create (with SubscriptionDetails) then
    on_subscribe for a new subscription, only on_subscribe for a second subscriber,
    on_unsubscribe, then on_delete with the last subscriber (also when the subscriber
    leaves); wamp.subscription.list, lookup, match, get, list_subscribers and
    count_subscribers agree, and give wamp.error.no_such_subscription for a deleted one."""
    obs = await sc.session(*at)
    announces(obs, "broker", "subscription_meta_api")
    a = await sc.session(*at)
    b = await sc.session(*at)
    A, B = a._session_id, b._session_id
    meta = MetaEvents(sc, obs)
    await meta.start()
    base = unique("meta")
    exact, prefix, wildcard = f"{base}.p.w", f"{base}.p", f"{base}..w"

    async def call(proc, *args):
        return await sc.wait(obs.call(f"wamp.subscription.{proc}", *args), f"RESULT of {proc}{list(args)}")

    qa = await sc.subscribe(a, exact)
    sid = qa.subscription.id
    meta.watched.add(sid)
    created, _ = await meta.expect(("on_create", A, sid), ("on_subscribe", A, sid))
    check_subscription_details("on_create (exact)", created[3], sid, exact, "exact")
    qb = await sc.subscribe(b, exact)
    if qb.subscription.id != sid:
        raise Failure(f"the second subscriber got subscription {qb.subscription.id}, not {sid}")
    await meta.expect(("on_subscribe", B, sid))  # no on_create: the subscription exists
    pid = (await sc.subscribe(a, prefix, match="prefix")).subscription.id
    wid = (await sc.subscribe(b, wildcard, match="wildcard")).subscription.id
    meta.watched |= {pid, wid}
    created_p, _, created_w, _ = await meta.expect(
        ("on_create", A, pid), ("on_subscribe", A, pid), ("on_create", B, wid), ("on_subscribe", B, wid)
    )
    check_subscription_details("on_create (prefix)", created_p[3], pid, prefix, "prefix")
    check_subscription_details("on_create (wildcard)", created_w[3], wid, wildcard, "wildcard")

    async def check_list(present, absent):
        listed = await call("list")
        if not isinstance(listed, dict) or set(listed) != {"exact", "prefix", "wildcard"}:
            raise Failure(f"wamp.subscription.list: {listed!r}")
        for policy, ids in listed.items():
            for sub_id, want in present.items():
                if (sub_id in ids) != (policy == want):
                    raise Failure(f"wamp.subscription.list: subscription {sub_id} ({want}): {listed!r}")
            for sub_id in absent:
                if sub_id in ids:
                    raise Failure(f"wamp.subscription.list lists the deleted subscription {sub_id}")

    await check_list({sid: "exact", pid: "prefix", wid: "wildcard"}, [])
    problems = []
    for args, want in (
        ((exact,), sid),
        ((exact, {"match": "exact"}), sid),
        ((prefix, {"match": "prefix"}), pid),
        ((wildcard, {"match": "wildcard"}), wid),
        ((prefix,), None),
        ((exact, {"match": "prefix"}), None),
        ((f"{base}.unused",), None),
    ):
        got = await call("lookup", *args)
        if got != want:
            problems.append(f"lookup{list(args)} = {got!r}, expected {want!r}")
    for topic, want in (
        (exact, {sid, pid, wid}),
        (f"{base}.p.x", {pid}),
        (f"{base}.q.w", {wid}),
        (f"{base}.q", None),
    ):
        got = await call("match", topic)
        if (sorted(got) if isinstance(got, list) else got) != (sorted(want) if want else None):
            problems.append(f"match({topic}) = {got!r}, expected {sorted(want) if want else None}")
    for sub_id, uri, match in ((sid, exact, "exact"), (pid, prefix, "prefix"), (wid, wildcard, "wildcard")):
        try:
            check_subscription_details(f"get({sub_id})", await call("get", sub_id), sub_id, uri, match)
        except Failure as e:
            problems.append(str(e))
    for sub_id, want in ((sid, [A, B]), (pid, [A]), (wid, [B])):
        got = await call("list_subscribers", sub_id)
        if not isinstance(got, list) or sorted(got) != sorted(want):
            problems.append(f"list_subscribers({sub_id}) = {got!r}, expected {sorted(want)}")
        got = await call("count_subscribers", sub_id)
        if got != len(want):
            problems.append(f"count_subscribers({sub_id}) = {got!r}, expected {len(want)}")
    if problems:
        raise Failure("; ".join(problems))

    await sc.wait(qb.subscription.unsubscribe(), "UNSUBSCRIBED (B)")
    await meta.expect(("on_unsubscribe", B, sid))
    await meta.nothing_more("after one of two subscribers unsubscribed")
    if (await call("list_subscribers", sid), await call("count_subscribers", sid)) != ([A], 1):
        raise Failure("after B unsubscribed, the subscribers are not just A")
    await sc.wait(qa.subscription.unsubscribe(), "UNSUBSCRIBED (A)")
    await meta.expect(("on_unsubscribe", A, sid), ("on_delete", A, sid))
    for proc in ("get", "list_subscribers", "count_subscribers"):
        await expect_error(
            sc,
            obs.call(f"wamp.subscription.{proc}", sid),
            "wamp.error.no_such_subscription",
            f"{proc} of a deleted subscription",
        )
    if await call("lookup", exact) is not None:
        raise Failure("lookup finds the deleted subscription")
    got = await call("match", exact)
    if not isinstance(got, list) or sorted(got) != sorted([pid, wid]):
        raise Failure(f"after the exact subscription was deleted, match({exact}) = {got!r}")
    # A session that leaves unsubscribes from everything.
    b.leave()
    await sc.wait(asyncio.shield(b.gone), "B to leave")
    await meta.expect(("on_unsubscribe", B, wid), ("on_delete", B, wid))
    await check_list({pid: "prefix"}, [sid, wid])
    await meta.nothing_more("at the end")


async def pubsub_revocation(sc, at):
    """Subscription revocation, wamp.subscription.remove_subscriber(subscription, session,
    reason=): the subscriber gets no more of the subscription's events (others do), the meta
    events report an unsubscribe (and a delete with the last subscriber), and only a
    subscriber that announced subscription_revocation is told, with [UNSUBSCRIBED, 0,
    {subscription, reason}]. autobahn 26.10.2 announces the feature but does not handle that
    message: an UNSUBSCRIBED "for non-pending request ID 0" is a protocol error to it, and it
    drops the connection, which the scenario checks as what autobahn does."""
    obs = await sc.session(*at)  # publishes, revokes and observes
    announces(obs, "broker", "subscription_revocation", "subscription_meta_api")
    told = await sc.session(*at)
    deaf = await sc.session(*at, roles=UNREVOCABLE_ROLES)
    meta = MetaEvents(sc, obs)
    await meta.start()
    topic, other = unique("revoke"), unique("revoke")
    q_told = await sc.subscribe(told, topic)
    q_deaf = await sc.subscribe(deaf, topic)
    q_other = await sc.subscribe(deaf, other)
    sid, oid = q_told.subscription.id, q_other.subscription.id
    meta.watched |= {sid, oid}
    T, D = told._session_id, deaf._session_id
    await meta.expect(
        ("on_create", T, sid),
        ("on_subscribe", T, sid),
        ("on_subscribe", D, sid),
        ("on_create", D, oid),
        ("on_subscribe", D, oid),
    )
    reason = "com.interop.revoked"

    def remove(subscription, session):
        return obs.call("wamp.subscription.remove_subscriber", subscription, session, reason=reason)

    await expect_error(
        sc,
        remove(oid, T),
        "wamp.error.no_such_subscription",
        "revoking a subscription the session does not hold",
    )
    # Not announced: not told, but no more events.
    r = await sc.wait(remove(sid, D), "RESULT of remove_subscriber (deaf)")
    if r is not None:
        raise Failure(f"remove_subscriber returned {r!r}")
    await meta.expect(("on_unsubscribe", D, sid))
    await meta.nothing_more("after revoking one of two subscribers (no on_delete)")
    p = await publish_acked(sc, obs, topic, "after the revocation")
    await publish_acked(sc, obs, other, "to the other topic")
    args, _, d = await sc.event(q_told, "the event at the subscriber still subscribed")
    if args != ["after the revocation"] or d.publication != p.id:
        raise Failure(f"the remaining subscriber got {args}")
    await sc.barrier(deaf, "revoked subscriber")
    if deaf.find("in", lambda m: isinstance(m, message.Unsubscribed)):
        raise Failure("the subscriber without subscription_revocation got UNSUBSCRIBED")
    if q_deaf.drain():
        raise Failure("the revoked subscriber got an event of the revoked subscription")
    if [args for args, _, _ in q_other.drain()] != [["to the other topic"]]:
        raise Failure("the revoked subscriber lost the event of its other subscription")
    subscribers = await sc.wait(obs.call("wamp.subscription.list_subscribers", sid), "list_subscribers")
    if subscribers != [T]:
        raise Failure(f"after the revocation, list_subscribers = {subscribers!r}")
    # autobahn still takes the subscription for active: its UNSUBSCRIBE is refused.
    await expect_error(
        sc,
        q_deaf.subscription.unsubscribe(),
        "wamp.error.no_such_subscription",
        "unsubscribing a revoked subscription",
    )
    # Announced: told.
    EXPECTED_DROPS.add(T)
    await sc.wait(remove(sid, T), "RESULT of remove_subscriber (told)")
    m = await sc.wait(
        told.expect("in", lambda m: isinstance(m, message.Unsubscribed)), "UNSUBSCRIBED (revocation)"
    )
    if (m.request, m.subscription, m.reason) != (0, sid, reason):
        raise Failure(
            f"revocation: UNSUBSCRIBED request {m.request}, subscription {m.subscription}, "
            f"reason {m.reason!r}; expected 0, {sid}, {reason!r}"
        )
    await meta.expect(("on_unsubscribe", T, sid), ("on_delete", T, sid))
    try:
        await sc.wait(asyncio.shield(told.gone), "autobahn to drop the connection")
    except Failure:
        raise Failure(
            "autobahn kept the connection after the UNSUBSCRIBED of a revocation "
            "(does this autobahn handle subscription revocation now? then check what it exposes)"
        ) from None
    await expect_error(
        sc,
        obs.call("wamp.subscription.get", sid),
        "wamp.error.no_such_subscription",
        "get of the revoked subscription",
    )
    await expect_error(
        sc, remove(sid, T), "wamp.error.no_such_subscription", "revoking a deleted subscription"
    )
    await meta.nothing_more("at the end")


# ---- the session meta API -----------------------------------------------------------------


class SessionEvents:
    """The wamp.session.on_join and on_leave meta events an autobahn observer receives, in
    order of arrival. Only those about sessions in `ours` count (sessions of earlier scenarios
    may still be leaving)."""

    def __init__(self, sc, observer):
        self.sc, self.s = sc, observer
        self.q = asyncio.Queue()
        self.ours = set()

    async def start(self):
        for name in ("on_join", "on_leave"):
            topic = f"wamp.session.{name}"
            handler = functools.partial(self._got, name)
            await self.sc.wait(self.s.subscribe(handler, topic), f"SUBSCRIBED {topic}")

    def _got(self, name, *args, **kwargs):
        self.q.put_nowait((name, list(args), kwargs))

    @staticmethod
    def _session(name, args, kwargs):
        """The session an event is about: on_join(details), on_leave(session, authid, authrole)."""
        if name == "on_join":
            if len(args) != 1 or kwargs or not isinstance(args[0], dict):
                raise Failure(f"wamp.session.on_join with args {args}, kwargs {kwargs}")
            return args[0].get("session")
        if len(args) != 3 or kwargs:
            raise Failure(f"wamp.session.on_leave with args {args}, kwargs {kwargs}")
        return args[0]

    async def next(self, name, session):
        """The next event about one of `ours`, which must be `name` about `session`; its args."""
        while True:
            raw = await self.sc.wait(self.q.get(), f"wamp.session.{name} of {session}")
            about = self._session(*raw)
            if about in self.ours:
                break
        if (raw[0], about) != (name, session):
            raise Failure(f"expected wamp.session.{name} of {session}, got {raw[0]} of {about}: {raw[1]}")
        return raw[1]

    async def nothing_more(self, what):
        """After a round trip on the observer's connection: no event about one of `ours`
        arrived that `next` did not take."""
        await self.sc.barrier(self.s, "session observer")
        while not self.q.empty():
            raw = self.q.get_nowait()
            if self._session(*raw) in self.ours:
                raise Failure(f"unexpected wamp.session.{raw[0]} {raw[1]} {what}")


async def session_meta(sc, at):
    """The session meta API: an observer sees wamp.session.on_join (the session's details, as
    its WELCOME gave them, and its transport) for each session that joins, and on_leave
    (session, authid, authrole) for each that leaves, by GOODBYE, killed or by closing its
    transport; wamp.session.count, list (all, or by authrole) and get agree with them; kill
    and kill_by_authid end other sessions with GOODBYE (the reason and message given, or
    wamp.close.killed), never the caller's own; bad kills are refused."""
    obs = await sc.session(*at)  # observes and calls
    announces(obs, "broker", "session_meta_api")
    announces(obs, "dealer", "session_meta_api")
    events = SessionEvents(sc, obs)
    await events.start()
    events.ours.add(obs._session_id)
    transport = {"ws": "ws", "rs": "tcp"}[at[0]]

    def details_of(s):
        d = s.details
        return {
            "session": s._session_id,
            "authid": d.authid,
            "authrole": d.authrole,
            "authmethod": d.authmethod,
            "authprovider": d.authprovider,
            "transport": {"type": transport, "serializer": at[1]},
        }

    async def call(proc, *args, **kwargs):
        return await sc.wait(
            obs.call(f"wamp.session.{proc}", *args, **kwargs), f"RESULT of wamp.session.{proc}"
        )

    async def refused(error, what, proc, *args, **kwargs):
        await expect_error(sc, obs.call(f"wamp.session.{proc}", *args, **kwargs), error, what)

    async def listed(*filter_authroles):
        """wamp.session.list and count (with the same filter), taken when the realm holds
        still: sessions of earlier scenarios may leave in between, then the two are
        asked again."""
        for _ in range(5):
            before = await call("list", *filter_authroles)
            count = await call("count", *filter_authroles)
            after = await call("list", *filter_authroles)
            if before == after:
                break
        if not isinstance(before, list) or before != after or count != len(before):
            raise Failure(f"list{list(filter_authroles)} = {before!r} then {after!r}, count = {count!r}")
        return before

    sessions = []
    for _ in range(5):
        s = await sc.session(*at)
        events.ours.add(s._session_id)
        [d] = await events.next("on_join", s._session_id)
        problem = diff(details_of(s), d, "on_join")
        if problem:
            raise Failure(problem)
        sessions.append(s)
    a, b, c, d, e = sessions
    ours = [obs._session_id] + [s._session_id for s in sessions]
    got = await listed()
    if [i for i in got if i in ours] != ours or len(set(got)) != len(got):
        raise Failure(f"wamp.session.list = {got}, expected {ours} among them in this order")
    role = obs.details.authrole
    got = await listed([role])
    if not set(ours) <= set(got):
        raise Failure(f"wamp.session.list([{role!r}]) = {got} lacks some of {ours}")
    for filter_authroles in (["com.interop.nobody"], []):
        if await listed(filter_authroles) != []:
            raise Failure(f"wamp.session.list({filter_authroles}) is not empty")
    for s in (obs, a):
        problem = diff(details_of(s), await call("get", s._session_id), "wamp.session.get")
        if problem:
            raise Failure(problem)

    async def killed(s, reason, message, kill):
        """The call `kill` ends `s`: GOODBYE with `reason` and `message` there, on_leave
        here. Returns the call's result."""
        session, authid, authrole = s._session_id, s.details.authid, s.details.authrole
        r = await kill
        close = await sc.wait(asyncio.shield(s.left), f"GOODBYE at the killed session {session}")
        if (close.reason, close.message) != (reason, message):
            raise Failure(
                f"the killed session got GOODBYE {close.reason} {close.message!r}, "
                f"expected {reason} {message!r}"
            )
        args = await events.next("on_leave", session)
        if args != [session, authid, authrole]:
            raise Failure(f"on_leave {args}, expected {[session, authid, authrole]}")
        return r

    reason, message = "com.interop.killed", "killed by the interop test"
    B, D = b._session_id, d._session_id
    r = await killed(b, reason, message, call("kill", B, reason=reason, message=message))
    if r is not None:
        raise Failure(f"wamp.session.kill returned {r!r}")
    await killed(c, "wamp.close.killed", None, call("kill", c._session_id))
    r = await killed(d, "wamp.close.killed", None, call("kill_by_authid", d.details.authid))
    if r != [D]:
        raise Failure(f"wamp.session.kill_by_authid returned {r!r}, expected {[D]}")
    await refused("wamp.error.no_such_session", "killing the caller itself", "kill", obs._session_id)
    await refused("wamp.error.no_such_session", "killing a session that left", "kill", B)
    await refused("wamp.error.no_such_session", "getting a session that left", "get", D)
    await refused(
        "wamp.error.invalid_uri",
        "killing with a reason that is no URI",
        "kill",
        a._session_id,
        reason="not a uri",
    )
    for authid in ("com.interop.nobody", obs.details.authid):
        got = await call("kill_by_authid", authid)
        if got != []:
            raise Failure(f"kill_by_authid({authid!r}) = {got!r}, expected [] (no such other session)")
    await events.nothing_more("after the refused kills")
    if not a.is_attached():
        raise Failure("a refused kill ended the session")
    for s, how in ((a, "GOODBYE"), (e, "a closed transport")):
        left = [s._session_id, s.details.authid, s.details.authrole]
        if s is a:
            s.leave()
        else:
            EXPECTED_DROPS.add(left[0])
            s._transport.close()
        args = await events.next("on_leave", left[0])
        if args != left:
            raise Failure(f"on_leave {args}, expected {left} (after {how})")
    got = await listed()
    if [i for i in got if i in ours] != [obs._session_id]:
        raise Failure(f"after the others left, wamp.session.list = {got}")
    await events.nothing_more("at the end")


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
    for t in TRANSPORTS:
        for s in ADVANCED_SERIALIZERS:
            at = (t, s)
            out.append((f"rpc.progress@{t}/{s}", lambda sc, at=at: rpc_progress(sc, at)))
            for mode in ("autobahn", "skip", "kill", "killnowait"):
                out.append((f"rpc.cancel.{mode}@{t}/{s}", lambda sc, at=at, m=mode: rpc_cancel(sc, at, m)))
            out.append((f"rpc.timeout@{t}/{s}", lambda sc, at=at: rpc_timeout(sc, at)))
            out.append(
                (f"rpc.caller-identification@{t}/{s}", lambda sc, at=at: rpc_caller_identification(sc, at))
            )
            out.append((f"rpc.pattern@{t}/{s}", lambda sc, at=at: rpc_pattern(sc, at)))
            out.append((f"rpc.shared@{t}/{s}", lambda sc, at=at: rpc_shared(sc, at)))
    for t in TRANSPORTS:
        for s in ADVANCED_SERIALIZERS:
            at = (t, s)
            for name, fn in (
                ("lists", pubsub_lists),
                ("publisher-identification", pubsub_publisher_identification),
                ("pattern", pubsub_pattern),
                ("retention", pubsub_retention),
                ("meta", pubsub_meta),
                ("revocation", pubsub_revocation),
            ):
                out.append((f"pubsub.{name}@{t}/{s}", lambda sc, at=at, fn=fn: fn(sc, at)))
            out.append((f"session.meta@{t}/{s}", lambda sc, at=at: session_meta(sc, at)))
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
