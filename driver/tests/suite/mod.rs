//! The integration suite every runtime crate runs: a router and clients over WebSocket,
//! RawSocket, TLS (wss, tcps) and Unix sockets, with every serializer, plus the in-process
//! client. Included by each runtime crate's tests with `#[path]`.
//!
//! Every wait has a timeout: a hang is a failure, never a stuck test.

#![allow(dead_code)]

mod auth;
mod realms;
mod reconnect;
mod typed;

use std::future::IntoFuture;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use nexus_driver::nexus_core::message::{Message, PublishOptions};
use nexus_driver::nexus_core::{args, kwargs, uri, Payload, Serializer, Value};
use nexus_driver::{
    Client, ClientConfig, Error, Invocation, RouterBuilder, RouterHandle, Runtime, WampError,
};

const WAIT: Duration = Duration::from_secs(10);

async fn within<T>(rt: &dyn Runtime, what: &str, f: impl IntoFuture<Output = T>) -> T {
    match nexus_driver::runtime::timeout(rt, WAIT, f.into_future()).await {
        Ok(v) => v,
        Err(_) => panic!("timed out: {what}"),
    }
}

/// The next item of a subscription, which must be an event.
async fn next_event(
    rt: &dyn Runtime,
    what: &str,
    subscription: &mut nexus_driver::Subscription,
) -> nexus_driver::Event {
    match within(rt, what, subscription.next()).await {
        Some(Ok(event)) => event,
        Some(Err(e)) => panic!("{what}: {e}"),
        None => panic!("{what}: the subscription ended"),
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
    .unwrap()
    .detach();
    let failing = format!("com.suite.fail.{}", callee.session_id());
    within(
        &*rt,
        &what,
        callee.register(&failing, |_inv: Invocation| async move {
            Err::<(), _>(WampError::new("com.suite.error.nope").with_args(args!["nope", -1]))
        }),
    )
    .await
    .unwrap()
    .detach();

    let sum = within(&*rt, &what, caller.call(&procedure).args(args![2, -5]))
        .await
        .unwrap();
    assert_eq!(sum.args, args![-3], "{what}");
    assert_eq!(sum.kwargs["serializer"], Value::from("any"));
    match within(&*rt, &what, caller.call(&failing)).await {
        Err(Error::Wamp(e)) => {
            assert_eq!(e.error.as_str(), "com.suite.error.nope");
            assert_eq!(e.args, args!["nope", -1]);
        }
        other => panic!("{what}: {other:?}"),
    }
    match within(&*rt, &what, caller.call("com.suite.nobody")).await {
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
        caller
            .publish(&topic)
            .args(payload.clone())
            .kwargs(kwargs! { "k" => Value::Null })
            .acknowledged(),
    )
    .await
    .unwrap();
    let event = next_event(&*rt, &what, &mut events).await;
    assert_eq!(event.publication, publication);
    assert_eq!(event.args, payload);
    within(
        &*rt,
        &what,
        caller.publish(&topic).args(args!["fire and forget"]),
    )
    .await
    .unwrap();
    let event = next_event(&*rt, &what, &mut events).await;
    assert_eq!(event.args, args!["fire and forget"]);
    within(&*rt, &what, events.unsubscribe()).await.unwrap();
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
    .unwrap()
    .detach();
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
        caller
            .call("com.suite.echo")
            .args(value.clone())
            .kwargs(kwargs! { "n" => u64::MAX }),
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
        publisher
            .publish("com.suite.cross")
            .options(PublishOptions {
                acknowledge: Some(true),
                ..Default::default()
            })
            .payload(Payload::new(value.clone(), Default::default())),
    )
    .await
    .unwrap();
    assert_eq!(next_event(&*rt, "event", &mut events).await.args, value);
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
    .unwrap()
    .detach();
    let call = caller.call("com.suite.slow").into_future();
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
    .unwrap()
    .detach();
    let r = within(&*rt, "quick", caller.call("com.suite.quick"))
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
        within(&*rt, "call after shutdown", client.call("com.x")).await,
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
    .unwrap()
    .detach();
    let exceeded = |r: Result<nexus_driver::CallResponse, Error>| match r {
        Err(Error::Wamp(e)) => assert_eq!(e.error.as_str(), uri::error::PAYLOAD_SIZE_EXCEEDED),
        other => panic!("expected payload_size_exceeded, got {other:?}"),
    };
    // The INVOCATION is too large for the callee (1 KiB): the caller is told.
    exceeded(
        within(
            &*rt,
            "big call",
            caller
                .call("com.suite.size")
                .args(args![0, "y".repeat(2000)]),
        )
        .await,
    );
    // The RESULT is too large for the caller.
    exceeded(
        within(
            &*rt,
            "big result",
            caller.call("com.suite.size").args(args![2000]),
        )
        .await,
    );
    // The CALL is too large for the router (4 KiB): refused before sending.
    exceeded(
        within(
            &*rt,
            "huge call",
            caller
                .call("com.suite.size")
                .args(args![0, "z".repeat(8000)]),
        )
        .await,
    );
    // Nobody was disconnected.
    let ok = within(
        &*rt,
        "small call",
        caller.call("com.suite.size").args(args![3]),
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
        .unwrap()
        .detach();
    let options = RegisterOptions {
        disclose_caller: Some(true),
        ..Default::default()
    };
    within(
        &*rt,
        "register",
        callee
            .register("com.suite.who.always", who)
            .options(options),
    )
    .await
    .unwrap()
    .detach();
    let me = Value::from(caller.session_id().get());
    let r = within(&*rt, "anonymous", caller.call("com.suite.who"))
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
        caller.call("com.suite.who").options(options),
    )
    .await
    .unwrap();
    assert_eq!(r.args, vec![me.clone()]);
    let r = within(&*rt, "callee asks", caller.call("com.suite.who.always"))
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
    .unwrap()
    .detach();
    let options = CallOptions {
        timeout: Some(100),
        ..Default::default()
    };
    match within(
        &*rt,
        "timed out call",
        caller.call("com.suite.forever").options(options),
    )
    .await
    {
        Err(Error::Wamp(e)) => assert_eq!(e.error.as_str(), uri::error::TIMEOUT),
        other => panic!("expected wamp.error.timeout, got {other:?}"),
    }
    within(&*rt, "close", caller.close()).await.unwrap();
    within(&*rt, "close", callee.close()).await.unwrap();
}

async fn local(rt: &dyn Runtime, router: &RouterHandle, what: &str) -> Client {
    within(
        rt,
        what,
        Client::connect_local(router, ClientConfig::new("realm1")),
    )
    .await
    .unwrap_or_else(|e| panic!("{what}: {e}"))
}

fn one(value: impl Into<Value>) -> Payload {
    Payload::new(vec![value.into()], Default::default())
}

/// Signals when dropped: tells a test that a handler was stopped.
struct DropSignal(Option<futures::channel::oneshot::Sender<()>>);

impl Drop for DropSignal {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

/// Progressive call results through the client API: the caller's stream yields each
/// progressive result, then the final one, then ends; the callee's progress handle refuses
/// when the caller did not ask and once the invocation is answered; dropping the stream
/// cancels the call.
pub async fn progressive_results(rt: Arc<dyn Runtime>, router: &RouterHandle) {
    use nexus_driver::Progress;
    let callee = local(&*rt, router, "callee").await;
    let caller = local(&*rt, router, "caller").await;
    let kept: Arc<std::sync::Mutex<Option<Progress>>> = Default::default();
    let kept2 = kept.clone();
    within(
        &*rt,
        "register countdown",
        callee.register("com.suite.countdown", move |inv: Invocation| {
            let kept = kept2.clone();
            async move {
                let progress = inv.progress_sender();
                *kept.lock().unwrap() = Some(progress.clone());
                if !progress.is_requested() {
                    // The caller did not ask: the handle refuses.
                    let refused = match inv.progress(one(0)).await {
                        Err(Error::Usage(
                            nexus_driver::nexus_core::session::UsageError::ProgressNotRequested {
                                ..
                            },
                        )) => "refused",
                        _ => "not refused",
                    };
                    return Ok(one(refused));
                }
                for n in (1..=3).rev() {
                    progress.send(one(n)).await.map_err(|e| {
                        WampError::new("com.suite.error").with_args(args![e.to_string()])
                    })?;
                }
                Ok(one("liftoff"))
            }
        }),
    )
    .await
    .unwrap()
    .detach();

    let call = caller.call("com.suite.countdown").progress();
    let results: Vec<_> = within(&*rt, "progressive call", call.collect::<Vec<_>>()).await;
    let seen: Vec<(Vec<Value>, Option<bool>)> = results
        .into_iter()
        .map(|r| {
            let r = r.unwrap();
            (r.args, r.details.progress)
        })
        .collect();
    assert_eq!(
        seen,
        [
            (args![3], Some(true)),
            (args![2], Some(true)),
            (args![1], Some(true)),
            (args!["liftoff"], None),
        ]
    );
    // The invocation is answered: its handle refuses now.
    let handle = kept.lock().unwrap().take().unwrap();
    assert!(handle.is_finished());
    assert!(matches!(
        handle.send(one(9)).await,
        Err(Error::InvocationFinished { request }) if request == handle.request_id()
    ));
    // A plain call: only the final result, and the handler could not send progress.
    let plain = within(&*rt, "plain call", caller.call("com.suite.countdown"))
        .await
        .unwrap();
    assert_eq!(plain.args, args!["refused"]);
    // A callee that sends none: a stream of one final result.
    within(
        &*rt,
        "register quiet",
        callee.register("com.suite.quiet", |_inv: Invocation| async {
            Ok(one("only"))
        }),
    )
    .await
    .unwrap()
    .detach();
    let mut quiet = caller.call("com.suite.quiet").progress();
    let only = within(&*rt, "quiet", quiet.next()).await.unwrap().unwrap();
    assert_eq!((only.args, only.details.progress), (args!["only"], None));
    assert!(within(&*rt, "quiet end", quiet.next()).await.is_none());

    // Dropping the stream cancels the call: the callee's handler is stopped.
    let (stopped_tx, stopped) = futures::channel::oneshot::channel::<()>();
    let stopped_tx = std::sync::Mutex::new(Some(stopped_tx));
    let rt2 = rt.clone();
    within(
        &*rt,
        "register endless",
        callee.register("com.suite.endless", move |inv: Invocation| {
            let guard = DropSignal(stopped_tx.lock().unwrap().take());
            let rt = rt2.clone();
            async move {
                let _guard = guard;
                inv.progress(one("first")).await?;
                rt.sleep(Duration::from_secs(3600)).await;
                Ok(Payload::default())
            }
        }),
    )
    .await
    .unwrap()
    .detach();
    let mut endless = caller.call("com.suite.endless").progress();
    let first = within(&*rt, "first progress", endless.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.args, args!["first"]);
    drop(endless);
    within(&*rt, "handler stopped", stopped).await.unwrap();
    within(&*rt, "close", caller.close()).await.unwrap();
    within(&*rt, "close", callee.close()).await.unwrap();
}

/// Progressive call invocations through the client API: input in chunks, full duplex,
/// early answers, a plain handler, and a sender dropped before `finish`.
pub async fn progressive_invocations(rt: Arc<dyn Runtime>, router: &RouterHandle) {
    use nexus_driver::InvocationStream;
    let callee = local(&*rt, router, "callee").await;
    let caller = local(&*rt, router, "caller").await;
    // Sums the first chunk and the following ones; counts them.
    within(
        &*rt,
        "register sum",
        callee.register(
            "com.suite.sum",
            |inv: Invocation, mut rest: InvocationStream| async move {
                let mut sum = inv.args.first().and_then(Value::as_i64).unwrap_or(0);
                let mut chunks = 1;
                while let Some(chunk) = rest.next().await {
                    sum += chunk.args().first().and_then(Value::as_i64).unwrap_or(0);
                    chunks += 1;
                }
                Ok(Payload::new(args![sum, chunks], Default::default()))
            },
        ),
    )
    .await
    .unwrap()
    .detach();
    let (mut input, result) = caller.call("com.suite.sum").payload(one(1)).chunked();
    within(&*rt, "chunk 2", input.send(one(2))).await.unwrap();
    within(&*rt, "chunk 3", input.send(one(3))).await.unwrap();
    within(&*rt, "last chunk", input.finish(one(4)))
        .await
        .unwrap();
    let r = within(&*rt, "sum", result).await.unwrap();
    assert_eq!(r.args, args![10, 4]);
    // An ordinary call to a streaming handler: its stream is empty.
    let r = within(
        &*rt,
        "plain sum",
        caller.call("com.suite.sum").args(args![5]),
    )
    .await
    .unwrap();
    assert_eq!(r.args, args![5, 1]);

    // Full duplex: each chunk is echoed as a progressive result before the next is sent.
    within(
        &*rt,
        "register echo",
        callee.register(
            "com.suite.echo_chunks",
            |inv: Invocation, mut rest: InvocationStream| async move {
                inv.progress(Payload::new(inv.args.clone(), Default::default()))
                    .await?;
                let mut n = 1;
                while let Some(chunk) = rest.next().await {
                    inv.progress(chunk).await?;
                    n += 1;
                }
                Ok(one(format!("{n} chunks")))
            },
        ),
    )
    .await
    .unwrap()
    .detach();
    let (mut input, mut output) = caller
        .call("com.suite.echo_chunks")
        .payload(one("a"))
        .duplex();
    let echo = |r: Option<Result<nexus_driver::CallResponse, Error>>| {
        let r = r.expect("a result").unwrap();
        assert_eq!(r.details.progress, Some(true));
        r.args
    };
    assert_eq!(
        echo(within(&*rt, "echo a", output.next()).await),
        args!["a"]
    );
    within(&*rt, "send b", input.send(one("b"))).await.unwrap();
    assert_eq!(
        echo(within(&*rt, "echo b", output.next()).await),
        args!["b"]
    );
    within(&*rt, "finish c", input.finish(one("c")))
        .await
        .unwrap();
    assert_eq!(
        echo(within(&*rt, "echo c", output.next()).await),
        args!["c"]
    );
    let last = within(&*rt, "final", output.next()).await.unwrap().unwrap();
    assert_eq!(
        (last.args, last.details.progress),
        (args!["3 chunks"], None)
    );
    assert!(within(&*rt, "end", output.next()).await.is_none());

    // The callee answers after the first chunk; the caller's later chunks are refused
    // locally (or discarded on the way) and the callee's session is unharmed.
    within(
        &*rt,
        "register early",
        callee.register(
            "com.suite.early",
            |_inv: Invocation, _rest: InvocationStream| async move { Ok(one("enough")) },
        ),
    )
    .await
    .unwrap()
    .detach();
    let (mut input, result) = caller.call("com.suite.early").payload(one(1)).chunked();
    // Sent at once, racing the answer: they reach the callee after its answer, or not at all.
    let _ = input.send(one(2)).await;
    let r = within(&*rt, "early answer", result).await.unwrap();
    assert_eq!(r.args, args!["enough"]);
    assert!(matches!(
        within(&*rt, "chunk after the answer", input.send(one(3))).await,
        Err(Error::CallEnded)
    ));
    assert!(matches!(
        within(&*rt, "finish after the answer", input.finish(one(4))).await,
        Err(Error::CallEnded)
    ));

    // A plain handler refuses input in chunks.
    within(
        &*rt,
        "register plain",
        callee.register("com.suite.plain", |_inv: Invocation| async {
            Ok(one("plain"))
        }),
    )
    .await
    .unwrap()
    .detach();
    let (mut input, result) = caller.call("com.suite.plain").payload(one(1)).chunked();
    match within(&*rt, "plain refuses", result).await {
        Err(Error::Wamp(e)) => assert_eq!(e.error.as_str(), uri::error::FEATURE_NOT_SUPPORTED),
        other => panic!("expected feature_not_supported, got {other:?}"),
    }
    assert!(matches!(
        within(&*rt, "chunk after the error", input.send(one(2))).await,
        Err(Error::CallEnded)
    ));

    // Dropping the sender before finish cancels the call and stops the handler.
    let (stopped_tx, stopped) = futures::channel::oneshot::channel::<()>();
    let stopped_tx = std::sync::Mutex::new(Some(stopped_tx));
    let (started_tx, started) = futures::channel::oneshot::channel::<()>();
    let started_tx = std::sync::Mutex::new(Some(started_tx));
    within(
        &*rt,
        "register reader",
        callee.register(
            "com.suite.reader",
            move |_inv: Invocation, mut rest: InvocationStream| {
                let guard = DropSignal(stopped_tx.lock().unwrap().take());
                if let Some(tx) = started_tx.lock().unwrap().take() {
                    let _ = tx.send(());
                }
                async move {
                    let _guard = guard;
                    while rest.next().await.is_some() {}
                    Ok(one("complete"))
                }
            },
        ),
    )
    .await
    .unwrap()
    .detach();
    let (input, result) = caller.call("com.suite.reader").payload(one(1)).chunked();
    within(&*rt, "reader started", started).await.unwrap();
    drop(input);
    match within(&*rt, "abandoned input", result).await {
        Err(Error::Wamp(e)) => assert_eq!(e.error.as_str(), uri::error::CANCELED),
        other => panic!("expected wamp.error.canceled, got {other:?}"),
    }
    within(&*rt, "reader stopped", stopped).await.unwrap();

    // Both sessions still work.
    let r = within(&*rt, "after", caller.call("com.suite.sum").args(args![1]))
        .await
        .unwrap();
    assert_eq!(r.args, args![1, 1]);
    within(&*rt, "close", caller.close()).await.unwrap();
    within(&*rt, "close", callee.close()).await.unwrap();
}

/// Registration revocation through the client API: the router's meta procedure
/// `wamp.registration.remove_callee` revokes a registration; the callee learns it from
/// `Client::revocations`, and calls no longer reach it.
pub async fn registration_revocation(rt: Arc<dyn Runtime>, router: &RouterHandle) {
    use nexus_driver::Revoked;
    let callee = local(&*rt, router, "callee").await;
    let admin = local(&*rt, router, "admin").await;
    let mut revocations = callee.revocations();
    let registration = within(
        &*rt,
        "register",
        callee.register("com.suite.revocable", |_inv: Invocation| async {
            Ok(one("here"))
        }),
    )
    .await
    .unwrap();
    let r = within(&*rt, "call", admin.call("com.suite.revocable"))
        .await
        .unwrap();
    assert_eq!(r.args, args!["here"]);
    let registration_id = registration.id().unwrap();
    within(
        &*rt,
        "remove_callee",
        admin
            .call("wamp.registration.remove_callee")
            .args(args![
                registration.id().unwrap().get(),
                callee.session_id().get()
            ])
            .kwargs(kwargs! { "reason" => "maintenance" }),
    )
    .await
    .unwrap();
    let revoked = within(&*rt, "revocation", revocations.next()).await;
    assert_eq!(
        revoked,
        Some(Revoked::Registration {
            id: registration_id,
            reason: Some("maintenance".into())
        })
    );
    match within(
        &*rt,
        "call after revocation",
        admin.call("com.suite.revocable"),
    )
    .await
    {
        Err(Error::Wamp(e)) => assert_eq!(e.error.as_str(), uri::error::NO_SUCH_PROCEDURE),
        other => panic!("expected no_such_procedure, got {other:?}"),
    }
    within(&*rt, "close", admin.close()).await.unwrap();
    within(&*rt, "close", callee.close()).await.unwrap();
    // The session is over: the stream ends.
    assert_eq!(
        within(&*rt, "revocations end", revocations.next()).await,
        None
    );
}

/// A call timeout the callee enforces: the dealer forwards it to a registration made with
/// `forward_timeout`; the client stops the handler and answers `wamp.error.timeout`, and a
/// progressive result restarts the timer.
pub async fn callee_timeout(rt: Arc<dyn Runtime>, router: &RouterHandle) {
    use nexus_driver::nexus_core::message::{CallOptions, RegisterOptions};
    let callee = local(&*rt, router, "callee").await;
    let caller = local(&*rt, router, "caller").await;
    let forward = || RegisterOptions {
        forward_timeout: Some(true),
        ..Default::default()
    };
    let (seen_tx, mut seen) = futures::channel::mpsc::unbounded::<Option<u64>>();
    let (stopped_tx, stopped) = futures::channel::oneshot::channel::<()>();
    let stopped_tx = std::sync::Mutex::new(Some(stopped_tx));
    let rt2 = rt.clone();
    within(
        &*rt,
        "register stuck",
        callee
            .register("com.suite.stuck", move |inv: Invocation| {
                let _ = seen_tx.unbounded_send(inv.details.timeout);
                let guard = DropSignal(stopped_tx.lock().unwrap().take());
                let rt = rt2.clone();
                async move {
                    let _guard = guard;
                    rt.sleep(Duration::from_secs(3600)).await;
                    Ok(Payload::default())
                }
            })
            .options(forward()),
    )
    .await
    .unwrap()
    .detach();
    let options = CallOptions {
        timeout: Some(200),
        ..Default::default()
    };
    match within(
        &*rt,
        "timed out call",
        caller.call("com.suite.stuck").options(options),
    )
    .await
    {
        Err(Error::Wamp(e)) => {
            assert_eq!(e.error.as_str(), uri::error::TIMEOUT);
            // The callee's error, not the dealer's.
            let why = e.args.first().and_then(Value::as_str).unwrap_or_default();
            assert!(why.contains("callee"), "{why}");
        }
        other => panic!("expected wamp.error.timeout, got {other:?}"),
    }
    // The dealer forwarded the timeout, and the handler was stopped.
    assert_eq!(within(&*rt, "seen", seen.next()).await, Some(Some(200)));
    within(&*rt, "handler stopped", stopped).await.unwrap();

    // Progressive results restart the timer: 8 steps of 100 ms outlast a 500 ms timeout.
    let rt3 = rt.clone();
    within(
        &*rt,
        "register ticking",
        callee
            .register("com.suite.ticking", move |inv: Invocation| {
                let rt = rt3.clone();
                async move {
                    for n in 0..8 {
                        rt.sleep(Duration::from_millis(100)).await;
                        inv.progress(one(n)).await?;
                    }
                    Ok(one("done"))
                }
            })
            .options(forward()),
    )
    .await
    .unwrap()
    .detach();
    let options = CallOptions {
        timeout: Some(500),
        ..Default::default()
    };
    let call = caller.call("com.suite.ticking").options(options).progress();
    let results = within(&*rt, "ticking", call.collect::<Vec<_>>()).await;
    assert_eq!(results.len(), 9, "{results:?}");
    assert_eq!(results[8].as_ref().unwrap().args, args!["done"]);
    within(&*rt, "close", caller.close()).await.unwrap();
    within(&*rt, "close", callee.close()).await.unwrap();
}

/// What the default roles announce, through the client API: trust levels and caller
/// identification reach the callee, payload passthru passes options and one binary
/// argument through both ways, and a partitioned call needs an rkey and sticks to a shard.
pub async fn advanced_options(rt: Arc<dyn Runtime>, router: &RouterHandle) {
    use nexus_driver::nexus_core::message::{
        CallOptions, InvokePolicy, RegisterOptions, YieldOptions,
    };
    use nexus_driver::nexus_core::session::UsageError;
    let callee = local(&*rt, router, "callee").await;
    let other = local(&*rt, router, "other callee").await;
    let caller = local(&*rt, router, "caller").await;
    let blob = |b: &'static [u8]| one(Value::Bytes(bytes::Bytes::from_static(b)));
    within(
        &*rt,
        "register passthru",
        callee.register("com.suite.ppt", |inv: Invocation| async move {
            assert_eq!(inv.details.ppt_scheme.as_deref(), Some("x_suite"));
            assert_eq!(inv.details.ppt_serializer.as_deref(), Some("cbor"));
            assert_eq!(
                inv.args,
                vec![Value::Bytes(bytes::Bytes::from_static(b"in"))]
            );
            // Trust levels: the dealer assigns one (0 unless configured).
            assert_eq!(inv.details.trustlevel, Some(0));
            inv.set_yield_options(YieldOptions {
                ppt_scheme: Some("x_suite".into()),
                ppt_serializer: Some("cbor".into()),
                ..Default::default()
            });
            Ok(Payload::new(
                vec![Value::Bytes(bytes::Bytes::from_static(b"out"))],
                Default::default(),
            ))
        }),
    )
    .await
    .unwrap()
    .detach();
    let ppt = CallOptions {
        ppt_scheme: Some("x_suite".into()),
        ppt_serializer: Some("cbor".into()),
        ..Default::default()
    };
    let r = within(
        &*rt,
        "passthru call",
        caller
            .call("com.suite.ppt")
            .options(ppt.clone())
            .payload(blob(b"in")),
    )
    .await
    .unwrap();
    assert_eq!(
        r.args,
        vec![Value::Bytes(bytes::Bytes::from_static(b"out"))]
    );
    assert_eq!(r.details.ppt_scheme.as_deref(), Some("x_suite"));
    assert!(matches!(
        within(
            &*rt,
            "passthru shape",
            caller
                .call("com.suite.ppt")
                .options(ppt)
                .payload(one("not binary")),
        )
        .await,
        Err(Error::Usage(UsageError::PassthruPayloadShape { .. }))
    ));

    // Sharded registration: the rkey picks the same callee every time.
    let shared = || RegisterOptions {
        invoke: Some(InvokePolicy::RoundRobin),
        ..Default::default()
    };
    for c in [&callee, &other] {
        let me = c.session_id().get();
        within(
            &*rt,
            "register shard",
            c.register("com.suite.shard", move |_inv: Invocation| async move {
                Ok(one(me))
            })
            .options(shared()),
        )
        .await
        .unwrap()
        .detach();
    }
    let partition = |rkey: Option<&str>| CallOptions {
        runmode: Some("partition".into()),
        rkey: rkey.map(str::to_owned),
        ..Default::default()
    };
    assert!(matches!(
        within(
            &*rt,
            "no rkey",
            caller.call("com.suite.shard").options(partition(None)),
        )
        .await,
        Err(Error::Usage(UsageError::PartitionWithoutRkey))
    ));
    let mut shards = Vec::new();
    for _ in 0..4 {
        let r = within(
            &*rt,
            "sharded call",
            caller
                .call("com.suite.shard")
                .options(partition(Some("customer-7"))),
        )
        .await
        .unwrap();
        shards.push(r.args);
    }
    assert!(shards.windows(2).all(|w| w[0] == w[1]), "{shards:?}");
    for c in [caller, other, callee] {
        within(&*rt, "close", c.close()).await.unwrap();
    }
}

/// The router's side of one RawSocket connection, played message by message by a test.
struct Scripted {
    transport: nexus_driver::nexus_transports::Transport,
}

impl Scripted {
    async fn send(&mut self, rt: &dyn Runtime, message: impl Into<Message>) {
        use futures::SinkExt;
        let bytes = self.transport.serializer().encode(&message.into()).unwrap();
        within(
            rt,
            "scripted send",
            self.transport
                .send(nexus_driver::nexus_transports::Outgoing::Message(bytes)),
        )
        .await
        .unwrap();
    }

    async fn recv(&mut self, rt: &dyn Runtime, what: &str) -> Message {
        loop {
            match within(rt, what, self.transport.next()).await {
                Some(Ok(nexus_driver::nexus_transports::Incoming::Message(frame))) => {
                    return self
                        .transport
                        .serializer()
                        .decode(&frame, &Default::default())
                        .unwrap()
                }
                Some(Ok(_)) => continue,
                other => panic!("{what}: the client sent {other:?}"),
            }
        }
    }
}

/// A client connected to a scripted router that announces `dealer` and `broker` features.
async fn scripted(rt: Arc<dyn Runtime>, dealer: &[&str], broker: &[&str]) -> (Client, Scripted) {
    use nexus_driver::nexus_core::message::{Role, RouterRoles, Welcome};
    use nexus_driver::nexus_core::SessionId;
    let mut listener = within(&*rt, "listen", rt.listen_tcp("127.0.0.1".into(), 0))
        .await
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let url = format!("tcp://127.0.0.1:{port}");
    let roles = RouterRoles {
        dealer: Some(Role::with_features(dealer.iter().copied())),
        broker: Some(Role::with_features(broker.iter().copied())),
        ..Default::default()
    };
    let router = async {
        let (io, _) = listener.accept().await.unwrap();
        let transport = nexus_driver::nexus_transports::accept_rawsocket(io, &Default::default())
            .await
            .unwrap();
        let mut router = Scripted { transport };
        assert!(matches!(
            router.recv(&*rt, "HELLO").await,
            Message::Hello(_)
        ));
        router
            .send(&*rt, Welcome::new(SessionId::new(4242).unwrap(), roles))
            .await;
        router
    };
    let config = ClientConfig::new("realm1").serializer(Serializer::Cbor);
    let (client, router) = within(
        &*rt,
        "scripted join",
        futures::future::join(Client::connect(rt.clone(), &url, config), router),
    )
    .await;
    (client.unwrap(), router)
}

/// Against a scripted router, what a real one rarely shows on cue: a subscription
/// revocation ends the subscription's stream and is reported; a forwarded
/// `details.timeout` is enforced by the client; continuations that arrive after an early
/// answer are discarded without harm; a registration revocation is reported.
pub async fn scripted_router(rt: Arc<dyn Runtime>) {
    use nexus_driver::nexus_core::features;
    use nexus_driver::nexus_core::message::{
        Invocation as InvocationMessage, Registered, Subscribed, Unregistered, UnregisteredDetails,
        Unsubscribed, UnsubscribedDetails,
    };
    use nexus_driver::nexus_core::{IdOutOfRange, RegistrationId};
    use nexus_driver::{InvocationStream, Revoked};
    /// The ID `n`, typed by what the caller expects (a request, a subscription...).
    fn id<T: TryFrom<u64, Error = IdOutOfRange>>(n: u64) -> T {
        T::try_from(n).unwrap()
    }
    let (client, mut router) = scripted(
        rt.clone(),
        &[
            features::CALL_CANCELING,
            features::PROGRESSIVE_CALL_INVOCATIONS,
            features::CALL_TIMEOUT,
        ],
        &[features::SUBSCRIPTION_REVOCATION],
    )
    .await;
    let mut revocations = client.revocations();

    // Subscribe (subscription 5).
    let subscribing = client.subscribe("com.suite.topic").into_future();
    let answer = async {
        let Message::Subscribe(sub) = router.recv(&*rt, "SUBSCRIBE").await else {
            panic!("expected SUBSCRIBE")
        };
        router
            .send(
                &*rt,
                Subscribed {
                    request: sub.request,
                    subscription: id(5),
                },
            )
            .await;
    };
    let (events, ()) = within(
        &*rt,
        "subscribe",
        futures::future::join(subscribing, answer),
    )
    .await;
    let mut events = events.unwrap();

    // Register a streaming procedure (6) and a stuck one (7).
    async fn registered(rt: &dyn Runtime, router: &mut Scripted, registration: u64) {
        let Message::Register(reg) = router.recv(rt, "REGISTER").await else {
            panic!("expected REGISTER")
        };
        let registration = RegistrationId::new(registration).unwrap();
        router
            .send(
                rt,
                Registered {
                    request: reg.request,
                    registration,
                },
            )
            .await;
    }
    let registering = client
        .register(
            "com.suite.first_only",
            |inv: Invocation, _rest: InvocationStream| async move {
                Ok(Payload::new(inv.args, Default::default()))
            },
        )
        .into_future();
    let (streaming, ()) = within(
        &*rt,
        "register streaming",
        futures::future::join(registering, registered(&*rt, &mut router, 6)),
    )
    .await;
    let streaming = streaming.unwrap();
    let (stopped_tx, stopped) = futures::channel::oneshot::channel::<()>();
    let stopped_tx = std::sync::Mutex::new(Some(stopped_tx));
    let rt2 = rt.clone();
    let registering = client
        .register("com.suite.stuck", move |_inv: Invocation| {
            let guard = DropSignal(stopped_tx.lock().unwrap().take());
            let rt = rt2.clone();
            async move {
                let _guard = guard;
                rt.sleep(Duration::from_secs(3600)).await;
                Ok(Payload::default())
            }
        })
        .into_future();
    let (stuck, ()) = within(
        &*rt,
        "register stuck",
        futures::future::join(registering, registered(&*rt, &mut router, 7)),
    )
    .await;
    stuck.unwrap().detach();

    // The router revokes the subscription: its stream ends, and the client is told.
    router
        .send(
            &*rt,
            Unsubscribed {
                request: None,
                details: UnsubscribedDetails {
                    subscription: Some(id(5)),
                    reason: Some("topic closed".into()),
                    ..Default::default()
                },
            },
        )
        .await;
    assert_eq!(
        within(&*rt, "subscription revoked", revocations.next()).await,
        Some(Revoked::Subscription {
            id: id(5),
            reason: Some("topic closed".into())
        })
    );
    // The stream says why it ends, then ends.
    match within(&*rt, "events end", events.next()).await {
        Some(Err(nexus_driver::SubscriptionError::Ended(Error::Revoked { reason }))) => {
            assert_eq!(reason.as_deref(), Some("topic closed"))
        }
        other => panic!("expected the revocation, got {other:?}"),
    }
    assert!(within(&*rt, "events end", events.next()).await.is_none());

    // A forwarded timeout: the client answers wamp.error.timeout by itself.
    let mut stuck = InvocationMessage::new(id(1), id(7));
    stuck.details.timeout = Some(100);
    router.send(&*rt, stuck).await;
    match router.recv(&*rt, "timeout ERROR").await {
        Message::Error(e) => {
            assert_eq!(e.request, id(1));
            assert_eq!(e.error.as_str(), uri::error::TIMEOUT);
        }
        other => panic!("expected ERROR wamp.error.timeout, got {other:?}"),
    }
    within(&*rt, "stuck handler stopped", stopped)
        .await
        .unwrap();

    // A progressive invocation answered after its first chunk; its late continuations are
    // discarded, and the next invocation is answered as usual.
    let mut first = InvocationMessage::new(id(2), id(6)).with_args(args!["first"]);
    first.details.progress = Some(true);
    router.send(&*rt, first).await;
    match router.recv(&*rt, "early YIELD").await {
        Message::Yield(y) => {
            assert_eq!(y.request, id(2));
            assert_eq!(y.payload.args(), args!["first"]);
        }
        other => panic!("expected YIELD, got {other:?}"),
    }
    let mut late = InvocationMessage::new(id(2), id(6)).with_args(args!["late"]);
    late.details.progress = Some(true);
    router.send(&*rt, late).await;
    router
        .send(
            &*rt,
            InvocationMessage::new(id(2), id(6)).with_args(args!["last"]),
        )
        .await;
    router
        .send(
            &*rt,
            InvocationMessage::new(id(3), id(6)).with_args(args!["next"]),
        )
        .await;
    match router.recv(&*rt, "next YIELD").await {
        Message::Yield(y) => {
            assert_eq!(y.request, id(3));
            assert_eq!(y.payload.args(), args!["next"]);
        }
        other => panic!("expected YIELD for the next invocation, got {other:?}"),
    }

    // The router revokes a registration.
    let streaming_id = streaming.id().unwrap();
    router
        .send(
            &*rt,
            Unregistered {
                request: None,
                details: UnregisteredDetails {
                    registration: Some(id(6)),
                    reason: Some("maintenance".into()),
                    ..Default::default()
                },
            },
        )
        .await;
    assert_eq!(
        within(&*rt, "registration revoked", revocations.next()).await,
        Some(Revoked::Registration {
            id: streaming_id,
            reason: Some("maintenance".into())
        })
    );

    // Leave.
    let closing = client.close();
    let answer = async {
        assert!(matches!(
            router.recv(&*rt, "GOODBYE").await,
            Message::Goodbye(_)
        ));
        router
            .send(
                &*rt,
                nexus_driver::nexus_core::message::Goodbye::new(uri::close::GOODBYE_AND_OUT),
            )
            .await;
    };
    let (closed, ()) = within(&*rt, "close", futures::future::join(closing, answer)).await;
    closed.unwrap();
    assert_eq!(
        within(&*rt, "revocations end", revocations.next()).await,
        None
    );
}

/// The whole suite. Each part is boxed: the futures are large, and some executors poll the
/// root future on a test thread's small stack.
/// The advanced publish/subscribe features and the meta APIs through the client API, over
/// WebSocket: black- and whitelisting, publisher identification, trust levels, pattern and
/// sharded subscriptions, retention, history, the subscription and session meta APIs,
/// subscription revocation and testaments.
pub async fn advanced_pubsub(rt: Arc<dyn Runtime>) {
    use nexus_driver::nexus_core::message::SubscribeOptions;
    use nexus_driver::nexus_core::router::{HistoryRule, RealmConfig};
    use nexus_driver::nexus_core::{MatchPolicy, Uri};
    use nexus_driver::Revoked;

    let mut realm = RealmConfig::new(Uri::parse("realm1").unwrap());
    realm.history.push(HistoryRule {
        uri: Uri::parse("com.suite.history").unwrap(),
        policy: MatchPolicy::Prefix,
        limit: 10,
    });
    let router = RouterBuilder::new().realm_config(realm).start(rt.clone());
    let url = within(&*rt, "listen", router.listen("ws://127.0.0.1:0/ws", None))
        .await
        .unwrap();
    let join = |what: &'static str| {
        let rt = rt.clone();
        let url = url.clone();
        async move {
            within(
                &*rt,
                what,
                Client::connect(rt.clone(), &url, ClientConfig::new("realm1")),
            )
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"))
        }
    };
    let publisher = join("publisher").await;
    let a = join("a").await;
    let b = join("b").await;
    let topic = "com.suite.lists";
    let mut sa = within(&*rt, "subscribe a", a.subscribe(topic))
        .await
        .unwrap();
    let mut sb = within(&*rt, "subscribe b", b.subscribe(topic))
        .await
        .unwrap();
    let ack = |options: PublishOptions| PublishOptions {
        acknowledge: Some(true),
        ..options
    };
    // Only b is eligible; then a marker for everyone: a's next event is the marker.
    let only_b = PublishOptions {
        eligible: Some(vec![b.session_id()]),
        disclose_me: Some(true),
        ..Default::default()
    };
    within(
        &*rt,
        "publish",
        publisher
            .publish(topic)
            .options(ack(only_b))
            .payload(one("for b")),
    )
    .await
    .unwrap();
    within(
        &*rt,
        "marker",
        publisher
            .publish(topic)
            .options(ack(Default::default()))
            .payload(one("all")),
    )
    .await
    .unwrap();
    let ea = next_event(&*rt, "a's event", &mut sa).await;
    assert_eq!(ea.args, args!["all"], "a was not eligible");
    let eb = next_event(&*rt, "b's event", &mut sb).await;
    assert_eq!(eb.args, args!["for b"]);
    assert_eq!(eb.details.publisher, Some(publisher.session_id()));
    assert_eq!(eb.details.publisher_authrole.as_deref(), Some("anonymous"));
    assert_eq!(eb.details.trustlevel, Some(0));
    assert_eq!(
        next_event(&*rt, "marker b", &mut sb).await.args,
        args!["all"]
    );
    // Excluding by authrole excludes everyone here.
    let nobody = PublishOptions {
        exclude_authrole: Some(vec!["anonymous".into()]),
        ..Default::default()
    };
    within(
        &*rt,
        "publish",
        publisher
            .publish(topic)
            .options(ack(nobody))
            .payload(one("nobody")),
    )
    .await
    .unwrap();
    within(
        &*rt,
        "marker",
        publisher
            .publish(topic)
            .options(ack(Default::default()))
            .payload(one("m2")),
    )
    .await
    .unwrap();
    assert_eq!(next_event(&*rt, "a", &mut sa).await.args, args!["m2"]);
    assert_eq!(next_event(&*rt, "b", &mut sb).await.args, args!["m2"]);

    // A prefix subscription sees the concrete topic.
    let prefix = SubscribeOptions {
        match_policy: Some(MatchPolicy::Prefix),
        ..Default::default()
    };
    let mut sp = within(
        &*rt,
        "prefix",
        a.subscribe("com.suite.pattern").options(prefix),
    )
    .await
    .unwrap();
    within(
        &*rt,
        "publish",
        publisher
            .publish("com.suite.pattern.x")
            .options(ack(Default::default()))
            .payload(one(1)),
    )
    .await
    .unwrap();
    let e = next_event(&*rt, "pattern event", &mut sp).await;
    assert_eq!(
        e.details.topic.as_ref().map(|t| t.as_str()),
        Some("com.suite.pattern.x")
    );

    // Retention: a later subscriber asking for it gets the last retained event.
    let retain = PublishOptions {
        retain: Some(true),
        ..Default::default()
    };
    for v in ["old", "new"] {
        within(
            &*rt,
            "retain",
            publisher
                .publish("com.suite.retained")
                .options(ack(retain.clone()))
                .payload(one(v)),
        )
        .await
        .unwrap();
    }
    let get_retained = SubscribeOptions {
        get_retained: Some(true),
        ..Default::default()
    };
    let mut sr = within(
        &*rt,
        "get_retained",
        b.subscribe("com.suite.retained").options(get_retained),
    )
    .await
    .unwrap();
    let e = next_event(&*rt, "retained event", &mut sr).await;
    assert_eq!(e.args, args!["new"]);
    assert_eq!(e.details.retained, Some(true));

    // History through the meta API.
    let sh = within(&*rt, "history sub", a.subscribe("com.suite.history.t"))
        .await
        .unwrap();
    let mut publications = Vec::new();
    for i in 0..3 {
        let p = within(
            &*rt,
            "publish history",
            publisher
                .publish("com.suite.history.t")
                .args(args![i])
                .acknowledged(),
        )
        .await
        .unwrap();
        publications.push(Value::from(p));
    }
    let r = within(
        &*rt,
        "get_events",
        b.call("wamp.subscription.get_events")
            .args(args![sh.id().unwrap().get()])
            .kwargs(kwargs! { "reverse" => true, "limit" => 2 }),
    )
    .await
    .unwrap();
    let got: Vec<Value> = r.args[0]
        .as_list()
        .unwrap()
        .iter()
        .map(|e| e["publication"].clone())
        .collect();
    assert_eq!(got, vec![publications[2].clone(), publications[1].clone()]);

    // Subscription meta API, then revocation reaches the subscriber.
    let r = within(
        &*rt,
        "count_subscribers",
        publisher
            .call("wamp.subscription.count_subscribers")
            .args(args![sa.id().unwrap().get()]),
    )
    .await
    .unwrap();
    assert_eq!(r.args, args![2]);
    let mut revocations = a.revocations();
    let sa_id = sa.id().unwrap();
    within(
        &*rt,
        "remove_subscriber",
        publisher
            .call("wamp.subscription.remove_subscriber")
            .args(args![sa.id().unwrap().get(), a.session_id().get()])
            .kwargs(kwargs! { "reason" => "com.suite.enough" }),
    )
    .await
    .unwrap();
    assert_eq!(
        within(&*rt, "revocation", revocations.next()).await,
        Some(Revoked::Subscription {
            id: sa_id,
            reason: Some("com.suite.enough".into())
        })
    );
    assert!(matches!(
        within(&*rt, "revoked stream ends", sa.next()).await,
        Some(Err(nexus_driver::SubscriptionError::Ended(
            Error::Revoked { .. }
        )))
    ));
    assert!(within(&*rt, "revoked stream ends", sa.next())
        .await
        .is_none());

    // Session meta API and testaments: b watches a leave, after a testament.
    let mut joins = within(&*rt, "on_join", b.subscribe("wamp.session.on_join"))
        .await
        .unwrap();
    let mut wills = within(&*rt, "testament topic", b.subscribe("com.suite.will"))
        .await
        .unwrap();
    let c = join("c").await;
    let joined = next_event(&*rt, "on_join event", &mut joins).await;
    assert_eq!(joined.args[0]["session"], Value::from(c.session_id()));
    let r = within(&*rt, "session.count", b.call("wamp.session.count"))
        .await
        .unwrap();
    assert_eq!(r.args, args![4]);
    within(
        &*rt,
        "add_testament",
        c.call("wamp.session.add_testament").args(args![
            "com.suite.will",
            args!["bye"],
            kwargs! {}
        ]),
    )
    .await
    .unwrap();
    within(
        &*rt,
        "kill",
        b.call("wamp.session.kill")
            .args(args![c.session_id().get()])
            .kwargs(kwargs! { "message" => "out" }),
    )
    .await
    .unwrap();
    within(&*rt, "killed session ends", c.closed()).await;
    let will = next_event(&*rt, "testament", &mut wills).await;
    assert_eq!(will.args, args!["bye"]);
    for client in [publisher, a, b] {
        within(&*rt, "close", client.close()).await.unwrap();
    }
}

/// Pattern-based and shared registrations, call re-routing and the registration meta API
/// through the client API.
pub async fn registrations(rt: Arc<dyn Runtime>, router: &RouterHandle) {
    use nexus_driver::nexus_core::message::{InvokePolicy, RegisterOptions};
    use nexus_driver::nexus_core::MatchPolicy;

    let a = local(&*rt, router, "a").await;
    let b = local(&*rt, router, "b").await;
    let caller = local(&*rt, router, "caller").await;
    let mut created = within(
        &*rt,
        "on_create",
        caller.subscribe("wamp.registration.on_create"),
    )
    .await
    .unwrap();
    // A prefix and a wildcard registration: the handler sees the concrete procedure.
    let echo_procedure = |inv: Invocation| async move {
        Ok(one(inv
            .details
            .procedure
            .map(|p| p.to_string())
            .unwrap_or_default()))
    };
    let prefix = RegisterOptions {
        match_policy: Some(MatchPolicy::Prefix),
        ..Default::default()
    };
    let wildcard = RegisterOptions {
        match_policy: Some(MatchPolicy::Wildcard),
        ..Default::default()
    };
    let p = within(
        &*rt,
        "prefix",
        a.register("com.suite.reg", echo_procedure).options(prefix),
    )
    .await
    .unwrap();
    let w = within(
        &*rt,
        "wildcard",
        a.register("com.suite..w", echo_procedure).options(wildcard),
    )
    .await
    .unwrap();
    let e = next_event(&*rt, "on_create event", &mut created).await;
    assert_eq!(e.args[1]["id"], Value::from(p.id()));
    assert_eq!(e.args[1]["match"], Value::from("prefix"));
    for (procedure, expected) in [
        ("com.suite.reg.x", "com.suite.reg.x"),
        ("com.suite.q.w", "com.suite.q.w"),
    ] {
        let r = within(&*rt, "pattern call", caller.call(procedure))
            .await
            .unwrap();
        assert_eq!(r.args, args![expected]);
    }
    let r = within(
        &*rt,
        "registration.match",
        caller
            .call("wamp.registration.match")
            .args(args!["com.suite.q.w"]),
    )
    .await
    .unwrap();
    assert_eq!(r.args, vec![Value::from(w.id())]);

    // A shared registration: roundrobin alternates; a callee answering
    // wamp.error.unavailable has the call re-routed to the other.
    let shared = RegisterOptions {
        invoke: Some(InvokePolicy::RoundRobin),
        ..Default::default()
    };
    let busy = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut regs = Vec::new();
    for (c, name) in [(&a, "a"), (&b, "b")] {
        let busy = busy.clone();
        let reg = within(
            &*rt,
            "register shared",
            c.register("com.suite.shared", move |_inv: Invocation| {
                let busy = busy.load(Ordering::SeqCst) && name == "a";
                async move {
                    if busy {
                        return Err(WampError::new("wamp.error.unavailable"));
                    }
                    Ok(one(name))
                }
            })
            .options(shared.clone()),
        )
        .await
        .unwrap();
        regs.push(reg);
    }
    assert_eq!(regs[0].id(), regs[1].id(), "one registration, two callees");
    let mut seen = Vec::new();
    for _ in 0..4 {
        let r = within(&*rt, "shared call", caller.call("com.suite.shared"))
            .await
            .unwrap();
        seen.push(r.args[0].as_str().unwrap().to_owned());
    }
    assert_eq!(seen, ["a", "b", "a", "b"]);
    busy.store(true, Ordering::SeqCst);
    for _ in 0..2 {
        let r = within(&*rt, "re-routed call", caller.call("com.suite.shared"))
            .await
            .unwrap();
        assert_eq!(r.args, args!["b"], "a is unavailable: b answers");
    }
    let r = within(
        &*rt,
        "count_callees",
        caller
            .call("wamp.registration.count_callees")
            .args(args![regs[0].id().unwrap().get()]),
    )
    .await
    .unwrap();
    assert_eq!(r.args, args![2]);
    let r = within(
        &*rt,
        "registration.get",
        caller
            .call("wamp.registration.get")
            .args(args![regs[0].id().unwrap().get()]),
    )
    .await
    .unwrap();
    assert_eq!(r.args[0]["invoke"], Value::from("roundrobin"));
    for c in [a, b, caller] {
        within(&*rt, "close", c.close()).await.unwrap();
    }
}

/// The stack the suite runs on: unoptimized builds keep the temporaries of every future a
/// test function awaits in its poll frame, and the longest need more than 2 MiB.
pub const STACK_SIZE: usize = 32 << 20;

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
    Box::pin(typed::typed_round_trips(rt.clone(), &urls[0], &client_tls)).await;
    Box::pin(typed::typed_round_trips(rt.clone(), &urls[1], &client_tls)).await;
    Box::pin(typed::slow_subscriber_is_told(rt.clone(), &router)).await;
    Box::pin(typed::slow_reader_of_progressive_results(
        rt.clone(),
        &router,
    ))
    .await;
    Box::pin(local_client_and_cancel(rt.clone(), &router)).await;
    Box::pin(caller_identification(rt.clone(), &router)).await;
    Box::pin(call_timeout(rt.clone(), &router)).await;
    Box::pin(progressive_results(rt.clone(), &router)).await;
    Box::pin(progressive_invocations(rt.clone(), &router)).await;
    Box::pin(registration_revocation(rt.clone(), &router)).await;
    Box::pin(callee_timeout(rt.clone(), &router)).await;
    Box::pin(advanced_options(rt.clone(), &router)).await;
    Box::pin(registrations(rt.clone(), &router)).await;
    Box::pin(scripted_router(rt.clone())).await;
    Box::pin(advanced_pubsub(rt.clone())).await;
    Box::pin(payload_limits(rt.clone())).await;
    Box::pin(auth::cookie_round_trip(rt.clone())).await;
    Box::pin(auth::client_cookie_jar(rt.clone())).await;
    Box::pin(auth::tls_client_certificates(rt.clone())).await;
    Box::pin(realms::realms_on_tasks_of_their_own(rt.clone())).await;
    Box::pin(realms::unknown_realms_are_refused(rt.clone())).await;
    Box::pin(reconnect::survives_router_restart(
        rt.clone(),
        "tcp://127.0.0.1:0",
    ))
    .await;
    Box::pin(reconnect::survives_router_restart(
        rt.clone(),
        "ws://127.0.0.1:0/ws",
    ))
    .await;
    Box::pin(reconnect::refused_join_stops_retries(rt.clone())).await;
    Box::pin(reconnect::requests_wait_for_the_connection(rt.clone())).await;
    Box::pin(auth::reconnect_authenticates_again(rt.clone())).await;
    Box::pin(shutdown_reaches_clients(rt.clone(), router, &urls[0])).await;
}
