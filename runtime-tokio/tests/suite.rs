//! The shared integration suite on tokio.

#[path = "../../driver/tests/suite/mod.rs"]
mod suite;

#[test]
fn integration_suite() {
    // Unoptimized builds keep the temporaries of every future a test function awaits in its
    // poll frame; the suite's long test functions need more than a test thread's 2 MiB.
    let suite = std::thread::Builder::new()
        .stack_size(suite::STACK_SIZE)
        .spawn(|| {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a tokio runtime");
            rt.block_on(async { suite::run_all(nexus_tokio::runtime()).await });
        })
        .expect("a thread for the suite");
    suite.join().expect("the suite passed");
}
