//! Bounded outbound queues: the router never waits for a slow peer.

use crate::harness::*;
use nexus_core::message::*;
use nexus_core::router::{QueueConfig, RouterConfig, SlowSubscriberPolicy};
use nexus_core::Value;

fn net_with(policy: SlowSubscriberPolicy) -> Net {
    Net::new(RouterConfig {
        queue: QueueConfig {
            capacity: 4,
            hard_limit: 8,
            slow_subscriber: policy,
            ..Default::default()
        },
        ..RouterConfig::with_realm(uri("realm1"))
    })
}

/// Publishes `n` events without the subscriber reading anything: the harness only reads when
/// asked, but the router's queue for `s` is drained by `pump`, so this uses a connection
/// whose messages are left in the router (not pumped) by attaching it directly.
fn stalled_subscriber(net: &mut Net) -> Client {
    let mut s = net.join();
    net.subscribe(&mut s, "com.t");
    s
}

#[test]
fn events_beyond_capacity_are_dropped_and_counted() {
    let mut net = net_with(SlowSubscriberPolicy::Drop);
    let mut p = net.join();
    let s = stalled_subscriber(&mut net);
    // Stop draining s: publish directly through the router.
    for i in 0..10u32 {
        let request = p.next();
        net.feed(
            p.conn,
            Publish::new(request, uri("com.t"))
                .with_args(vec![Value::from(i)])
                .into(),
        );
    }
    let stats = net.router.connection_stats(s.conn).unwrap();
    assert_eq!(stats.queued, 4);
    assert_eq!(stats.dropped_events, 6);
    net.pump();
    assert!(!net.is_closed(&s));
    let got = net.recv(&s);
    let seq: Vec<u64> = got
        .iter()
        .map(|m| match m {
            Message::Event(e) => e.payload.args()[0].as_u64().unwrap(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(seq, [0, 1, 2, 3], "the oldest events are kept, in order");
    // Once drained, events flow again.
    net.publish(&mut p, "com.t", PublishOptions::default(), vec![]);
    assert_eq!(net.recv(&s).len(), 1);
}

#[test]
fn slow_subscribers_can_be_disconnected() {
    let mut net = net_with(SlowSubscriberPolicy::Disconnect);
    let mut p = net.join();
    let s = stalled_subscriber(&mut net);
    for _ in 0..5 {
        let request = p.next();
        net.feed(p.conn, Publish::new(request, uri("com.t")).into());
    }
    net.pump();
    assert!(net.is_closed(&s));
    assert_eq!(
        net.router.session_count(),
        1,
        "the slow subscriber's session is gone"
    );
}

#[test]
fn invocations_to_a_full_callee_are_refused_to_the_caller() {
    let mut net = net_with(SlowSubscriberPolicy::Drop);
    let mut callee = net.join();
    let mut caller = net.join();
    net.register(&mut callee, "com.p");
    let mut calls = Vec::new();
    for _ in 0..6 {
        let request = caller.next();
        calls.push(request);
        net.feed(caller.conn, Call::new(request, uri("com.p")).into());
    }
    net.pump();
    let to_callee = net.recv(&callee);
    assert_eq!(to_callee.len(), 4);
    let to_caller = net.recv(&caller);
    assert_eq!(to_caller.len(), 2);
    for (m, request) in to_caller.iter().zip(&calls[4..]) {
        assert_eq!(
            error_of(m),
            (
                "wamp.error.no_available_callee",
                *request,
                RequestType::Call
            )
        );
    }
    assert_eq!(
        net.router
            .connection_stats(callee.conn)
            .unwrap()
            .refused_invocations,
        2
    );
}

#[test]
fn a_peer_that_never_reads_is_closed_at_the_hard_limit() {
    let mut net = net_with(SlowSubscriberPolicy::Drop);
    let c = net.join();
    // Replies are queued past capacity, up to the hard limit.
    let mut c2 = c.clone();
    for _ in 0..9 {
        let request = c2.next();
        net.feed(c.conn, Subscribe::new(request, uri("com.t")).into());
    }
    assert_eq!(net.router.connection_stats(c.conn).unwrap().queued, 8);
    net.pump();
    assert!(net.is_closed(&c));
    assert!(net.router.is_idle());
}

#[test]
fn a_refused_invocation_leaves_no_gap_in_invocation_ids() {
    // Found by the router fuzz target: router-to-callee request IDs stay sequential.
    let mut net = Net::new(RouterConfig {
        queue: QueueConfig {
            capacity: 2,
            hard_limit: 16,
            slow_subscriber: SlowSubscriberPolicy::Drop,
            ..Default::default()
        },
        ..RouterConfig::with_realm(uri("realm1"))
    });
    let mut callee = net.join();
    let mut caller = net.join();
    net.register(&mut callee, "com.p");
    for _ in 0..3 {
        let r = caller.next();
        net.feed(caller.conn, Call::new(r, uri("com.p")).into());
    }
    net.pump();
    let mut got = net.recv(&callee);
    assert_eq!(
        error_of(&net.recv_one(&caller)).0,
        "wamp.error.no_available_callee"
    );
    let r = caller.next();
    net.send(&caller, Call::new(r, uri("com.p")));
    got.extend(net.recv(&callee));
    let ids: Vec<u64> = got
        .iter()
        .map(|m| match m {
            Message::Invocation(i) => i.request.get(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(ids, [1, 2, 3]);
}

fn net_with_bytes(capacity_bytes: usize, hard_limit_bytes: usize) -> Net {
    Net::new(RouterConfig {
        queue: QueueConfig {
            capacity_bytes,
            hard_limit_bytes,
            ..Default::default()
        },
        ..RouterConfig::with_realm(uri("realm1"))
    })
}

fn publish_large(net: &mut Net, p: &mut Client, i: u32, bytes: usize) {
    let request = p.next();
    net.feed(
        p.conn,
        Publish::new(request, uri("com.t"))
            .with_args(vec![Value::from(i), Value::String("x".repeat(bytes))])
            .into(),
    );
}

#[test]
fn large_events_are_bounded_by_bytes_as_well_as_by_count() {
    // Room for three 64 KiB events (far below the message capacity of 4096).
    let mut net = net_with_bytes(200_000, 1 << 30);
    let mut p = net.join();
    let s = stalled_subscriber(&mut net);
    for i in 0..10 {
        publish_large(&mut net, &mut p, i, 64 * 1024);
    }
    let stats = net.router.connection_stats(s.conn).unwrap();
    assert_eq!(stats.queued, 3);
    assert_eq!(stats.dropped_events, 7);
    assert!(
        stats.queued_bytes > 3 * 64 * 1024 && stats.queued_bytes <= 200_000,
        "{}",
        stats.queued_bytes
    );
    net.pump();
    assert!(!net.is_closed(&s));
    let got = net.recv(&s);
    assert_eq!(got.len(), 3, "the oldest events are kept");
    assert_eq!(net.router.connection_stats(s.conn).unwrap().queued_bytes, 0);
    // Drained, the queue takes events again.
    publish_large(&mut net, &mut p, 10, 64 * 1024);
    net.pump();
    assert_eq!(net.recv(&s).len(), 1);
}

#[test]
fn an_event_larger_than_the_byte_capacity_still_goes_to_an_empty_queue() {
    let mut net = net_with_bytes(1000, 2000);
    let mut p = net.join();
    let s = stalled_subscriber(&mut net);
    publish_large(&mut net, &mut p, 0, 10_000);
    assert_eq!(net.router.connection_stats(s.conn).unwrap().queued, 1);
    // The next one does not fit, and is more than the hard limit: the peer is closed.
    publish_large(&mut net, &mut p, 1, 10_000);
    net.pump();
    assert!(
        net.is_closed(&s),
        "past hard_limit_bytes the connection is closed"
    );
}
