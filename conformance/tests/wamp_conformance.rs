//! wamp-conformance against an in-process nexus router: everything the router announces must
//! pass, the rest must be "not announced" (or "not configured"), and the report must have its
//! closing line.

use std::time::Duration;

use nexus_conformance::suite::{self, Outcome, Target};
use nexus_tokio::nexus_core::router::{AuthzMode, Permission, RealmConfig, Roles};
use nexus_tokio::{RouterBuilder, Serializer, Uri};

fn target(url: &str, serializer: Serializer, authz_denied_prefix: Option<&str>) -> Target {
    Target {
        url: url.to_owned(),
        realm: "realm1".into(),
        serializer,
        tls: None,
        timeout: Duration::from_secs(5),
        quiet: Duration::from_millis(100),
        authz_denied_prefix: authz_denied_prefix.map(str::to_owned),
    }
}

async fn run_against(url: &str, serializer: Serializer) -> suite::Report {
    suite::run(
        &target(url, serializer, None),
        &suite::scenarios(),
        None,
        Duration::from_secs(30),
    )
    .await
    .expect("the suite runs")
}

/// The authorization group's outcomes against `router` told that `com.conformance.denied.`
/// is denied.
async fn authorization_group(router: RouterBuilder) -> Vec<(&'static str, Outcome)> {
    let router = nexus_tokio::start(router);
    let url = router.listen("ws://127.0.0.1:0/ws", None).await.unwrap();
    let target = target(&url, Serializer::Json, Some("com.conformance.denied."));
    let report = suite::run(
        &target,
        &suite::scenarios(),
        Some("authorization"),
        Duration::from_secs(30),
    )
    .await
    .expect("the suite runs");
    router.shutdown().await;
    report
        .rows
        .into_iter()
        .map(|r| (r.name, r.outcome))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nexus_passes_everything_it_announces() {
    let router = nexus_tokio::start(RouterBuilder::new().realm("realm1"));
    let ws = router.listen("ws://127.0.0.1:0/ws", None).await.unwrap();
    let rs = router.listen("tcp://127.0.0.1:0", None).await.unwrap();
    for (url, serializer) in [
        (ws.as_str(), Serializer::Json),
        (rs.as_str(), Serializer::Cbor),
    ] {
        let report = Box::pin(run_against(url, serializer)).await;
        let failures: Vec<String> = report
            .rows
            .iter()
            .filter_map(|r| match &r.outcome {
                Outcome::Fail(f) => Some(format!("{}/{}: {f}", r.group, r.name)),
                _ => None,
            })
            .collect();
        assert!(failures.is_empty(), "{url} {serializer}: {failures:#?}");
        assert_eq!(report.rows.len(), suite::scenarios().len());
        // nexus announces every feature the suite covers: every scenario ran, and all but
        // the authorization group (which needs to be told the router's configuration)
        // passed.
        let not_run: Vec<String> = report
            .rows
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::NotAnnounced { .. }))
            .map(|r| format!("{}/{}", r.group, r.name))
            .collect();
        assert!(not_run.is_empty(), "not announced: {not_run:?}");
        let authorization: Vec<_> = report
            .rows
            .iter()
            .filter(|r| r.group == "authorization")
            .collect();
        assert!(!authorization.is_empty());
        assert!(authorization.iter().all(|r| matches!(
            &r.outcome,
            Outcome::NotConfigured { option } if option == "--authz-denied-prefix"
        )));
        assert_eq!(report.passed + authorization.len(), report.rows.len());
        let markdown = report.to_markdown();
        let last = markdown.lines().last().unwrap();
        assert_eq!(
            last,
            format!(
                "{} passed, {} failed, {} skipped",
                report.passed, report.failed, report.skipped
            )
        );
    }
    router.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_router_that_is_not_there_is_a_setup_error() {
    let target = Target {
        url: "ws://127.0.0.1:9/ws".into(),
        realm: "realm1".into(),
        serializer: Serializer::Json,
        tls: None,
        timeout: Duration::from_secs(2),
        quiet: Duration::from_millis(50),
        authz_denied_prefix: None,
    };
    let err = suite::run(&target, &suite::scenarios(), None, Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(err.got.contains("cannot connect"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_authorization_group_passes_where_the_prefix_is_denied() {
    let roles = Roles::new().with_role(
        "anonymous",
        [
            Permission::prefix("").allow_all(),
            Permission::prefix("com.conformance.denied."),
        ],
    );
    let mut realm = RealmConfig::new(Uri::parse("realm1").unwrap());
    realm.authz = AuthzMode::Roles(roles);
    let outcomes = authorization_group(RouterBuilder::new().realm_config(realm)).await;
    assert_eq!(outcomes.len(), 7);
    for (name, outcome) in outcomes {
        assert_eq!(outcome, Outcome::Pass, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_authorization_group_fails_where_nothing_is_denied() {
    let outcomes = authorization_group(RouterBuilder::new().realm("realm1")).await;
    assert_eq!(outcomes.len(), 7);
    for (name, outcome) in outcomes {
        assert!(matches!(outcome, Outcome::Fail(_)), "{name}: {outcome:?}");
    }
}
