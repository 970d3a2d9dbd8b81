//! # nexus-conformance
//!
//! Tools that exercise any WAMP v2 router from outside, over the wire:
//!
//! - [`bench`](mod@bench): `wamp-bench`, a load generator (RPC, pub/sub and session-opening
//!   scenarios) that reports throughput and latency percentiles, as a table or as JSON.
//! - [`relay`]: `wamp-relay`, a stand-in for a router that forwards payloads without reading
//!   them: the floor `wamp-bench` figures are compared with.
//! - [`suite`]: `wamp-conformance`, spec scenarios grouped by section, reported as pass,
//!   fail (with what was expected and what came back) or "not announced".

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod bench;
pub mod relay;
pub mod suite;
