//! The advanced RPC features beyond the basics of `dealer.rs`: progressive call invocations
//! (digest §4.2), forwarded call timeouts (§4.3), trust levels (§4.7), sharded registration
//! (§4.10), registration revocation (§4.11), the registration meta API (§4.12) and payload
//! passthru mode (§4.25).

use std::time::SystemTime;

use crate::harness::*;
use nexus_core::message::*;
use nexus_core::router::{shard_score, RealmConfig, RouterConfig, TrustLevels};
use nexus_core::{args, features, kwargs, MatchPolicy, RequestId, Value};

fn invocation(m: Message) -> Invocation {
    match m {
        Message::Invocation(i) => i,
        other => panic!("expected INVOCATION, got {other:?}"),
    }
}

/// Every role, with `extra` features added to the caller, callee, publisher and subscriber.
fn roles_with(extra: &[&str]) -> ClientRoles {
    let mut roles = all_roles();
    for role in [
        &mut roles.caller,
        &mut roles.callee,
        &mut roles.publisher,
        &mut roles.subscriber,
    ] {
        let features = role
            .get_or_insert_with(Role::default)
            .features
            .get_or_insert_with(Default::default);
        for f in extra {
            features.insert((*f).to_owned(), Value::Bool(true));
        }
    }
    roles
}

fn streaming() -> ClientRoles {
    roles_with(&[features::PROGRESSIVE_CALL_INVOCATIONS])
}

fn chunk(request: RequestId, procedure: &str, more: bool, arg: i64) -> Call {
    Call::new(request, uri(procedure))
        .with_options(CallOptions {
            progress: more.then_some(true),
            ..Default::default()
        })
        .with_args(args![arg])
}

// ---- progressive call invocations -----------------------------------------------------------

#[test]
fn progressive_invocation_chunks_share_one_invocation() {
    let mut net = Net::realm1();
    let mut callee = net.join_with(streaming());
    let mut caller = net.join_with(streaming());
    net.register(&mut callee, "com.upload");
    let request = caller.next();
    for (i, more) in [(1, true), (2, true), (3, false)] {
        net.send(&caller, chunk(request, "com.upload", more, i));
        let inv = invocation(net.recv_one(&callee));
        assert_eq!(
            inv.request,
            RequestId::MIN,
            "every chunk has the first INVOCATION ID"
        );
        assert_eq!(inv.details.progress, more.then_some(true));
        assert_eq!(inv.payload.args(), &args![i][..]);
    }
    net.send(&callee, Yield::new(RequestId::MIN).with_args(args!["done"]));
    match net.recv_one(&caller) {
        Message::Result(r) => {
            assert_eq!(r.request, request);
            assert_eq!(r.payload.args(), &args!["done"][..]);
        }
        other => panic!("expected RESULT, got {other:?}"),
    }
    // The next call takes the next request ID, as usual.
    net.call(&mut caller, "com.upload", args![]);
    assert_eq!(invocation(net.recv_one(&callee)).request.get(), 2);
}

#[test]
fn progressive_invocation_needs_callee_support() {
    let mut net = Net::realm1();
    let mut callee = net.join();
    let mut caller = net.join_with(streaming());
    net.register(&mut callee, "com.upload");
    let request = caller.next();
    net.send(&caller, chunk(request, "com.upload", true, 1));
    assert_eq!(
        error_of(&net.recv_one(&caller)),
        (
            "wamp.error.feature_not_supported",
            request,
            RequestType::Call
        )
    );
    assert!(net.recv(&callee).is_empty());
    // The rest of the stream is discarded, not a violation.
    net.send(&caller, chunk(request, "com.upload", false, 2));
    assert!(net.recv(&caller).is_empty());
    assert!(!net.is_closed(&caller));
}

#[test]
fn progressive_call_from_a_caller_that_did_not_announce_it_is_a_violation() {
    let mut net = Net::realm1();
    let mut callee = net.join_with(streaming());
    let mut caller = net.join();
    net.register(&mut callee, "com.upload");
    let request = caller.next();
    net.send(&caller, chunk(request, "com.upload", true, 1));
    net.expect_abort(&caller, "wamp.error.protocol_violation");
}

#[test]
fn continuations_of_an_ended_progressive_call_are_discarded() {
    let mut net = Net::realm1();
    let mut callee = net.join_with(streaming());
    let mut caller = net.join_with(streaming());
    net.register(&mut callee, "com.upload");
    let request = caller.next();
    net.send(&caller, chunk(request, "com.upload", true, 1));
    let inv = invocation(net.recv_one(&callee));
    // The callee answers before the caller's last chunk.
    net.send(&callee, Yield::new(inv.request));
    assert!(matches!(net.recv_one(&caller), Message::Result(_)));
    net.send(&caller, chunk(request, "com.upload", true, 2));
    net.send(&caller, chunk(request, "com.upload", false, 3));
    assert!(net.recv(&callee).is_empty());
    assert!(net.recv(&caller).is_empty());
    assert!(!net.is_closed(&caller));
}

#[test]
fn reusing_the_id_of_a_call_that_is_not_progressive_is_a_violation() {
    let mut net = Net::realm1();
    let mut callee = net.join_with(streaming());
    let mut caller = net.join_with(streaming());
    net.register(&mut callee, "com.slow");
    let request = net.call(&mut caller, "com.slow", args![]);
    net.recv(&callee);
    net.send(&caller, chunk(request, "com.slow", true, 1));
    net.expect_abort(&caller, "wamp.error.protocol_violation");
}

#[test]
fn a_continuation_must_name_the_same_procedure() {
    let mut net = Net::realm1();
    let mut callee = net.join_with(streaming());
    let mut caller = net.join_with(streaming());
    net.register(&mut callee, "com.upload");
    net.register(&mut callee, "com.other");
    let request = caller.next();
    net.send(&caller, chunk(request, "com.upload", true, 1));
    net.recv(&callee);
    net.send(&caller, chunk(request, "com.other", false, 2));
    net.expect_abort(&caller, "wamp.error.protocol_violation");
}

#[test]
fn progressive_invocation_sticks_to_its_callee() {
    let mut net = Net::realm1();
    let mut a = net.join_with(streaming());
    let mut b = net.join_with(streaming());
    let mut caller = net.join_with(streaming());
    let shared = RegisterOptions {
        invoke: Some(InvokePolicy::RoundRobin),
        ..Default::default()
    };
    net.register_with(&mut a, "com.upload", shared.clone());
    net.register_with(&mut b, "com.upload", shared);
    let request = caller.next();
    net.send(&caller, chunk(request, "com.upload", true, 1));
    assert_eq!(net.recv(&a).len(), 1);
    for more in [true, true, false] {
        net.send(&caller, chunk(request, "com.upload", more, 2));
        assert_eq!(
            net.recv(&a).len(),
            1,
            "every chunk goes to the first callee"
        );
        assert!(net.recv(&b).is_empty());
    }
}

#[test]
fn caller_leaving_mid_stream_interrupts_the_callee() {
    let mut net = Net::realm1();
    let mut callee = net.join_with(streaming());
    let mut caller = net.join_with(streaming());
    net.register(&mut callee, "com.upload");
    let request = caller.next();
    net.send(&caller, chunk(request, "com.upload", true, 1));
    let inv = invocation(net.recv_one(&callee));
    net.disconnect(&caller);
    match net.recv_one(&callee) {
        Message::Interrupt(i) => {
            assert_eq!(i.request, inv.request);
            assert_eq!(i.options.mode, Some(CancelMode::KillNoWait));
        }
        other => panic!("expected INTERRUPT, got {other:?}"),
    }
}

// ---- call timeout forwarded to the callee ---------------------------------------------------

#[test]
fn forward_timeout_lets_the_callee_enforce_it() {
    let mut net = Net::realm1();
    let mut callee = net.join_with(roles_with(&[features::CALL_TIMEOUT]));
    let mut caller = net.join();
    let options = RegisterOptions {
        forward_timeout: Some(true),
        ..Default::default()
    };
    net.register_with(&mut callee, "com.slow", options);
    let timeout = CallOptions {
        timeout: Some(100),
        ..Default::default()
    };
    net.call_with(&mut caller, "com.slow", timeout.clone(), args![]);
    let inv = invocation(net.recv_one(&callee));
    assert_eq!(inv.details.timeout, Some(100));
    assert_eq!(
        net.router.poll_timeout(),
        None,
        "the dealer does not time it"
    );
    net.advance(duration(500));
    assert!(net.recv(&caller).is_empty());
    // A callee that cannot enforce timeouts is timed by the dealer.
    let mut plain = net.join();
    net.register_with(
        &mut plain,
        "com.plain",
        RegisterOptions {
            forward_timeout: Some(true),
            ..Default::default()
        },
    );
    let call = net.call_with(&mut caller, "com.plain", timeout, args![]);
    assert_eq!(invocation(net.recv_one(&plain)).details.timeout, None);
    net.advance(duration(100));
    assert_eq!(
        error_of(&net.recv_one(&caller)),
        ("wamp.error.timeout", call, RequestType::Call)
    );
}

// ---- trust levels ---------------------------------------------------------------------------

#[test]
fn trust_levels_come_from_the_transport_and_the_default() {
    let mut realm = RealmConfig::new(uri("realm1"));
    realm.trust = TrustLevels {
        default: 1,
        by_transport: [("unix".to_owned(), 3)].into(),
        ..Default::default()
    };
    let mut net = Net::new(RouterConfig {
        realms: vec![realm],
        ..Default::default()
    });
    let mut callee = net.join();
    net.register(&mut callee, "com.who");
    let mut sub = net.join();
    net.subscribe(&mut sub, "com.topic");
    // A session over a Unix socket, and one over anything else.
    let mut local = net.connect();
    net.router.set_transport(local.conn, "unix");
    net.send(&local, Net::hello("realm1", all_roles()));
    assert!(matches!(net.recv_one(&local), Message::Welcome(_)));
    let mut remote = net.join();
    for (client, level) in [(&mut local, 3), (&mut remote, 1)] {
        net.call(client, "com.who", args![]);
        let inv = invocation(net.recv_one(&callee));
        assert_eq!(inv.details.trustlevel, Some(level));
        net.send(&callee, Yield::new(inv.request));
        net.recv(client);
        net.publish(client, "com.topic", PublishOptions::default(), args![]);
        match net.recv_one(&sub) {
            Message::Event(e) => assert_eq!(e.details.trustlevel, Some(level)),
            other => panic!("expected EVENT, got {other:?}"),
        }
    }
}

// ---- sharded registration -------------------------------------------------------------------

fn partition(rkey: Option<&str>) -> CallOptions {
    CallOptions {
        runmode: Some("partition".into()),
        rkey: rkey.map(str::to_owned),
        ..Default::default()
    }
}

#[test]
fn sharded_calls_go_to_the_callee_owning_the_key() {
    let mut net = Net::realm1();
    let shared = RegisterOptions {
        invoke: Some(InvokePolicy::RoundRobin),
        ..Default::default()
    };
    let mut callees: Vec<_> = (0..3).map(|_| net.join()).collect();
    for c in &mut callees {
        net.register_with(c, "com.shard", shared.clone());
    }
    let mut caller = net.join();
    for key in ["alpha", "beta", "gamma", "delta", "epsilon"] {
        let owner = callees
            .iter()
            .max_by_key(|c| shard_score(key, c.session.unwrap()))
            .unwrap()
            .conn;
        for _ in 0..3 {
            net.call_with(&mut caller, "com.shard", partition(Some(key)), args![]);
            for c in &callees {
                let got = net.recv(c);
                assert_eq!(got.len(), usize::from(c.conn == owner), "key {key}");
                if let Some(Message::Invocation(inv)) = got.first() {
                    net.send(c, Yield::new(inv.request));
                }
            }
            assert!(matches!(net.recv_one(&caller), Message::Result(_)));
        }
    }
    let call = net.call_with(&mut caller, "com.shard", partition(None), args![]);
    assert_eq!(
        error_of(&net.recv_one(&caller)),
        ("wamp.error.invalid_argument", call, RequestType::Call)
    );
}

// ---- registration meta API and revocation ---------------------------------------------------

fn meta(net: &mut Net, client: &mut Client, procedure: &str, args: Vec<Value>) -> Message {
    net.call(client, procedure, args);
    net.recv_one(client)
}

fn first(m: &Message) -> Value {
    match m {
        Message::Result(r) => r.payload.args().first().cloned().unwrap_or(Value::Null),
        other => panic!("expected RESULT, got {other:?}"),
    }
}

#[test]
fn registration_meta_procedures() {
    let mut net = Net::realm1();
    net.router.set_wall_clock(net.now, SystemTime::UNIX_EPOCH);
    let mut a = net.join();
    let mut b = net.join();
    let mut admin = net.join();
    let shared = RegisterOptions {
        invoke: Some(InvokePolicy::RoundRobin),
        ..Default::default()
    };
    let exact = net.register_with(&mut a, "com.x.add", shared.clone());
    assert_eq!(net.register_with(&mut b, "com.x.add", shared), exact);
    let prefix = net.register_with(
        &mut a,
        "com.x",
        RegisterOptions {
            match_policy: Some(MatchPolicy::Prefix),
            ..Default::default()
        },
    );
    let list = first(&meta(
        &mut net,
        &mut admin,
        "wamp.registration.list",
        args![],
    ));
    assert_eq!(list["exact"], Value::List(vec![exact.into()]));
    assert_eq!(list["prefix"], Value::List(vec![prefix.into()]));
    assert_eq!(list["wildcard"], Value::List(vec![]));
    let lookup = "wamp.registration.lookup";
    let m = meta(&mut net, &mut admin, lookup, args!["com.x.add"]);
    assert_eq!(first(&m), exact.into());
    let m = meta(&mut net, &mut admin, lookup, args!["com.x"]);
    assert_eq!(first(&m), Value::Null);
    let m = meta(
        &mut net,
        &mut admin,
        lookup,
        args!["com.x", kwargs! { "match" => "prefix" }],
    );
    assert_eq!(first(&m), prefix.into());
    let m = meta(
        &mut net,
        &mut admin,
        "wamp.registration.match",
        args!["com.x.sub"],
    );
    assert_eq!(first(&m), prefix.into());
    let get = first(&meta(
        &mut net,
        &mut admin,
        "wamp.registration.get",
        args![exact],
    ));
    assert_eq!(get["id"], exact.into());
    assert_eq!(get["uri"], "com.x.add".into());
    assert_eq!(get["match"], "exact".into());
    assert_eq!(get["invoke"], "roundrobin".into());
    assert_eq!(get["created"], "1970-01-01T00:00:00Z".into());
    let callees = first(&meta(
        &mut net,
        &mut admin,
        "wamp.registration.list_callees",
        args![exact],
    ));
    let sessions = vec![a.session.unwrap().into(), b.session.unwrap().into()];
    assert_eq!(callees, Value::List(sessions));
    let count = "wamp.registration.count_callees";
    assert_eq!(
        first(&meta(&mut net, &mut admin, count, args![exact])),
        2.into()
    );
    let unknown = meta(&mut net, &mut admin, count, args![12345]);
    assert_eq!(error_of(&unknown).0, "wamp.error.no_such_registration");
    let bad = meta(&mut net, &mut admin, count, args!["x"]);
    assert_eq!(error_of(&bad).0, "wamp.error.invalid_argument");
    let none = meta(&mut net, &mut admin, "wamp.no.such", args![]);
    assert_eq!(error_of(&none).0, "wamp.error.no_such_procedure");
}

#[test]
fn registration_meta_events_in_order() {
    let mut net = Net::realm1();
    let mut observer = net.join();
    let topics = [
        "wamp.registration.on_create",
        "wamp.registration.on_register",
        "wamp.registration.on_unregister",
        "wamp.registration.on_delete",
    ];
    let subs: Vec<_> = topics
        .iter()
        .map(|t| net.subscribe(&mut observer, t))
        .collect();
    let mut callee = net.join();
    let session = Value::from(callee.session.unwrap());
    let reg = net.register(&mut callee, "com.meta");
    let events: Vec<Event> = net
        .recv(&observer)
        .into_iter()
        .map(|m| match m {
            Message::Event(e) => e,
            other => panic!("expected EVENT, got {other:?}"),
        })
        .collect();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].subscription, subs[0]);
    assert_eq!(events[0].payload.args()[0], session);
    assert_eq!(events[0].payload.args()[1]["uri"], "com.meta".into());
    assert_eq!(events[1].subscription, subs[1]);
    assert_eq!(events[1].payload.args(), &[session.clone(), reg.into()][..]);
    // Leaving removes the registration: on_unregister, then on_delete.
    net.leave(&callee);
    let got: Vec<_> = net
        .recv(&observer)
        .into_iter()
        .map(|m| match m {
            Message::Event(e) => {
                assert_eq!(e.payload.args(), &[session.clone(), reg.into()][..]);
                e.subscription
            }
            other => panic!("expected EVENT, got {other:?}"),
        })
        .collect();
    assert_eq!(got, [subs[2], subs[3]]);
}

#[test]
fn revoked_registration_is_announced_to_callees_that_support_it() {
    let mut net = Net::realm1();
    let mut callee = net.join_with(roles_with(&[features::REGISTRATION_REVOCATION]));
    let mut silent = net.join();
    let mut admin = net.join();
    let reg = net.register(&mut callee, "com.revoked");
    let other = net.register(&mut silent, "com.silent");
    net.call(
        &mut admin,
        "wamp.registration.remove_callee",
        args![reg, callee.session.unwrap()],
    );
    // The reason travels as a keyword argument, as in Crossbar.
    assert!(matches!(net.recv_one(&admin), Message::Result(_)));
    match net.recv_one(&callee) {
        Message::Unregistered(u) => {
            assert_eq!(u.request, None);
            assert_eq!(u.details.registration, Some(reg));
        }
        other => panic!("expected UNREGISTERED, got {other:?}"),
    }
    let call = net.call(&mut admin, "com.revoked", args![]);
    assert_eq!(error_of(&net.recv_one(&admin)).1, call);
    // A callee without the feature is not told.
    let request = admin.next();
    net.send(
        &admin,
        Call::new(request, uri("wamp.registration.remove_callee"))
            .with_args(args![other, silent.session.unwrap()])
            .with_kwargs(kwargs! { "reason" => "com.maintenance" }),
    );
    assert!(matches!(net.recv_one(&admin), Message::Result(_)));
    assert!(net.recv(&silent).is_empty());
    // Twice: the session no longer holds it.
    let again = meta(
        &mut net,
        &mut admin,
        "wamp.registration.remove_callee",
        args![other, silent.session.unwrap()],
    );
    assert_eq!(error_of(&again).0, "wamp.error.no_such_registration");
    // Through the API, with a reason.
    let reg = net.register(&mut callee, "com.again");
    assert!(net.router.revoke_registration(
        net.now,
        callee.session.unwrap(),
        reg,
        Some("com.reason")
    ));
    net.pump();
    match net.recv_one(&callee) {
        Message::Unregistered(u) => assert_eq!(u.details.reason.as_deref(), Some("com.reason")),
        other => panic!("expected UNREGISTERED, got {other:?}"),
    }
}

// ---- payload passthru -----------------------------------------------------------------------

fn ppt() -> CallOptions {
    CallOptions {
        ppt_scheme: Some("x_custom".into()),
        ppt_serializer: Some("cbor".into()),
        ..Default::default()
    }
}

fn opaque() -> Vec<Value> {
    vec![Value::Bytes(vec![1, 2, 3].into())]
}

#[test]
fn passthru_options_travel_untouched() {
    let mut net = Net::realm1();
    let ppt_roles = roles_with(&[features::PAYLOAD_PASSTHRU_MODE]);
    let mut callee = net.join_with(ppt_roles.clone());
    let mut caller = net.join_with(ppt_roles.clone());
    let mut sub = net.join_with(ppt_roles);
    net.register(&mut callee, "com.ppt");
    net.subscribe(&mut sub, "com.ppt");
    net.call_with(&mut caller, "com.ppt", ppt(), opaque());
    let inv = invocation(net.recv_one(&callee));
    assert_eq!(inv.details.ppt_scheme.as_deref(), Some("x_custom"));
    assert_eq!(inv.details.ppt_serializer.as_deref(), Some("cbor"));
    assert_eq!(inv.payload.args(), &opaque()[..]);
    let answer = YieldOptions {
        ppt_scheme: Some("x_custom".into()),
        ..Default::default()
    };
    net.send(
        &callee,
        Yield {
            request: inv.request,
            options: answer,
            payload: Payload::new(opaque(), Default::default()),
        },
    );
    match net.recv_one(&caller) {
        Message::Result(r) => assert_eq!(r.details.ppt_scheme.as_deref(), Some("x_custom")),
        other => panic!("expected RESULT, got {other:?}"),
    }
    let options = PublishOptions {
        ppt_scheme: Some("mqtt".into()),
        ..Default::default()
    };
    net.publish(&mut caller, "com.ppt", options, opaque());
    match net.recv_one(&sub) {
        Message::Event(e) => assert_eq!(e.details.ppt_scheme.as_deref(), Some("mqtt")),
        other => panic!("expected EVENT, got {other:?}"),
    }
}

#[test]
fn passthru_needs_every_party_to_announce_it() {
    let mut net = Net::realm1();
    let ppt_roles = roles_with(&[features::PAYLOAD_PASSTHRU_MODE]);
    let mut plain_callee = net.join();
    let mut caller = net.join_with(ppt_roles.clone());
    net.register(&mut plain_callee, "com.plain");
    let call = net.call_with(&mut caller, "com.plain", ppt(), opaque());
    assert_eq!(
        error_of(&net.recv_one(&caller)),
        ("wamp.error.feature_not_supported", call, RequestType::Call)
    );
    // A callee answering in passthru mode to a caller that does not support it.
    let mut callee = net.join_with(ppt_roles);
    let mut plain_caller = net.join();
    net.register(&mut callee, "com.ppt");
    let call = net.call(&mut plain_caller, "com.ppt", args![]);
    let inv = invocation(net.recv_one(&callee));
    net.send(
        &callee,
        Yield {
            request: inv.request,
            options: YieldOptions {
                ppt_scheme: Some("x_custom".into()),
                ..Default::default()
            },
            payload: Payload::new(opaque(), Default::default()),
        },
    );
    assert_eq!(
        error_of(&net.recv_one(&callee)).0,
        "wamp.error.feature_not_supported"
    );
    assert_eq!(
        error_of(&net.recv_one(&plain_caller)),
        ("wamp.error.feature_not_supported", call, RequestType::Call)
    );
    // A caller that did not announce it commits a protocol violation.
    net.call_with(&mut plain_caller, "com.ppt", ppt(), opaque());
    net.expect_abort(&plain_caller, "wamp.error.protocol_violation");
}

// ---- call re-routing ------------------------------------------------------------------------

fn unavailable(net: &mut Net, callee: &Client, inv: &Invocation) {
    net.send(
        callee,
        Error::new(
            RequestType::Invocation,
            inv.request,
            "wamp.error.unavailable",
        ),
    );
}

fn shared_callees(net: &mut Net, n: usize, invoke: InvokePolicy) -> Vec<Client> {
    let options = RegisterOptions {
        invoke: Some(invoke),
        ..Default::default()
    };
    (0..n)
        .map(|_| {
            let mut c = net.join_with(roles_with(&[features::CALL_REROUTE]));
            net.register_with(&mut c, "com.busy", options.clone());
            c
        })
        .collect()
}

/// Which callee got an INVOCATION.
fn invoked(net: &mut Net, callees: &[Client]) -> (usize, Invocation) {
    let mut got = Vec::new();
    for (i, c) in callees.iter().enumerate() {
        for m in net.recv(c) {
            got.push((i, invocation(m)));
        }
    }
    assert_eq!(got.len(), 1, "one INVOCATION: {got:?}");
    got.remove(0)
}

#[test]
fn unavailable_callees_are_skipped_per_invocation_policy() {
    for (invoke, first, then) in [
        (InvokePolicy::RoundRobin, 0, Some(1)),
        (InvokePolicy::First, 0, Some(1)),
        (InvokePolicy::Last, 2, Some(1)),
        (InvokePolicy::Single, 0, None),
    ] {
        let mut net = Net::realm1();
        let n = if invoke == InvokePolicy::Single { 1 } else { 3 };
        let callees = shared_callees(&mut net, n, invoke);
        let mut caller = net.join();
        let call = net.call(&mut caller, "com.busy", args!["payload"]);
        let (i, inv) = invoked(&mut net, &callees);
        assert_eq!(i, first, "{invoke:?}");
        unavailable(&mut net, &callees[i], &inv);
        match then {
            Some(next) => {
                let (j, inv) = invoked(&mut net, &callees);
                assert_eq!(j, next, "{invoke:?}");
                assert_eq!(inv.payload.args(), &args!["payload"][..]);
                net.send(&callees[j], Yield::new(inv.request).with_args(args!["ok"]));
                match net.recv_one(&caller) {
                    Message::Result(r) => assert_eq!(r.payload.args(), &args!["ok"][..]),
                    other => panic!("expected RESULT, got {other:?}"),
                }
            }
            None => assert_eq!(
                error_of(&net.recv_one(&caller)),
                ("wamp.error.no_available_callee", call, RequestType::Call)
            ),
        }
    }
}

#[test]
fn a_call_every_callee_refuses_gets_no_available_callee() {
    let mut net = Net::realm1();
    let callees = shared_callees(&mut net, 3, InvokePolicy::Random);
    let mut caller = net.join();
    let call = net.call(&mut caller, "com.busy", args![]);
    let mut seen = Vec::new();
    for _ in 0..3 {
        let (i, inv) = invoked(&mut net, &callees);
        assert!(!seen.contains(&i), "callee {i} asked twice");
        seen.push(i);
        unavailable(&mut net, &callees[i], &inv);
    }
    assert_eq!(
        error_of(&net.recv_one(&caller)),
        ("wamp.error.no_available_callee", call, RequestType::Call)
    );
    // A callee that did not announce call_reroute: its error is relayed as is.
    let mut plain = net.join();
    net.register(&mut plain, "com.plain");
    let call = net.call(&mut caller, "com.plain", args![]);
    let inv = invocation(net.recv_one(&plain));
    unavailable(&mut net, &plain, &inv);
    assert_eq!(
        error_of(&net.recv_one(&caller)),
        ("wamp.error.unavailable", call, RequestType::Call)
    );
}

#[test]
fn a_rerouted_call_is_set_up_again_for_its_new_callee() {
    let mut net = Net::realm1();
    let reroute = roles_with(&[features::CALL_REROUTE, features::CALL_TIMEOUT]);
    let plain = roles_with(&[features::CALL_REROUTE]);
    // a: discloses callers, enforces timeouts, takes passthru; b: takes no passthru; c: none
    // of these.
    let mut a = net.join_with(roles_with(&[
        features::CALL_REROUTE,
        features::CALL_TIMEOUT,
        features::PAYLOAD_PASSTHRU_MODE,
    ]));
    let mut b = net.join_with(reroute);
    let mut c = net.join_with(plain);
    let shared = |disclose: bool, forward: bool| RegisterOptions {
        invoke: Some(InvokePolicy::RoundRobin),
        disclose_caller: Some(disclose),
        forward_timeout: Some(forward),
        ..Default::default()
    };
    net.register_with(&mut a, "com.r", shared(true, true));
    net.register_with(&mut b, "com.r", shared(false, false));
    net.register_with(&mut c, "com.r", shared(false, true));
    let mut caller = net.join_with(roles_with(&[features::PAYLOAD_PASSTHRU_MODE]));
    let options = CallOptions {
        timeout: Some(1000),
        ..Default::default()
    };
    let call = net.call_with(&mut caller, "com.r", options, args![]);
    let inv = invocation(net.recv_one(&a));
    assert!(inv.details.caller.is_some(), "a asked for disclosure");
    assert_eq!(inv.details.timeout, Some(1000), "a enforces the timeout");
    unavailable(&mut net, &a, &inv);
    let inv = invocation(net.recv_one(&b));
    assert_eq!(inv.details.caller, None, "b did not ask for disclosure");
    assert_eq!(
        inv.details.timeout, None,
        "b leaves the timeout to the dealer"
    );
    // The dealer now times the call.
    net.advance(duration(1000));
    assert_eq!(
        error_of(&net.recv_one(&caller)),
        ("wamp.error.timeout", call, RequestType::Call)
    );
    // A passthru call is not re-routed to callees that cannot take it.
    let mut net = Net::realm1();
    let mut a = net.join_with(roles_with(&[
        features::CALL_REROUTE,
        features::PAYLOAD_PASSTHRU_MODE,
    ]));
    let mut b = net.join_with(roles_with(&[features::CALL_REROUTE]));
    net.register_with(&mut a, "com.r", shared(false, false));
    net.register_with(&mut b, "com.r", shared(false, false));
    let mut caller = net.join_with(roles_with(&[features::PAYLOAD_PASSTHRU_MODE]));
    let ppt = CallOptions {
        ppt_scheme: Some("x_custom".into()),
        ..Default::default()
    };
    let call = net.call_with(&mut caller, "com.r", ppt, opaque());
    let inv = invocation(net.recv_one(&a));
    unavailable(&mut net, &a, &inv);
    assert!(net.recv(&b).is_empty(), "b cannot take a passthru payload");
    assert_eq!(
        error_of(&net.recv_one(&caller)),
        ("wamp.error.no_available_callee", call, RequestType::Call)
    );
}
