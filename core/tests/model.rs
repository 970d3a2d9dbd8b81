//! Model-based property test: random operations from several client sessions (join, leave,
//! disconnect, subscribe, unsubscribe, publish, register, unregister, call, sharded call,
//! yield, error, cancel, registration and subscription revocation) against the router, each
//! checked against a reference model. Publications carry random black- and whitelists,
//! disclosure and retention, and subscribers may ask for retained events. Procedure 0 is registered with `single`, the others are shared
//! (`roundrobin`), and sharded calls (`runmode: "partition"`) must reach the callee the
//! documented shard mapping names.
//!
//! Invariants checked after every operation: every peer receives exactly the events the
//! model predicts (so no EVENT reaches a session that is not subscribed, and every
//! eligible subscriber gets one); every CALL ends in exactly one RESULT or ERROR; nothing is
//! sent to a closed connection (the world asserts it); no session ever sees a protocol
//! violation. At the end everyone leaves and the router must be empty.

#[path = "wired/world.rs"]
mod world;

use std::collections::{BTreeMap, VecDeque};

use nexus_core::message::{
    CallOptions, CancelMode, InvokePolicy, PublishOptions, RegisterOptions, SubscribeOptions,
};
use nexus_core::router::shard_score;
use nexus_core::session::SessionEvent;
use nexus_core::{
    args, uri, Dict, Payload, RegistrationId, RequestId, Serializer, SessionId, SubscriptionId,
    Uri, Value,
};
use proptest::prelude::*;
use world::World;

const SLOTS: usize = 4;
const TOPICS: usize = 3;
const PROCS: usize = 3;

/// A publication's options: `exclude_me`, a slot whose session is excluded, the slots whose
/// sessions are eligible (a bit mask), disclosure and retention.
#[derive(Debug, Clone, Copy)]
struct Pub {
    exclude_me: bool,
    exclude: Option<usize>,
    eligible: Option<u8>,
    disclose: bool,
    retain: bool,
}

fn publication() -> impl Strategy<Value = Pub> {
    (
        any::<bool>(),
        proptest::option::weighted(0.2, 0..SLOTS),
        proptest::option::weighted(0.2, 0..16u8),
        any::<bool>(),
        proptest::bool::weighted(0.3),
    )
        .prop_map(|(exclude_me, exclude, eligible, disclose, retain)| Pub {
            exclude_me,
            exclude,
            eligible,
            disclose,
            retain,
        })
}

/// A retained event in the model: its payload marker, publisher session and options.
#[derive(Debug, Clone)]
struct Kept {
    n: u64,
    publisher: SessionId,
    exclude_me: bool,
    exclude: Option<SessionId>,
    eligible: Option<Vec<SessionId>>,
}

#[derive(Debug, Clone)]
enum Op {
    Join(usize),
    Leave(usize),
    Disconnect(usize),
    /// Subscribe, asking for the retained event or not.
    Subscribe(usize, usize, bool),
    /// The router revokes a slot's subscription.
    RevokeSubscription(usize, usize),
    Unsubscribe(usize, usize),
    Publish(usize, usize, Pub),
    Register(usize, usize),
    Unregister(usize, usize),
    /// A call, sharded by the given key when there is one, sent as a progressive call
    /// invocation with this many more chunks when it is not 0.
    Call(usize, usize, Option<u8>, u8),
    /// A callee answers its oldest invocation with `wamp.error.unavailable` (call
    /// re-routing).
    Unavailable(usize),
    /// A session adds a testament for a topic (`wamp.session.add_testament`).
    AddTestament(usize, usize),
    /// A session kills another (`wamp.session.kill`).
    Kill(usize, usize),
    Yield(usize),
    /// The router revokes a slot's registration.
    Revoke(usize, usize),
    Fail(usize),
    Cancel(usize, CancelMode),
}

fn op() -> impl Strategy<Value = Op> {
    let s = 0..SLOTS;
    prop_oneof![
        3 => s.clone().prop_map(Op::Join),
        1 => s.clone().prop_map(Op::Leave),
        1 => s.clone().prop_map(Op::Disconnect),
        3 => (s.clone(), 0..TOPICS, any::<bool>()).prop_map(|(a, b, r)| Op::Subscribe(a, b, r)),
        1 => (s.clone(), 0..TOPICS).prop_map(|(a, b)| Op::RevokeSubscription(a, b)),
        1 => (s.clone(), 0..TOPICS).prop_map(|(a, b)| Op::Unsubscribe(a, b)),
        4 => (s.clone(), 0..TOPICS, publication()).prop_map(|(a, b, c)| Op::Publish(a, b, c)),
        3 => (s.clone(), 0..PROCS).prop_map(|(a, b)| Op::Register(a, b)),
        1 => (s.clone(), 0..PROCS).prop_map(|(a, b)| Op::Unregister(a, b)),
        4 => (s.clone(), 0..PROCS, proptest::option::of(0..4u8), prop_oneof![3 => Just(0u8), 1 => 1..4u8])
            .prop_map(|(a, b, k, c)| Op::Call(a, b, k, c)),
        1 => s.clone().prop_map(Op::Unavailable),
        1 => (s.clone(), 0..TOPICS).prop_map(|(a, t)| Op::AddTestament(a, t)),
        1 => (s.clone(), s.clone()).prop_map(|(a, b)| Op::Kill(a, b)),
        1 => (s.clone(), 0..PROCS).prop_map(|(a, b)| Op::Revoke(a, b)),
        3 => s.clone().prop_map(Op::Yield),
        1 => s.clone().prop_map(Op::Fail),
        1 => (s, prop_oneof![Just(CancelMode::Skip), Just(CancelMode::Kill), Just(CancelMode::KillNoWait)])
            .prop_map(|(a, m)| Op::Cancel(a, m)),
    ]
}

fn topic(t: usize) -> Uri {
    Uri::parse(format!("com.model.topic{t}")).unwrap()
}

/// Procedure 0 is registered with `single`, the others with `roundrobin`.
fn shared(p: usize) -> bool {
    p != 0
}

fn procedure(p: usize) -> Uri {
    Uri::parse(format!("com.model.proc{p}")).unwrap()
}

impl Kept {
    /// Whether a session would receive this publication (digest §4.13, §4.14).
    fn admits(&self, session: SessionId) -> bool {
        !(self.exclude_me && session == self.publisher)
            && self.exclude != Some(session)
            && self.eligible.as_ref().is_none_or(|e| e.contains(&session))
    }
}

/// An invocation a callee holds: its request ID, the caller's slot and CALL ID. `live` is
/// false once the call was canceled without waiting (its answer must go nowhere).
#[derive(Debug, Clone)]
struct Held {
    invocation: RequestId,
    caller: usize,
    call: RequestId,
    live: bool,
    /// The procedure, and whether the call can be re-routed (not sharded, not progressive).
    pr: usize,
    reroutable: bool,
    /// Callees (slots) that answered `wamp.error.unavailable` for this call.
    tried: Vec<usize>,
}

#[derive(Debug, Default)]
struct Slot {
    peer: Option<usize>,
    subscriptions: BTreeMap<usize, SubscriptionId>,
    registrations: BTreeMap<usize, RegistrationId>,
    /// Outstanding calls: CALL ID → (callee slot, invocation ID).
    calls: BTreeMap<RequestId, (usize, RequestId)>,
    /// Outstanding calls canceled with mode `kill` (waiting for the callee's answer).
    killed: std::collections::BTreeSet<RequestId>,
    held: VecDeque<Held>,
    /// Testaments: (topic, payload marker), in the order added.
    testaments: Vec<(usize, u64)>,
}

struct Model {
    w: World,
    slots: Vec<Slot>,
    /// The callees of each procedure (slots), in registration order.
    callees: BTreeMap<usize, Vec<usize>>,
    /// The retained event of each topic.
    retained: BTreeMap<usize, Kept>,
    /// Publications so far (each payload carries its number).
    published: u64,
    serializers: [Serializer; 3],
}

impl Model {
    fn new(seed: u64) -> Model {
        Model {
            w: World::realm1(seed),
            slots: (0..SLOTS).map(|_| Slot::default()).collect(),
            callees: BTreeMap::new(),
            retained: BTreeMap::new(),
            published: 0,
            serializers: [Serializer::Json, Serializer::MsgPack, Serializer::Cbor],
        }
    }

    fn peer(&self, s: usize) -> Option<usize> {
        self.slots[s].peer
    }

    /// Takes the events of every slot; asserts no protocol trouble.
    fn events(&mut self) -> Vec<Vec<SessionEvent>> {
        (0..SLOTS)
            .map(|s| match self.slots[s].peer {
                Some(p) => {
                    let events = self.w.take(p);
                    for e in &events {
                        assert!(
                            !matches!(
                                e,
                                SessionEvent::ProtocolViolation { .. }
                                    | SessionEvent::Aborted { .. }
                            ),
                            "slot {s}: {e:?}"
                        );
                    }
                    events
                }
                None => Vec::new(),
            })
            .collect()
    }

    fn quiet(events: &[Vec<SessionEvent>], except: &[usize]) {
        for (s, e) in events.iter().enumerate() {
            if !except.contains(&s) {
                assert!(e.is_empty(), "slot {s} got unexpected {e:?}");
            }
        }
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Join(s) => {
                if self.peer(s).is_none() {
                    let p = self.w.join(self.serializers[s % 3]);
                    self.slots[s].peer = Some(p);
                }
            }
            Op::Leave(s) | Op::Disconnect(s) => {
                let Some(p) = self.peer(s) else { return };
                let leave = matches!(op, Op::Leave(_));
                if leave {
                    self.w.peers[p]
                        .session
                        .leave(uri::close::NORMAL, None)
                        .unwrap();
                    self.w.pump();
                } else {
                    self.w.disconnect(p);
                }
                let ev = self.events();
                let own = &ev[s];
                if leave {
                    assert!(
                        own.iter().any(|e| matches!(e, SessionEvent::Left { .. })),
                        "{own:?}"
                    );
                } else {
                    assert!(
                        own.iter()
                            .all(|e| matches!(e, SessionEvent::TransportClosed)),
                        "{own:?}"
                    );
                }
                self.depart(s, ev);
            }
            Op::Subscribe(s, t, get_retained) => {
                let Some(p) = self.peer(s) else { return };
                if self.slots[s].subscriptions.contains_key(&t) {
                    return;
                }
                let options = SubscribeOptions {
                    get_retained: Some(get_retained),
                    ..Default::default()
                };
                self.w.peers[p]
                    .session
                    .subscribe(topic(t), options)
                    .unwrap();
                self.w.pump();
                let ev = self.events();
                Self::quiet(&ev, &[s]);
                let me = self.session_of(s);
                let retained = self
                    .retained
                    .get(&t)
                    .filter(|k| get_retained && k.admits(me))
                    .map(|k| k.n);
                let sub = match (ev[s].as_slice(), retained) {
                    ([SessionEvent::Subscribed { subscription, .. }], None) => *subscription,
                    (
                        [SessionEvent::Subscribed { subscription, .. }, SessionEvent::Event {
                            subscription: on,
                            details,
                            payload,
                            ..
                        }],
                        Some(n),
                    ) => {
                        assert_eq!(on, subscription);
                        assert_eq!(details.retained, Some(true));
                        assert_eq!(payload.args(), &args![t, n][..]);
                        *subscription
                    }
                    (other, r) => panic!("retained {r:?}: {other:?}"),
                };
                // One subscription ID per topic, shared by its subscribers.
                for other in &self.slots {
                    if let Some(id) = other.subscriptions.get(&t) {
                        assert_eq!(*id, sub);
                    }
                }
                self.slots[s].subscriptions.insert(t, sub);
            }
            Op::Unsubscribe(s, t) | Op::RevokeSubscription(s, t) => {
                let Some(p) = self.peer(s) else { return };
                let Some(sub) = self.slots[s].subscriptions.remove(&t) else {
                    return;
                };
                let revoke = matches!(op, Op::RevokeSubscription(..));
                if revoke {
                    let session = self.session_of(s);
                    let now = self.w.now;
                    assert!(self.w.router.revoke_subscription(now, session, sub, None));
                } else {
                    self.w.peers[p].session.unsubscribe(sub).unwrap();
                }
                self.w.pump();
                let ev = self.events();
                Self::quiet(&ev, &[s]);
                let ok = match ev[s].as_slice() {
                    [SessionEvent::Unsubscribed { .. }] => !revoke,
                    [SessionEvent::SubscriptionRevoked { subscription, .. }] => {
                        revoke && *subscription == sub
                    }
                    _ => false,
                };
                assert!(ok, "{op:?}: {:?}", ev[s]);
            }
            Op::Publish(s, t, o) => {
                let Some(p) = self.peer(s) else { return };
                let me = self.session_of(s);
                // A slot that is not joined stands for a session that does not exist.
                let absent = SessionId::new(1).unwrap();
                let session_or_absent =
                    |m: &Model, j: usize| m.slots[j].peer.map_or(absent, |_| m.session_of(j));
                let exclude = o.exclude.map(|j| session_or_absent(self, j));
                let eligible = o.eligible.map(|mask| {
                    (0..SLOTS)
                        .filter(|j| mask & (1 << j) != 0)
                        .map(|j| session_or_absent(self, j))
                        .collect::<Vec<_>>()
                });
                self.published += 1;
                let n = self.published;
                let options = PublishOptions {
                    exclude_me: Some(o.exclude_me),
                    exclude: exclude.map(|x| vec![x]),
                    eligible: eligible.clone(),
                    disclose_me: Some(o.disclose),
                    retain: Some(o.retain),
                    ..Default::default()
                };
                self.w.peers[p]
                    .session
                    .publish(
                        topic(t),
                        options,
                        Payload::new(args![t, n], Default::default()),
                    )
                    .unwrap();
                self.w.pump();
                let ev = self.events();
                let kept = Kept {
                    n,
                    publisher: me,
                    exclude_me: o.exclude_me,
                    exclude,
                    eligible,
                };
                for (j, got) in ev.iter().enumerate() {
                    let expected = match self.slots[j].subscriptions.get(&t) {
                        Some(sub) if kept.admits(self.session_of(j)) => Some(*sub),
                        _ => None,
                    };
                    match (expected, got.as_slice()) {
                        (None, []) => {}
                        (
                            Some(sub),
                            [SessionEvent::Event {
                                subscription,
                                payload,
                                details,
                                ..
                            }],
                        ) => {
                            assert_eq!(*subscription, sub);
                            assert_eq!(payload.args(), &args![t, n][..]);
                            assert_eq!(details.publisher, o.disclose.then_some(me));
                            assert_eq!(details.trustlevel, Some(0));
                            assert_eq!(details.retained, None);
                        }
                        (e, g) => panic!("slot {j}: expected event {e:?}, got {g:?}"),
                    }
                }
                if o.retain {
                    self.retained.insert(t, kept);
                }
            }
            Op::Register(s, pr) => {
                let Some(p) = self.peer(s) else { return };
                if self.slots[s].registrations.contains_key(&pr) {
                    return;
                }
                let options = RegisterOptions {
                    invoke: shared(pr).then_some(InvokePolicy::RoundRobin),
                    ..Default::default()
                };
                self.w.peers[p]
                    .session
                    .register(procedure(pr), options)
                    .unwrap();
                self.w.pump();
                let ev = self.events();
                Self::quiet(&ev, &[s]);
                let holders = self.callees.entry(pr).or_default();
                match ev[s].as_slice() {
                    [SessionEvent::Registered { registration, .. }]
                        if holders.is_empty() || shared(pr) =>
                    {
                        // A shared registration has one ID for all its callees.
                        if let Some(other) = holders.first() {
                            assert_eq!(self.slots[*other].registrations[&pr], *registration);
                        }
                        holders.push(s);
                        self.slots[s].registrations.insert(pr, *registration);
                    }
                    [SessionEvent::RegisterError { error, .. }] if !holders.is_empty() => {
                        assert_eq!(error.as_str(), uri::error::PROCEDURE_ALREADY_EXISTS)
                    }
                    g => panic!("callees {holders:?}, got {g:?}"),
                }
            }
            Op::Unregister(s, pr) => {
                let Some(p) = self.peer(s) else { return };
                let Some(reg) = self.slots[s].registrations.remove(&pr) else {
                    return;
                };
                self.forget_callee(s, pr);
                self.w.peers[p].session.unregister(reg).unwrap();
                self.w.pump();
                let ev = self.events();
                Self::quiet(&ev, &[s]);
                assert!(matches!(
                    ev[s].as_slice(),
                    [SessionEvent::Unregistered { .. }]
                ));
            }
            Op::Revoke(s, pr) => {
                let Some(p) = self.peer(s) else { return };
                let Some(reg) = self.slots[s].registrations.remove(&pr) else {
                    return;
                };
                self.forget_callee(s, pr);
                let session = self.w.peers[p].session.session_id().unwrap();
                let now = self.w.now;
                assert!(self.w.router.revoke_registration(
                    now,
                    session,
                    reg,
                    Some("com.model.revoked")
                ));
                self.w.pump();
                let ev = self.events();
                Self::quiet(&ev, &[s]);
                // The client announces registration_revocation, so it is told.
                assert!(
                    matches!(
                        ev[s].as_slice(),
                        [SessionEvent::RegistrationRevoked { registration, .. }] if *registration == reg
                    ),
                    "{:?}",
                    ev[s]
                );
            }
            Op::Call(s, pr, key, chunks) => {
                let Some(p) = self.peer(s) else { return };
                let key = key.map(|k| format!("key{k}"));
                let options = CallOptions {
                    runmode: key.as_ref().map(|_| "partition".to_owned()),
                    rkey: key.clone(),
                    progress: (chunks > 0).then_some(true),
                    ..Default::default()
                };
                let session = &mut self.w.peers[p].session;
                let call = session
                    .call(procedure(pr), options, Payload::default())
                    .unwrap();
                for i in 1..=chunks {
                    let chunk = Payload::new(args![i], Default::default());
                    if i < chunks {
                        session.continue_call(call, chunk).unwrap();
                    } else {
                        session.finish_call(call, chunk).unwrap();
                    }
                }
                self.w.pump();
                let ev = self.events();
                let holders = self.callees.get(&pr).cloned().unwrap_or_default();
                if holders.is_empty() {
                    Self::quiet(&ev, &[s]);
                    assert!(matches!(
                        ev[s].as_slice(),
                        [SessionEvent::CallError { request, error, .. }]
                            if *request == call && error.as_str() == uri::error::NO_SUCH_PROCEDURE
                    ));
                    return;
                }
                let invoked: Vec<usize> = (0..SLOTS).filter(|j| !ev[*j].is_empty()).collect();
                let [callee] = invoked[..] else {
                    panic!("one callee must be invoked, not {invoked:?}: {ev:?}");
                };
                assert!(
                    holders.contains(&callee),
                    "{callee} is not a callee of {pr}"
                );
                if let Some(key) = &key {
                    let owner = holders
                        .iter()
                        .max_by_key(|c| shard_score(key, self.session_of(**c)))
                        .copied();
                    assert_eq!(Some(callee), owner, "shard {key} of {holders:?}");
                }
                let got = &ev[callee];
                let invocation = match got.first() {
                    Some(SessionEvent::Invocation {
                        request,
                        registration,
                        details,
                        ..
                    }) => {
                        assert_eq!(
                            Some(registration),
                            self.slots[callee].registrations.get(&pr)
                        );
                        assert_eq!(details.trustlevel, Some(0));
                        assert_eq!(details.progress, (chunks > 0).then_some(true));
                        *request
                    }
                    other => panic!("{other:?}"),
                };
                // Every further chunk continues the same invocation, in order.
                assert_eq!(got.len(), 1 + usize::from(chunks), "{got:?}");
                for (i, e) in got[1..].iter().enumerate() {
                    match e {
                        SessionEvent::InvocationChunk {
                            request, payload, ..
                        } => {
                            assert_eq!(*request, invocation);
                            assert_eq!(payload.args(), &args![i + 1][..]);
                        }
                        other => panic!("chunk {i}: {other:?}"),
                    }
                }
                self.slots[s].calls.insert(call, (callee, invocation));
                self.slots[callee].held.push_back(Held {
                    invocation,
                    caller: s,
                    call,
                    live: true,
                    pr,
                    reroutable: key.is_none() && chunks == 0,
                    tried: Vec::new(),
                });
            }
            Op::AddTestament(s, t) => {
                let Some(p) = self.peer(s) else { return };
                self.published += 1;
                let n = self.published;
                let request = self.w.peers[p]
                    .session
                    .call(
                        Uri::parse("wamp.session.add_testament").unwrap(),
                        CallOptions::default(),
                        Payload::new(
                            args![topic(t).as_str(), args![t, "will", n], Dict::new()],
                            Dict::new(),
                        ),
                    )
                    .unwrap();
                self.w.pump();
                let ev = self.events();
                Self::quiet(&ev, &[s]);
                assert!(
                    matches!(ev[s].as_slice(), [SessionEvent::Result { request: r, .. }] if *r == request),
                    "{:?}",
                    ev[s]
                );
                self.slots[s].testaments.push((t, n));
            }
            Op::Kill(s, target) => {
                let Some(p) = self.peer(s) else { return };
                if s == target || self.peer(target).is_none() {
                    return;
                }
                let victim = self.session_of(target);
                let request = self.w.peers[p]
                    .session
                    .call(
                        Uri::parse("wamp.session.kill").unwrap(),
                        CallOptions::default(),
                        Payload::new(args![victim], Dict::new()),
                    )
                    .unwrap();
                self.w.pump();
                let mut ev = self.events();
                let answered = ev[s].iter().position(
                    |e| matches!(e, SessionEvent::Result { request: r, .. } if *r == request),
                );
                let Some(i) = answered else {
                    panic!("no RESULT for wamp.session.kill: {:?}", ev[s]);
                };
                ev[s].remove(i);
                assert!(
                    ev[target].iter().any(|e| matches!(
                        e,
                        SessionEvent::Left { reason, router_initiated: true, .. }
                            if reason.as_str() == "wamp.close.killed"
                    )),
                    "{:?}",
                    ev[target]
                );
                self.depart(target, ev);
            }
            Op::Unavailable(s) => {
                let Some(p) = self.peer(s) else { return };
                let Some(mut held) = self.slots[s].held.pop_front() else {
                    return;
                };
                self.w.peers[p]
                    .session
                    .yield_error(
                        held.invocation,
                        Uri::parse(uri::error::UNAVAILABLE).unwrap(),
                        Default::default(),
                        Payload::default(),
                    )
                    .unwrap();
                self.w.pump();
                let ev = self.events();
                if !held.live {
                    Self::quiet(&ev, &[]);
                    return;
                }
                held.tried.push(s);
                let candidates: Vec<usize> = match self.callees.get(&held.pr) {
                    Some(holders) if held.reroutable && shared(held.pr) => holders
                        .iter()
                        .copied()
                        .filter(|c| !held.tried.contains(c))
                        .collect(),
                    _ => Vec::new(),
                };
                let caller = held.caller;
                let invoked: Vec<usize> = (0..SLOTS)
                    .filter(|j| {
                        ev[*j]
                            .iter()
                            .any(|e| matches!(e, SessionEvent::Invocation { .. }))
                    })
                    .collect();
                if candidates.is_empty() {
                    // Not re-routable (single, sharded or progressive): the error as is;
                    // nobody left to try: no_available_callee.
                    Self::quiet(&ev, &[caller]);
                    let expected = if held.reroutable {
                        uri::error::NO_AVAILABLE_CALLEE
                    } else {
                        uri::error::UNAVAILABLE
                    };
                    assert!(
                        matches!(
                            ev[caller].as_slice(),
                            [SessionEvent::CallError { request, error, .. }]
                                if *request == held.call && error.as_str() == expected
                        ),
                        "expected {expected}: {:?}",
                        ev[caller]
                    );
                    self.slots[caller].calls.remove(&held.call);
                    self.slots[caller].killed.remove(&held.call);
                    return;
                }
                let [next] = invoked[..] else {
                    panic!("one of {candidates:?} must be invoked, not {invoked:?}: {ev:?}");
                };
                assert!(candidates.contains(&next), "{next} not in {candidates:?}");
                Self::quiet(&ev, &[next]);
                let invocation = match ev[next].as_slice() {
                    [SessionEvent::Invocation { request, .. }] => *request,
                    other => panic!("{other:?}"),
                };
                self.slots[caller]
                    .calls
                    .insert(held.call, (next, invocation));
                self.slots[next].held.push_back(Held { invocation, ..held });
            }
            Op::Yield(s) | Op::Fail(s) => {
                let Some(p) = self.peer(s) else { return };
                let Some(held) = self.slots[s].held.pop_front() else {
                    return;
                };
                if matches!(op, Op::Yield(_)) {
                    let now = self.w.now;
                    self.w.peers[p]
                        .session
                        .yield_result(
                            now,
                            held.invocation,
                            Default::default(),
                            Payload::new(args!["ok"], Default::default()),
                        )
                        .unwrap();
                } else {
                    self.w.peers[p]
                        .session
                        .yield_error(
                            held.invocation,
                            Uri::parse("com.model.failed").unwrap(),
                            Default::default(),
                            Payload::default(),
                        )
                        .unwrap();
                }
                self.w.pump();
                let ev = self.events();
                if !held.live {
                    Self::quiet(&ev, &[]);
                    return;
                }
                Self::quiet(&ev, &[held.caller]);
                let ended = self.slots[held.caller].calls.remove(&held.call);
                assert!(ended.is_some());
                let ok = match ev[held.caller].as_slice() {
                    [SessionEvent::Result { request, .. }] => {
                        *request == held.call && matches!(op, Op::Yield(_))
                    }
                    [SessionEvent::CallError { request, error, .. }] => {
                        *request == held.call && error.as_str() == "com.model.failed"
                    }
                    _ => false,
                };
                assert!(ok, "{op:?}: caller got {:?}", ev[held.caller]);
            }
            Op::Cancel(s, mode) => {
                let Some(p) = self.peer(s) else { return };
                // A call canceled with `kill` is still outstanding, but cannot be canceled again.
                let slot = &self.slots[s];
                let Some((&call, &(callee, invocation))) =
                    slot.calls.iter().find(|(c, _)| !slot.killed.contains(c))
                else {
                    return;
                };
                self.w.peers[p].session.cancel(call, Some(mode)).unwrap();
                self.w.pump();
                let ev = self.events();
                Self::quiet(&ev, &[s, callee]);
                let interrupted = ev[callee]
                    .iter()
                    .any(|e| matches!(e, SessionEvent::Interrupt { request, .. } if *request == invocation));
                let canceled = ev[s].iter().any(
                    |e| matches!(e, SessionEvent::CallError { request, error, .. } if *request == call && error.as_str() == uri::error::CANCELED),
                );
                // Every session announces call_canceling as callee, so the mode is honoured.
                assert_eq!(interrupted, mode != CancelMode::Skip, "{mode:?} {ev:?}");
                assert_eq!(canceled, mode != CancelMode::Kill, "{mode:?} {ev:?}");
                if !canceled {
                    self.slots[s].killed.insert(call);
                }
                if canceled {
                    self.slots[s].calls.remove(&call);
                    for h in self.slots[callee].held.iter_mut() {
                        if h.invocation == invocation {
                            h.live = false;
                        }
                    }
                }
            }
        }
    }

    fn forget_callee(&mut self, s: usize, pr: usize) {
        if let Some(holders) = self.callees.get_mut(&pr) {
            holders.retain(|c| *c != s);
        }
    }

    fn session_of(&self, s: usize) -> SessionId {
        let p = self.slots[s].peer.expect("a callee is joined");
        self.w.peers[p]
            .session
            .session_id()
            .expect("a callee has a session")
    }

    /// Updates the model for slot `s` leaving; checks what the others got.
    fn depart(&mut self, s: usize, ev: Vec<Vec<SessionEvent>>) {
        for pr in self.slots[s]
            .registrations
            .keys()
            .copied()
            .collect::<Vec<_>>()
        {
            self.forget_callee(s, pr);
        }
        let slot = std::mem::take(&mut self.slots[s]);
        // A new session in this slot is a new callee to the router.
        for other in &mut self.slots {
            for h in &mut other.held {
                h.tried.retain(|t| *t != s);
            }
        }
        let mut expected: Vec<Vec<String>> = vec![Vec::new(); SLOTS];
        // Calls the leaver was handling end with wamp.error.canceled at their callers.
        for held in slot.held.iter().filter(|h| h.live) {
            self.slots[held.caller].calls.remove(&held.call);
            expected[held.caller].push(format!("canceled {}", held.call));
        }
        // Its testaments are published, as its publications, to the others subscribed.
        for (t, n) in &slot.testaments {
            for (j, other) in self.slots.iter().enumerate() {
                if j != s && other.subscriptions.contains_key(t) {
                    expected[j].push(format!("testament {t} {n}"));
                }
            }
        }
        // Calls the leaver made are interrupted at their callees (which announce
        // call_canceling) and forgotten there.
        for (_, (callee, invocation)) in slot.calls {
            if callee == s {
                continue;
            }
            self.slots[callee]
                .held
                .retain(|h| h.invocation != invocation);
            expected[callee].push(format!("interrupt {invocation}"));
        }
        for (j, got) in ev.iter().enumerate() {
            if j == s {
                continue;
            }
            let mut got: Vec<String> = got
                .iter()
                .map(|e| match e {
                    SessionEvent::CallError { request, error, .. }
                        if error.as_str() == uri::error::CANCELED =>
                    {
                        format!("canceled {request}")
                    }
                    SessionEvent::Interrupt { request, .. } => format!("interrupt {request}"),
                    SessionEvent::Event { payload, .. }
                        if payload.args().get(1) == Some(&Value::from("will")) =>
                    {
                        let a = payload.args();
                        format!("testament {} {}", a[0], a[2])
                    }
                    other => format!("{other:?}"),
                })
                .collect();
            got.sort();
            expected[j].sort();
            assert_eq!(got, expected[j], "slot {j} after slot {s} left");
        }
    }

    fn finish(mut self) {
        for s in 0..SLOTS {
            self.apply(&Op::Leave(s));
        }
        for slot in &self.slots {
            assert!(slot.calls.is_empty(), "a call never ended: {slot:?}");
        }
        assert_eq!(self.w.router.session_count(), 0);
        assert!(
            self.w.router.is_idle(),
            "router state left after everyone left"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn router_matches_the_model(seed in any::<u64>(), ops in proptest::collection::vec(op(), 1..80)) {
        let mut model = Model::new(seed);
        for op in &ops {
            model.apply(op);
        }
        model.finish();
    }
}
