//! # nexus-core
//!
//! The sans-IO core of nexus, a WAMP v2 implementation: the typed model of every message,
//! payload values, URIs and IDs, and the JSON, MessagePack and CBOR serializers. Nothing here
//! does I/O, runs async code, reads a clock or draws from a global random generator.
//!
//! ```
//! use nexus_core::message::{Call, Message};
//! use nexus_core::{args, kwargs, Limits, RequestId, Serializer, Uri};
//!
//! let call = Call::new(RequestId::MIN, Uri::parse("com.example.greet").unwrap())
//!     .with_args(args!["world"])
//!     .with_kwargs(kwargs! { "polite" => true });
//! let bytes = Serializer::MsgPack.encode(&call.clone().into()).unwrap();
//! let back = Serializer::MsgPack.decode(&bytes, &Limits::default()).unwrap();
//! assert_eq!(back, Message::Call(call));
//! ```
//!
//! # Driving the state machines
//!
//! The [`router::Router`] and the client [`session::Session`] are driven the same way:
//! inputs are `handle_*` methods (and the session's request methods), outputs are `poll_*`
//! methods, and time is always a parameter. After an input, drain the outputs in this order:
//!
//! 1. **Actions / events**: [`Router::poll_action`](router::Router::poll_action) until
//!    `None`, before the router's next input: it asserts so in debug builds. Answering one
//!    of its questions ([`Action::Authenticate`](router::Action::Authenticate),
//!    [`Action::Authorize`](router::Action::Authorize)) while draining is allowed: the answer
//!    is the rest of the same input. A [`Session`](session::Session) has
//!    [`poll_event`](session::Session::poll_event); its outputs keep their order however
//!    many inputs come first (an application may queue several calls), but a pump drains them
//!    after each message from the router.
//! 2. **Messages**: for each [`Action::Transmit`](router::Action::Transmit), the
//!    connection's messages with [`Router::poll_transmit`](router::Router::poll_transmit),
//!    in order (a session's with [`Session::poll_transmit`](session::Session::poll_transmit)).
//!    A driver may take fewer than all when its writer is busy, and come back for the rest: a
//!    `Transmit` is emitted only when a connection's queue goes from empty to non-empty. What
//!    it leaves stays in the router's bounded queue, where the slow-peer policy applies.
//! 3. **Closes**: on [`Action::Close`](router::Action::Close), send what is queued, close
//!    the transport, then [`detach`](router::Router::detach) the connection.
//! 4. **Time**: `poll_timeout` gives the next deadline
//!    ([`Router::poll_timeout`](router::Router::poll_timeout),
//!    [`Session::poll_timeout`](session::Session::poll_timeout)); call `handle_timeout(now)`
//!    at or after it (early is harmless). Any input may change it, so ask again after each.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod auth;
pub mod features;
pub mod id;
pub mod message;
pub mod router;
pub mod serializer;
pub mod session;
pub mod typed;
pub mod uri;
pub mod value;

pub use id::{
    Id, IdGenerator, IdOutOfRange, PublicationId, RegistrationId, RequestId, RequestIdCounter,
    SessionId, SubscriptionId,
};
pub use message::{Message, MessageError, Payload};
pub use serializer::{DecodeError, EncodeError, Limits, Serializer};
pub use uri::{MatchPolicy, Uri, UriError, UriRules};
pub use value::{from_value, to_value, Dict, List, Value, ValueError};
