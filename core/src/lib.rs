//! # nexus-core
//!
//! The sans-IO core of nexus, a WAMP v2 implementation: the typed model of every message,
//! payload values, URIs and IDs, and the JSON, MessagePack and CBOR serializers. Nothing here
//! does I/O, runs async code, reads a clock or draws from a global random generator.
//!
//! ```
//! use nexus_core::message::{Call, Message};
//! use nexus_core::{args, kwargs, Id, Limits, Serializer, Uri};
//!
//! let call = Call::new(Id::MIN, Uri::parse("com.example.greet").unwrap())
//!     .with_args(args!["world"])
//!     .with_kwargs(kwargs! { "polite" => true });
//! let bytes = Serializer::MsgPack.encode(&call.clone().into()).unwrap();
//! let back = Serializer::MsgPack.decode(&bytes, &Limits::default()).unwrap();
//! assert_eq!(back, Message::Call(call));
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod auth;
pub mod features;
pub mod id;
pub mod message;
pub mod router;
pub mod serializer;
pub mod session;
pub mod uri;
pub mod value;

pub use id::{Id, IdGenerator, IdOutOfRange, RequestIdCounter};
pub use message::{Message, MessageError, Payload};
pub use serializer::{DecodeError, EncodeError, Limits, Serializer};
pub use uri::{MatchPolicy, Uri, UriError, UriRules};
pub use value::{from_value, to_value, Dict, List, Value, ValueError};
