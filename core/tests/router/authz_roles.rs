//! Role-based authorization (`AuthzMode::Roles`), the meta API under authorization, and the
//! decision cache of external authorizers.

use std::time::Duration;

use crate::harness::*;
use nexus_core::message::*;
use nexus_core::router::{
    AuthDecision, AuthMode, AuthzAction, AuthzDecision, AuthzMode, Disclosure, HistoryRule,
    Identity, Permission, RealmConfig, Roles, RouterConfig,
};
use nexus_core::value::Dict;
use nexus_core::{args, kwargs, MatchPolicy, Value};

// ---- setup ----------------------------------------------------------------------------------

/// The roles most tests use:
/// - `backend` may do everything under `com.app.`, call the session meta API, and its calls
///   and publications under `com.app.audit.` are disclosed;
/// - `frontend` may call and subscribe under `com.app.` except `com.app.admin.` (a more
///   specific permission that allows nothing), may subscribe to one exact topic outside, to
///   wildcard topics `com..status`, and call `wamp.session.count` only;
/// - `anonymous` has no permissions (it is not listed at all).
fn roles() -> Roles {
    use AuthzAction::*;
    Roles::new()
        .with_role(
            "backend",
            [
                Permission::prefix("com.app.").allow_all(),
                Permission::prefix("com.app.audit.")
                    .allow_all()
                    .disclosing_caller()
                    .disclosing_publisher(),
                Permission::prefix("wamp.session.")
                    .allow(Call)
                    .allow(Subscribe),
                Permission::prefix("wamp.subscription.").allow(Call),
            ],
        )
        .with_role(
            "frontend",
            [
                Permission::prefix("com.app.").allow(Call).allow(Subscribe),
                Permission::prefix("com.app.admin."),
                Permission::exact("com.news").allow(Subscribe),
                Permission::wildcard("com..status").allow(Subscribe),
                Permission::exact("wamp.session.count").allow(Call),
                Permission::exact("wamp.subscription.get_events").allow(Call),
                Permission::exact("wamp.session.add_testament").allow(Call),
            ],
        )
}

/// realm1 with external authentication (tests pick the authrole) and the given authorization;
/// event history is kept for `com.`.
fn net_with(authz: AuthzMode, caller: Disclosure, publisher: Disclosure) -> Net {
    let mut realm = RealmConfig::new(uri("realm1"));
    realm.auth = AuthMode::External;
    realm.authz = authz;
    realm.caller_disclosure = caller;
    realm.publisher_disclosure = publisher;
    realm.history.push(HistoryRule {
        uri: uri("com."),
        policy: MatchPolicy::Prefix,
        limit: 100,
    });
    Net::new(RouterConfig {
        realms: vec![realm],
        authz_cache_capacity: 2,
        ..RouterConfig::default()
    })
}

fn roles_net() -> Net {
    net_with(
        AuthzMode::Roles(roles()),
        Disclosure::OnRequest,
        Disclosure::OnRequest,
    )
}

fn external_net() -> Net {
    net_with(
        AuthzMode::External,
        Disclosure::OnRequest,
        Disclosure::OnRequest,
    )
}

/// Joins realm1 with `authrole`.
fn join_as(net: &mut Net, authrole: &str) -> Client {
    let mut client = net.connect();
    net.send(&client, Net::hello("realm1", all_roles()));
    let request = net.auth.pop().expect("an authentication request");
    let identity = Identity {
        authid: format!("{authrole}-1"),
        authrole: authrole.into(),
        authmethod: "ticket".into(),
        authprovider: "static".into(),
        authextra: Dict::new(),
    };
    net.router
        .resolve_authentication(net.now, request.connection, AuthDecision::Welcome(identity))
        .unwrap();
    net.pump();
    match net.recv_one(&client) {
        Message::Welcome(w) => client.session = Some(w.session),
        other => panic!("expected WELCOME, got {other:?}"),
    }
    client
}

/// Asserts `m` is ERROR `wamp.error.not_authorized` for (`kind`, `request`) whose message
/// mentions every one of `mentions`.
fn assert_refused(
    m: &Message,
    kind: RequestType,
    request: nexus_core::RequestId,
    mentions: &[&str],
) {
    let Message::Error(e) = m else {
        panic!("expected ERROR wamp.error.not_authorized, got {m:?}");
    };
    assert_eq!(
        (e.error.as_str(), e.request_type, e.request),
        ("wamp.error.not_authorized", kind, request)
    );
    let text = e
        .payload
        .args()
        .first()
        .and_then(Value::as_str)
        .unwrap_or("");
    for word in mentions {
        assert!(text.contains(word), "{text:?} does not mention {word:?}");
    }
}

fn subscribe_request(net: &mut Net, c: &mut Client, topic: &str, policy: MatchPolicy) -> Message {
    let request = c.next();
    let options = SubscribeOptions {
        match_policy: Some(policy),
        ..Default::default()
    };
    net.send(
        c,
        Subscribe {
            request,
            options,
            topic: uri(topic),
        },
    );
    net.recv_one(c)
}

fn register_request(
    net: &mut Net,
    c: &mut Client,
    procedure: &str,
    policy: MatchPolicy,
) -> Message {
    let request = c.next();
    let options = RegisterOptions {
        match_policy: Some(policy),
        ..Default::default()
    };
    net.send(
        c,
        Register {
            request,
            options,
            procedure: uri(procedure),
        },
    );
    net.recv_one(c)
}

fn acked() -> PublishOptions {
    PublishOptions {
        acknowledge: Some(true),
        ..Default::default()
    }
}

/// Calls a procedure and returns the one reply.
fn call_reply(
    net: &mut Net,
    c: &mut Client,
    procedure: &str,
    args: Vec<Value>,
) -> (nexus_core::RequestId, Message) {
    let request = net.call(c, procedure, args);
    (request, net.recv_one(c))
}

// ---- each action allowed and denied ---------------------------------------------------------

#[test]
fn each_action_is_allowed_or_denied_by_the_role() {
    let mut net = roles_net();
    let mut b = join_as(&mut net, "backend");
    let mut f = join_as(&mut net, "frontend");

    // register: backend yes, frontend no.
    net.register(&mut b, "com.app.echo");
    let r = register_request(&mut net, &mut f, "com.app.other", MatchPolicy::Exact);
    let Message::Error(e) = &r else {
        panic!("{r:?}")
    };
    assert_refused(
        &r,
        RequestType::Register,
        e.request,
        &["frontend", "register", "com.app.other"],
    );

    // call: frontend yes (the callee is invoked), but not under com.app.admin.
    let request = net.call(&mut f, "com.app.echo", args![1]);
    let Message::Invocation(inv) = net.recv_one(&b) else {
        panic!()
    };
    assert_eq!(inv.details.caller, None, "not disclosed by default");
    net.send(&b, Yield::new(inv.request).with_args(args![1]));
    assert!(matches!(net.recv_one(&f), Message::Result(r) if r.request == request));
    let (request, reply) = call_reply(&mut net, &mut f, "com.app.admin.reset", vec![]);
    assert_refused(
        &reply,
        RequestType::Call,
        request,
        &["frontend", "call", "com.app.admin.reset"],
    );
    assert!(net.recv(&b).is_empty(), "the callee never hears of it");

    // subscribe: frontend yes under com.app., no elsewhere.
    let sub = net.subscribe(&mut f, "com.app.ticks");
    let r = subscribe_request(&mut net, &mut f, "com.other", MatchPolicy::Exact);
    let Message::Error(e) = &r else {
        panic!("{r:?}")
    };
    assert_refused(
        &r,
        RequestType::Subscribe,
        e.request,
        &["subscribe to com.other"],
    );

    // publish: backend yes; frontend refused, with ERROR only when acknowledged.
    net.publish(&mut b, "com.app.ticks", PublishOptions::default(), args![1]);
    assert!(matches!(net.recv_one(&f), Message::Event(e) if e.subscription == sub));
    let request = net.publish(&mut f, "com.app.ticks", acked(), args![2]);
    let reply = net.recv_one(&f);
    assert_refused(
        &reply,
        RequestType::Publish,
        request,
        &["frontend", "publish to com.app.ticks"],
    );
    net.publish(&mut f, "com.app.ticks", PublishOptions::default(), args![3]);
    assert!(
        net.recv(&f).is_empty(),
        "an unacknowledged refusal is silent"
    );
    assert!(net.recv(&b).is_empty());

    // The session goes on after refusals.
    let request = net.publish(&mut b, "com.app.ticks", acked(), args![4]);
    let got = net.recv(&b);
    assert!(matches!(got.as_slice(), [Message::Published(p)] if p.request == request));
    assert!(matches!(net.recv_one(&f), Message::Event(_)));
}

#[test]
fn an_unlisted_role_may_do_nothing() {
    let mut net = roles_net();
    let mut a = join_as(&mut net, "anonymous");
    let (request, reply) = call_reply(&mut net, &mut a, "com.app.echo", vec![]);
    assert_refused(
        &reply,
        RequestType::Call,
        request,
        &["anonymous", "no permissions", "realm1"],
    );
    let r = subscribe_request(&mut net, &mut a, "com.app.x", MatchPolicy::Exact);
    assert_eq!(error_of(&r).0, "wamp.error.not_authorized");
    let r = register_request(&mut net, &mut a, "com.app.x", MatchPolicy::Exact);
    assert_eq!(error_of(&r).0, "wamp.error.not_authorized");
    let request = net.publish(&mut a, "com.app.x", acked(), vec![]);
    let reply = net.recv_one(&a);
    assert_refused(&reply, RequestType::Publish, request, &["anonymous"]);
    // Meta procedures too.
    let (request, reply) = call_reply(&mut net, &mut a, "wamp.session.count", vec![]);
    assert_refused(
        &reply,
        RequestType::Call,
        request,
        &["call wamp.session.count"],
    );
}

#[test]
fn no_roles_at_all_denies_everything() {
    let mut net = net_with(
        AuthzMode::Roles(Roles::new()),
        Disclosure::OnRequest,
        Disclosure::OnRequest,
    );
    let mut c = join_as(&mut net, "backend");
    let (request, reply) = call_reply(&mut net, &mut c, "com.app.echo", vec![]);
    assert_refused(&reply, RequestType::Call, request, &["backend"]);
}

// ---- precedence and patterns ----------------------------------------------------------------

#[test]
fn the_most_specific_permission_decides() {
    use AuthzAction::*;
    let roles = Roles::new().with_role(
        "r",
        [
            Permission::prefix("").allow(Call),
            Permission::prefix("com.").allow(Subscribe),
            Permission::prefix("com.app.").allow(Call).allow(Publish),
            Permission::wildcard("com..x").allow(Register),
            Permission::exact("com.app.x").allow(Register),
        ],
    );
    let mut net = net_with(
        AuthzMode::Roles(roles),
        Disclosure::OnRequest,
        Disclosure::OnRequest,
    );
    let mut c = join_as(&mut net, "r");
    // Exact beats every prefix: com.app.x may be registered, not called.
    net.register(&mut c, "com.app.x");
    let (request, reply) = call_reply(&mut net, &mut c, "com.app.x", vec![]);
    assert_refused(&reply, RequestType::Call, request, &["call com.app.x"]);
    // The longest prefix wins: com.app.y is under com.app. (call, not subscribe).
    let (_, reply) = call_reply(&mut net, &mut c, "com.app.y", vec![]);
    assert_eq!(
        error_of(&reply).0,
        "wamp.error.no_such_procedure",
        "allowed, so routed"
    );
    let r = subscribe_request(&mut net, &mut c, "com.app.y", MatchPolicy::Exact);
    assert_eq!(error_of(&r).0, "wamp.error.not_authorized");
    // com.b.x: the prefix com. wins over the wildcard com..x (prefixes come first).
    let r = register_request(&mut net, &mut c, "com.b.x", MatchPolicy::Exact);
    assert_eq!(error_of(&r).0, "wamp.error.not_authorized");
    net.subscribe(&mut c, "com.b.x");
    // The empty prefix covers everything else.
    let (_, reply) = call_reply(&mut net, &mut c, "org.thing", vec![]);
    assert_eq!(error_of(&reply).0, "wamp.error.no_such_procedure");
}

#[test]
fn wildcards_rank_by_their_literal_components() {
    let roles = Roles::new().with_role(
        "r",
        [
            Permission::wildcard("a1...d4"),
            Permission::wildcard("a1.b2..d4").allow(AuthzAction::Call),
        ],
    );
    let mut net = net_with(
        AuthzMode::Roles(roles),
        Disclosure::OnRequest,
        Disclosure::OnRequest,
    );
    let mut c = join_as(&mut net, "r");
    let (_, reply) = call_reply(&mut net, &mut c, "a1.b2.c3.d4", vec![]);
    assert_eq!(error_of(&reply).0, "wamp.error.no_such_procedure");
    let (_, reply) = call_reply(&mut net, &mut c, "a1.x.c3.d4", vec![]);
    assert_eq!(error_of(&reply).0, "wamp.error.not_authorized");
}

#[test]
fn patterns_are_checked_as_the_pattern_uri() {
    let mut net = roles_net();
    let mut f = join_as(&mut net, "frontend");
    let mut b = join_as(&mut net, "backend");
    // A prefix subscription inside what the role may subscribe to.
    net.subscribe_with(
        &mut f,
        "com.app.ticks.",
        SubscribeOptions {
            match_policy: Some(MatchPolicy::Prefix),
            ..Default::default()
        },
    );
    // One reaching beyond it is refused, even though it starts like a permitted prefix.
    let r = subscribe_request(&mut net, &mut f, "com.ap", MatchPolicy::Prefix);
    assert_refused(
        &r,
        RequestType::Subscribe,
        error_of(&r).1,
        &["com.ap (prefix pattern)"],
    );
    // An exact permission covers the topic, not a prefix pattern of the same text (which
    // would also reach com.news.secret).
    net.subscribe(&mut f, "com.news");
    let r = subscribe_request(&mut net, &mut f, "com.news", MatchPolicy::Prefix);
    assert_eq!(error_of(&r).0, "wamp.error.not_authorized");
    // Wildcard patterns: covered by a wildcard permission with the same literals.
    net.subscribe_with(
        &mut f,
        "com..status",
        SubscribeOptions {
            match_policy: Some(MatchPolicy::Wildcard),
            ..Default::default()
        },
    );
    let r = subscribe_request(&mut net, &mut f, "..status", MatchPolicy::Wildcard);
    assert_eq!(error_of(&r).0, "wamp.error.not_authorized");
    // Registrations follow the same rule.
    let r = register_request(&mut net, &mut b, "com.app.rpc.", MatchPolicy::Prefix);
    assert!(matches!(r, Message::Registered(_)), "{r:?}");
    let r = register_request(&mut net, &mut b, "com.", MatchPolicy::Prefix);
    assert_refused(
        &r,
        RequestType::Register,
        error_of(&r).1,
        &["register com. (prefix pattern)"],
    );
    let r = register_request(&mut net, &mut b, "com.app..get", MatchPolicy::Wildcard);
    assert!(matches!(r, Message::Registered(_)), "{r:?}");
    // The pattern's later INVOCATIONs and EVENTs are not checked again.
    net.publish(
        &mut b,
        "com.app.ticks.fast",
        PublishOptions::default(),
        args![1],
    );
    assert!(matches!(net.recv_one(&f), Message::Event(_)));
}

// ---- disclosure -----------------------------------------------------------------------------

#[test]
fn permissions_force_disclosure_unless_the_realm_never_discloses() {
    for (policy, disclosed) in [
        (Disclosure::OnRequest, true),
        (Disclosure::Never, false),
        (Disclosure::Always, true),
    ] {
        let mut net = net_with(AuthzMode::Roles(roles()), policy, policy);
        let mut callee = join_as(&mut net, "backend");
        let mut b = join_as(&mut net, "backend");
        net.register(&mut callee, "com.app.audit.log");
        net.register(&mut callee, "com.app.plain");
        net.subscribe(&mut callee, "com.app.audit.events");
        net.subscribe(&mut callee, "com.app.plain.events");

        net.call(&mut b, "com.app.audit.log", vec![]);
        let Message::Invocation(inv) = net.recv_one(&callee) else {
            panic!()
        };
        assert_eq!(inv.details.caller.is_some(), disclosed, "{policy:?}");
        if disclosed {
            assert_eq!(inv.details.caller, b.session);
            assert_eq!(inv.details.caller_authrole.as_deref(), Some("backend"));
            assert_eq!(inv.details.caller_authid.as_deref(), Some("backend-1"));
        }
        net.call(&mut b, "com.app.plain", vec![]);
        let Message::Invocation(inv) = net.recv_one(&callee) else {
            panic!()
        };
        assert_eq!(inv.details.caller.is_some(), policy == Disclosure::Always);

        net.publish(
            &mut b,
            "com.app.audit.events",
            PublishOptions::default(),
            vec![],
        );
        let Message::Event(e) = net.recv_one(&callee) else {
            panic!()
        };
        assert_eq!(e.details.publisher.is_some(), disclosed, "{policy:?}");
        if disclosed {
            assert_eq!(e.details.publisher_authrole.as_deref(), Some("backend"));
        }
        net.publish(
            &mut b,
            "com.app.plain.events",
            PublishOptions::default(),
            vec![],
        );
        let Message::Event(e) = net.recv_one(&callee) else {
            panic!()
        };
        assert_eq!(e.details.publisher.is_some(), policy == Disclosure::Always);
    }
}

#[test]
fn a_testament_is_checked_and_disclosed_like_a_publication() {
    let mut net = roles_net();
    let mut watcher = join_as(&mut net, "backend");
    net.subscribe(&mut watcher, "com.app.audit.gone");
    let mut f = join_as(&mut net, "frontend");
    let mut b = join_as(&mut net, "backend");
    // frontend may not publish to com.app.audit.gone, so it may not leave a testament there.
    let (request, reply) = call_reply(
        &mut net,
        &mut f,
        "wamp.session.add_testament",
        args!["com.app.audit.gone", args![1], kwargs! {}],
    );
    assert_refused(
        &reply,
        RequestType::Call,
        request,
        &["frontend", "publish to com.app.audit.gone", "testament"],
    );
    // backend may call wamp.session.* but add_testament is not in frontend's list: the call
    // itself is checked first.
    let (_, reply) = call_reply(&mut net, &mut f, "wamp.session.flush_testaments", vec![]);
    assert_refused(
        &reply,
        RequestType::Call,
        error_of(&reply).1,
        &["call wamp.session.flush_testaments"],
    );
    let (_, reply) = call_reply(
        &mut net,
        &mut b,
        "wamp.session.add_testament",
        args!["com.app.audit.gone", args![2], kwargs! {}],
    );
    assert!(matches!(reply, Message::Result(_)), "{reply:?}");
    net.leave(&b);
    net.leave(&f);
    // Published, disclosing its publisher as the permission says.
    let Message::Event(e) = net.recv_one(&watcher) else {
        panic!()
    };
    assert_eq!(e.payload.args(), &args![2][..]);
    assert_eq!(e.details.publisher, b.session);
}

// ---- the meta API ---------------------------------------------------------------------------

#[test]
fn meta_procedures_need_the_right_to_call_them() {
    let mut net = roles_net();
    let mut f = join_as(&mut net, "frontend");
    let mut b = join_as(&mut net, "backend");
    let victim = join_as(&mut net, "frontend");
    let (request, reply) = call_reply(
        &mut net,
        &mut f,
        "wamp.session.kill",
        args![victim.session.unwrap()],
    );
    assert_refused(
        &reply,
        RequestType::Call,
        request,
        &["frontend", "call wamp.session.kill"],
    );
    assert!(net.recv(&victim).is_empty(), "not killed");
    let (_, reply) = call_reply(&mut net, &mut f, "wamp.session.kill_all", vec![]);
    assert_eq!(error_of(&reply).0, "wamp.error.not_authorized");
    // What the role may call works.
    let (_, reply) = call_reply(&mut net, &mut f, "wamp.session.count", vec![]);
    assert!(
        matches!(&reply, Message::Result(r) if r.payload.args()[0] == Value::from(3)),
        "{reply:?}"
    );
    let (_, reply) = call_reply(&mut net, &mut f, "wamp.registration.list", vec![]);
    assert_eq!(error_of(&reply).0, "wamp.error.not_authorized");
    // backend may kill.
    let (_, reply) = call_reply(
        &mut net,
        &mut b,
        "wamp.session.kill",
        args![victim.session.unwrap()],
    );
    assert!(matches!(reply, Message::Result(_)), "{reply:?}");
    assert!(
        matches!(net.recv_one(&victim), Message::Goodbye(g) if g.reason == "wamp.close.killed")
    );
}

#[test]
fn event_history_needs_the_right_to_subscribe() {
    let mut net = roles_net();
    let mut b = join_as(&mut net, "backend");
    let mut f = join_as(&mut net, "frontend");
    let admin = net.subscribe(&mut b, "com.app.admin.log");
    let ticks = net.subscribe(&mut b, "com.app.ticks");
    net.publish(
        &mut b,
        "com.app.admin.log",
        PublishOptions::default(),
        args![1],
    );
    net.publish(&mut b, "com.app.ticks", PublishOptions::default(), args![2]);
    net.recv(&b);
    // frontend may call get_events, but not read a subscription it could not subscribe to.
    let (request, reply) = call_reply(
        &mut net,
        &mut f,
        "wamp.subscription.get_events",
        args![admin],
    );
    assert_refused(
        &reply,
        RequestType::Call,
        request,
        &["frontend", "subscribe to com.app.admin.log", "events"],
    );
    let (_, reply) = call_reply(
        &mut net,
        &mut f,
        "wamp.subscription.get_events",
        args![ticks],
    );
    let Message::Result(r) = &reply else {
        panic!("{reply:?}")
    };
    assert_eq!(r.payload.args()[0].as_list().map(|l| l.len()), Some(1));
    // A subscription that does not exist: the procedure's own error.
    let (_, reply) = call_reply(
        &mut net,
        &mut f,
        "wamp.subscription.get_events",
        args![12345],
    );
    assert_eq!(error_of(&reply).0, "wamp.error.no_such_subscription");
    // backend reads both.
    let (_, reply) = call_reply(
        &mut net,
        &mut b,
        "wamp.subscription.get_events",
        args![admin],
    );
    assert!(matches!(reply, Message::Result(_)), "{reply:?}");
    // A pattern subscription is checked with its pattern, as subscribing to it would be:
    // frontend may subscribe to the prefix com.app., so it may read what that subscription
    // got (com.app.admin.log included, as a live subscription would have).
    let pattern = net.subscribe_with(
        &mut b,
        "com.app.",
        SubscribeOptions {
            match_policy: Some(MatchPolicy::Prefix),
            ..Default::default()
        },
    );
    let (_, reply) = call_reply(
        &mut net,
        &mut f,
        "wamp.subscription.get_events",
        args![pattern],
    );
    assert!(matches!(reply, Message::Result(_)), "{reply:?}");
    let admin_pattern = net.subscribe_with(
        &mut b,
        "com.app.admin.",
        SubscribeOptions {
            match_policy: Some(MatchPolicy::Prefix),
            ..Default::default()
        },
    );
    let (_, reply) = call_reply(
        &mut net,
        &mut f,
        "wamp.subscription.get_events",
        args![admin_pattern],
    );
    assert_refused(
        &reply,
        RequestType::Call,
        error_of(&reply).1,
        &["subscribe to com.app.admin. (prefix pattern)"],
    );
}

#[test]
fn meta_events_reach_only_roles_that_may_subscribe_to_them() {
    let mut net = roles_net();
    let mut b = join_as(&mut net, "backend");
    let mut f = join_as(&mut net, "frontend");
    net.subscribe(&mut b, "wamp.session.on_join");
    let r = subscribe_request(&mut net, &mut f, "wamp.session.on_join", MatchPolicy::Exact);
    assert_refused(
        &r,
        RequestType::Subscribe,
        error_of(&r).1,
        &["subscribe to wamp.session.on_join"],
    );
    let r = subscribe_request(&mut net, &mut f, "wamp.", MatchPolicy::Prefix);
    assert_eq!(error_of(&r).0, "wamp.error.not_authorized");
    let late = join_as(&mut net, "frontend");
    let Message::Event(e) = net.recv_one(&b) else {
        panic!()
    };
    assert_eq!(
        e.payload.args()[0].as_dict().unwrap()["session"],
        Value::from(late.session.unwrap())
    );
    assert!(net.recv(&f).is_empty());
}

// ---- external authorization and its cache ---------------------------------------------------

/// Answers the one pending authorization request with `decision`, checking what it asks.
fn answer(net: &mut Net, action: AuthzAction, uri_: &str, decision: AuthzDecision) {
    assert_eq!(net.authz.len(), 1, "{:?}", net.authz);
    let request = net.authz.remove(0);
    assert_eq!((request.action, request.uri.as_str()), (action, uri_));
    net.router
        .resolve_authorization(net.now, request.token, decision)
        .unwrap();
    net.pump();
}

/// Subscribes in a realm with an external authorizer, answering its question with
/// `decision` (which must allow).
fn subscribe_asking(
    net: &mut Net,
    c: &mut Client,
    topic: &str,
    policy: MatchPolicy,
    decision: AuthzDecision,
) -> nexus_core::SubscriptionId {
    let request = c.next();
    let options = SubscribeOptions {
        match_policy: Some(policy),
        ..Default::default()
    };
    net.send(
        c,
        Subscribe {
            request,
            options,
            topic: uri(topic),
        },
    );
    if !net.authz.is_empty() {
        assert_eq!(net.authz[0].match_policy, policy);
        answer(net, AuthzAction::Subscribe, topic, decision);
    }
    match net.recv_one(c) {
        Message::Subscribed(s) => s.subscription,
        other => panic!("expected SUBSCRIBED, got {other:?}"),
    }
}

#[test]
fn cached_decisions_apply_at_once() {
    let mut net = external_net();
    let mut c = join_as(&mut net, "user");
    let mut d = join_as(&mut net, "user");
    let mut other = join_as(&mut net, "guest");

    // Miss: asked, and the answer may be cached.
    let request = net.call(&mut c, "com.p", vec![]);
    assert!(net.recv(&c).is_empty());
    assert_eq!(net.authz[0].via, None);
    answer(
        &mut net,
        AuthzAction::Call,
        "com.p",
        AuthzDecision::deny().cached(),
    );
    assert_refused(
        &net.recv_one(&c),
        RequestType::Call,
        request,
        &["user", "call com.p"],
    );
    // Hit: the same role, realm, action and URI, from another session: no question.
    let request = net.call(&mut d, "com.p", vec![]);
    assert!(net.authz.is_empty());
    assert_refused(
        &net.recv_one(&d),
        RequestType::Call,
        request,
        &["user", "call com.p"],
    );
    // Another role, action or URI is asked about.
    net.call(&mut other, "com.p", vec![]);
    answer(&mut net, AuthzAction::Call, "com.p", AuthzDecision::allow());
    assert_eq!(
        error_of(&net.recv_one(&other)).0,
        "wamp.error.no_such_procedure"
    );
    net.publish(&mut c, "com.p", acked(), vec![]);
    answer(
        &mut net,
        AuthzAction::Publish,
        "com.p",
        AuthzDecision::allow().cached(),
    );
    assert!(matches!(net.recv_one(&c), Message::Published(_)));
    net.publish(&mut d, "com.p", acked(), vec![]);
    assert!(net.authz.is_empty(), "hit");
    assert!(matches!(net.recv_one(&d), Message::Published(_)));
    net.call(&mut c, "com.q", vec![]);
    answer(&mut net, AuthzAction::Call, "com.q", AuthzDecision::allow());
    net.recv(&c);
    // An uncached answer is asked again.
    net.call(&mut other, "com.p", vec![]);
    answer(&mut net, AuthzAction::Call, "com.p", AuthzDecision::allow());
    net.recv(&other);
    // Patterns are keyed with their policy: the prefix com. is cached, the exact com. not.
    let allow = AuthzDecision::allow().cached();
    subscribe_asking(&mut net, &mut c, "com.", MatchPolicy::Prefix, allow);
    subscribe_asking(&mut net, &mut d, "com.", MatchPolicy::Prefix, allow);
    let request = d.next();
    net.send(&d, Subscribe::new(request, uri("com.")));
    assert_eq!(
        net.authz.len(),
        1,
        "the exact topic com. is another question"
    );
}

#[test]
fn cached_decisions_expire_by_the_routers_clock() {
    let mut net = external_net();
    let mut c = join_as(&mut net, "user");
    net.publish(&mut c, "com.t", acked(), vec![]);
    let ttl = Duration::from_secs(30);
    answer(
        &mut net,
        AuthzAction::Publish,
        "com.t",
        AuthzDecision::allow().cached_for(ttl),
    );
    net.recv(&c);
    net.advance(Duration::from_secs(29));
    net.publish(&mut c, "com.t", acked(), vec![]);
    assert!(net.authz.is_empty(), "still cached");
    assert!(matches!(net.recv_one(&c), Message::Published(_)));
    net.advance(Duration::from_secs(1));
    net.publish(&mut c, "com.t", acked(), vec![]);
    answer(
        &mut net,
        AuthzAction::Publish,
        "com.t",
        AuthzDecision::deny(),
    );
    assert_eq!(error_of(&net.recv_one(&c)).0, "wamp.error.not_authorized");
}

#[test]
fn the_cache_is_bounded_and_can_be_cleared() {
    // The router keeps two decisions (`authz_cache_capacity`).
    let mut net = external_net();
    let mut c = join_as(&mut net, "user");
    let cached = AuthzDecision::allow().cached();
    for topic in ["com.a", "com.b", "com.c"] {
        net.publish(&mut c, topic, PublishOptions::default(), vec![]);
        answer(&mut net, AuthzAction::Publish, topic, cached);
    }
    // com.a, the oldest, made room for com.c.
    net.publish(&mut c, "com.a", PublishOptions::default(), vec![]);
    answer(&mut net, AuthzAction::Publish, "com.a", cached);
    // That pushed out com.b; com.c is still there.
    net.publish(&mut c, "com.c", PublishOptions::default(), vec![]);
    assert!(net.authz.is_empty());
    net.publish(&mut c, "com.b", PublishOptions::default(), vec![]);
    answer(&mut net, AuthzAction::Publish, "com.b", cached);
    // Cleared: asked again.
    net.router.clear_authorization_cache(Some(&uri("realm1")));
    net.publish(&mut c, "com.b", PublishOptions::default(), vec![]);
    answer(&mut net, AuthzAction::Publish, "com.b", cached);
    net.router.clear_authorization_cache(None);
    net.publish(&mut c, "com.b", PublishOptions::default(), vec![]);
    answer(
        &mut net,
        AuthzAction::Publish,
        "com.b",
        AuthzDecision::allow(),
    );
    assert!(net.recv(&c).is_empty());
}

#[test]
fn a_cached_decision_waits_its_turn_behind_a_pending_one() {
    let mut net = external_net();
    let mut c = join_as(&mut net, "user");
    let mut s = join_as(&mut net, "user");
    subscribe_asking(
        &mut net,
        &mut s,
        "com.t",
        MatchPolicy::Exact,
        AuthzDecision::allow(),
    );
    net.publish(&mut c, "com.t", PublishOptions::default(), args![1]);
    answer(
        &mut net,
        AuthzAction::Publish,
        "com.t",
        AuthzDecision::allow().cached(),
    );
    assert!(matches!(net.recv_one(&s), Message::Event(_)));
    // A pending question about com.u holds the publication to com.t (cached) behind it.
    net.publish(&mut c, "com.u", PublishOptions::default(), args![2]);
    net.publish(&mut c, "com.t", PublishOptions::default(), args![3]);
    assert!(net.recv(&s).is_empty());
    answer(
        &mut net,
        AuthzAction::Publish,
        "com.u",
        AuthzDecision::allow(),
    );
    let Message::Event(e) = net.recv_one(&s) else {
        panic!()
    };
    assert_eq!(e.payload.args(), &args![3][..]);
}

#[test]
fn an_external_authorizer_is_asked_about_a_meta_procedures_target() {
    let mut net = external_net();
    let mut b = join_as(&mut net, "backend");
    let mut f = join_as(&mut net, "frontend");
    let sub = subscribe_asking(
        &mut net,
        &mut b,
        "com.secret",
        MatchPolicy::Exact,
        AuthzDecision::allow(),
    );
    // The CALL first, then the subscription's URI, naming the procedure.
    let request = net.call(&mut f, "wamp.subscription.get_events", args![sub]);
    answer(
        &mut net,
        AuthzAction::Call,
        "wamp.subscription.get_events",
        AuthzDecision::allow().cached(),
    );
    assert_eq!(
        net.authz[0].via.as_ref().map(|u| u.as_str()),
        Some("wamp.subscription.get_events")
    );
    assert_eq!(net.authz[0].authrole, "frontend");
    answer(
        &mut net,
        AuthzAction::Subscribe,
        "com.secret",
        AuthzDecision::deny().cached(),
    );
    assert_refused(
        &net.recv_one(&f),
        RequestType::Call,
        request,
        &["frontend", "subscribe to com.secret", "events"],
    );
    // Both answers were cached: the next attempt is refused at once.
    let request = net.call(&mut f, "wamp.subscription.get_events", args![sub]);
    assert!(net.authz.is_empty());
    assert_refused(
        &net.recv_one(&f),
        RequestType::Call,
        request,
        &["subscribe to com.secret"],
    );
    // A testament's topic is a publication's question.
    net.call(
        &mut f,
        "wamp.session.add_testament",
        args!["com.will", args![], kwargs! {}],
    );
    answer(
        &mut net,
        AuthzAction::Call,
        "wamp.session.add_testament",
        AuthzDecision::allow(),
    );
    answer(
        &mut net,
        AuthzAction::Publish,
        "com.will",
        AuthzDecision::allow(),
    );
    assert!(matches!(net.recv_one(&f), Message::Result(_)));
}
