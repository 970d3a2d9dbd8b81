//! wamp-conformance against an in-process nexus router: everything the router announces must
//! pass, the rest must be "not announced", and the report must have its closing line.

use std::time::Duration;

use nexus_conformance::suite::{self, Outcome, Target};
use nexus_tokio::{RouterBuilder, Serializer};

async fn run_against(url: &str, serializer: Serializer) -> suite::Report {
    let target = Target {
        url: url.to_owned(),
        realm: "realm1".into(),
        serializer,
        tls: None,
        timeout: Duration::from_secs(5),
        quiet: Duration::from_millis(100),
    };
    suite::run(&target, &suite::scenarios(), None, Duration::from_secs(30))
        .await
        .expect("the suite runs")
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
        // nexus announces every feature the suite covers: every scenario ran and passed.
        let not_run: Vec<String> = report
            .rows
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::NotAnnounced { .. }))
            .map(|r| format!("{}/{}", r.group, r.name))
            .collect();
        assert!(not_run.is_empty(), "not announced: {not_run:?}");
        assert_eq!(report.passed, report.rows.len());
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
    };
    let err = suite::run(&target, &suite::scenarios(), None, Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(err.got.contains("cannot connect"), "{err}");
}
