//! The router's decoding of the 1 KiB EVENT (the `serializers` bench's `event_1k`), timed as
//! the fastest of many batches: on a shared machine whose other tenants come and go, the
//! minimum is steadier than criterion's mean, which their bursts pull up.
//!
//! Run with `cargo bench -p nexus-core --bench decode_min`. Prints, per serializer, the
//! nanoseconds of `decode` (every value built), `decode_lazy` (the router's) and `skim`
//! (the check alone, the floor of `decode_lazy`), and `decode` / `decode_lazy`.

use std::hint::black_box;
use std::time::Instant;

mod common;

use common::event_1k;
use nexus_core::{Limits, Serializer};

/// The fastest of 300 batches of 2,000 runs, in nanoseconds per run.
fn fastest(mut run: impl FnMut()) -> f64 {
    (0..300)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..2000 {
                run();
            }
            start.elapsed().as_nanos() as f64 / 2000.0
        })
        .fold(f64::MAX, f64::min)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing and gets one
    // quick pass, so the target stays checked.
    let quick = !std::env::args().any(|a| a == "--bench");
    let limits = Limits::default();
    println!("| 1 KiB EVENT | decode | decode_lazy | skim | decode / decode_lazy |");
    println!("|---|---:|---:|---:|---:|");
    for s in Serializer::ALL {
        let bytes = s.encode(&event_1k()).expect("encodes");
        if quick {
            assert_eq!(s.decode_lazy(&bytes, &limits), s.decode(&bytes, &limits));
            continue;
        }
        let full = fastest(|| drop(black_box(s.decode(black_box(&bytes), &limits))));
        let lazy = fastest(|| drop(black_box(s.decode_lazy(black_box(&bytes), &limits))));
        let skim = fastest(|| drop(black_box(s.skim(black_box(&bytes), &limits))));
        println!(
            "| {s} | {full:.0} ns | {lazy:.0} ns | {skim:.0} ns | {:.1}× |",
            full / lazy
        );
    }
}
