//! What the router asks of the driver ([`Action`]) and the answers it takes: the questions
//! about authentication ([`AuthRequest`], answered with an [`AuthDecision`]) and
//! authorization ([`AuthzRequest`]), and who an authenticated session is ([`Identity`]).

use super::auth::transport::{CookieGrant, TransportAuth};
use super::connection::ConnectionId;
#[cfg(doc)]
use super::{AuthMode, Router};
use crate::id::SessionId;
use crate::message::{Authenticate, ChallengeExtra, Hello};
use crate::uri::{MatchPolicy, Uri};
use crate::value::Dict;

/// Something the driver must do.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Action {
    /// The connection has messages to send: drain them with
    /// [`Router::poll_transmit`]. Emitted when its queue goes from empty to non-empty.
    Transmit(ConnectionId),
    /// Close the connection's transport once its queued messages are sent, then
    /// [`Router::detach`] it.
    Close(ConnectionId),
    /// Decide how a joining client authenticates; answer with
    /// [`Router::resolve_authentication`].
    Authenticate(AuthRequest),
    /// Decide whether a session may perform an action; answer with
    /// [`Router::resolve_authorization`].
    Authorize(AuthzRequest),
    /// A session authenticated (by a method other than `anonymous` or `cookie`) on a
    /// connection whose WebSocket handshake issued a cookie: remember that the cookie now
    /// stands for this identity (in a [`CookieStore`](super::CookieStore)), so a later connection presenting
    /// it can authenticate with `cookie`. Nothing to answer.
    RememberCookie(CookieGrant),
}

/// A question about a joining client, for realms with [`AuthMode::External`].
#[derive(Debug, Clone, PartialEq)]
pub struct AuthRequest {
    /// The connection.
    pub connection: ConnectionId,
    /// The realm asked for.
    pub realm: Uri,
    /// The client's HELLO.
    pub hello: Box<Hello>,
    /// The client's answer to the last CHALLENGE (`None` on the HELLO itself).
    pub authenticate: Option<Authenticate>,
    /// What the transport knows about the client (cookie, TLS client certificate, channel
    /// binding), as given to [`Router::set_transport_auth`] (boxed: most connections
    /// have none, and actions stay small).
    pub transport: Box<TransportAuth>,
}

/// The answer to an [`AuthRequest`].
#[derive(Debug, Clone, PartialEq)]
pub enum AuthDecision {
    /// Let the client in with this identity.
    Welcome(Identity),
    /// Send this CHALLENGE; the client's AUTHENTICATE comes back as another request.
    Challenge {
        /// The authentication method.
        method: String,
        /// Its data.
        extra: ChallengeExtra,
    },
    /// Refuse with ABORT.
    Deny {
        /// The ABORT reason, e.g. `wamp.error.authentication_failed`.
        reason: String,
        /// A message for the client (say nothing that helps an attacker).
        message: String,
    },
}

/// Who an authenticated session is.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Identity {
    /// The authenticated identity.
    pub authid: String,
    /// The role it gets.
    pub authrole: String,
    /// The method that authenticated it.
    pub authmethod: String,
    /// Who authenticated it.
    pub authprovider: String,
    /// Method-specific data for WELCOME.
    pub authextra: Dict,
}

/// An action that needs authorization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthzAction {
    /// CALL.
    Call,
    /// REGISTER.
    Register,
    /// PUBLISH.
    Publish,
    /// SUBSCRIBE.
    Subscribe,
}

/// A question about one action, for realms with [`AuthzMode::External`](super::AuthzMode::External).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthzRequest {
    /// Identifies the request in [`Router::resolve_authorization`].
    pub token: u64,
    /// The connection.
    pub connection: ConnectionId,
    /// The session.
    pub session: SessionId,
    /// The realm.
    pub realm: Uri,
    /// The session's authid.
    pub authid: String,
    /// The session's authrole.
    pub authrole: String,
    /// The action.
    pub action: AuthzAction,
    /// The topic or procedure (or pattern).
    pub uri: Uri,
    /// How `uri` matches: the pattern's policy for a SUBSCRIBE or REGISTER of a pattern,
    /// exact otherwise.
    pub match_policy: MatchPolicy,
    /// The meta procedure whose target this question is about, if any: the session called
    /// `wamp.subscription.get_events` (may it subscribe to the subscription's URI?) or
    /// `wamp.session.add_testament` (may it publish to the testament's topic?), and that
    /// CALL is already allowed. `None` when the session itself performs `action`.
    pub via: Option<Uri>,
}
