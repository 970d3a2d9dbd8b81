//! What the session reports to the application, and the states it goes through.

use std::fmt;

use crate::auth::AuthError;
use crate::id::{PublicationId, RegistrationId, RequestId, SessionId, SubscriptionId};
use crate::message::{
    AbortDetails, Challenge, ErrorDetails, EventDetails, GoodbyeDetails, InterruptOptions,
    InvocationDetails, ResultDetails, WelcomeDetails,
};
use crate::uri::Uri;
use crate::Payload;

use super::ProtocolError;

/// Where a [`Session`](super::Session) is in its life cycle.
///
/// ```text
/// Closed ──join()──► Establishing ──WELCOME──► Established ──leave()──► ShuttingDown
///                      │       ▲                                             │
///            CHALLENGE │       │ authenticate()                 GOODBYE reply │
///                      ▼       │                                             ▼
///                      Challenged                                          Closed
/// ```
///
/// Every state but `Closed` also goes to `Closed` on ABORT from the router, a protocol
/// violation, [`Session::abort`](super::Session::abort) or a closed transport; `Established`
/// goes to `Closed` when the router sends GOODBYE (the session answers it at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionState {
    /// No session: never joined, or the last one ended. [`Session::join`](super::Session::join)
    /// starts one.
    Closed,
    /// HELLO (or an AUTHENTICATE) was sent; waiting for the router's WELCOME, CHALLENGE or
    /// ABORT.
    Establishing,
    /// The router sent a CHALLENGE; waiting for the application to answer it with
    /// [`Session::authenticate`](super::Session::authenticate) (or to give up with
    /// [`Session::abort`](super::Session::abort)).
    Challenged,
    /// The router sent WELCOME: the session is open for calls, publications, subscriptions
    /// and registrations.
    Established,
    /// We sent GOODBYE and wait for the router's reply; everything else the router sends is
    /// ignored.
    ShuttingDown,
}

impl SessionState {
    /// The state as a short lower-case phrase, as used in error messages.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionState::Closed => "closed",
            SessionState::Establishing => "establishing",
            SessionState::Challenged => "challenged (waiting for authenticate)",
            SessionState::Established => "established",
            SessionState::ShuttingDown => "shutting down (GOODBYE sent)",
        }
    }
}

impl fmt::Display for SessionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something the application needs to know, from [`Session::poll_event`](super::Session::poll_event).
///
/// # Terminal events
///
/// [`Left`](SessionEvent::Left), [`Aborted`](SessionEvent::Aborted),
/// [`ProtocolViolation`](SessionEvent::ProtocolViolation),
/// [`AuthenticationFailed`](SessionEvent::AuthenticationFailed) and
/// [`TransportClosed`](SessionEvent::TransportClosed) end the session. Each of them implies
/// that **every request still outstanding failed** (calls, acknowledged publications,
/// subscribe, unsubscribe, register and unregister requests): no further event will name
/// them, and every subscription, registration and unanswered invocation is gone.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SessionEvent {
    /// The router sent WELCOME: the session is established.
    Joined {
        /// The session ID the router assigned.
        session: SessionId,
        /// The router's roles, features, agent and authentication outcome (boxed: it is
        /// large and arrives once per session).
        details: Box<WelcomeDetails>,
    },
    /// The router asks the client to authenticate; answer with
    /// [`Session::authenticate`](super::Session::authenticate), or give up with
    /// [`Session::abort`](super::Session::abort).
    Challenge(Challenge),
    /// The router sent ABORT: it refused the session or ended it. Terminal.
    Aborted {
        /// Why (for example `wamp.error.no_such_realm`).
        reason: Uri,
        /// Details (a human-readable `message`).
        details: AbortDetails,
        /// Optional arguments.
        payload: Payload,
    },
    /// The GOODBYE handshake completed. Terminal.
    Left {
        /// The reason in the router's GOODBYE: its own reason when it initiated, or its
        /// reply (conventionally `wamp.close.goodbye_and_out`) to ours.
        reason: Uri,
        /// The details of the router's GOODBYE.
        details: GoodbyeDetails,
        /// Whether the router initiated the close (the session already answered it); `false`
        /// when this answers our [`Session::leave`](super::Session::leave).
        router_initiated: bool,
    },
    /// The final RESULT of a call, or, when `details.progress == Some(true)`, a progressive
    /// result after which the call stays outstanding.
    Result {
        /// The CALL request.
        request: RequestId,
        /// Details (`progress`).
        details: ResultDetails,
        /// The result.
        payload: Payload,
    },
    /// A call failed; it is no longer outstanding.
    CallError {
        /// The CALL request.
        request: RequestId,
        /// The error URI (for example `wamp.error.no_such_procedure`).
        error: Uri,
        /// Details.
        details: ErrorDetails,
        /// Arguments of the error.
        payload: Payload,
    },
    /// An acknowledged publication was accepted.
    Published {
        /// The PUBLISH request.
        request: RequestId,
        /// The publication ID.
        publication: PublicationId,
    },
    /// An acknowledged publication was refused.
    PublishError {
        /// The PUBLISH request.
        request: RequestId,
        /// The error URI.
        error: Uri,
        /// Details.
        details: ErrorDetails,
        /// Arguments of the error.
        payload: Payload,
    },
    /// A subscription was made (or an existing one of this session was returned).
    Subscribed {
        /// The SUBSCRIBE request.
        request: RequestId,
        /// The subscription ID.
        subscription: SubscriptionId,
    },
    /// A SUBSCRIBE failed.
    SubscribeError {
        /// The SUBSCRIBE request.
        request: RequestId,
        /// The error URI.
        error: Uri,
        /// Details.
        details: ErrorDetails,
        /// Arguments of the error.
        payload: Payload,
    },
    /// A subscription ended at our request.
    Unsubscribed {
        /// The UNSUBSCRIBE request.
        request: RequestId,
        /// The subscription that ended.
        subscription: SubscriptionId,
    },
    /// An UNSUBSCRIBE failed. The subscription stays held, except after
    /// `wamp.error.no_such_subscription`, when the session forgets it too.
    UnsubscribeError {
        /// The UNSUBSCRIBE request.
        request: RequestId,
        /// The subscription the request named.
        subscription: SubscriptionId,
        /// The error URI.
        error: Uri,
        /// Details.
        details: ErrorDetails,
        /// Arguments of the error.
        payload: Payload,
    },
    /// The router ended a subscription on its own (subscription revocation).
    SubscriptionRevoked {
        /// The subscription that ended.
        subscription: SubscriptionId,
        /// Why, if the router said.
        reason: Option<String>,
    },
    /// A registration was made.
    Registered {
        /// The REGISTER request.
        request: RequestId,
        /// The registration ID.
        registration: RegistrationId,
    },
    /// A REGISTER failed (for example `wamp.error.procedure_already_exists`).
    RegisterError {
        /// The REGISTER request.
        request: RequestId,
        /// The error URI.
        error: Uri,
        /// Details.
        details: ErrorDetails,
        /// Arguments of the error.
        payload: Payload,
    },
    /// A registration ended at our request.
    Unregistered {
        /// The UNREGISTER request.
        request: RequestId,
        /// The registration that ended.
        registration: RegistrationId,
    },
    /// An UNREGISTER failed. The registration stays held, except after
    /// `wamp.error.no_such_registration`, when the session forgets it too.
    UnregisterError {
        /// The UNREGISTER request.
        request: RequestId,
        /// The registration the request named.
        registration: RegistrationId,
        /// The error URI.
        error: Uri,
        /// Details.
        details: ErrorDetails,
        /// Arguments of the error.
        payload: Payload,
    },
    /// The router ended a registration on its own (registration revocation).
    RegistrationRevoked {
        /// The registration that ended.
        registration: RegistrationId,
        /// Why, if the router said.
        reason: Option<String>,
    },
    /// An event on one of our subscriptions. Events that arrive after
    /// [`Session::unsubscribe`](super::Session::unsubscribe) but before the router's
    /// UNSUBSCRIBED are delivered: the subscription is live until the router confirms.
    Event {
        /// The subscription.
        subscription: SubscriptionId,
        /// The publication.
        publication: PublicationId,
        /// Details (publisher, concrete topic...).
        details: EventDetails,
        /// The event's payload.
        payload: Payload,
    },
    /// A call of one of our registrations. Answer it exactly once with
    /// [`Session::yield_result`](super::Session::yield_result) (any number of progressive
    /// results first, if `details.receive_progress`) or
    /// [`Session::yield_error`](super::Session::yield_error).
    ///
    /// With `details.progress == Some(true)` this is the first chunk of a progressive
    /// invocation: [`SessionEvent::InvocationChunk`]s with the same `request` follow.
    Invocation {
        /// The INVOCATION request, to answer.
        request: RequestId,
        /// The registration invoked.
        registration: RegistrationId,
        /// Details (caller, concrete procedure, `receive_progress`...).
        details: InvocationDetails,
        /// The call's arguments.
        payload: Payload,
    },
    /// A continuation chunk of a progressive invocation (progressive call invocations): the
    /// caller sent more input to an invocation that is still open. `details.progress ==
    /// Some(true)` means more chunks follow; the last chunk has no `progress`. Only
    /// `progress` is meaningful in a continuation's details: every other option was frozen
    /// by the first chunk ([`SessionEvent::Invocation`] with `details.progress ==
    /// Some(true)`).
    ///
    /// The invocation may be answered at any time, before or after the last chunk;
    /// chunks that arrive after the answer are discarded by the session.
    InvocationChunk {
        /// The INVOCATION request, the same for every chunk.
        request: RequestId,
        /// The registration invoked.
        registration: RegistrationId,
        /// Details (`progress`).
        details: InvocationDetails,
        /// This chunk's arguments.
        payload: Payload,
    },
    /// The caller canceled an invocation we have not answered yet. The invocation stays
    /// open: with mode `kill` the dealer waits for its answer (`wamp.error.canceled` is
    /// customary); with `killnowait` the dealer discards any answer. With
    /// [`Session::set_answer_interrupts`](super::Session::set_answer_interrupts) the session
    /// has already answered `wamp.error.canceled` and the invocation is closed: stop its work.
    Interrupt {
        /// The INVOCATION request.
        request: RequestId,
        /// Options (`mode`, `reason`).
        options: InterruptOptions,
    },
    /// The router broke the protocol: the session queued ABORT
    /// `wamp.error.protocol_violation` (with the error as its `message`) and is closed.
    /// Terminal.
    ProtocolViolation {
        /// What the router did wrong.
        error: ProtocolError,
    },
    /// The transport closed while a session was open. Terminal.
    TransportClosed,
    /// Our side of the authentication failed: the router's CHALLENGE could not be answered
    /// with the session's [credentials](super::Session::set_credentials) (malformed, weak
    /// SCRAM parameters...) or its WELCOME did not prove the router's identity (SCRAM server
    /// signature, cryptosign router key). The session queued ABORT
    /// `wamp.error.authentication_failed` (with the error as its `message`) and is closed.
    /// Terminal.
    AuthenticationFailed {
        /// What went wrong.
        error: AuthError,
    },
    /// The session answered an invocation itself with ERROR `error`, and refuses any other
    /// answer to it: its forwarded timeout (`InvocationDetails::timeout`) expired
    /// (`wamp.error.timeout`), or an answer was too large for the router
    /// (`wamp.error.payload_size_exceeded`). Stop whatever computes the answer.
    InvocationEnded {
        /// The INVOCATION request.
        request: RequestId,
        /// The error URI the session answered with.
        error: Uri,
    },
}

impl SessionEvent {
    /// Whether this event ends the session (see [Terminal events](SessionEvent#terminal-events)).
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            SessionEvent::Left { .. }
                | SessionEvent::Aborted { .. }
                | SessionEvent::ProtocolViolation { .. }
                | SessionEvent::TransportClosed
                | SessionEvent::AuthenticationFailed { .. }
        )
    }
}
