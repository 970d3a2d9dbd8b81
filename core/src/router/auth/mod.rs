//! Authentication on the router's side (digest §5): what a HELLO gets in a
//! realm — WELCOME as `anonymous`, a question to the application ([`AuthMode::External`]),
//! or the built-in provider's CHALLENGE/AUTHENTICATE exchange ([`AuthMode::Static`], in
//! [`static_auth`]) — what the transport knows about the client ([`transport`]), and WebSocket
//! cookies: the store of which cookie stands for whom, the issuing of fresh cookies to
//! clients that present none the router knows, and the binding of an issued cookie to the
//! identity that then authenticates on its connection ([`cookie`]).

pub(crate) mod cookie;
mod digest;
pub(crate) mod static_auth;
pub(crate) mod transport;

use super::config::AuthMode;
use super::connection::{ConnectionId, Connections, State};
use super::context::Ctx;
use super::lifecycle;
use super::realm::Realm;
use super::{Action, AuthDecision, AuthRequest};
use crate::id::IdGenerator;
use crate::message::{Authenticate, Challenge, Hello};
use crate::uri;
use crate::value::Dict;
use static_auth::{AuthEntropy, HelloContext, Outcome, StaticAuth};
use transport::CookieGrant;

pub(crate) use super::actions::Identity;

/// The router's authentication state: the generator of challenges and cookies.
#[derive(Default)]
pub(crate) struct Authentication {
    /// The CSPRNG of authentication challenges and cookie values (`None` until seeded).
    pub entropy: Option<AuthEntropy>,
}

impl Authentication {
    /// A HELLO to `realm` on `conn`: WELCOME, CHALLENGE, ABORT, or a question to the
    /// application, as the realm's [`AuthMode`] says.
    pub fn on_hello(
        &mut self,
        cx: &mut Ctx<'_>,
        realm: &mut Realm,
        conn: ConnectionId,
        hello: Box<Hello>,
    ) {
        match &realm.config.auth {
            AuthMode::Anonymous => {
                let methods = hello.details.authmethods.as_deref().unwrap_or_default();
                if !methods.is_empty() && !methods.iter().any(|m| m == "anonymous") {
                    return cx.conns.abort(
                        conn,
                        uri::error::NO_MATCHING_AUTH_METHOD,
                        format!(
                            "realm {} only allows anonymous authentication, which the client did not offer",
                            hello.realm
                        ),
                    );
                }
                let identity = anonymous(cx.ids, "anonymous".into(), "static");
                lifecycle::welcome(cx, realm, conn, &hello, identity, None);
            }
            AuthMode::External => {
                let transport = Box::new(
                    cx.conns
                        .get(conn)
                        .map(|c| c.auth.clone())
                        .unwrap_or_default(),
                );
                let request = AuthRequest {
                    connection: conn,
                    realm: hello.realm.clone(),
                    hello: hello.clone(),
                    authenticate: None,
                    transport,
                };
                if let Some(c) = cx.conns.get_mut(conn) {
                    c.state = State::Authenticating {
                        realm: realm.id,
                        hello,
                        waiting: true,
                        pending: None,
                    };
                }
                cx.conns.actions.push_back(Action::Authenticate(request));
            }
            AuthMode::Static(auth) => {
                let auth = auth.clone();
                self.on_static_hello(cx, realm, conn, hello, &auth);
            }
        }
    }

    /// A HELLO to a realm with the built-in provider: WELCOME, CHALLENGE or ABORT at once.
    fn on_static_hello(
        &mut self,
        cx: &mut Ctx<'_>,
        realm: &mut Realm,
        conn: ConnectionId,
        hello: Box<Hello>,
        auth: &StaticAuth,
    ) {
        let session = cx.conns.unused_session_id(cx.ids);
        let transport = cx
            .conns
            .get(conn)
            .map(|c| c.auth.clone())
            .unwrap_or_default();
        let hello_cx = HelloContext {
            realm: &realm.config.name,
            hello: &hello,
            transport: &transport,
            now: cx.now,
            unix_millis: cx.clock.unix_millis(cx.now),
            session,
        };
        let outcome = auth.on_hello(&hello_cx, self.entropy.as_mut());
        static_outcome(cx, realm, conn, hello, outcome);
    }
}

/// An AUTHENTICATE on `conn`, authenticating to `realm`: decided at once by the built-in
/// provider, or handed to the application.
pub(crate) fn on_authenticate(
    cx: &mut Ctx<'_>,
    realm: &mut Realm,
    conn: ConnectionId,
    authenticate: Authenticate,
) {
    let Some(c) = cx.conns.get_mut(conn) else {
        return;
    };
    let State::Authenticating { hello, pending, .. } = &mut c.state else {
        return;
    };
    if let Some(pending) = pending.take() {
        // The built-in provider: one AUTHENTICATE per CHALLENGE, decided at once.
        let State::Authenticating { hello, .. } =
            std::mem::replace(&mut c.state, State::AwaitingHello)
        else {
            unreachable!("matched above")
        };
        let session = pending.session;
        match StaticAuth::on_authenticate(pending, &authenticate) {
            Outcome::Welcome(identity) => {
                lifecycle::welcome(cx, realm, conn, &hello, identity, session)
            }
            Outcome::Deny { reason, message } => cx.conns.abort(conn, reason, message),
            // Not produced for an AUTHENTICATE; refuse rather than trust it.
            _ => cx.conns.abort(
                conn,
                uri::error::AUTHENTICATION_FAILED,
                "authentication failed".into(),
            ),
        }
        return;
    }
    let request = AuthRequest {
        connection: conn,
        realm: realm.config.name.clone(),
        hello: hello.clone(),
        authenticate: Some(authenticate),
        transport: Box::new(c.auth.clone()),
    };
    cx.conns.actions.push_back(Action::Authenticate(request));
}

/// The application's answer to an [`Action::Authenticate`] for `conn` (whose state the
/// caller checked: authenticating to `realm`, waiting for this answer).
pub(crate) fn resolved(
    cx: &mut Ctx<'_>,
    realm: &mut Realm,
    conn: ConnectionId,
    decision: AuthDecision,
) {
    let Some(c) = cx.conns.get_mut(conn) else {
        return;
    };
    match decision {
        AuthDecision::Welcome(identity) => {
            let State::Authenticating { hello, .. } =
                std::mem::replace(&mut c.state, State::AwaitingHello)
            else {
                return;
            };
            lifecycle::welcome(cx, realm, conn, &hello, identity, None);
        }
        AuthDecision::Challenge { method, extra } => {
            if let State::Authenticating { waiting, .. } = &mut c.state {
                *waiting = false;
            }
            cx.conns.reply(
                conn,
                Challenge {
                    auth_method: method,
                    extra,
                },
            );
        }
        AuthDecision::Deny { reason, message } => cx.conns.abort(conn, &reason, message),
    }
}

/// Carries out what the built-in provider decided about a HELLO.
fn static_outcome(
    cx: &mut Ctx<'_>,
    realm: &mut Realm,
    conn: ConnectionId,
    hello: Box<Hello>,
    outcome: Outcome,
) {
    match outcome {
        Outcome::Welcome(identity) => lifecycle::welcome(cx, realm, conn, &hello, identity, None),
        Outcome::Anonymous(role) => {
            let identity = anonymous(cx.ids, role, static_auth::PROVIDER);
            lifecycle::welcome(cx, realm, conn, &hello, identity, None);
        }
        Outcome::Challenge {
            method,
            extra,
            pending,
        } => {
            if let Some(c) = cx.conns.get_mut(conn) {
                c.state = State::Authenticating {
                    realm: realm.id,
                    hello,
                    waiting: false,
                    pending: Some(pending),
                };
            }
            cx.conns.reply(
                conn,
                Challenge {
                    auth_method: method.to_owned(),
                    extra,
                },
            );
        }
        Outcome::Deny { reason, message } => cx.conns.abort(conn, reason, message),
    }
}

/// An anonymous identity with a random authid.
fn anonymous(ids: &mut IdGenerator, authrole: String, provider: &str) -> Identity {
    Identity {
        authid: anonymous_authid(ids),
        authrole,
        authmethod: "anonymous".into(),
        authprovider: provider.into(),
        authextra: Dict::new(),
    }
}

/// Asks the driver to bind the cookie issued on this connection to the identity that
/// just authenticated. Not for `anonymous` (nothing to remember) nor `cookie` (already
/// bound), and never for a cookie the client merely presented (session fixation: see
/// [`ConnectionCookie`](transport::ConnectionCookie)).
pub(crate) fn remember_cookie(
    conns: &mut Connections,
    realm: &Realm,
    conn: ConnectionId,
    identity: &Identity,
) {
    if matches!(identity.authmethod.as_str(), "anonymous" | "cookie") {
        return;
    }
    let Some(cookie) = conns.get(conn).and_then(|c| c.auth.cookie.as_ref()) else {
        return;
    };
    if !cookie.issued {
        return;
    }
    let grant = CookieGrant {
        value: cookie.value.clone(),
        realm: realm.config.name.clone(),
        identity: Identity {
            authextra: Dict::new(),
            ..identity.clone()
        },
        max_age: cookie.max_age,
    };
    conns.actions.push_back(Action::RememberCookie(grant));
}

/// Crossbar-style random authid for anonymous sessions, e.g. `5HUC-TTJX-9KYH-7CMP`.
fn anonymous_authid(rng: &mut IdGenerator) -> String {
    const ALPHABET: &[u8] = b"345679ACEFGHJKLMNPQRSTUVWXY";
    let mut n = rng.next_u64();
    let mut out = String::with_capacity(19);
    for i in 0..16 {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        out.push(ALPHABET[(n % ALPHABET.len() as u64) as usize] as char);
        n /= ALPHABET.len() as u64;
        if n == 0 {
            n = rng.next_u64();
        }
    }
    out
}
