//! The meta API: procedures the router answers itself (`wamp.registration.*`) and the meta
//! events it publishes in each realm (`wamp.registration.on_*`).
//!
//! Meta procedures are CALLs to the reserved `wamp.` namespace. They go through
//! authorization like any CALL (so a realm with an external authorizer decides who may list
//! or revoke), then are answered at once with RESULT or ERROR; no session is involved.

use std::time::SystemTime;

use super::session_meta::Kill;
use super::*;
use crate::message::{Call, Payload, PublishOptions, UnregisteredDetails};

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

    /// The ISO 8601 UTC time of `at`, when the wall clock is known.
    fn iso8601(&self, at: Instant) -> Option<String> {
        let (anchor, wall) = self.wall_clock?;
        let t = if at >= anchor {
            wall + (at - anchor)
        } else {
            wall - (anchor - at)
        };
        let t = time::OffsetDateTime::from(t);
        t.format(&time::format_description::well_known::Rfc3339)
            .ok()
    }

    /// Answers a CALL to the reserved `wamp.` namespace.
    pub(super) fn meta_call(&mut self, now: Instant, conn: ConnectionId, m: Call) {
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
            "wamp.session.add_testament" => self.add_testament(conn, &a),
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
        let mut lists: [Vec<Id>; 3] = Default::default();
        for (id, reg) in &self.realms[realm].dealer.registrations {
            let slot = match reg.policy {
                MatchPolicy::Exact => 0,
                MatchPolicy::Prefix => 1,
                MatchPolicy::Wildcard => 2,
            };
            lists[slot].push(*id);
        }
        let [exact, prefix, wildcard] = lists;
        let mut d = Dict::new();
        d.insert("exact".into(), id_list(exact));
        d.insert("prefix".into(), id_list(prefix));
        d.insert("wildcard".into(), id_list(wildcard));
        result(d)
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
        let publish = Publish {
            request: Id::MIN,
            options: PublishOptions::default(),
            topic,
            payload,
        };
        self.realms[realm]
            .broker
            .publish(&mut self.conns, None, publication, publish, None);
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
        self.meta_event(realm, "wamp.registration.on_unregister", |_| {
            vec![Value::from(session), Value::from(registration)]
        });
        if deleted {
            self.meta_event(realm, "wamp.registration.on_delete", |_| {
                vec![Value::from(session), Value::from(registration)]
            });
        }
    }
}
