//! The session meta API (digest §4.23) and the testament meta API (§4.24).

use crate::harness::*;
use nexus_core::message::*;
use nexus_core::router::{
    AuthDecision, AuthMode, Identity, RealmConfig, RouterConfig, TrustLevels,
};
use nexus_core::value::Dict;
use nexus_core::{args, features, kwargs, Value};

// ---- setup and calls ------------------------------------------------------------------------

/// realm1 with external authentication (so tests choose authids and authroles) and realm2,
/// open; sessions of `trusted` get trust level 7.
fn net_with(max_testaments: usize) -> Net {
    let mut realm1 = RealmConfig::new(uri("realm1"));
    realm1.auth = AuthMode::External;
    realm1.trust = TrustLevels {
        by_authrole: [("trusted".to_owned(), 7)].into(),
        ..Default::default()
    };
    Net::new(RouterConfig {
        realms: vec![realm1, RealmConfig::new(uri("realm2"))],
        max_testaments,
        ..Default::default()
    })
}

fn net() -> Net {
    net_with(RouterConfig::default().max_testaments)
}

/// Joins realm1 over a transport labeled `ws`, as `authid` with `authrole`.
fn join_as(net: &mut Net, authid: &str, authrole: &str) -> Client {
    let mut client = net.connect();
    net.router.set_transport(client.conn, "ws");
    net.send(&client, Net::hello("realm1", all_roles()));
    let request = net.auth.pop().expect("an authentication request");
    assert_eq!(request.connection, client.conn);
    let identity = Identity {
        authid: authid.into(),
        authrole: authrole.into(),
        authmethod: "ticket".into(),
        authprovider: "static".into(),
        authextra: Dict::new(),
    };
    net.router
        .resolve_authentication(net.now, client.conn, AuthDecision::Welcome(identity))
        .unwrap();
    net.pump();
    match net.recv_one(&client) {
        Message::Welcome(w) => client.session = Some(w.session),
        other => panic!("expected WELCOME, got {other:?}"),
    }
    client
}

/// Joins the open realm2.
fn join_realm2(net: &mut Net) -> Client {
    let mut client = net.connect();
    net.send(&client, Net::hello("realm2", all_roles()));
    match net.recv_one(&client) {
        Message::Welcome(w) => client.session = Some(w.session),
        other => panic!("expected WELCOME, got {other:?}"),
    }
    client
}

/// Calls a meta procedure: the EVENTs the caller got before the reply, and the reply.
fn call_meta(
    net: &mut Net,
    client: &mut Client,
    procedure: &str,
    args: Vec<Value>,
    kwargs: Dict,
) -> (Vec<Event>, Message) {
    let request = client.next();
    net.send(
        client,
        Call::new(request, uri(procedure))
            .with_args(args)
            .with_kwargs(kwargs),
    );
    let mut got = net.recv(client);
    let reply = got.pop().expect("a reply");
    match &reply {
        Message::Result(r) => assert_eq!(r.request, request),
        Message::Error(e) => assert_eq!(e.request, request),
        other => panic!("expected RESULT or ERROR, got {other:?}"),
    }
    (got.into_iter().map(event).collect(), reply)
}

/// Calls a meta procedure and returns the reply, the only message the caller gets.
fn meta(
    net: &mut Net,
    client: &mut Client,
    procedure: &str,
    args: Vec<Value>,
    kwargs: Dict,
) -> Message {
    let (events, reply) = call_meta(net, client, procedure, args, kwargs);
    assert!(events.is_empty(), "unexpected {events:?}");
    reply
}

/// The first positional result of a RESULT.
fn first(m: &Message) -> Value {
    match m {
        Message::Result(r) => r.payload.args().first().cloned().unwrap_or(Value::Null),
        other => panic!("expected RESULT, got {other:?}"),
    }
}

/// The error URI of an ERROR, checking that its message mentions `mentions`.
fn error(m: &Message, mentions: &str) -> String {
    match m {
        Message::Error(e) => {
            let text = e.payload.args().first().and_then(Value::as_str);
            assert!(
                text.is_some_and(|t| t.contains(mentions)),
                "ERROR {} should say {mentions:?}: {text:?}",
                e.error
            );
            e.error.as_str().to_owned()
        }
        other => panic!("expected ERROR, got {other:?}"),
    }
}

fn event(m: Message) -> Event {
    match m {
        Message::Event(e) => e,
        other => panic!("expected EVENT, got {other:?}"),
    }
}

fn events(net: &mut Net, client: &Client) -> Vec<Event> {
    net.recv(client).into_iter().map(event).collect()
}

fn on_leave_args(events: Vec<Event>) -> Vec<Vec<Value>> {
    events
        .into_iter()
        .map(|e| e.payload.args().to_vec())
        .collect()
}

fn goodbye(m: Message) -> Goodbye {
    match m {
        Message::Goodbye(g) => g,
        other => panic!("expected GOODBYE, got {other:?}"),
    }
}

fn sid(client: &Client) -> Value {
    Value::from(client.session.unwrap())
}

fn left(net: &mut Net, observer: &Client) -> Vec<Vec<Value>> {
    on_leave_args(events(net, observer))
}

// ---- announcement ---------------------------------------------------------------------------

#[test]
fn session_meta_is_announced_by_broker_and_dealer_and_testaments_by_the_dealer() {
    let net = net();
    let roles = net.router.roles();
    let broker = roles.broker.as_ref().unwrap();
    let dealer = roles.dealer.as_ref().unwrap();
    assert!(broker.supports(features::SESSION_META_API));
    assert!(dealer.supports(features::SESSION_META_API));
    assert!(dealer.supports(features::TESTAMENT_META_API));
}

// ---- count, list, get -----------------------------------------------------------------------

#[test]
fn count_and_list_cover_the_realm_with_an_optional_authrole_filter() {
    let mut net = net();
    let mut admin = join_as(&mut net, "root", "admin");
    let a = join_as(&mut net, "ann", "user");
    let b = join_as(&mut net, "bob", "user");
    let _elsewhere = join_realm2(&mut net);
    let count = "wamp.session.count";
    let list = "wamp.session.list";
    let m = meta(&mut net, &mut admin, count, args![], kwargs! {});
    assert_eq!(first(&m), 3.into());
    // In the order they joined, the caller's included.
    let m = meta(&mut net, &mut admin, list, args![], kwargs! {});
    assert_eq!(first(&m), Value::List(vec![sid(&admin), sid(&a), sid(&b)]));
    let users = Value::from(vec!["user"]);
    let m = meta(
        &mut net,
        &mut admin,
        count,
        args![users.clone()],
        kwargs! {},
    );
    assert_eq!(first(&m), 2.into());
    let m = meta(&mut net, &mut admin, list, args![users], kwargs! {});
    assert_eq!(first(&m), Value::List(vec![sid(&a), sid(&b)]));
    let both = Value::from(vec!["admin", "user"]);
    let m = meta(&mut net, &mut admin, count, args![both], kwargs! {});
    assert_eq!(first(&m), 3.into());
    let nobody = Value::from(vec!["nobody"]);
    let m = meta(&mut net, &mut admin, list, args![nobody], kwargs! {});
    assert_eq!(first(&m), Value::List(vec![]));
    // An empty filter lets no session through; null is no filter.
    let m = meta(
        &mut net,
        &mut admin,
        count,
        args![Value::List(vec![])],
        kwargs! {},
    );
    assert_eq!(first(&m), 0.into());
    let m = meta(&mut net, &mut admin, count, args![Value::Null], kwargs! {});
    assert_eq!(first(&m), 3.into());
    // Leaving takes a session off the list.
    net.leave(&a);
    let m = meta(&mut net, &mut admin, list, args![], kwargs! {});
    assert_eq!(first(&m), Value::List(vec![sid(&admin), sid(&b)]));
}

#[test]
fn count_and_list_refuse_a_filter_that_is_not_a_list_of_strings() {
    let mut net = net();
    let mut admin = join_as(&mut net, "root", "admin");
    for procedure in ["wamp.session.count", "wamp.session.list"] {
        for bad in [Value::from("user"), Value::from(vec![Value::from(1)])] {
            let m = meta(&mut net, &mut admin, procedure, args![bad], kwargs! {});
            assert_eq!(
                error(&m, "a list of strings"),
                "wamp.error.invalid_argument"
            );
        }
    }
    assert!(!net.is_closed(&admin));
}

#[test]
fn get_returns_the_session_as_it_joined() {
    let mut net = net();
    let mut admin = join_as(&mut net, "root", "admin");
    let b = join_as(&mut net, "bob", "user");
    let m = meta(
        &mut net,
        &mut admin,
        "wamp.session.get",
        args![sid(&b)],
        kwargs! {},
    );
    let mut transport = Dict::new();
    transport.insert("type".into(), "ws".into());
    transport.insert("serializer".into(), "json".into());
    let mut expected = Dict::new();
    expected.insert("session".into(), sid(&b));
    expected.insert("authid".into(), "bob".into());
    expected.insert("authrole".into(), "user".into());
    expected.insert("authmethod".into(), "ticket".into());
    expected.insert("authprovider".into(), "static".into());
    expected.insert("transport".into(), Value::Dict(transport));
    assert_eq!(first(&m), Value::Dict(expected));
    // The caller may ask about itself.
    let me = sid(&admin);
    let m = meta(
        &mut net,
        &mut admin,
        "wamp.session.get",
        args![me],
        kwargs! {},
    );
    assert_eq!(first(&m)["authid"], "root".into());
}

#[test]
fn get_of_an_unknown_session_or_a_bad_id() {
    let mut net = net();
    let mut admin = join_as(&mut net, "root", "admin");
    let get = "wamp.session.get";
    let m = meta(&mut net, &mut admin, get, args![12345], kwargs! {});
    assert_eq!(error(&m, "12345"), "wamp.error.no_such_session");
    for bad in [args![], args!["x"], args![0], args![-1]] {
        let m = meta(&mut net, &mut admin, get, bad, kwargs! {});
        assert_eq!(error(&m, "an ID"), "wamp.error.invalid_argument");
    }
}

#[test]
fn anonymous_sessions_are_described_too() {
    let mut net = net();
    let mut a = join_realm2(&mut net);
    let b = join_realm2(&mut net);
    let m = meta(
        &mut net,
        &mut a,
        "wamp.session.get",
        args![sid(&b)],
        kwargs! {},
    );
    let details = first(&m);
    assert_eq!(details["authrole"], "anonymous".into());
    assert_eq!(details["authmethod"], "anonymous".into());
    assert_eq!(details["authprovider"], "static".into());
    assert!(details["authid"].as_str().is_some());
    // No transport label was given: only the serializer is known.
    let mut transport = Dict::new();
    transport.insert("serializer".into(), "json".into());
    assert_eq!(details["transport"], Value::Dict(transport));
}

#[test]
fn other_realms_are_invisible() {
    let mut net = net();
    let mut admin = join_as(&mut net, "root", "admin");
    let mut other = join_realm2(&mut net);
    let m = meta(
        &mut net,
        &mut admin,
        "wamp.session.get",
        args![sid(&other)],
        kwargs! {},
    );
    assert_eq!(error(&m, "in this realm"), "wamp.error.no_such_session");
    let m = meta(
        &mut net,
        &mut admin,
        "wamp.session.kill",
        args![sid(&other)],
        kwargs! {},
    );
    assert_eq!(error(&m, "in this realm"), "wamp.error.no_such_session");
    let m = meta(
        &mut net,
        &mut other,
        "wamp.session.kill_all",
        args![],
        kwargs! {},
    );
    assert_eq!(first(&m), 0.into());
    assert!(net.recv(&admin).is_empty());
    let m = meta(
        &mut net,
        &mut other,
        "wamp.session.list",
        args![],
        kwargs! {},
    );
    assert_eq!(first(&m), Value::List(vec![sid(&other)]));
}

// ---- events ---------------------------------------------------------------------------------

#[test]
fn on_join_follows_the_welcome_with_the_session_details() {
    let mut net = net();
    let mut observer = join_as(&mut net, "root", "admin");
    let sub = net.subscribe(&mut observer, "wamp.session.on_join");
    let mut b = join_as(&mut net, "bob", "user");
    let got = events(&mut net, &observer);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].subscription, sub);
    let [details] = got[0].payload.args() else {
        panic!("on_join has one positional argument: {:?}", got[0].payload);
    };
    let me = sid(&b);
    let m = meta(&mut net, &mut b, "wamp.session.get", args![me], kwargs! {});
    assert_eq!(*details, first(&m));
    // Meta events stay in their realm.
    join_realm2(&mut net);
    assert!(net.recv(&observer).is_empty());
}

#[test]
fn on_leave_whatever_ends_the_session() {
    let mut net = net();
    let mut observer = join_as(&mut net, "root", "admin");
    net.subscribe(&mut observer, "wamp.session.on_leave");
    let expect_left = |net: &mut Net, c: &Client, authid: &str| {
        assert_eq!(
            left(net, &observer),
            [vec![sid(c), authid.into(), "user".into()]]
        );
    };
    // GOODBYE from the client.
    let a = join_as(&mut net, "a", "user");
    net.leave(&a);
    expect_left(&mut net, &a, "a");
    // The transport is lost.
    let b = join_as(&mut net, "b", "user");
    net.disconnect(&b);
    expect_left(&mut net, &b, "b");
    // ABORT from the client.
    let c = join_as(&mut net, "c", "user");
    net.send(&c, Abort::new("wamp.close.normal", "bye"));
    assert!(net.is_closed(&c));
    expect_left(&mut net, &c, "c");
    // A protocol violation.
    let d = join_as(&mut net, "d", "user");
    net.send(&d, Net::hello("realm1", all_roles()));
    net.expect_abort(&d, "wamp.error.protocol_violation");
    expect_left(&mut net, &d, "d");
    // Killed through the API: at once, not when the GOODBYE is answered.
    let e = join_as(&mut net, "e", "user");
    assert!(net
        .router
        .kill(net.now, e.session.unwrap(), "wamp.close.killed", None));
    net.pump();
    expect_left(&mut net, &e, "e");
    net.send(&e, Goodbye::new("wamp.close.goodbye_and_out"));
    assert!(net.is_closed(&e));
    assert!(net.recv(&observer).is_empty());
}

#[test]
fn the_leaving_session_gets_none_of_its_own_events() {
    let mut net = net();
    let mut observer = join_as(&mut net, "root", "admin");
    net.subscribe(&mut observer, "wamp.session.on_leave");
    let mut dying = join_as(&mut net, "bob", "user");
    net.subscribe(&mut dying, "wamp.session.on_leave");
    net.subscribe(&mut dying, "com.will");
    let options = kwargs! { "publish_options" => kwargs! { "exclude_me" => false } };
    let add = "wamp.session.add_testament";
    let m = meta(
        &mut net,
        &mut dying,
        add,
        args!["com.will", args![1]],
        options,
    );
    assert!(matches!(m, Message::Result(_)));
    net.leave(&dying);
    assert!(net.recv(&dying).is_empty());
    assert_eq!(left(&mut net, &observer).len(), 1);
}

// ---- kill -----------------------------------------------------------------------------------

#[test]
fn kill_ends_the_session_with_the_reason_and_message() {
    let mut net = net();
    let mut admin = join_as(&mut net, "root", "admin");
    net.subscribe(&mut admin, "wamp.session.on_leave");
    let mut b = join_as(&mut net, "bob", "user");
    net.subscribe(&mut b, "com.topic");
    let options = kwargs! { "reason" => "com.example.kicked", "message" => "bye" };
    let kill = "wamp.session.kill";
    let (events, m) = call_meta(&mut net, &mut admin, kill, args![sid(&b)], options);
    assert!(
        matches!(&m, Message::Result(r) if r.payload.is_empty()),
        "{m:?}"
    );
    let g = goodbye(net.recv_one(&b));
    assert_eq!(g.reason.as_str(), "com.example.kicked");
    assert_eq!(g.details.message.as_deref(), Some("bye"));
    // on_leave went out with the kill, before the RESULT.
    assert_eq!(
        on_leave_args(events),
        [vec![sid(&b), "bob".into(), "user".into()]]
    );
    // The session is gone at once; its GOODBYE reply closes the transport.
    net.publish(&mut admin, "com.topic", PublishOptions::default(), args![]);
    assert!(net.recv(&b).is_empty());
    let m = meta(
        &mut net,
        &mut admin,
        "wamp.session.count",
        args![],
        kwargs! {},
    );
    assert_eq!(first(&m), 1.into());
    net.send(&b, Goodbye::new("wamp.close.goodbye_and_out"));
    assert!(net.is_closed(&b));
}

#[test]
fn kill_defaults_and_refusals() {
    let mut net = net();
    let mut admin = join_as(&mut net, "root", "admin");
    let b = join_as(&mut net, "bob", "user");
    let kill = "wamp.session.kill";
    // Not the caller itself: no *other* session has its ID.
    let me = sid(&admin);
    let m = meta(&mut net, &mut admin, kill, args![me], kwargs! {});
    assert_eq!(error(&m, "caller"), "wamp.error.no_such_session");
    let m = meta(&mut net, &mut admin, kill, args![777], kwargs! {});
    assert_eq!(error(&m, "777"), "wamp.error.no_such_session");
    for bad in [
        Value::from("com.example..bad uri"),
        Value::from(""),
        Value::from(5),
    ] {
        let m = meta(
            &mut net,
            &mut admin,
            kill,
            args![sid(&b)],
            kwargs! { "reason" => bad },
        );
        assert_eq!(error(&m, "reason"), "wamp.error.invalid_uri");
    }
    let m = meta(
        &mut net,
        &mut admin,
        kill,
        args![sid(&b)],
        kwargs! { "message" => 5 },
    );
    assert_eq!(
        error(&m, "message must be a string"),
        "wamp.error.invalid_argument"
    );
    let m = meta(&mut net, &mut admin, kill, args!["bob"], kwargs! {});
    assert_eq!(error(&m, "an ID"), "wamp.error.invalid_argument");
    // Nothing happened to anyone.
    assert!(net.recv(&b).is_empty());
    assert!(!net.is_closed(&admin));
    // Without keyword arguments: wamp.close.killed, no message.
    let m = meta(&mut net, &mut admin, kill, args![sid(&b)], kwargs! {});
    assert!(matches!(m, Message::Result(_)));
    let g = goodbye(net.recv_one(&b));
    assert_eq!(g.reason.as_str(), "wamp.close.killed");
    assert_eq!(g.details.message, None);
    // Twice: it is gone.
    let m = meta(&mut net, &mut admin, kill, args![sid(&b)], kwargs! {});
    assert_eq!(error(&m, "in this realm"), "wamp.error.no_such_session");
}

#[test]
fn kill_by_authid_returns_the_sessions_killed_but_never_the_caller() {
    let mut net = net();
    let mut joe = join_as(&mut net, "joe", "admin");
    let joe2 = join_as(&mut net, "joe", "user");
    let ann = join_as(&mut net, "ann", "user");
    let joe3 = join_as(&mut net, "joe", "admin");
    let by_authid = "wamp.session.kill_by_authid";
    let options = kwargs! { "reason" => "com.example.logout", "message" => "again" };
    let m = meta(&mut net, &mut joe, by_authid, args!["joe"], options);
    assert_eq!(first(&m), Value::List(vec![sid(&joe2), sid(&joe3)]));
    for c in [&joe2, &joe3] {
        let g = goodbye(net.recv_one(c));
        assert_eq!(g.reason.as_str(), "com.example.logout");
        assert_eq!(g.details.message.as_deref(), Some("again"));
    }
    assert!(net.recv(&ann).is_empty());
    let m = meta(&mut net, &mut joe, by_authid, args!["nobody"], kwargs! {});
    assert_eq!(first(&m), Value::List(vec![]));
    let m = meta(&mut net, &mut joe, by_authid, args![5], kwargs! {});
    assert_eq!(error(&m, "the authid"), "wamp.error.invalid_argument");
    let bad = kwargs! { "reason" => "not a uri" };
    let m = meta(&mut net, &mut joe, by_authid, args!["ann"], bad);
    assert_eq!(error(&m, "reason"), "wamp.error.invalid_uri");
    assert!(net.recv(&ann).is_empty());
}

#[test]
fn kill_by_authrole_returns_a_count_and_announces_each_departure() {
    let mut net = net();
    let mut admin = join_as(&mut net, "root", "user");
    net.subscribe(&mut admin, "wamp.session.on_leave");
    let a = join_as(&mut net, "a", "user");
    let b = join_as(&mut net, "b", "user");
    let c = join_as(&mut net, "c", "guest");
    let by_authrole = "wamp.session.kill_by_authrole";
    let (events, m) = call_meta(&mut net, &mut admin, by_authrole, args!["user"], kwargs! {});
    assert_eq!(first(&m), 2.into());
    for x in [&a, &b] {
        assert_eq!(
            goodbye(net.recv_one(x)).reason.as_str(),
            "wamp.close.killed"
        );
    }
    assert_eq!(
        on_leave_args(events),
        [
            vec![sid(&a), "a".into(), "user".into()],
            vec![sid(&b), "b".into(), "user".into()]
        ]
    );
    assert!(net.recv(&c).is_empty());
    let m = meta(&mut net, &mut admin, by_authrole, args![], kwargs! {});
    assert_eq!(error(&m, "the authrole"), "wamp.error.invalid_argument");
}

#[test]
fn kill_all_spares_the_caller_and_is_quiet() {
    let mut net = net();
    let mut admin = join_as(&mut net, "root", "admin");
    net.subscribe(&mut admin, "wamp.session.on_leave");
    net.subscribe(&mut admin, "com.will");
    let mut victims: Vec<Client> = (0..3)
        .map(|i| join_as(&mut net, &format!("v{i}"), "user"))
        .collect();
    for v in &mut victims {
        net.subscribe(v, "wamp.session.on_leave");
        let m = meta(
            &mut net,
            v,
            "wamp.session.add_testament",
            args!["com.will"],
            kwargs! {},
        );
        assert!(matches!(m, Message::Result(_)));
    }
    let options = kwargs! { "reason" => "com.example.maintenance", "message" => "later" };
    let m = meta(
        &mut net,
        &mut admin,
        "wamp.session.kill_all",
        args![],
        options,
    );
    // Only the RESULT: no on_leave, no testament.
    assert_eq!(first(&m), 3.into());
    for v in &victims {
        let g = goodbye(net.recv_one(v));
        assert_eq!(g.reason.as_str(), "com.example.maintenance");
        assert_eq!(g.details.message.as_deref(), Some("later"));
    }
    let m = meta(
        &mut net,
        &mut admin,
        "wamp.session.kill_all",
        args![],
        kwargs! {},
    );
    assert_eq!(first(&m), 0.into());
    // Later sessions are announced as usual.
    let late = join_as(&mut net, "late", "user");
    net.disconnect(&late);
    assert_eq!(left(&mut net, &admin).len(), 1);
}

#[test]
fn shutdown_is_quiet() {
    let mut net = net();
    // Shutdown ends sessions in connection order: the one with a testament goes first, so
    // the other would still be there to receive it.
    let mut b = join_as(&mut net, "b", "user");
    let add = "wamp.session.add_testament";
    let m = meta(&mut net, &mut b, add, args!["com.will"], kwargs! {});
    assert!(matches!(m, Message::Result(_)));
    let mut a = join_as(&mut net, "a", "user");
    net.subscribe(&mut a, "wamp.session.on_leave");
    net.subscribe(&mut a, "com.will");
    net.router.shutdown(net.now);
    net.pump();
    for c in [&a, &b] {
        assert_eq!(
            goodbye(net.recv_one(c)).reason.as_str(),
            "wamp.close.system_shutdown"
        );
    }
}

// ---- testaments -----------------------------------------------------------------------------

/// A subscriber of `com.will` and a session that will leave, in realm1.
fn testament_pair(net: &mut Net) -> (Client, Client) {
    let mut sub = join_as(net, "sub", "user");
    net.subscribe(&mut sub, "com.will");
    let dying = join_as(net, "dying", "trusted");
    (sub, dying)
}

fn add_testament(net: &mut Net, client: &mut Client, arg: &str, kwargs: Dict) {
    let m = meta(
        net,
        client,
        "wamp.session.add_testament",
        args!["com.will", args![arg], kwargs! { "my_name" => "app1" }],
        kwargs,
    );
    assert!(
        matches!(&m, Message::Result(r) if r.payload.is_empty()),
        "{m:?}"
    );
}

fn scope(scope: &str) -> Dict {
    kwargs! { "scope" => scope }
}

fn testament_args(net: &mut Net, sub: &Client) -> Vec<Value> {
    events(net, sub)
        .into_iter()
        .map(|e| e.payload.args()[0].clone())
        .collect()
}

#[test]
fn testament_is_published_on_goodbye_as_a_publication_of_the_session() {
    let mut net = net();
    let (sub, mut dying) = testament_pair(&mut net);
    add_testament(&mut net, &mut dying, "Seeya!", kwargs! {});
    assert!(net.recv(&sub).is_empty());
    net.leave(&dying);
    let got = events(&mut net, &sub);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].payload.args(), &args!["Seeya!"][..]);
    assert_eq!(
        got[0].payload.kwargs(),
        Some(&kwargs! { "my_name" => "app1" })
    );
    // The session's trust level (its authrole's).
    assert_eq!(got[0].details.trustlevel, Some(7));
}

#[test]
fn testament_is_published_when_the_transport_is_lost() {
    let mut net = net();
    let (sub, mut dying) = testament_pair(&mut net);
    add_testament(&mut net, &mut dying, "Seeya!", kwargs! {});
    net.disconnect(&dying);
    assert_eq!(testament_args(&mut net, &sub), args!["Seeya!"]);
}

#[test]
fn testament_is_published_when_killed() {
    let mut net = net();
    let (mut sub, mut dying) = testament_pair(&mut net);
    add_testament(&mut net, &mut dying, "killed", kwargs! {});
    let kill = "wamp.session.kill";
    let (events, m) = call_meta(&mut net, &mut sub, kill, args![sid(&dying)], kwargs! {});
    assert!(matches!(m, Message::Result(_)));
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].payload.args(), &args!["killed"][..]);
}

#[test]
fn testaments_go_out_in_order_detached_first_then_on_leave() {
    let mut net = net();
    let (mut sub, mut dying) = testament_pair(&mut net);
    let on_leave = net.subscribe(&mut sub, "wamp.session.on_leave");
    add_testament(&mut net, &mut dying, "destroyed 1", kwargs! {});
    add_testament(&mut net, &mut dying, "detached 1", scope("detached"));
    add_testament(&mut net, &mut dying, "destroyed 2", scope("destroyed"));
    add_testament(&mut net, &mut dying, "detached 2", scope("detached"));
    net.disconnect(&dying);
    let got = events(&mut net, &sub);
    let order: Vec<Value> = got
        .iter()
        .map(|e| {
            if e.subscription == on_leave {
                "on_leave".into()
            } else {
                e.payload.args()[0].clone()
            }
        })
        .collect();
    assert_eq!(
        order,
        args![
            "detached 1",
            "detached 2",
            "destroyed 1",
            "destroyed 2",
            "on_leave"
        ]
    );
    // Each is a publication of its own.
    let mut publications: Vec<_> = got.iter().map(|e| e.publication).collect();
    publications.dedup();
    assert_eq!(publications.len(), 5);
}

#[test]
fn testaments_keep_their_publish_options() {
    let mut net = net();
    let mut sub = join_as(&mut net, "sub", "user");
    let pattern = SubscribeOptions {
        match_policy: Some(nexus_core::MatchPolicy::Prefix),
        ..Default::default()
    };
    net.subscribe_with(&mut sub, "com", pattern);
    let mut dying = join_as(&mut net, "dying", "user");
    // acknowledge has nobody to answer: ignored.
    let options = kwargs! {
        "publish_options" => kwargs! { "acknowledge" => true, "x_custom" => 1 },
    };
    add_testament(&mut net, &mut dying, "ack", options);
    net.leave(&dying);
    let got = events(&mut net, &sub);
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].details.topic.as_ref().map(|t| t.as_str()),
        Some("com.will")
    );
    assert_eq!(got[0].details.trustlevel, Some(0));
}

#[test]
fn flush_testaments_drops_one_scope() {
    let mut net = net();
    let (sub, mut dying) = testament_pair(&mut net);
    add_testament(&mut net, &mut dying, "a", kwargs! {});
    add_testament(&mut net, &mut dying, "b", scope("destroyed"));
    add_testament(&mut net, &mut dying, "kept", scope("detached"));
    let flush = "wamp.session.flush_testaments";
    // The default scope is destroyed; the result says how many were dropped.
    let m = meta(&mut net, &mut dying, flush, args![], kwargs! {});
    assert_eq!(first(&m), 2.into());
    let m = meta(&mut net, &mut dying, flush, args![], scope("destroyed"));
    assert_eq!(first(&m), 0.into());
    let m = meta(&mut net, &mut dying, flush, args![], scope("forever"));
    assert_eq!(error(&m, "scope"), "wamp.error.invalid_argument");
    net.disconnect(&dying);
    assert_eq!(testament_args(&mut net, &sub), args!["kept"]);
}

#[test]
fn flushing_both_scopes_leaves_nothing_to_publish() {
    let mut net = net();
    let (sub, mut dying) = testament_pair(&mut net);
    add_testament(&mut net, &mut dying, "a", scope("detached"));
    add_testament(&mut net, &mut dying, "b", scope("destroyed"));
    let flush = "wamp.session.flush_testaments";
    let m = meta(&mut net, &mut dying, flush, args![], scope("detached"));
    assert_eq!(first(&m), 1.into());
    let m = meta(&mut net, &mut dying, flush, args![], scope("destroyed"));
    assert_eq!(first(&m), 1.into());
    net.leave(&dying);
    assert!(net.recv(&sub).is_empty());
}

#[test]
fn testaments_are_bounded_per_session() {
    let mut net = net_with(3);
    let (sub, mut dying) = testament_pair(&mut net);
    add_testament(&mut net, &mut dying, "1", kwargs! {});
    add_testament(&mut net, &mut dying, "2", scope("detached"));
    add_testament(&mut net, &mut dying, "3", kwargs! {});
    let add = "wamp.session.add_testament";
    let m = meta(
        &mut net,
        &mut dying,
        add,
        args!["com.will", args!["4"]],
        kwargs! {},
    );
    assert_eq!(error(&m, "3 testaments"), "wamp.error.invalid_argument");
    // Flushing makes room again.
    let m = meta(
        &mut net,
        &mut dying,
        "wamp.session.flush_testaments",
        args![],
        kwargs! {},
    );
    assert_eq!(first(&m), 2.into());
    add_testament(&mut net, &mut dying, "5", kwargs! {});
    net.disconnect(&dying);
    assert_eq!(testament_args(&mut net, &sub), args!["2", "5"]);
}

#[test]
fn add_testament_checks_its_arguments() {
    let mut net = net();
    let (sub, mut dying) = testament_pair(&mut net);
    let add = "wamp.session.add_testament";
    let cases: Vec<(Vec<Value>, Dict, &str, &str)> = vec![
        (args![], kwargs! {}, "wamp.error.invalid_argument", "topic"),
        (args![5], kwargs! {}, "wamp.error.invalid_argument", "topic"),
        (
            args!["com..will"],
            kwargs! {},
            "wamp.error.invalid_uri",
            "empty",
        ),
        (
            args!["com.will it"],
            kwargs! {},
            "wamp.error.invalid_uri",
            "whitespace",
        ),
        (
            args!["wamp.session.on_leave"],
            kwargs! {},
            "wamp.error.not_authorized",
            "reserved",
        ),
        (
            args!["com.will", "x"],
            kwargs! {},
            "wamp.error.invalid_argument",
            "a list",
        ),
        (
            args!["com.will", args![], 1],
            kwargs! {},
            "wamp.error.invalid_argument",
            "a dict",
        ),
        (
            args!["com.will"],
            kwargs! { "publish_options" => 1 },
            "wamp.error.invalid_argument",
            "publish_options",
        ),
        (
            args!["com.will"],
            kwargs! { "publish_options" => kwargs! { "acknowledge" => 1 } },
            "wamp.error.invalid_argument",
            "publish_options.acknowledge",
        ),
        (
            args!["com.will"],
            kwargs! { "publish_options" => kwargs! { "ppt_scheme" => "x_custom" } },
            "wamp.error.invalid_argument",
            "payload_passthru_mode",
        ),
        (
            args!["com.will"],
            scope("forever"),
            "wamp.error.invalid_argument",
            "scope",
        ),
        (
            args!["com.will"],
            kwargs! { "scope" => 1 },
            "wamp.error.invalid_argument",
            "scope",
        ),
    ];
    for (args, kwargs, uri, mentions) in cases {
        let m = meta(&mut net, &mut dying, add, args.clone(), kwargs);
        assert_eq!(error(&m, mentions), uri, "{args:?}");
    }
    // None of them was stored; null args and kwargs are empty ones.
    let m = meta(
        &mut net,
        &mut dying,
        add,
        args!["com.will", Value::Null, Value::Null],
        kwargs! {},
    );
    assert!(matches!(m, Message::Result(_)));
    net.leave(&dying);
    let got = events(&mut net, &sub);
    assert_eq!(got.len(), 1);
    assert!(got[0].payload.is_empty());
}

#[test]
fn testaments_belong_to_the_session_not_the_transport() {
    let mut net = net();
    let (sub, mut dying) = testament_pair(&mut net);
    add_testament(&mut net, &mut dying, "first life", kwargs! {});
    net.leave(&dying);
    assert_eq!(testament_args(&mut net, &sub), args!["first life"]);
    // A new session on the same transport starts with none.
    net.send(&dying, Net::hello("realm1", all_roles()));
    let request = net.auth.pop().unwrap();
    net.router
        .resolve_authentication(
            net.now,
            request.connection,
            AuthDecision::Welcome(Identity {
                authid: "again".into(),
                authrole: "user".into(),
                ..Default::default()
            }),
        )
        .unwrap();
    net.pump();
    assert!(matches!(net.recv_one(&dying), Message::Welcome(_)));
    net.disconnect(&dying);
    assert!(net.recv(&sub).is_empty());
}

// ---- robustness -----------------------------------------------------------------------------

#[test]
fn every_procedure_answers_whatever_its_arguments() {
    let mut net = net();
    let mut caller = join_as(&mut net, "root", "admin");
    let procedures = [
        "wamp.session.count",
        "wamp.session.list",
        "wamp.session.get",
        "wamp.session.kill",
        "wamp.session.kill_by_authid",
        "wamp.session.kill_by_authrole",
        "wamp.session.kill_all",
        "wamp.session.add_testament",
        "wamp.session.flush_testaments",
    ];
    let values = [
        Value::Null,
        Value::from(true),
        Value::from(-1),
        Value::from(u64::MAX),
        Value::from(1.5),
        Value::from(""),
        Value::from("com.x"),
        Value::List(vec![Value::Null, Value::from(vec!["a"])]),
        Value::Dict(kwargs! { "k" => Value::List(vec![]) }),
        Value::from(caller.session.unwrap()),
    ];
    for procedure in procedures {
        for (i, v) in values.iter().enumerate() {
            let w = &values[(i + 3) % values.len()];
            let kwargs = kwargs! {
                "reason" => v.clone(),
                "message" => w.clone(),
                "scope" => v.clone(),
                "publish_options" => w.clone(),
            };
            for args in [vec![v.clone()], vec![w.clone(), v.clone(), w.clone()]] {
                let (_, m) = call_meta(&mut net, &mut caller, procedure, args, kwargs.clone());
                assert!(matches!(m, Message::Result(_) | Message::Error(_)));
                assert!(!net.is_closed(&caller));
            }
        }
    }
    let m = meta(
        &mut net,
        &mut caller,
        "wamp.session.count",
        args![],
        kwargs! {},
    );
    assert_eq!(first(&m), 1.into());
}
