//! Runnable examples of nexus; see the files beside this crate's `Cargo.toml`:
//!
//! - `cargo run -p nexus-examples --example callee` registers `com.example.add`;
//! - `cargo run -p nexus-examples --example caller` calls it;
//! - `cargo run -p nexus-examples --example subscriber` listens on `com.example.ticks`;
//! - `cargo run -p nexus-examples --example publisher` publishes to it;
//! - `cargo run -p nexus-examples --example resilient` serves and subscribes across restarts
//!   of the router (stop and start nexusd while it runs);
//! - `reconnect_probe` is the client side of `interop/crossbar-restart/run.sh` (a
//!   reconnecting client across a Crossbar restart);
//! - `cargo run -p nexus-examples --example embedded_router` runs a router and a client in
//!   one program.
//!
//! The client examples connect to `nexusd` (`cargo run --release -p nexusd`) at
//! `ws://127.0.0.1:8080/ws`, or to the URL given as their first argument.

/// The URL the client examples connect to: the first argument, or nexusd's default.
pub fn url() -> String {
    std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ws://127.0.0.1:8080/ws".to_owned())
}
