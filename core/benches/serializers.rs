//! Encode and decode speed of each serializer on representative messages.
//!
//! Run with `cargo bench -p nexus-core --bench serializers`. `decode` builds every value;
//! `decode_lazy` is the router's decoding, which keeps the payload encoded.

mod common;

use common::event_1k;
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use nexus_core::message::{Call, CallResult, Message};
use nexus_core::{args, kwargs, Limits, RequestId, Serializer, Uri, Value};

fn small_call() -> Message {
    Call::new(
        RequestId::new(7814135).unwrap(),
        Uri::parse("com.example.add").unwrap(),
    )
    .with_args(args![2, 3])
    .into()
}

/// A RESULT carrying a nested dict: a user record with lists and sub-dicts.
fn result_nested() -> Message {
    let address = kwargs! { "street" => "1 Main St", "city" => "Springfield", "zip" => "12345" };
    let orders: Vec<Value> = (0..8)
        .map(|i| {
            Value::Dict(kwargs! {
                "id" => 1000 + i,
                "total" => 19.99 * f64::from(i + 1),
                "items" => vec![i, i + 1, i + 2],
                "shipped" => i % 2 == 0,
            })
        })
        .collect();
    let user = kwargs! {
        "id" => 42,
        "name" => "Ann Example",
        "email" => "ann@example.com",
        "address" => address,
        "orders" => orders,
        "balance" => -12.5,
    };
    CallResult::new(RequestId::new(7814135).unwrap())
        .with_kwargs(kwargs! { "user" => user })
        .into()
}

fn bench(c: &mut Criterion) {
    let cases = [
        ("call_small", small_call()),
        ("event_1k", event_1k()),
        ("result_nested", result_nested()),
    ];
    let limits = Limits::default();
    for (name, msg) in &cases {
        let mut group = c.benchmark_group(format!("encode/{name}"));
        for s in Serializer::ALL {
            let len = s.encode(msg).unwrap().len() as u64;
            group.throughput(Throughput::Bytes(len));
            group.bench_with_input(BenchmarkId::from_parameter(s), msg, |b, m| {
                b.iter(|| s.encode(black_box(m)).unwrap())
            });
        }
        group.finish();
        let mut group = c.benchmark_group(format!("decode/{name}"));
        for s in Serializer::ALL {
            let bytes = s.encode(msg).unwrap();
            group.throughput(Throughput::Bytes(bytes.len() as u64));
            group.bench_with_input(BenchmarkId::from_parameter(s), &bytes, |b, bytes| {
                b.iter(|| s.decode(black_box(bytes), &limits).unwrap())
            });
        }
        group.finish();
        // What the router does: the envelope decoded, the payload checked and kept as bytes.
        let mut group = c.benchmark_group(format!("decode_lazy/{name}"));
        for s in Serializer::ALL {
            let bytes = s.encode(msg).unwrap();
            group.throughput(Throughput::Bytes(bytes.len() as u64));
            group.bench_with_input(BenchmarkId::from_parameter(s), &bytes, |b, bytes| {
                b.iter(|| s.decode_lazy(black_box(bytes), &limits).unwrap())
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches, floor);

/// The floor of `decode_lazy`: checking the 1 KiB EVENT without decoding any of it.
fn skim(c: &mut Criterion) {
    let limits = Limits::default();
    let msg = event_1k();
    let mut group = c.benchmark_group("skim/event_1k");
    for s in Serializer::ALL {
        let bytes = s.encode(&msg).unwrap();
        group.bench_with_input(BenchmarkId::from_parameter(s), &bytes, |b, bytes| {
            b.iter(|| s.skim(black_box(bytes), &limits).unwrap())
        });
    }
    group.finish();
}
criterion_group!(floor, skim);
