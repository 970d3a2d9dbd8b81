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
    /// can keep; `progressive_call_invocations` in particular makes the router send
    /// invocations the session treats as protocol violations.
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

    /// The four client roles, each announcing exactly the advanced features whose messages
    /// the session itself handles:
    ///
    /// | role | features |
    /// |---|---|
    /// | publisher | none (basic profile) |
    /// | subscriber | `subscription_revocation` (UNSUBSCRIBED with request 0 becomes [`SessionEvent::SubscriptionRevoked`](super::SessionEvent::SubscriptionRevoked)) |
    /// | caller | `call_canceling` ([`Session::cancel`](super::Session::cancel)), `progressive_call_results` (progressive RESULTs keep the call outstanding; the application opts in per call with `CallOptions::receive_progress`) |
    /// | callee | `call_canceling` (INTERRUPT becomes [`SessionEvent::Interrupt`](super::SessionEvent::Interrupt)), `progressive_call_results` (progressive YIELDs, allowed only when the invocation asked for them), `registration_revocation` |
    ///
    /// Features that only change what the application puts in options (pattern-based
    /// subscription, publisher exclusion, caller identification...) are not announced:
    /// add them with [`with_roles`](SessionConfig::with_roles) if the application uses them.
    pub fn default_roles() -> ClientRoles {
        ClientRoles {
            publisher: Some(Role::default()),
            subscriber: Some(Role::with_features([features::SUBSCRIPTION_REVOCATION])),
            caller: Some(Role::with_features([
                features::CALL_CANCELING,
                features::PROGRESSIVE_CALL_RESULTS,
            ])),
            callee: Some(Role::with_features([
                features::CALL_CANCELING,
                features::PROGRESSIVE_CALL_RESULTS,
                features::REGISTRATION_REVOCATION,
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
