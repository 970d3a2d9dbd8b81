//! The dealer side of the router: REGISTER, UNREGISTER, CALL (and its progressive
//! continuations), YIELD, callee ERROR, CANCEL and call timeouts.

use super::*;

impl Router {
    /// A call's timeout fired: the caller gets ERROR `wamp.error.timeout`; a callee that can
    /// be canceled gets INTERRUPT `killnowait` (otherwise the call is skipped), and its late
    /// answer is dropped.
    pub(super) fn call_timed_out(&mut self, realm: usize, callee: ConnectionId, invocation: Id) {
        let Some(call) = self.realms[realm]
            .dealer
            .in_flight
            .get(&(callee, invocation))
            .cloned()
        else {
            return;
        };
        self.finish(realm, callee, invocation, &call);
        self.conns.reply(
            call.caller,
            Error::new(RequestType::Call, call.call, uri::error::TIMEOUT).with_args(vec![
                Value::from(format!(
                    "no result within {} ms",
                    call.timeout.map_or(0, |t| t.as_millis())
                )),
            ]),
        );
        self.conns.interrupt(
            callee,
            invocation,
            CancelMode::KillNoWait,
            uri::error::TIMEOUT,
        );
    }

    pub(super) fn on_register(
        &mut self,
        now: Instant,
        conn: ConnectionId,
        m: crate::message::Register,
    ) {
        let policy = m.options.match_policy.unwrap_or_default();
        if !self.usable_uri(
            conn,
            RequestType::Register,
            m.request,
            &m.procedure,
            policy,
            true,
        ) {
            return;
        }
        let invoke = m
            .options
            .invoke
            .unwrap_or(crate::message::InvokePolicy::Single);
        let Some(s) = self.conns.session_mut(conn) else {
            return;
        };
        let (realm, session) = (s.realm, s.id);
        let dealer = &mut self.realms[realm].dealer;
        let procedure = m.procedure.clone();
        let flags = dealer::CalleeFlags {
            disclose_caller: m.options.disclose_caller == Some(true),
            forward_timeout: m.options.forward_timeout == Some(true),
        };
        let existed = dealer.find(policy, &m.procedure).is_some();
        match dealer.register(&mut self.rng, conn, m.procedure, policy, invoke, flags, now) {
            Ok(registration) => {
                s.registrations.insert(registration);
                self.conns.reply(
                    conn,
                    crate::message::Registered {
                        request: m.request,
                        registration,
                    },
                );
                self.registration_added(realm, session, registration, !existed);
            }
            Err(dealer::RegisterRefused::AlreadyExists) => self.conns.reply(
                conn,
                Error::new(RequestType::Register, m.request, uri::error::PROCEDURE_ALREADY_EXISTS).with_args(
                    vec![Value::from(format!(
                        "{procedure} is already registered (with another invocation policy, with \"single\", or by this session)"
                    ))],
                ),
            ),
        }
    }

    pub(super) fn on_unregister(&mut self, conn: ConnectionId, request: Id, registration: Id) {
        let Some(s) = self.conns.session_mut(conn) else {
            return;
        };
        if !s.registrations.remove(&registration) {
            return self.conns.reply(
                conn,
                Error::new(
                    RequestType::Unregister,
                    request,
                    uri::error::NO_SUCH_REGISTRATION,
                ),
            );
        }
        let (realm, session) = (s.realm, s.id);
        let deleted = self.realms[realm].dealer.unregister(conn, registration);
        self.conns.reply(
            conn,
            Unregistered {
                request: Some(request),
                details: Default::default(),
            },
        );
        self.registration_removed(realm, session, registration, deleted == Some(true));
    }

    /// A new CALL (not a continuation of a progressive one), allowed with `grant`.
    pub(super) fn on_call(
        &mut self,
        now: Instant,
        conn: ConnectionId,
        m: crate::message::Call,
        grant: Grant,
    ) {
        let streaming = m.options.progress == Some(true);
        let request = m.request;
        self.start_call(now, conn, m, grant);
        // A progressive call refused at once: the caller's next chunks are discarded.
        if streaming {
            if let Some(s) = self.conns.session_mut(conn) {
                if !s.calls.contains_key(&request) {
                    s.stream_ended(request);
                }
            }
        }
    }

    /// Handles a CALL that continues a progressive call invocation (same request ID as a
    /// call of this session whose caller is still sending chunks): forwards it to the same
    /// callee as an INVOCATION chunk with the same ID. Continuations of a progressive call
    /// that already ended are discarded. Anything else is given back: a new CALL.
    pub(super) fn call_continuation(
        &mut self,
        conn: ConnectionId,
        m: crate::message::Call,
    ) -> Option<crate::message::Call> {
        // Without a session there is nothing to do with it.
        let s = self.conns.session(conn)?;
        let realm = s.realm;
        let Some(&(callee, invocation)) = s.calls.get(&m.request) else {
            if s.ended_streams.contains(&m.request) {
                return None;
            }
            return Some(m);
        };
        let Some(call) = self.realms[realm]
            .dealer
            .in_flight
            .get_mut(&(callee, invocation))
        else {
            return Some(m);
        };
        let Some(procedure) = &call.stream else {
            // Reusing the ID of a call in flight: the request-ID check refuses it.
            return Some(m);
        };
        if *procedure != m.procedure {
            let msg = format!(
                "CALL {} continues a progressive call to {procedure} but names {}",
                m.request, m.procedure
            );
            self.violation(conn, msg);
            return None;
        }
        let last = m.options.progress != Some(true);
        if last {
            call.stream = None;
        }
        let registration = call.registration;
        let message = Arc::new(Message::Invocation(Invocation {
            request: invocation,
            registration,
            details: InvocationDetails {
                progress: (!last).then_some(true),
                ..Default::default()
            },
            payload: m.payload,
        }));
        if self.conns.push(callee, message, Class::Invocation) != Pushed::Queued {
            // The callee cannot take the rest of the stream: end the call on both sides.
            if let Some(call) = self.realms[realm]
                .dealer
                .in_flight
                .get(&(callee, invocation))
                .cloned()
            {
                self.finish(realm, callee, invocation, &call);
                self.conns.reply(
                    conn,
                    Error::new(RequestType::Call, m.request, uri::error::CANCELED).with_args(vec![
                        Value::from("the callee is not keeping up: its outbound queue is full"),
                    ]),
                );
                self.conns.interrupt(
                    callee,
                    invocation,
                    CancelMode::KillNoWait,
                    uri::error::CANCELED,
                );
            }
        }
        None
    }

    fn call_error(&mut self, conn: ConnectionId, request: Id, error: &str, message: String) {
        self.conns.reply(
            conn,
            Error::new(RequestType::Call, request, error).with_args(vec![Value::from(message)]),
        );
    }

    fn start_call(
        &mut self,
        now: Instant,
        conn: ConnectionId,
        m: crate::message::Call,
        grant: Grant,
    ) {
        if m.procedure.is_reserved() {
            return self.meta_call(now, conn, m, grant);
        }
        if !self.usable_uri(
            conn,
            RequestType::Call,
            m.request,
            &m.procedure,
            MatchPolicy::Exact,
            true,
        ) {
            return;
        }
        let Some(s) = self.conns.session(conn) else {
            return;
        };
        let realm_index = s.realm;
        let streaming = m.options.progress == Some(true);
        let passthru = m.options.ppt_scheme.is_some();
        if streaming && !supports(&s.roles.caller, features::PROGRESSIVE_CALL_INVOCATIONS) {
            return self.violation(
                conn,
                "CALL with progress: the caller did not announce progressive_call_invocations"
                    .into(),
            );
        }
        if passthru && !supports(&s.roles.caller, features::PAYLOAD_PASSTHRU_MODE) {
            return self.violation(
                conn,
                "CALL with ppt_scheme: the caller did not announce payload_passthru_mode".into(),
            );
        }
        let (caller_id, trustlevel) = (s.id, s.trust_level);
        let disclose_me = m.options.disclose_me == Some(true);
        let policy = self.realms[realm_index].config.caller_disclosure;
        if disclose_me && policy == Disclosure::Never {
            return self.call_error(
                conn,
                m.request,
                uri::error::OPTION_DISALLOWED_DISCLOSE_ME,
                "this realm does not disclose callers".into(),
            );
        }
        let partition = match m.options.runmode.as_deref() {
            None => None,
            Some("partition") => match &m.options.rkey {
                Some(rkey) => Some(rkey.clone()),
                None => {
                    return self.call_error(
                        conn,
                        m.request,
                        uri::error::INVALID_ARGUMENT,
                        "runmode \"partition\" needs an rkey option (the shard key)".into(),
                    )
                }
            },
            Some(other) => {
                return self.call_error(
                    conn,
                    m.request,
                    uri::error::INVALID_ARGUMENT,
                    format!("unknown runmode {other:?}: the only run mode is \"partition\""),
                )
            }
        };
        let dealer = &mut self.realms[realm_index].dealer;
        let Some(registration) = dealer.lookup(&m.procedure) else {
            return self.call_error(
                conn,
                m.request,
                uri::error::NO_SUCH_PROCEDURE,
                format!("no callee registered procedure {}", m.procedure),
            );
        };
        let pattern = dealer.registrations[&registration].policy != MatchPolicy::Exact;
        let picked = match &partition {
            Some(rkey) => {
                let conns = &self.conns;
                dealer.pick_shard(registration, rkey, |c| conns.session(c).map(|s| s.id))
            }
            None => dealer.pick_callee(registration, &mut self.rng),
        };
        let (Some(callee), Some(callee_session)) =
            (picked, picked.and_then(|c| self.conns.session(c)))
        else {
            return self.call_error(
                conn,
                m.request,
                uri::error::NO_AVAILABLE_CALLEE,
                format!("no callee is available for {}", m.procedure),
            );
        };
        let callee_role = &callee_session.roles.callee;
        if streaming
            && !(supports(callee_role, features::PROGRESSIVE_CALL_INVOCATIONS)
                && supports_canceling(callee_role))
        {
            return self.call_error(
                conn,
                m.request,
                uri::error::FEATURE_NOT_SUPPORTED,
                "the callee does not support progressive call invocations".into(),
            );
        }
        if passthru && !supports(callee_role, features::PAYLOAD_PASSTHRU_MODE) {
            return self.call_error(
                conn,
                m.request,
                uri::error::FEATURE_NOT_SUPPORTED,
                "the callee does not support payload passthru mode".into(),
            );
        }
        let timeout_ms = m.options.timeout.filter(|ms| *ms > 0);
        // The caller's permission adds a reason to disclose; a realm that never discloses
        // keeps that promise whatever the permission says.
        let asked = dealer::Asked {
            disclose: disclose_me || grant.disclose,
            timeout_ms,
            progress: m.options.receive_progress == Some(true),
        };
        let dealer::CalleeTerms {
            receive_progress,
            forward_timeout,
            disclose,
        } = self.callee_terms(realm_index, registration, callee, callee_role, asked);
        // The ID is taken only once the INVOCATION is queued: a refused one leaves no gap.
        let invocation = callee_session.invocation_ids.peek();
        // The caller's authid and authrole are copied only when they are disclosed.
        let (caller_authid, caller_authrole) = match self.conns.session(conn) {
            Some(s) if disclose => (Some(s.authid.clone()), Some(s.authrole.clone())),
            _ => (None, None),
        };
        let o = m.options;
        let details = InvocationDetails {
            receive_progress: receive_progress.then_some(true),
            progress: streaming.then_some(true),
            procedure: pattern.then(|| m.procedure.clone()),
            caller: disclose.then_some(caller_id),
            caller_authid,
            caller_authrole,
            trustlevel: Some(trustlevel),
            timeout: timeout_ms.filter(|_| forward_timeout),
            ppt_scheme: o.ppt_scheme,
            ppt_serializer: o.ppt_serializer,
            ppt_cipher: o.ppt_cipher,
            ppt_keyid: o.ppt_keyid,
            enc_algo: o.enc_algo,
            enc_serializer: o.enc_serializer,
            enc_key: o.enc_key,
            ..Default::default()
        };
        let message = Arc::new(Message::Invocation(Invocation {
            request: invocation,
            registration,
            details,
            payload: m.payload,
        }));
        let reroute =
            (supports(callee_role, features::CALL_REROUTE) && partition.is_none() && !streaming)
                .then(|| {
                    Box::new(dealer::Reroute {
                        invocation: message.clone(),
                        tried: Vec::new(),
                        asked,
                    })
                });
        if self.conns.push(callee, message, Class::Invocation) != Pushed::Queued {
            return self.call_error(
                conn,
                m.request,
                uri::error::NO_AVAILABLE_CALLEE,
                "the callee is not keeping up: its outbound queue is full".into(),
            );
        }
        if let Some(s) = self.conns.session_mut(callee) {
            s.invocation_ids.next_id();
            s.invocations.insert(invocation);
        }
        if let Some(s) = self.conns.session_mut(conn) {
            s.calls.insert(m.request, (callee, invocation));
        }
        // A forwarded timeout is the callee's to enforce.
        let timeout = timeout_ms
            .filter(|_| !forward_timeout)
            .map(std::time::Duration::from_millis);
        self.realms[realm_index].dealer.insert_in_flight(
            callee,
            invocation,
            InFlight {
                caller: conn,
                call: m.request,
                registration,
                stream: streaming.then(|| m.procedure.clone()),
                receive_progress,
                timeout,
                deadline: timeout.map(|t| now + t),
                reroute,
            },
        );
    }

    /// What a call gets from `callee` of `registration`, given what the caller `asked`:
    /// progressive results if the callee can give them, a timeout it enforces itself if it
    /// registered with `forward_timeout` and can, and the caller disclosed under the realm's
    /// policy (when asked, or when the callee registered with `disclose_caller`).
    fn callee_terms(
        &self,
        realm: usize,
        registration: Id,
        callee: ConnectionId,
        role: &Option<Role>,
        asked: dealer::Asked,
    ) -> dealer::CalleeTerms {
        let realm = &self.realms[realm];
        let reg = realm.dealer.registrations.get(&registration);
        let has = |list: fn(&dealer::Registration) -> &Vec<ConnectionId>| {
            reg.is_some_and(|r| list(r).contains(&callee))
        };
        dealer::CalleeTerms {
            receive_progress: asked.progress && supports_progressive_results(role),
            forward_timeout: asked.timeout_ms.is_some()
                && has(|r| &r.forward_timeout)
                && supports(role, features::CALL_TIMEOUT),
            disclose: realm
                .config
                .caller_disclosure
                .discloses(asked.disclose || has(|r| &r.disclose_caller)),
        }
    }

    /// Call re-routing: the callee answered `wamp.error.unavailable`; the call goes to the
    /// next callee its registration's invocation policy allows, keeping its timeout, or ends
    /// with ERROR `wamp.error.no_available_callee` when there is none.
    fn reroute(&mut self, now: Instant, realm: usize, refused_by: ConnectionId, call: InFlight) {
        let Some(mut reroute) = call.reroute.clone() else {
            return;
        };
        reroute.tried.push(refused_by);
        let Message::Invocation(sent) = &*reroute.invocation else {
            return;
        };
        let registration = sent.registration;
        let passthru = sent.details.ppt_scheme.is_some();
        // The next callee the policy names; one that cannot take a passthru payload counts
        // as unavailable too.
        let callee = loop {
            let next =
                self.realms[realm]
                    .dealer
                    .pick_reroute(registration, &reroute.tried, &mut self.rng);
            let Some(c) = next else {
                break None;
            };
            let fits = self.conns.session(c).is_some_and(|s| {
                !passthru || supports(&s.roles.callee, features::PAYLOAD_PASSTHRU_MODE)
            });
            if fits {
                break Some(c);
            }
            reroute.tried.push(c);
        };
        let (Some(callee), Some(caller)) = (callee, self.conns.session(call.caller)) else {
            return self.call_error(
                call.caller,
                call.call,
                uri::error::NO_AVAILABLE_CALLEE,
                "every callee of the procedure is unavailable".into(),
            );
        };
        let caller_identity = (caller.id, caller.authid.clone(), caller.authrole.clone());
        let Some(session) = self.conns.session(callee) else {
            return;
        };
        // What depends on the callee is decided again for this one.
        let role = &session.roles.callee;
        let dealer::CalleeTerms {
            receive_progress,
            forward_timeout,
            disclose,
        } = self.callee_terms(realm, registration, callee, role, reroute.asked);
        let can_reroute = supports(role, features::CALL_REROUTE);
        let invocation = session.invocation_ids.peek();
        let (caller_id, caller_authid, caller_authrole) = caller_identity;
        let message = Arc::new(Message::Invocation(Invocation {
            request: invocation,
            registration,
            details: InvocationDetails {
                receive_progress: receive_progress.then_some(true),
                caller: disclose.then_some(caller_id),
                caller_authid: disclose.then_some(caller_authid),
                caller_authrole: disclose.then_some(caller_authrole),
                timeout: reroute.asked.timeout_ms.filter(|_| forward_timeout),
                ..sent.details.clone()
            },
            payload: sent.payload.clone(),
        }));
        let kept = can_reroute.then(|| {
            Box::new(dealer::Reroute {
                invocation: message.clone(),
                tried: std::mem::take(&mut reroute.tried),
                ..*reroute
            })
        });
        if self.conns.push(callee, message, Class::Invocation) != Pushed::Queued {
            return self.call_error(
                call.caller,
                call.call,
                uri::error::NO_AVAILABLE_CALLEE,
                "the callee is not keeping up: its outbound queue is full".into(),
            );
        }
        if let Some(s) = self.conns.session_mut(callee) {
            s.invocation_ids.next_id();
            s.invocations.insert(invocation);
        }
        if let Some(s) = self.conns.session_mut(call.caller) {
            s.calls.insert(call.call, (callee, invocation));
        }
        // The dealer times the call unless this callee enforces the timeout; the clock keeps
        // running from the original CALL when the dealer already timed it.
        let timeout = reroute
            .asked
            .timeout_ms
            .filter(|_| !forward_timeout)
            .map(std::time::Duration::from_millis);
        let deadline = timeout.map(|t| call.deadline.unwrap_or(now + t));
        self.realms[realm].dealer.insert_in_flight(
            callee,
            invocation,
            InFlight {
                receive_progress,
                reroute: kept,
                timeout,
                deadline,
                ..call
            },
        );
    }

    /// Looks up an invocation answered by `callee`. `None` with no violation when the answer
    /// is late (the call was canceled or its caller left): it is dropped quietly.
    pub(super) fn answered(
        &mut self,
        callee: ConnectionId,
        invocation: Id,
        what: &str,
    ) -> Option<(usize, InFlight)> {
        let s = self.conns.session(callee)?;
        let realm = s.realm;
        match self.realms[realm]
            .dealer
            .in_flight
            .get(&(callee, invocation))
        {
            Some(call) => Some((realm, call.clone())),
            None => {
                let issued = s
                    .invocation_ids
                    .last()
                    .is_some_and(|last| invocation <= last);
                if !issued {
                    self.violation(
                        callee,
                        format!("{what} for INVOCATION {invocation}, which the router never sent"),
                    );
                }
                None
            }
        }
    }

    /// Forgets a finished invocation on both sides.
    pub(super) fn finish(
        &mut self,
        realm: usize,
        callee: ConnectionId,
        invocation: Id,
        call: &InFlight,
    ) {
        self.realms[realm]
            .dealer
            .remove_in_flight(callee, invocation);
        if let Some(s) = self.conns.session_mut(callee) {
            s.invocations.remove(&invocation);
        }
        self.conns.forget_call(call);
    }

    pub(super) fn on_yield(&mut self, now: Instant, conn: ConnectionId, m: crate::message::Yield) {
        let Some((realm, call)) = self.answered(conn, m.request, "YIELD") else {
            return;
        };
        if m.options.ppt_scheme.is_some() && !self.passthru_answer(realm, conn, m.request, &call) {
            return;
        }
        let progress = m.options.progress == Some(true);
        if progress && !call.receive_progress {
            // The caller did not ask for progressive results; the final YIELD follows.
            return;
        }
        if progress {
            self.realms[realm]
                .dealer
                .restart_timeout(conn, m.request, now);
        } else {
            self.finish(realm, conn, m.request, &call);
        }
        let o = m.options;
        let details = ResultDetails {
            progress: progress.then_some(true),
            ppt_scheme: o.ppt_scheme,
            ppt_serializer: o.ppt_serializer,
            ppt_cipher: o.ppt_cipher,
            ppt_keyid: o.ppt_keyid,
            enc_algo: o.enc_algo,
            enc_serializer: o.enc_serializer,
            enc_key: o.enc_key,
            ..Default::default()
        };
        self.conns.reply(
            call.caller,
            CallResult {
                request: call.call,
                details,
                payload: m.payload,
            },
        );
    }

    pub(super) fn on_callee_error(&mut self, now: Instant, conn: ConnectionId, m: Error) {
        let Some((realm, call)) = self.answered(conn, m.request, "ERROR") else {
            return;
        };
        if m.details.ppt_scheme.is_some() && !self.passthru_answer(realm, conn, m.request, &call) {
            return;
        }
        self.finish(realm, conn, m.request, &call);
        if call.reroute.is_some() && m.error.as_str() == uri::error::UNAVAILABLE {
            return self.reroute(now, realm, conn, call);
        }
        self.conns.reply(
            call.caller,
            Error {
                request_type: RequestType::Call,
                request: call.call,
                details: ErrorDetails {
                    forward_for: None,
                    ..m.details
                },
                error: m.error,
                payload: m.payload,
            },
        );
    }

    /// Checks a callee's answer in payload passthru mode: a callee that did not announce
    /// the feature commits a protocol violation; a caller that did not gets no passthru
    /// payload: the call ends with ERROR `wamp.error.feature_not_supported` to both.
    /// Returns whether the answer may be forwarded.
    fn passthru_answer(
        &mut self,
        realm: usize,
        callee: ConnectionId,
        invocation: Id,
        call: &InFlight,
    ) -> bool {
        let callee_ok = self
            .conns
            .session(callee)
            .is_some_and(|s| supports(&s.roles.callee, features::PAYLOAD_PASSTHRU_MODE));
        if !callee_ok {
            self.violation(
                callee,
                "an answer with ppt_scheme: the callee did not announce payload_passthru_mode"
                    .into(),
            );
            return false;
        }
        let caller_ok = self
            .conns
            .session(call.caller)
            .is_some_and(|s| supports(&s.roles.caller, features::PAYLOAD_PASSTHRU_MODE));
        if caller_ok {
            return true;
        }
        self.finish(realm, callee, invocation, call);
        let why = "the caller does not support payload passthru mode";
        self.conns.reply(
            callee,
            Error::new(
                RequestType::Invocation,
                invocation,
                uri::error::FEATURE_NOT_SUPPORTED,
            )
            .with_args(vec![Value::from(why)]),
        );
        self.call_error(
            call.caller,
            call.call,
            uri::error::FEATURE_NOT_SUPPORTED,
            "the callee answered in payload passthru mode, which this caller did not announce"
                .into(),
        );
        false
    }

    pub(super) fn on_cancel(&mut self, conn: ConnectionId, request: Id, mode: Option<CancelMode>) {
        let Some(s) = self.conns.session(conn) else {
            return;
        };
        // A CANCEL for a call that already finished crossed its answer: nothing to do.
        let Some(&(callee, invocation)) = s.calls.get(&request) else {
            return;
        };
        let realm = s.realm;
        let Some(call) = self.realms[realm]
            .dealer
            .in_flight
            .get(&(callee, invocation))
            .cloned()
        else {
            return;
        };
        let interruptible = self
            .conns
            .session(callee)
            .is_some_and(|s| supports_canceling(&s.roles.callee));
        let mode = match mode.unwrap_or(CancelMode::KillNoWait) {
            _ if !interruptible => CancelMode::Skip,
            m => m,
        };
        if mode != CancelMode::Kill {
            self.finish(realm, callee, invocation, &call);
            self.conns.reply(
                conn,
                Error::new(RequestType::Call, request, uri::error::CANCELED),
            );
        }
        if mode != CancelMode::Skip {
            self.conns
                .interrupt(callee, invocation, mode, uri::error::CANCELED);
        }
    }
}
