//! The shared integration suite on smol.

#[path = "../../driver/tests/suite/mod.rs"]
mod suite;

#[test]
fn integration_suite() {
    smol::block_on(Box::pin(suite::run_all(nexus_smol::runtime())));
}
