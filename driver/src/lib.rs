//! # nexus-driver
//!
//! The async layer of nexus, written once for every runtime: it drives the sans-IO
//! [`Router`](nexus_core::router::Router) and client
//! [`Session`](nexus_core::session::Session) of `nexus-core` over the WebSocket and RawSocket
//! transports of `nexus-transports`. A runtime crate (`nexus-tokio`, `nexus-smol`,
//! `nexus-async-std`) only implements the small [`Runtime`] trait and re-exports this API.
//!
//! - [`Client`]: connect by URL (`ws://`, `wss://`, `tcp://`, `tcps://`, `unix://`) or
//!   in-process, then [`call`](Client::call) (dropping the future cancels),
//!   [`register`](Client::register) an async handler, [`subscribe`](Client::subscribe) (a
//!   stream of events), [`publish`](Client::publish) (acknowledged or not), `close`.
//! - Advanced RPC: progressive results ([`Call::progress`], [`Invocation::progress`]),
//!   input in chunks ([`Call::chunked`], [`Call::duplex`], and handlers that take an
//!   [`InvocationStream`]), revocations ([`Client::revocations`]), and callee-enforced call
//!   timeouts (see [`Register`]).
//! - Typed payloads: arguments are anything `Serialize`; results, events and invocations
//!   read into any `Deserialize` type ([`CallResponse::args`], [`Event::decode`]...).
//! - Reconnection ([`ClientConfig::reconnect`]): the client joins again after a lost
//!   connection and restores its subscriptions and registrations; [`Client::state`] says
//!   where it stands.
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
    connect_transport, Call, CallFuture, CallResponse, ChallengeHandler, Client, ClientConfig,
    ClientState, ClientStates, ErasedHandler, Event, HandlerResult, IntoHandler, Invocation,
    Missed, Publish, Register, Registration, Subscribe, Subscription, SubscriptionError,
    SubscriptionItem,
};
pub use cookie::CookieJar;
pub use error::{Error, WampError};
pub use host::{
    Authenticator, Authorizer, ListenOptions, RouterBuilder, RouterHandle, RouterStats,
};
pub use rpc::{CallSender, InvocationStream, Progress, ProgressiveCall, Revocations, Revoked};

/// The bounds of the client's queues (the event queue's is [`ClientConfig::event_buffer`]).
///
/// ```
/// assert!(nexus_driver::queue_limits::RESULT_BUFFER >= 1024);
/// ```
pub mod queue_limits {
    pub use crate::rpc::{CHUNK_BUFFER, RESULT_BUFFER, REVOCATION_BUFFER};
    /// How many requests may wait for the client task (each call in flight may add one).
    pub const COMMAND_BUFFER: usize = crate::client::COMMAND_BUFFER;
}
pub use runtime::{BoxIo, Listener, Runtime, TimedOut};

pub use nexus_core::session::ReconnectPolicy;

pub use nexus_core;
pub use nexus_transports;
