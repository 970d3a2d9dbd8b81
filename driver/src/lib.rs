//! # nexus-driver
//!
//! The async layer of nexus, written once for every runtime: it drives the sans-IO
//! [`Router`](nexus_core::router::Router) and client
//! [`Session`](nexus_core::session::Session) of `nexus-core` over the WebSocket and RawSocket
//! transports of `nexus-transports`. A runtime crate (`nexus-tokio`, `nexus-smol`,
//! `nexus-async-std`) only implements the small [`Runtime`] trait and re-exports this API.
//!
//! - [`Client`]: connect by URL (`ws://`, `wss://`, `tcp://`, `tcps://`, `unix://`) or
//!   in-process, then `call` (dropping the future cancels), `register` an async handler,
//!   `subscribe` (a stream of events), `publish` (acknowledged or not), `close`.
//! - Advanced RPC: progressive results ([`Client::call_progressive`], [`Invocation::progress`]),
//!   input in chunks ([`Client::call_streaming`], [`Client::call_duplex`],
//!   [`Client::register_streaming`]), revocations ([`Client::revocations`]), and
//!   callee-enforced call timeouts (see [`Client::register_with`]).
//! - Authentication: ticket, WAMP-CRA, cryptosign, SCRAM and anonymous through
//!   [`ClientConfig`]; TLS client certificates ([`ClientConfig::client_certificate`]) and
//!   WebSocket cookies ([`ClientConfig::cookie_jar`], [`CookieJar`]).
//! - [`RouterBuilder`] / [`RouterHandle`]: a router with realms, listening on any number of
//!   URLs, embedded in your program.
//!
//! Errors are typed ([`Error`]): a WAMP error answered by a peer ([`WampError`], with its
//! URI, args and kwargs) is distinct from transport and protocol failures.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod client;
mod cookie;
mod error;
mod host;
mod rpc;
pub mod runtime;
mod wire;

pub use client::{
    connect_transport, CallFuture, CallResponse, ChallengeHandler, Client, ClientConfig,
    ClientState, ClientStates, Event, HandlerResult, Invocation, Missed, Registration,
    Subscription, SubscriptionError, SubscriptionItem,
};
pub use cookie::CookieJar;
pub use error::{Error, WampError};
pub use host::{
    Authenticator, Authorizer, ListenOptions, RouterBuilder, RouterHandle, RouterStats,
};
pub use rpc::{CallSender, InvocationStream, Progress, ProgressiveCall, Revocations, Revoked};
pub use runtime::{BoxIo, Listener, Runtime, TimedOut};

pub use nexus_core::session::ReconnectPolicy;

pub use nexus_core;
pub use nexus_transports;
