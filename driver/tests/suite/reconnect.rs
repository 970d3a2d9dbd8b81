//! A client that survives the router: the router stops mid-run and starts again on the same
//! address; the client reconnects, registers and subscribes again, its handles carry on, and
//! what was in flight ends with `ConnectionLost`. And a refused join stops the retries.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use nexus_driver::nexus_core::{args, Payload};
use nexus_driver::{
    Client, ClientConfig, ClientState, Error, Invocation, Missed, ReconnectPolicy, RouterBuilder,
    RouterHandle, Runtime, SubscriptionError,
};

use super::{next_event, within};

/// Quick retries, so the test sees the client back soon after the router.
fn policy() -> ReconnectPolicy {
    ReconnectPolicy::new()
        .initial_delay(Duration::from_millis(20))
        .max_delay(Duration::from_millis(200))
}

async fn start_router(rt: &Arc<dyn Runtime>, url: &str) -> (RouterHandle, String) {
    let router = RouterBuilder::new().realm("realm1").start(rt.clone());
    let bound = within(&**rt, "listen", router.listen(url, None))
        .await
        .unwrap_or_else(|e| panic!("listen on {url}: {e}"));
    (router, bound)
}

/// Waits for the first state that `want` accepts; panics on `Stopped`.
async fn until_state(
    rt: &dyn Runtime,
    what: &str,
    states: &mut (impl Stream<Item = ClientState> + Unpin),
    want: impl Fn(&ClientState) -> bool,
) -> ClientState {
    within(rt, what, async {
        loop {
            match states.next().await {
                Some(state) if want(&state) => return state,
                Some(ClientState::Stopped { reason }) => panic!("{what}: stopped: {reason}"),
                Some(_) => {}
                None => panic!("{what}: the state stream ended"),
            }
        }
    })
    .await
}

/// Waits until the client is joined (with everything restored), as its current state says:
/// the stream may still hold an older join.
pub(super) async fn until_joined(
    rt: &dyn Runtime,
    what: &str,
    client: &Client,
    states: &mut (impl Stream<Item = ClientState> + Unpin),
) {
    within(rt, what, async {
        loop {
            match client.current_state() {
                ClientState::Joined { .. } => return,
                ClientState::Stopped { reason } => panic!("{what}: stopped: {reason}"),
                _ => {}
            }
            if states.next().await.is_none() {
                panic!("{what}: the state stream ended");
            }
        }
    })
    .await
}

/// Stop the router, start another on the same address, and check everything came back.
pub async fn survives_router_restart(rt: Arc<dyn Runtime>, url: &str) {
    let (router, url) = start_router(&rt, url).await;
    let config = ClientConfig::new("realm1").reconnect(policy());
    let client = within(&*rt, "connect", Client::connect(rt.clone(), &url, config))
        .await
        .unwrap();
    let mut states = client.state();
    let first_session = client.session_id();
    // What the application holds: a registration and a subscription.
    let echo = within(
        &*rt,
        "register",
        client.register("com.suite.restart.echo", |inv: Invocation| async move {
            Ok(Payload::new(inv.args, Default::default()))
        }),
    )
    .await
    .unwrap();
    let mut news = within(
        &*rt,
        "subscribe",
        client.subscribe("com.suite.restart.news"),
    )
    .await
    .unwrap();
    // A call in flight when the router goes: its callee never answers.
    let helper = within(
        &*rt,
        "helper",
        Client::connect(rt.clone(), &url, ClientConfig::new("realm1")),
    )
    .await
    .unwrap();
    let (invoked, mut invocations) = futures::channel::mpsc::unbounded();
    let _stuck = within(
        &*rt,
        "register stuck",
        helper.register("com.suite.restart.stuck", move |_inv: Invocation| {
            let _ = invoked.unbounded_send(());
            futures::future::pending::<Result<(), nexus_driver::WampError>>()
        }),
    )
    .await
    .unwrap();
    let (outcome, in_flight) = futures::channel::oneshot::channel();
    let caller = client.clone();
    rt.spawn(Box::pin(async move {
        let r = caller.call("com.suite.restart.stuck").await;
        let _ = outcome.send(r);
    }));
    within(&*rt, "the call reaches the callee", invocations.next()).await;

    // The router goes away.
    within(&*rt, "shutdown", router.shutdown()).await;
    match within(&*rt, "the call in flight ends", in_flight).await {
        Ok(Err(Error::ConnectionLost { .. })) => {}
        other => panic!("expected ConnectionLost for the call in flight, got {other:?}"),
    }
    until_state(&*rt, "disconnected", &mut states, |s| {
        matches!(s, ClientState::Disconnected { .. })
    })
    .await;
    match within(&*rt, "the gap", news.next()).await {
        Some(Err(SubscriptionError::Missed(Missed::Disconnected))) => {}
        other => panic!("expected the gap in the stream, got {other:?}"),
    }
    assert!(echo.id().is_none(), "no session holds the registration now");
    // Requests while disconnected fail at once (ClientConfig::wait_for_connection is zero).
    match within(
        &*rt,
        "publish while disconnected",
        client.publish("com.suite.restart.news").args(args!["lost"]),
    )
    .await
    {
        Err(Error::NotConnected { .. }) => {}
        other => panic!("expected NotConnected, got {other:?}"),
    }
    until_state(&*rt, "retrying", &mut states, |s| {
        matches!(s, ClientState::Retrying { .. })
    })
    .await;

    // A new router on the same address: the client is back, with everything it held, within
    // a second.
    let (router, again) = start_router(&rt, &url).await;
    assert_eq!(again, url);
    let back = Instant::now();
    let joined = until_state(&*rt, "joined again", &mut states, |s| {
        matches!(s, ClientState::Joined { .. })
    })
    .await;
    let restored_after = back.elapsed();
    assert!(
        restored_after < Duration::from_secs(1),
        "restored {restored_after:?} after the router's return"
    );
    let ClientState::Joined { session, .. } = joined else {
        unreachable!()
    };
    assert_eq!(client.session_id(), session);
    assert_ne!(session, first_session, "a new session");
    assert!(echo.id().is_some(), "registered again");
    assert!(news.id().is_some(), "subscribed again");

    let other = within(
        &*rt,
        "another client",
        Client::connect(rt.clone(), &url, ClientConfig::new("realm1")),
    )
    .await
    .unwrap();
    let r = within(
        &*rt,
        "call the restored registration",
        other.call("com.suite.restart.echo").args(args!["again"]),
    )
    .await
    .unwrap();
    assert_eq!(r.args, args!["again"]);
    within(
        &*rt,
        "publish",
        other
            .publish("com.suite.restart.news")
            .args(args!["after"])
            .acknowledged(),
    )
    .await
    .unwrap();
    let event = next_event(&*rt, "the event after the restart", &mut news).await;
    assert_eq!(event.args, args!["after"]);
    // The client's own calls work again too.
    let r = within(
        &*rt,
        "call from the reconnected client",
        client.call("com.suite.restart.echo").args(args![1]),
    )
    .await
    .unwrap();
    assert_eq!(r.args, args![1]);

    // Dropping the handles unsubscribes and unregisters at once.
    drop(news);
    drop(echo);
    let gone = within(&*rt, "unregistered", async {
        loop {
            match other.call("com.suite.restart.echo").await {
                Err(Error::Wamp(e)) if e.error.as_str() == "wamp.error.no_such_procedure" => break,
                // The router sent one more invocation before it handled the UNREGISTER;
                // the client refuses it.
                Err(Error::Wamp(e)) if e.error.as_str() == "wamp.error.no_such_registration" => {
                    continue
                }
                Ok(_) => continue,
                Err(e) => panic!("{e}"),
            }
        }
    });
    gone.await;

    within(&*rt, "close", client.close()).await.unwrap();
    until_state(&*rt, "stopped", &mut states, |s| {
        matches!(s, ClientState::Stopped { .. })
    })
    .await;
    assert!(within(&*rt, "states end", states.next()).await.is_none());
    within(&*rt, "close other", other.close()).await.unwrap();
    within(&*rt, "shutdown", router.shutdown()).await;
}

/// A join the router refuses is not retried: the error comes back at once.
pub async fn refused_join_stops_retries(rt: Arc<dyn Runtime>) {
    let (router, url) = start_router(&rt, "tcp://127.0.0.1:0").await;
    let started = Instant::now();
    let config = ClientConfig::new("realm.nowhere").reconnect(policy());
    match within(&*rt, "connect", Client::connect(rt.clone(), &url, config)).await {
        Err(Error::Aborted { reason, .. }) => {
            assert_eq!(reason.as_str(), "wamp.error.no_such_realm")
        }
        other => panic!(
            "expected the ABORT, got {:?}",
            other.map(|c| c.session_id())
        ),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    // With an attempt limit, a router that never answers ends the attempts with the last
    // error.
    within(&*rt, "shutdown", router.shutdown()).await;
    let config = ClientConfig::new("realm1").reconnect(policy().max_attempts(3));
    match within(&*rt, "connect", Client::connect(rt.clone(), &url, config)).await {
        Err(Error::Connect { .. }) => {}
        other => panic!(
            "expected the connect error, got {:?}",
            other.map(|c| c.session_id())
        ),
    }
}

/// Requests made while disconnected wait for the next session up to
/// `ClientConfig::wait_for_connection`, then fail with `NotConnected`.
pub async fn requests_wait_for_the_connection(rt: Arc<dyn Runtime>) {
    let (router, url) = start_router(&rt, "tcp://127.0.0.1:0").await;
    let connect = |wait: Duration| {
        let config = ClientConfig::new("realm1")
            .reconnect(policy())
            .wait_for_connection(wait);
        Client::connect(rt.clone(), &url, config)
    };
    let patient = within(&*rt, "connect", connect(Duration::from_secs(10)))
        .await
        .unwrap();
    let hasty = within(&*rt, "connect", connect(Duration::from_millis(100)))
        .await
        .unwrap();
    let _double = within(
        &*rt,
        "register",
        patient.register("com.suite.wait.double", |inv: Invocation| async move {
            Ok(2 * inv.arg::<i64>(0)?)
        }),
    )
    .await
    .unwrap();
    let mut states = patient.state();
    within(&*rt, "shutdown", router.shutdown()).await;
    until_state(&*rt, "disconnected", &mut states, |s| {
        matches!(s, ClientState::Disconnected { .. })
    })
    .await;

    // The hasty client gives up after its 100 ms.
    let started = Instant::now();
    match within(
        &*rt,
        "hasty publish",
        hasty.publish("com.suite.wait.news").arg(1).acknowledged(),
    )
    .await
    {
        Err(Error::NotConnected { waited }) => {
            assert_eq!(waited, Duration::from_millis(100));
            assert!(started.elapsed() >= Duration::from_millis(100));
        }
        other => panic!("expected NotConnected, got {other:?}"),
    }
    // The patient one's requests wait for the router's return: a call to its own
    // registration (restored first) and an acknowledged publication.
    let (call_done, call) = futures::channel::oneshot::channel();
    let caller = patient.clone();
    rt.spawn(Box::pin(async move {
        let r = caller.call("com.suite.wait.double").arg(21).await;
        let _ = call_done.send(r);
    }));
    let (publish_done, published) = futures::channel::oneshot::channel();
    let publisher = patient.clone();
    rt.spawn(Box::pin(async move {
        let r = publisher
            .publish("com.suite.wait.news")
            .arg(2)
            .acknowledged()
            .await;
        let _ = publish_done.send(r);
    }));
    let (router, again) = start_router(&rt, &url).await;
    assert_eq!(again, url);
    let doubled: i64 = within(&*rt, "the waiting call", call)
        .await
        .unwrap()
        .unwrap()
        .arg(0)
        .unwrap();
    assert_eq!(doubled, 42);
    within(&*rt, "the waiting publication", published)
        .await
        .unwrap()
        .unwrap();
    within(&*rt, "close", patient.close()).await.unwrap();
    within(&*rt, "close", hasty.close()).await.unwrap();
    within(&*rt, "shutdown", router.shutdown()).await;
}
