//! What a session announces in HELLO.

use crate::features;
use crate::message::{ClientRoles, Role};
use crate::uri::Uri;
use crate::value::Dict;

/// The agent string sent in `HELLO.Details.agent` unless configured otherwise:
/// `nexus-<crate version>`.
pub const DEFAULT_AGENT: &str = concat!("nexus-", env!("CARGO_PKG_VERSION"));

/// How a [`Session`](super::Session) introduces itself: the realm, the roles and features it
/// announces, its agent string and what it offers for authentication.
///
/// ```
/// use nexus_core::session::SessionConfig;
/// use nexus_core::Uri;
///
/// let config = SessionConfig::new(Uri::parse("com.example.realm").unwrap())
///     .with_authid("alice")
///     .with_authmethods(["ticket"]);
/// assert!(config.roles.caller.is_some());
/// assert!(config.agent.as_deref().unwrap().starts_with("nexus-"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct SessionConfig {
    /// The realm to join.
    pub realm: Uri,
    /// The roles announced in `HELLO.Details.roles`; by default
    /// [`SessionConfig::default_roles`]. The session refuses (with a
    /// [`UsageError`](super::UsageError)) actions whose role, or whose advanced feature, is
    /// not announced here. Announcing a feature the session does not implement (see
    /// [`default_roles`](SessionConfig::default_roles)) is a promise only the application
    /// can keep; removing one the application does not handle (for example `call_timeout`
    /// when the dealer should time calls itself) is up to the application.
    pub roles: ClientRoles,
    /// `HELLO.Details.agent`; [`DEFAULT_AGENT`] by default, `None` to send none.
    pub agent: Option<String>,
    /// `HELLO.Details.authid`: who to authenticate as.
    pub authid: Option<String>,
    /// `HELLO.Details.authmethods`, in order of preference (for example `ticket`, `wampcra`,
    /// `cryptosign`). Empty: none sent, the router decides (usually anonymous). The router
    /// may only CHALLENGE with one of these.
    pub authmethods: Vec<String>,
    /// `HELLO.Details.authextra`: method-specific data (cryptosign `pubkey`, SCRAM
    /// `nonce`...). Not sent when empty.
    pub authextra: Dict,
}

impl SessionConfig {
    /// A configuration for `realm` with the [default roles](SessionConfig::default_roles),
    /// the [default agent](DEFAULT_AGENT) and no authentication.
    pub fn new(realm: Uri) -> Self {
        SessionConfig {
            realm,
            roles: Self::default_roles(),
            agent: Some(DEFAULT_AGENT.to_owned()),
            authid: None,
            authmethods: Vec::new(),
            authextra: Dict::new(),
        }
    }

    /// The four client roles, each announcing exactly the advanced features the session
    /// handles, or passes through untouched for the application:
    ///
    /// | role | features |
    /// |---|---|
    /// | publisher | none (basic profile) |
    /// | subscriber | `subscription_revocation` (UNSUBSCRIBED with request 0 becomes [`SessionEvent::SubscriptionRevoked`](super::SessionEvent::SubscriptionRevoked)) |
    /// | caller | `call_canceling` ([`Session::cancel`](super::Session::cancel)), `progressive_call_results` (progressive RESULTs keep the call outstanding; opt in per call with `CallOptions::receive_progress`), `progressive_call_invocations` ([`Session::continue_call`](super::Session::continue_call)), `caller_identification` (`CallOptions::disclose_me`), `sharded_registration` (`CallOptions::runmode` and `rkey`; `partition` without `rkey` is refused), `payload_passthru_mode` (`ppt_*` options pass through; the payload must be one binary argument) |
    /// | callee | `call_canceling` and its spelling `call_cancelling` (INTERRUPT becomes [`SessionEvent::Interrupt`](super::SessionEvent::Interrupt)), `progressive_call_results` (progressive YIELDs, allowed only when the invocation asked for them), `progressive_call_invocations` ([`SessionEvent::InvocationChunk`](super::SessionEvent::InvocationChunk)), `registration_revocation` ([`SessionEvent::RegistrationRevoked`](super::SessionEvent::RegistrationRevoked)), `call_timeout` (a forwarded `InvocationDetails::timeout` is enforced by the session: see [`Session::handle_timeout`](super::Session::handle_timeout)), `caller_identification`, `call_trustlevels` (`InvocationDetails::caller`, `trustlevel`), `pattern_based_registration`, `shared_registration` (`RegisterOptions::match_policy`, `invoke`), `sharded_registration`, `payload_passthru_mode` (`ppt_*` details reach the application; YIELD and ERROR may carry `ppt_*` options) |
    ///
    /// The publisher announces `publisher_exclusion`, `publisher_identification`,
    /// `subscriber_blackwhite_listing`, `shareded_subscriptions` and `payload_passthru_mode`,
    /// and the subscriber `pattern_based_subscription`, `publisher_identification`,
    /// `publication_trustlevels`, `shareded_subscriptions` and `payload_passthru_mode`: their
    /// options and details pass through untouched. The callee also announces `call_reroute`
    /// (a handler may answer `wamp.error.unavailable` to have the call re-routed).
    ///
    /// ```
    /// use nexus_core::features;
    /// use nexus_core::session::SessionConfig;
    ///
    /// let roles = SessionConfig::default_roles();
    /// let callee = roles.callee.as_ref().unwrap();
    /// assert!(callee.supports(features::PROGRESSIVE_CALL_INVOCATIONS));
    /// assert!(callee.supports(features::CALL_TIMEOUT));
    /// assert!(roles.publisher.as_ref().unwrap().supports(features::PUBLISHER_EXCLUSION));
    /// ```
    pub fn default_roles() -> ClientRoles {
        ClientRoles {
            publisher: Some(Role::with_features([
                features::PUBLISHER_EXCLUSION,
                features::PUBLISHER_IDENTIFICATION,
                features::SUBSCRIBER_BLACKWHITE_LISTING,
                features::SHARDED_SUBSCRIPTION,
                features::PAYLOAD_PASSTHRU_MODE,
            ])),
            subscriber: Some(Role::with_features([
                features::SUBSCRIPTION_REVOCATION,
                features::PATTERN_BASED_SUBSCRIPTION,
                features::PUBLISHER_IDENTIFICATION,
                features::PUBLICATION_TRUSTLEVELS,
                features::SHARDED_SUBSCRIPTION,
                features::PAYLOAD_PASSTHRU_MODE,
            ])),
            caller: Some(Role::with_features([
                features::CALL_CANCELING,
                features::PROGRESSIVE_CALL_RESULTS,
                features::PROGRESSIVE_CALL_INVOCATIONS,
                features::CALLER_IDENTIFICATION,
                features::SHARDED_REGISTRATION,
                features::PAYLOAD_PASSTHRU_MODE,
            ])),
            callee: Some(Role::with_features([
                features::CALL_CANCELING,
                features::CALL_CANCELLING,
                features::PROGRESSIVE_CALL_RESULTS,
                features::PROGRESSIVE_CALL_INVOCATIONS,
                features::REGISTRATION_REVOCATION,
                features::CALL_TIMEOUT,
                features::CALLER_IDENTIFICATION,
                features::CALL_TRUSTLEVELS,
                features::PATTERN_BASED_REGISTRATION,
                features::SHARED_REGISTRATION,
                features::SHARDED_REGISTRATION,
                features::PAYLOAD_PASSTHRU_MODE,
                features::CALL_REROUTE,
            ])),
            extra: Dict::new(),
        }
    }

    /// Replaces the announced roles.
    pub fn with_roles(mut self, roles: ClientRoles) -> Self {
        self.roles = roles;
        self
    }

    /// Sets the agent string.
    pub fn with_agent(mut self, agent: impl Into<String>) -> Self {
        self.agent = Some(agent.into());
        self
    }

    /// Sends no agent string.
    pub fn without_agent(mut self) -> Self {
        self.agent = None;
        self
    }

    /// Sets the authid.
    pub fn with_authid(mut self, authid: impl Into<String>) -> Self {
        self.authid = Some(authid.into());
        self
    }

    /// Sets the authentication methods offered, in order of preference.
    pub fn with_authmethods<S: Into<String>>(
        mut self,
        authmethods: impl IntoIterator<Item = S>,
    ) -> Self {
        self.authmethods = authmethods.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the method-specific authentication data.
    pub fn with_authextra(mut self, authextra: Dict) -> Self {
        self.authextra = authextra;
        self
    }
}
