//! Subscription features kept by the broker: the subscription meta API, subscription
//! revocation, event history and event retention.

use nexus_tokio::nexus_core::features as f;
use nexus_tokio::nexus_core::kwargs;

use super::*;

pub(super) fn scenarios() -> Vec<Scenario> {
    vec![
        a!(f::SUBSCRIPTION_META_API, "broker", subscription_list, "Subscription meta API (§ meta_api_subscriptions): wamp.subscription.list returns {exact, prefix, wildcard} lists of subscription IDs, each subscription under its match policy"),
        a!(f::SUBSCRIPTION_META_API, "broker", subscription_lookup_and_match, "Subscription meta API (§ meta_api_subscriptions): wamp.subscription.lookup(topic, options) returns the subscription under that match policy or null; wamp.subscription.match(topic) returns the list of every matching subscription (or null)"),
        a!(f::SUBSCRIPTION_META_API, "broker", subscription_get, "Subscription meta API (§ meta_api_subscriptions): wamp.subscription.get returns {id, created, uri, match}; an unknown ID gets ERROR wamp.error.no_such_subscription"),
        a!(f::SUBSCRIPTION_META_API, "broker", subscription_subscribers, "Subscription meta API (§ meta_api_subscriptions): wamp.subscription.list_subscribers and count_subscribers give the sessions attached to a subscription; an unknown ID gets ERROR wamp.error.no_such_subscription"),
        a!(f::SUBSCRIPTION_META_API, "broker", subscription_on_create_and_on_subscribe, "Subscription meta API (§ meta_api_subscriptions, events): a first SUBSCRIBE publishes wamp.subscription.on_create(session, {id, uri, match...}), then wamp.subscription.on_subscribe(session, id)"),
        a!(f::SUBSCRIPTION_META_API, "broker", subscription_on_unsubscribe_and_on_delete, "Subscription meta API (§ meta_api_subscriptions, events): removing the last subscriber publishes wamp.subscription.on_unsubscribe(session, id), then wamp.subscription.on_delete(session, id)"),
        a!(f::SUBSCRIPTION_REVOCATION, "broker", revoked_subscriber_gets_unsubscribed, "Subscription revocation (§ pubsub_subscription_revocation): a subscription revoked by the router (here through wamp.subscription.remove_subscriber) is announced to a subscriber that supports the feature as [UNSUBSCRIBED, 0, {subscription}], and its events stop (passes without checking when the router offers no way to revoke from outside)"),
        a!(f::SUBSCRIPTION_REVOCATION, "broker", subscription_revocation_is_silent_without_feature, "Subscription revocation (§ pubsub_subscription_revocation): a subscriber that did not announce subscription_revocation gets no UNSUBSCRIBED when its subscription is revoked, only no more events (passes without checking when the router offers no way to revoke from outside)"),
        a!(f::EVENT_HISTORY, "broker", history_returns_stored_events, "Event history (§ pubsub_event_history): wamp.subscription.get_events(subscription) returns the subscription's events in order of occurrence, each {timestamp, subscription, publication, details, args, kwargs} (history is configured per topic: an empty list, ERROR wamp.error.history_unavailable or ERROR wamp.error.not_authorized are accepted)"),
        a!(f::EVENT_HISTORY, "broker", history_reverse_and_limit, "Event history (§ pubsub_event_history): reverse returns the events newest first; limit caps their number (checked when the router keeps history for the topic)"),
        a!(f::EVENT_HISTORY, "broker", history_publication_filters, "Event history (§ pubsub_event_history): from_publication and until_publication include the given event, after_publication and before_publication exclude it, and filters combine with AND (checked when the router keeps history for the topic)"),
        a!(f::EVENT_RETENTION, "broker", get_retained_delivers_retained_event, "Event retention (§ pubsub_event_retention): after a PUBLISH with retain, a SUBSCRIBE with get_retained gets that event with EVENT.Details.retained = true (a broker may decline retention on some topics; this expects it on a plain application topic)"),
        a!(f::EVENT_RETENTION, "broker", no_retained_event_without_get_retained, "Event retention (§ pubsub_event_retention): a missing get_retained means false: the subscriber gets no retained event, and live events are not marked retained"),
        a!(f::EVENT_RETENTION, "broker", most_recent_retained_event, "Event retention (§ pubsub_event_retention): the broker sends the most recent retained event only"),
        a!(f::EVENT_RETENTION, "broker", unretained_publish_keeps_retained_event, "Event retention (§ pubsub_event_retention): a missing retain means false: a later PUBLISH without retain does not replace the retained event"),
        a!(f::EVENT_RETENTION, "broker", ineligible_retained_event_not_sent, "Event retention (§ pubsub_event_retention): a retained event is not sent to a subscriber that would not have been eligible for it (checked when the broker also announces subscriber_blackwhite_listing)"),
    ]
}

// ---- subscription_meta_api ------------------------------------------------------------------

const NO_SUCH_SUBSCRIPTION: &str = "wamp.error.no_such_subscription";

fn unknown_id() -> SubscriptionId {
    SubscriptionId::new(4_503_599_627_370_449).unwrap_or(SubscriptionId::MAX)
}

fn check_id(r: &CallResult, expected: SubscriptionId, what: &str) -> Result<(), Failure> {
    check(
        first(r).as_u64() == Some(expected.get()),
        format!("{what}: {expected}"),
        format!("{:?}", r.payload.args()),
    )
}

fn check_null(r: &CallResult, what: &str) -> Result<(), Failure> {
    check(
        first(r).is_null(),
        format!("{what}: null"),
        format!("{:?}", r.payload.args()),
    )
}

/// Subscribes `root.exact` and, when the broker supports patterns, `root.pfx` (prefix) and
/// `root..wc` (wildcard).
async fn three_subscriptions(
    sub: &mut Peer,
    root: &str,
) -> Result<
    (
        SubscriptionId,
        Option<SubscriptionId>,
        Option<SubscriptionId>,
    ),
    Failure,
> {
    let exact = subscribe(sub, &format!("{root}.exact")).await?;
    if !announces(sub, "broker", f::PATTERN_BASED_SUBSCRIPTION) {
        return Ok((exact, None, None));
    }
    let prefix =
        subscribe_with(sub, &format!("{root}.pfx"), sub_match(MatchPolicy::Prefix)).await?;
    let wildcard = subscribe_with(
        sub,
        &format!("{root}..wc"),
        sub_match(MatchPolicy::Wildcard),
    )
    .await?;
    Ok((exact, Some(prefix), Some(wildcard)))
}

async fn expect_no_such(admin: &mut Peer, procedure: &str) -> Result<(), Failure> {
    match meta_reply(admin, procedure, args![unknown_id()], kwargs! {}).await? {
        Err(e) if e.error == NO_SUCH_SUBSCRIPTION => Ok(()),
        Err(e) => Err(Failure::new(
            format!("{procedure}: ERROR {NO_SUCH_SUBSCRIPTION}"),
            show_error(&e),
        )),
        Ok(r) => Err(Failure::new(
            format!("{procedure}: ERROR {NO_SUCH_SUBSCRIPTION}"),
            show_result(&r),
        )),
    }
}

async fn subscription_list(t: Target) -> Result<(), Failure> {
    let mut sub = Peer::join(&t).await?;
    let mut admin = Peer::join(&t).await?;
    let root = unique(&sub, "slist");
    let (exact, prefix, wildcard) = three_subscriptions(&mut sub, &root).await?;
    let r = meta(&mut admin, "wamp.subscription.list", args![], kwargs! {}).await?;
    let lists = first(&r);
    for (policy, id) in [
        ("exact", Some(exact)),
        ("prefix", prefix),
        ("wildcard", wildcard),
    ] {
        let Some(id) = id else { continue };
        check(
            ids(&lists[policy]).is_some_and(|l| l.contains(&id.get())),
            format!("subscription {id} in the {policy} list"),
            format!("{lists:?}"),
        )?;
    }
    for policy in ["prefix", "wildcard"] {
        check(
            ids(&lists[policy]).is_none_or(|l| !l.contains(&exact.get())),
            format!("the exact subscription {exact} only in the exact list"),
            format!("{lists:?}"),
        )?;
    }
    Ok(())
}

/// The subscription IDs `wamp.subscription.match` returned (null: none).
fn matched(r: &CallResult) -> Result<Vec<u64>, Failure> {
    let v = first(r);
    if v.is_null() {
        return Ok(Vec::new());
    }
    ids(&v).ok_or_else(|| {
        Failure::new(
            "a list of subscription IDs (or null)",
            format!("{:?}", r.payload.args()),
        )
    })
}

async fn subscription_lookup_and_match(t: Target) -> Result<(), Failure> {
    let mut sub = Peer::join(&t).await?;
    let mut admin = Peer::join(&t).await?;
    let root = unique(&sub, "slookup");
    let (exact, prefix, wildcard) = three_subscriptions(&mut sub, &root).await?;
    let ours: Vec<u64> = [Some(exact), prefix, wildcard]
        .iter()
        .flatten()
        .map(|i| i.get())
        .collect();
    let lookup = "wamp.subscription.lookup";
    let matching = "wamp.subscription.match";
    let r = meta(
        &mut admin,
        lookup,
        args![format!("{root}.exact")],
        kwargs! {},
    )
    .await?;
    check_id(&r, exact, "lookup of the exact subscription")?;
    let r = meta(
        &mut admin,
        lookup,
        args![format!("{root}.none")],
        kwargs! {},
    )
    .await?;
    check_null(&r, "lookup of a topic nobody subscribed")?;
    let r = meta(
        &mut admin,
        matching,
        args![format!("{root}.exact")],
        kwargs! {},
    )
    .await?;
    let got = matched(&r)?;
    check(
        got.contains(&exact.get()) && ours.iter().filter(|i| got.contains(i)).count() == 1,
        format!("match of {root}.exact: a list with {exact} and none of our other subscriptions"),
        format!("{got:?}"),
    )?;
    let r = meta(
        &mut admin,
        matching,
        args![format!("{root}.none")],
        kwargs! {},
    )
    .await?;
    let got = matched(&r)?;
    check(
        !ours.iter().any(|i| got.contains(i)),
        format!("match of {root}.none: none of our subscriptions"),
        format!("{got:?}"),
    )?;
    if let (Some(prefix), Some(wildcard)) = (prefix, wildcard) {
        let r = meta(
            &mut admin,
            lookup,
            args![format!("{root}.pfx"), kwargs! { "match" => "prefix" }],
            kwargs! {},
        )
        .await?;
        check_id(&r, prefix, "lookup with match prefix")?;
        let r = meta(
            &mut admin,
            lookup,
            args![format!("{root}..wc"), kwargs! { "match" => "wildcard" }],
            kwargs! {},
        )
        .await?;
        check_id(&r, wildcard, "lookup with match wildcard")?;
        let r = meta(&mut admin, lookup, args![format!("{root}.pfx")], kwargs! {}).await?;
        check_null(&r, "lookup of a prefix pattern under the exact policy")?;
        // root.pfx.wc matches the prefix and the wildcard subscription, not the exact one.
        let r = meta(
            &mut admin,
            matching,
            args![format!("{root}.pfx.wc")],
            kwargs! {},
        )
        .await?;
        let got = matched(&r)?;
        check(
            got.contains(&prefix.get())
                && got.contains(&wildcard.get())
                && !got.contains(&exact.get()),
            format!("match of {root}.pfx.wc: a list with {prefix} and {wildcard}, without {exact}"),
            format!("{got:?}"),
        )?;
    }
    Ok(())
}

async fn subscription_get(t: Target) -> Result<(), Failure> {
    let mut sub = Peer::join(&t).await?;
    let mut admin = Peer::join(&t).await?;
    let root = unique(&sub, "sget");
    let (exact, prefix, _) = three_subscriptions(&mut sub, &root).await?;
    let (id, topic, policy) = match prefix {
        Some(p) => (p, format!("{root}.pfx"), "prefix"),
        None => (exact, format!("{root}.exact"), "exact"),
    };
    let r = meta(&mut admin, "wamp.subscription.get", args![id], kwargs! {}).await?;
    let d = first(&r);
    check(
        d["id"].as_u64() == Some(id.get())
            && d["uri"].as_str() == Some(topic.as_str())
            && d["match"].as_str() == Some(policy)
            && d["created"].as_str().is_some(),
        format!("{{id: {id}, created: <string>, uri: {topic}, match: {policy}}}"),
        format!("{d:?}"),
    )?;
    expect_no_such(&mut admin, "wamp.subscription.get").await
}

async fn subscription_subscribers(t: Target) -> Result<(), Failure> {
    let mut a = Peer::join(&t).await?;
    let mut b = Peer::join(&t).await?;
    let mut admin = Peer::join(&t).await?;
    let topic = unique(&a, "ssubscribers");
    let subscription = subscribe(&mut a, &topic).await?;
    subscribe(&mut b, &topic).await?;
    let expected = [session(&a).get(), session(&b).get()];
    let r = meta(
        &mut admin,
        "wamp.subscription.list_subscribers",
        args![subscription],
        kwargs! {},
    )
    .await?;
    let listed = ids(&first(&r)).unwrap_or_default();
    check(
        expected.iter().all(|s| listed.contains(s)) && listed.len() == 2,
        format!("subscribers {expected:?}"),
        format!("{:?}", r.payload.args()),
    )?;
    let r = meta(
        &mut admin,
        "wamp.subscription.count_subscribers",
        args![subscription],
        kwargs! {},
    )
    .await?;
    check(
        first(&r).as_u64() == Some(2),
        "count 2",
        format!("{:?}", r.payload.args()),
    )?;
    expect_no_such(&mut admin, "wamp.subscription.list_subscribers").await?;
    expect_no_such(&mut admin, "wamp.subscription.count_subscribers").await
}

fn check_session_and_id(
    e: &Event,
    topic: &str,
    session: SessionId,
    id: SubscriptionId,
) -> Result<(), Failure> {
    let args = e.payload.args();
    check(
        args.first().and_then(Value::as_u64) == Some(session.get())
            && args.get(1).and_then(Value::as_u64) == Some(id.get()),
        format!("{topic}({session}, {id})"),
        format!("{topic}{args:?}"),
    )
}

async fn subscription_on_create_and_on_subscribe(t: Target) -> Result<(), Failure> {
    let mut observer = Peer::join(&t).await?;
    let mut sub = Peer::join(&t).await?;
    let on_create = subscribe(&mut observer, "wamp.subscription.on_create").await?;
    let on_subscribe = subscribe(&mut observer, "wamp.subscription.on_subscribe").await?;
    let topic = unique(&sub, "screated");
    let subscription = subscribe(&mut sub, &topic).await?;
    let is_created = |e: &Event| {
        e.subscription == on_create
            && e.payload
                .args()
                .get(1)
                .is_some_and(|d| d["uri"].as_str() == Some(topic.as_str()))
    };
    let is_subscribed = |e: &Event| {
        e.subscription == on_subscribe
            && e.payload.args().get(1).and_then(Value::as_u64) == Some(subscription.get())
    };
    let created = event_where(
        &mut observer,
        "wamp.subscription.on_create for the new subscription",
        100,
        |e| is_created(e) || is_subscribed(e),
    )
    .await?;
    check(
        is_created(&created),
        "wamp.subscription.on_create before wamp.subscription.on_subscribe",
        "wamp.subscription.on_subscribe first",
    )?;
    let args = created.payload.args();
    let details = args.get(1).cloned().unwrap_or_default();
    check(
        args.first().and_then(Value::as_u64) == Some(session(&sub).get())
            && details["id"].as_u64() == Some(subscription.get())
            && details["match"].as_str() == Some("exact"),
        format!("wamp.subscription.on_create({}, {{id: {subscription}, uri: {topic}, match: exact...}})", session(&sub)),
        format!("{args:?}"),
    )?;
    let subscribed = event_where(
        &mut observer,
        "wamp.subscription.on_subscribe after on_create",
        100,
        is_subscribed,
    )
    .await?;
    check_session_and_id(
        &subscribed,
        "wamp.subscription.on_subscribe",
        session(&sub),
        subscription,
    )
}

async fn subscription_on_unsubscribe_and_on_delete(t: Target) -> Result<(), Failure> {
    let mut observer = Peer::join(&t).await?;
    let mut sub = Peer::join(&t).await?;
    let on_unsubscribe = subscribe(&mut observer, "wamp.subscription.on_unsubscribe").await?;
    let on_delete = subscribe(&mut observer, "wamp.subscription.on_delete").await?;
    let topic = unique(&sub, "sdeleted");
    let subscription = subscribe(&mut sub, &topic).await?;
    let request = sub.next_id();
    sub.send(Unsubscribe {
        request,
        subscription,
    })
    .await?;
    want!(sub, "UNSUBSCRIBED", Message::Unsubscribed(_) => ());
    let ours =
        |e: &Event| e.payload.args().get(1).and_then(Value::as_u64) == Some(subscription.get());
    let unsubscribed = event_where(
        &mut observer,
        "wamp.subscription.on_unsubscribe for the subscription",
        100,
        |e| (e.subscription == on_unsubscribe || e.subscription == on_delete) && ours(e),
    )
    .await?;
    check(
        unsubscribed.subscription == on_unsubscribe,
        "wamp.subscription.on_unsubscribe before wamp.subscription.on_delete",
        "wamp.subscription.on_delete first",
    )?;
    check_session_and_id(
        &unsubscribed,
        "wamp.subscription.on_unsubscribe",
        session(&sub),
        subscription,
    )?;
    let deleted = event_where(
        &mut observer,
        "wamp.subscription.on_delete for the subscription",
        100,
        |e| e.subscription == on_delete && ours(e),
    )
    .await?;
    check_session_and_id(
        &deleted,
        "wamp.subscription.on_delete",
        session(&sub),
        subscription,
    )
}

// ---- subscription_revocation ----------------------------------------------------------------

const REMOVE_SUBSCRIBER: &str = "wamp.subscription.remove_subscriber";

/// A subscriber of `topic` and of a marker topic, a publisher and an administrator; returns
/// them with the subscription of `topic` and the marker topic.
async fn revocation_setup(
    t: &Target,
    roles: ClientRoles,
) -> Result<(Peer, Peer, Peer, SubscriptionId, String, String), Failure> {
    let mut sub = Peer::join_with(t, roles).await?;
    let p = Peer::join(t).await?;
    let admin = Peer::join(t).await?;
    let topic = unique(&sub, "revoked");
    let marker = unique(&sub, "revoked.marker");
    let subscription = subscribe(&mut sub, &topic).await?;
    subscribe(&mut sub, &marker).await?;
    Ok((sub, p, admin, subscription, topic, marker))
}

async fn revoked_subscriber_gets_unsubscribed(t: Target) -> Result<(), Failure> {
    let (mut sub, mut p, mut admin, subscription, topic, marker) =
        revocation_setup(&t, all_roles()).await?;
    if !revoke(
        &mut admin,
        REMOVE_SUBSCRIBER,
        subscription.id(),
        session(&sub),
    )
    .await?
    {
        return Ok(());
    }
    let u = want!(sub, "UNSUBSCRIBED [35, 0, {subscription}]", Message::Unsubscribed(u) => u);
    check(
        u.request.is_none() && u.details.subscription == Some(subscription),
        format!("[UNSUBSCRIBED, 0, {{subscription: {subscription}}}]"),
        format!(
            "UNSUBSCRIBED {:?} {:?}",
            u.request.map(RequestId::get),
            u.details
        ),
    )?;
    publish(&mut p, &topic, PublishOptions::default(), args!["revoked"]).await?;
    send_marker(&mut p, &marker).await?;
    expect_marker(
        &mut sub,
        "the revoked subscriber",
        "a revoked subscription gets no events",
    )
    .await
    .map(|_| ())
}

async fn subscription_revocation_is_silent_without_feature(t: Target) -> Result<(), Failure> {
    let roles = roles_without(&[f::SUBSCRIPTION_REVOCATION]);
    let (mut sub, mut p, mut admin, subscription, topic, marker) =
        revocation_setup(&t, roles).await?;
    if !revoke(
        &mut admin,
        REMOVE_SUBSCRIBER,
        subscription.id(),
        session(&sub),
    )
    .await?
    {
        return Ok(());
    }
    publish(&mut p, &topic, PublishOptions::default(), args!["revoked"]).await?;
    send_marker(&mut p, &marker).await?;
    expect_marker(
        &mut sub,
        "the revoked subscriber",
        "no UNSUBSCRIBED without subscription_revocation, and no more events",
    )
    .await
    .map(|_| ())
}

// ---- event_history --------------------------------------------------------------------------

/// A subscription with three acknowledged publications (`["h0"]`, `["h1"]`, `["h2"]`)
/// delivered, and an administrator to query the history; the subscriber is returned to keep
/// the subscription.
async fn history_setup(t: &Target) -> Result<(Peer, Peer, SubscriptionId, Vec<u64>), Failure> {
    let mut sub = Peer::join(t).await?;
    let mut p = Peer::join(t).await?;
    let admin = Peer::join(t).await?;
    let topic = unique(&sub, "history");
    let subscription = subscribe(&mut sub, &topic).await?;
    let mut publications = Vec::new();
    for i in 0..3 {
        let arg = format!("h{i}");
        publications.push(
            publish_ack(
                &mut p,
                &topic,
                PublishOptions::default(),
                args![arg.as_str()],
            )
            .await?
            .get(),
        );
        expect_event_arg(&mut sub, &arg, "the subscriber").await?;
    }
    Ok((admin, sub, subscription, publications))
}

/// The events `wamp.subscription.get_events` returns; `None` when the call is not authorized.
async fn get_events(
    admin: &mut Peer,
    subscription: SubscriptionId,
    filters: Dict,
) -> Result<Option<Vec<Value>>, Failure> {
    let procedure = "wamp.subscription.get_events";
    match meta_reply(admin, procedure, args![subscription], filters).await? {
        Ok(r) => match first(&r) {
            Value::Null => Ok(Some(Vec::new())),
            Value::List(events) => Ok(Some(events)),
            other => Err(Failure::new(
                format!("{procedure}: a list of events"),
                format!("{other:?}"),
            )),
        },
        // Prohibited (the spec's error), or history not kept for this subscription (the
        // error some routers answer then).
        Err(e)
            if e.error == "wamp.error.not_authorized"
                || e.error == "wamp.error.history_unavailable" =>
        {
            Ok(None)
        }
        Err(e) => Err(Failure::new(
            format!("RESULT of {procedure}"),
            show_error(&e),
        )),
    }
}

fn publications_of(events: &[Value]) -> Vec<u64> {
    events
        .iter()
        .map(|e| e["publication"].as_u64().unwrap_or(0))
        .collect()
}

/// The history with no filter, `None` when the router keeps none for the topic.
async fn full_history(
    admin: &mut Peer,
    subscription: SubscriptionId,
) -> Result<Option<Vec<Value>>, Failure> {
    Ok(get_events(admin, subscription, kwargs! {})
        .await?
        .filter(|events| !events.is_empty()))
}

async fn history_returns_stored_events(t: Target) -> Result<(), Failure> {
    let (mut admin, _sub, subscription, publications) = history_setup(&t).await?;
    let Some(events) = full_history(&mut admin, subscription).await? else {
        return Ok(());
    };
    check(
        publications_of(&events) == publications,
        format!("publications {publications:?} in order of occurrence"),
        format!("{:?}", publications_of(&events)),
    )?;
    for (i, e) in events.iter().enumerate() {
        check(
            e["timestamp"].as_str().is_some()
                && e["subscription"].as_u64() == Some(subscription.get())
                && e["args"][0].as_str() == Some(format!("h{i}").as_str()),
            format!("{{timestamp: <RFC 3339 string>, subscription: {subscription}, args: [\"h{i}\"]...}}"),
            format!("{e:?}"),
        )?;
    }
    Ok(())
}

async fn history_reverse_and_limit(t: Target) -> Result<(), Failure> {
    let (mut admin, _sub, subscription, publications) = history_setup(&t).await?;
    if full_history(&mut admin, subscription).await?.is_none() {
        return Ok(());
    }
    let reversed: Vec<u64> = publications.iter().rev().copied().collect();
    let events = get_events(&mut admin, subscription, kwargs! { "reverse" => true })
        .await?
        .unwrap_or_default();
    check(
        publications_of(&events) == reversed,
        format!("reverse: publications {reversed:?}"),
        format!("{:?}", publications_of(&events)),
    )?;
    let events = get_events(&mut admin, subscription, kwargs! { "limit" => 2 })
        .await?
        .unwrap_or_default();
    let got = publications_of(&events);
    check(
        (1..=2).contains(&got.len())
            && got.windows(2).all(|w| {
                let at = |p| publications.iter().position(|&x| x == p);
                at(w[0]) < at(w[1])
            })
            && got.iter().all(|p| publications.contains(p)),
        format!("limit 2: at most two of {publications:?}, in order of occurrence"),
        format!("{got:?}"),
    )
}

async fn history_publication_filters(t: Target) -> Result<(), Failure> {
    let (mut admin, _sub, subscription, p) = history_setup(&t).await?;
    if full_history(&mut admin, subscription).await?.is_none() {
        return Ok(());
    }
    let cases = [
        (
            "after_publication",
            kwargs! { "after_publication" => p[0] },
            vec![p[1], p[2]],
        ),
        (
            "from_publication",
            kwargs! { "from_publication" => p[1] },
            vec![p[1], p[2]],
        ),
        (
            "before_publication",
            kwargs! { "before_publication" => p[2] },
            vec![p[0], p[1]],
        ),
        (
            "until_publication",
            kwargs! { "until_publication" => p[1] },
            vec![p[0], p[1]],
        ),
        (
            "from_publication and until_publication",
            kwargs! { "from_publication" => p[1], "until_publication" => p[1] },
            vec![p[1]],
        ),
    ];
    for (what, filters, expected) in cases {
        let events = get_events(&mut admin, subscription, filters)
            .await?
            .unwrap_or_default();
        check(
            publications_of(&events) == expected,
            format!("{what}: publications {expected:?}"),
            format!("{:?}", publications_of(&events)),
        )?;
    }
    Ok(())
}

// ---- event_retention ------------------------------------------------------------------------

fn retain() -> PublishOptions {
    PublishOptions {
        retain: Some(true),
        ..Default::default()
    }
}

fn get_retained() -> SubscribeOptions {
    SubscribeOptions {
        get_retained: Some(true),
        ..Default::default()
    }
}

/// Subscribes with get_retained and expects the retained event `["arg"]`.
async fn expect_retained(sub: &mut Peer, topic: &str, arg: &str) -> Result<(), Failure> {
    let subscription = subscribe_with(sub, topic, get_retained()).await?;
    let e = expect_event_arg(sub, arg, "the new subscriber").await?;
    check(
        e.subscription == subscription && e.details.retained == Some(true),
        format!("the retained EVENT [{arg:?}] for subscription {subscription} with Details.retained = true"),
        show_event(&e),
    )
}

async fn get_retained_delivers_retained_event(t: Target) -> Result<(), Failure> {
    let mut p = Peer::join(&t).await?;
    let mut sub = Peer::join(&t).await?;
    let topic = unique(&p, "retained");
    publish_ack(&mut p, &topic, retain(), args!["retained"]).await?;
    expect_retained(&mut sub, &topic, "retained").await
}

async fn no_retained_event_without_get_retained(t: Target) -> Result<(), Failure> {
    let mut p = Peer::join(&t).await?;
    let mut sub = Peer::join(&t).await?;
    let topic = unique(&p, "notretained");
    publish_ack(&mut p, &topic, retain(), args!["retained"]).await?;
    subscribe(&mut sub, &topic).await?;
    send_marker(&mut p, &topic).await?;
    let e = expect_marker(
        &mut sub,
        "the subscriber",
        "no retained event without get_retained",
    )
    .await?;
    check(
        e.details.retained != Some(true),
        "a live EVENT without retained = true",
        show_event(&e),
    )
}

async fn most_recent_retained_event(t: Target) -> Result<(), Failure> {
    let mut p = Peer::join(&t).await?;
    let mut sub = Peer::join(&t).await?;
    let topic = unique(&p, "latest");
    publish_ack(&mut p, &topic, retain(), args!["older"]).await?;
    publish_ack(&mut p, &topic, retain(), args!["newer"]).await?;
    expect_retained(&mut sub, &topic, "newer").await?;
    send_marker(&mut p, &topic).await?;
    expect_marker(
        &mut sub,
        "the new subscriber",
        "only the most recent retained event",
    )
    .await
    .map(|_| ())
}

async fn unretained_publish_keeps_retained_event(t: Target) -> Result<(), Failure> {
    let mut p = Peer::join(&t).await?;
    let mut sub = Peer::join(&t).await?;
    let topic = unique(&p, "kept");
    publish_ack(&mut p, &topic, retain(), args!["retained"]).await?;
    publish_ack(&mut p, &topic, PublishOptions::default(), args!["live"]).await?;
    expect_retained(&mut sub, &topic, "retained").await
}

async fn ineligible_retained_event_not_sent(t: Target) -> Result<(), Failure> {
    let mut p = Peer::join(&t).await?;
    let mut sub = Peer::join(&t).await?;
    if !announces(&p, "broker", f::SUBSCRIBER_BLACKWHITE_LISTING) {
        return Ok(());
    }
    let topic = unique(&p, "ineligible");
    let options = PublishOptions {
        exclude: Some(vec![session(&sub)]),
        ..retain()
    };
    publish_ack(&mut p, &topic, options, args!["not for you"]).await?;
    subscribe_with(&mut sub, &topic, get_retained()).await?;
    send_marker(&mut p, &topic).await?;
    expect_marker(
        &mut sub,
        "the excluded subscriber",
        "no retained event it was not eligible for",
    )
    .await
    .map(|_| ())
}
