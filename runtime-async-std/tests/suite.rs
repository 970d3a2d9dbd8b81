//! The shared integration suite on async-std.

#[path = "../../driver/tests/suite/mod.rs"]
mod suite;

#[test]
fn integration_suite() {
    async_std::task::block_on(Box::pin(suite::run_all(nexus_async_std::runtime())));
}
