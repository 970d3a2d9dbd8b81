//! The typed model of every WAMP v2 message.
//!
//! [`Message`] has one variant per message code. Each message is a struct with typed
//! options or details ([`options`]) and, where the spec allows one, a [`Payload`] tail:
//! positional and keyword arguments, which are never sent empty when absent.
//!
//! ```
//! use nexus_core::message::{Message, Publish, PublishOptions};
//! use nexus_core::{args, kwargs, RequestId, Uri};
//!
//! let publish = Publish::new(RequestId::MIN, Uri::parse("com.example.news").unwrap())
//!     .with_options(PublishOptions { acknowledge: Some(true), ..Default::default() })
//!     .with_args(args!["hello"])
//!     .with_kwargs(kwargs! { "lang" => "en" });
//! let msg = Message::Publish(publish);
//! assert_eq!(msg.code(), 16);
//! assert_eq!(msg.name(), "PUBLISH");
//! ```

mod decode;
pub(crate) mod encode;
pub(crate) mod lazy;
pub mod options;

pub use lazy::EncodedPayload;

use bytes::Bytes;

pub use options::{
    AbortDetails, AuthenticateExtra, CallOptions, CancelMode, CancelOptions, ChallengeExtra,
    ClientRoles, EncAlgo, EncSerializer, ErrorDetails, EventDetails, ForwardFor, GoodbyeDetails,
    HelloDetails, InterruptOptions, InvocationDetails, InvokePolicy, Passthru, PublishOptions,
    RegisterOptions, ResultDetails, Role, RouterRoles, SubscribeOptions, UnregisteredDetails,
    UnsubscribedDetails, WelcomeDetails, YieldOptions,
};

use crate::id::{PublicationId, RegistrationId, RequestId, SessionId, SubscriptionId};
use crate::uri::{Uri, UriError};
use crate::value::{Dict, Value};

/// Message type codes.
pub mod code {
    /// HELLO.
    pub const HELLO: u64 = 1;
    /// WELCOME.
    pub const WELCOME: u64 = 2;
    /// ABORT.
    pub const ABORT: u64 = 3;
    /// CHALLENGE.
    pub const CHALLENGE: u64 = 4;
    /// AUTHENTICATE.
    pub const AUTHENTICATE: u64 = 5;
    /// GOODBYE.
    pub const GOODBYE: u64 = 6;
    /// ERROR.
    pub const ERROR: u64 = 8;
    /// PUBLISH.
    pub const PUBLISH: u64 = 16;
    /// PUBLISHED.
    pub const PUBLISHED: u64 = 17;
    /// SUBSCRIBE.
    pub const SUBSCRIBE: u64 = 32;
    /// SUBSCRIBED.
    pub const SUBSCRIBED: u64 = 33;
    /// UNSUBSCRIBE.
    pub const UNSUBSCRIBE: u64 = 34;
    /// UNSUBSCRIBED.
    pub const UNSUBSCRIBED: u64 = 35;
    /// EVENT.
    pub const EVENT: u64 = 36;
    /// CALL.
    pub const CALL: u64 = 48;
    /// CANCEL.
    pub const CANCEL: u64 = 49;
    /// RESULT.
    pub const RESULT: u64 = 50;
    /// REGISTER.
    pub const REGISTER: u64 = 64;
    /// REGISTERED.
    pub const REGISTERED: u64 = 65;
    /// UNREGISTER.
    pub const UNREGISTER: u64 = 66;
    /// UNREGISTERED.
    pub const UNREGISTERED: u64 = 67;
    /// INVOCATION.
    pub const INVOCATION: u64 = 68;
    /// INTERRUPT.
    pub const INTERRUPT: u64 = 69;
    /// YIELD.
    pub const YIELD: u64 = 70;
    /// EVENT_RECEIVED: Autobahn's subscriber acknowledgement (implementation-specific,
    /// not in the spec text).
    pub const EVENT_RECEIVED: u64 = 337;
}

/// The application payload at the tail of a message.
///
/// Two payloads are equal when they hold the same values, however they are held (an
/// [`Encoded`](Payload::Encoded) one is decoded to compare it with another kind).
#[derive(Debug, Clone)]
pub enum Payload {
    /// Positional and keyword arguments; either may be empty, and empty ones are not sent.
    Args {
        /// `Arguments`.
        args: Vec<Value>,
        /// `ArgumentsKw`.
        kwargs: Dict,
    },
    /// Autobahn's transparent payload: one binary element in place of `Arguments`, opaque to
    /// the router (end-to-end encrypted or pre-serialized).
    Transparent(Bytes),
    /// Arguments kept as the bytes they arrived in: what a router's decoding
    /// ([`Serializer::decode_lazy`](crate::Serializer::decode_lazy)) gives, forwarded
    /// unread to peers of the same serializer. A client's session never sees one: it decodes
    /// them on arrival.
    Encoded(EncodedPayload),
}

impl PartialEq for Payload {
    fn eq(&self, other: &Payload) -> bool {
        match (self, other) {
            (Payload::Args { args, kwargs }, Payload::Args { args: a, kwargs: k }) => {
                args == a && kwargs == k
            }
            (Payload::Transparent(a), Payload::Transparent(b)) => a == b,
            (Payload::Encoded(a), Payload::Encoded(b))
                if a.serializer() == b.serializer()
                    && a.args_bytes() == b.args_bytes()
                    && a.kwargs_bytes() == b.kwargs_bytes() =>
            {
                true
            }
            (Payload::Encoded(_), _) | (_, Payload::Encoded(_)) => {
                match (self.decoded(), other.decoded()) {
                    (Ok(a), Ok(b)) => a == b,
                    _ => false,
                }
            }
            _ => false,
        }
    }
}

impl Default for Payload {
    fn default() -> Self {
        Payload::Args {
            args: Vec::new(),
            kwargs: Dict::new(),
        }
    }
}

impl Payload {
    /// A payload of positional and keyword arguments.
    pub fn new(args: Vec<Value>, kwargs: Dict) -> Payload {
        Payload::Args { args, kwargs }
    }

    /// Whether there is nothing to send.
    pub fn is_empty(&self) -> bool {
        match self {
            Payload::Args { args, kwargs } => args.is_empty() && kwargs.is_empty(),
            Payload::Transparent(_) | Payload::Encoded(_) => false,
        }
    }

    /// The positional arguments (empty for a transparent payload, and for an encoded one:
    /// [`decoded`](Self::decoded) reads those).
    pub fn args(&self) -> &[Value] {
        match self {
            Payload::Args { args, .. } => args,
            Payload::Transparent(_) | Payload::Encoded(_) => &[],
        }
    }

    /// The keyword arguments, if this is a payload of decoded arguments.
    pub fn kwargs(&self) -> Option<&Dict> {
        match self {
            Payload::Args { kwargs, .. } => Some(kwargs),
            Payload::Transparent(_) | Payload::Encoded(_) => None,
        }
    }

    /// The payload with an [`Encoded`](Payload::Encoded) one decoded into arguments;
    /// the others as they are.
    ///
    /// ```
    /// use nexus_core::message::Payload;
    /// use nexus_core::args;
    ///
    /// let p = Payload::new(args![1], Default::default());
    /// assert_eq!(p.decoded().unwrap().args(), &args![1][..]);
    /// ```
    pub fn decoded(&self) -> Result<std::borrow::Cow<'_, Payload>, crate::DecodeError> {
        match self {
            Payload::Encoded(p) => p.to_payload().map(std::borrow::Cow::Owned),
            other => Ok(std::borrow::Cow::Borrowed(other)),
        }
    }

    /// [`decoded`](Self::decoded), in place.
    pub fn decode_in_place(&mut self) -> Result<(), crate::DecodeError> {
        if let Payload::Encoded(p) = self {
            *self = p.to_payload()?;
        }
        Ok(())
    }

    /// About how many bytes the payload holds in memory.
    pub(crate) fn footprint(&self) -> usize {
        match self {
            Payload::Args { args, kwargs } => {
                crate::value::list_footprint(args) + crate::value::dict_footprint(kwargs)
            }
            Payload::Transparent(bytes) => bytes.len(),
            Payload::Encoded(p) => p.footprint(),
        }
    }

    /// How many elements the payload adds to the message (0, 1 or 2).
    pub(crate) fn tail_len(&self) -> usize {
        match self {
            Payload::Args { kwargs, .. } if !kwargs.is_empty() => 2,
            Payload::Args { args, .. } if !args.is_empty() => 1,
            Payload::Args { .. } => 0,
            Payload::Transparent(_) => 1,
            Payload::Encoded(p) => p.tail_len(),
        }
    }

    fn args_mut(&mut self) -> (&mut Vec<Value>, &mut Dict) {
        // Setting one half of an encoded payload keeps the other half's values.
        if let Payload::Encoded(p) = self {
            *self = p.to_payload().unwrap_or_default();
        }
        if let Payload::Transparent(_) = self {
            *self = Payload::default();
        }
        match self {
            Payload::Args { args, kwargs } => (args, kwargs),
            Payload::Transparent(_) | Payload::Encoded(_) => unreachable!("replaced above"),
        }
    }
}

/// The request a WAMP ERROR answers (`ERROR.REQUEST.Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestType {
    /// PUBLISH (16).
    Publish,
    /// SUBSCRIBE (32).
    Subscribe,
    /// UNSUBSCRIBE (34).
    Unsubscribe,
    /// CALL (48).
    Call,
    /// REGISTER (64).
    Register,
    /// UNREGISTER (66).
    Unregister,
    /// INVOCATION (68).
    Invocation,
}

impl RequestType {
    /// The message code.
    pub fn code(self) -> u64 {
        match self {
            RequestType::Publish => code::PUBLISH,
            RequestType::Subscribe => code::SUBSCRIBE,
            RequestType::Unsubscribe => code::UNSUBSCRIBE,
            RequestType::Call => code::CALL,
            RequestType::Register => code::REGISTER,
            RequestType::Unregister => code::UNREGISTER,
            RequestType::Invocation => code::INVOCATION,
        }
    }

    /// The request type of a message code, if ERROR may answer it.
    pub fn from_code(code: u64) -> Option<RequestType> {
        Some(match code {
            code::PUBLISH => RequestType::Publish,
            code::SUBSCRIBE => RequestType::Subscribe,
            code::UNSUBSCRIBE => RequestType::Unsubscribe,
            code::CALL => RequestType::Call,
            code::REGISTER => RequestType::Register,
            code::UNREGISTER => RequestType::Unregister,
            code::INVOCATION => RequestType::Invocation,
            _ => return None,
        })
    }
}

/// `[HELLO, Realm|uri, Details|dict]`
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Hello {
    /// The realm to join.
    pub realm: Uri,
    /// Roles, authentication and agent.
    pub details: HelloDetails,
}

/// `[WELCOME, Session|id, Details|dict]`
#[derive(Debug, Clone, PartialEq)]
pub struct Welcome {
    /// The session ID.
    pub session: SessionId,
    /// Roles, authentication and agent.
    pub details: WelcomeDetails,
}

/// `[ABORT, Details|dict, Reason|uri (, Arguments|list (, ArgumentsKw|dict))]`
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Abort {
    /// Details (a `message`).
    pub details: AbortDetails,
    /// Why.
    pub reason: Uri,
    /// Optional arguments.
    pub payload: Payload,
}

/// `[CHALLENGE, AuthMethod|string, Extra|dict]`
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Challenge {
    /// The authentication method chosen by the router.
    pub auth_method: String,
    /// Method-specific data.
    pub extra: ChallengeExtra,
}

/// `[AUTHENTICATE, Signature|string, Extra|dict]`
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Authenticate {
    /// The signature, ticket or proof.
    pub signature: String,
    /// Method-specific data.
    pub extra: AuthenticateExtra,
}

/// `[GOODBYE, Details|dict, Reason|uri]`
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Goodbye {
    /// Details (a `message`).
    pub details: GoodbyeDetails,
    /// Why.
    pub reason: Uri,
}

/// `[ERROR, REQUEST.Type|int, REQUEST.Request|id, Details|dict, Error|uri (, Arguments|list (, ArgumentsKw|dict))]`
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    /// The kind of request that failed.
    pub request_type: RequestType,
    /// The request that failed.
    pub request: RequestId,
    /// Details.
    pub details: ErrorDetails,
    /// The error URI.
    pub error: Uri,
    /// Arguments of the error.
    pub payload: Payload,
}

/// `[PUBLISH, Request|id, Options|dict, Topic|uri (, Arguments|list (, ArgumentsKw|dict))]`
#[derive(Debug, Clone, PartialEq)]
pub struct Publish {
    /// The request ID.
    pub request: RequestId,
    /// Options.
    pub options: PublishOptions,
    /// The topic.
    pub topic: Uri,
    /// The event's payload.
    pub payload: Payload,
}

/// `[PUBLISHED, PUBLISH.Request|id, Publication|id]`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    /// The PUBLISH request.
    pub request: RequestId,
    /// The publication ID.
    pub publication: PublicationId,
}

/// `[SUBSCRIBE, Request|id, Options|dict, Topic|uri]`
#[derive(Debug, Clone, PartialEq)]
pub struct Subscribe {
    /// The request ID.
    pub request: RequestId,
    /// Options.
    pub options: SubscribeOptions,
    /// The topic or topic pattern.
    pub topic: Uri,
}

/// `[SUBSCRIBED, SUBSCRIBE.Request|id, Subscription|id]`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subscribed {
    /// The SUBSCRIBE request.
    pub request: RequestId,
    /// The subscription ID.
    pub subscription: SubscriptionId,
}

/// `[UNSUBSCRIBE, Request|id, SUBSCRIBED.Subscription|id]`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsubscribe {
    /// The request ID.
    pub request: RequestId,
    /// The subscription to end.
    pub subscription: SubscriptionId,
}

/// `[UNSUBSCRIBED, UNSUBSCRIBE.Request|id]`, or the revocation form
/// `[UNSUBSCRIBED, 0, Details|dict]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Unsubscribed {
    /// The UNSUBSCRIBE request; `None` (sent as 0) for a revocation by the router.
    pub request: Option<RequestId>,
    /// The revoked subscription and the reason (revocation form).
    pub details: UnsubscribedDetails,
}

/// `[EVENT, SUBSCRIBED.Subscription|id, PUBLISHED.Publication|id, Details|dict (, Arguments|list (, ArgumentsKw|dict))]`
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The subscription.
    pub subscription: SubscriptionId,
    /// The publication.
    pub publication: PublicationId,
    /// Details.
    pub details: EventDetails,
    /// The event's payload.
    pub payload: Payload,
}

/// `[CALL, Request|id, Options|dict, Procedure|uri (, Arguments|list (, ArgumentsKw|dict))]`
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The request ID.
    pub request: RequestId,
    /// Options.
    pub options: CallOptions,
    /// The procedure.
    pub procedure: Uri,
    /// The call's arguments.
    pub payload: Payload,
}

/// `[CANCEL, CALL.Request|id, Options|dict]`
#[derive(Debug, Clone, PartialEq)]
pub struct Cancel {
    /// The CALL to cancel.
    pub request: RequestId,
    /// Options (`mode`).
    pub options: CancelOptions,
}

/// `[RESULT, CALL.Request|id, Details|dict (, Arguments|list (, ArgumentsKw|dict))]`
#[derive(Debug, Clone, PartialEq)]
pub struct CallResult {
    /// The CALL.
    pub request: RequestId,
    /// Details.
    pub details: ResultDetails,
    /// The result.
    pub payload: Payload,
}

/// `[REGISTER, Request|id, Options|dict, Procedure|uri]`
#[derive(Debug, Clone, PartialEq)]
pub struct Register {
    /// The request ID.
    pub request: RequestId,
    /// Options.
    pub options: RegisterOptions,
    /// The procedure or procedure pattern.
    pub procedure: Uri,
}

/// `[REGISTERED, REGISTER.Request|id, Registration|id]`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Registered {
    /// The REGISTER request.
    pub request: RequestId,
    /// The registration ID.
    pub registration: RegistrationId,
}

/// `[UNREGISTER, Request|id, REGISTERED.Registration|id]`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unregister {
    /// The request ID.
    pub request: RequestId,
    /// The registration to end.
    pub registration: RegistrationId,
}

/// `[UNREGISTERED, UNREGISTER.Request|id]`, or the revocation form
/// `[UNREGISTERED, 0, Details|dict]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Unregistered {
    /// The UNREGISTER request; `None` (sent as 0) for a revocation by the router.
    pub request: Option<RequestId>,
    /// The revoked registration and the reason (revocation form).
    pub details: UnregisteredDetails,
}

/// `[INVOCATION, Request|id, REGISTERED.Registration|id, Details|dict (, Arguments|list (, ArgumentsKw|dict))]`
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    /// The request ID (router to callee).
    pub request: RequestId,
    /// The registration invoked.
    pub registration: RegistrationId,
    /// Details.
    pub details: InvocationDetails,
    /// The call's arguments.
    pub payload: Payload,
}

/// `[INTERRUPT, INVOCATION.Request|id, Options|dict]`
#[derive(Debug, Clone, PartialEq)]
pub struct Interrupt {
    /// The INVOCATION to interrupt.
    pub request: RequestId,
    /// Options (`mode`).
    pub options: InterruptOptions,
}

/// `[YIELD, INVOCATION.Request|id, Options|dict (, Arguments|list (, ArgumentsKw|dict))]`
#[derive(Debug, Clone, PartialEq)]
pub struct Yield {
    /// The INVOCATION answered.
    pub request: RequestId,
    /// Options.
    pub options: YieldOptions,
    /// The result.
    pub payload: Payload,
}

/// `[EVENT_RECEIVED, EVENT.Publication|id]`: Autobahn's acknowledgement of an EVENT sent with
/// `x_acknowledged_delivery` (implementation-specific code 337, not in the spec text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventReceived {
    /// The publication acknowledged.
    pub publication: PublicationId,
}

/// A WAMP message.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// HELLO (1). Boxed: it is large and sent once per session.
    Hello(Box<Hello>),
    /// WELCOME (2). Boxed: it is large and sent once per session.
    Welcome(Box<Welcome>),
    /// ABORT (3).
    Abort(Abort),
    /// CHALLENGE (4).
    Challenge(Challenge),
    /// AUTHENTICATE (5).
    Authenticate(Authenticate),
    /// GOODBYE (6).
    Goodbye(Goodbye),
    /// ERROR (8).
    Error(Error),
    /// PUBLISH (16).
    Publish(Publish),
    /// PUBLISHED (17).
    Published(Published),
    /// SUBSCRIBE (32).
    Subscribe(Subscribe),
    /// SUBSCRIBED (33).
    Subscribed(Subscribed),
    /// UNSUBSCRIBE (34).
    Unsubscribe(Unsubscribe),
    /// UNSUBSCRIBED (35).
    Unsubscribed(Unsubscribed),
    /// EVENT (36).
    Event(Event),
    /// CALL (48).
    Call(Call),
    /// CANCEL (49).
    Cancel(Cancel),
    /// RESULT (50).
    Result(CallResult),
    /// REGISTER (64).
    Register(Register),
    /// REGISTERED (65).
    Registered(Registered),
    /// UNREGISTER (66).
    Unregister(Unregister),
    /// UNREGISTERED (67).
    Unregistered(Unregistered),
    /// INVOCATION (68).
    Invocation(Invocation),
    /// INTERRUPT (69).
    Interrupt(Interrupt),
    /// YIELD (70).
    Yield(Yield),
    /// EVENT_RECEIVED (337, Autobahn extension).
    EventReceived(EventReceived),
}

impl Message {
    /// About how many bytes this message holds in memory: its own size and its payload's
    /// (options and details are small next to it). What the router's outbound queues count.
    pub(crate) fn footprint(&self) -> usize {
        std::mem::size_of::<Message>() + self.payload().map_or(0, Payload::footprint)
    }

    /// The message type code.
    pub fn code(&self) -> u64 {
        match self {
            Message::Hello(_) => code::HELLO,
            Message::Welcome(_) => code::WELCOME,
            Message::Abort(_) => code::ABORT,
            Message::Challenge(_) => code::CHALLENGE,
            Message::Authenticate(_) => code::AUTHENTICATE,
            Message::Goodbye(_) => code::GOODBYE,
            Message::Error(_) => code::ERROR,
            Message::Publish(_) => code::PUBLISH,
            Message::Published(_) => code::PUBLISHED,
            Message::Subscribe(_) => code::SUBSCRIBE,
            Message::Subscribed(_) => code::SUBSCRIBED,
            Message::Unsubscribe(_) => code::UNSUBSCRIBE,
            Message::Unsubscribed(_) => code::UNSUBSCRIBED,
            Message::Event(_) => code::EVENT,
            Message::Call(_) => code::CALL,
            Message::Cancel(_) => code::CANCEL,
            Message::Result(_) => code::RESULT,
            Message::Register(_) => code::REGISTER,
            Message::Registered(_) => code::REGISTERED,
            Message::Unregister(_) => code::UNREGISTER,
            Message::Unregistered(_) => code::UNREGISTERED,
            Message::Invocation(_) => code::INVOCATION,
            Message::Interrupt(_) => code::INTERRUPT,
            Message::Yield(_) => code::YIELD,
            Message::EventReceived(_) => code::EVENT_RECEIVED,
        }
    }

    /// The message name, e.g. `"CALL"`.
    pub fn name(&self) -> &'static str {
        name_of(self.code()).unwrap_or("UNKNOWN")
    }

    /// The request ID the message carries or answers, if any.
    pub fn request_id(&self) -> Option<RequestId> {
        match self {
            Message::Error(m) => Some(m.request),
            Message::Publish(m) => Some(m.request),
            Message::Published(m) => Some(m.request),
            Message::Subscribe(m) => Some(m.request),
            Message::Subscribed(m) => Some(m.request),
            Message::Unsubscribe(m) => Some(m.request),
            Message::Unsubscribed(m) => m.request,
            Message::Call(m) => Some(m.request),
            Message::Cancel(m) => Some(m.request),
            Message::Result(m) => Some(m.request),
            Message::Register(m) => Some(m.request),
            Message::Registered(m) => Some(m.request),
            Message::Unregister(m) => Some(m.request),
            Message::Unregistered(m) => m.request,
            Message::Invocation(m) => Some(m.request),
            Message::Interrupt(m) => Some(m.request),
            Message::Yield(m) => Some(m.request),
            _ => None,
        }
    }

    /// The payload, for messages that carry one.
    pub fn payload(&self) -> Option<&Payload> {
        match self {
            Message::Abort(m) => Some(&m.payload),
            Message::Error(m) => Some(&m.payload),
            Message::Publish(m) => Some(&m.payload),
            Message::Event(m) => Some(&m.payload),
            Message::Call(m) => Some(&m.payload),
            Message::Result(m) => Some(&m.payload),
            Message::Invocation(m) => Some(&m.payload),
            Message::Yield(m) => Some(&m.payload),
            _ => None,
        }
    }

    /// The payload, mutably, for messages that carry one.
    pub fn payload_mut(&mut self) -> Option<&mut Payload> {
        match self {
            Message::Abort(m) => Some(&mut m.payload),
            Message::Error(m) => Some(&mut m.payload),
            Message::Publish(m) => Some(&mut m.payload),
            Message::Event(m) => Some(&mut m.payload),
            Message::Call(m) => Some(&mut m.payload),
            Message::Result(m) => Some(&mut m.payload),
            Message::Invocation(m) => Some(&mut m.payload),
            Message::Yield(m) => Some(&mut m.payload),
            _ => None,
        }
    }

    /// Reads a message from a decoded value (the wire list), checking its structure.
    pub fn from_value(value: Value) -> Result<Message, MessageError> {
        decode::message_from_value(value)
    }

    /// The message as a [`Value`] list, as it goes on the wire.
    pub fn to_value(&self) -> Value {
        // Serializing our own types into a Value cannot fail.
        Value::from_serialize(self).unwrap_or_default()
    }
}

/// The name of a message code.
pub fn name_of(code: u64) -> Option<&'static str> {
    Some(match code {
        code::HELLO => "HELLO",
        code::WELCOME => "WELCOME",
        code::ABORT => "ABORT",
        code::CHALLENGE => "CHALLENGE",
        code::AUTHENTICATE => "AUTHENTICATE",
        code::GOODBYE => "GOODBYE",
        code::ERROR => "ERROR",
        code::PUBLISH => "PUBLISH",
        code::PUBLISHED => "PUBLISHED",
        code::SUBSCRIBE => "SUBSCRIBE",
        code::SUBSCRIBED => "SUBSCRIBED",
        code::UNSUBSCRIBE => "UNSUBSCRIBE",
        code::UNSUBSCRIBED => "UNSUBSCRIBED",
        code::EVENT => "EVENT",
        code::CALL => "CALL",
        code::CANCEL => "CANCEL",
        code::RESULT => "RESULT",
        code::REGISTER => "REGISTER",
        code::REGISTERED => "REGISTERED",
        code::UNREGISTER => "UNREGISTER",
        code::UNREGISTERED => "UNREGISTERED",
        code::INVOCATION => "INVOCATION",
        code::INTERRUPT => "INTERRUPT",
        code::YIELD => "YIELD",
        code::EVENT_RECEIVED => "EVENT_RECEIVED",
        _ => return None,
    })
}

/// Why a decoded value is not a valid WAMP message.
///
/// Each variant says where the problem is (message and element) and what was expected, so
/// the text can go straight into the `message` of an ABORT `wamp.error.protocol_violation`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// The message is not a list.
    #[error("a WAMP message must be a list, found {found}")]
    NotAList {
        /// The kind of value found.
        found: &'static str,
    },
    /// The list is empty.
    #[error("a WAMP message must not be an empty list")]
    Empty,
    /// Element 0 is not an integer.
    #[error("the message type (element 0) must be an integer, found {found}")]
    TypeNotInteger {
        /// The kind of value found.
        found: &'static str,
    },
    /// The message type is not one we know.
    #[error("unknown message type {0}")]
    UnknownType(u64),
    /// The message has the wrong number of elements.
    #[error("{message} must have {expected} elements, found {found}")]
    WrongArity {
        /// The message name.
        message: &'static str,
        /// The allowed element counts, e.g. `"4 to 6"`.
        expected: &'static str,
        /// The count found.
        found: usize,
    },
    /// An element has the wrong type.
    #[error("{message}.{element} must be {expected}, found {found}")]
    WrongElementType {
        /// The message name.
        message: &'static str,
        /// The element name, e.g. `Options`.
        element: &'static str,
        /// What was expected.
        expected: &'static str,
        /// The kind of value found.
        found: &'static str,
    },
    /// An ID element is outside `[1, 2^53]`.
    #[error("{message}.{element} must be an ID in [1, 2^53], found {value}")]
    IdOutOfRange {
        /// The message name.
        message: &'static str,
        /// The element name.
        element: &'static str,
        /// The value found.
        value: String,
    },
    /// A URI element is invalid where the message allows no other reply than ABORT.
    #[error("{message}.{element}: {source}")]
    InvalidUri {
        /// The message name.
        message: &'static str,
        /// The element name.
        element: &'static str,
        /// What is wrong with the URI.
        source: UriError,
    },
    /// A known option or detail key has a value of the wrong type.
    #[error("{message}.{element}.{key}: {problem}")]
    InvalidOption {
        /// The message name.
        message: &'static str,
        /// The element name (`Options`, `Details`, `Extra`).
        element: &'static str,
        /// The key.
        key: String,
        /// What was wrong.
        problem: String,
    },
    /// ERROR names a request type that ERROR cannot answer.
    #[error("ERROR.REQUEST.Type must be one of 16, 32, 34, 48, 64, 66, 68, found {0}")]
    InvalidRequestType(u64),
}

/// Builder methods shared by messages that carry a payload.
macro_rules! payload_builders {
    ($($t:ty),*) => {$(
        impl $t {
            /// Sets the positional arguments.
            pub fn with_args(mut self, args: Vec<Value>) -> Self {
                *self.payload.args_mut().0 = args;
                self
            }

            /// Sets the keyword arguments.
            pub fn with_kwargs(mut self, kwargs: Dict) -> Self {
                *self.payload.args_mut().1 = kwargs;
                self
            }

            /// Sets the whole payload.
            pub fn with_payload(mut self, payload: Payload) -> Self {
                self.payload = payload;
                self
            }
        }
    )*};
}
payload_builders!(Abort, Error, Publish, Event, Call, CallResult, Invocation, Yield);

impl Hello {
    /// A HELLO for `realm` announcing `roles`.
    pub fn new(realm: Uri, roles: ClientRoles) -> Hello {
        Hello {
            realm,
            details: HelloDetails {
                roles: Some(roles),
                ..Default::default()
            },
        }
    }
}

impl Welcome {
    /// A WELCOME for `session` announcing `roles`.
    pub fn new(session: SessionId, roles: RouterRoles) -> Welcome {
        Welcome {
            session,
            details: WelcomeDetails {
                roles: Some(roles),
                ..Default::default()
            },
        }
    }
}

impl Abort {
    /// An ABORT with `reason` and a human-readable `message`.
    pub fn new(reason: impl Into<String>, message: impl Into<String>) -> Abort {
        Abort {
            details: AbortDetails {
                message: Some(message.into()),
                ..Default::default()
            },
            reason: Uri::new_unchecked(reason),
            payload: Payload::default(),
        }
    }
}

impl Goodbye {
    /// A GOODBYE with `reason`.
    pub fn new(reason: impl Into<String>) -> Goodbye {
        Goodbye {
            details: GoodbyeDetails::default(),
            reason: Uri::new_unchecked(reason),
        }
    }
}

impl Error {
    /// An ERROR answering `request` of kind `request_type` with the error URI `error`.
    pub fn new(request_type: RequestType, request: RequestId, error: impl Into<String>) -> Error {
        Error {
            request_type,
            request,
            details: ErrorDetails::default(),
            error: Uri::new_unchecked(error),
            payload: Payload::default(),
        }
    }
}

impl Publish {
    /// A PUBLISH to `topic` with no options and no payload.
    pub fn new(request: RequestId, topic: Uri) -> Publish {
        Publish {
            request,
            options: PublishOptions::default(),
            topic,
            payload: Payload::default(),
        }
    }

    /// Sets the options.
    pub fn with_options(mut self, options: PublishOptions) -> Self {
        self.options = options;
        self
    }
}

impl Subscribe {
    /// A SUBSCRIBE to `topic` with no options.
    pub fn new(request: RequestId, topic: Uri) -> Subscribe {
        Subscribe {
            request,
            options: SubscribeOptions::default(),
            topic,
        }
    }
}

impl Event {
    /// An EVENT with no details and no payload.
    pub fn new(subscription: SubscriptionId, publication: PublicationId) -> Event {
        Event {
            subscription,
            publication,
            details: EventDetails::default(),
            payload: Payload::default(),
        }
    }
}

impl Call {
    /// A CALL of `procedure` with no options and no arguments.
    pub fn new(request: RequestId, procedure: Uri) -> Call {
        Call {
            request,
            options: CallOptions::default(),
            procedure,
            payload: Payload::default(),
        }
    }

    /// Sets the options.
    pub fn with_options(mut self, options: CallOptions) -> Self {
        self.options = options;
        self
    }
}

impl CallResult {
    /// A RESULT for `request` with no details and no payload.
    pub fn new(request: RequestId) -> CallResult {
        CallResult {
            request,
            details: ResultDetails::default(),
            payload: Payload::default(),
        }
    }
}

impl Register {
    /// A REGISTER of `procedure` with no options.
    pub fn new(request: RequestId, procedure: Uri) -> Register {
        Register {
            request,
            options: RegisterOptions::default(),
            procedure,
        }
    }
}

impl Invocation {
    /// An INVOCATION with no details and no payload.
    pub fn new(request: RequestId, registration: RegistrationId) -> Invocation {
        Invocation {
            request,
            registration,
            details: InvocationDetails::default(),
            payload: Payload::default(),
        }
    }
}

impl Yield {
    /// A YIELD for `request` with no options and no payload.
    pub fn new(request: RequestId) -> Yield {
        Yield {
            request,
            options: YieldOptions::default(),
            payload: Payload::default(),
        }
    }
}

macro_rules! into_message {
    ($($t:ident => $v:ident),*) => {$(
        impl From<$t> for Message {
            fn from(m: $t) -> Message { Message::$v(m) }
        }
    )*};
}
impl From<Hello> for Message {
    fn from(m: Hello) -> Message {
        Message::Hello(Box::new(m))
    }
}

impl From<Welcome> for Message {
    fn from(m: Welcome) -> Message {
        Message::Welcome(Box::new(m))
    }
}

into_message!(
    Abort => Abort, Challenge => Challenge,
    Authenticate => Authenticate, Goodbye => Goodbye, Error => Error, Publish => Publish,
    Published => Published, Subscribe => Subscribe, Subscribed => Subscribed,
    Unsubscribe => Unsubscribe, Unsubscribed => Unsubscribed, Event => Event, Call => Call,
    Cancel => Cancel, CallResult => Result, Register => Register, Registered => Registered,
    Unregister => Unregister, Unregistered => Unregistered, Invocation => Invocation,
    Interrupt => Interrupt, Yield => Yield, EventReceived => EventReceived
);
