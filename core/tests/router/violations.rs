//! Protocol violations (digest §2.5): ABORT `wamp.error.protocol_violation` with a message,
//! teardown of everything the session held, and the transport closed.

use crate::harness::*;
use nexus_core::message::*;
use nexus_core::router::{RequestIdPolicy, RouterConfig};
use nexus_core::{DecodeError, Limits, RequestId, Serializer};

const PV: &str = "wamp.error.protocol_violation";

#[test]
fn anything_before_hello() {
    let samples: Vec<Message> = vec![
        Subscribe::new(id(1), uri("com.t")).into(),
        Call::new(id(1), uri("com.p")).into(),
        Goodbye::new("wamp.close.normal").into(),
        Yield::new(id(1)).into(),
        Message::Published(Published {
            request: id(1),
            publication: id(2),
        }),
        Authenticate::default().into(),
    ];
    for m in samples {
        let mut net = Net::realm1();
        let c = net.connect();
        let name = m.name();
        net.send(&c, m);
        let abort = net.expect_abort(&c, PV);
        let text = abort.details.message.unwrap();
        assert!(text.contains(name) && text.contains("HELLO"), "{text}");
    }
}

#[test]
fn hello_or_authenticate_after_establishment() {
    for m in [
        Message::from(Net::hello("realm1", all_roles())),
        Authenticate::default().into(),
    ] {
        let mut net = Net::realm1();
        let mut c = net.join();
        net.subscribe(&mut c, "com.t");
        net.send(&c, m);
        let abort = net.expect_abort(&c, PV);
        assert!(abort.details.message.unwrap().contains("established"));
        assert!(net.router.is_idle(), "subscriptions torn down");
    }
}

#[test]
fn messages_only_a_router_sends() {
    let samples: Vec<Message> = vec![
        Welcome::new(id(1), RouterRoles::default()).into(),
        Challenge::default().into(),
        Message::Published(Published {
            request: id(1),
            publication: id(1),
        }),
        Message::Subscribed(Subscribed {
            request: id(1),
            subscription: id(1),
        }),
        Unsubscribed {
            request: Some(id(1)),
            details: Default::default(),
        }
        .into(),
        Event::new(id(1), id(1)).into(),
        CallResult::new(id(1)).into(),
        Message::Registered(Registered {
            request: id(1),
            registration: id(1),
        }),
        Unregistered {
            request: Some(id(1)),
            details: Default::default(),
        }
        .into(),
        Invocation::new(id(1), id(1)).into(),
        Interrupt {
            request: id(1),
            options: Default::default(),
        }
        .into(),
    ];
    for m in samples {
        let mut net = Net::realm1();
        let c = net.join();
        let name = m.name();
        net.send(&c, m);
        let abort = net.expect_abort(&c, PV);
        assert!(abort.details.message.unwrap().contains(name));
    }
}

#[test]
fn error_for_anything_but_an_invocation() {
    for kind in [
        RequestType::Publish,
        RequestType::Subscribe,
        RequestType::Unsubscribe,
        RequestType::Call,
        RequestType::Register,
        RequestType::Unregister,
    ] {
        let mut net = Net::realm1();
        let c = net.join();
        net.send(&c, Error::new(kind, id(1), "com.err"));
        net.expect_abort(&c, PV);
    }
}

#[test]
fn yield_or_error_for_an_invocation_never_sent() {
    let mut net = Net::realm1();
    let c = net.join();
    net.send(&c, Yield::new(id(1)));
    let abort = net.expect_abort(&c, PV);
    assert!(abort.details.message.unwrap().contains("never sent"));
    let mut net = Net::realm1();
    let c = net.join();
    net.send(&c, Error::new(RequestType::Invocation, id(3), "com.err"));
    net.expect_abort(&c, PV);
}

#[test]
fn non_sequential_request_ids_in_strict_mode() {
    let mut net = Net::realm1();
    let c = net.join();
    net.send(&c, Subscribe::new(id(1), uri("com.a")));
    net.recv(&c);
    net.send(&c, Subscribe::new(id(3), uri("com.b")));
    let abort = net.expect_abort(&c, PV);
    assert!(abort
        .details
        .message
        .unwrap()
        .contains("expected 2, received 3"));
    // Starting anywhere but 1 is a violation too.
    let c = net.join();
    net.send(&c, Publish::new(id(7), uri("com.a")));
    net.expect_abort(&c, PV);
}

#[test]
fn lenient_mode_accepts_random_request_ids_but_not_reused_call_ids() {
    let mut net = Net::new(RouterConfig {
        request_ids: RequestIdPolicy::Lenient,
        ..RouterConfig::with_realm(uri("realm1"))
    });
    let mut callee = net.join();
    net.register(&mut callee, "com.p");
    let caller = net.join();
    net.send(&caller, Subscribe::new(id(9_000_000), uri("com.a")));
    assert!(matches!(net.recv_one(&caller), Message::Subscribed(_)));
    net.send(&caller, Call::new(id(77), uri("com.p")));
    assert!(matches!(net.recv_one(&callee), Message::Invocation(_)));
    net.send(&caller, Call::new(id(5), uri("com.p")));
    assert!(matches!(net.recv_one(&callee), Message::Invocation(_)));
    net.send(&caller, Call::new(id(77), uri("com.p")));
    let abort = net.expect_abort(&caller, PV);
    assert!(abort.details.message.unwrap().contains("already in use"));
}

#[test]
fn undecodable_frames() {
    let mut net = Net::realm1();
    let mut c = net.join();
    net.subscribe(&mut c, "com.t");
    let error: DecodeError = Serializer::Json
        .decode(b"[48, \"x\"]", &Limits::default())
        .unwrap_err();
    net.router.handle_decode_error(net.now, c.conn, &error);
    net.pump();
    let abort = net.expect_abort(&c, PV);
    assert!(abort.details.message.unwrap().contains("could not decode"));
    assert!(net.router.is_idle());
}

#[test]
fn nothing_is_processed_after_a_violation() {
    let mut net = Net::realm1();
    let mut a = net.join();
    let mut b = net.join();
    net.subscribe(&mut b, "com.t");
    net.send(&a, Message::Event(Event::new(id(1), id(1))));
    net.expect_abort(&a, PV);
    // Further input on the dead connection is ignored: no event reaches b, nothing to a.
    let request: RequestId = a.next();
    net.send(&a, Publish::new(request, uri("com.t")));
    assert!(net.recv(&a).is_empty());
    assert!(net.recv(&b).is_empty());
    assert_eq!(net.router.session_count(), 1);
}
