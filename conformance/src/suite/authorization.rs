//! Authorization: what a client observes when the router denies it an action (basic profile
//! "Security model" and the advanced profile's authorization section; error
//! `wamp.error.not_authorized`).
//!
//! WELCOME cannot announce what a router denies, so these scenarios run only when the suite
//! is told: `--authz-denied-prefix PREFIX` says that the router denies the suite's sessions
//! (which join anonymously) every action on URIs starting with PREFIX, and allows everything
//! else the suite does. Without it, the group is "not configured". URIs are built as
//! `PREFIX.<what>.s<session>` (a trailing dot in PREFIX is not doubled), and the allowed URIs
//! the scenarios compare with are siblings of PREFIX, `<parent>.allowed_<last>...`.

use std::collections::BTreeMap;

use nexus_tokio::nexus_core::message::*;
use nexus_tokio::nexus_core::{
    args, features, kwargs, MatchPolicy, RequestId, SessionId, Uri, Value,
};

use super::peer::{describe, Peer, Target};
use super::{check, Failure, Needs, Scenario};

/// Declares a scenario of the group, which needs `--authz-denied-prefix`.
macro_rules! z {
    ($name:ident, $rule:literal) => {
        Scenario {
            group: "authorization",
            name: stringify!($name),
            rule: $rule,
            requires: None,
            needs: Some(Needs::AuthzDeniedPrefix),
            run: |t| Box::pin($name(t)),
        }
    };
}

pub(super) fn scenarios() -> Vec<Scenario> {
    vec![
        z!(denied_call, "Authorization (§ security model; advanced § authorization): a CALL to a procedure the session may not call gets ERROR wamp.error.not_authorized (or the advanced profile's wamp.error.authorization_denied) for that CALL; the session goes on, and a CALL just outside the denied URIs is routed as usual (wamp.error.no_such_procedure)"),
        z!(denied_register, "Authorization: a REGISTER of a denied procedure gets ERROR wamp.error.not_authorized for that REGISTER, and so does a pattern registration of the denied URIs (prefix and wildcard, when the dealer announces pattern_based_registration)"),
        z!(denied_subscribe, "Authorization: a SUBSCRIBE to a denied topic gets ERROR wamp.error.not_authorized for that SUBSCRIBE, and so does a pattern subscription of the denied URIs (prefix and wildcard, when the broker announces pattern_based_subscription)"),
        z!(denied_acknowledged_publish, "Authorization: an acknowledged PUBLISH to a denied topic gets ERROR wamp.error.not_authorized for that PUBLISH, and its event reaches no subscriber (checked with a wildcard subscription around the topic, when the router allows one)"),
        z!(denied_publish_is_silent, "Authorization / Publish & subscribe: an unacknowledged PUBLISH to a denied topic gets no answer at all (no ERROR: only acknowledged publications are answered) and its event reaches no subscriber; the session goes on"),
        z!(denied_testament, "Authorization / testament meta API: wamp.session.add_testament for a topic the session may not publish to gets ERROR wamp.error.not_authorized (when the dealer announces testament_meta_api), and nothing is published for it when the session ends"),
        z!(denials_answer_their_own_requests, "Authorization: with denied and allowed requests sent back to back, each denied one gets its ERROR wamp.error.not_authorized (with its own request type and ID) and each allowed one its usual answer; nothing else comes"),
    ]
}

/// The errors that say "not authorized".
const REFUSALS: &[&str] = &[
    "wamp.error.not_authorized",
    "wamp.error.authorization_denied",
];

fn uri(s: &str) -> Uri {
    Uri::new_unchecked(s)
}

fn session(peer: &Peer) -> u64 {
    peer.session.map_or(0, SessionId::get)
}

/// The denied URIs and their allowed siblings.
struct Names {
    /// The denied prefix, without a trailing dot.
    base: String,
    /// Everything before its last component, if it has more than one.
    parent: Option<String>,
    /// Its last component.
    last: String,
}

impl Names {
    fn of(t: &Target) -> Result<Names, Failure> {
        let prefix = t
            .authz_denied_prefix
            .as_deref()
            .ok_or_else(|| Failure::setup("--authz-denied-prefix"))?;
        let base = prefix.trim_end_matches('.').to_owned();
        let (parent, last) = match base.rsplit_once('.') {
            Some((p, l)) => (Some(p.to_owned()), l.to_owned()),
            None => (None, base.clone()),
        };
        Ok(Names { base, parent, last })
    }

    /// A denied URI: `<base>.<what>.s<session>`.
    fn denied(&self, what: &str, peer: &Peer) -> String {
        format!("{}.{what}.s{}", self.base, session(peer))
    }

    /// An allowed URI next to the denied ones: `<parent>.allowed_<last>.<what>.s<session>`.
    fn allowed(&self, what: &str, peer: &Peer) -> String {
        let sibling = format!("allowed_{}.{what}.s{}", self.last, session(peer));
        match &self.parent {
            Some(p) => format!("{p}.{sibling}"),
            None => sibling,
        }
    }

    /// A wildcard pattern matching both `denied(what)` and `allowed(what)`:
    /// `<parent>..<what>.s<session>`.
    fn around(&self, what: &str, session: u64) -> Option<String> {
        let parent = self.parent.as_ref()?;
        Some(format!("{parent}..{what}.s{session}"))
    }
}

/// Whether the router announced `feature` for `role` (`broker` or `dealer`) to `peer`.
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

/// Expects ERROR not_authorized for (`kind`, `request`).
async fn expect_refused(
    peer: &mut Peer,
    kind: RequestType,
    request: RequestId,
    what: &str,
) -> Result<(), Failure> {
    let expected = format!(
        "ERROR wamp.error.not_authorized for {} {request} ({what})",
        kind.code()
    );
    match peer.recv().await {
        Ok(Message::Error(e))
            if e.request_type == kind
                && e.request == request
                && REFUSALS.iter().any(|u| e.error == *u) =>
        {
            Ok(())
        }
        Ok(other) => Err(Failure::new(expected, describe(&other))),
        Err(f) => Err(Failure::new(expected, f.got)),
    }
}

fn policy_options<T: Default>(policy: MatchPolicy, set: impl FnOnce(&mut T, MatchPolicy)) -> T {
    let mut options = T::default();
    set(&mut options, policy);
    options
}

async fn register(
    peer: &mut Peer,
    procedure: &str,
    policy: MatchPolicy,
) -> Result<RequestId, Failure> {
    let request = peer.next_id();
    let options = policy_options(policy, |o: &mut RegisterOptions, p| {
        o.match_policy = (p != MatchPolicy::Exact).then_some(p)
    });
    peer.send(Register {
        request,
        options,
        procedure: uri(procedure),
    })
    .await?;
    Ok(request)
}

async fn subscribe(
    peer: &mut Peer,
    topic: &str,
    policy: MatchPolicy,
) -> Result<RequestId, Failure> {
    let request = peer.next_id();
    let options = policy_options(policy, |o: &mut SubscribeOptions, p| {
        o.match_policy = (p != MatchPolicy::Exact).then_some(p)
    });
    peer.send(Subscribe {
        request,
        options,
        topic: uri(topic),
    })
    .await?;
    Ok(request)
}

async fn publish(
    peer: &mut Peer,
    topic: &str,
    acknowledge: bool,
    n: u64,
) -> Result<RequestId, Failure> {
    let request = peer.next_id();
    let options = PublishOptions {
        acknowledge: acknowledge.then_some(true),
        ..Default::default()
    };
    peer.send(
        Publish::new(request, uri(topic))
            .with_options(options)
            .with_args(args![n]),
    )
    .await?;
    Ok(request)
}

async fn call(
    peer: &mut Peer,
    procedure: &str,
    arguments: Vec<Value>,
) -> Result<RequestId, Failure> {
    let request = peer.next_id();
    peer.send(Call::new(request, uri(procedure)).with_args(arguments))
        .await?;
    Ok(request)
}

/// A second session subscribed (by wildcard) to the denied topic `what` of session `of` and
/// its allowed sibling, when the broker announces pattern-based subscription and the router allows the
/// pattern; `None` otherwise (the delivery check is then skipped).
async fn watcher(t: &Target, names: &Names, what: &str, of: u64) -> Result<Option<Peer>, Failure> {
    let Some(pattern) = names.around(what, of) else {
        return Ok(None);
    };
    let mut w = Peer::join(t).await?;
    if !announces(&w, "broker", features::PATTERN_BASED_SUBSCRIPTION) {
        return Ok(None);
    }
    let request = subscribe(&mut w, &pattern, MatchPolicy::Wildcard).await?;
    match w.recv().await? {
        Message::Subscribed(s) if s.request == request => Ok(Some(w)),
        Message::Error(e) if e.request == request => Ok(None),
        other => Err(Failure::new(
            format!("SUBSCRIBED or ERROR for the wildcard subscription {pattern}"),
            describe(&other),
        )),
    }
}

/// Publishes `n` to the allowed sibling of `what` and checks that the watcher's next event
/// is that one, so nothing published before it (the denied event) reached the watcher.
async fn only_allowed_delivered(
    p: &mut Peer,
    w: &mut Peer,
    names: &Names,
    what: &str,
    n: u64,
) -> Result<(), Failure> {
    let allowed = names.allowed(what, p);
    let request = publish(p, &allowed, true, n).await?;
    match p.recv().await? {
        Message::Published(m) if m.request == request => {}
        other => {
            return Err(Failure::new(
                format!("PUBLISHED for {allowed} (an allowed topic)"),
                describe(&other),
            ))
        }
    }
    match w.recv().await? {
        Message::Event(e) if e.payload.args().first() == Some(&Value::from(n)) => Ok(()),
        Message::Event(e) => Err(Failure::new(
            "only the allowed publication's EVENT",
            format!(
                "an EVENT with {:?}: the denied publication was delivered",
                e.payload.args()
            ),
        )),
        other => Err(Failure::new(
            format!("the EVENT of the allowed publication to {allowed}"),
            describe(&other),
        )),
    }
}

// ---- scenarios ------------------------------------------------------------------------------

async fn denied_call(t: Target) -> Result<(), Failure> {
    let names = Names::of(&t)?;
    let mut p = Peer::join(&t).await?;
    let procedure = names.denied("proc", &p);
    let request = call(&mut p, &procedure, args![1]).await?;
    expect_refused(
        &mut p,
        RequestType::Call,
        request,
        &format!("CALL {procedure}"),
    )
    .await?;
    let allowed = names.allowed("proc", &p);
    let request = call(&mut p, &allowed, args![]).await?;
    match p.recv().await? {
        Message::Error(e)
            if e.request == request
                && e.request_type == RequestType::Call
                && e.error == "wamp.error.no_such_procedure" => {}
        other => {
            return Err(Failure::new(
                format!(
                "ERROR wamp.error.no_such_procedure for CALL {allowed} (allowed, not registered)"
            ),
                describe(&other),
            ))
        }
    }
    p.leave().await
}

async fn denied_register(t: Target) -> Result<(), Failure> {
    let names = Names::of(&t)?;
    let mut p = Peer::join(&t).await?;
    let procedure = names.denied("proc", &p);
    let request = register(&mut p, &procedure, MatchPolicy::Exact).await?;
    expect_refused(
        &mut p,
        RequestType::Register,
        request,
        &format!("REGISTER {procedure}"),
    )
    .await?;
    if announces(&p, "dealer", features::PATTERN_BASED_REGISTRATION) {
        let prefix = format!("{}.", names.base);
        let request = register(&mut p, &prefix, MatchPolicy::Prefix).await?;
        expect_refused(
            &mut p,
            RequestType::Register,
            request,
            &format!("REGISTER prefix {prefix}"),
        )
        .await?;
        let wildcard = format!("{}..get", names.base);
        let request = register(&mut p, &wildcard, MatchPolicy::Wildcard).await?;
        expect_refused(
            &mut p,
            RequestType::Register,
            request,
            &format!("REGISTER wildcard {wildcard}"),
        )
        .await?;
    }
    // The session goes on: an allowed registration works.
    let allowed = names.allowed("proc", &p);
    let request = register(&mut p, &allowed, MatchPolicy::Exact).await?;
    match p.recv().await? {
        Message::Registered(r) if r.request == request => {}
        other => {
            return Err(Failure::new(
                format!("REGISTERED for {allowed} (allowed)"),
                describe(&other),
            ))
        }
    }
    p.leave().await
}

async fn denied_subscribe(t: Target) -> Result<(), Failure> {
    let names = Names::of(&t)?;
    let mut p = Peer::join(&t).await?;
    let topic = names.denied("topic", &p);
    let request = subscribe(&mut p, &topic, MatchPolicy::Exact).await?;
    expect_refused(
        &mut p,
        RequestType::Subscribe,
        request,
        &format!("SUBSCRIBE {topic}"),
    )
    .await?;
    if announces(&p, "broker", features::PATTERN_BASED_SUBSCRIPTION) {
        let prefix = format!("{}.", names.base);
        let request = subscribe(&mut p, &prefix, MatchPolicy::Prefix).await?;
        expect_refused(
            &mut p,
            RequestType::Subscribe,
            request,
            &format!("SUBSCRIBE prefix {prefix}"),
        )
        .await?;
        let wildcard = format!("{}..news", names.base);
        let request = subscribe(&mut p, &wildcard, MatchPolicy::Wildcard).await?;
        expect_refused(
            &mut p,
            RequestType::Subscribe,
            request,
            &format!("SUBSCRIBE wildcard {wildcard}"),
        )
        .await?;
    }
    let allowed = names.allowed("topic", &p);
    let request = subscribe(&mut p, &allowed, MatchPolicy::Exact).await?;
    match p.recv().await? {
        Message::Subscribed(s) if s.request == request => {}
        other => {
            return Err(Failure::new(
                format!("SUBSCRIBED for {allowed} (allowed)"),
                describe(&other),
            ))
        }
    }
    p.leave().await
}

async fn denied_acknowledged_publish(t: Target) -> Result<(), Failure> {
    let names = Names::of(&t)?;
    let mut p = Peer::join(&t).await?;
    let mut w = watcher(&t, &names, "news", session(&p)).await?;
    let topic = names.denied("news", &p);
    let request = publish(&mut p, &topic, true, 1).await?;
    expect_refused(
        &mut p,
        RequestType::Publish,
        request,
        &format!("acknowledged PUBLISH {topic}"),
    )
    .await?;
    if let Some(w) = &mut w {
        only_allowed_delivered(&mut p, w, &names, "news", 2).await?;
    }
    p.leave().await
}

async fn denied_publish_is_silent(t: Target) -> Result<(), Failure> {
    let names = Names::of(&t)?;
    let mut p = Peer::join(&t).await?;
    let mut w = watcher(&t, &names, "news", session(&p)).await?;
    let topic = names.denied("news", &p);
    publish(&mut p, &topic, false, 1).await?;
    p.expect_nothing().await?;
    match &mut w {
        Some(w) => only_allowed_delivered(&mut p, w, &names, "news", 2).await?,
        None => {
            // The session goes on.
            let allowed = names.allowed("news", &p);
            let request = publish(&mut p, &allowed, true, 2).await?;
            match p.recv().await? {
                Message::Published(m) if m.request == request => {}
                other => {
                    return Err(Failure::new(
                        format!("PUBLISHED for {allowed} (allowed)"),
                        describe(&other),
                    ))
                }
            }
        }
    }
    p.leave().await
}

async fn denied_testament(t: Target) -> Result<(), Failure> {
    let names = Names::of(&t)?;
    let mut p = Peer::join(&t).await?;
    if !announces(&p, "dealer", features::TESTAMENT_META_API) {
        return p.leave().await;
    }
    let mut w = watcher(&t, &names, "will", session(&p)).await?;
    let topic = names.denied("will", &p);
    let request = p.next_id();
    p.send(
        Call::new(request, uri("wamp.session.add_testament")).with_args(args![
            topic.clone(),
            args![1],
            kwargs! {}
        ]),
    )
    .await?;
    expect_refused(
        &mut p,
        RequestType::Call,
        request,
        &format!("wamp.session.add_testament for {topic}"),
    )
    .await?;
    p.leave().await?;
    if let Some(w) = &mut w {
        // Had the testament been kept, its EVENT would be on its way by now.
        return w.expect_nothing().await;
    }
    Ok(())
}

async fn denials_answer_their_own_requests(t: Target) -> Result<(), Failure> {
    let names = Names::of(&t)?;
    let mut p = Peer::join(&t).await?;
    let (denied, allowed) = (names.denied("mixed", &p), names.allowed("mixed", &p));
    // What each request must get back: its message name (ERROR means not authorized).
    let mut expected: BTreeMap<(u64, u64), &str> = BTreeMap::new();
    let r = register(&mut p, &denied, MatchPolicy::Exact).await?;
    expected.insert((r.get(), RequestType::Register.code()), "ERROR");
    let r = register(&mut p, &allowed, MatchPolicy::Exact).await?;
    expected.insert((r.get(), RequestType::Register.code()), "REGISTERED");
    let r = call(&mut p, &denied, args![]).await?;
    expected.insert((r.get(), RequestType::Call.code()), "ERROR");
    let r = subscribe(&mut p, &allowed, MatchPolicy::Exact).await?;
    expected.insert((r.get(), RequestType::Subscribe.code()), "SUBSCRIBED");
    publish(&mut p, &denied, false, 1).await?;
    let r = publish(&mut p, &denied, true, 2).await?;
    expected.insert((r.get(), RequestType::Publish.code()), "ERROR");
    let r = subscribe(&mut p, &denied, MatchPolicy::Exact).await?;
    expected.insert((r.get(), RequestType::Subscribe.code()), "ERROR");
    let r = call(&mut p, &allowed, args![3]).await?;
    expected.insert((r.get(), RequestType::Call.code()), "RESULT");
    while !expected.is_empty() {
        let m = p.recv().await.map_err(|f| {
            Failure::new(format!("answers to requests {:?}", expected.keys()), f.got)
        })?;
        let key = match &m {
            Message::Error(e) if REFUSALS.iter().any(|u| e.error == *u) => {
                (e.request.get(), e.request_type.code())
            }
            Message::Registered(r) => (r.request.get(), RequestType::Register.code()),
            Message::Subscribed(s) => (s.request.get(), RequestType::Subscribe.code()),
            Message::Result(r) => (r.request.get(), RequestType::Call.code()),
            // The allowed call reaches this very session as callee.
            Message::Invocation(i) => {
                p.send(Yield::new(i.request).with_args(i.payload.args().to_vec()))
                    .await?;
                continue;
            }
            other => {
                return Err(Failure::new(
                    format!("answers to (request, type) {:?}", expected.keys()),
                    describe(other),
                ))
            }
        };
        let want = expected.remove(&key);
        check(
            want == Some(m.name()),
            format!("{} for {} {}", want.unwrap_or("nothing"), key.1, key.0),
            describe(&m),
        )?;
    }
    p.expect_nothing().await?;
    p.leave().await
}
