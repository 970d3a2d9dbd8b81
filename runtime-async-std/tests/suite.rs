//! The shared integration suite on async-std.

#[path = "../../driver/tests/suite/mod.rs"]
mod suite;

#[test]
fn integration_suite() {
    // See the tokio suite: a larger stack than a test thread's for unoptimized builds.
    let suite = std::thread::Builder::new()
        .stack_size(suite::STACK_SIZE)
        .spawn(|| async_std::task::block_on(Box::pin(suite::run_all(nexus_async_std::runtime()))))
        .expect("a thread for the suite");
    suite.join().expect("the suite passed");
}
