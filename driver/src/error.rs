//! Errors of the async API.

use std::fmt;
use std::time::Duration;

use nexus_core::message::ErrorDetails;
use nexus_core::{Dict, Uri, Value};

/// An error answered by a WAMP peer: an error URI with arguments, as the router or the callee
/// sent it. Handlers return it to answer an invocation with ERROR.
///
/// ```
/// use nexus_driver::WampError;
/// let e = WampError::new("com.example.error.not_found").with_args(vec!["no such user".into()]);
/// assert_eq!(e.to_string(), "com.example.error.not_found: [\"no such user\"]");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct WampError {
    /// The error URI.
    pub error: Uri,
    /// Positional arguments.
    pub args: Vec<Value>,
    /// Keyword arguments.
    pub kwargs: Dict,
    /// The ERROR's details.
    pub details: ErrorDetails,
}

impl WampError {
    /// An error with URI `error` and no arguments.
    pub fn new(error: impl Into<String>) -> Self {
        WampError {
            error: Uri::new_unchecked(error),
            args: Vec::new(),
            kwargs: Dict::new(),
            details: ErrorDetails::default(),
        }
    }

    /// Sets the positional arguments.
    pub fn with_args(mut self, args: Vec<Value>) -> Self {
        self.args = args;
        self
    }

    /// Sets the keyword arguments.
    pub fn with_kwargs(mut self, kwargs: Dict) -> Self {
        self.kwargs = kwargs;
        self
    }
}

impl fmt::Display for WampError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.error)?;
        if !self.args.is_empty() {
            write!(f, ": {}", Value::List(self.args.clone()))?;
        }
        if !self.kwargs.is_empty() {
            write!(f, " {}", Value::Dict(self.kwargs.clone()))?;
        }
        Ok(())
    }
}

impl std::error::Error for WampError {}

/// What can go wrong with a client, a router host or a request, by cause.
///
/// Each variant says what was wrong and carries the details as fields; its message says
/// what was expected. More variants may come, so a `match` needs a `_` arm.
///
/// ```
/// use nexus_driver::Error;
///
/// let e = Error::Config { what: "ClientConfig::serializers", problem: "it is empty".into() };
/// assert_eq!(e.to_string(), "invalid configuration of ClientConfig::serializers: it is empty");
/// let advice = match &e {
///     Error::Config { what, .. } => format!("fix {what}"),
///     Error::Wamp(e) => format!("the peer said {}", e.error),
///     _ => e.to_string(),
/// };
/// assert_eq!(advice, "fix ClientConfig::serializers");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The peer answered with a WAMP error (an application error from a callee, or a
    /// router error such as `wamp.error.no_such_procedure`).
    #[error("{0}")]
    Wamp(Box<WampError>),
    /// The URL is not one nexus can connect to or listen on.
    #[error("invalid URL: {0}")]
    Url(#[source] nexus_transports::EndpointError),
    /// A setting cannot work as given.
    #[error("invalid configuration of {what}: {problem}")]
    Config {
        /// The setting, e.g. `ClientConfig::serializers`.
        what: &'static str,
        /// What is wrong with it, and what would work.
        problem: String,
    },
    /// Connecting failed (the address, or the TLS handshake).
    #[error("cannot connect to {url}: {source}; check that a router listens there and that the URL's scheme, host and port are right")]
    Connect {
        /// The URL.
        url: String,
        /// What failed (an I/O or TLS error).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Listening failed.
    #[error("cannot listen on {url}: {source}")]
    Listen {
        /// The URL.
        url: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The transport failed (I/O, TLS, WebSocket or RawSocket).
    #[error("transport: {0}")]
    Transport(#[from] nexus_transports::TransportError),
    /// A message could not be encoded for the peer.
    #[error("cannot encode a message: {0}")]
    Encode(#[from] nexus_core::EncodeError),
    /// A message from the peer could not be decoded.
    #[error("a message from the peer does not decode: {0}")]
    Decode(#[from] nexus_core::DecodeError),
    /// The router refused or ended the session with ABORT.
    #[error("the router aborted the session: {reason}{}", message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default())]
    Aborted {
        /// The ABORT reason.
        reason: Uri,
        /// The ABORT's message, if any.
        message: Option<String>,
    },
    /// Authentication failed on the client's side: the router's CHALLENGE could not be
    /// answered (malformed, unexpected method, weak SCRAM parameters...) or the router did
    /// not prove its identity (SCRAM server signature, cryptosign router key). The client
    /// aborted the session with `wamp.error.authentication_failed`. (A router refusing the
    /// client's credentials is [`Error::Aborted`].)
    #[error("authentication: {0}")]
    Authentication(#[from] nexus_core::auth::AuthError),
    /// The router broke the WAMP protocol; the client aborted the session with
    /// `wamp.error.protocol_violation`.
    #[error("the router broke the protocol: {0}")]
    Protocol(#[from] nexus_core::session::ProtocolError),
    /// The operating system gave no random bytes (authentication needs them).
    #[error("the operating system gave no random bytes for authentication: {reason}")]
    Random {
        /// What the operating system said.
        reason: String,
    },
    /// The session is closed (or closed while the request was outstanding).
    #[error("the session is closed")]
    Closed,
    /// The session ended while the request was outstanding, for `cause`.
    #[error("the session ended while the request was outstanding: {cause}")]
    SessionEnded {
        /// Why the session ended.
        #[source]
        cause: std::sync::Arc<Error>,
    },
    /// The connection to the router was lost while the request was outstanding, for
    /// `cause`. The request's outcome is unknown (a call may or may not have run). With a
    /// [`reconnect`](crate::ClientConfig::reconnect) policy the client is reconnecting.
    #[error("the connection to the router was lost while the request was outstanding: {cause}")]
    ConnectionLost {
        /// Why the connection ended.
        #[source]
        cause: std::sync::Arc<Error>,
    },
    /// The client is disconnected (reconnecting), and the request could not wait for the
    /// next session: [`ClientConfig::wait_for_connection`](crate::ClientConfig::wait_for_connection)
    /// is zero, or it passed.
    #[error("the client is not connected to the router (it is reconnecting); waited {waited:?}, as ClientConfig::wait_for_connection allows")]
    NotConnected {
        /// How long the request waited.
        waited: Duration,
    },
    /// The router revoked the subscription or registration.
    #[error("the router revoked it{}", reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default())]
    Revoked {
        /// Why, if the router said.
        reason: Option<String>,
    },
    /// The application read too slowly and a bounded queue of the client filled up:
    /// `what` holds at most `capacity` items. The call was canceled.
    #[error("the application read too slowly: {what} hold at most {capacity} waiting items; the call was canceled")]
    Overflow {
        /// The queue.
        what: &'static str,
        /// Its capacity.
        capacity: usize,
    },
    /// A deadline passed.
    #[error("timed out after {after:?}: {what}")]
    Timeout {
        /// What took too long, and the setting that bounds it.
        what: &'static str,
        /// The deadline.
        after: Duration,
    },
    /// A [`CallSender`](crate::CallSender) could not send a chunk: the call has ended.
    #[error("cannot send a chunk: the call has ended (the callee answered, it was canceled, or it never started); await the call's future or stream for its outcome")]
    CallEnded,
    /// A [`Progress`](crate::Progress) handle could not send a progressive result: the
    /// invocation is over.
    #[error("cannot send a progressive result for invocation {request}: it is finished (its handler returned, was interrupted or timed out, or the session ended)")]
    InvocationFinished {
        /// The INVOCATION request ID.
        request: nexus_core::RequestId,
    },
    /// The request is not allowed in the session's state (for example an unsupported
    /// option).
    #[error(transparent)]
    Usage(#[from] nexus_core::session::UsageError),
    /// A payload is not of the type asked for, or a value cannot be an argument (the error
    /// says where, and what was expected).
    #[error("payload: {0}")]
    Payload(#[from] nexus_core::typed::PayloadError),
    /// A subscription's events were missed (from a [`Subscription`](crate::Subscription)
    /// stream's [`SubscriptionError::Missed`](crate::SubscriptionError::Missed) item, through
    /// `?`).
    #[error("{0}")]
    Missed(crate::Missed),
    /// A URI given to the API is invalid.
    #[error(transparent)]
    Uri(#[from] nexus_core::UriError),
}

impl Error {
    /// Listening on `url` failed.
    pub(crate) fn listen(url: &str, source: std::io::Error) -> Error {
        Error::Listen {
            url: url.to_owned(),
            source,
        }
    }

    /// A copy for another receiver: the variants that can be copied are; the others become
    /// [`Error::SessionEnded`] with the original as its cause.
    pub(crate) fn duplicate(self: &std::sync::Arc<Error>) -> Error {
        match &**self {
            Error::Aborted { reason, message } => Error::Aborted {
                reason: reason.clone(),
                message: message.clone(),
            },
            Error::Closed => Error::Closed,
            Error::Protocol(e) => Error::Protocol(e.clone()),
            Error::Authentication(e) => Error::Authentication(e.clone()),
            Error::Wamp(e) => Error::Wamp(e.clone()),
            Error::Timeout { what, after } => Error::Timeout {
                what,
                after: *after,
            },
            Error::NotConnected { waited } => Error::NotConnected { waited: *waited },
            Error::Overflow { what, capacity } => Error::Overflow {
                what,
                capacity: *capacity,
            },
            Error::Revoked { reason } => Error::Revoked {
                reason: reason.clone(),
            },
            Error::Missed(m) => Error::Missed(m.clone()),
            Error::Payload(e) => Error::Payload(e.clone()),
            Error::ConnectionLost { cause } => Error::ConnectionLost {
                cause: cause.clone(),
            },
            _ => Error::SessionEnded {
                cause: self.clone(),
            },
        }
    }

    /// The WAMP error, if the peer answered with one.
    pub fn wamp(&self) -> Option<&WampError> {
        match self {
            Error::Wamp(e) => Some(e),
            _ => None,
        }
    }
}

/// Lets a handler use `?` on the client's own errors (for example on
/// [`Invocation::progress`](crate::Invocation::progress)): a WAMP error stays itself; an
/// invocation that is over becomes `wamp.error.canceled`; anything else becomes
/// `wamp.error.runtime_error` (the URI Autobahn uses for a failing handler) with the error's
/// text as its argument.
///
/// ```
/// use nexus_driver::{Error, WampError};
/// let e = WampError::from(Error::Closed);
/// assert_eq!(e.error.as_str(), "wamp.error.canceled");
/// ```
impl From<Error> for WampError {
    fn from(e: Error) -> WampError {
        let uri = match e {
            Error::Wamp(e) => return *e,
            Error::InvocationFinished { .. } | Error::Closed => nexus_core::uri::error::CANCELED,
            _ => "wamp.error.runtime_error",
        };
        WampError::new(uri).with_args(vec![Value::from(e.to_string())])
    }
}

/// Lets a handler use `?` on typed reads of its arguments: a payload of the wrong type is
/// answered with `wamp.error.invalid_argument` and the reason.
///
/// ```
/// use nexus_driver::WampError;
/// let bad = nexus_driver::nexus_core::typed::from_args::<(i64,)>(vec!["x".into()]).unwrap_err();
/// let e = WampError::from(bad);
/// assert_eq!(e.error.as_str(), "wamp.error.invalid_argument");
/// assert_eq!(e.args[0].as_str(), Some("argument 0: invalid type: string \"x\", expected i64"));
/// ```
impl From<nexus_core::typed::PayloadError> for WampError {
    fn from(e: nexus_core::typed::PayloadError) -> WampError {
        WampError::new(nexus_core::uri::error::INVALID_ARGUMENT)
            .with_args(vec![Value::from(e.to_string())])
    }
}

/// Lets a reader of a [`Subscription`](crate::Subscription) use `?` on its items: the reason
/// a subscription ended is the error itself; a gap is [`Error::Missed`].
impl From<crate::SubscriptionError> for Error {
    fn from(e: crate::SubscriptionError) -> Error {
        match e {
            crate::SubscriptionError::Ended(e) => e,
            crate::SubscriptionError::Missed(m) => Error::Missed(m),
        }
    }
}

impl From<WampError> for Error {
    fn from(e: WampError) -> Self {
        Error::Wamp(Box::new(e))
    }
}
