//! The shared integration suite on smol.

#[path = "../../driver/tests/suite/mod.rs"]
mod suite;

#[test]
fn integration_suite() {
    // See the tokio suite: a larger stack than a test thread's for unoptimized builds.
    let suite = std::thread::Builder::new()
        .stack_size(suite::STACK_SIZE)
        .spawn(|| smol::block_on(Box::pin(suite::run_all(nexus_smol::runtime()))))
        .expect("a thread for the suite");
    suite.join().expect("the suite passed");
}
