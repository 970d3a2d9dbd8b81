//! The two kinds of failure: the router broke the protocol ([`ProtocolError`]), or the
//! application used the session wrongly ([`UsageError`]).

use crate::id::{RegistrationId, RequestId, SubscriptionId};
use crate::serializer::DecodeError;
use crate::uri::UriError;

use super::SessionState;

/// What the router did wrong.
///
/// When [`Session::handle_message`](super::Session::handle_message) returns one of these (or
/// [`Session::handle_decode_error`](super::Session::handle_decode_error) meets a bad frame),
/// the session has already queued ABORT `wamp.error.protocol_violation` with this error's
/// text as `Details.message`, emitted
/// [`SessionEvent::ProtocolViolation`](super::SessionEvent::ProtocolViolation) and closed. The
/// driver should send the ABORT and then close the transport.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The router sent a message only a client sends (HELLO, AUTHENTICATE, PUBLISH,
    /// SUBSCRIBE, UNSUBSCRIBE, CALL, CANCEL, REGISTER, UNREGISTER, YIELD, EVENT_RECEIVED).
    #[error("the router sent {message}, which only a client sends")]
    ClientOnlyMessage {
        /// The message name.
        message: &'static str,
    },
    /// The message is one a router sends, but not in this state (for example RESULT before
    /// WELCOME, or WELCOME twice).
    #[error("the router sent {message} while the session was {state}")]
    UnexpectedMessage {
        /// The message name.
        message: &'static str,
        /// The session's state when it arrived.
        state: SessionState,
    },
    /// A CHALLENGE for an authentication method the session did not offer in
    /// `HELLO.Details.authmethods`.
    #[error("the router sent CHALLENGE for authentication method {method:?}, which the session did not offer (it offered {offered:?})")]
    ChallengeMethodNotOffered {
        /// The method challenged.
        method: String,
        /// The methods offered in HELLO.
        offered: Vec<String>,
    },
    /// A reply (or ERROR) for a request ID that is not outstanding: never sent, already
    /// answered, or a PUBLISH sent without `acknowledge`.
    #[error("the router sent {message} for request {request}, which is not outstanding")]
    UnknownRequest {
        /// The message name.
        message: &'static str,
        /// The request ID it named.
        request: RequestId,
    },
    /// A reply whose kind does not fit the outstanding request with that ID (for example
    /// SUBSCRIBED for a CALL).
    #[error("the router sent {message} for request {request}, which is a {outstanding}")]
    MismatchedReply {
        /// The message name.
        message: &'static str,
        /// The request ID.
        request: RequestId,
        /// The kind of request outstanding under that ID, e.g. `CALL`.
        outstanding: &'static str,
    },
    /// An ERROR whose `REQUEST.Type` does not fit the outstanding request with that ID.
    #[error("the router sent ERROR with REQUEST.Type {request_type} for request {request}, which is a {outstanding}")]
    MismatchedError {
        /// The request type the ERROR named, e.g. `SUBSCRIBE`.
        request_type: &'static str,
        /// The request ID.
        request: RequestId,
        /// The kind of request outstanding under that ID.
        outstanding: &'static str,
    },
    /// An ERROR with `REQUEST.Type` INVOCATION: only a callee answers an INVOCATION.
    #[error("the router sent ERROR with REQUEST.Type INVOCATION (request {request}), which only a callee sends")]
    ErrorForInvocation {
        /// The request ID.
        request: RequestId,
    },
    /// A progressive RESULT (`Details.progress`) for a call that did not set
    /// `receive_progress`.
    #[error("the router sent a progressive RESULT for call {request}, which did not ask for progressive results")]
    UnrequestedProgress {
        /// The CALL request.
        request: RequestId,
    },
    /// An EVENT for a subscription the session does not hold.
    #[error(
        "the router sent EVENT for subscription {subscription}, which the session does not hold"
    )]
    UnknownSubscription {
        /// The subscription ID.
        subscription: SubscriptionId,
    },
    /// An INVOCATION for a registration the session does not hold.
    #[error("the router sent INVOCATION for registration {registration}, which the session does not hold")]
    UnknownRegistration {
        /// The registration ID.
        registration: RegistrationId,
    },
    /// An INVOCATION reusing the request ID of an invocation not answered yet.
    #[error("the router sent INVOCATION with request {request}, the ID of an invocation the session has not answered yet")]
    DuplicateInvocation {
        /// The request ID.
        request: RequestId,
    },
    /// A progressive INVOCATION (`Details.progress`) although the callee role did not
    /// announce `progressive_call_invocations`.
    #[error("the router sent a progressive INVOCATION (request {request}), but the callee role did not announce progressive_call_invocations")]
    ProgressiveInvocation {
        /// The request ID.
        request: RequestId,
    },
    /// A continuation chunk of a progressive invocation that names another registration
    /// than the invocation's first chunk.
    #[error("the router sent a continuation of invocation {request} for registration {registration}, but the invocation's first chunk was for registration {expected}")]
    ContinuationRegistrationMismatch {
        /// The INVOCATION request ID.
        request: RequestId,
        /// The registration the continuation named.
        registration: RegistrationId,
        /// The registration of the first chunk.
        expected: RegistrationId,
    },
    /// The revocation form of UNSUBSCRIBED or UNREGISTERED (request 0) without the ID of
    /// what it revokes.
    #[error("the router sent {message} with request 0 (a revocation) but without Details.{key}")]
    RevocationWithoutId {
        /// The message name.
        message: &'static str,
        /// The missing key (`subscription` or `registration`).
        key: &'static str,
    },
    /// The transport could not decode a frame from the router.
    #[error("the router sent a message that could not be decoded: {0}")]
    Undecodable(#[source] DecodeError),
}

/// How the application used the session wrongly. The call that returned it changed nothing:
/// no message was queued and no state changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsageError {
    /// [`Session::join`](super::Session::join) while a session is open or opening.
    #[error("cannot join: the session is {state}; join only a closed session (leave() or abort() the current one first)")]
    NotClosed {
        /// The current state.
        state: SessionState,
    },
    /// [`Session::join`](super::Session::join) with a configuration that announces no role.
    #[error("cannot join: SessionConfig::roles announces no role; announce at least one of publisher, subscriber, caller, callee")]
    NoRoles,
    /// An action that needs an established session.
    #[error("cannot {action}: the session is {state}, not established; join() and wait for SessionEvent::Joined")]
    NotEstablished {
        /// What was attempted, e.g. `call`.
        action: &'static str,
        /// The current state.
        state: SessionState,
    },
    /// [`Session::authenticate`](super::Session::authenticate) without an unanswered
    /// CHALLENGE.
    #[error("cannot authenticate: no CHALLENGE is waiting for an answer (the session is {state}); answer only a SessionEvent::Challenge, once")]
    NoPendingChallenge {
        /// The current state.
        state: SessionState,
    },
    /// [`Session::join`](super::Session::join) with credentials set: they need fresh random
    /// bytes (the cryptosign router challenge, the SCRAM nonce).
    #[error("cannot join: the session has credentials, whose HELLO needs fresh random bytes; use join_with_random() with bytes from the operating system")]
    RandomRequired,
    /// The credentials cannot make a HELLO (for example ticket, WAMP-CRA or SCRAM without an
    /// authid, or an authid that is not valid SASLprep input).
    #[error("cannot join: {0}")]
    Credentials(#[source] crate::auth::AuthError),
    /// The message is larger than the router accepts (see
    /// [`Session::set_send_limit`](super::Session::set_send_limit)); it was not sent.
    #[error("cannot send {message}: it is {size} bytes and the router accepts at most {limit}; send less per message (progressive call invocations and progressive results split a large payload)")]
    PayloadTooLarge {
        /// The message, e.g. `CALL`.
        message: &'static str,
        /// Its size on the wire, in bytes.
        size: usize,
        /// The largest message the router accepts.
        limit: usize,
    },
    /// [`Session::abort`](super::Session::abort) with no session open or opening.
    #[error("cannot abort: the session is already closed")]
    AlreadyClosed,
    /// A reason given for GOODBYE or ABORT is not a valid URI.
    #[error("the reason {reason:?} is not a valid URI ({source}); use for example \"wamp.close.normal\"")]
    InvalidReason {
        /// The reason given.
        reason: String,
        /// What is wrong with it.
        #[source]
        source: UriError,
    },
    /// The action needs a role the session did not announce in HELLO.
    #[error("cannot {action}: the session did not announce the {role} role in HELLO; add it to SessionConfig::roles")]
    RoleNotAnnounced {
        /// What was attempted.
        action: &'static str,
        /// The role, e.g. `caller`.
        role: &'static str,
    },
    /// The action needs a feature the session did not announce in HELLO.
    #[error("cannot {action}: the {role} role did not announce the {feature} feature in HELLO; add it to SessionConfig::roles")]
    FeatureNotAnnounced {
        /// What was attempted.
        action: &'static str,
        /// The role.
        role: &'static str,
        /// The feature, e.g. `call_canceling`.
        feature: &'static str,
    },
    /// The action needs a feature the router did not announce for its role in WELCOME
    /// (using it anyway would be a protocol violation).
    #[error("cannot {action}: the router did not announce the {feature} feature for its {role} role in WELCOME; this router cannot do it")]
    RouterFeatureMissing {
        /// What was attempted.
        action: &'static str,
        /// The router role, `dealer` or `broker`.
        role: &'static str,
        /// The feature, e.g. `progressive_call_invocations`.
        feature: &'static str,
    },
    /// [`Session::call`](super::Session::call) with `CallOptions::runmode` `partition`
    /// (sharded registration) but no `rkey`.
    #[error("cannot call with CallOptions::runmode \"partition\" but no rkey: a partitioned call needs CallOptions::rkey, the key that picks the shard")]
    PartitionWithoutRkey,
    /// A payload passthru message (`ppt_scheme` set) whose payload is not exactly one
    /// binary argument.
    #[error("cannot {action} with ppt_scheme set: a payload passthru payload must be exactly one binary argument (Value::Bytes) and no keyword arguments; serialize {{args, kwargs}} with ppt_serializer (and encrypt it) first")]
    PassthruPayloadShape {
        /// What was attempted.
        action: &'static str,
    },
    /// [`Session::continue_call`](super::Session::continue_call) or
    /// [`Session::finish_call`](super::Session::finish_call) for a call that is not
    /// outstanding.
    #[error("cannot send a chunk of call {request}: no such call is outstanding (it was never made, or its final RESULT or ERROR arrived: the callee may answer before the last chunk)")]
    CallNotOutstanding {
        /// The CALL request.
        request: RequestId,
    },
    /// [`Session::continue_call`](super::Session::continue_call) or
    /// [`Session::finish_call`](super::Session::finish_call) for a call whose last chunk
    /// was already sent, or that was not started with `CallOptions::progress`.
    #[error("cannot send a chunk of call {request}: its last chunk was already sent (or it was not started with CallOptions::progress); start a new call")]
    CallInputFinished {
        /// The CALL request.
        request: RequestId,
    },
    /// [`Session::continue_call`](super::Session::continue_call) or
    /// [`Session::finish_call`](super::Session::finish_call) for a call that was canceled.
    #[error(
        "cannot send a chunk of call {request}: it was canceled; wait for its RESULT or ERROR"
    )]
    CallCanceled {
        /// The CALL request.
        request: RequestId,
    },
    /// [`Session::cancel`](super::Session::cancel) of a call that is not outstanding.
    #[error("cannot cancel call {request}: no such call is outstanding (it was never made, or its final RESULT or ERROR arrived)")]
    UnknownCall {
        /// The CALL request.
        request: RequestId,
    },
    /// [`Session::cancel`](super::Session::cancel) of a call already canceled.
    #[error("cannot cancel call {request}: it was already canceled; wait for its RESULT or ERROR")]
    AlreadyCanceled {
        /// The CALL request.
        request: RequestId,
    },
    /// [`Session::unsubscribe`](super::Session::unsubscribe) of a subscription the session
    /// does not hold.
    #[error("cannot unsubscribe from subscription {subscription}: the session does not hold it (use the ID from SessionEvent::Subscribed)")]
    UnknownSubscription {
        /// The subscription ID.
        subscription: SubscriptionId,
    },
    /// [`Session::unsubscribe`](super::Session::unsubscribe) while an UNSUBSCRIBE for the
    /// same subscription is outstanding.
    #[error("cannot unsubscribe from subscription {subscription}: UNSUBSCRIBE request {request} for it is already outstanding")]
    AlreadyUnsubscribing {
        /// The subscription ID.
        subscription: SubscriptionId,
        /// The outstanding UNSUBSCRIBE request.
        request: RequestId,
    },
    /// [`Session::unregister`](super::Session::unregister) of a registration the session does
    /// not hold.
    #[error("cannot unregister registration {registration}: the session does not hold it (use the ID from SessionEvent::Registered)")]
    UnknownRegistration {
        /// The registration ID.
        registration: RegistrationId,
    },
    /// [`Session::unregister`](super::Session::unregister) while an UNREGISTER for the same
    /// registration is outstanding.
    #[error("cannot unregister registration {registration}: UNREGISTER request {request} for it is already outstanding")]
    AlreadyUnregistering {
        /// The registration ID.
        registration: RegistrationId,
        /// The outstanding UNREGISTER request.
        request: RequestId,
    },
    /// A YIELD or ERROR for an invocation that is not waiting for an answer.
    #[error("cannot answer invocation {request}: no such invocation is waiting for an answer (it was never received, or was already answered)")]
    UnknownInvocation {
        /// The INVOCATION request.
        request: RequestId,
    },
    /// A progressive YIELD for an invocation whose caller did not ask for progressive
    /// results.
    #[error("cannot yield a progressive result to invocation {request}: its INVOCATION.Details.receive_progress is not true; send one final result instead")]
    ProgressNotRequested {
        /// The INVOCATION request.
        request: RequestId,
    },
}
