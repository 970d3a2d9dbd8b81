//! Sans-IO scenario tests of the router: raw clients and a router wired together in memory,
//! with virtual time.

mod advanced_pubsub;
mod advanced_rpc;
mod authz;
mod authz_roles;
mod broker;
mod dealer;
mod harness;
mod oversized;
mod session_meta;
mod sessions;
mod slow_peers;
mod static_auth;
mod violations;
