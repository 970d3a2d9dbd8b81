//! In-memory routing speed of the sans-IO router (no serialization): events delivered per
//! second for one publisher and 1, 100 and 1,000 subscribers, and RPC round trips
//! (CALL, INVOCATION, YIELD, RESULT) per second.
//!
//! Run with `cargo bench -p nexus-core --bench router`.

use std::time::Instant;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use nexus_core::message::*;
use nexus_core::router::{Action, ConnectionId, Router, RouterConfig};
use nexus_core::{args, RequestId, RequestIdCounter, Serializer, Uri};

struct Bench {
    router: Router,
    now: Instant,
}

impl Bench {
    fn new() -> Bench {
        Bench {
            router: Router::new(RouterConfig::with_realm(Uri::parse("realm1").unwrap()), 1),
            now: Instant::now(),
        }
    }

    /// Drains every output; returns how many messages were transmitted.
    fn drain(&mut self) -> usize {
        let mut n = 0;
        while let Some(action) = self.router.poll_action() {
            if let Action::Transmit(c) = action {
                while self.router.poll_transmit(c).is_some() {
                    n += 1;
                }
            }
        }
        n
    }

    fn join(&mut self, roles: ClientRoles) -> ConnectionId {
        let c = self.router.attach(self.now, Serializer::MsgPack);
        self.router.handle_message(
            self.now,
            c,
            Hello::new(Uri::parse("realm1").unwrap(), roles).into(),
        );
        self.drain();
        c
    }
}

fn roles() -> ClientRoles {
    ClientRoles {
        publisher: Some(Role::default()),
        subscriber: Some(Role::default()),
        caller: Some(Role::default()),
        callee: Some(Role::default()),
        ..Default::default()
    }
}

fn fanout(c: &mut Criterion) {
    let mut group = c.benchmark_group("router/fanout");
    for subscribers in [1usize, 100, 1000] {
        let mut b = Bench::new();
        let publisher = b.join(roles());
        let topic = Uri::parse("com.example.topic").unwrap();
        for _ in 0..subscribers {
            let s = b.join(roles());
            b.router.handle_message(
                b.now,
                s,
                Subscribe::new(RequestId::MIN, topic.clone()).into(),
            );
            b.drain();
        }
        let mut ids = RequestIdCounter::new();
        group.throughput(Throughput::Elements(subscribers as u64));
        group.bench_function(BenchmarkId::new("events", subscribers), |bencher| {
            bencher.iter(|| {
                let publish =
                    Publish::new(ids.next_id(), topic.clone()).with_args(args!["hello", 42]);
                b.router.handle_message(b.now, publisher, publish.into());
                assert_eq!(b.drain(), subscribers);
            })
        });
    }
    group.finish();
}

fn rpc(c: &mut Criterion) {
    let mut b = Bench::new();
    let callee = b.join(roles());
    let caller = b.join(roles());
    let procedure = Uri::parse("com.example.add").unwrap();
    b.router.handle_message(
        b.now,
        callee,
        Register::new(RequestId::MIN, procedure.clone()).into(),
    );
    b.drain();
    let mut calls = RequestIdCounter::new();
    let mut group = c.benchmark_group("router/rpc");
    group.throughput(Throughput::Elements(1));
    group.bench_function("round_trip", |bencher| {
        bencher.iter(|| {
            let call = Call::new(calls.next_id(), procedure.clone()).with_args(args![2, 3]);
            b.router.handle_message(b.now, caller, call.into());
            let mut invocation = None;
            while let Some(action) = b.router.poll_action() {
                if let Action::Transmit(conn) = action {
                    while let Some(m) = b.router.poll_transmit(conn) {
                        if let Message::Invocation(i) = &*m {
                            invocation = Some(i.request);
                        }
                    }
                }
            }
            let request = invocation.expect("INVOCATION");
            b.router.handle_message(
                b.now,
                callee,
                Yield::new(request).with_args(args![5]).into(),
            );
            assert_eq!(b.drain(), 1);
        })
    });
    group.finish();
}

criterion_group!(benches, fanout, rpc);
criterion_main!(benches);
