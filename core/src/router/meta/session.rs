//! The session meta API (digest §4.23) and the testament meta API (§4.24).
//!
//! # Session meta events
//!
//! `wamp.session.on_join(details)` is published in the session's realm right after its
//! WELCOME; `wamp.session.on_leave(session, authid, authrole)` once it has been torn down,
//! whatever ended it (GOODBYE from either side, ABORT, a protocol violation, a lost
//! transport, a kill).
//!
//! # Session details
//!
//! `wamp.session.get` and `on_join` describe a session as
//! `{session, authid, authrole, authmethod, authprovider, transport}`, the identity being the
//! one its WELCOME announced. `transport` is `{"type": label, "serializer": name}`: the label
//! the driver gave with [`Router::set_transport`](crate::router::Router::set_transport) (`ws`, `tcp`, `unix`...) and the
//! serializer negotiated (`json`, `msgpack`, `cbor`); a key is left out when unknown. The
//! router knows nothing more about the transport (no peer address: the core does no I/O).
//!
//! # Session meta procedures
//!
//! They see the caller's realm only. `count` and `list` take an optional list of authroles
//! to filter by (an empty list matches nothing). The kill procedures end sessions through
//! the same GOODBYE path as [`Router::kill`](crate::router::Router::kill): the reason is the keyword argument `reason`
//! (default `wamp.close.killed`; anything that is not a valid URI gets
//! `wamp.error.invalid_uri`) and `message` goes into `GOODBYE.Details.message`. The caller
//! is never killed: `kill` of its own session gets `wamp.error.no_such_session`, the others
//! leave it out. `kill_by_authid` returns the list of sessions killed, `kill_by_authrole`
//! and `kill_all` their number (as the spec's prose says; its catalog disagrees).
//!
//! `kill_all` ends its sessions quietly, as the spec asks: no `on_leave` and no testaments
//! for them. Besides, announcing each departure to the sessions not yet killed would cost a
//! number of events quadratic in the realm's size. [`Router::shutdown`](crate::router::Router::shutdown) ends sessions the
//! same way, for the same reason.
//!
//! # Testaments
//!
//! `wamp.session.add_testament(topic, args, kwargs; publish_options=, scope=)` stores a
//! publication for the caller's session in one of two scopes, `destroyed` (the default) or
//! `detached`; `wamp.session.flush_testaments(scope=)` drops one scope's and returns how many
//! there were. The topic is checked as a PUBLISH topic is (`wamp.error.invalid_uri`, and
//! `wamp.error.not_authorized` in the reserved `wamp.` namespace). A session holds at most
//! [`RouterConfig::max_testaments`](crate::router::RouterConfig::max_testaments) (both scopes together).
//!
//! When the session ends, after its subscriptions are gone (so it receives none of them), its
//! testaments are published in the order they were added, `detached` ones first (the router
//! has no session resumption, so a session is detached and destroyed at once), each as a
//! publication of that session: its trust level, its stored options (`acknowledge` has no one
//! to answer and is ignored). Then `on_leave` follows.
//!
//! Adding a testament needs, besides the right to call `wamp.session.add_testament`, the
//! right to publish to the testament's topic (checked then, with the session's role; an
//! external authorizer is asked a second question, with
//! [`AuthzRequest::via`](crate::router::AuthzRequest::via) naming the procedure). A permission that
//! discloses the role's publications to that topic discloses the testament too.

use super::{result, MetaArgs, MetaError, MetaResult};
use crate::features::{self, supports};
use crate::id::{PublicationId, SessionId};
use crate::message::{Payload, PublishOptions};
use crate::router::config::Disclosure;
use crate::router::connection::{ConnectionId, Connections, SessionData};
use crate::router::context::Ctx;
use crate::router::lifecycle;
use crate::router::pubsub::{self, broker};
use crate::router::realm::Realm;
use crate::uri::{self, MatchPolicy, Uri, UriRules};
use crate::value::{Dict, Value};

/// One testament: a publication the router makes for a session when it ends.
#[derive(Debug)]
pub(crate) struct Testament {
    topic: Uri,
    payload: Payload,
    options: PublishOptions,
    /// The permission that allowed the session to publish to `topic` discloses it.
    disclose: bool,
}

/// A session's testaments by scope, each in the order they were added.
#[derive(Debug, Default)]
pub(crate) struct Testaments {
    detached: Vec<Testament>,
    destroyed: Vec<Testament>,
}

impl Testaments {
    fn len(&self) -> usize {
        self.detached.len() + self.destroyed.len()
    }

    fn scope(&mut self, scope: Scope) -> &mut Vec<Testament> {
        match scope {
            Scope::Detached => &mut self.detached,
            Scope::Destroyed => &mut self.destroyed,
        }
    }
}

/// When a testament is published.
#[derive(Debug, Clone, Copy)]
enum Scope {
    Detached,
    Destroyed,
}

/// Which sessions `wamp.session.kill_by_authid`, `kill_by_authrole` and `kill_all` end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kill {
    Authid,
    Authrole,
    All,
}

impl MetaArgs<'_> {
    /// An optional list of strings at `index` (absent or null: `None`).
    fn strings(&self, index: usize, what: &str) -> Result<Option<Vec<&str>>, MetaError> {
        let list = match self.args.get(index) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::List(list)) => list,
            Some(_) => return Err(self.expected(index, what)),
        };
        list.iter()
            .map(|v| v.as_str().ok_or_else(|| self.expected(index, what)))
            .collect::<Result<_, _>>()
            .map(Some)
    }

    /// A string at `index`.
    fn string(&self, index: usize, what: &str) -> Result<&str, MetaError> {
        self.args
            .get(index)
            .and_then(Value::as_str)
            .ok_or_else(|| self.expected(index, what))
    }

    fn expected(&self, index: usize, what: &str) -> MetaError {
        MetaError::argument(format!(
            "{}: argument {} must be {what}",
            self.procedure,
            index + 1
        ))
    }

    /// The keyword argument `scope`: `destroyed` when absent.
    fn scope(&self) -> Result<Scope, MetaError> {
        match self.kwargs.get("scope") {
            None | Some(Value::Null) => Ok(Scope::Destroyed),
            Some(v) => match v.as_str() {
                Some("destroyed") => Ok(Scope::Destroyed),
                Some("detached") => Ok(Scope::Detached),
                _ => Err(MetaError::argument(format!(
                    "{}: scope must be \"destroyed\" or \"detached\"",
                    self.procedure
                ))),
            },
        }
    }
}

fn no_such_session(session: SessionId, why: &str) -> MetaError {
    MetaError::new(
        uri::error::NO_SUCH_SESSION,
        format!("no session {session} {why}"),
    )
}

// ---- hooks -------------------------------------------------------------------------------

/// Publishes `wamp.session.on_join` for the session just welcomed on `conn`.
pub(crate) fn session_joined(cx: &mut Ctx<'_>, realm: &Realm, conn: ConnectionId) {
    super::publish_event(cx, realm, "wamp.session.on_join", |cx, _| {
        vec![Value::Dict(
            session_details(cx.conns, conn).unwrap_or_default(),
        )]
    });
}

/// The end of a session's teardown: publishes its testaments, then
/// `wamp.session.on_leave`, unless it ends quietly.
pub(crate) fn session_left(
    cx: &mut Ctx<'_>,
    realm: &mut Realm,
    conn: ConnectionId,
    mut session: SessionData,
) {
    if session.quiet {
        return;
    }
    let Testaments {
        detached,
        destroyed,
    } = std::mem::take(&mut session.testaments);
    for testament in detached.into_iter().chain(destroyed) {
        publish_testament(cx, realm, conn, &session, testament);
    }
    let SessionData {
        id,
        authid,
        authrole,
        ..
    } = session;
    super::publish_event(cx, realm, "wamp.session.on_leave", |_, _| {
        vec![Value::from(id), Value::from(authid), Value::from(authrole)]
    });
}

/// Publishes one testament of `session`, which has left `conn`: a publication of that
/// session, at its trust level, with the options it stored. This is the testaments' one
/// way into the broker: a broker that needs more of the publisher (to disclose it, say)
/// takes it from `session`, since the connection no longer holds it.
/// Publishes a testament as a publication of the departed session (its trust level,
/// and its identity if the stored options or the realm ask for disclosure).
fn publish_testament(
    cx: &mut Ctx<'_>,
    realm: &mut Realm,
    conn: ConnectionId,
    session: &SessionData,
    t: Testament,
) {
    let disclose = realm
        .config
        .publisher_disclosure
        .discloses(t.options.disclose_me == Some(true) || t.disclose);
    let origin = broker::Origin {
        conn: Some(conn),
        session: Some(session.id),
        disclosed: disclose.then(|| (session.id, session.authid.clone(), session.authrole.clone())),
        trustlevel: Some(session.trust_level),
    };
    let publication = PublicationId::from_id(cx.ids.next_id());
    pubsub::publish_as(
        cx,
        realm,
        &origin,
        publication,
        t.topic,
        t.options,
        t.payload,
    );
}

/// Makes the session on `conn` end without `on_leave` or testaments.
pub(crate) fn leave_quietly(conns: &mut Connections, conn: ConnectionId) {
    if let Some(s) = conns.session_mut(conn) {
        s.quiet = true;
    }
}

/// The details of the session on `conn` (see the [module documentation](self)).
fn session_details(conns: &Connections, conn: ConnectionId) -> Option<Dict> {
    let c = conns.get(conn)?;
    let s = c.session.as_ref()?;
    let mut transport = Dict::new();
    if let Some(label) = &c.transport {
        transport.insert("type".into(), Value::from(label.as_str()));
    }
    if let Some(serializer) = c.serializer {
        transport.insert("serializer".into(), Value::from(serializer.name()));
    }
    let mut d = Dict::new();
    d.insert("session".into(), Value::from(s.id));
    d.insert("authid".into(), Value::from(s.authid.as_str()));
    d.insert("authrole".into(), Value::from(s.authrole.as_str()));
    d.insert("authmethod".into(), Value::from(s.authmethod.as_str()));
    d.insert("authprovider".into(), Value::from(s.authprovider.as_str()));
    d.insert("transport".into(), Value::Dict(transport));
    Some(d)
}

// ---- session meta procedures ---------------------------------------------------------------

/// `wamp.session.count([filter_authroles])`, or with `list` `wamp.session.list`: the
/// realm's sessions (in the order they joined), the caller's included.
pub(crate) fn list_or_count(
    conns: &Connections,
    realm: &Realm,
    a: &MetaArgs<'_>,
    list: bool,
) -> MetaResult {
    let filter = a.strings(0, "the authroles to filter by (a list of strings)")?;
    let sessions = realm
        .sessions
        .iter()
        .filter(|(_, conn)| {
            let Some(filter) = &filter else {
                return true;
            };
            conns
                .session(**conn)
                .is_some_and(|s| filter.contains(&s.authrole.as_str()))
        })
        .map(|(id, _)| Value::from(*id));
    if list {
        result(Value::List(sessions.collect()))
    } else {
        result(sessions.count() as u64)
    }
}

/// `wamp.session.get(session)`.
pub(crate) fn get(conns: &Connections, realm: &Realm, a: &MetaArgs<'_>) -> MetaResult {
    let id = SessionId::from_id(a.id(0, "session")?);
    match realm.sessions.get(&id) {
        Some(&conn) => result(session_details(conns, conn).unwrap_or_default()),
        None => Err(no_such_session(id, "in this realm")),
    }
}

/// `wamp.session.kill(session; reason=, message=)`.
pub(crate) fn kill(
    cx: &mut Ctx<'_>,
    realm: &mut Realm,
    caller: ConnectionId,
    a: &MetaArgs<'_>,
) -> MetaResult {
    let id = SessionId::from_id(a.id(0, "session")?);
    let (reason, message) = close_options(cx.config.uri_rules, a)?;
    let target = match realm.sessions.get(&id) {
        // The spec's reading: no *other* session has the caller's ID.
        Some(&conn) if conn == caller => {
            return Err(no_such_session(id, "other than the caller's own"))
        }
        Some(&conn) => conn,
        None => return Err(no_such_session(id, "in this realm")),
    };
    lifecycle::goodbye(cx, realm, target, &reason, message);
    Ok(Payload::default())
}

/// `wamp.session.kill_by_authid(authid; reason=, message=)` (returns the list of sessions
/// killed), `kill_by_authrole(authrole; ...)` and `kill_all(...)` (return how many).
pub(crate) fn kill_many(
    cx: &mut Ctx<'_>,
    realm: &mut Realm,
    caller: ConnectionId,
    a: &MetaArgs<'_>,
    which: Kill,
) -> MetaResult {
    let wanted = match which {
        Kill::Authid => Some(a.string(0, "the authid (a string)")?),
        Kill::Authrole => Some(a.string(0, "the authrole (a string)")?),
        Kill::All => None,
    };
    let (reason, message) = close_options(cx.config.uri_rules, a)?;
    // Chosen before any is killed: killing changes the realm's session table.
    let targets: Vec<(SessionId, ConnectionId)> = realm
        .sessions
        .iter()
        .filter(|(_, &conn)| conn != caller)
        .filter(|(_, &conn)| {
            let Some(s) = cx.conns.session(conn) else {
                return false;
            };
            match which {
                Kill::Authid => wanted == Some(s.authid.as_str()),
                Kill::Authrole => wanted == Some(s.authrole.as_str()),
                Kill::All => true,
            }
        })
        .map(|(&id, &conn)| (id, conn))
        .collect();
    for &(_, conn) in &targets {
        if which == Kill::All {
            leave_quietly(cx.conns, conn);
        }
        lifecycle::goodbye(cx, realm, conn, &reason, message.clone());
    }
    match which {
        Kill::Authid => result(Value::List(
            targets.iter().map(|(id, _)| Value::from(*id)).collect(),
        )),
        Kill::Authrole | Kill::All => result(targets.len() as u64),
    }
}

/// The GOODBYE reason and message of a kill: keyword arguments `reason` (a URI, default
/// `wamp.close.killed`) and `message` (a string).
fn close_options(rules: UriRules, a: &MetaArgs<'_>) -> Result<(String, Option<String>), MetaError> {
    let reason = match a.kwargs.get("reason") {
        None | Some(Value::Null) => uri::close::KILLED.to_owned(),
        Some(Value::String(s))
            if Uri::new_unchecked(s.as_str()).is_valid(rules, MatchPolicy::Exact) =>
        {
            s.clone()
        }
        // The spec names wamp.error.invalid_uri for any reason that is not a valid URI,
        // whatever its type.
        Some(_) => {
            return Err(MetaError::new(
                uri::error::INVALID_URI,
                format!(
                    "{}: reason must be a valid, non-empty URI string",
                    a.procedure
                ),
            ))
        }
    };
    let message = match a.kwargs.get("message") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            return Err(MetaError::argument(format!(
                "{}: message must be a string",
                a.procedure
            )))
        }
    };
    Ok((reason, message))
}

// ---- testament meta procedures -------------------------------------------------------------

/// `wamp.session.add_testament(topic, args, kwargs; publish_options=, scope=)`;
/// `disclose` when the permission to publish to the topic discloses the publisher.
pub(crate) fn add_testament(
    cx: &mut Ctx<'_>,
    realm: &Realm,
    conn: ConnectionId,
    a: &MetaArgs<'_>,
    disclose: bool,
) -> MetaResult {
    let topic = a.uri(0, "topic")?;
    if let Err(e) = topic.validate(cx.config.uri_rules, MatchPolicy::Exact) {
        return Err(MetaError::new(uri::error::INVALID_URI, e.to_string()));
    }
    if topic.is_reserved() {
        return Err(MetaError::new(
            uri::error::NOT_AUTHORIZED,
            format!("URIs starting with \"wamp.\" are reserved for the router ({topic})"),
        ));
    }
    let args = match a.args.get(1) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::List(args)) => args.clone(),
        Some(_) => return Err(a.expected(1, "the event's positional arguments (a list)")),
    };
    let kwargs = match a.args.get(2) {
        None | Some(Value::Null) => Dict::new(),
        Some(Value::Dict(kwargs)) => kwargs.clone(),
        Some(_) => return Err(a.expected(2, "the event's keyword arguments (a dict)")),
    };
    let options = match a.kwargs.get("publish_options") {
        None | Some(Value::Null) => PublishOptions::default(),
        Some(Value::Dict(d)) => PublishOptions::from_dict(d.clone()).map_err(|(key, e)| {
            MetaError::argument(format!("{}: publish_options.{key}: {e}", a.procedure))
        })?,
        Some(_) => {
            return Err(MetaError::argument(format!(
                "{}: publish_options must be a dict of PUBLISH options",
                a.procedure
            )))
        }
    };
    let scope = a.scope()?;
    let limit = cx.config.max_testaments;
    let never = realm.config.publisher_disclosure == Disclosure::Never;
    if never && options.disclose_me == Some(true) {
        return Err(MetaError::new(
            uri::error::OPTION_DISALLOWED_DISCLOSE_ME,
            "this realm does not disclose publishers",
        ));
    }
    let Some(s) = cx.conns.session_mut(conn) else {
        return Ok(Payload::default());
    };
    // As for a PUBLISH, which would be a protocol violation here.
    if options.ppt_scheme.is_some()
        && !supports(&s.roles.publisher, features::PAYLOAD_PASSTHRU_MODE)
    {
        return Err(MetaError::argument(format!(
            "{}: publish_options.ppt_scheme: the session did not announce payload_passthru_mode",
            a.procedure
        )));
    }
    if s.testaments.len() >= limit {
        return Err(MetaError::argument(format!(
            "{}: the session already holds {limit} testaments, the most this router keeps",
            a.procedure
        )));
    }
    s.testaments.scope(scope).push(Testament {
        topic,
        payload: Payload::new(args, kwargs),
        options,
        disclose,
    });
    Ok(Payload::default())
}

/// `wamp.session.flush_testaments(scope=)`: returns how many were dropped.
pub(crate) fn flush_testaments(
    conns: &mut Connections,
    conn: ConnectionId,
    a: &MetaArgs<'_>,
) -> MetaResult {
    let scope = a.scope()?;
    let flushed = conns
        .session_mut(conn)
        .map_or(0, |s| std::mem::take(s.testaments.scope(scope)).len());
    result(flushed as u64)
}
