//! The sans-IO client session: a state machine that turns application actions into WAMP
//! messages for the router, and the router's messages into events for the application.
//!
//! Inputs are methods ([`Session::join`], [`Session::call`], [`Session::handle_message`]...);
//! outputs are polled: after any input, drain [`Session::poll_transmit`] (messages to send to
//! the router, in order) and [`Session::poll_event`] (events for the application) until both
//! return `None`. The session does no I/O, reads no clock and draws no random numbers: the
//! caller passes the time (`now`) to the inputs that start or end timed things, and the
//! random bytes authentication needs ([`Session::join_with_random`]).
//!
//! # Time
//!
//! A call timeout is the dealer's (`CallOptions::timeout`), except when the dealer forwards it
//! to the callee in `InvocationDetails::timeout` (the default callee role announces
//! `call_timeout`: see [`SessionConfig::default_roles`]): then the session enforces it. The
//! deadline runs from the INVOCATION's arrival, and each progressive result restarts it (the
//! spec measures the timeout between results). [`Session::poll_timeout`] gives the next
//! deadline; at it, [`Session::handle_timeout`] answers ERROR `wamp.error.timeout` and emits
//! [`SessionEvent::InvocationEnded`] so the application stops the work.
//!
//! # Authentication
//!
//! With [`Credentials`] ([`Session::set_credentials`]) the session runs the handshake itself
//! (WAMP spec, *Authentication*): HELLO carries the credentials' methods and `authextra`,
//! each CHALLENGE for one of their methods is answered with AUTHENTICATE at once, and WELCOME
//! is checked for what the router must prove (SCRAM server signature, cryptosign router
//! key). A failure on our side aborts with `wamp.error.authentication_failed`
//! ([`SessionEvent::AuthenticationFailed`]). A CHALLENGE for another offered method is left
//! to the application ([`SessionEvent::Challenge`], answered with [`Session::authenticate`]).
//!
//! # Message size
//!
//! Told the router's limit ([`Session::set_send_limit`]), the session never queues a CALL,
//! PUBLISH or YIELD larger than it: a CALL or PUBLISH (or a call's chunk) is refused with
//! [`UsageError::PayloadTooLarge`]; an invocation's answer is replaced by ERROR
//! `wamp.error.payload_size_exceeded` to the router (ending the invocation,
//! [`SessionEvent::InvocationEnded`]), so the caller learns why.
//!
//! # What the session enforces
//!
//! * **Life cycle** ([`SessionState`]): HELLO first; then only WELCOME, CHALLENGE (for a
//!   method the session offered) or ABORT from the router; GOODBYE from the router is
//!   answered with `wamp.close.goodbye_and_out`; after our GOODBYE only the router's reply
//!   (or an ABORT) counts, everything else is ignored.
//! * **Requests**: IDs are sequential from 1 with one counter for every request type (reset
//!   on each [`join`](Session::join)). Every reply is matched to its outstanding request by
//!   ID *and* kind; ERROR is mapped to the failure event of the request's kind.
//! * **Subscriptions and registrations** held by the session (from SUBSCRIBED and
//!   REGISTERED, until UNSUBSCRIBED, UNREGISTERED or a revocation): EVENT and INVOCATION
//!   must name one of them.
//! * **Invocations**: each must be answered once with [`yield_result`](Session::yield_result)
//!   or [`yield_error`](Session::yield_error); INTERRUPTs for invocations already answered
//!   (or never seen) are dropped quietly, since the dealer can send one while our answer is
//!   in flight.
//! * **Progressive call invocations** (both ways): a caller's chunks share the first CALL's
//!   request ID ([`continue_call`](Session::continue_call),
//!   [`finish_call`](Session::finish_call)); a callee's continuation INVOCATIONs must
//!   continue an open progressive invocation, and those that arrive after it was answered
//!   are discarded quietly.
//! * **Options that need an announcement**: progressive call invocations and payload
//!   passthru are refused ([`UsageError`]) unless both our role and the router announced
//!   them, since using them otherwise is a protocol violation; a partitioned call
//!   (`runmode: "partition"`) needs an `rkey`.
//!
//! Anything else the router does wrong is a protocol violation ([`ProtocolError`]): the
//! session queues ABORT `wamp.error.protocol_violation` with the error's text as `message`,
//! emits [`SessionEvent::ProtocolViolation`] and closes. Application misuse returns a
//! [`UsageError`] and changes nothing. Nothing the router sends can make the session panic.
//!
//! When the session ends ([`SessionEvent::is_terminal`]), every request still outstanding
//! has failed: no further event names it.

mod config;
mod error;
mod event;
mod limit;
mod reconnect;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_policy;
#[cfg(test)]
mod tests_reconnect;

pub use config::{SessionConfig, DEFAULT_AGENT};
pub use error::{ProtocolError, UsageError};
pub use event::{SessionEvent, SessionState};
pub use limit::SendLimit;
pub use reconnect::{
    Bound, Failure, GiveUp, LiveId, LiveRequest, ReconnectAction, ReconnectPolicy, ReconnectState,
    Reconnector, Release, Restore, Restored,
};

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use crate::auth::client::{Credentials, HELLO_RANDOM_LEN};
use crate::auth::{method, AuthError};
use crate::features;
use crate::id::{RegistrationId, RequestId, RequestIdCounter, SessionId, SubscriptionId};
use crate::message::{
    self, Abort, AbortDetails, Authenticate, AuthenticateExtra, Call, CallOptions, CallResult,
    Cancel, CancelMode, CancelOptions, ErrorDetails, Goodbye, GoodbyeDetails, Hello, HelloDetails,
    Invocation, Message, Publish, PublishOptions, Register, RegisterOptions, RequestType, Role,
    Subscribe, SubscribeOptions, Unregister, Unregistered, Unsubscribe, Unsubscribed, Welcome,
    WelcomeDetails, YieldOptions,
};
use crate::serializer::DecodeError;
use crate::uri::{self, Uri};
use crate::Payload;

/// A request we sent and whose reply we wait for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    /// An acknowledged PUBLISH (unacknowledged ones get no reply and are not tracked).
    Publish,
    Subscribe,
    Unsubscribe {
        subscription: SubscriptionId,
    },
    Call {
        /// `CALL.Options.receive_progress` was set: progressive RESULTs are allowed.
        receive_progress: bool,
        /// CANCEL was sent.
        canceled: bool,
    },
    Register {
        /// Registered with [`Session::register_whole`].
        whole: bool,
    },
    Unregister {
        registration: RegistrationId,
    },
}

impl Pending {
    fn request_type(self) -> RequestType {
        match self {
            Pending::Publish => RequestType::Publish,
            Pending::Subscribe => RequestType::Subscribe,
            Pending::Unsubscribe { .. } => RequestType::Unsubscribe,
            Pending::Call { .. } => RequestType::Call,
            Pending::Register { .. } => RequestType::Register,
            Pending::Unregister { .. } => RequestType::Unregister,
        }
    }

    fn name(self) -> &'static str {
        request_type_name(self.request_type())
    }
}

fn request_type_name(request_type: RequestType) -> &'static str {
    message::name_of(request_type.code()).unwrap_or("UNKNOWN")
}

/// An invocation we received and have not answered (finally) yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct OpenInvocation {
    /// `INVOCATION.Details.receive_progress`: progressive YIELDs are allowed.
    receive_progress: bool,
    /// The registration invoked.
    registration: RegistrationId,
    /// A progressive invocation whose last chunk has not arrived: continuations may follow.
    input_open: bool,
}

/// The transport-level authentication methods (WebSocket cookie, TLS client certificate).
const COOKIE: &str = "cookie";
const TLS: &str = "tls";

/// A forwarded call timeout being enforced for an open invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Deadline {
    at: Instant,
    /// `INVOCATION.Details.timeout`, in milliseconds.
    timeout_ms: u64,
}

/// How many answered progressive invocations, whose last chunk had not arrived, the session
/// remembers in order to discard their late continuations.
const STALE_INPUTS_KEPT: usize = 1024;

/// A WAMP client session, sans IO.
///
/// Drive it by hand: feed the router's messages to [`handle_message`](Session::handle_message),
/// send what [`poll_transmit`](Session::poll_transmit) returns, and act on what
/// [`poll_event`](Session::poll_event) returns. See the [module documentation](self) for the
/// rules it enforces.
///
/// ```
/// use nexus_core::message::{CallOptions, CallResult, Message, RouterRoles, Role, Welcome};
/// use nexus_core::session::{Session, SessionConfig, SessionEvent, SessionState};
/// use nexus_core::{args, Payload, SessionId, Uri};
///
/// let mut session = Session::new(SessionConfig::new(Uri::parse("com.example.realm")?));
/// // The driver passes the time each message arrives; here it stands still.
/// let now = std::time::Instant::now();
///
/// // Join: the session queues HELLO, the router answers WELCOME.
/// session.join()?;
/// let Some(Message::Hello(hello)) = session.poll_transmit() else { panic!("HELLO first") };
/// assert_eq!(hello.realm, "com.example.realm");
/// let roles = RouterRoles { dealer: Some(Role::default()), ..Default::default() };
/// let session_id = SessionId::new(4_242_424_242).unwrap();
/// session.handle_message(now, Welcome::new(session_id, roles).into())?;
/// assert!(matches!(session.poll_event(), Some(SessionEvent::Joined { session, .. }) if session == session_id));
/// assert_eq!(session.state(), SessionState::Established);
///
/// // Call: the session queues CALL with request ID 1, the router answers RESULT.
/// let procedure = Uri::parse("com.example.add")?;
/// let request = session.call(procedure, CallOptions::default(), Payload::new(args![2, 3], Default::default()))?;
/// assert_eq!(request.get(), 1);
/// let Some(Message::Call(call)) = session.poll_transmit() else { panic!("CALL") };
/// assert_eq!(call.request, request);
/// session.handle_message(now, CallResult::new(request).with_args(args![5]).into())?;
/// match session.poll_event() {
///     Some(SessionEvent::Result { request: r, payload, .. }) => {
///         assert_eq!(r, request);
///         assert_eq!(payload.args(), &args![5][..]);
///     }
///     other => panic!("expected the result, got {other:?}"),
/// }
/// assert!(session.poll_event().is_none() && session.poll_transmit().is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Session {
    config: SessionConfig,
    state: SessionState,
    session_id: Option<SessionId>,
    welcome: Option<WelcomeDetails>,
    request_ids: RequestIdCounter,
    /// Outstanding requests by request ID.
    pending: BTreeMap<RequestId, Pending>,
    /// Subscriptions held, each with the UNSUBSCRIBE request outstanding for it, if any.
    subscriptions: BTreeMap<SubscriptionId, Option<RequestId>>,
    /// Registrations held, each with the UNREGISTER request outstanding for it, if any.
    registrations: BTreeMap<RegistrationId, Option<RequestId>>,
    /// Invocations not answered yet, by INVOCATION request ID.
    invocations: BTreeMap<RequestId, OpenInvocation>,
    /// Progressive invocations answered before their last chunk: continuations that still
    /// arrive for them are discarded. Bounded by `STALE_INPUTS_KEPT` (oldest IDs first).
    stale_inputs: BTreeSet<RequestId>,
    /// Progressive calls (CALL with `progress`) whose last chunk is not sent yet, with
    /// their procedure.
    open_inputs: BTreeMap<RequestId, Uri>,
    /// Registrations made with `register_whole`: they take no input in chunks.
    whole: BTreeSet<RegistrationId>,
    /// Forwarded call timeouts of open invocations.
    deadlines: BTreeMap<RequestId, Deadline>,
    /// What the session authenticates with itself.
    credentials: Option<Credentials>,
    /// Methods the transport carries (`cookie`, `tls`), offered first.
    transport_authmethods: Vec<String>,
    /// The methods offered in this join's HELLO.
    offered: Vec<String>,
    send_limit: Option<SendLimit>,
    answer_interrupts: bool,
    transmit: VecDeque<Message>,
    events: VecDeque<SessionEvent>,
}

impl Session {
    /// A closed session that will announce `config` when it [joins](Session::join). Nothing
    /// is queued yet.
    pub fn new(config: SessionConfig) -> Session {
        Session {
            config,
            state: SessionState::Closed,
            session_id: None,
            welcome: None,
            request_ids: RequestIdCounter::new(),
            pending: BTreeMap::new(),
            subscriptions: BTreeMap::new(),
            registrations: BTreeMap::new(),
            invocations: BTreeMap::new(),
            stale_inputs: BTreeSet::new(),
            open_inputs: BTreeMap::new(),
            whole: BTreeSet::new(),
            deadlines: BTreeMap::new(),
            credentials: None,
            transport_authmethods: Vec::new(),
            offered: Vec::new(),
            send_limit: None,
            answer_interrupts: false,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    // ---- settings ----------------------------------------------------------------------

    /// Authenticates with `credentials` from the next join on (see the
    /// [module documentation](self#authentication)): their methods are offered first in
    /// HELLO, before [`SessionConfig::authmethods`] (those the application answers itself),
    /// and joining then needs [`join_with_random`](Session::join_with_random).
    pub fn set_credentials(&mut self, credentials: Credentials) {
        self.credentials = Some(credentials);
    }

    /// Authentication methods the transport itself carries, such as `cookie` (a WebSocket
    /// cookie was sent) and `tls` (a client certificate was presented): offered first in
    /// HELLO from the next join on, since they need no CHALLENGE and routers such as
    /// Crossbar take the first offered method they have configured. When `cookie` is the
    /// only method offered, `anonymous` follows it, so a router that does not know the
    /// cookie still welcomes the session as it would have without one.
    pub fn set_transport_authmethods<S: Into<String>>(
        &mut self,
        methods: impl IntoIterator<Item = S>,
    ) {
        self.transport_authmethods = methods.into_iter().map(Into::into).collect();
    }

    /// The router's message size limit and the connection's framing (`None`: no limit, for
    /// example in-process). See the [module documentation](self#message-size).
    pub fn set_send_limit(&mut self, limit: Option<SendLimit>) {
        self.send_limit = limit;
    }

    /// With `true`, the session answers each INTERRUPT for an open invocation itself with
    /// ERROR `wamp.error.canceled` (before emitting [`SessionEvent::Interrupt`]), for
    /// applications that stop the work at once rather than answer with a partial result.
    pub fn set_answer_interrupts(&mut self, answer: bool) {
        self.answer_interrupts = answer;
    }

    // ---- state -----------------------------------------------------------------------

    /// The configuration the session announces (HELLO adds the
    /// [credentials'](Session::set_credentials) and the
    /// [transport's](Session::set_transport_authmethods) authentication methods to it).
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// The current state.
    pub fn state(&self) -> SessionState {
        self.state
    }

    /// Whether no session is open or opening ([`SessionState::Closed`]).
    pub fn is_closed(&self) -> bool {
        self.state == SessionState::Closed
    }

    /// The session ID from WELCOME, while the session is established or shutting down.
    pub fn session_id(&self) -> Option<SessionId> {
        self.session_id
    }

    /// The router's WELCOME details, while the session is established or shutting down.
    pub fn welcome_details(&self) -> Option<&WelcomeDetails> {
        self.welcome.as_ref()
    }

    /// Whether the router announced `feature` (see [`crate::features`]) for `role`
    /// (`"broker"` or `"dealer"`) in WELCOME. `false` for any other role name, and while no
    /// session is established.
    pub fn router_supports(&self, role: &str, feature: &str) -> bool {
        let Some(roles) = self.welcome.as_ref().and_then(|w| w.roles.as_ref()) else {
            return false;
        };
        let role = match role {
            "broker" => roles.broker.as_ref(),
            "dealer" => roles.dealer.as_ref(),
            _ => None,
        };
        role.is_some_and(|r| r.supports(feature))
    }

    // ---- outputs ---------------------------------------------------------------------

    /// The next message to send to the router, in order.
    pub fn poll_transmit(&mut self) -> Option<Message> {
        self.transmit.pop_front()
    }

    /// Whether a message is waiting for [`poll_transmit`](Session::poll_transmit): handling
    /// an event (answering an invocation, say) can queue one after the last poll.
    pub fn has_transmit(&self) -> bool {
        !self.transmit.is_empty()
    }

    /// The next event for the application, in order.
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }

    // ---- session life cycle ----------------------------------------------------------

    /// Starts a session: queues HELLO with the configured realm, roles, agent and
    /// authentication offer. The state becomes [`SessionState::Establishing`]; the router
    /// answers with WELCOME ([`SessionEvent::Joined`]), CHALLENGE
    /// ([`SessionEvent::Challenge`]) or ABORT ([`SessionEvent::Aborted`]).
    ///
    /// A closed session can join again (request IDs restart at 1), for example on a new
    /// transport, or on the same one after a GOODBYE handshake.
    ///
    /// With [credentials](Session::set_credentials) set this fails with
    /// [`UsageError::RandomRequired`]: use [`join_with_random`](Session::join_with_random).
    pub fn join(&mut self) -> Result<(), UsageError> {
        if self.credentials.as_ref().is_some_and(|c| !c.is_empty()) {
            return Err(UsageError::RandomRequired);
        }
        self.start_join(None)
    }

    /// [`join`](Session::join) for a session with [credentials](Session::set_credentials):
    /// `random` must be fresh bytes from the operating system for every join (the cryptosign
    /// router challenge and the SCRAM nonce are drawn from them). Fails with
    /// [`UsageError::Credentials`] when the credentials cannot make a HELLO.
    pub fn join_with_random(&mut self, random: &[u8; HELLO_RANDOM_LEN]) -> Result<(), UsageError> {
        self.start_join(Some(random))
    }

    fn start_join(&mut self, random: Option<&[u8; HELLO_RANDOM_LEN]>) -> Result<(), UsageError> {
        if self.state != SessionState::Closed {
            return Err(UsageError::NotClosed { state: self.state });
        }
        if self.config.roles.is_none() {
            return Err(UsageError::NoRoles);
        }
        let mut config = self.config.clone();
        if let (Some(credentials), Some(random)) = (&mut self.credentials, random) {
            if !credentials.is_empty() {
                credentials
                    .hello(random)
                    .map_err(UsageError::Credentials)?
                    .apply(&mut config);
            }
        }
        if !self.transport_authmethods.is_empty() {
            let rest = std::mem::take(&mut config.authmethods);
            let mut methods = self.transport_authmethods.clone();
            if rest.is_empty() && methods == [COOKIE] {
                methods.push(method::ANONYMOUS.to_owned());
            }
            methods.extend(rest.into_iter().filter(|m| m != COOKIE && m != TLS));
            config.authmethods = methods;
        }
        self.reset();
        self.offered = config.authmethods.clone();
        let hello = Hello {
            realm: config.realm.clone(),
            details: HelloDetails {
                roles: Some(config.roles.clone()),
                agent: config.agent.clone(),
                authmethods: (!config.authmethods.is_empty()).then(|| config.authmethods.clone()),
                authid: config.authid.clone(),
                authextra: (!config.authextra.is_empty()).then(|| config.authextra.clone()),
                ..HelloDetails::default()
            },
        };
        self.state = SessionState::Establishing;
        self.transmit.push_back(hello.into());
        Ok(())
    }

    /// Answers the router's CHALLENGE ([`SessionEvent::Challenge`]) with AUTHENTICATE. The
    /// state goes back to [`SessionState::Establishing`]: the router answers with WELCOME,
    /// ABORT or another CHALLENGE.
    pub fn authenticate(
        &mut self,
        signature: String,
        extra: AuthenticateExtra,
    ) -> Result<(), UsageError> {
        if self.state != SessionState::Challenged {
            return Err(UsageError::NoPendingChallenge { state: self.state });
        }
        self.state = SessionState::Establishing;
        self.transmit
            .push_back(Authenticate { signature, extra }.into());
        Ok(())
    }

    /// Gives up on the router's CHALLENGE ([`SessionEvent::Challenge`]) when the application
    /// has no way to answer it: queues ABORT `wamp.error.authentication_failed` with `why`
    /// as its message, and closes. No event follows.
    pub fn decline_challenge(&mut self, why: impl Into<String>) -> Result<(), UsageError> {
        if self.state != SessionState::Challenged {
            return Err(UsageError::NoPendingChallenge { state: self.state });
        }
        self.close();
        self.transmit
            .push_back(Abort::new(uri::error::AUTHENTICATION_FAILED, why).into());
        Ok(())
    }

    /// Starts closing an established session: queues GOODBYE with `reason` (for example
    /// `wamp.close.normal` or `wamp.close.close_realm`) and an optional human-readable
    /// `message`. The state becomes [`SessionState::ShuttingDown`] until the router's reply
    /// ([`SessionEvent::Left`]); requests still outstanding get no further events.
    pub fn leave(&mut self, reason: &str, message: Option<String>) -> Result<(), UsageError> {
        self.require_established("leave")?;
        let reason = parse_reason(reason)?;
        self.state = SessionState::ShuttingDown;
        self.transmit.push_back(
            Goodbye {
                details: GoodbyeDetails {
                    message,
                    ..GoodbyeDetails::default()
                },
                reason,
            }
            .into(),
        );
        Ok(())
    }

    /// Ends the session at once: queues ABORT with `reason` (for example
    /// `wamp.error.authentication_failed` when the application cannot answer a CHALLENGE)
    /// and an optional human-readable `message`, and closes. No event follows, and requests
    /// still outstanding get no further events. Valid in every state but
    /// [`SessionState::Closed`]; once established, prefer [`leave`](Session::leave).
    pub fn abort(&mut self, reason: &str, message: Option<String>) -> Result<(), UsageError> {
        if self.state == SessionState::Closed {
            return Err(UsageError::AlreadyClosed);
        }
        let reason = parse_reason(reason)?;
        self.close();
        self.transmit.push_back(
            Abort {
                details: AbortDetails {
                    message,
                    ..AbortDetails::default()
                },
                reason,
                payload: Payload::default(),
            }
            .into(),
        );
        Ok(())
    }

    // ---- caller ----------------------------------------------------------------------

    /// Calls `procedure`: queues CALL and returns its request ID, which
    /// [`SessionEvent::Result`] or [`SessionEvent::CallError`] will name.
    ///
    /// With `options.receive_progress`, progressive results arrive as
    /// [`SessionEvent::Result`] with `details.progress == Some(true)` before the final one.
    ///
    /// With `options.progress == Some(true)` this CALL is the first chunk of a progressive
    /// call invocation: send the next chunks with [`continue_call`](Session::continue_call)
    /// and the last one with [`finish_call`](Session::finish_call). That needs
    /// `progressive_call_invocations` in the announced caller role and in the router's
    /// dealer role. The options of the first chunk hold for the whole call.
    ///
    /// Also refused: `runmode: "partition"` without `rkey` (sharded registration), and
    /// `ppt_scheme` (payload passthru) unless the caller role and the dealer announced
    /// `payload_passthru_mode` and the payload is one binary argument.
    ///
    /// ```
    /// # use nexus_core::message::{CallOptions, Message, RouterRoles, Role, Welcome};
    /// # use nexus_core::session::{Session, SessionConfig};
    /// # use nexus_core::{args, features, Payload, RequestId, SessionId, Uri};
    /// # let mut session = Session::new(SessionConfig::new(Uri::parse("realm1")?));
    /// # session.join()?;
    /// # let dealer = Role::with_features([features::PROGRESSIVE_CALL_INVOCATIONS, features::CALL_CANCELING]);
    /// # let roles = RouterRoles { dealer: Some(dealer), ..Default::default() };
    /// # session.handle_message(std::time::Instant::now(), Welcome::new(SessionId::new(1).unwrap(), roles).into())?;
    /// # while session.poll_transmit().is_some() || session.poll_event().is_some() {}
    /// // A progressive call invocation: three chunks, one request ID.
    /// let options = CallOptions { progress: Some(true), ..Default::default() };
    /// let chunk = |n: i64| Payload::new(args![n], Default::default());
    /// let request = session.call(Uri::parse("com.example.upload")?, options, chunk(1))?;
    /// session.continue_call(request, chunk(2))?;
    /// session.finish_call(request, chunk(3))?;
    /// let ids: Vec<RequestId> = std::iter::from_fn(|| session.poll_transmit())
    ///     .map(|m| match m { Message::Call(c) => c.request, other => panic!("{other:?}") })
    ///     .collect();
    /// assert_eq!(ids, [request; 3]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn call(
        &mut self,
        procedure: Uri,
        options: CallOptions,
        payload: Payload,
    ) -> Result<RequestId, UsageError> {
        const ACTION: &str = "call";
        self.require_established(ACTION)?;
        let caller = self.require_role(ACTION, "caller")?;
        let progressive_input = options.progress == Some(true);
        if progressive_input {
            const ACTION: &str = "call with CallOptions::progress";
            require_feature(
                caller,
                ACTION,
                "caller",
                features::PROGRESSIVE_CALL_INVOCATIONS,
            )?;
            self.require_router_feature(ACTION, "dealer", features::PROGRESSIVE_CALL_INVOCATIONS)?;
        }
        let receive_progress = options.receive_progress == Some(true);
        if receive_progress {
            require_feature(
                caller,
                "call with receive_progress",
                "caller",
                features::PROGRESSIVE_CALL_RESULTS,
            )?;
        }
        if options.runmode.as_deref() == Some("partition") && options.rkey.is_none() {
            return Err(UsageError::PartitionWithoutRkey);
        }
        self.check_passthru(
            "call with ppt_scheme",
            caller,
            "caller",
            options.ppt_scheme.as_deref(),
            &payload,
        )?;
        // Checked with the ID it would get, before taking it: an ID never sent would leave a
        // gap the router must treat as a protocol violation.
        let request = self.request_ids.peek();
        let call: Message = Call {
            request,
            options,
            procedure: procedure.clone(),
            payload,
        }
        .into();
        self.check_size(&call)?;
        self.request_ids.next_id();
        if progressive_input {
            self.open_inputs.insert(request, procedure);
        }
        self.pending.insert(
            request,
            Pending::Call {
                receive_progress,
                canceled: false,
            },
        );
        self.transmit.push_back(call);
        Ok(request)
    }

    /// Sends the next chunk of a progressive call invocation started with
    /// [`call`](Session::call) and `CallOptions::progress`: queues a CALL with the same
    /// request ID and `progress: true` (and no other option). More chunks must follow; end
    /// with [`finish_call`](Session::finish_call).
    ///
    /// The callee may answer before the last chunk: once the final RESULT or ERROR has
    /// arrived this fails with [`UsageError::CallNotOutstanding`].
    pub fn continue_call(
        &mut self,
        call_request: RequestId,
        payload: Payload,
    ) -> Result<(), UsageError> {
        self.send_chunk(call_request, payload, true)
    }

    /// Sends the last chunk of a progressive call invocation started with
    /// [`call`](Session::call) and `CallOptions::progress`: queues a CALL with the same
    /// request ID and no options. The call stays outstanding until its final RESULT or
    /// ERROR.
    pub fn finish_call(
        &mut self,
        call_request: RequestId,
        payload: Payload,
    ) -> Result<(), UsageError> {
        self.send_chunk(call_request, payload, false)
    }

    fn send_chunk(
        &mut self,
        request: RequestId,
        payload: Payload,
        more: bool,
    ) -> Result<(), UsageError> {
        self.require_established("send a call chunk")?;
        match self.pending.get(&request) {
            Some(Pending::Call { canceled: true, .. }) => {
                return Err(UsageError::CallCanceled { request })
            }
            Some(Pending::Call { .. }) => {}
            _ => return Err(UsageError::CallNotOutstanding { request }),
        }
        let procedure = self
            .open_inputs
            .get(&request)
            .cloned()
            .ok_or(UsageError::CallInputFinished { request })?;
        let chunk: Message = Call {
            request,
            options: CallOptions {
                progress: more.then_some(true),
                ..CallOptions::default()
            },
            procedure,
            payload,
        }
        .into();
        self.check_size(&chunk)?;
        if !more {
            self.open_inputs.remove(&request);
        }
        self.transmit.push_back(chunk);
        Ok(())
    }

    /// The application no longer wants the outcome of an outstanding call (its future was
    /// dropped, its input cut short): cancels it with `killnowait` when the router's dealer
    /// announced `call_canceling` (CANCEL is a protocol violation otherwise) and the caller
    /// role allows it. Returns whether CANCEL was queued; the call stays outstanding either
    /// way until its RESULT or ERROR.
    pub fn abandon_call(&mut self, call_request: RequestId) -> bool {
        self.router_supports("dealer", features::CALL_CANCELING)
            && self
                .cancel(call_request, Some(CancelMode::KillNoWait))
                .is_ok()
    }

    /// Cancels an outstanding call: queues CANCEL with `mode` (`None`: the dealer's
    /// default). The call stays outstanding until its RESULT or ERROR (usually
    /// `wamp.error.canceled`) arrives. Needs the `call_canceling` feature in the announced
    /// caller role.
    pub fn cancel(
        &mut self,
        call_request: RequestId,
        mode: Option<CancelMode>,
    ) -> Result<(), UsageError> {
        const ACTION: &str = "cancel";
        self.require_established(ACTION)?;
        let caller = self.require_role(ACTION, "caller")?;
        require_feature(caller, ACTION, "caller", features::CALL_CANCELING)?;
        match self.pending.get_mut(&call_request) {
            Some(Pending::Call { canceled: true, .. }) => Err(UsageError::AlreadyCanceled {
                request: call_request,
            }),
            Some(Pending::Call { canceled, .. }) => {
                *canceled = true;
                self.transmit.push_back(
                    Cancel {
                        request: call_request,
                        options: CancelOptions {
                            mode,
                            ..CancelOptions::default()
                        },
                    }
                    .into(),
                );
                Ok(())
            }
            _ => Err(UsageError::UnknownCall {
                request: call_request,
            }),
        }
    }

    // ---- publisher -------------------------------------------------------------------

    /// Publishes to `topic`: queues PUBLISH and returns its request ID. Only with
    /// `options.acknowledge == Some(true)` does the broker answer, with
    /// [`SessionEvent::Published`] or [`SessionEvent::PublishError`]; otherwise nothing
    /// names the request again.
    pub fn publish(
        &mut self,
        topic: Uri,
        options: PublishOptions,
        payload: Payload,
    ) -> Result<RequestId, UsageError> {
        const ACTION: &str = "publish";
        self.require_established(ACTION)?;
        self.require_role(ACTION, "publisher")?;
        let request = self.request_ids.peek();
        let acknowledged = options.acknowledge == Some(true);
        let publish: Message = Publish {
            request,
            options,
            topic,
            payload,
        }
        .into();
        self.check_size(&publish)?;
        self.request_ids.next_id();
        if acknowledged {
            self.pending.insert(request, Pending::Publish);
        }
        self.transmit.push_back(publish);
        Ok(request)
    }

    // ---- subscriber ------------------------------------------------------------------

    /// Subscribes to `topic` (or a pattern, with `options.match_policy`): queues SUBSCRIBE
    /// and returns its request ID, which [`SessionEvent::Subscribed`] or
    /// [`SessionEvent::SubscribeError`] will name.
    pub fn subscribe(
        &mut self,
        topic: Uri,
        options: SubscribeOptions,
    ) -> Result<RequestId, UsageError> {
        const ACTION: &str = "subscribe";
        self.require_established(ACTION)?;
        self.require_role(ACTION, "subscriber")?;
        let request = self.request_ids.next_id();
        self.pending.insert(request, Pending::Subscribe);
        self.transmit.push_back(
            Subscribe {
                request,
                options,
                topic,
            }
            .into(),
        );
        Ok(request)
    }

    /// Ends a subscription the session holds: queues UNSUBSCRIBE and returns its request
    /// ID, which [`SessionEvent::Unsubscribed`] or [`SessionEvent::UnsubscribeError`] will
    /// name. Events for the subscription keep arriving until the router confirms.
    pub fn unsubscribe(&mut self, subscription: SubscriptionId) -> Result<RequestId, UsageError> {
        const ACTION: &str = "unsubscribe";
        self.require_established(ACTION)?;
        self.require_role(ACTION, "subscriber")?;
        match self.subscriptions.get(&subscription) {
            None => return Err(UsageError::UnknownSubscription { subscription }),
            Some(Some(request)) => {
                return Err(UsageError::AlreadyUnsubscribing {
                    subscription,
                    request: *request,
                })
            }
            Some(None) => {}
        }
        let request = self.request_ids.next_id();
        self.subscriptions.insert(subscription, Some(request));
        self.pending
            .insert(request, Pending::Unsubscribe { subscription });
        self.transmit.push_back(
            Unsubscribe {
                request,
                subscription,
            }
            .into(),
        );
        Ok(request)
    }

    // ---- callee ----------------------------------------------------------------------

    /// Registers `procedure` (or a pattern, with `options.match_policy`): queues REGISTER
    /// and returns its request ID, which [`SessionEvent::Registered`] or
    /// [`SessionEvent::RegisterError`] will name.
    pub fn register(
        &mut self,
        procedure: Uri,
        options: RegisterOptions,
    ) -> Result<RequestId, UsageError> {
        self.register_as(procedure, options, false)
    }

    /// [`register`](Session::register) for an application that takes each invocation
    /// whole: a progressive call invocation (input in chunks) of this registration is
    /// answered by the session with ERROR `wamp.error.feature_not_supported`, and its
    /// chunks are discarded, without an event.
    pub fn register_whole(
        &mut self,
        procedure: Uri,
        options: RegisterOptions,
    ) -> Result<RequestId, UsageError> {
        self.register_as(procedure, options, true)
    }

    fn register_as(
        &mut self,
        procedure: Uri,
        options: RegisterOptions,
        whole: bool,
    ) -> Result<RequestId, UsageError> {
        const ACTION: &str = "register";
        self.require_established(ACTION)?;
        self.require_role(ACTION, "callee")?;
        let request = self.request_ids.next_id();
        self.pending.insert(request, Pending::Register { whole });
        self.transmit.push_back(
            Register {
                request,
                options,
                procedure,
            }
            .into(),
        );
        Ok(request)
    }

    /// Ends a registration the session holds: queues UNREGISTER and returns its request
    /// ID, which [`SessionEvent::Unregistered`] or [`SessionEvent::UnregisterError`] will
    /// name. Invocations for the registration may still arrive until the router confirms;
    /// they must be answered like any other.
    pub fn unregister(&mut self, registration: RegistrationId) -> Result<RequestId, UsageError> {
        const ACTION: &str = "unregister";
        self.require_established(ACTION)?;
        self.require_role(ACTION, "callee")?;
        match self.registrations.get(&registration) {
            None => return Err(UsageError::UnknownRegistration { registration }),
            Some(Some(request)) => {
                return Err(UsageError::AlreadyUnregistering {
                    registration,
                    request: *request,
                })
            }
            Some(None) => {}
        }
        let request = self.request_ids.next_id();
        self.registrations.insert(registration, Some(request));
        self.pending
            .insert(request, Pending::Unregister { registration });
        self.transmit.push_back(
            Unregister {
                request,
                registration,
            }
            .into(),
        );
        Ok(request)
    }

    /// Answers an invocation ([`SessionEvent::Invocation`]) with a result: queues YIELD.
    ///
    /// With `options.progress == Some(true)` this is a progressive result and the
    /// invocation stays open for more; that is allowed only when the invocation's
    /// `details.receive_progress` was true. Otherwise this is the final answer; it may come
    /// before the last chunk of a progressive invocation, whose later chunks the session
    /// then discards.
    ///
    /// With `options.ppt_scheme` (payload passthru) the payload must be one binary
    /// argument, and the callee role and the dealer must have announced
    /// `payload_passthru_mode`.
    ///
    /// A progressive result at `now` restarts the invocation's forwarded timeout, if it has
    /// one. A YIELD larger than the router accepts is not sent: the session answers ERROR
    /// `wamp.error.payload_size_exceeded` instead and emits [`SessionEvent::InvocationEnded`].
    pub fn yield_result(
        &mut self,
        now: Instant,
        invocation: RequestId,
        options: YieldOptions,
        payload: Payload,
    ) -> Result<(), UsageError> {
        const ACTION: &str = "yield a result";
        self.require_established(ACTION)?;
        let open = self.open_invocation(invocation)?;
        let progress = options.progress == Some(true);
        if progress && !open.receive_progress {
            return Err(UsageError::ProgressNotRequested {
                request: invocation,
            });
        }
        let callee = self.require_role(ACTION, "callee")?;
        self.check_passthru(
            "yield a result with ppt_scheme",
            callee,
            "callee",
            options.ppt_scheme.as_deref(),
            &payload,
        )?;
        let answer: Message = message::Yield {
            request: invocation,
            options,
            payload,
        }
        .into();
        if let Err(UsageError::PayloadTooLarge { size, limit, .. }) = self.check_size(&answer) {
            self.end_invocation(
                invocation,
                uri::error::PAYLOAD_SIZE_EXCEEDED,
                format!("the message is {size} bytes; the router accepts at most {limit}"),
            );
            return Ok(());
        }
        if progress {
            if let Some(deadline) = self.deadlines.get_mut(&invocation) {
                deadline.at = now + Duration::from_millis(deadline.timeout_ms);
            }
        } else {
            self.answered(invocation);
        }
        self.transmit.push_back(answer);
        Ok(())
    }

    /// Answers an invocation ([`SessionEvent::Invocation`]) with an error: queues ERROR
    /// (for example `wamp.error.invalid_argument`, or `wamp.error.canceled` after an
    /// [interrupt](SessionEvent::Interrupt)). This is the final answer.
    pub fn yield_error(
        &mut self,
        invocation: RequestId,
        error: Uri,
        details: ErrorDetails,
        payload: Payload,
    ) -> Result<(), UsageError> {
        const ACTION: &str = "yield an error";
        self.require_established(ACTION)?;
        self.open_invocation(invocation)?;
        let callee = self.require_role(ACTION, "callee")?;
        self.check_passthru(
            "yield an error with ppt_scheme",
            callee,
            "callee",
            details.ppt_scheme.as_deref(),
            &payload,
        )?;
        self.answered(invocation);
        self.transmit.push_back(
            message::Error {
                request_type: RequestType::Invocation,
                request: invocation,
                details,
                error,
                payload,
            }
            .into(),
        );
        Ok(())
    }

    /// Answers an invocation whose answer the session refused (`refusal`, from
    /// [`yield_result`](Session::yield_result) or [`yield_error`](Session::yield_error), for
    /// example a passthru payload of the wrong shape) with ERROR `wamp.error.invalid_argument`
    /// and the refusal's text, so the caller does not wait forever.
    pub fn answer_refused(
        &mut self,
        invocation: RequestId,
        refusal: &UsageError,
    ) -> Result<(), UsageError> {
        const ACTION: &str = "answer a refused invocation";
        self.require_established(ACTION)?;
        self.open_invocation(invocation)?;
        self.end_quietly(
            invocation,
            uri::error::INVALID_ARGUMENT,
            format!("the callee's answer was refused: {refusal}"),
        );
        Ok(())
    }

    /// Answers an invocation the application has nothing to run for (its registration is
    /// gone on our side) with ERROR `wamp.error.no_such_registration`.
    pub fn refuse_invocation(&mut self, invocation: RequestId) -> Result<(), UsageError> {
        const ACTION: &str = "refuse an invocation";
        self.require_established(ACTION)?;
        self.open_invocation(invocation)?;
        self.answered(invocation);
        self.transmit.push_back(
            message::Error::new(
                RequestType::Invocation,
                invocation,
                uri::error::NO_SUCH_REGISTRATION,
            )
            .into(),
        );
        Ok(())
    }

    // ---- time ------------------------------------------------------------------------

    /// The next deadline (a forwarded call timeout), if any: call
    /// [`handle_timeout`](Session::handle_timeout) then (earlier does no harm).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.values().map(|d| d.at).min()
    }

    /// Handles the deadlines that passed by `now`: each invocation whose forwarded timeout
    /// expired is answered with ERROR `wamp.error.timeout`
    /// ([`SessionEvent::InvocationEnded`]).
    pub fn handle_timeout(&mut self, now: Instant) {
        let expired: Vec<(RequestId, u64)> = self
            .deadlines
            .iter()
            .filter(|(_, d)| d.at <= now)
            .map(|(id, d)| (*id, d.timeout_ms))
            .collect();
        for (invocation, ms) in expired {
            self.end_invocation(
                invocation,
                uri::error::TIMEOUT,
                format!("the callee did not answer within the invocation's timeout of {ms} ms"),
            );
        }
    }

    // ---- inputs from the transport ---------------------------------------------------

    /// Handles a message from the router.
    ///
    /// On a protocol violation the session queues ABORT `wamp.error.protocol_violation`,
    /// emits [`SessionEvent::ProtocolViolation`], closes, and returns the error too (for
    /// logging). Messages that arrive while the session is closed are ignored, as are all
    /// but GOODBYE and ABORT while it is shutting down.
    ///
    /// `now` is when the message arrived: a forwarded call timeout runs from then.
    pub fn handle_message(
        &mut self,
        now: Instant,
        mut message: Message,
    ) -> Result<(), ProtocolError> {
        // A payload kept encoded (from an in-process router) is decoded here: the
        // application sees values.
        if let Some(Err(e)) = message.payload_mut().map(Payload::decode_in_place) {
            let error = ProtocolError::Undecodable(e);
            if self.state != SessionState::Closed {
                self.violation(error.clone());
            }
            return Err(error);
        }
        let result = match self.state {
            SessionState::Closed => Ok(()),
            SessionState::ShuttingDown => {
                self.handle_shutting_down(message);
                Ok(())
            }
            SessionState::Establishing | SessionState::Challenged => {
                self.handle_establishing(message)
            }
            SessionState::Established => self.handle_established(now, message),
        };
        if let Err(error) = &result {
            self.violation(error.clone());
        }
        result
    }

    /// Reports that the transport could not decode a frame from the router. Any decoding
    /// failure is a protocol violation: unless the session is already closed, it queues
    /// ABORT `wamp.error.protocol_violation`, emits [`SessionEvent::ProtocolViolation`] and
    /// closes (even while shutting down, since the bad frame may have been the GOODBYE
    /// reply).
    pub fn handle_decode_error(&mut self, error: &DecodeError) {
        if self.state != SessionState::Closed {
            self.violation(ProtocolError::Undecodable(error.clone()));
        }
    }

    /// Reports that the transport closed. Messages not yet polled are dropped; if a session
    /// was open or opening it closes with [`SessionEvent::TransportClosed`].
    pub fn handle_transport_closed(&mut self) {
        self.transmit.clear();
        if self.state != SessionState::Closed {
            self.close();
            self.events.push_back(SessionEvent::TransportClosed);
        }
    }

    // ---- internals -------------------------------------------------------------------

    fn handle_shutting_down(&mut self, message: Message) {
        match message {
            // The reply to ours, or the router's own GOODBYE crossing ours on the wire; either
            // way both sides have now sent GOODBYE, so nothing more is owed.
            Message::Goodbye(goodbye) => {
                self.close();
                self.events.push_back(SessionEvent::Left {
                    reason: goodbye.reason,
                    details: goodbye.details,
                    router_initiated: false,
                });
            }
            Message::Abort(abort) => self.aborted(abort),
            _ => {}
        }
    }

    fn handle_establishing(&mut self, message: Message) -> Result<(), ProtocolError> {
        match message {
            Message::Welcome(welcome) if self.state == SessionState::Establishing => {
                let Welcome { session, details } = *welcome;
                if let Some(credentials) = &mut self.credentials {
                    if let Err(error) = credentials.check_welcome(&details) {
                        self.authentication_failed(error);
                        return Ok(());
                    }
                }
                self.state = SessionState::Established;
                self.session_id = Some(session);
                self.welcome = Some(details.clone());
                let details = Box::new(details);
                self.events
                    .push_back(SessionEvent::Joined { session, details });
                Ok(())
            }
            Message::Challenge(challenge) if self.state == SessionState::Establishing => {
                if !self.offered.contains(&challenge.auth_method) {
                    return Err(ProtocolError::ChallengeMethodNotOffered {
                        method: challenge.auth_method,
                        offered: self.offered.clone(),
                    });
                }
                if let Some(credentials) = self
                    .credentials
                    .as_mut()
                    .filter(|c| c.handles(&challenge.auth_method))
                {
                    match credentials.respond(&challenge) {
                        Ok((signature, extra)) => self
                            .transmit
                            .push_back(Authenticate { signature, extra }.into()),
                        Err(error) => self.authentication_failed(error),
                    }
                    return Ok(());
                }
                self.state = SessionState::Challenged;
                self.events.push_back(SessionEvent::Challenge(challenge));
                Ok(())
            }
            Message::Abort(abort) => {
                self.aborted(abort);
                Ok(())
            }
            other => Err(self.unexpected(&other)),
        }
    }

    fn handle_established(&mut self, now: Instant, message: Message) -> Result<(), ProtocolError> {
        match message {
            Message::Abort(abort) => self.aborted(abort),
            Message::Goodbye(goodbye) => {
                self.close();
                self.transmit
                    .push_back(Goodbye::new(uri::close::GOODBYE_AND_OUT).into());
                self.events.push_back(SessionEvent::Left {
                    reason: goodbye.reason,
                    details: goodbye.details,
                    router_initiated: true,
                });
            }
            Message::Error(error) => self.on_error(error)?,
            Message::Published(published) => {
                self.take_pending(published.request, "PUBLISHED", RequestType::Publish)?;
                self.events.push_back(SessionEvent::Published {
                    request: published.request,
                    publication: published.publication,
                });
            }
            Message::Subscribed(subscribed) => {
                self.take_pending(subscribed.request, "SUBSCRIBED", RequestType::Subscribe)?;
                self.subscriptions
                    .entry(subscribed.subscription)
                    .or_insert(None);
                self.events.push_back(SessionEvent::Subscribed {
                    request: subscribed.request,
                    subscription: subscribed.subscription,
                });
            }
            Message::Unsubscribed(unsubscribed) => self.on_unsubscribed(unsubscribed)?,
            Message::Event(event) => {
                if !self.subscriptions.contains_key(&event.subscription) {
                    return Err(ProtocolError::UnknownSubscription {
                        subscription: event.subscription,
                    });
                }
                self.events.push_back(SessionEvent::Event {
                    subscription: event.subscription,
                    publication: event.publication,
                    details: event.details,
                    payload: event.payload,
                });
            }
            Message::Result(result) => self.on_result(result)?,
            Message::Registered(registered) => {
                let pending =
                    self.take_pending(registered.request, "REGISTERED", RequestType::Register)?;
                if pending == (Pending::Register { whole: true }) {
                    self.whole.insert(registered.registration);
                } else {
                    self.whole.remove(&registered.registration);
                }
                self.registrations
                    .entry(registered.registration)
                    .or_insert(None);
                self.events.push_back(SessionEvent::Registered {
                    request: registered.request,
                    registration: registered.registration,
                });
            }
            Message::Unregistered(unregistered) => self.on_unregistered(unregistered)?,
            Message::Invocation(invocation) => self.on_invocation(now, invocation)?,
            Message::Interrupt(interrupt) => {
                // An INTERRUPT for an invocation we already answered crossed our answer on
                // the wire: drop it.
                if self.invocations.contains_key(&interrupt.request) {
                    if self.answer_interrupts {
                        self.answered(interrupt.request);
                        self.transmit.push_back(
                            message::Error::new(
                                RequestType::Invocation,
                                interrupt.request,
                                uri::error::CANCELED,
                            )
                            .into(),
                        );
                    }
                    self.events.push_back(SessionEvent::Interrupt {
                        request: interrupt.request,
                        options: interrupt.options,
                    });
                }
            }
            other => return Err(self.unexpected(&other)),
        }
        Ok(())
    }

    /// The violation for a message that has no place in the current state.
    fn unexpected(&self, message: &Message) -> ProtocolError {
        if is_client_only(message) {
            ProtocolError::ClientOnlyMessage {
                message: message.name(),
            }
        } else {
            ProtocolError::UnexpectedMessage {
                message: message.name(),
                state: self.state,
            }
        }
    }

    /// Checks that `request` is outstanding with kind `expected` and ends it.
    fn take_pending(
        &mut self,
        request: RequestId,
        message: &'static str,
        expected: RequestType,
    ) -> Result<Pending, ProtocolError> {
        let pending = self.peek_pending(request, message, expected)?;
        self.pending.remove(&request);
        Ok(pending)
    }

    /// Checks that `request` is outstanding with kind `expected`.
    fn peek_pending(
        &self,
        request: RequestId,
        message: &'static str,
        expected: RequestType,
    ) -> Result<Pending, ProtocolError> {
        match self.pending.get(&request) {
            None => Err(ProtocolError::UnknownRequest { message, request }),
            Some(pending) if pending.request_type() != expected => {
                Err(ProtocolError::MismatchedReply {
                    message,
                    request,
                    outstanding: pending.name(),
                })
            }
            Some(pending) => Ok(*pending),
        }
    }

    fn on_error(&mut self, error: message::Error) -> Result<(), ProtocolError> {
        let message::Error {
            request_type,
            request,
            details,
            error,
            payload,
        } = error;
        if request_type == RequestType::Invocation {
            return Err(ProtocolError::ErrorForInvocation { request });
        }
        let pending = match self.pending.get(&request) {
            None => {
                return Err(ProtocolError::UnknownRequest {
                    message: "ERROR",
                    request,
                })
            }
            Some(pending) if pending.request_type() != request_type => {
                return Err(ProtocolError::MismatchedError {
                    request_type: request_type_name(request_type),
                    request,
                    outstanding: pending.name(),
                })
            }
            Some(pending) => *pending,
        };
        self.pending.remove(&request);
        let event = match pending {
            Pending::Publish => SessionEvent::PublishError {
                request,
                error,
                details,
                payload,
            },
            Pending::Subscribe => SessionEvent::SubscribeError {
                request,
                error,
                details,
                payload,
            },
            Pending::Unsubscribe { subscription } => {
                if error == uri::error::NO_SUCH_SUBSCRIPTION {
                    self.subscriptions.remove(&subscription);
                } else if let Some(in_flight) = self.subscriptions.get_mut(&subscription) {
                    *in_flight = None;
                }
                SessionEvent::UnsubscribeError {
                    request,
                    subscription,
                    error,
                    details,
                    payload,
                }
            }
            Pending::Call { .. } => {
                self.open_inputs.remove(&request);
                SessionEvent::CallError {
                    request,
                    error,
                    details,
                    payload,
                }
            }
            Pending::Register { .. } => SessionEvent::RegisterError {
                request,
                error,
                details,
                payload,
            },
            Pending::Unregister { registration } => {
                if error == uri::error::NO_SUCH_REGISTRATION {
                    self.registrations.remove(&registration);
                } else if let Some(in_flight) = self.registrations.get_mut(&registration) {
                    *in_flight = None;
                }
                SessionEvent::UnregisterError {
                    request,
                    registration,
                    error,
                    details,
                    payload,
                }
            }
        };
        self.events.push_back(event);
        Ok(())
    }

    fn on_result(&mut self, result: CallResult) -> Result<(), ProtocolError> {
        let pending = self.peek_pending(result.request, "RESULT", RequestType::Call)?;
        if result.details.progress == Some(true) {
            if !matches!(
                pending,
                Pending::Call {
                    receive_progress: true,
                    ..
                }
            ) {
                return Err(ProtocolError::UnrequestedProgress {
                    request: result.request,
                });
            }
        } else {
            self.pending.remove(&result.request);
            self.open_inputs.remove(&result.request);
        }
        self.events.push_back(SessionEvent::Result {
            request: result.request,
            details: result.details,
            payload: result.payload,
        });
        Ok(())
    }

    fn on_unsubscribed(&mut self, unsubscribed: Unsubscribed) -> Result<(), ProtocolError> {
        match unsubscribed.request {
            Some(request) => {
                let pending =
                    self.take_pending(request, "UNSUBSCRIBED", RequestType::Unsubscribe)?;
                if let Pending::Unsubscribe { subscription } = pending {
                    self.subscriptions.remove(&subscription);
                    self.events.push_back(SessionEvent::Unsubscribed {
                        request,
                        subscription,
                    });
                }
            }
            None => {
                let subscription = unsubscribed.details.subscription.ok_or(
                    ProtocolError::RevocationWithoutId {
                        message: "UNSUBSCRIBED",
                        key: "subscription",
                    },
                )?;
                // A revocation of a subscription we no longer hold is dropped quietly.
                if self.subscriptions.remove(&subscription).is_some() {
                    self.events.push_back(SessionEvent::SubscriptionRevoked {
                        subscription,
                        reason: unsubscribed.details.reason,
                    });
                }
            }
        }
        Ok(())
    }

    fn on_unregistered(&mut self, unregistered: Unregistered) -> Result<(), ProtocolError> {
        match unregistered.request {
            Some(request) => {
                let pending =
                    self.take_pending(request, "UNREGISTERED", RequestType::Unregister)?;
                if let Pending::Unregister { registration } = pending {
                    self.registrations.remove(&registration);
                    self.events.push_back(SessionEvent::Unregistered {
                        request,
                        registration,
                    });
                }
            }
            None => {
                let registration = unregistered.details.registration.ok_or(
                    ProtocolError::RevocationWithoutId {
                        message: "UNREGISTERED",
                        key: "registration",
                    },
                )?;
                // A revocation of a registration we no longer hold is dropped quietly.
                if self.registrations.remove(&registration).is_some() {
                    self.events.push_back(SessionEvent::RegistrationRevoked {
                        registration,
                        reason: unregistered.details.reason,
                    });
                }
            }
        }
        Ok(())
    }

    fn on_invocation(&mut self, now: Instant, invocation: Invocation) -> Result<(), ProtocolError> {
        let Invocation {
            request,
            registration,
            details,
            payload,
        } = invocation;
        let more = details.progress == Some(true);
        if let Some(open) = self.invocations.get_mut(&request) {
            if !open.input_open {
                return Err(ProtocolError::DuplicateInvocation { request });
            }
            if open.registration != registration {
                return Err(ProtocolError::ContinuationRegistrationMismatch {
                    request,
                    registration,
                    expected: open.registration,
                });
            }
            open.input_open = more;
            self.events.push_back(SessionEvent::InvocationChunk {
                request,
                registration,
                details,
                payload,
            });
            return Ok(());
        }
        if self.stale_inputs.contains(&request) {
            // A continuation of a progressive invocation we already answered: it crossed
            // our answer on the wire. The last chunk ends the need to remember it.
            if !more {
                self.stale_inputs.remove(&request);
            }
            return Ok(());
        }
        if !self.registrations.contains_key(&registration) {
            return Err(ProtocolError::UnknownRegistration { registration });
        }
        if more
            && !self
                .config
                .roles
                .callee
                .as_ref()
                .is_some_and(|r| r.supports(features::PROGRESSIVE_CALL_INVOCATIONS))
        {
            return Err(ProtocolError::ProgressiveInvocation { request });
        }
        self.invocations.insert(
            request,
            OpenInvocation {
                receive_progress: details.receive_progress == Some(true),
                registration,
                input_open: more,
            },
        );
        if more && self.whole.contains(&registration) {
            // Its later chunks are discarded once this is answered.
            self.end_quietly(
                request,
                uri::error::FEATURE_NOT_SUPPORTED,
                format!("registration {registration} takes no input in chunks (progressive call invocations): its callee registered it for whole invocations only"),
            );
            return Ok(());
        }
        if let Some(timeout_ms) = details.timeout.filter(|ms| *ms > 0) {
            self.deadlines.insert(
                request,
                Deadline {
                    at: now + Duration::from_millis(timeout_ms),
                    timeout_ms,
                },
            );
        }
        self.events.push_back(SessionEvent::Invocation {
            request,
            registration,
            details,
            payload,
        });
        Ok(())
    }

    /// Answers an open invocation with ERROR `error` (with `why` as its argument) on the
    /// application's behalf, and tells the application to stop its work.
    fn end_invocation(&mut self, invocation: RequestId, error: &str, why: String) {
        self.end_quietly(invocation, error, why);
        self.events.push_back(SessionEvent::InvocationEnded {
            request: invocation,
            error: Uri::new_unchecked(error),
        });
    }

    /// [`end_invocation`](Self::end_invocation) for an invocation the application never saw.
    fn end_quietly(&mut self, invocation: RequestId, error: &str, why: String) {
        self.answered(invocation);
        self.transmit.push_back(
            message::Error::new(RequestType::Invocation, invocation, error)
                .with_args(vec![crate::Value::from(why)])
                .into(),
        );
    }

    /// Checks `message` against the router's size limit.
    fn check_size(&self, message: &Message) -> Result<(), UsageError> {
        match self
            .send_limit
            .and_then(|l| Some((l.exceeded_by(message)?, l.max_size)))
        {
            Some((size, limit)) => Err(UsageError::PayloadTooLarge {
                message: message.name(),
                size,
                limit,
            }),
            None => Ok(()),
        }
    }

    /// Our side of the authentication failed: abort the session being joined.
    fn authentication_failed(&mut self, error: AuthError) {
        self.close();
        self.transmit
            .push_back(Abort::new(uri::error::AUTHENTICATION_FAILED, error.to_string()).into());
        self.events
            .push_back(SessionEvent::AuthenticationFailed { error });
    }

    fn aborted(&mut self, abort: Abort) {
        self.close();
        self.events.push_back(SessionEvent::Aborted {
            reason: abort.reason,
            details: abort.details,
            payload: abort.payload,
        });
    }

    fn violation(&mut self, error: ProtocolError) {
        self.close();
        self.transmit
            .push_back(Abort::new(uri::error::PROTOCOL_VIOLATION, error.to_string()).into());
        self.events
            .push_back(SessionEvent::ProtocolViolation { error });
    }

    /// Ends the session: forgets everything that belonged to it. Queued messages and
    /// events stay.
    fn close(&mut self) {
        self.state = SessionState::Closed;
        self.reset();
    }

    fn reset(&mut self) {
        self.session_id = None;
        self.welcome = None;
        self.request_ids = RequestIdCounter::new();
        self.pending.clear();
        self.subscriptions.clear();
        self.registrations.clear();
        self.invocations.clear();
        self.stale_inputs.clear();
        self.open_inputs.clear();
        self.whole.clear();
        self.deadlines.clear();
        self.offered.clear();
    }

    fn require_established(&self, action: &'static str) -> Result<(), UsageError> {
        if self.state == SessionState::Established {
            Ok(())
        } else {
            Err(UsageError::NotEstablished {
                action,
                state: self.state,
            })
        }
    }

    fn require_role(&self, action: &'static str, role: &'static str) -> Result<&Role, UsageError> {
        let roles = &self.config.roles;
        let announced = match role {
            "publisher" => roles.publisher.as_ref(),
            "subscriber" => roles.subscriber.as_ref(),
            "caller" => roles.caller.as_ref(),
            _ => roles.callee.as_ref(),
        };
        announced.ok_or(UsageError::RoleNotAnnounced { action, role })
    }

    /// The final answer to `invocation` is queued: forget it, remembering it if more of its
    /// input may still arrive.
    fn answered(&mut self, invocation: RequestId) {
        self.deadlines.remove(&invocation);
        if let Some(open) = self.invocations.remove(&invocation) {
            if open.input_open {
                self.stale_inputs.insert(invocation);
                while self.stale_inputs.len() > STALE_INPUTS_KEPT {
                    self.stale_inputs.pop_first();
                }
            }
        }
    }

    fn require_router_feature(
        &self,
        action: &'static str,
        role: &'static str,
        feature: &'static str,
    ) -> Result<(), UsageError> {
        if self.router_supports(role, feature) {
            Ok(())
        } else {
            Err(UsageError::RouterFeatureMissing {
                action,
                role,
                feature,
            })
        }
    }

    /// With `ppt_scheme` set (payload passthru): the feature must be announced by `role`
    /// and the dealer, and `payload` must be one binary argument.
    fn check_passthru(
        &self,
        action: &'static str,
        role: &Role,
        role_name: &'static str,
        ppt_scheme: Option<&str>,
        payload: &Payload,
    ) -> Result<(), UsageError> {
        if ppt_scheme.is_none() {
            return Ok(());
        }
        require_feature(role, action, role_name, features::PAYLOAD_PASSTHRU_MODE)?;
        self.require_router_feature(action, "dealer", features::PAYLOAD_PASSTHRU_MODE)?;
        match payload {
            Payload::Args { args, kwargs } if kwargs.is_empty() => match args.as_slice() {
                [crate::Value::Bytes(_)] => Ok(()),
                _ => Err(UsageError::PassthruPayloadShape { action }),
            },
            _ => Err(UsageError::PassthruPayloadShape { action }),
        }
    }

    fn open_invocation(&self, invocation: RequestId) -> Result<OpenInvocation, UsageError> {
        self.invocations
            .get(&invocation)
            .copied()
            .ok_or(UsageError::UnknownInvocation {
                request: invocation,
            })
    }
}

fn require_feature(
    role: &Role,
    action: &'static str,
    role_name: &'static str,
    feature: &'static str,
) -> Result<(), UsageError> {
    if role.supports(feature) {
        Ok(())
    } else {
        Err(UsageError::FeatureNotAnnounced {
            action,
            role: role_name,
            feature,
        })
    }
}

fn parse_reason(reason: &str) -> Result<Uri, UsageError> {
    Uri::parse(reason).map_err(|source| UsageError::InvalidReason {
        reason: reason.to_owned(),
        source,
    })
}

/// Messages only a client sends; a router sending one breaks the protocol in any state.
fn is_client_only(message: &Message) -> bool {
    matches!(
        message,
        Message::Hello(_)
            | Message::Authenticate(_)
            | Message::Publish(_)
            | Message::Subscribe(_)
            | Message::Unsubscribe(_)
            | Message::Call(_)
            | Message::Cancel(_)
            | Message::Register(_)
            | Message::Unregister(_)
            | Message::Yield(_)
            | Message::EventReceived(_)
    )
}
