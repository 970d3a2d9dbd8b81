//! Remote procedure calls (digest §2.6, and §4.1 to §4.12 and §4.25 of the advanced
//! profile): REGISTER and UNREGISTER, CALL and its progressive continuations, YIELD, a
//! callee's ERROR, CANCEL, call timeouts, re-routing, payload passthru and registration
//! revocation. The dealer's tables
//! are in [`dealer`]; what a session holds of RPC is its [`SessionRpc`].

pub(crate) mod dealer;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use super::authz::Grant;
use super::config::Disclosure;
use super::connection::{Class, ConnectionId, Connections, Pushed, SessionData};
use super::context::Ctx;
use super::meta;
use super::realm::Realm;
use crate::features::{self, supports, supports_canceling, FeatureSet};
use crate::id::{RegistrationId, RequestId, RequestIdCounter};
use crate::message::{
    Call, CallResult, CancelMode, Error, ErrorDetails, Interrupt, InterruptOptions, Invocation,
    InvocationDetails, InvokePolicy, Message, Register, Registered, RequestType, ResultDetails,
    Unregistered, UnregisteredDetails, Yield,
};
use crate::uri::{self, MatchPolicy};
use crate::value::Value;
use dealer::InFlight;

/// What one session holds of RPC.
#[derive(Debug, Default)]
pub(crate) struct SessionRpc {
    /// INVOCATION request IDs, router to this callee.
    pub invocation_ids: RequestIdCounter,
    // Ordered sets and maps: teardown walks them, and its output order must not depend on
    // a hasher's random seed.
    pub registrations: BTreeSet<RegistrationId>,
    /// This session's calls in flight (CALL request ID → the invocation's callee and ID).
    pub calls: BTreeMap<RequestId, (ConnectionId, RequestId)>,
    /// Invocations in flight to this session as callee (INVOCATION request IDs).
    pub invocations: BTreeSet<RequestId>,
    /// Progressive calls (invocations) that ended while the caller was still sending
    /// chunks, newest last: their late continuations are discarded, not violations.
    pub ended_streams: VecDeque<RequestId>,
}

impl SessionRpc {
    /// How many ended progressive calls are remembered (the grace table of the spec's
    /// request-ID check); older continuations are violations.
    pub const ENDED_STREAMS: usize = 64;

    /// Remembers a progressive call that ended before its caller's last chunk.
    pub fn stream_ended(&mut self, call: RequestId) {
        if self.ended_streams.len() == Self::ENDED_STREAMS {
            self.ended_streams.pop_front();
        }
        self.ended_streams.push_back(call);
    }
}

/// A callee takes progressive results only if it can also be canceled (the spec makes the
/// dealer treat it as not supporting them otherwise).
fn supports_progressive_results(role: &Option<FeatureSet>) -> bool {
    supports_canceling(role) && supports(role, features::PROGRESSIVE_CALL_RESULTS)
}

/// Sends INTERRUPT (`mode`, `reason`) for `invocation` to `callee` if it announced call
/// canceling (a callee that cannot be interrupted is simply not told); returns whether it
/// was sent.
pub(crate) fn interrupt(
    conns: &mut Connections,
    callee: ConnectionId,
    invocation: RequestId,
    mode: CancelMode,
    reason: &str,
) -> bool {
    let interruptible = conns
        .session(callee)
        .is_some_and(|s| supports_canceling(&s.roles.callee));
    if interruptible {
        let options = InterruptOptions {
            mode: Some(mode),
            reason: Some(reason.to_owned()),
            ..Default::default()
        };
        conns.reply(
            callee,
            Interrupt {
                request: invocation,
                options,
            },
        );
    }
    interruptible
}

/// Forgets a finished call on its caller's side (remembering a progressive call whose
/// caller may still send chunks).
fn forget_call(conns: &mut Connections, call: &InFlight) {
    if let Some(s) = conns.session_mut(call.caller) {
        s.rpc.calls.remove(&call.call);
        if call.stream.is_some() {
            s.rpc.stream_ended(call.call);
        }
    }
}

/// Forgets a finished invocation on both sides.
fn finish(
    conns: &mut Connections,
    realm: &mut Realm,
    callee: ConnectionId,
    invocation: RequestId,
    call: &InFlight,
) {
    realm.dealer.remove_in_flight(callee, invocation);
    if let Some(s) = conns.session_mut(callee) {
        s.rpc.invocations.remove(&invocation);
    }
    forget_call(conns, call);
}

fn call_error(
    conns: &mut Connections,
    conn: ConnectionId,
    request: RequestId,
    error: &str,
    message: String,
) {
    conns.reply(
        conn,
        Error::new(RequestType::Call, request, error).with_args(vec![Value::from(message)]),
    );
}

/// Ends the calls of `realm` whose timeout passed.
pub(crate) fn handle_timeouts(cx: &mut Ctx<'_>, realm: &mut Realm) {
    for (callee, invocation) in realm.dealer.expired(cx.now) {
        call_timed_out(cx, realm, callee, invocation);
    }
}

/// A call's timeout fired: the caller gets ERROR `wamp.error.timeout`; a callee that can
/// be canceled gets INTERRUPT `killnowait` (otherwise the call is skipped), and its late
/// answer is dropped.
fn call_timed_out(
    cx: &mut Ctx<'_>,
    realm: &mut Realm,
    callee: ConnectionId,
    invocation: RequestId,
) {
    let Some(call) = realm.dealer.in_flight.get(&(callee, invocation)).cloned() else {
        return;
    };
    finish(cx.conns, realm, callee, invocation, &call);
    cx.conns.reply(
        call.caller,
        Error::new(RequestType::Call, call.call, uri::error::TIMEOUT).with_args(vec![Value::from(
            format!(
                "no result within {} ms",
                call.timeout.map_or(0, |t| t.as_millis())
            ),
        )]),
    );
    interrupt(
        cx.conns,
        callee,
        invocation,
        CancelMode::KillNoWait,
        uri::error::TIMEOUT,
    );
}

pub(crate) fn on_register(cx: &mut Ctx<'_>, realm: &mut Realm, conn: ConnectionId, m: Register) {
    let policy = m.options.match_policy.unwrap_or_default();
    if !cx.usable_uri(
        conn,
        RequestType::Register,
        m.request,
        &m.procedure,
        policy,
        true,
    ) {
        return;
    }
    let invoke = m.options.invoke.unwrap_or(InvokePolicy::Single);
    let Some(s) = cx.conns.session_mut(conn) else {
        return;
    };
    let session = s.id;
    let dealer = &mut realm.dealer;
    let procedure = m.procedure.clone();
    let flags = dealer::CalleeFlags {
        disclose_caller: m.options.disclose_caller == Some(true),
        forward_timeout: m.options.forward_timeout == Some(true),
    };
    let existed = dealer.find(policy, &m.procedure).is_some();
    match dealer.register(cx.ids, conn, m.procedure, policy, invoke, flags, cx.now) {
        Ok(registration) => {
            s.rpc.registrations.insert(registration);
            cx.conns.reply(
                conn,
                Registered {
                    request: m.request,
                    registration,
                },
            );
            meta::registration_added(cx, realm, session, registration, !existed);
        }
        Err(dealer::RegisterRefused::AlreadyExists) => cx.conns.reply(
            conn,
            Error::new(RequestType::Register, m.request, uri::error::PROCEDURE_ALREADY_EXISTS).with_args(
                vec![Value::from(format!(
                    "{procedure} is already registered (with another invocation policy, with \"single\", or by this session)"
                ))],
            ),
        ),
    }
}

pub(crate) fn on_unregister(
    cx: &mut Ctx<'_>,
    realm: &mut Realm,
    conn: ConnectionId,
    request: RequestId,
    registration: RegistrationId,
) {
    let done = Unregistered {
        request: Some(request),
        details: Default::default(),
    };
    if !release(cx, realm, conn, registration, Some(done.into())) {
        cx.conns.reply(
            conn,
            Error::new(
                RequestType::Unregister,
                request,
                uri::error::NO_SUCH_REGISTRATION,
            ),
        );
    }
}

/// Revokes the session on `conn`'s part in `registration` (registration revocation): the
/// callee is told with UNREGISTERED (no request ID, the registration and `reason`) if it
/// announced `registration_revocation`, and calls no longer reach it. Invocations already
/// sent still complete. Returns whether the session held the registration.
pub(crate) fn revoke(
    cx: &mut Ctx<'_>,
    realm: &mut Realm,
    conn: ConnectionId,
    registration: RegistrationId,
    reason: Option<&str>,
) -> bool {
    let told = cx
        .conns
        .session(conn)
        .is_some_and(|s| supports(&s.roles.callee, features::REGISTRATION_REVOCATION));
    let notice = told.then(|| {
        Unregistered {
            request: None,
            details: UnregisteredDetails {
                registration: Some(registration),
                reason: reason.map(str::to_owned),
                ..Default::default()
            },
        }
        .into()
    });
    release(cx, realm, conn, registration, notice)
}

/// Takes `registration` from the session on `conn` (UNREGISTER or revocation): the callee
/// gets `notice`, the meta API hears of it. Returns whether the session held it.
fn release(
    cx: &mut Ctx<'_>,
    realm: &mut Realm,
    conn: ConnectionId,
    registration: RegistrationId,
    notice: Option<Message>,
) -> bool {
    let Some(s) = cx.conns.session_mut(conn) else {
        return false;
    };
    if !s.rpc.registrations.remove(&registration) {
        return false;
    }
    let session = s.id;
    let deleted = realm.dealer.unregister(conn, registration);
    if let Some(notice) = notice {
        cx.conns.reply(conn, notice);
    }
    meta::registration_removed(cx, realm, session, registration, deleted == Some(true));
    true
}

/// Ends what `session` (gone from `conn`) held of RPC: its registrations (returned with
/// whether each was deleted, for the meta events), its calls (callees that can be
/// interrupted are), and the invocations it was handling (their callers get
/// `wamp.error.canceled`).
pub(crate) fn session_ended(
    conns: &mut Connections,
    realm: &mut Realm,
    conn: ConnectionId,
    session: &SessionData,
) -> Vec<(RegistrationId, bool)> {
    let removed = session
        .rpc
        .registrations
        .iter()
        .map(|reg| (*reg, realm.dealer.unregister(conn, *reg) == Some(true)))
        .collect();
    for &(callee, invocation) in session.rpc.calls.values() {
        realm.dealer.remove_in_flight(callee, invocation);
        if let Some(s) = conns.session_mut(callee) {
            s.rpc.invocations.remove(&invocation);
        }
        interrupt(
            conns,
            callee,
            invocation,
            CancelMode::KillNoWait,
            uri::error::CANCELED,
        );
    }
    for &invocation in &session.rpc.invocations {
        if let Some(call) = realm.dealer.remove_in_flight(conn, invocation) {
            forget_call(conns, &call);
            conns.reply(
                call.caller,
                Error::new(RequestType::Call, call.call, uri::error::CANCELED)
                    .with_args(vec![Value::from("the callee left before answering")]),
            );
        }
    }
    removed
}

/// A new CALL (not a continuation of a progressive one), allowed with `grant`.
pub(crate) fn on_call(
    cx: &mut Ctx<'_>,
    realm: &mut Realm,
    conn: ConnectionId,
    m: Call,
    grant: Grant,
) {
    let streaming = m.options.progress == Some(true);
    let request = m.request;
    if m.procedure.is_reserved() {
        meta::call(cx, realm, conn, m, grant);
    } else {
        start_call(cx, realm, conn, m, grant);
    }
    // A progressive call refused at once: the caller's next chunks are discarded.
    if streaming {
        if let Some(s) = cx.conns.session_mut(conn) {
            if !s.rpc.calls.contains_key(&request) {
                s.rpc.stream_ended(request);
            }
        }
    }
}
/// Handles a CALL that continues a progressive call invocation (same request ID as a
/// call of this session whose caller is still sending chunks): forwards it to the same
/// callee as an INVOCATION chunk with the same ID. Continuations of a progressive call
/// that already ended are discarded. Anything else is given back: a new CALL.
pub(crate) fn call_continuation(
    cx: &mut Ctx<'_>,
    realm: &mut Realm,
    conn: ConnectionId,
    m: Call,
) -> Option<Call> {
    // Without a session there is nothing to do with it.
    let s = cx.conns.session(conn)?;
    let Some(&(callee, invocation)) = s.rpc.calls.get(&m.request) else {
        if s.rpc.ended_streams.contains(&m.request) {
            return None;
        }
        return Some(m);
    };
    let Some(call) = realm.dealer.in_flight.get_mut(&(callee, invocation)) else {
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
        cx.conns.violation(conn, msg);
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
    if cx.conns.push(callee, message, Class::Invocation) != Pushed::Queued {
        // The callee cannot take the rest of the stream: end the call on both sides.
        if let Some(call) = realm.dealer.in_flight.get(&(callee, invocation)).cloned() {
            finish(cx.conns, realm, callee, invocation, &call);
            cx.conns.reply(
                conn,
                Error::new(RequestType::Call, m.request, uri::error::CANCELED).with_args(vec![
                    Value::from("the callee is not keeping up: its outbound queue is full"),
                ]),
            );
            interrupt(
                cx.conns,
                callee,
                invocation,
                CancelMode::KillNoWait,
                uri::error::CANCELED,
            );
        }
    }
    None
}

fn start_call(cx: &mut Ctx<'_>, realm: &mut Realm, conn: ConnectionId, mut m: Call, grant: Grant) {
    if !cx.usable_uri(
        conn,
        RequestType::Call,
        m.request,
        &m.procedure,
        MatchPolicy::Exact,
        true,
    ) {
        return;
    }
    let Some(s) = cx.conns.session(conn) else {
        return;
    };
    let streaming = m.options.progress == Some(true);
    let passthru = m.options.ppt_scheme.is_some();
    if streaming && !supports(&s.roles.caller, features::PROGRESSIVE_CALL_INVOCATIONS) {
        return cx.conns.violation(
            conn,
            "CALL with progress: the caller did not announce progressive_call_invocations".into(),
        );
    }
    if passthru && !supports(&s.roles.caller, features::PAYLOAD_PASSTHRU_MODE) {
        return cx.conns.violation(
            conn,
            "CALL with ppt_scheme: the caller did not announce payload_passthru_mode".into(),
        );
    }
    let (caller_id, trustlevel) = (s.id, s.trust_level);
    let disclose_me = m.options.disclose_me == Some(true);
    let policy = realm.config.caller_disclosure;
    if disclose_me && policy == Disclosure::Never {
        return call_error(
            cx.conns,
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
                return call_error(
                    cx.conns,
                    conn,
                    m.request,
                    uri::error::INVALID_ARGUMENT,
                    "runmode \"partition\" needs an rkey option (the shard key)".into(),
                )
            }
        },
        Some(other) => {
            return call_error(
                cx.conns,
                conn,
                m.request,
                uri::error::INVALID_ARGUMENT,
                format!("unknown runmode {other:?}: the only run mode is \"partition\""),
            )
        }
    };
    let dealer = &mut realm.dealer;
    let Some(registration) = dealer.lookup(&m.procedure) else {
        return call_error(
            cx.conns,
            conn,
            m.request,
            uri::error::NO_SUCH_PROCEDURE,
            format!("no callee registered procedure {}", m.procedure),
        );
    };
    let pattern = dealer.registrations[&registration].policy != MatchPolicy::Exact;
    let picked = match &partition {
        Some(rkey) => {
            let conns = &cx.conns;
            dealer.pick_shard(registration, rkey, |c| conns.session(c).map(|s| s.id))
        }
        None => dealer.pick_callee(registration, cx.ids),
    };
    let (Some(callee), Some(callee_session)) = (picked, picked.and_then(|c| cx.conns.session(c)))
    else {
        return call_error(
            cx.conns,
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
        return call_error(
            cx.conns,
            conn,
            m.request,
            uri::error::FEATURE_NOT_SUPPORTED,
            "the callee does not support progressive call invocations".into(),
        );
    }
    if passthru && !supports(callee_role, features::PAYLOAD_PASSTHRU_MODE) {
        return call_error(
            cx.conns,
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
    } = callee_terms(realm, registration, callee, callee_role, asked);
    // The ID is taken only once the INVOCATION is queued: a refused one leaves no gap.
    let invocation = callee_session.rpc.invocation_ids.peek();
    // The caller's authid and authrole are copied only when they are disclosed.
    let (caller_authid, caller_authrole) = match cx.conns.session(conn) {
        Some(s) if disclose => (Some(s.authid.clone()), Some(s.authrole.clone())),
        _ => (None, None),
    };
    let mut details = InvocationDetails {
        receive_progress: receive_progress.then_some(true),
        progress: streaming.then_some(true),
        procedure: pattern.then(|| m.procedure.clone()),
        caller: disclose.then_some(caller_id),
        caller_authid,
        caller_authrole,
        trustlevel: Some(trustlevel),
        timeout: timeout_ms.filter(|_| forward_timeout),
        ..Default::default()
    };
    details.set_passthru(m.options.take_passthru());
    let message = Arc::new(Message::Invocation(Invocation {
        request: invocation,
        registration,
        details,
        payload: m.payload,
    }));
    let reroute = (supports(callee_role, features::CALL_REROUTE)
        && partition.is_none()
        && !streaming)
        .then(|| {
            Box::new(dealer::Reroute {
                invocation: message.clone(),
                tried: Vec::new(),
                asked,
            })
        });
    // A forwarded timeout is the callee's to enforce.
    let timeout = timeout_ms
        .filter(|_| !forward_timeout)
        .map(std::time::Duration::from_millis);
    let call = InFlight {
        caller: conn,
        call: m.request,
        registration,
        stream: streaming.then(|| m.procedure.clone()),
        receive_progress,
        timeout,
        deadline: timeout.map(|t| cx.now + t),
        reroute,
    };
    invoke(cx, realm, callee, invocation, message, call);
}

/// Sends `message`, INVOCATION `invocation` of `call`, to `callee`, and records the call in
/// flight on both sides; a callee whose queue is full refuses it, and the caller gets
/// `wamp.error.no_available_callee`.
fn invoke(
    cx: &mut Ctx<'_>,
    realm: &mut Realm,
    callee: ConnectionId,
    invocation: RequestId,
    message: Arc<Message>,
    call: InFlight,
) {
    if cx.conns.push(callee, message, Class::Invocation) != Pushed::Queued {
        return call_error(
            cx.conns,
            call.caller,
            call.call,
            uri::error::NO_AVAILABLE_CALLEE,
            "the callee is not keeping up: its outbound queue is full".into(),
        );
    }
    if let Some(s) = cx.conns.session_mut(callee) {
        s.rpc.invocation_ids.next_id();
        s.rpc.invocations.insert(invocation);
    }
    if let Some(s) = cx.conns.session_mut(call.caller) {
        s.rpc.calls.insert(call.call, (callee, invocation));
    }
    realm.dealer.insert_in_flight(callee, invocation, call);
}

/// What a call gets from `callee` of `registration`, given what the caller `asked`:
/// progressive results if the callee can give them, a timeout it enforces itself if it
/// registered with `forward_timeout` and can, and the caller disclosed under the realm's
/// policy (when asked, or when the callee registered with `disclose_caller`).
fn callee_terms(
    realm: &Realm,
    registration: RegistrationId,
    callee: ConnectionId,
    role: &Option<FeatureSet>,
    asked: dealer::Asked,
) -> dealer::CalleeTerms {
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
fn reroute(cx: &mut Ctx<'_>, realm: &mut Realm, refused_by: ConnectionId, call: InFlight) {
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
        let next = realm
            .dealer
            .pick_reroute(registration, &reroute.tried, cx.ids);
        let Some(c) = next else {
            break None;
        };
        let fits = cx.conns.session(c).is_some_and(|s| {
            !passthru || supports(&s.roles.callee, features::PAYLOAD_PASSTHRU_MODE)
        });
        if fits {
            break Some(c);
        }
        reroute.tried.push(c);
    };
    let (Some(callee), Some(caller)) = (callee, cx.conns.session(call.caller)) else {
        return call_error(
            cx.conns,
            call.caller,
            call.call,
            uri::error::NO_AVAILABLE_CALLEE,
            "every callee of the procedure is unavailable".into(),
        );
    };
    let caller_identity = (caller.id, caller.authid.clone(), caller.authrole.clone());
    let Some(session) = cx.conns.session(callee) else {
        return;
    };
    // What depends on the callee is decided again for this one.
    let role = &session.roles.callee;
    let dealer::CalleeTerms {
        receive_progress,
        forward_timeout,
        disclose,
    } = callee_terms(realm, registration, callee, role, reroute.asked);
    let can_reroute = supports(role, features::CALL_REROUTE);
    let invocation = session.rpc.invocation_ids.peek();
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
    // The dealer times the call unless this callee enforces the timeout; the clock keeps
    // running from the original CALL when the dealer already timed it.
    let timeout = reroute
        .asked
        .timeout_ms
        .filter(|_| !forward_timeout)
        .map(std::time::Duration::from_millis);
    let deadline = timeout.map(|t| call.deadline.unwrap_or(cx.now + t));
    let call = InFlight {
        receive_progress,
        reroute: kept,
        timeout,
        deadline,
        ..call
    };
    invoke(cx, realm, callee, invocation, message, call);
}

/// Looks up an invocation answered by `callee`. `None` with no violation when the answer
/// is late (the call was canceled or its caller left): it is dropped quietly.
fn answered(
    cx: &mut Ctx<'_>,
    realm: &Realm,
    callee: ConnectionId,
    invocation: RequestId,
    what: &str,
) -> Option<InFlight> {
    let s = cx.conns.session(callee)?;
    if let Some(call) = realm.dealer.in_flight.get(&(callee, invocation)) {
        return Some(call.clone());
    }
    let issued = s
        .rpc
        .invocation_ids
        .last()
        .is_some_and(|last| invocation <= last);
    if !issued {
        cx.conns.violation(
            callee,
            format!("{what} for INVOCATION {invocation}, which the router never sent"),
        );
    }
    None
}

pub(crate) fn on_yield(cx: &mut Ctx<'_>, realm: &mut Realm, conn: ConnectionId, mut m: Yield) {
    let Some(call) = answered(cx, realm, conn, m.request, "YIELD") else {
        return;
    };
    if m.options.ppt_scheme.is_some() && !passthru_answer(cx, realm, conn, m.request, &call) {
        return;
    }
    let progress = m.options.progress == Some(true);
    if progress && !call.receive_progress {
        // The caller did not ask for progressive results; the final YIELD follows.
        return;
    }
    if progress {
        realm.dealer.restart_timeout(conn, m.request, cx.now);
    } else {
        finish(cx.conns, realm, conn, m.request, &call);
    }
    let mut details = ResultDetails {
        progress: progress.then_some(true),
        ..Default::default()
    };
    details.set_passthru(m.options.take_passthru());
    cx.conns.reply(
        call.caller,
        CallResult {
            request: call.call,
            details,
            payload: m.payload,
        },
    );
}

pub(crate) fn on_callee_error(cx: &mut Ctx<'_>, realm: &mut Realm, conn: ConnectionId, m: Error) {
    let Some(call) = answered(cx, realm, conn, m.request, "ERROR") else {
        return;
    };
    if m.details.ppt_scheme.is_some() && !passthru_answer(cx, realm, conn, m.request, &call) {
        return;
    }
    finish(cx.conns, realm, conn, m.request, &call);
    if call.reroute.is_some() && m.error.as_str() == uri::error::UNAVAILABLE {
        return reroute(cx, realm, conn, call);
    }
    cx.conns.reply(
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
    cx: &mut Ctx<'_>,
    realm: &mut Realm,
    callee: ConnectionId,
    invocation: RequestId,
    call: &InFlight,
) -> bool {
    let callee_ok = cx
        .conns
        .session(callee)
        .is_some_and(|s| supports(&s.roles.callee, features::PAYLOAD_PASSTHRU_MODE));
    if !callee_ok {
        cx.conns.violation(
            callee,
            "an answer with ppt_scheme: the callee did not announce payload_passthru_mode".into(),
        );
        return false;
    }
    let caller_ok = cx
        .conns
        .session(call.caller)
        .is_some_and(|s| supports(&s.roles.caller, features::PAYLOAD_PASSTHRU_MODE));
    if caller_ok {
        return true;
    }
    finish(cx.conns, realm, callee, invocation, call);
    let why = "the caller does not support payload passthru mode";
    cx.conns.reply(
        callee,
        Error::new(
            RequestType::Invocation,
            invocation,
            uri::error::FEATURE_NOT_SUPPORTED,
        )
        .with_args(vec![Value::from(why)]),
    );
    call_error(
        cx.conns,
        call.caller,
        call.call,
        uri::error::FEATURE_NOT_SUPPORTED,
        "the callee answered in payload passthru mode, which this caller did not announce".into(),
    );
    false
}

pub(crate) fn on_cancel(
    cx: &mut Ctx<'_>,
    realm: &mut Realm,
    conn: ConnectionId,
    request: RequestId,
    mode: Option<CancelMode>,
) {
    let Some(s) = cx.conns.session(conn) else {
        return;
    };
    // A CANCEL for a call that already finished crossed its answer: nothing to do.
    let Some(&(callee, invocation)) = s.rpc.calls.get(&request) else {
        return;
    };
    let Some(call) = realm.dealer.in_flight.get(&(callee, invocation)).cloned() else {
        return;
    };
    let interruptible = cx
        .conns
        .session(callee)
        .is_some_and(|s| supports_canceling(&s.roles.callee));
    let mode = match mode.unwrap_or(CancelMode::KillNoWait) {
        _ if !interruptible => CancelMode::Skip,
        m => m,
    };
    if mode != CancelMode::Kill {
        finish(cx.conns, realm, callee, invocation, &call);
        cx.conns.reply(
            conn,
            Error::new(RequestType::Call, request, uri::error::CANCELED),
        );
    }
    if mode != CancelMode::Skip {
        interrupt(cx.conns, callee, invocation, mode, uri::error::CANCELED);
    }
}
