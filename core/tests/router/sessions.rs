//! Session establishment and closing (digest §2.1–2.3).

use crate::harness::*;
use nexus_core::message::*;
use nexus_core::router::{AuthDecision, AuthMode, Identity, RealmConfig, RouterConfig};
use nexus_core::{features, Id, Value};

#[test]
fn hello_gets_welcome_with_random_session_and_router_roles() {
    let mut net = Net::realm1();
    let c = net.connect();
    net.send(&c, Net::hello("realm1", all_roles()));
    let Message::Welcome(w) = net.recv_one(&c) else {
        panic!()
    };
    assert!(w.session.get() >= 1 && w.session.get() <= Id::MAX.get());
    let roles = w.details.roles.unwrap();
    let broker = roles.broker.unwrap();
    let dealer = roles.dealer.unwrap();
    assert!(broker.supports(features::PUBLISHER_EXCLUSION));
    assert!(dealer.supports(features::CALL_CANCELING));
    assert_eq!(w.details.authrole.as_deref(), Some("anonymous"));
    assert_eq!(w.details.authmethod.as_deref(), Some("anonymous"));
    assert_eq!(w.details.realm.as_deref(), Some("realm1"));
    assert!(w.details.authid.unwrap().len() >= 16);
    assert!(w.details.agent.unwrap().starts_with("nexus-"));
    assert_eq!(net.router.session_count(), 1);
}

#[test]
fn session_ids_differ() {
    let mut net = Net::realm1();
    let ids: std::collections::HashSet<_> = (0..50).map(|_| net.join().session.unwrap()).collect();
    assert_eq!(ids.len(), 50);
    // Uniform over [1, 2^53]: random 50 draws are all far above small sequential values.
    assert!(ids.iter().all(|id| id.get() > 1 << 20));
}

#[test]
fn unknown_realm_is_refused() {
    let mut net = Net::realm1();
    let c = net.connect();
    net.send(&c, Net::hello("nowhere", all_roles()));
    let abort = net.expect_abort(&c, "wamp.error.no_such_realm");
    assert!(abort.details.message.unwrap().contains("nowhere"));
}

#[test]
fn unknown_realm_is_created_when_the_policy_says_so() {
    let mut net = Net::new(RouterConfig {
        auto_create_realms: true,
        ..RouterConfig::default()
    });
    let c = net.connect();
    net.send(&c, Net::hello("fresh.realm", all_roles()));
    assert!(matches!(net.recv_one(&c), Message::Welcome(_)));
}

#[test]
fn hello_without_roles_is_refused() {
    let mut net = Net::realm1();
    let c = net.connect();
    net.send(&c, Net::hello("realm1", ClientRoles::default()));
    net.expect_abort(&c, "wamp.error.protocol_violation");
    let c = net.connect();
    net.send(
        &c,
        Hello {
            realm: uri("realm1"),
            details: HelloDetails::default(),
        },
    );
    net.expect_abort(&c, "wamp.error.protocol_violation");
}

#[test]
fn anonymous_realm_refuses_clients_that_only_offer_other_methods() {
    let mut net = Net::realm1();
    let c = net.connect();
    let mut hello = Net::hello("realm1", all_roles());
    hello.details.authmethods = Some(vec!["ticket".into()]);
    hello.details.authid = Some("joe".into());
    net.send(&c, hello);
    net.expect_abort(&c, "wamp.error.no_matching_auth_method");
    let c = net.connect();
    let mut hello = Net::hello("realm1", all_roles());
    hello.details.authmethods = Some(vec!["ticket".into(), "anonymous".into()]);
    net.send(&c, hello);
    assert!(matches!(net.recv_one(&c), Message::Welcome(_)));
}

#[test]
fn goodbye_is_echoed_and_the_transport_can_rejoin() {
    let mut net = Net::realm1();
    let mut c = net.join();
    net.subscribe(&mut c, "com.t");
    net.send(&c, Goodbye::new("wamp.close.normal"));
    let Message::Goodbye(g) = net.recv_one(&c) else {
        panic!()
    };
    assert_eq!(g.reason.as_str(), "wamp.close.goodbye_and_out");
    assert_eq!(net.router.session_count(), 0);
    assert!(net.router.is_idle());
    assert!(!net.is_closed(&c));
    // A new session on the same transport.
    net.send(&c, Net::hello("realm1", all_roles()));
    assert!(matches!(net.recv_one(&c), Message::Welcome(_)));
}

#[test]
fn after_goodbye_the_transport_must_rejoin_in_time() {
    let mut net = Net::realm1();
    let c = net.join();
    net.leave(&c);
    net.advance(duration(9_000));
    assert!(!net.is_closed(&c));
    net.advance(duration(1_000));
    assert!(net.is_closed(&c));
}

#[test]
fn handshake_deadline_closes_silent_connections() {
    let mut net = Net::realm1();
    let c = net.connect();
    assert_eq!(net.router.poll_timeout(), Some(net.now + duration(10_000)));
    net.advance(duration(9_999));
    assert!(!net.is_closed(&c));
    net.advance(duration(1));
    assert!(net.is_closed(&c));
    assert!(net.recv(&c).is_empty());
    // A joined session has no deadline.
    let _d = net.join();
    net.router.detach(net.now, c.conn);
    assert_eq!(net.router.poll_timeout(), None);
}

#[test]
fn shutdown_says_goodbye_and_closes_on_the_reply_or_the_timeout() {
    let mut net = Net::realm1();
    let a = net.join();
    let b = net.join();
    let idle = net.connect();
    net.router.shutdown(net.now);
    net.pump();
    for c in [&a, &b] {
        let Message::Goodbye(g) = net.recv_one(c) else {
            panic!()
        };
        assert_eq!(g.reason.as_str(), "wamp.close.system_shutdown");
    }
    assert!(net.is_closed(&idle));
    assert_eq!(net.router.session_count(), 0);
    net.send(&a, Goodbye::new("wamp.close.goodbye_and_out"));
    assert!(net.is_closed(&a));
    assert!(!net.is_closed(&b));
    net.advance(duration(5_000));
    assert!(net.is_closed(&b));
}

#[test]
fn a_session_can_be_killed_with_a_reason_and_message() {
    let mut net = Net::realm1();
    let a = net.join();
    let mut b = net.join();
    net.subscribe(&mut b, "com.t");
    assert!(net.router.kill(
        net.now,
        b.session.unwrap(),
        "wamp.close.killed",
        Some("bye".into())
    ));
    net.pump();
    let Message::Goodbye(g) = net.recv_one(&b) else {
        panic!()
    };
    assert_eq!(g.reason.as_str(), "wamp.close.killed");
    assert_eq!(g.details.message.as_deref(), Some("bye"));
    // A killed session gets nothing more.
    let mut a = a;
    net.publish(&mut a, "com.t", PublishOptions::default(), vec![]);
    assert!(net.recv(&b).is_empty());
    assert!(!net
        .router
        .kill(net.now, b.session.unwrap(), "wamp.close.killed", None));
}

#[test]
fn client_abort_ends_the_session_without_reply() {
    let mut net = Net::realm1();
    let mut c = net.join();
    net.register(&mut c, "com.p");
    net.send(&c, Abort::new("wamp.close.normal", "leaving"));
    assert!(net.recv(&c).is_empty());
    assert!(net.is_closed(&c));
    assert!(net.router.is_idle());
}

fn external_net() -> Net {
    let mut realm = RealmConfig::new(uri("realm1"));
    realm.auth = AuthMode::External;
    Net::new(RouterConfig {
        realms: vec![realm],
        ..RouterConfig::default()
    })
}

#[test]
fn external_authentication_with_a_challenge() {
    let mut net = external_net();
    let c = net.connect();
    let mut hello = Net::hello("realm1", all_roles());
    hello.details.authmethods = Some(vec!["ticket".into()]);
    hello.details.authid = Some("joe".into());
    net.send(&c, hello);
    assert!(net.recv(&c).is_empty());
    let request = net.auth.remove(0);
    assert_eq!(request.connection, c.conn);
    assert_eq!(request.hello.details.authid.as_deref(), Some("joe"));
    assert!(request.authenticate.is_none());
    net.router
        .resolve_authentication(
            net.now,
            c.conn,
            AuthDecision::Challenge {
                method: "ticket".into(),
                extra: ChallengeExtra::default(),
            },
        )
        .unwrap();
    net.pump();
    let Message::Challenge(ch) = net.recv_one(&c) else {
        panic!()
    };
    assert_eq!(ch.auth_method, "ticket");
    net.send(
        &c,
        Authenticate {
            signature: "secret!".into(),
            extra: Default::default(),
        },
    );
    let request = net.auth.remove(0);
    assert_eq!(request.authenticate.unwrap().signature, "secret!");
    // No second AUTHENTICATE while the decision is pending.
    net.router
        .resolve_authentication(
            net.now,
            c.conn,
            AuthDecision::Welcome(Identity {
                authid: "joe".into(),
                authrole: "user".into(),
                authmethod: "ticket".into(),
                authprovider: "static".into(),
                authextra: nexus_core::kwargs! { "x" => 1 },
            }),
        )
        .unwrap();
    net.pump();
    let Message::Welcome(w) = net.recv_one(&c) else {
        panic!()
    };
    assert_eq!(w.details.authid.as_deref(), Some("joe"));
    assert_eq!(w.details.authrole.as_deref(), Some("user"));
    assert_eq!(w.details.authextra.unwrap()["x"], Value::from(1));
    assert!(net
        .router
        .resolve_authentication(
            net.now,
            c.conn,
            AuthDecision::Deny {
                reason: "x".into(),
                message: "y".into()
            }
        )
        .is_err());
}

#[test]
fn external_authentication_denied_and_misordered() {
    let mut net = external_net();
    let c = net.connect();
    net.send(&c, Net::hello("realm1", all_roles()));
    net.router
        .resolve_authentication(
            net.now,
            c.conn,
            AuthDecision::Deny {
                reason: "wamp.error.authentication_failed".into(),
                message: "authentication failed".into(),
            },
        )
        .unwrap();
    net.pump();
    net.expect_abort(&c, "wamp.error.authentication_failed");
    // AUTHENTICATE while no CHALLENGE is outstanding is a violation.
    let c = net.connect();
    net.send(&c, Net::hello("realm1", all_roles()));
    net.send(
        &c,
        Authenticate {
            signature: "x".into(),
            extra: Default::default(),
        },
    );
    net.expect_abort(&c, "wamp.error.protocol_violation");
    // And the handshake deadline covers authentication too.
    let c = net.connect();
    net.send(&c, Net::hello("realm1", all_roles()));
    net.advance(duration(10_000));
    assert!(net.is_closed(&c));
}
