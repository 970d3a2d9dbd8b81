//! The meta API (digest §4.12 registration meta API, §4.20 subscription meta API, §4.21
//! event history; the session and testament meta APIs are in [`session`]): procedures the
//! router answers itself (`wamp.registration.*`, `wamp.subscription.*`) and the meta events
//! it publishes in each realm (`wamp.registration.on_*`, `wamp.subscription.on_*`).
//!
//! Meta procedures are CALLs to the reserved `wamp.` namespace. They go through
//! authorization like any CALL (so a realm's roles or external authorizer decide who may list
//! or revoke), then are answered at once with RESULT or ERROR; no session is involved.
//! `wamp.subscription.get_events` also needs the right to subscribe to the subscription's
//! URI (see the [`authz`](super::authz) module).

pub(crate) mod session;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::authz::Grant;
use super::connection::{ConnectionId, Connections};
use super::context::{Ctx, WallClock};
use super::pubsub::broker::{self, Origin};
use super::pubsub::{self as pubsub};
use super::realm::Realm;
use super::rpc::{self, dealer};
use crate::id::{Id, PublicationId, RegistrationId, SessionId, SubscriptionId};
use crate::message::{
    Call, CallResult, Error, EventDetails, Message, Payload, PublishOptions, RequestType,
    ResultDetails,
};
use crate::uri::{self, MatchPolicy, Uri};
use crate::value::{Dict, Value};
use session::Kill;

/// A meta procedure's failure: the ERROR URI and a message for the caller.
pub(crate) struct MetaError {
    error: &'static str,
    message: String,
}

impl MetaError {
    pub(crate) fn new(error: &'static str, message: impl Into<String>) -> Self {
        MetaError {
            error,
            message: message.into(),
        }
    }

    pub(crate) fn argument(message: impl Into<String>) -> Self {
        MetaError::new(uri::error::INVALID_ARGUMENT, message)
    }
}

pub(crate) type MetaResult = Result<Payload, MetaError>;

/// The call's arguments, read with errors naming what was expected.
pub(crate) struct MetaArgs<'a> {
    pub(crate) procedure: &'a str,
    pub(crate) args: &'a [Value],
    pub(crate) kwargs: &'a Dict,
}

impl MetaArgs<'_> {
    pub(crate) fn id(&self, index: usize, what: &str) -> Result<Id, MetaError> {
        self.args
            .get(index)
            .and_then(Value::as_u64)
            .and_then(Id::new)
            .ok_or_else(|| {
                MetaError::argument(format!(
                    "{}: argument {} must be the {what} (an ID)",
                    self.procedure,
                    index + 1
                ))
            })
    }

    pub(crate) fn uri(&self, index: usize, what: &str) -> Result<Uri, MetaError> {
        self.args
            .get(index)
            .and_then(Value::as_str)
            .map(Uri::new_unchecked)
            .ok_or_else(|| {
                MetaError::argument(format!(
                    "{}: argument {} must be the {what} (a URI string)",
                    self.procedure,
                    index + 1
                ))
            })
    }

    /// The `match` policy of an options dict at `index` (exact when absent).
    fn match_policy(&self, index: usize) -> Result<MatchPolicy, MetaError> {
        let policy = match self.args.get(index) {
            None | Some(Value::Null) => return Ok(MatchPolicy::Exact),
            Some(Value::Dict(d)) => d.get("match"),
            Some(_) => None,
        };
        match policy.map(|p| p.as_str()) {
            None => Ok(MatchPolicy::Exact),
            Some(Some("exact")) => Ok(MatchPolicy::Exact),
            Some(Some("prefix")) => Ok(MatchPolicy::Prefix),
            Some(Some("wildcard")) => Ok(MatchPolicy::Wildcard),
            _ => Err(MetaError::argument(format!(
                "{}: argument {} must be an options dict whose match is \"exact\", \"prefix\" or \"wildcard\"",
                self.procedure,
                index + 1
            ))),
        }
    }

    /// A string keyword argument.
    fn kwarg_str(&self, key: &str) -> Option<String> {
        self.kwargs
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
    }
}

pub(crate) fn result(value: impl Into<Value>) -> MetaResult {
    Ok(Payload::new(vec![value.into()], Dict::new()))
}

fn policy_name(policy: MatchPolicy) -> &'static str {
    match policy {
        MatchPolicy::Exact => "exact",
        MatchPolicy::Prefix => "prefix",
        MatchPolicy::Wildcard => "wildcard",
    }
}

/// `{exact: [ids], prefix: [ids], wildcard: [ids]}`, each list sorted: what
/// `wamp.registration.list` and `wamp.subscription.list` return.
fn by_policy<I: Ord + Into<Value>>(items: impl Iterator<Item = (I, MatchPolicy)>) -> MetaResult {
    let mut lists: [Vec<I>; 3] = Default::default();
    for (id, policy) in items {
        let slot = match policy {
            MatchPolicy::Exact => 0,
            MatchPolicy::Prefix => 1,
            MatchPolicy::Wildcard => 2,
        };
        lists[slot].push(id);
    }
    let [exact, prefix, wildcard] = lists;
    let mut d = Dict::new();
    d.insert("exact".into(), id_list(exact));
    d.insert("prefix".into(), id_list(prefix));
    d.insert("wildcard".into(), id_list(wildcard));
    result(d)
}

fn id_list<I: Ord + Into<Value>>(mut ids: Vec<I>) -> Value {
    ids.sort_unstable();
    Value::List(ids.into_iter().map(Into::into).collect())
}

/// Answers a CALL to the reserved `wamp.` namespace, allowed with `grant` (which, for
/// `wamp.session.add_testament`, is the grant to publish to the testament's topic).
pub(crate) fn call(
    cx: &mut Ctx<'_>,
    realm: &mut Realm,
    conn: ConnectionId,
    mut m: Call,
    grant: Grant,
) {
    // The router reads the arguments of its own procedures (and of nothing else).
    if let Err(e) = m.payload.decode_in_place() {
        let refusal = Error::new(RequestType::Call, m.request, uri::error::INVALID_ARGUMENT)
            .with_args(vec![Value::from(format!("undecodable arguments: {e}"))]);
        cx.conns.reply(conn, refusal);
        return;
    }
    let (args, kwargs) = match &m.payload {
        Payload::Args { args, kwargs } => (args.as_slice(), kwargs),
        Payload::Transparent(_) | Payload::Encoded(_) => (&[][..], &Dict::new()),
    };
    let empty = Dict::new();
    let a = MetaArgs {
        procedure: m.procedure.as_str(),
        args,
        kwargs: if kwargs.is_empty() { &empty } else { kwargs },
    };
    let outcome = match m.procedure.as_str() {
        "wamp.registration.list" => registration_list(realm),
        "wamp.registration.lookup" => registration_lookup(realm, &a),
        "wamp.registration.match" => registration_match(realm, &a),
        "wamp.registration.get" => registration_get(cx.clock, realm, &a),
        "wamp.registration.list_callees" => registration_callees(cx.conns, realm, &a, false),
        "wamp.registration.count_callees" => registration_callees(cx.conns, realm, &a, true),
        "wamp.registration.remove_callee" => registration_remove_callee(cx, realm, &a),
        "wamp.subscription.list" => subscription_list(realm),
        "wamp.subscription.lookup" => subscription_lookup(realm, &a),
        "wamp.subscription.match" => subscription_match(realm, &a),
        "wamp.subscription.get" => subscription_get(cx.clock, realm, &a),
        "wamp.subscription.list_subscribers" => {
            subscription_subscribers(cx.conns, realm, &a, false)
        }
        "wamp.subscription.count_subscribers" => {
            subscription_subscribers(cx.conns, realm, &a, true)
        }
        "wamp.subscription.remove_subscriber" => subscription_remove_subscriber(cx, realm, &a),
        "wamp.subscription.get_events" => subscription_get_events(cx, realm, conn, &a),
        "wamp.session.count" => session::list_or_count(cx.conns, realm, &a, false),
        "wamp.session.list" => session::list_or_count(cx.conns, realm, &a, true),
        "wamp.session.get" => session::get(cx.conns, realm, &a),
        "wamp.session.kill" => session::kill(cx, realm, conn, &a),
        "wamp.session.kill_by_authid" => session::kill_many(cx, realm, conn, &a, Kill::Authid),
        "wamp.session.kill_by_authrole" => session::kill_many(cx, realm, conn, &a, Kill::Authrole),
        "wamp.session.kill_all" => session::kill_many(cx, realm, conn, &a, Kill::All),
        "wamp.session.add_testament" => session::add_testament(cx, realm, conn, &a, grant.disclose),
        "wamp.session.flush_testaments" => session::flush_testaments(cx.conns, conn, &a),
        other => Err(MetaError::new(
            uri::error::NO_SUCH_PROCEDURE,
            format!("the router offers no procedure {other}"),
        )),
    };
    let reply: Message = match outcome {
        Ok(payload) => CallResult {
            request: m.request,
            details: ResultDetails::default(),
            payload,
        }
        .into(),
        Err(e) => Error::new(RequestType::Call, m.request, e.error)
            .with_args(vec![Value::from(e.message)])
            .into(),
    };
    cx.conns.reply(conn, reply);
}

// ---- registration meta procedures --------------------------------------------------------

fn registration_list(realm: &Realm) -> MetaResult {
    let registrations = &realm.dealer.registrations;
    by_policy(registrations.iter().map(|(id, r)| (*id, r.policy)))
}

fn registration_lookup(realm: &Realm, a: &MetaArgs<'_>) -> MetaResult {
    let procedure = a.uri(0, "procedure")?;
    let policy = a.match_policy(1)?;
    let found = realm.dealer.find(policy, &procedure);
    result(found.map_or(Value::Null, Value::from))
}

fn registration_match(realm: &Realm, a: &MetaArgs<'_>) -> MetaResult {
    let procedure = a.uri(0, "procedure")?;
    let found = realm.dealer.lookup(&procedure);
    result(found.map_or(Value::Null, Value::from))
}

fn registration<'r>(
    realm: &'r Realm,
    a: &MetaArgs<'_>,
) -> Result<(RegistrationId, &'r dealer::Registration), MetaError> {
    let id = RegistrationId::from_id(a.id(0, "registration")?);
    realm
        .dealer
        .registrations
        .get(&id)
        .map(|r| (id, r))
        .ok_or_else(|| {
            MetaError::new(
                uri::error::NO_SUCH_REGISTRATION,
                format!("no registration {id} in this realm"),
            )
        })
}

/// `RegistrationDetails`: `{id, created, uri, match, invoke}`.
fn registration_details(clock: WallClock, id: RegistrationId, reg: &dealer::Registration) -> Dict {
    let mut d = Dict::new();
    d.insert("id".into(), Value::from(id));
    if let Some(created) = clock.iso8601(reg.created) {
        d.insert("created".into(), Value::from(created));
    }
    d.insert("uri".into(), Value::from(reg.uri.as_str()));
    d.insert("match".into(), Value::from(policy_name(reg.policy)));
    d.insert("invoke".into(), Value::from(reg.invoke.as_str()));
    d
}

fn registration_get(clock: WallClock, realm: &Realm, a: &MetaArgs<'_>) -> MetaResult {
    let (id, reg) = registration(realm, a)?;
    result(registration_details(clock, id, reg))
}

fn registration_callees(
    conns: &Connections,
    realm: &Realm,
    a: &MetaArgs<'_>,
    count: bool,
) -> MetaResult {
    let (_, reg) = registration(realm, a)?;
    if count {
        return result(reg.callees.len() as u64);
    }
    let sessions: Vec<SessionId> = reg
        .callees
        .iter()
        .filter_map(|c| conns.session(*c).map(|s| s.id))
        .collect();
    result(Value::List(sessions.into_iter().map(Value::from).collect()))
}

/// `wamp.registration.remove_callee(registration, callee_session, reason=)` (Crossbar's
/// name): revokes one callee's registration.
fn registration_remove_callee(cx: &mut Ctx<'_>, realm: &mut Realm, a: &MetaArgs<'_>) -> MetaResult {
    let (registration, _) = registration(realm, a)?;
    let session = SessionId::from_id(a.id(1, "callee's session")?);
    let reason = a.kwarg_str("reason");
    let held = match realm.sessions.get(&session) {
        Some(&conn) => rpc::revoke(cx, realm, conn, registration, reason.as_deref()),
        None => false,
    };
    if !held {
        return Err(MetaError::new(
            uri::error::NO_SUCH_REGISTRATION,
            format!("session {session} holds no registration {registration}"),
        ));
    }
    Ok(Payload::default())
}

// ---- subscription meta procedures --------------------------------------------------------

fn subscription_list(realm: &Realm) -> MetaResult {
    let subscriptions = &realm.broker.subscriptions;
    by_policy(subscriptions.iter().map(|(id, s)| (*id, s.policy)))
}

fn subscription_lookup(realm: &Realm, a: &MetaArgs<'_>) -> MetaResult {
    let topic = a.uri(0, "topic")?;
    let policy = a.match_policy(1)?;
    let found = realm.broker.find(policy, &topic);
    result(found.map_or(Value::Null, Value::from))
}

/// Every subscription an event to the topic would reach (null when none).
fn subscription_match(realm: &Realm, a: &MetaArgs<'_>) -> MetaResult {
    let topic = a.uri(0, "topic")?;
    let found = realm.broker.matching(&topic);
    if found.is_empty() {
        return result(Value::Null);
    }
    result(Value::List(found.into_iter().map(Value::from).collect()))
}

fn subscription<'r>(
    realm: &'r Realm,
    a: &MetaArgs<'_>,
) -> Result<(SubscriptionId, &'r broker::Subscription), MetaError> {
    let id = SubscriptionId::from_id(a.id(0, "subscription")?);
    realm
        .broker
        .subscriptions
        .get(&id)
        .map(|s| (id, s))
        .ok_or_else(|| {
            MetaError::new(
                uri::error::NO_SUCH_SUBSCRIPTION,
                format!("no subscription {id} in this realm"),
            )
        })
}

/// `SubscriptionDetails`: `{id, created, uri, match}`.
fn subscription_details(clock: WallClock, id: SubscriptionId, sub: &broker::Subscription) -> Dict {
    let mut d = Dict::new();
    d.insert("id".into(), Value::from(id));
    if let Some(created) = clock.iso8601(sub.created) {
        d.insert("created".into(), Value::from(created));
    }
    d.insert("uri".into(), Value::from(sub.uri.as_str()));
    d.insert("match".into(), Value::from(policy_name(sub.policy)));
    d
}

fn subscription_get(clock: WallClock, realm: &Realm, a: &MetaArgs<'_>) -> MetaResult {
    let (id, sub) = subscription(realm, a)?;
    result(subscription_details(clock, id, sub))
}

fn subscription_subscribers(
    conns: &Connections,
    realm: &Realm,
    a: &MetaArgs<'_>,
    count: bool,
) -> MetaResult {
    let (_, sub) = subscription(realm, a)?;
    if count {
        return result(sub.subscribers.len() as u64);
    }
    let sessions: Vec<Value> = sub
        .subscribers
        .iter()
        .filter_map(|c| conns.session(*c).map(|s| Value::from(s.id)))
        .collect();
    result(Value::List(sessions))
}

/// `wamp.subscription.remove_subscriber(subscription, subscriber_session, reason=)`
/// (Crossbar's name): revokes one subscriber's subscription.
fn subscription_remove_subscriber(
    cx: &mut Ctx<'_>,
    realm: &mut Realm,
    a: &MetaArgs<'_>,
) -> MetaResult {
    let (subscription, _) = subscription(realm, a)?;
    let session = SessionId::from_id(a.id(1, "subscriber's session")?);
    let reason = a.kwarg_str("reason");
    let held = match realm.sessions.get(&session) {
        Some(&conn) => pubsub::revoke(cx, realm, conn, subscription, reason.as_deref()),
        None => false,
    };
    if !held {
        return Err(MetaError::new(
            uri::error::NO_SUCH_SUBSCRIPTION,
            format!("session {session} holds no subscription {subscription}"),
        ));
    }
    Ok(Payload::default())
}

/// `wamp.subscription.get_events(subscription; reverse, limit, from_time, after_time,
/// before_time, until_time, topic, from_publication, after_publication,
/// before_publication, until_publication)` (digest §4.21). Events whose publication
/// restricted its audience by authid or authrole are given only to callers it admits.
/// A publication filter naming a publication the history does not hold selects nothing.
fn subscription_get_events(
    cx: &Ctx<'_>,
    realm: &Realm,
    conn: ConnectionId,
    a: &MetaArgs<'_>,
) -> MetaResult {
    let (id, sub) = subscription(realm, a)?;
    let broker = &realm.broker;
    if !broker.keeps_history_for(sub) {
        return Err(MetaError::new(
            "wamp.error.history_unavailable",
            format!(
                "this router keeps no event history for {} (configure it per realm)",
                sub.uri
            ),
        ));
    }
    let Some(me) = cx.conns.session(conn) else {
        return Err(MetaError::new(uri::error::NOT_AUTHORIZED, "no session"));
    };
    let filters = HistoryFilters::parse(a)?;
    let me = broker::Who {
        session: me.id,
        authid: &me.authid,
        authrole: &me.authrole,
    };
    let mut events: Vec<&broker::Stored> = broker
        .history
        .iter()
        .flat_map(|h| h.events.iter())
        .filter(|e| sub.policy.matches(sub.uri.as_str(), e.topic.as_str()))
        .filter(|e| broker::admits(&e.lists, me))
        .filter(|e| filters.topic.as_ref().is_none_or(|t| *t == e.topic))
        .collect();
    // Several stores may contribute: back to the order of arrival.
    events.sort_by_key(|e| e.at);
    let events = filters.by_publication(events);
    let mut out = Vec::new();
    for e in events {
        let at = cx.clock.wall(e.at);
        if !filters.admits_time(at) {
            continue;
        }
        let mut d = Dict::new();
        if let Some(at) = at.and_then(|t| t.format(&Rfc3339).ok()) {
            d.insert("timestamp".into(), Value::from(at));
        }
        d.insert("subscription".into(), Value::from(id));
        d.insert("publication".into(), Value::from(e.publication));
        let details = EventDetails {
            topic: (sub.policy != MatchPolicy::Exact).then(|| e.topic.clone()),
            ..e.details.clone()
        };
        let details = crate::value::to_value(&details).unwrap_or_default();
        d.insert("details".into(), details);
        if let Ok(Payload::Args { args, kwargs }) = e.payload.decoded().as_deref() {
            if !args.is_empty() {
                d.insert("args".into(), Value::List(args.clone()));
            }
            if !kwargs.is_empty() {
                d.insert("kwargs".into(), Value::Dict(kwargs.clone()));
            }
        }
        out.push(Value::Dict(d));
    }
    if let Some(limit) = filters.limit {
        // The most recent `limit` events.
        if out.len() > limit {
            out.drain(..out.len() - limit);
        }
    }
    if filters.reverse {
        out.reverse();
    }
    result(Value::List(out))
}

// ---- meta events ---------------------------------------------------------------------------

/// Publishes a meta event in `realm` if anyone subscribed to it; `args` is only built then.
pub(crate) fn publish_event(
    cx: &mut Ctx<'_>,
    realm: &Realm,
    topic: &'static str,
    args: impl FnOnce(&Ctx<'_>, &Realm) -> Vec<Value>,
) {
    let topic = Uri::new_unchecked(topic);
    if realm.broker.matching(&topic).is_empty() {
        return;
    }
    let payload = Payload::new(args(cx, realm), Dict::new());
    let publication = PublicationId::from_id(cx.ids.next_id());
    // Not through `publish_as`: no retention, no history, and a meta event dropped for
    // a slow session is not reported (which would publish again).
    realm.broker.publish(
        cx.conns,
        &Origin::default(),
        publication,
        &topic,
        &PublishOptions::default(),
        payload,
    );
}

/// `wamp.registration.on_create` then `on_register`, after a REGISTER.
pub(crate) fn registration_added(
    cx: &mut Ctx<'_>,
    realm: &Realm,
    session: SessionId,
    registration: RegistrationId,
    created: bool,
) {
    let topics = (
        "wamp.registration.on_create",
        "wamp.registration.on_register",
    );
    let details = |cx: &Ctx<'_>, realm: &Realm| {
        let reg = realm.dealer.registrations.get(&registration)?;
        Some(registration_details(cx.clock, registration, reg))
    };
    holder_added(
        cx,
        realm,
        topics,
        session,
        registration.id(),
        created,
        details,
    );
}

/// A session came to hold a registration or subscription: when that created it, the first
/// topic's event with `(session, details)`; then the second's with `(session, id)`.
fn holder_added(
    cx: &mut Ctx<'_>,
    realm: &Realm,
    (created_topic, added_topic): (&'static str, &'static str),
    session: SessionId,
    id: Id,
    created: bool,
    details: impl FnOnce(&Ctx<'_>, &Realm) -> Option<Dict>,
) {
    if created {
        publish_event(cx, realm, created_topic, |cx, realm| {
            let details = details(cx, realm).unwrap_or_default();
            vec![Value::from(session), Value::Dict(details)]
        });
    }
    publish_event(cx, realm, added_topic, |_, _| {
        vec![Value::from(session), Value::from(id)]
    });
}

/// `wamp.registration.on_unregister` then (with the last callee) `on_delete`.
pub(crate) fn registration_removed(
    cx: &mut Ctx<'_>,
    realm: &Realm,
    session: SessionId,
    registration: RegistrationId,
    deleted: bool,
) {
    let topics = (
        "wamp.registration.on_unregister",
        "wamp.registration.on_delete",
    );
    holder_removed(cx, realm, topics, session, registration.id(), deleted);
}

/// A session stopped holding a registration or subscription: the first topic's event,
/// then, when it was the last holder, the second's, each with `(session, id)`.
fn holder_removed(
    cx: &mut Ctx<'_>,
    realm: &Realm,
    (left, deleted_topic): (&'static str, &'static str),
    session: SessionId,
    id: Id,
    deleted: bool,
) {
    let args = || vec![Value::from(session), Value::from(id)];
    publish_event(cx, realm, left, |_, _| args());
    if deleted {
        publish_event(cx, realm, deleted_topic, |_, _| args());
    }
}

/// `wamp.subscription.on_create` then `on_subscribe`, after a SUBSCRIBE (not for
/// subscriptions to the router's own `wamp.` topics, which would only echo the meta API).
pub(crate) fn subscription_added(
    cx: &mut Ctx<'_>,
    realm: &Realm,
    session: SessionId,
    subscription: SubscriptionId,
    created: bool,
) {
    let reserved = realm
        .broker
        .subscriptions
        .get(&subscription)
        .is_none_or(|s| s.uri.is_reserved());
    if reserved {
        return;
    }
    let topics = (
        "wamp.subscription.on_create",
        "wamp.subscription.on_subscribe",
    );
    let details = |cx: &Ctx<'_>, realm: &Realm| {
        let sub = realm.broker.subscriptions.get(&subscription)?;
        Some(subscription_details(cx.clock, subscription, sub))
    };
    holder_added(
        cx,
        realm,
        topics,
        session,
        subscription.id(),
        created,
        details,
    );
}

/// `wamp.subscription.on_unsubscribe` then (with the last subscriber) `on_delete`.
pub(crate) fn subscription_removed(
    cx: &mut Ctx<'_>,
    realm: &Realm,
    session: SessionId,
    subscription: SubscriptionId,
    deleted: bool,
) {
    let topics = (
        "wamp.subscription.on_unsubscribe",
        "wamp.subscription.on_delete",
    );
    holder_removed(cx, realm, topics, session, subscription.id(), deleted);
}
/// The filters of `wamp.subscription.get_events`.
struct HistoryFilters {
    reverse: bool,
    limit: Option<usize>,
    topic: Option<Uri>,
    from_time: Option<OffsetDateTime>,
    after_time: Option<OffsetDateTime>,
    before_time: Option<OffsetDateTime>,
    until_time: Option<OffsetDateTime>,
    from_publication: Option<PublicationId>,
    after_publication: Option<PublicationId>,
    before_publication: Option<PublicationId>,
    until_publication: Option<PublicationId>,
}

impl HistoryFilters {
    fn parse(a: &MetaArgs<'_>) -> Result<Self, MetaError> {
        let k = a.kwargs;
        let bad = |key: &str, what: &str| {
            MetaError::argument(format!("{}: {key} must be {what}", a.procedure))
        };
        let present = |key: &str| k.get(key).filter(|v| !v.is_null());
        let time = |key: &str| -> Result<Option<OffsetDateTime>, MetaError> {
            present(key)
                .map(|v| {
                    v.as_str()
                        .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
                        .ok_or_else(|| bad(key, "an RFC 3339 time string"))
                })
                .transpose()
        };
        let publication = |key: &str| -> Result<Option<PublicationId>, MetaError> {
            present(key)
                .map(|v| {
                    v.as_u64()
                        .and_then(PublicationId::new)
                        .ok_or_else(|| bad(key, "a publication ID"))
                })
                .transpose()
        };
        Ok(HistoryFilters {
            reverse: present("reverse")
                .map(|v| v.as_bool().ok_or_else(|| bad("reverse", "a bool")))
                .transpose()?
                .unwrap_or(false),
            limit: present("limit")
                .map(|v| {
                    v.as_u64()
                        .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
                        .ok_or_else(|| bad("limit", "a non-negative integer"))
                })
                .transpose()?,
            topic: present("topic")
                .map(|v| {
                    v.as_str()
                        .map(Uri::new_unchecked)
                        .ok_or_else(|| bad("topic", "a topic URI"))
                })
                .transpose()?,
            from_time: time("from_time")?,
            after_time: time("after_time")?,
            before_time: time("before_time")?,
            until_time: time("until_time")?,
            from_publication: publication("from_publication")?,
            after_publication: publication("after_publication")?,
            before_publication: publication("before_publication")?,
            until_publication: publication("until_publication")?,
        })
    }

    fn admits_time(&self, at: Option<OffsetDateTime>) -> bool {
        let Some(at) = at else {
            // Without a wall clock, time filters select nothing.
            return self.from_time.is_none()
                && self.after_time.is_none()
                && self.before_time.is_none()
                && self.until_time.is_none();
        };
        self.from_time.is_none_or(|t| at >= t)
            && self.after_time.is_none_or(|t| at > t)
            && self.before_time.is_none_or(|t| at < t)
            && self.until_time.is_none_or(|t| at <= t)
    }

    /// Applies the publication filters to events in order of arrival.
    fn by_publication<'e>(&self, events: Vec<&'e broker::Stored>) -> Vec<&'e broker::Stored> {
        let at = |p: PublicationId| events.iter().position(|e| e.publication == p);
        let (mut start, mut end) = (0, events.len());
        // (filter, offset from the named event, whether it bounds from below)
        let bounds = [
            (self.from_publication, 0, true),
            (self.after_publication, 1, true),
            (self.before_publication, 0, false),
            (self.until_publication, 1, false),
        ];
        for (filter, offset, lower) in bounds {
            let Some(p) = filter else { continue };
            let Some(i) = at(p) else {
                return Vec::new();
            };
            if lower {
                start = start.max(i + offset);
            } else {
                end = end.min(i + offset);
            }
        }
        if start >= end {
            return Vec::new();
        }
        events[start..end].to_vec()
    }
}
