//! The session lifecycle on the router's side (digest §2.1 opening, §2.2 closing, §2.4
//! request IDs): WELCOME, the request-ID watermark of an established session, GOODBYE in
//! both directions, and the teardown that ends what a session held in every feature, in a
//! fixed order (subscriptions and registrations first, so a departing session gets none of the
//! meta events its departure causes, then testaments and `on_leave`). How a HELLO is
//! authenticated before the WELCOME is the [`auth`] module's.

use super::auth::{self, Identity};
use super::config::RequestIdPolicy;
use super::connection::{ConnectionId, Connections, SessionData, State};
use super::context::Ctx;
use super::meta::{self, session as session_meta};
use super::pubsub;
use super::realm::Realm;
use super::rpc;
use super::Action;
use crate::id::{RequestId, SessionId};
use crate::message::{Goodbye, GoodbyeDetails, Hello, Welcome, WelcomeDetails};
use crate::uri::{self, Uri};

/// Establishes the session on `conn` in `realm` with `identity`. `session` is the ID a
/// CHALLENGE announced, if any (it is used unless another session took it meanwhile).
pub(crate) fn welcome(
    cx: &mut Ctx<'_>,
    realm: &mut Realm,
    conn: ConnectionId,
    hello: &Hello,
    identity: Identity,
    session: Option<SessionId>,
) {
    let session = match session {
        Some(id) if !cx.conns.sessions.contains_key(&id) => id,
        _ => cx.conns.unused_session_id(cx.ids),
    };
    auth::remember_cookie(cx.conns, realm, conn, &identity);
    cx.conns.set_deadline(conn, None);
    let Some(c) = cx.conns.get_mut(conn) else {
        return;
    };
    c.state = State::Established;
    let trust_level = realm
        .config
        .trust
        .level(&identity.authrole, c.transport.as_deref());
    c.session = Some(SessionData {
        id: session,
        realm: realm.id,
        authid: identity.authid.clone(),
        authrole: identity.authrole.clone(),
        authmethod: identity.authmethod.clone(),
        authprovider: identity.authprovider.clone(),
        trust_level,
        slow_subscriber: realm.config.slow_subscriber,
        roles: crate::features::PeerRoles::of(hello.details.roles.as_ref()),
        last_request: None,
        rpc: Default::default(),
        pubsub: Default::default(),
        testaments: Default::default(),
        quiet: false,
    });
    cx.conns.sessions.insert(session, conn);
    realm.sessions.insert(session, conn);
    let details = WelcomeDetails {
        roles: Some(cx.roles.clone()),
        agent: Some(cx.config.agent.clone()),
        authid: Some(identity.authid),
        authrole: Some(identity.authrole),
        authmethod: Some(identity.authmethod),
        authprovider: Some(identity.authprovider),
        authextra: (!identity.authextra.is_empty()).then_some(identity.authextra),
        realm: Some(realm.config.name.to_string()),
        ..Default::default()
    };
    cx.conns.reply(conn, Welcome { session, details });
    session_meta::session_joined(cx, realm, conn);
}

/// Checks a new request ID against the session's watermark (digest §1.3.4): sequential
/// under [`RequestIdPolicy::Strict`], only never reused by a call in flight otherwise.
pub(crate) fn check_request(
    conns: &mut Connections,
    policy: RequestIdPolicy,
    conn: ConnectionId,
    request: RequestId,
    is_call: bool,
) -> bool {
    let Some(s) = conns.session_mut(conn) else {
        return false;
    };
    let expected = s.last_request.map_or(RequestId::MIN, RequestId::next);
    match policy {
        RequestIdPolicy::Strict if request != expected => {
            let msg =
                format!("request IDs must be sequential: expected {expected}, received {request}");
            conns.violation(conn, msg);
            false
        }
        RequestIdPolicy::Lenient if is_call && s.rpc.calls.contains_key(&request) => {
            let msg = format!("CALL request ID {request} is already in use by a call in flight");
            conns.violation(conn, msg);
            false
        }
        _ => {
            s.last_request = Some(request);
            true
        }
    }
}

/// The client said GOODBYE: the router answers `wamp.close.goodbye_and_out` and ends the
/// session; the transport may carry a new one, and has the handshake timeout to.
pub(crate) fn client_goodbye(cx: &mut Ctx<'_>, realm: &mut Realm, conn: ConnectionId) {
    cx.conns
        .reply(conn, Goodbye::new(uri::close::GOODBYE_AND_OUT));
    end(cx, realm, conn);
    if let Some(c) = cx.conns.get_mut(conn) {
        c.state = State::AwaitingHello;
    }
    let deadline = cx.now + cx.config.handshake_timeout;
    cx.conns.set_deadline(conn, Some(deadline));
}

/// Sends GOODBYE and waits (up to the goodbye timeout) for the reply; the session in
/// `realm` is torn down at once, so it gets no more events or invocations.
pub(crate) fn goodbye(
    cx: &mut Ctx<'_>,
    realm: &mut Realm,
    conn: ConnectionId,
    reason: &str,
    message: Option<String>,
) {
    cx.conns.reply(
        conn,
        Goodbye {
            details: GoodbyeDetails {
                message,
                ..Default::default()
            },
            reason: Uri::new_unchecked(reason),
        },
    );
    end(cx, realm, conn);
    if let Some(c) = cx.conns.get_mut(conn) {
        c.state = State::ShuttingDown;
    }
    let deadline = cx.now + cx.config.goodbye_timeout;
    cx.conns.set_deadline(conn, Some(deadline));
}

/// Ends the session on `conn`, if any, in whichever realm it is.
pub(crate) fn teardown(cx: &mut Ctx<'_>, realms: &mut [Realm], conn: ConnectionId) {
    if let Some(session) = take_session(cx.conns, conn) {
        let realm = &mut realms[session.realm.index()];
        end_session(cx, realm, conn, session);
    }
}

/// Ends the session on `conn`, which is in `realm`.
fn end(cx: &mut Ctx<'_>, realm: &mut Realm, conn: ConnectionId) {
    if let Some(session) = take_session(cx.conns, conn) {
        debug_assert_eq!(session.realm, realm.id);
        end_session(cx, realm, conn, session);
    }
}

/// Takes the session off `conn`, dropping what waits for an authorization.
fn take_session(conns: &mut Connections, conn: ConnectionId) -> Option<SessionData> {
    let c = conns.get_mut(conn)?;
    c.pending = None;
    c.inbox.clear();
    c.session.take()
}

/// Removes everything `session` held, then announces its departure.
fn end_session(cx: &mut Ctx<'_>, realm: &mut Realm, conn: ConnectionId, session: SessionData) {
    let unsubscribed = pubsub::session_ended(realm, conn, &session);
    let unregistered = rpc::session_ended(cx.conns, realm, conn, &session);
    realm.sessions.shift_remove(&session.id);
    cx.conns.sessions.remove(&session.id);
    for (subscription, deleted) in unsubscribed {
        meta::subscription_removed(cx, realm, session.id, subscription, deleted);
    }
    for (registration, deleted) in unregistered {
        meta::registration_removed(cx, realm, session.id, registration, deleted);
    }
    // Last, once the session holds no subscription, so it gets none of them.
    session_meta::session_left(cx, realm, conn, session);
}

/// Closes the doomed connections: tears their sessions down and asks the driver to close
/// their transports.
pub(crate) fn reap(cx: &mut Ctx<'_>, realms: &mut [Realm]) {
    while let Some(conn) = cx.conns.doomed.pop() {
        teardown(cx, realms, conn);
        let Some(c) = cx.conns.get_mut(conn) else {
            continue;
        };
        if matches!(c.state, State::Closed) {
            continue;
        }
        c.state = State::Closed;
        c.inbox.clear();
        cx.conns.set_deadline(conn, None);
        cx.conns.actions.push_back(Action::Close(conn));
    }
}

/// A connection's deadline passed: one still in the handshake, or waiting for the reply
/// to the router's GOODBYE, is closed.
pub(crate) fn deadline_passed(conns: &mut Connections, conn: ConnectionId) {
    let expired = conns.get(conn).is_some_and(|c| {
        matches!(
            c.state,
            State::AwaitingHello | State::Authenticating { .. } | State::ShuttingDown
        )
    });
    if expired {
        conns.doom(conn);
    }
}
