//! The authorization extension point: decisions are pending requests, and later messages of
//! the session wait for them, so ordering is kept.

use crate::harness::*;
use nexus_core::args;
use nexus_core::message::*;
use nexus_core::router::{AuthzAction, AuthzMode, RealmConfig, RouterConfig};

fn authz_net() -> Net {
    let mut realm = RealmConfig::new(uri("realm1"));
    realm.authz = AuthzMode::External;
    Net::new(RouterConfig {
        realms: vec![realm],
        max_pending_messages: 3,
        ..RouterConfig::default()
    })
}

#[test]
fn actions_wait_for_the_decision_and_keep_their_order() {
    let mut net = authz_net();
    let mut s = net.join();
    let mut p = net.join();
    let sub_request = s.next();
    net.send(&s, Subscribe::new(sub_request, uri("com.t")));
    assert!(net.recv(&s).is_empty());
    let req = net.authz.remove(0);
    assert_eq!(req.action, AuthzAction::Subscribe);
    assert_eq!(req.uri.as_str(), "com.t");
    assert_eq!(req.authrole, "anonymous");
    assert_eq!(Some(req.session), s.session);
    net.router
        .resolve_authorization(net.now, req.token, true)
        .unwrap();
    net.pump();
    assert!(matches!(net.recv_one(&s), Message::Subscribed(_)));

    // Two publications: the second waits behind the first's authorization.
    net.publish(&mut p, "com.t", PublishOptions::default(), args![1]);
    net.publish(&mut p, "com.t", PublishOptions::default(), args![2]);
    assert_eq!(net.authz.len(), 1);
    let first = net.authz.remove(0);
    net.router
        .resolve_authorization(net.now, first.token, true)
        .unwrap();
    net.pump();
    let second = net.authz.remove(0);
    net.router
        .resolve_authorization(net.now, second.token, true)
        .unwrap();
    net.pump();
    let got: Vec<u64> = net
        .recv(&s)
        .into_iter()
        .map(|m| match m {
            Message::Event(e) => e.payload.args()[0].as_u64().unwrap(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(got, [1, 2]);
    assert!(net
        .router
        .resolve_authorization(net.now, first.token, true)
        .is_err());
}

#[test]
fn denied_actions_get_not_authorized() {
    let mut net = authz_net();
    let mut c = net.join();
    let call = net.call(&mut c, "com.p", vec![]);
    let req = net.authz.remove(0);
    assert_eq!(req.action, AuthzAction::Call);
    net.router
        .resolve_authorization(net.now, req.token, false)
        .unwrap();
    net.pump();
    assert_eq!(
        error_of(&net.recv_one(&c)),
        ("wamp.error.not_authorized", call, RequestType::Call)
    );
    // A denied unacknowledged publication is dropped silently.
    net.publish(&mut c, "com.t", PublishOptions::default(), vec![]);
    let req = net.authz.remove(0);
    net.router
        .resolve_authorization(net.now, req.token, false)
        .unwrap();
    net.pump();
    assert!(net.recv(&c).is_empty());
}

#[test]
fn too_many_messages_behind_a_pending_decision() {
    let mut net = authz_net();
    let mut c = net.join();
    for _ in 0..5 {
        net.publish(&mut c, "com.t", PublishOptions::default(), vec![]);
    }
    net.expect_abort(&c, "wamp.error.protocol_violation");
    assert!(net.router.is_idle());
}

#[test]
fn nothing_held_is_handled_after_a_held_message_aborts_the_session() {
    // Found by the router fuzz target: a held HELLO aborts the session, and the held GOODBYE
    // behind it must not be answered.
    let mut net = authz_net();
    let mut c = net.join();
    let r = c.next();
    net.send(&c, Subscribe::new(r, uri("com.t")));
    net.send(&c, Net::hello("realm1", all_roles()));
    net.send(&c, Goodbye::new("wamp.close.normal"));
    let token = net.authz.remove(0).token;
    net.router
        .resolve_authorization(net.now, token, true)
        .unwrap();
    net.pump();
    let names: Vec<_> = net.recv(&c).iter().map(|m| m.name()).collect();
    assert!(net.is_closed(&c));
    assert_eq!(names, ["SUBSCRIBED", "ABORT"]);
    assert!(net.authz.is_empty());
}
