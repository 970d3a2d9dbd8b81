//! wamp-relay with real clients: calls, errors, events and acknowledgements go through it,
//! between sessions of the same serializer (bytes copied) and of different ones (payloads
//! converted). Every wait is bounded by a timeout.

use std::time::Duration;

use futures::StreamExt;
use nexus_conformance::relay::{Relay, RelayConfig};
use nexus_tokio::{args, kwargs, Client, ClientConfig, Error, Payload, Serializer, Value};

const WAIT: Duration = Duration::from_secs(10);

async fn client(url: &str, serializer: Serializer) -> Client {
    let config = ClientConfig::new("realm1").serializer(serializer);
    tokio::time::timeout(WAIT, nexus_tokio::connect(url, config))
        .await
        .expect("joining timed out")
        .expect("joining failed")
}

async fn within<T>(what: &str, f: impl std::future::IntoFuture<Output = T>) -> T {
    tokio::time::timeout(WAIT, f.into_future())
        .await
        .unwrap_or_else(|_| panic!("{what} timed out"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_and_events_cross_the_relay() {
    let relay = Relay::new(RelayConfig::default());
    let ws = relay.listen("ws://127.0.0.1:0/ws").await.unwrap();
    let tcp = relay.listen("tcp://127.0.0.1:0").await.unwrap();
    assert!(
        ws.starts_with("ws://127.0.0.1:") && ws.ends_with("/ws"),
        "{ws}"
    );
    assert!(tcp.starts_with("tcp://127.0.0.1:"), "{tcp}");

    let callee = client(&tcp, Serializer::MsgPack).await;
    within(
        "register",
        callee.register(
            "com.example.echo",
            |inv: nexus_tokio::Invocation| async move {
                if inv.args.first() == Some(&Value::from("fail")) {
                    return Err(nexus_tokio::WampError::new("com.example.refused"));
                }
                Ok(Payload::new(inv.args, inv.kwargs))
            },
        ),
    )
    .await
    .unwrap()
    .detach();

    for (url, serializer) in [
        (&tcp, Serializer::MsgPack),
        (&ws, Serializer::Json),
        (&tcp, Serializer::Cbor),
    ] {
        let caller = client(url, serializer).await;
        let payload = args![
            1,
            -2,
            2.5,
            "é",
            Value::from(vec![0u8, 255]),
            args![Value::Null]
        ];
        let kw = kwargs! {"k" => "v"};
        let result = within(
            "call",
            caller
                .call("com.example.echo")
                .args(payload.clone())
                .kwargs(kw.clone()),
        )
        .await
        .unwrap();
        assert_eq!(
            (result.args, result.kwargs),
            (payload, kw),
            "{serializer:?}"
        );

        let refused = within("call", caller.call("com.example.echo").args(args!["fail"]))
            .await
            .unwrap_err();
        match refused {
            Error::Wamp(e) => assert_eq!(e.error.as_str(), "com.example.refused"),
            other => panic!("expected the callee's error, got {other:?}"),
        }
        let missing = within("call", caller.call("com.example.none"))
            .await
            .unwrap_err();
        match missing {
            Error::Wamp(e) => assert_eq!(e.error.as_str(), "wamp.error.no_such_procedure"),
            other => panic!("expected no_such_procedure, got {other:?}"),
        }
        within("close", caller.close()).await.unwrap();
    }

    let json_sub = client(&ws, Serializer::Json).await;
    let cbor_sub = client(&tcp, Serializer::Cbor).await;
    let mut a = within("subscribe", json_sub.subscribe("com.example.topic"))
        .await
        .unwrap();
    let mut b = within("subscribe", cbor_sub.subscribe("com.example.topic"))
        .await
        .unwrap();
    assert_eq!(a.id(), b.id(), "one subscription per topic");
    let publisher = client(&tcp, Serializer::MsgPack).await;
    within(
        "publish",
        publisher
            .publish("com.example.topic")
            .args(args![7, "x"])
            .kwargs(kwargs! {"n" => 1})
            .acknowledged(),
    )
    .await
    .unwrap();
    for events in [&mut a, &mut b] {
        let event = within("event", events.next())
            .await
            .expect("an event")
            .expect("an event, not a gap");
        assert_eq!(event.args, args![7, "x"]);
        assert_eq!(event.kwargs, kwargs! {"n" => 1});
    }
    for c in [&callee, &json_sub, &cbor_sub, &publisher] {
        within("close", c.close()).await.unwrap();
    }
}
