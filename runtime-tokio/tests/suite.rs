//! The shared integration suite on tokio.

#[path = "../../driver/tests/suite/mod.rs"]
mod suite;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn integration_suite() {
    suite::run_all(nexus_tokio::runtime()).await;
}
