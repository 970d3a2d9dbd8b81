//! The meta API: procedures the router answers itself (`wamp.registration.*`,
//! `wamp.subscription.*`) and the meta events it publishes in each realm
//! (`wamp.registration.on_*`, `wamp.subscription.on_*`).
//!
//! Meta procedures are CALLs to the reserved `wamp.` namespace. They go through
//! authorization like any CALL (so a realm's roles or external authorizer decide who may list
//! or revoke), then are answered at once with RESULT or ERROR; no session is involved.
//! `wamp.subscription.get_events` also needs the right to subscribe to the subscription's
//! URI (see the [`authz`](super::authz) module).

use std::time::SystemTime;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::broker::Origin;
use super::session_meta::Kill;
use super::*;
use crate::message::{Call, EventDetails, Payload, PublishOptions, UnregisteredDetails};

/// A meta procedure's failure: the ERROR URI and a message for the caller.
pub(super) struct MetaError {
    error: &'static str,
    message: String,
}

impl MetaError {
    pub(super) fn new(error: &'static str, message: impl Into<String>) -> Self {
        MetaError {
            error,
            message: message.into(),
        }
    }

    pub(super) fn argument(message: impl Into<String>) -> Self {
        MetaError::new(uri::error::INVALID_ARGUMENT, message)
    }
}

pub(super) type MetaResult = Result<Payload, MetaError>;

/// The call's arguments, read with errors naming what was expected.
pub(super) struct MetaArgs<'a> {
    pub(super) procedure: &'a str,
    pub(super) args: &'a [Value],
    pub(super) kwargs: &'a Dict,
}

impl MetaArgs<'_> {
    pub(super) fn id(&self, index: usize, what: &str) -> Result<Id, MetaError> {
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

    pub(super) fn uri(&self, index: usize, what: &str) -> Result<Uri, MetaError> {
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

pub(super) fn result(value: impl Into<Value>) -> MetaResult {
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
fn by_policy(items: impl Iterator<Item = (Id, MatchPolicy)>) -> MetaResult {
    let mut lists: [Vec<Id>; 3] = Default::default();
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

fn id_list(mut ids: Vec<Id>) -> Value {
    ids.sort_unstable();
    Value::List(ids.into_iter().map(Value::from).collect())
}

impl Router {
    /// Tells the router what wall-clock time `at` is, so the meta API can give creation
    /// times (`created` in `wamp.registration.get`) as ISO 8601 strings. The core reads no
    /// clock: a driver calls this once at start. Without it, `created` is left out.
    pub fn set_wall_clock(&mut self, at: Instant, wall: SystemTime) {
        self.wall_clock = Some((at, wall));
    }

    /// The wall-clock time of `at`, when the wall clock is known.
    fn wall(&self, at: Instant) -> Option<OffsetDateTime> {
        let (anchor, wall) = self.wall_clock?;
        let t = if at >= anchor {
            wall + (at - anchor)
        } else {
            wall - (anchor - at)
        };
        Some(OffsetDateTime::from(t))
    }

    /// The ISO 8601 (RFC 3339) UTC time of `at`, when the wall clock is known.
    fn iso8601(&self, at: Instant) -> Option<String> {
        self.wall(at)?.format(&Rfc3339).ok()
    }

    /// Answers a CALL to the reserved `wamp.` namespace, allowed with `grant` (which, for
    /// `wamp.session.add_testament`, is the grant to publish to the testament's topic).
    pub(super) fn meta_call(&mut self, now: Instant, conn: ConnectionId, m: Call, grant: Grant) {
        let Some(s) = self.conns.session(conn) else {
            return;
        };
        let realm = s.realm;
        let (args, kwargs) = match &m.payload {
            Payload::Args { args, kwargs } => (args.as_slice(), kwargs),
            Payload::Transparent(_) => (&[][..], &Dict::new()),
        };
        let empty = Dict::new();
        let a = MetaArgs {
            procedure: m.procedure.as_str(),
            args,
            kwargs: if kwargs.is_empty() { &empty } else { kwargs },
        };
        let outcome = match m.procedure.as_str() {
            "wamp.registration.list" => self.registration_list(realm),
            "wamp.registration.lookup" => self.registration_lookup(realm, &a),
            "wamp.registration.match" => self.registration_match(realm, &a),
            "wamp.registration.get" => self.registration_get(realm, &a),
            "wamp.registration.list_callees" => self.registration_callees(realm, &a, false),
            "wamp.registration.count_callees" => self.registration_callees(realm, &a, true),
            "wamp.registration.remove_callee" => self.registration_remove_callee(now, realm, &a),
            "wamp.subscription.list" => self.subscription_list(realm),
            "wamp.subscription.lookup" => self.subscription_lookup(realm, &a),
            "wamp.subscription.match" => self.subscription_match(realm, &a),
            "wamp.subscription.get" => self.subscription_get(realm, &a),
            "wamp.subscription.list_subscribers" => self.subscription_subscribers(realm, &a, false),
            "wamp.subscription.count_subscribers" => self.subscription_subscribers(realm, &a, true),
            "wamp.subscription.remove_subscriber" => {
                self.subscription_remove_subscriber(now, realm, &a)
            }
            "wamp.subscription.get_events" => self.subscription_get_events(conn, realm, &a),
            "wamp.session.count" => self.session_list_or_count(realm, &a, false),
            "wamp.session.list" => self.session_list_or_count(realm, &a, true),
            "wamp.session.get" => self.session_get(realm, &a),
            "wamp.session.kill" => self.session_kill(now, conn, realm, &a),
            "wamp.session.kill_by_authid" => {
                self.session_kill_many(now, conn, realm, &a, Kill::Authid)
            }
            "wamp.session.kill_by_authrole" => {
                self.session_kill_many(now, conn, realm, &a, Kill::Authrole)
            }
            "wamp.session.kill_all" => self.session_kill_many(now, conn, realm, &a, Kill::All),
            "wamp.session.add_testament" => self.add_testament(conn, &a, grant.disclose),
            "wamp.session.flush_testaments" => self.flush_testaments(conn, &a),
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
        self.conns.reply(conn, reply);
    }

    // ---- registration meta procedures --------------------------------------------------------

    fn registration_list(&self, realm: usize) -> MetaResult {
        let registrations = &self.realms[realm].dealer.registrations;
        by_policy(registrations.iter().map(|(id, r)| (*id, r.policy)))
    }

    fn registration_lookup(&self, realm: usize, a: &MetaArgs<'_>) -> MetaResult {
        let procedure = a.uri(0, "procedure")?;
        let policy = a.match_policy(1)?;
        let found = self.realms[realm].dealer.find(policy, &procedure);
        result(found.map_or(Value::Null, Value::from))
    }

    fn registration_match(&self, realm: usize, a: &MetaArgs<'_>) -> MetaResult {
        let procedure = a.uri(0, "procedure")?;
        let found = self.realms[realm].dealer.lookup(&procedure);
        result(found.map_or(Value::Null, Value::from))
    }

    fn registration(
        &self,
        realm: usize,
        a: &MetaArgs<'_>,
    ) -> Result<(Id, &dealer::Registration), MetaError> {
        let id = a.id(0, "registration")?;
        self.realms[realm]
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
    fn registration_details(&self, id: Id, reg: &dealer::Registration) -> Dict {
        let mut d = Dict::new();
        d.insert("id".into(), Value::from(id));
        if let Some(created) = self.iso8601(reg.created) {
            d.insert("created".into(), Value::from(created));
        }
        d.insert("uri".into(), Value::from(reg.uri.as_str()));
        d.insert("match".into(), Value::from(policy_name(reg.policy)));
        d.insert("invoke".into(), Value::from(reg.invoke.as_str()));
        d
    }

    fn registration_get(&self, realm: usize, a: &MetaArgs<'_>) -> MetaResult {
        let (id, reg) = self.registration(realm, a)?;
        result(self.registration_details(id, reg))
    }

    fn registration_callees(&self, realm: usize, a: &MetaArgs<'_>, count: bool) -> MetaResult {
        let (_, reg) = self.registration(realm, a)?;
        if count {
            return result(reg.callees.len() as u64);
        }
        let sessions: Vec<Id> = reg
            .callees
            .iter()
            .filter_map(|c| self.conns.session(*c).map(|s| s.id))
            .collect();
        result(Value::List(sessions.into_iter().map(Value::from).collect()))
    }

    /// `wamp.registration.remove_callee(registration, callee_session, reason=)` (Crossbar's
    /// name): revokes one callee's registration.
    fn registration_remove_callee(
        &mut self,
        now: Instant,
        realm: usize,
        a: &MetaArgs<'_>,
    ) -> MetaResult {
        let (registration, _) = self.registration(realm, a)?;
        let session = a.id(1, "callee's session")?;
        let reason = a.kwarg_str("reason");
        let in_realm = self.realms[realm].sessions.contains_key(&session);
        if !in_realm || !self.revoke_registration(now, session, registration, reason.as_deref()) {
            return Err(MetaError::new(
                uri::error::NO_SUCH_REGISTRATION,
                format!("session {session} holds no registration {registration}"),
            ));
        }
        Ok(Payload::default())
    }

    /// Revokes `session`'s part in `registration` (registration revocation): the callee is
    /// told with UNREGISTERED (request 0, the registration and `reason`) if it announced
    /// `registration_revocation`, and calls no longer reach it. Invocations already sent
    /// still complete. Returns whether the session held the registration.
    pub fn revoke_registration(
        &mut self,
        now: Instant,
        session: Id,
        registration: Id,
        reason: Option<&str>,
    ) -> bool {
        let Some(&conn) = self.sessions.get(&session) else {
            return false;
        };
        let Some(s) = self.conns.session_mut(conn) else {
            return false;
        };
        if !s.registrations.remove(&registration) {
            return false;
        }
        let realm = s.realm;
        let told = supports(&s.roles.callee, features::REGISTRATION_REVOCATION);
        let deleted = self.realms[realm].dealer.unregister(conn, registration);
        if told {
            self.conns.reply(
                conn,
                Unregistered {
                    request: None,
                    details: UnregisteredDetails {
                        registration: Some(registration),
                        reason: reason.map(str::to_owned),
                        ..Default::default()
                    },
                },
            );
        }
        self.registration_removed(realm, session, registration, deleted == Some(true));
        self.reap(now);
        true
    }

    // ---- subscription meta procedures --------------------------------------------------------

    fn subscription_list(&self, realm: usize) -> MetaResult {
        let subscriptions = &self.realms[realm].broker.subscriptions;
        by_policy(subscriptions.iter().map(|(id, s)| (*id, s.policy)))
    }

    fn subscription_lookup(&self, realm: usize, a: &MetaArgs<'_>) -> MetaResult {
        let topic = a.uri(0, "topic")?;
        let policy = a.match_policy(1)?;
        let found = self.realms[realm].broker.find(policy, &topic);
        result(found.map_or(Value::Null, Value::from))
    }

    /// Every subscription an event to the topic would reach (null when none).
    fn subscription_match(&self, realm: usize, a: &MetaArgs<'_>) -> MetaResult {
        let topic = a.uri(0, "topic")?;
        let found = self.realms[realm].broker.matching(&topic);
        if found.is_empty() {
            return result(Value::Null);
        }
        result(Value::List(found.into_iter().map(Value::from).collect()))
    }

    fn subscription(
        &self,
        realm: usize,
        a: &MetaArgs<'_>,
    ) -> Result<(Id, &broker::Subscription), MetaError> {
        let id = a.id(0, "subscription")?;
        self.realms[realm]
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
    fn subscription_details(&self, id: Id, sub: &broker::Subscription) -> Dict {
        let mut d = Dict::new();
        d.insert("id".into(), Value::from(id));
        if let Some(created) = self.iso8601(sub.created) {
            d.insert("created".into(), Value::from(created));
        }
        d.insert("uri".into(), Value::from(sub.uri.as_str()));
        d.insert("match".into(), Value::from(policy_name(sub.policy)));
        d
    }

    fn subscription_get(&self, realm: usize, a: &MetaArgs<'_>) -> MetaResult {
        let (id, sub) = self.subscription(realm, a)?;
        result(self.subscription_details(id, sub))
    }

    fn subscription_subscribers(&self, realm: usize, a: &MetaArgs<'_>, count: bool) -> MetaResult {
        let (_, sub) = self.subscription(realm, a)?;
        if count {
            return result(sub.subscribers.len() as u64);
        }
        let sessions: Vec<Value> = sub
            .subscribers
            .iter()
            .filter_map(|c| self.conns.session(*c).map(|s| Value::from(s.id)))
            .collect();
        result(Value::List(sessions))
    }

    /// `wamp.subscription.remove_subscriber(subscription, subscriber_session, reason=)`
    /// (Crossbar's name): revokes one subscriber's subscription.
    fn subscription_remove_subscriber(
        &mut self,
        now: Instant,
        realm: usize,
        a: &MetaArgs<'_>,
    ) -> MetaResult {
        let (subscription, _) = self.subscription(realm, a)?;
        let session = a.id(1, "subscriber's session")?;
        let reason = a.kwarg_str("reason");
        let in_realm = self.realms[realm].sessions.contains_key(&session);
        if !in_realm || !self.revoke_subscription(now, session, subscription, reason.as_deref()) {
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
        &self,
        conn: ConnectionId,
        realm: usize,
        a: &MetaArgs<'_>,
    ) -> MetaResult {
        let (id, sub) = self.subscription(realm, a)?;
        let broker = &self.realms[realm].broker;
        if !broker.keeps_history_for(sub) {
            return Err(MetaError::new(
                "wamp.error.history_unavailable",
                format!(
                    "this router keeps no event history for {} (configure it per realm)",
                    sub.uri
                ),
            ));
        }
        let Some(me) = self.conns.session(conn) else {
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
            let at = self.wall(e.at);
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
            if let Payload::Args { args, kwargs } = &e.payload {
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

    /// Publishes a meta event in `realm` if anyone subscribed to it; `args` is only built
    /// then.
    pub(super) fn meta_event(
        &mut self,
        realm: usize,
        topic: &'static str,
        args: impl FnOnce(&Router) -> Vec<Value>,
    ) {
        let topic = Uri::new_unchecked(topic);
        if self.realms[realm].broker.matching(&topic).is_empty() {
            return;
        }
        let payload = Payload::new(args(self), Dict::new());
        let publication = self.rng.next_id();
        // Not through `publish_as`: no retention, no history, and a meta event dropped for
        // a slow session is not reported (which would publish again).
        self.realms[realm].broker.publish(
            &mut self.conns,
            &Origin::default(),
            publication,
            &topic,
            &PublishOptions::default(),
            payload,
        );
    }

    /// `wamp.registration.on_create` then `on_register`, after a REGISTER.
    pub(super) fn registration_added(
        &mut self,
        realm: usize,
        session: Id,
        registration: Id,
        created: bool,
    ) {
        if created {
            self.meta_event(realm, "wamp.registration.on_create", |r| {
                let details = r.realms[realm]
                    .dealer
                    .registrations
                    .get(&registration)
                    .map(|reg| r.registration_details(registration, reg))
                    .unwrap_or_default();
                vec![Value::from(session), Value::Dict(details)]
            });
        }
        self.meta_event(realm, "wamp.registration.on_register", |_| {
            vec![Value::from(session), Value::from(registration)]
        });
    }

    /// `wamp.registration.on_unregister` then (with the last callee) `on_delete`.
    pub(super) fn registration_removed(
        &mut self,
        realm: usize,
        session: Id,
        registration: Id,
        deleted: bool,
    ) {
        let topics = (
            "wamp.registration.on_unregister",
            "wamp.registration.on_delete",
        );
        self.holder_removed(realm, topics, session, registration, deleted);
    }

    /// A session stopped holding a registration or subscription: the first topic's event,
    /// then, when it was the last holder, the second's, each with `(session, id)`.
    fn holder_removed(
        &mut self,
        realm: usize,
        (left, deleted_topic): (&'static str, &'static str),
        session: Id,
        id: Id,
        deleted: bool,
    ) {
        let args = || vec![Value::from(session), Value::from(id)];
        self.meta_event(realm, left, |_| args());
        if deleted {
            self.meta_event(realm, deleted_topic, |_| args());
        }
    }

    /// `wamp.subscription.on_create` then `on_subscribe`, after a SUBSCRIBE (not for
    /// subscriptions to the router's own `wamp.` topics, which would only echo the meta API).
    pub(super) fn subscription_added(
        &mut self,
        realm: usize,
        session: Id,
        subscription: Id,
        created: bool,
    ) {
        let reserved = self.realms[realm]
            .broker
            .subscriptions
            .get(&subscription)
            .is_none_or(|s| s.uri.is_reserved());
        if reserved {
            return;
        }
        if created {
            self.meta_event(realm, "wamp.subscription.on_create", |r| {
                let details = r.realms[realm]
                    .broker
                    .subscriptions
                    .get(&subscription)
                    .map(|sub| r.subscription_details(subscription, sub))
                    .unwrap_or_default();
                vec![Value::from(session), Value::Dict(details)]
            });
        }
        self.meta_event(realm, "wamp.subscription.on_subscribe", |_| {
            vec![Value::from(session), Value::from(subscription)]
        });
    }

    /// `wamp.subscription.on_unsubscribe` then (with the last subscriber) `on_delete`.
    pub(super) fn subscription_removed(
        &mut self,
        realm: usize,
        session: Id,
        subscription: Id,
        deleted: bool,
    ) {
        let topics = (
            "wamp.subscription.on_unsubscribe",
            "wamp.subscription.on_delete",
        );
        self.holder_removed(realm, topics, session, subscription, deleted);
    }
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
    from_publication: Option<Id>,
    after_publication: Option<Id>,
    before_publication: Option<Id>,
    until_publication: Option<Id>,
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
        let publication = |key: &str| -> Result<Option<Id>, MetaError> {
            present(key)
                .map(|v| {
                    v.as_u64()
                        .and_then(Id::new)
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
        let at = |p: Id| events.iter().position(|e| e.publication == p);
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
