//! Client sessions and the router wired together in memory: the basic profile end to end,
//! across serializers, with virtual time.

mod world;

use std::time::Duration;

use nexus_core::message::*;
use nexus_core::session::{SessionEvent, SessionState};
use nexus_core::{
    args, kwargs, uri, Payload, PublicationId, Serializer, SubscriptionId, Uri, Value,
};
use world::World;

fn u(s: &str) -> Uri {
    Uri::parse(s).unwrap()
}

#[test]
fn pubsub_across_serializers() {
    let mut w = World::realm1(1);
    let publisher = w.join(Serializer::MsgPack);
    let subscriber = w.join(Serializer::Json);
    let other = w.join(Serializer::Cbor);
    w.peers[subscriber]
        .session
        .subscribe(u("com.news"), Default::default())
        .unwrap();
    w.peers[other]
        .session
        .subscribe(u("com.news"), Default::default())
        .unwrap();
    w.pump();
    let sub = match w.take(subscriber).as_slice() {
        [SessionEvent::Subscribed { subscription, .. }] => *subscription,
        other => panic!("{other:?}"),
    };
    w.take(other);
    let payload = Payload::new(
        args![
            1,
            -2,
            3.5,
            "ünïcödé",
            b"\x00\x01\xff",
            vec![Value::Null, true.into()]
        ],
        kwargs! { "nested" => kwargs! { "k" => vec![1, 2] } },
    );
    let ack = PublishOptions {
        acknowledge: Some(true),
        ..Default::default()
    };
    let request = w.peers[publisher]
        .session
        .publish(u("com.news"), ack, payload.clone())
        .unwrap();
    w.pump();
    let publication = match w.take(publisher).as_slice() {
        [SessionEvent::Published {
            request: r,
            publication,
        }] if *r == request => *publication,
        other => panic!("{other:?}"),
    };
    for p in [subscriber, other] {
        match w.take(p).as_slice() {
            [SessionEvent::Event {
                subscription,
                publication: pubid,
                payload: got,
                ..
            }] => {
                assert_eq!(*pubid, publication);
                assert_eq!(got, &payload, "payload survives MessagePack -> JSON/CBOR");
                if p == subscriber {
                    assert_eq!(*subscription, sub);
                }
            }
            other => panic!("{other:?}"),
        }
    }
    w.assert_no_violations();
}

#[test]
fn rpc_across_serializers_with_errors() {
    let mut w = World::realm1(2);
    let callee = w.join(Serializer::Cbor);
    let caller = w.join(Serializer::Json);
    w.peers[callee]
        .session
        .register(u("com.div"), Default::default())
        .unwrap();
    w.pump();
    assert!(matches!(
        w.take(callee)[..],
        [SessionEvent::Registered { .. }]
    ));
    for (a, b) in [(7, 2), (1, 0)] {
        let call = w.peers[caller]
            .session
            .call(
                u("com.div"),
                Default::default(),
                Payload::new(args![a, b], Default::default()),
            )
            .unwrap();
        w.pump();
        let (inv, args) = match w.take(callee).pop() {
            Some(SessionEvent::Invocation {
                request, payload, ..
            }) => (request, payload.args().to_vec()),
            other => panic!("{other:?}"),
        };
        let (a, b) = (args[0].as_i64().unwrap(), args[1].as_i64().unwrap());
        if b == 0 {
            w.peers[callee]
                .session
                .yield_error(
                    inv,
                    u("com.error.div_by_zero"),
                    Default::default(),
                    Payload::new(args!["division by zero"], Default::default()),
                )
                .unwrap();
        } else {
            let now = w.now;
            w.peers[callee]
                .session
                .yield_result(
                    now,
                    inv,
                    Default::default(),
                    Payload::new(args![a as f64 / b as f64], Default::default()),
                )
                .unwrap();
        }
        w.pump();
        match w.take(caller).pop() {
            Some(SessionEvent::Result {
                request, payload, ..
            }) => {
                assert_eq!(request, call);
                assert_eq!(payload.args(), &args![3.5][..]);
            }
            Some(SessionEvent::CallError {
                request,
                error,
                payload,
                ..
            }) => {
                assert_eq!(request, call);
                assert_eq!(error.as_str(), "com.error.div_by_zero");
                assert_eq!(payload.args(), &args!["division by zero"][..]);
            }
            other => panic!("{other:?}"),
        }
    }
    let call = w.peers[caller]
        .session
        .call(u("com.nope"), Default::default(), Payload::default())
        .unwrap();
    w.pump();
    assert!(matches!(
        w.take(caller).as_slice(),
        [SessionEvent::CallError { request, error, .. }] if *request == call && error.as_str() == uri::error::NO_SUCH_PROCEDURE
    ));
    w.assert_no_violations();
}

#[test]
fn progressive_results_and_cancel_between_sessions() {
    let mut w = World::realm1(3);
    let callee = w.join(Serializer::MsgPack);
    let caller = w.join(Serializer::Cbor);
    w.peers[callee]
        .session
        .register(u("com.stream"), Default::default())
        .unwrap();
    w.pump();
    w.take(callee);
    let options = CallOptions {
        receive_progress: Some(true),
        ..Default::default()
    };
    let call = w.peers[caller]
        .session
        .call(u("com.stream"), options, Payload::default())
        .unwrap();
    w.pump();
    let inv = match w.take(callee).pop() {
        Some(SessionEvent::Invocation {
            request, details, ..
        }) => {
            assert_eq!(details.receive_progress, Some(true));
            request
        }
        other => panic!("{other:?}"),
    };
    let progress = YieldOptions {
        progress: Some(true),
        ..Default::default()
    };
    let now = w.now;
    w.peers[callee]
        .session
        .yield_result(
            now,
            inv,
            progress,
            Payload::new(args![1], Default::default()),
        )
        .unwrap();
    w.pump();
    assert!(matches!(
        w.take(caller).as_slice(),
        [SessionEvent::Result { request, details, .. }] if *request == call && details.progress == Some(true)
    ));
    // The caller cancels; the callee is interrupted and the caller gets canceled at once.
    w.peers[caller]
        .session
        .cancel(call, Some(CancelMode::KillNoWait))
        .unwrap();
    w.pump();
    assert!(matches!(
        w.take(caller).as_slice(),
        [SessionEvent::CallError { error, .. }] if error.as_str() == uri::error::CANCELED
    ));
    assert!(matches!(
        w.take(callee).as_slice(),
        [SessionEvent::Interrupt { request, .. }] if *request == inv
    ));
    // The callee's late answer goes nowhere and breaks nothing.
    let now = w.now;
    w.peers[callee]
        .session
        .yield_result(now, inv, Default::default(), Payload::default())
        .unwrap();
    w.pump();
    assert!(w.take(caller).is_empty());
    w.assert_no_violations();
}

#[test]
fn callee_leaving_cancels_calls_and_everyone_leaving_empties_the_router() {
    let mut w = World::realm1(4);
    let callee = w.join(Serializer::Json);
    let caller = w.join(Serializer::Json);
    w.peers[callee]
        .session
        .register(u("com.slow"), Default::default())
        .unwrap();
    w.peers[caller]
        .session
        .subscribe(u("com.t"), Default::default())
        .unwrap();
    w.pump();
    let call = w.peers[caller]
        .session
        .call(u("com.slow"), Default::default(), Payload::default())
        .unwrap();
    w.pump();
    w.peers[callee]
        .session
        .leave(uri::close::NORMAL, None)
        .unwrap();
    w.pump();
    assert!(w.take(callee).iter().any(|e| matches!(
        e,
        SessionEvent::Left {
            router_initiated: false,
            ..
        }
    )));
    assert!(w.take(caller).iter().any(
        |e| matches!(e, SessionEvent::CallError { request, error, .. } if *request == call && error.as_str() == uri::error::CANCELED)
    ));
    w.peers[caller]
        .session
        .leave(uri::close::NORMAL, None)
        .unwrap();
    w.pump();
    assert_eq!(w.peers[caller].session.state(), SessionState::Closed);
    assert!(w.router.is_idle());
}

#[test]
fn router_shutdown_and_kill_reach_the_sessions() {
    let mut w = World::realm1(5);
    let a = w.join(Serializer::Cbor);
    let b = w.join(Serializer::MsgPack);
    let session_b = w.peers[b].session.session_id().unwrap();
    assert!(w.router.kill(
        w.now,
        session_b,
        uri::close::KILLED,
        Some("maintenance".into())
    ));
    w.pump();
    match w.take(b).as_slice() {
        [SessionEvent::Left {
            reason,
            details,
            router_initiated: true,
        }] => {
            assert_eq!(reason.as_str(), uri::close::KILLED);
            assert_eq!(details.message.as_deref(), Some("maintenance"));
        }
        other => panic!("{other:?}"),
    }
    assert!(
        w.peers[b].closed,
        "closed once the killed session replied GOODBYE"
    );
    w.router.shutdown(w.now);
    w.pump();
    assert!(w.take(a).iter().any(|e| matches!(
        e,
        SessionEvent::Left { reason, .. } if reason.as_str() == uri::close::SYSTEM_SHUTDOWN
    )));
    assert!(w.peers[a].closed);
    assert_eq!(w.router.connection_count(), 0);
}

#[test]
fn a_silent_transport_is_dropped_after_the_handshake_timeout() {
    let mut w = World::realm1(6);
    let p = w.add_peer(Serializer::Json);
    w.advance(Duration::from_secs(9));
    assert!(!w.peers[p].closed);
    w.advance(Duration::from_secs(1));
    assert!(w.peers[p].closed);
}

#[test]
fn a_router_message_a_client_never_expects_is_reported_by_the_session() {
    // The session side of protocol violations: a router that sends an EVENT for a
    // subscription the session does not hold.
    let mut w = World::realm1(7);
    let p = w.join(Serializer::Json);
    let now = w.now;
    let _ = w.peers[p].session.handle_message(
        now,
        Event::new(SubscriptionId::MIN, PublicationId::MIN).into(),
    );
    w.pump();
    assert!(w
        .take(p)
        .iter()
        .any(|e| matches!(e, SessionEvent::ProtocolViolation { .. })));
    // The session's ABORT reached the router, which dropped the session.
    assert_eq!(w.router.session_count(), 0);
}
