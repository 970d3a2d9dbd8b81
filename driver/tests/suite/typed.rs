//! The typed API end to end: user structs, tuples, enums and `Option` as arguments, results
//! and events through every serializer; the error text of a mismatch, on both sides; and a
//! subscriber that falls behind its bounded queue is told how many events it missed.

use std::sync::Arc;

use futures::StreamExt;
use nexus_driver::nexus_core::{Serializer, Value};
use nexus_driver::{
    Client, ClientConfig, Error, Invocation, Missed, RouterHandle, Runtime, SubscriptionError,
};
use serde::{Deserialize, Serialize};

use super::{config, next_event, within};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Reading {
    sensor: String,
    celsius: f64,
    tags: Vec<String>,
    note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Command {
    Stop,
    Move { x: i32, y: i32 },
    Say(String),
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Summary {
    count: usize,
    warmest: Option<Reading>,
    command: Command,
}

fn reading(sensor: &str, celsius: f64) -> Reading {
    Reading {
        sensor: sensor.into(),
        celsius,
        tags: vec!["roof".into(), "north".into()],
        note: None,
    }
}

/// Typed calls and events between two clients on `url` with each serializer.
pub async fn typed_round_trips(rt: Arc<dyn Runtime>, url: &str, tls: &Arc<rustls::ClientConfig>) {
    for serializer in Serializer::ALL {
        let what = format!("{url} {serializer}");
        let connect = || Client::connect(rt.clone(), url, config(serializer, tls));
        let callee = within(&*rt, &what, connect()).await.unwrap();
        let caller = within(&*rt, &what, connect()).await.unwrap();
        let procedure = format!("com.suite.typed.{}", callee.session_id());
        // (readings, a limit that may be absent, a command) -> a summary struct.
        let _summarize = within(
            &*rt,
            &what,
            callee.register(&procedure, |inv: Invocation| async move {
                let (readings, limit, command): (Vec<Reading>, Option<usize>, Command) =
                    inv.args()?;
                let readings = &readings[..limit.unwrap_or(readings.len()).min(readings.len())];
                let warmest = readings
                    .iter()
                    .max_by(|a, b| a.celsius.total_cmp(&b.celsius))
                    .cloned();
                Ok(Summary {
                    count: readings.len(),
                    warmest,
                    command,
                })
            }),
        )
        .await
        .unwrap();
        let readings = vec![reading("a", 20.5), reading("b", -3.0), reading("c", 31.25)];
        for (limit, command, count, warmest) in [
            (None, Command::Stop, 3, "c"),
            (Some(2), Command::Move { x: -1, y: 7 }, 2, "a"),
            (Some(1), Command::Say("hé ✓".into()), 1, "a"),
        ] {
            let result = within(
                &*rt,
                &what,
                caller
                    .call(&procedure)
                    .arg(&readings)
                    .arg(limit)
                    .arg(&command),
            )
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
            let summary: Summary = result.decode().unwrap();
            assert_eq!(summary.count, count, "{what}");
            assert_eq!(summary.warmest.unwrap().sensor, warmest, "{what}");
            assert_eq!(summary.command, command, "{what}");
            // The same result read as a tuple-less struct through `arg`.
            let again: Summary = result.arg(0).unwrap();
            assert_eq!(again.command, command);
        }
        // A mismatch in the callee is answered with what was wrong and where.
        match within(
            &*rt,
            &what,
            caller
                .call(&procedure)
                .arg(vec![reading("a", 1.0)])
                .arg("three")
                .arg(Command::Stop),
        )
        .await
        {
            Err(Error::Wamp(e)) => {
                assert_eq!(e.error.as_str(), "wamp.error.invalid_argument", "{what}");
                assert_eq!(
                    e.args,
                    vec![Value::from(
                        "argument 1: invalid type: string \"three\", expected usize"
                    )],
                    "{what}"
                );
            }
            other => panic!("{what}: expected invalid_argument, got {other:?}"),
        }
        // And in the caller, reading a result as the wrong type.
        let result = within(
            &*rt,
            &what,
            caller
                .call(&procedure)
                .args((vec![reading("z", 5.0)], 1, Command::Stop)),
        )
        .await
        .unwrap();
        let err = result.decode::<Vec<i64>>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "argument 0: invalid type: map, expected a sequence",
            "{what}"
        );
        assert!(
            result.arg::<Option<Summary>>(1).unwrap().is_none(),
            "{what}"
        );

        // Events: a struct as the one argument, keyword arguments as a struct.
        let mut readings_sub = within(
            &*rt,
            &what,
            callee.subscribe(format!("{procedure}.readings")),
        )
        .await
        .unwrap();
        within(
            &*rt,
            &what,
            caller
                .publish(format!("{procedure}.readings"))
                .arg(reading("d", 12.0))
                .acknowledged(),
        )
        .await
        .unwrap();
        within(
            &*rt,
            &what,
            caller
                .publish(format!("{procedure}.readings"))
                .kwargs(reading("e", 13.0))
                .acknowledged(),
        )
        .await
        .unwrap();
        let first = next_event(&*rt, &what, &mut readings_sub).await;
        assert_eq!(first.decode::<Reading>().unwrap(), reading("d", 12.0));
        let second = next_event(&*rt, &what, &mut readings_sub).await;
        assert_eq!(second.decode::<Reading>().unwrap(), reading("e", 13.0));
        assert_eq!(second.kwargs::<Reading>().unwrap().celsius, 13.0);
        within(&*rt, &what, caller.close()).await.unwrap();
        within(&*rt, &what, callee.close()).await.unwrap();
    }
}

/// A subscriber that does not read while more events arrive than its queue holds: the
/// stream says how many were dropped, where, and goes on.
pub async fn slow_subscriber_is_told(rt: Arc<dyn Runtime>, router: &RouterHandle) {
    let slow = within(
        &*rt,
        "connect",
        Client::connect_local(router, ClientConfig::new("realm1").event_buffer(4)),
    )
    .await
    .unwrap();
    let publisher = within(
        &*rt,
        "connect",
        Client::connect_local(router, ClientConfig::new("realm1")),
    )
    .await
    .unwrap();
    let mut events = within(&*rt, "subscribe", slow.subscribe("com.suite.flood"))
        .await
        .unwrap();
    for n in 0..10 {
        within(
            &*rt,
            "publish",
            publisher.publish("com.suite.flood").arg(n).acknowledged(),
        )
        .await
        .unwrap();
    }
    // A marker after the flood: once it is here, every event before it has been handled.
    let (marker_tx, mut marker) = futures::channel::mpsc::unbounded();
    let _marker = within(
        &*rt,
        "register marker",
        slow.register("com.suite.flood.marker", move |_inv: Invocation| {
            let _ = marker_tx.unbounded_send(());
            async { Ok(()) }
        }),
    )
    .await
    .unwrap();
    within(&*rt, "marker", publisher.call("com.suite.flood.marker"))
        .await
        .unwrap();
    within(&*rt, "marker seen", marker.next()).await;
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(
            next_event(&*rt, "queued", &mut events)
                .await
                .arg::<i64>(0)
                .unwrap(),
        );
    }
    assert_eq!(seen, [0, 1, 2, 3]);
    match within(&*rt, "the gap", events.next()).await {
        Some(Err(SubscriptionError::Missed(Missed::Lagged { count }))) => assert_eq!(count, 6),
        other => panic!("expected Lagged, got {other:?}"),
    }
    // The stream goes on after the gap.
    within(
        &*rt,
        "publish after",
        publisher.publish("com.suite.flood").arg(10).acknowledged(),
    )
    .await
    .unwrap();
    let after = next_event(&*rt, "after the gap", &mut events).await;
    assert_eq!(after.arg::<i64>(0).unwrap(), 10);
    within(&*rt, "close", slow.close()).await.unwrap();
    within(&*rt, "close", publisher.close()).await.unwrap();
}

/// A caller that does not read a call's progressive results: past the client's bound the
/// call is canceled and the stream ends with `Error::Overflow`, instead of growing.
pub async fn slow_reader_of_progressive_results(rt: Arc<dyn Runtime>, router: &RouterHandle) {
    let limit = nexus_driver::queue_limits::RESULT_BUFFER;
    let callee = within(
        &*rt,
        "connect",
        Client::connect_local(router, ClientConfig::new("realm1")),
    )
    .await
    .unwrap();
    let caller = within(
        &*rt,
        "connect",
        Client::connect_local(router, ClientConfig::new("realm1")),
    )
    .await
    .unwrap();
    let (done_tx, mut done) = futures::channel::mpsc::unbounded();
    let _flood = within(
        &*rt,
        "register",
        callee.register("com.suite.flood.results", move |inv: Invocation| {
            let done_tx = done_tx.clone();
            async move {
                for n in 0..limit + 10 {
                    if inv
                        .progress(nexus_driver::nexus_core::Payload::new(
                            vec![Value::from(n as u64)],
                            Default::default(),
                        ))
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
                let _ = done_tx.unbounded_send(());
                Ok("final")
            }
        }),
    )
    .await
    .unwrap();
    // A marker after the flood, on the caller's connection: once it is here, every
    // progressive result before it has reached the caller's client.
    let mut marker = within(&*rt, "subscribe", caller.subscribe("com.suite.flood.done"))
        .await
        .unwrap();
    let mut results = caller.call("com.suite.flood.results").progress();
    // Poll once so the CALL goes out, then stop reading.
    let _ = futures::FutureExt::now_or_never(results.next());
    within(&*rt, "the callee is done", done.next()).await;
    within(
        &*rt,
        "marker",
        callee.publish("com.suite.flood.done").acknowledged(),
    )
    .await
    .unwrap();
    next_event(&*rt, "marker", &mut marker).await;
    let mut progressive = 0;
    let end = within(&*rt, "the results", async {
        while let Some(item) = results.next().await {
            match item {
                Ok(r) if r.details.progress == Some(true) => progressive += 1,
                other => return other,
            }
        }
        panic!("the stream ended without its final item")
    })
    .await;
    match end {
        Err(Error::Overflow { capacity, .. }) => assert_eq!(capacity, limit),
        other => panic!("expected Overflow, got {other:?}"),
    }
    assert_eq!(progressive, limit);
    within(&*rt, "close", caller.close()).await.unwrap();
    within(&*rt, "close", callee.close()).await.unwrap();
}
