//! Realms on tasks of their own: a router with several realms, realms created on demand, a
//! transport that leaves one realm and joins another, and the handle's counters and kills
//! across realms.

use std::sync::Arc;

use futures::{SinkExt, StreamExt};
use nexus_driver::nexus_core::message::{ClientRoles, Goodbye, Hello, Message, Role};
use nexus_driver::nexus_core::router::RouterConfig;
use nexus_driver::nexus_core::{args, uri, Serializer, Uri, Value};
use nexus_driver::nexus_transports::{connect_rawsocket, Incoming, Outgoing, Transport};
use nexus_driver::{Client, ClientConfig, RouterBuilder, RouterHandle, Runtime};

use super::within;

/// A RawSocket transport to `port`, driven by hand.
struct Raw {
    transport: Transport,
}

impl Raw {
    async fn connect(rt: &dyn Runtime, port: u16) -> Raw {
        let io = within(rt, "connect", rt.connect_tcp("127.0.0.1".into(), port))
            .await
            .unwrap();
        let transport = within(
            rt,
            "RawSocket handshake",
            connect_rawsocket(io, Serializer::Json, 1 << 20),
        )
        .await
        .unwrap();
        Raw { transport }
    }

    async fn send(&mut self, rt: &dyn Runtime, message: impl Into<Message>) {
        let bytes = Serializer::Json.encode(&message.into()).unwrap();
        within(rt, "send", self.transport.send(Outgoing::Message(bytes)))
            .await
            .unwrap();
    }

    async fn recv(&mut self, rt: &dyn Runtime, what: &str) -> Message {
        loop {
            match within(rt, what, self.transport.next()).await {
                Some(Ok(Incoming::Message(frame))) => {
                    return Serializer::Json
                        .decode(&frame, &Default::default())
                        .unwrap()
                }
                Some(Ok(_)) => continue,
                other => panic!("{what}: the router sent {other:?}"),
            }
        }
    }

    async fn hello(&mut self, rt: &dyn Runtime, realm: &str) -> Message {
        let roles = ClientRoles {
            subscriber: Some(Role::default()),
            ..Default::default()
        };
        self.send(rt, Hello::new(Uri::parse(realm).unwrap(), roles))
            .await;
        self.recv(rt, "the answer to HELLO").await
    }
}

async fn session_count(rt: &dyn Runtime, client: &Client) -> u64 {
    let res = within(rt, "wamp.session.count", client.call("wamp.session.count"))
        .await
        .unwrap();
    res.args[0].as_u64().unwrap()
}

async fn join(rt: &Arc<dyn Runtime>, url: &str, realm: &str) -> Client {
    within(
        &**rt,
        "join",
        Client::connect(rt.clone(), url, ClientConfig::new(realm)),
    )
    .await
    .unwrap()
}

/// Two configured realms and realms created on demand, each on a task of its own.
pub async fn realms_on_tasks_of_their_own(rt: Arc<dyn Runtime>) {
    let router: RouterHandle = RouterBuilder::with_config(RouterConfig {
        auto_create_realms: true,
        ..Default::default()
    })
    .realm("realm.a")
    .realm("realm.b")
    .start(rt.clone());
    let url = within(&*rt, "listen", router.listen("tcp://127.0.0.1:0", None))
        .await
        .unwrap();
    let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();

    // Sessions see their own realm only.
    let a1 = join(&rt, &url, "realm.a").await;
    let a2 = join(&rt, &url, "realm.a").await;
    let b1 = join(&rt, &url, "realm.b").await;
    assert_eq!(session_count(&*rt, &a1).await, 2);
    assert_eq!(session_count(&*rt, &b1).await, 1);
    let mut in_b = within(&*rt, "subscribe", b1.subscribe("com.suite.news"))
        .await
        .unwrap();
    let mut in_a = within(&*rt, "subscribe", a2.subscribe("com.suite.news"))
        .await
        .unwrap();
    within(
        &*rt,
        "publish",
        a1.publish("com.suite.news")
            .args(args!["in a"])
            .acknowledged(),
    )
    .await
    .unwrap();
    let event = super::next_event(&*rt, "the event in realm.a", &mut in_a).await;
    assert_eq!(event.args, args!["in a"]);

    // A realm nobody configured is created by the first HELLO naming it, once.
    let c1 = join(&rt, &url, "realm.c").await;
    let c2 = join(&rt, &url, "realm.c").await;
    assert_eq!(session_count(&*rt, &c2).await, 2);
    let stats = within(&*rt, "stats", router.stats()).await;
    assert_eq!((stats.sessions, stats.connections), (5, 5));

    // A transport that says GOODBYE may carry a session in another realm, on that realm's
    // task: it counts there and gets that realm's events.
    let mut raw = Raw::connect(&*rt, port).await;
    assert!(matches!(
        raw.hello(&*rt, "realm.a").await,
        Message::Welcome(_)
    ));
    assert_eq!(session_count(&*rt, &a1).await, 3);
    raw.send(&*rt, Goodbye::new(uri::close::CLOSE_REALM)).await;
    match raw.recv(&*rt, "GOODBYE").await {
        Message::Goodbye(g) => assert_eq!(g.reason.as_str(), uri::close::GOODBYE_AND_OUT),
        other => panic!("expected GOODBYE, got {other:?}"),
    }
    let welcome = raw.hello(&*rt, "realm.b").await;
    let Message::Welcome(welcome) = welcome else {
        panic!("expected WELCOME in realm.b, got {welcome:?}")
    };
    assert_eq!(session_count(&*rt, &a1).await, 2);
    assert_eq!(session_count(&*rt, &b1).await, 2);

    // A HELLO during a session is the session's realm's to answer, whatever it names.
    let mut again = Raw::connect(&*rt, port).await;
    assert!(matches!(
        again.hello(&*rt, "realm.b").await,
        Message::Welcome(_)
    ));
    match again.hello(&*rt, "realm.a").await {
        Message::Abort(abort) => {
            assert_eq!(abort.reason.as_str(), uri::error::PROTOCOL_VIOLATION)
        }
        other => panic!("expected ABORT, got {other:?}"),
    }

    // Kills reach whichever realm has the session.
    assert!(
        within(
            &*rt,
            "kill",
            router.kill(welcome.session, "wamp.close.killed", None)
        )
        .await
    );
    match raw.recv(&*rt, "GOODBYE from the kill").await {
        Message::Goodbye(g) => assert_eq!(g.reason.as_str(), "wamp.close.killed"),
        other => panic!("expected GOODBYE, got {other:?}"),
    }
    assert!(!within(&*rt, "kill", router.kill(welcome.session, "x.y", None)).await);

    // Nothing published in realm.a reached realm.b: the first event there is realm.b's.
    let b2 = join(&rt, &url, "realm.b").await;
    within(
        &*rt,
        "publish",
        b2.publish("com.suite.news")
            .args(args!["in b"])
            .acknowledged(),
    )
    .await
    .unwrap();
    let event = super::next_event(&*rt, "the event in realm.b", &mut in_b).await;
    assert_eq!(event.args, vec![Value::from("in b")]);

    for c in [a1, a2, b1, b2, c1, c2] {
        within(&*rt, "close", c.close()).await.unwrap();
    }
    within(&*rt, "shutdown", router.shutdown()).await;
    let stats = within(&*rt, "stats", router.stats()).await;
    assert_eq!((stats.sessions, stats.connections), (0, 0));
}

/// Without realms created on demand, a HELLO naming no realm gets ABORT, from the lobby.
pub async fn unknown_realms_are_refused(rt: Arc<dyn Runtime>) {
    let router = RouterBuilder::new().realm("realm.a").start(rt.clone());
    let url = within(&*rt, "listen", router.listen("tcp://127.0.0.1:0", None))
        .await
        .unwrap();
    let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
    let mut raw = Raw::connect(&*rt, port).await;
    match raw.hello(&*rt, "realm.nowhere").await {
        Message::Abort(abort) => assert_eq!(abort.reason.as_str(), uri::error::NO_SUCH_REALM),
        other => panic!("expected ABORT, got {other:?}"),
    }
    let err = within(
        &*rt,
        "join",
        Client::connect(rt.clone(), &url, ClientConfig::new("realm.nowhere")),
    )
    .await;
    assert!(err.is_err(), "{:?}", err.map(|c| c.session_id()));
    within(&*rt, "shutdown", router.shutdown()).await;
}
