//! The integration suite every runtime crate runs: a router and clients over WebSocket,
//! RawSocket, TLS (wss, tcps) and Unix sockets, with every serializer, plus the in-process
//! client. Included by each runtime crate's tests with `#[path]`.
//!
//! Every wait has a timeout: a hang is a failure, never a stuck test.

#![allow(dead_code)]

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use nexus_driver::nexus_core::message::PublishOptions;
use nexus_driver::nexus_core::{args, kwargs, uri, Payload, Serializer, Value};
use nexus_driver::{
    Client, ClientConfig, Error, Invocation, RouterBuilder, RouterHandle, Runtime, WampError,
};

const WAIT: Duration = Duration::from_secs(10);

async fn within<T>(rt: &dyn Runtime, what: &str, f: impl Future<Output = T>) -> T {
    match nexus_driver::runtime::timeout(rt, WAIT, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out: {what}"),
    }
}

/// A self-signed certificate for 127.0.0.1 and localhost, as server and client TLS configs.
pub fn tls_pair() -> (Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>) {
    let cert =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let cert_pem = cert.cert.pem();
    let key_pem = cert.signing_key.serialize_pem();
    let server = nexus_driver::nexus_transports::tls::server_config_from_pem(
        cert_pem.as_bytes(),
        key_pem.as_bytes(),
    )
    .unwrap();
    let client =
        nexus_driver::nexus_transports::tls::client_config(Some(cert_pem.as_bytes())).unwrap();
    (server, client)
}

fn unix_path() -> std::path::PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    std::env::temp_dir().join(format!(
        "nexus-suite-{}-{}.sock",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Starts a router with realm1 listening on every kind of URL; returns it and the URLs.
pub async fn router_everywhere(
    rt: Arc<dyn Runtime>,
    tls: Arc<rustls::ServerConfig>,
) -> (RouterHandle, Vec<String>) {
    let router = RouterBuilder::new().realm("realm1").start(rt.clone());
    let mut urls = Vec::new();
    for (url, tls) in [
        ("ws://127.0.0.1:0/ws".to_owned(), None),
        ("tcp://127.0.0.1:0".to_owned(), None),
        ("wss://127.0.0.1:0/ws".to_owned(), Some(tls.clone())),
        ("tcps://127.0.0.1:0".to_owned(), Some(tls)),
        (format!("unix://{}", unix_path().display()), None),
    ] {
        let bound = within(&*rt, "listen", router.listen(&url, tls))
            .await
            .unwrap();
        assert!(!bound.contains(":0/") && !bound.ends_with(":0"), "{bound}");
        urls.push(bound);
    }
    (router, urls)
}

fn config(serializer: Serializer, tls: &Arc<rustls::ClientConfig>) -> ClientConfig {
    ClientConfig::new("realm1")
        .serializer(serializer)
        .tls(tls.clone())
}

/// RPC and pub/sub between two clients on `url` with `serializer`.
pub async fn rpc_and_pubsub(
    rt: Arc<dyn Runtime>,
    url: &str,
    serializer: Serializer,
    tls: &Arc<rustls::ClientConfig>,
) {
    let what = format!("{url} {serializer}");
    let callee = within(
        &*rt,
        &what,
        Client::connect(rt.clone(), url, config(serializer, tls)),
    )
    .await
    .unwrap_or_else(|e| panic!("{what}: {e}"));
    let caller = within(
        &*rt,
        &what,
        Client::connect(rt.clone(), url, config(serializer, tls)),
    )
    .await
    .unwrap();
    let procedure = format!("com.suite.add.{}", callee.session_id());
    within(
        &*rt,
        &what,
        callee.register(&procedure, |inv: Invocation| async move {
            let a = inv.args.first().and_then(Value::as_i64).unwrap_or(0);
            let b = inv.args.get(1).and_then(Value::as_i64).unwrap_or(0);
            Ok(Payload::new(
                args![a + b],
                kwargs! { "serializer" => "any" },
            ))
        }),
    )
    .await
    .unwrap();
    let failing = format!("com.suite.fail.{}", callee.session_id());
    within(
        &*rt,
        &what,
        callee.register(&failing, |_inv: Invocation| async move {
            Err(WampError::new("com.suite.error.nope").with_args(args!["nope", -1]))
        }),
    )
    .await
    .unwrap();

    let sum = within(
        &*rt,
        &what,
        caller.call(&procedure, args![2, -5], Default::default()),
    )
    .await
    .unwrap();
    assert_eq!(sum.args, args![-3], "{what}");
    assert_eq!(sum.kwargs["serializer"], Value::from("any"));
    match within(
        &*rt,
        &what,
        caller.call(&failing, vec![], Default::default()),
    )
    .await
    {
        Err(Error::Wamp(e)) => {
            assert_eq!(e.error.as_str(), "com.suite.error.nope");
            assert_eq!(e.args, args!["nope", -1]);
        }
        other => panic!("{what}: {other:?}"),
    }
    match within(
        &*rt,
        &what,
        caller.call("com.suite.nobody", vec![], Default::default()),
    )
    .await
    {
        Err(Error::Wamp(e)) => assert_eq!(e.error.as_str(), uri::error::NO_SUCH_PROCEDURE),
        other => panic!("{what}: {other:?}"),
    }

    let topic = format!("com.suite.topic.{}", caller.session_id());
    let mut events = within(&*rt, &what, callee.subscribe(&topic)).await.unwrap();
    let payload = args![
        1.5,
        "ünïcode",
        vec![1u8, 2],
        Value::Bytes(bytes::Bytes::from_static(b"\x00\xff"))
    ];
    let publication = within(
        &*rt,
        &what,
        caller.publish_acknowledged(&topic, payload.clone(), kwargs! { "k" => Value::Null }),
    )
    .await
    .unwrap();
    let event = within(&*rt, &what, events.next()).await.expect("event");
    assert_eq!(event.publication, publication);
    assert_eq!(event.args, payload);
    within(
        &*rt,
        &what,
        caller.publish(&topic, args!["fire and forget"], Default::default()),
    )
    .await
    .unwrap();
    let event = within(&*rt, &what, events.next()).await.expect("event");
    assert_eq!(event.args, args!["fire and forget"]);
    within(&*rt, &what, callee.unsubscribe(events))
        .await
        .unwrap();
    within(&*rt, &what, caller.close()).await.unwrap();
    within(&*rt, &what, callee.close()).await.unwrap();
}

/// A JSON caller calling a CBOR callee, and a MessagePack publisher publishing to a JSON
/// subscriber, on different transports.
pub async fn across_serializers(
    rt: Arc<dyn Runtime>,
    urls: &[String],
    tls: &Arc<rustls::ClientConfig>,
) {
    let callee = within(
        &*rt,
        "callee",
        Client::connect(rt.clone(), &urls[1], config(Serializer::Cbor, tls)),
    )
    .await
    .unwrap();
    let caller = within(
        &*rt,
        "caller",
        Client::connect(rt.clone(), &urls[0], config(Serializer::Json, tls)),
    )
    .await
    .unwrap();
    within(
        &*rt,
        "register",
        callee.register("com.suite.echo", |inv: Invocation| async move {
            Ok(Payload::new(inv.args, inv.kwargs))
        }),
    )
    .await
    .unwrap();
    let value = args![
        -7,
        3.25,
        "x",
        Value::Bytes(bytes::Bytes::from_static(b"bin")),
        kwargs! { "a" => vec![Value::Null] }
    ];
    let echoed = within(
        &*rt,
        "echo",
        caller.call("com.suite.echo", value.clone(), kwargs! { "n" => u64::MAX }),
    )
    .await
    .unwrap();
    assert_eq!(echoed.args, value);
    assert_eq!(echoed.kwargs["n"], Value::from(u64::MAX));
    let subscriber = within(
        &*rt,
        "subscriber",
        Client::connect(rt.clone(), &urls[2], config(Serializer::Json, tls)),
    )
    .await
    .unwrap();
    let publisher = within(
        &*rt,
        "publisher",
        Client::connect(rt.clone(), &urls[3], config(Serializer::MsgPack, tls)),
    )
    .await
    .unwrap();
    let mut events = within(&*rt, "subscribe", subscriber.subscribe("com.suite.cross"))
        .await
        .unwrap();
    within(
        &*rt,
        "publish",
        publisher.publish_with(
            "com.suite.cross",
            PublishOptions {
                acknowledge: Some(true),
                ..Default::default()
            },
            Payload::new(value.clone(), Default::default()),
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        within(&*rt, "event", events.next()).await.unwrap().args,
        value
    );
    for c in [callee, caller, subscriber, publisher] {
        within(&*rt, "close", c.close()).await.unwrap();
    }
}

/// An in-process client, and cancellation when a call future is dropped.
pub async fn local_client_and_cancel(rt: Arc<dyn Runtime>, router: &RouterHandle) {
    let callee = within(
        &*rt,
        "local",
        Client::connect_local(router, ClientConfig::new("realm1")),
    )
    .await
    .unwrap();
    let caller = within(
        &*rt,
        "local",
        Client::connect_local(router, ClientConfig::new("realm1")),
    )
    .await
    .unwrap();
    let (started_tx, started) = futures::channel::oneshot::channel::<()>();
    let started_tx = std::sync::Mutex::new(Some(started_tx));
    let rt2 = rt.clone();
    within(
        &*rt,
        "register slow",
        callee.register("com.suite.slow", move |_inv: Invocation| {
            if let Some(tx) = started_tx.lock().unwrap().take() {
                let _ = tx.send(());
            }
            let rt = rt2.clone();
            async move {
                rt.sleep(Duration::from_secs(3600)).await;
                Ok(Payload::default())
            }
        }),
    )
    .await
    .unwrap();
    let call = caller.call("com.suite.slow", vec![], Default::default());
    // Start the call, then drop it once the callee runs it: the router cancels it.
    let call = Box::pin(call);
    let (_, call) = match futures::future::select(call, started).await {
        futures::future::Either::Right((_, call)) => ((), call),
        futures::future::Either::Left((r, _)) => panic!("slow call finished: {r:?}"),
    };
    drop(call);
    // The session still works after the cancellation.
    within(
        &*rt,
        "register",
        callee.register("com.suite.quick", |_inv: Invocation| async {
            Ok(Payload::new(args!["ok"], Default::default()))
        }),
    )
    .await
    .unwrap();
    let r = within(
        &*rt,
        "quick",
        caller.call("com.suite.quick", vec![], Default::default()),
    )
    .await
    .unwrap();
    assert_eq!(r.args, args!["ok"]);
    within(&*rt, "close", caller.close()).await.unwrap();
    within(&*rt, "close", callee.close()).await.unwrap();
}

/// Shutdown says GOODBYE to every session.
pub async fn shutdown_reaches_clients(rt: Arc<dyn Runtime>, router: RouterHandle, url: &str) {
    let client = within(
        &*rt,
        "connect",
        Client::connect(rt.clone(), url, ClientConfig::new("realm1")),
    )
    .await
    .unwrap();
    within(&*rt, "shutdown", router.shutdown()).await;
    within(&*rt, "closed", client.closed()).await;
    assert!(matches!(
        within(
            &*rt,
            "call after shutdown",
            client.call("com.x", vec![], Default::default())
        )
        .await,
        Err(Error::Closed)
    ));
    assert_eq!(within(&*rt, "stats", router.stats()).await.connections, 0);
}

/// Messages larger than a peer accepts fail the request with
/// `wamp.error.payload_size_exceeded` instead of disconnecting anyone.
pub async fn payload_limits(rt: Arc<dyn Runtime>) {
    let limits = nexus_driver::nexus_core::Limits {
        max_message_size: 4096,
        ..Default::default()
    };
    let router = RouterBuilder::new()
        .realm("realm1")
        .limits(limits)
        .start(rt.clone());
    let url = within(&*rt, "listen", router.listen("tcp://127.0.0.1:0", None))
        .await
        .unwrap();
    let small = |serializer| {
        let mut c = ClientConfig::new("realm1").serializer(serializer);
        c.limits.max_message_size = 1024;
        c
    };
    let callee = within(
        &*rt,
        "callee",
        Client::connect(rt.clone(), &url, small(Serializer::Json)),
    )
    .await
    .unwrap();
    let caller = within(
        &*rt,
        "caller",
        Client::connect(rt.clone(), &url, small(Serializer::MsgPack)),
    )
    .await
    .unwrap();
    within(
        &*rt,
        "register",
        callee.register("com.suite.size", |inv: Invocation| async move {
            let n = inv.args.first().and_then(Value::as_u64).unwrap_or(0) as usize;
            Ok(Payload::new(args!["x".repeat(n)], Default::default()))
        }),
    )
    .await
    .unwrap();
    let exceeded = |r: Result<nexus_driver::CallResponse, Error>| match r {
        Err(Error::Wamp(e)) => assert_eq!(e.error.as_str(), uri::error::PAYLOAD_SIZE_EXCEEDED),
        other => panic!("expected payload_size_exceeded, got {other:?}"),
    };
    // The INVOCATION is too large for the callee (1 KiB): the caller is told.
    exceeded(
        within(
            &*rt,
            "big call",
            caller.call(
                "com.suite.size",
                args![0, "y".repeat(2000)],
                Default::default(),
            ),
        )
        .await,
    );
    // The RESULT is too large for the caller.
    exceeded(
        within(
            &*rt,
            "big result",
            caller.call("com.suite.size", args![2000], Default::default()),
        )
        .await,
    );
    // The CALL is too large for the router (4 KiB): refused before sending.
    exceeded(
        within(
            &*rt,
            "huge call",
            caller.call(
                "com.suite.size",
                args![0, "z".repeat(8000)],
                Default::default(),
            ),
        )
        .await,
    );
    // Nobody was disconnected.
    let ok = within(
        &*rt,
        "small call",
        caller.call("com.suite.size", args![3], Default::default()),
    )
    .await
    .unwrap();
    assert_eq!(ok.args, args!["xxx"]);
    within(&*rt, "close", caller.close()).await.unwrap();
    within(&*rt, "close", callee.close()).await.unwrap();
    within(&*rt, "shutdown", router.shutdown()).await;
}

/// Caller identification through the client API: the callee sees who calls when the
/// caller asks (`disclose_me`) or the callee does (`disclose_caller`).
pub async fn caller_identification(rt: Arc<dyn Runtime>, router: &RouterHandle) {
    use nexus_driver::nexus_core::message::{CallOptions, RegisterOptions};
    let callee = within(
        &*rt,
        "callee",
        Client::connect_local(router, ClientConfig::new("realm1")),
    )
    .await
    .unwrap();
    let caller = within(
        &*rt,
        "caller",
        Client::connect_local(router, ClientConfig::new("realm1")),
    )
    .await
    .unwrap();
    let who = |inv: Invocation| async move {
        let caller = inv
            .details
            .caller
            .map_or(Value::Null, |id| Value::from(id.get()));
        Ok(Payload::new(vec![caller], Default::default()))
    };
    within(&*rt, "register", callee.register("com.suite.who", who))
        .await
        .unwrap();
    let options = RegisterOptions {
        disclose_caller: Some(true),
        ..Default::default()
    };
    within(
        &*rt,
        "register",
        callee.register_with("com.suite.who.always", options, who),
    )
    .await
    .unwrap();
    let me = Value::from(caller.session_id().get());
    let r = within(
        &*rt,
        "anonymous",
        caller.call("com.suite.who", vec![], Default::default()),
    )
    .await
    .unwrap();
    assert_eq!(r.args, vec![Value::Null]);
    let options = CallOptions {
        disclose_me: Some(true),
        ..Default::default()
    };
    let r = within(
        &*rt,
        "disclosed",
        caller.call_with("com.suite.who", options, Payload::default()),
    )
    .await
    .unwrap();
    assert_eq!(r.args, vec![me.clone()]);
    let r = within(
        &*rt,
        "callee asks",
        caller.call("com.suite.who.always", vec![], Default::default()),
    )
    .await
    .unwrap();
    assert_eq!(r.args, vec![me]);
    within(&*rt, "close", caller.close()).await.unwrap();
    within(&*rt, "close", callee.close()).await.unwrap();
}

/// Call timeout through the client API: the dealer answers `wamp.error.timeout`, and the
/// callee's handler is interrupted.
pub async fn call_timeout(rt: Arc<dyn Runtime>, router: &RouterHandle) {
    use nexus_driver::nexus_core::message::CallOptions;
    let callee = within(
        &*rt,
        "callee",
        Client::connect_local(router, ClientConfig::new("realm1")),
    )
    .await
    .unwrap();
    let caller = within(
        &*rt,
        "caller",
        Client::connect_local(router, ClientConfig::new("realm1")),
    )
    .await
    .unwrap();
    let rt2 = rt.clone();
    within(
        &*rt,
        "register",
        callee.register("com.suite.forever", move |_inv: Invocation| {
            let rt = rt2.clone();
            async move {
                rt.sleep(Duration::from_secs(3600)).await;
                Ok(Payload::default())
            }
        }),
    )
    .await
    .unwrap();
    let options = CallOptions {
        timeout: Some(100),
        ..Default::default()
    };
    match within(
        &*rt,
        "timed out call",
        caller.call_with("com.suite.forever", options, Payload::default()),
    )
    .await
    {
        Err(Error::Wamp(e)) => assert_eq!(e.error.as_str(), uri::error::TIMEOUT),
        other => panic!("expected wamp.error.timeout, got {other:?}"),
    }
    within(&*rt, "close", caller.close()).await.unwrap();
    within(&*rt, "close", callee.close()).await.unwrap();
}

/// The whole suite. Each part is boxed: the futures are large, and some executors poll the
/// root future on a test thread's small stack.
pub async fn run_all(rt: Arc<dyn Runtime>) {
    let (server_tls, client_tls) = tls_pair();
    let (router, urls) = Box::pin(router_everywhere(rt.clone(), server_tls)).await;
    let mut runs = 0;
    for url in &urls {
        for serializer in Serializer::ALL {
            Box::pin(rpc_and_pubsub(rt.clone(), url, serializer, &client_tls)).await;
            runs += 1;
        }
    }
    assert_eq!(runs, 15, "5 transports x 3 serializers");
    Box::pin(across_serializers(rt.clone(), &urls, &client_tls)).await;
    Box::pin(local_client_and_cancel(rt.clone(), &router)).await;
    Box::pin(caller_identification(rt.clone(), &router)).await;
    Box::pin(call_timeout(rt.clone(), &router)).await;
    Box::pin(payload_limits(rt.clone())).await;
    Box::pin(shutdown_reaches_clients(rt.clone(), router, &urls[0])).await;
}
