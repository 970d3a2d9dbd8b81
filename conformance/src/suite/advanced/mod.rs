//! Scenarios of the advanced profile, one group per feature, named after the feature key the
//! router announces in WELCOME; each scenario runs only when the router announces it. Section
//! names refer to the WAMP advanced profile (draft-oberstet-hybi-crossbar-wamp).
//!
//! Where the spec leaves a behaviour to the router (refusing an option, declining a feature for
//! some URIs, offering an administrative procedure or not), the scenario accepts every
//! conforming answer and its rule says so.

use nexus_tokio::nexus_core::message::*;
use nexus_tokio::nexus_core::{
    args, Dict, Id, MatchPolicy, PublicationId, RegistrationId, RequestId, SessionId,
    SubscriptionId, Uri, Value,
};

use super::peer::{all_roles, describe, Peer, Target};
use super::{check, Failure, Requires, Scenario};

/// Declares a scenario of the group `$feature` (the feature key), run only when the router
/// announces `$feature` for `$role` (`"broker"` or `"dealer"`).
macro_rules! a {
    ($feature:expr, $role:literal, $name:ident, $rule:literal) => {
        Scenario {
            group: $feature,
            name: stringify!($name),
            rule: $rule,
            requires: Some(Requires {
                role: $role,
                feature: $feature,
            }),
            needs: None,
            run: |t| Box::pin($name(t)),
        }
    };
}

/// Expects the next message of `$peer` to match `$pat`, binding what `$pat` binds; fails
/// naming `$expected` otherwise, also when nothing comes.
macro_rules! want {
    ($peer:expr, $expected:expr, $pat:pat => $out:expr) => {{
        let expected = $expected;
        match $peer.next_or(&expected).await? {
            $pat => $out,
            other => return Err(Failure::new(expected, describe(&other))),
        }
    }};
}

mod passthru;
mod pubsub;
mod registrations;
mod rpc;
mod sessions;
mod subscriptions;

pub(super) fn scenarios() -> Vec<Scenario> {
    let mut all = rpc::scenarios();
    all.extend(registrations::scenarios());
    all.extend(pubsub::scenarios());
    all.extend(subscriptions::scenarios());
    all.extend(sessions::scenarios());
    all.extend(passthru::scenarios());
    all
}

// ---- names and identities -------------------------------------------------------------------

/// The payload of the events that close a "nothing else arrived" check.
const MARKER: &str = "com.conformance.marker";

fn uri(s: &str) -> Uri {
    Uri::new_unchecked(s)
}

/// A topic or procedure name unique to this peer (so scenarios never collide).
fn unique(peer: &Peer, what: &str) -> String {
    format!(
        "com.conformance.{what}.s{}",
        peer.session.map_or(0, SessionId::get)
    )
}

/// The peer's session ID.
fn session(peer: &Peer) -> SessionId {
    peer.session.unwrap_or(SessionId::MIN)
}

/// The authid the router announced in WELCOME, if any.
fn authid(peer: &Peer) -> Option<String> {
    peer.welcome.as_ref().and_then(|w| w.authid.clone())
}

/// The authrole the router announced in WELCOME, if any.
fn authrole(peer: &Peer) -> Option<String> {
    peer.welcome.as_ref().and_then(|w| w.authrole.clone())
}

/// Whether the router announced `feature` for `role` (`"broker"` or `"dealer"`) to this peer.
fn announces(peer: &Peer, role: &str, feature: &str) -> bool {
    let roles = peer.welcome.as_ref().and_then(|w| w.roles.as_ref());
    let role = roles.and_then(|r| {
        if role == "broker" {
            r.broker.as_ref()
        } else {
            r.dealer.as_ref()
        }
    });
    role.is_some_and(|r| r.supports(feature))
}

/// Every client role of [`all_roles`], plus `(role, feature)` pairs (`role` is `caller`,
/// `callee`, `publisher` or `subscriber`).
fn roles_adding(additions: &[(&str, &str)]) -> ClientRoles {
    let mut roles = all_roles();
    for (role, feature) in additions {
        let slot = match *role {
            "caller" => &mut roles.caller,
            "callee" => &mut roles.callee,
            "publisher" => &mut roles.publisher,
            _ => &mut roles.subscriber,
        };
        slot.get_or_insert_with(Role::default)
            .features
            .get_or_insert_with(Dict::new)
            .insert((*feature).to_owned(), Value::Bool(true));
    }
    roles
}

/// Every client role of [`all_roles`], without the given features in any role.
fn roles_without(removed: &[&str]) -> ClientRoles {
    let mut roles = all_roles();
    for slot in [
        &mut roles.caller,
        &mut roles.callee,
        &mut roles.publisher,
        &mut roles.subscriber,
    ] {
        if let Some(features) = slot.as_mut().and_then(|r| r.features.as_mut()) {
            for feature in removed {
                features.shift_remove(*feature);
            }
        }
    }
    roles
}

impl Peer {
    /// The next message; a timeout or a closed connection fails naming `expected`.
    async fn next_or(&mut self, expected: &str) -> Result<Message, Failure> {
        self.recv().await.map_err(|f| {
            if f.expected == "a message" {
                Failure::new(expected, f.got)
            } else {
                f
            }
        })
    }
}

// ---- subscribing and registering ------------------------------------------------------------

async fn subscribe_with(
    peer: &mut Peer,
    topic: &str,
    options: SubscribeOptions,
) -> Result<SubscriptionId, Failure> {
    let request = peer.next_id();
    peer.send(Subscribe {
        request,
        options,
        topic: uri(topic),
    })
    .await?;
    let s = want!(peer, format!("SUBSCRIBED for {topic}"), Message::Subscribed(s) => s);
    check(
        s.request == request,
        format!("SUBSCRIBED for request {request}"),
        s.request.to_string(),
    )?;
    Ok(s.subscription)
}

async fn subscribe(peer: &mut Peer, topic: &str) -> Result<SubscriptionId, Failure> {
    subscribe_with(peer, topic, SubscribeOptions::default()).await
}

fn sub_match(policy: MatchPolicy) -> SubscribeOptions {
    SubscribeOptions {
        match_policy: Some(policy),
        ..Default::default()
    }
}

async fn register_with(
    peer: &mut Peer,
    procedure: &str,
    options: RegisterOptions,
) -> Result<RegistrationId, Failure> {
    let request = peer.next_id();
    peer.send(Register {
        request,
        options,
        procedure: uri(procedure),
    })
    .await?;
    let r = want!(peer, format!("REGISTERED for {procedure}"), Message::Registered(r) => r);
    check(
        r.request == request,
        format!("REGISTERED for request {request}"),
        r.request.to_string(),
    )?;
    Ok(r.registration)
}

async fn register(peer: &mut Peer, procedure: &str) -> Result<RegistrationId, Failure> {
    register_with(peer, procedure, RegisterOptions::default()).await
}

fn reg_match(policy: MatchPolicy) -> RegisterOptions {
    RegisterOptions {
        match_policy: Some(policy),
        ..Default::default()
    }
}

fn reg_invoke(policy: InvokePolicy) -> RegisterOptions {
    RegisterOptions {
        invoke: Some(policy),
        ..Default::default()
    }
}

// ---- errors ---------------------------------------------------------------------------------

fn show_error(e: &Error) -> String {
    format!(
        "ERROR {} for {} {}",
        e.error,
        e.request_type.code(),
        e.request
    )
}

/// Expects ERROR for `kind`/`request` whose URI is one of `errors` (any URI when empty).
async fn expect_error_in(
    peer: &mut Peer,
    kind: RequestType,
    request: RequestId,
    errors: &[&str],
) -> Result<Error, Failure> {
    let expected = if errors.is_empty() {
        format!("ERROR for {} {request}", kind.code())
    } else {
        format!(
            "ERROR {} for {} {request}",
            errors.join(" or "),
            kind.code()
        )
    };
    let e = want!(peer, expected.clone(), Message::Error(e) => e);
    check(
        e.request_type == kind
            && e.request == request
            && (errors.is_empty() || errors.iter().any(|u| e.error == *u)),
        expected,
        show_error(&e),
    )?;
    Ok(e)
}

async fn expect_error(
    peer: &mut Peer,
    kind: RequestType,
    request: RequestId,
    error: &str,
) -> Result<Error, Failure> {
    expect_error_in(peer, kind, request, &[error]).await
}

/// The URI of a canceled call: `wamp.error.canceled` (the basic profile also spells it
/// `wamp.error.cancelled`).
const CANCELED: &[&str] = &["wamp.error.canceled", "wamp.error.cancelled"];

// ---- calls ----------------------------------------------------------------------------------

/// Sends a CALL; returns its request ID.
async fn call(
    peer: &mut Peer,
    procedure: &str,
    options: CallOptions,
    arguments: Vec<Value>,
) -> Result<RequestId, Failure> {
    let request = peer.next_id();
    peer.send(
        Call::new(request, uri(procedure))
            .with_options(options)
            .with_args(arguments),
    )
    .await?;
    Ok(request)
}

async fn expect_invocation(peer: &mut Peer) -> Result<Invocation, Failure> {
    Ok(want!(peer, "INVOCATION", Message::Invocation(i) => i))
}

async fn expect_result(peer: &mut Peer, request: RequestId) -> Result<CallResult, Failure> {
    let r = want!(peer, format!("RESULT for CALL {request}"), Message::Result(r) => r);
    check(
        r.request == request,
        format!("RESULT for CALL {request}"),
        format!("RESULT for CALL {}", r.request),
    )?;
    Ok(r)
}

async fn expect_interrupt(peer: &mut Peer, invocation: RequestId) -> Result<Interrupt, Failure> {
    let i =
        want!(peer, format!("INTERRUPT for INVOCATION {invocation}"), Message::Interrupt(i) => i);
    check(
        i.request == invocation,
        format!("INTERRUPT for INVOCATION {invocation}"),
        format!("INTERRUPT for INVOCATION {}", i.request),
    )?;
    Ok(i)
}

/// Calls `procedure` and answers at `callee`; returns the INVOCATION the callee saw.
async fn complete_call(
    caller: &mut Peer,
    callee: &mut Peer,
    procedure: &str,
    options: CallOptions,
) -> Result<Invocation, Failure> {
    let request = call(caller, procedure, options, args![]).await?;
    let inv = expect_invocation(callee).await?;
    callee.send(Yield::new(inv.request)).await?;
    expect_result(caller, request).await?;
    Ok(inv)
}

fn show_result(r: &CallResult) -> String {
    format!(
        "RESULT progress {:?} args {:?} kwargs {:?}",
        r.details.progress,
        r.payload.args(),
        r.payload.kwargs()
    )
}

/// A YIELD with options and no payload.
fn yield_with(request: RequestId, options: YieldOptions) -> Yield {
    Yield {
        request,
        options,
        payload: Payload::default(),
    }
}

fn progress() -> YieldOptions {
    YieldOptions {
        progress: Some(true),
        ..Default::default()
    }
}

/// The next message from any of `peers`, with the index of the peer that received it.
async fn recv_any(peers: &mut [&mut Peer], expected: &str) -> Result<(usize, Message), Failure> {
    let waits: Vec<_> = peers
        .iter_mut()
        .map(|p| Box::pin(p.next_or(expected)))
        .collect();
    let (result, index, _) = futures::future::select_all(waits).await;
    result.map(|m| (index, m))
}

/// The next INVOCATION at any of `callees`, with the index of the callee that received it.
async fn invocation_at_any(callees: &mut [&mut Peer]) -> Result<(usize, Invocation), Failure> {
    match recv_any(callees, "INVOCATION at one of the callees").await? {
        (i, Message::Invocation(inv)) => Ok((i, inv)),
        (i, other) => Err(Failure::new(
            "INVOCATION at one of the callees",
            format!("{} at callee {i}", describe(&other)),
        )),
    }
}

// ---- meta procedures ------------------------------------------------------------------------

/// Calls a router procedure and returns its RESULT, or the ERROR it answered.
async fn meta_reply(
    peer: &mut Peer,
    procedure: &str,
    arguments: Vec<Value>,
    kwargs: Dict,
) -> Result<Result<CallResult, Error>, Failure> {
    let request = peer.next_id();
    peer.send(
        Call::new(request, uri(procedure))
            .with_args(arguments)
            .with_kwargs(kwargs),
    )
    .await?;
    match peer
        .next_or(&format!("RESULT or ERROR for CALL {procedure}"))
        .await?
    {
        Message::Result(r) if r.request == request => Ok(Ok(r)),
        Message::Error(e) if e.request == request && e.request_type == RequestType::Call => {
            Ok(Err(e))
        }
        other => Err(Failure::new(
            format!("RESULT or ERROR for CALL {procedure}"),
            describe(&other),
        )),
    }
}

/// Calls a router procedure and returns its RESULT; an ERROR fails.
async fn meta(
    peer: &mut Peer,
    procedure: &str,
    arguments: Vec<Value>,
    kwargs: Dict,
) -> Result<CallResult, Failure> {
    match meta_reply(peer, procedure, arguments, kwargs).await? {
        Ok(r) => Ok(r),
        Err(e) => Err(Failure::new(
            format!("RESULT of {procedure}"),
            format!("ERROR {}", e.error),
        )),
    }
}

/// The first positional result (`null` when there is none).
fn first(r: &CallResult) -> Value {
    r.payload.args().first().cloned().unwrap_or(Value::Null)
}

/// A list of integer IDs.
fn ids(v: &Value) -> Option<Vec<u64>> {
    v.as_list()?.iter().map(Value::as_u64).collect()
}

// ---- publishing and events -----------------------------------------------------------------

async fn publish(
    peer: &mut Peer,
    topic: &str,
    options: PublishOptions,
    arguments: Vec<Value>,
) -> Result<(), Failure> {
    let request = peer.next_id();
    peer.send(
        Publish::new(request, uri(topic))
            .with_options(options)
            .with_args(arguments),
    )
    .await
}

/// Publishes with `acknowledge: true` and returns the publication ID.
async fn publish_ack(
    peer: &mut Peer,
    topic: &str,
    mut options: PublishOptions,
    arguments: Vec<Value>,
) -> Result<PublicationId, Failure> {
    options.acknowledge = Some(true);
    let request = peer.next_id();
    peer.send(
        Publish::new(request, uri(topic))
            .with_options(options)
            .with_args(arguments),
    )
    .await?;
    let p = want!(peer, format!("PUBLISHED for PUBLISH {request}"), Message::Published(p) => p);
    check(
        p.request == request,
        format!("PUBLISHED for PUBLISH {request}"),
        p.request.to_string(),
    )?;
    Ok(p.publication)
}

fn show_event(e: &Event) -> String {
    format!(
        "EVENT subscription {} args {:?} details {:?}",
        e.subscription,
        e.payload.args(),
        e.details
    )
}

async fn expect_event(peer: &mut Peer, expected: &str) -> Result<Event, Failure> {
    Ok(want!(peer, expected.to_owned(), Message::Event(e) => e))
}

/// Expects an EVENT whose first argument is `first_arg`.
async fn expect_event_arg(peer: &mut Peer, first_arg: &str, who: &str) -> Result<Event, Failure> {
    let e = expect_event(peer, &format!("EVENT [{first_arg:?}] at {who}")).await?;
    check(
        e.payload.args().first().and_then(Value::as_str) == Some(first_arg),
        format!("EVENT [{first_arg:?}] at {who}"),
        show_event(&e),
    )?;
    Ok(e)
}

fn is_marker(e: &Event) -> bool {
    e.payload.args().first().and_then(Value::as_str) == Some(MARKER)
}

/// Publishes the marker event: a subscriber that gets it next got nothing else from this
/// publisher in between (events of one publisher reach a subscriber in publication order).
async fn send_marker(peer: &mut Peer, topic: &str) -> Result<(), Failure> {
    publish(peer, topic, PublishOptions::default(), args![MARKER]).await
}

/// Expects the marker as the next message: nothing the marker's publisher sent before it
/// reached this peer.
async fn expect_marker(peer: &mut Peer, who: &str, rule: &str) -> Result<Event, Failure> {
    let e = expect_event(peer, &format!("the marker EVENT at {who}")).await?;
    check(
        is_marker(&e),
        format!("{who} to receive nothing before the marker ({rule})"),
        show_event(&e),
    )?;
    Ok(e)
}

/// Reads events until one satisfies `wanted` (skipping others, e.g. meta events caused by
/// other sessions), within `max` messages.
async fn event_where(
    peer: &mut Peer,
    expected: &str,
    max: usize,
    wanted: impl Fn(&Event) -> bool,
) -> Result<Event, Failure> {
    for _ in 0..max {
        let e = expect_event(peer, expected).await?;
        if wanted(&e) {
            return Ok(e);
        }
    }
    Err(Failure::new(
        expected.to_owned(),
        format!("{max} other events"),
    ))
}

// ---- administrative revocation --------------------------------------------------------------

/// Errors that mean the router offers no administrative procedure to the suite's session.
const NOT_OFFERED: &[&str] = &[
    "wamp.error.no_such_procedure",
    "wamp.error.not_authorized",
    "wamp.error.authorization_failed",
    "wamp.error.authorization_denied",
];

/// Calls an administrative revocation procedure (`wamp.registration.remove_callee`,
/// `wamp.subscription.remove_subscriber`) on `what`, a registration or a subscription;
/// `Ok(false)` when the router does not offer it.
async fn revoke(
    admin: &mut Peer,
    procedure: &str,
    what: Id,
    who: SessionId,
) -> Result<bool, Failure> {
    let reason = nexus_tokio::nexus_core::kwargs! { "reason" => "com.conformance.revoked" };
    match meta_reply(admin, procedure, args![what, who], reason).await? {
        Ok(_) => Ok(true),
        Err(e) if NOT_OFFERED.iter().any(|u| e.error == *u) => Ok(false),
        Err(e) => Err(Failure::new(
            format!("RESULT of {procedure}"),
            show_error(&e),
        )),
    }
}

// ---- shared checks --------------------------------------------------------------------------

/// Checks disclosed `authid`/`authrole` against what WELCOME announced to `peer`.
fn check_identity(
    peer: &Peer,
    what: &str,
    got_authid: Option<&String>,
    got_authrole: Option<&String>,
) -> Result<(), Failure> {
    if let (Some(got), Some(own)) = (got_authid, authid(peer)) {
        check(
            *got == own,
            format!("{what} authid {own} (as in its WELCOME)"),
            got.clone(),
        )?;
    }
    if let (Some(got), Some(own)) = (got_authrole, authrole(peer)) {
        check(
            *got == own,
            format!("{what} authrole {own} (as in its WELCOME)"),
            got.clone(),
        )?;
    }
    Ok(())
}
