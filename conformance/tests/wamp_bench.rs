//! wamp-bench against an in-process nexus router: every scenario runs briefly and reports
//! plausible figures; setup failures exit non-zero. No timing assertions: speed is measured
//! by running wamp-bench, not by tests.

use std::process::Command;

use nexus_conformance::bench::report::Figures;
use nexus_conformance::bench::{self, Cli, Report};
use nexus_tokio::RouterBuilder;

async fn router() -> (nexus_tokio::RouterHandle, String) {
    let router = nexus_tokio::start(RouterBuilder::new().realm("realm1"));
    let url = router.listen("ws://127.0.0.1:0/ws", None).await.unwrap();
    (router, url)
}

async fn bench(url: &str, args: &[&str]) -> Report {
    let argv = ["wamp-bench", "--url", url, "--realm", "realm1"]
        .into_iter()
        .chain(args.iter().copied());
    let cli = Cli::try_parse_checked(argv).unwrap();
    let report = bench::run(&cli.target().unwrap(), &cli.scenario)
        .await
        .unwrap_or_else(|e| panic!("wamp-bench {args:?}: {e}"));
    // Whatever the figures, the JSON and the table render.
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["scenario"], report.scenario);
    assert_eq!(json["url"], url);
    assert!(report.to_table().contains(report.scenario));
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_runs_and_counts_calls() {
    let (router, url) = router().await;
    let report = bench(
        &url,
        &[
            "--serializer",
            "msgpack",
            "rpc",
            "--callers",
            "2",
            "--in-flight",
            "4",
            "--payload",
            "100",
            "--duration",
            "1",
            "--warmup",
            "0",
        ],
    )
    .await;
    let Figures::Rpc(f) = &report.figures else {
        panic!("{report:?}")
    };
    assert!(f.calls > 0, "{report:?}");
    assert_eq!(f.errors, 0, "{:?}", f.error_samples);
    assert_eq!(f.latency_us.count, f.calls);
    assert!(f.latency_us.p50 > 0.0 && f.latency_us.p50 <= f.latency_us.max);
    assert!(f.calls_per_sec > 0.0);
    assert_eq!(report.serializer, "msgpack");
    router.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pubsub_unlimited_delivers_every_event_to_every_subscriber() {
    let (router, url) = router().await;
    let report = bench(
        &url,
        &[
            "pubsub",
            "--publishers",
            "2",
            "--subscribers",
            "3",
            "--duration",
            "1",
            "--warmup",
            "0",
        ],
    )
    .await;
    let Figures::PubSub(f) = &report.figures else {
        panic!("{report:?}")
    };
    assert!(f.published > 0, "{report:?}");
    assert_eq!(f.errors, 0, "{:?}", f.error_samples);
    // The delivery window stays far below nexus's queue capacity: nothing is dropped.
    assert_eq!(f.lost_per_subscriber, vec![0, 0, 0], "{report:?}");
    assert_eq!(f.delivered, 3 * f.published);
    assert_eq!(f.latency_us.count, f.delivered);
    assert_eq!(f.stalls, 0);
    router.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pubsub_at_a_fixed_rate() {
    let (router, url) = router().await;
    let report = bench(
        &url,
        &[
            "--serializer",
            "cbor",
            "pubsub",
            "--subscribers",
            "2",
            "--rate",
            "200",
            "--duration",
            "1",
            "--warmup",
            "0",
        ],
    )
    .await;
    let Figures::PubSub(f) = &report.figures else {
        panic!("{report:?}")
    };
    // 200 events/s for a second, give or take scheduling: far from zero, never far above.
    assert!(f.published > 0 && f.published <= 201, "{report:?}");
    assert_eq!(f.errors, 0, "{:?}", f.error_samples);
    assert_eq!(f.lost_total, 0, "{report:?}");
    assert_eq!(f.delivered, 2 * f.published);
    router.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_opens_every_session_and_reads_memory() {
    let (router, url) = router().await;
    // The router runs in this process: its memory is ours.
    let pid = std::process::id().to_string();
    let report = bench(
        &url,
        &[
            "connect",
            "--sessions",
            "40",
            "--parallel",
            "8",
            "--router-pid",
            &pid,
        ],
    )
    .await;
    let Figures::Connect(f) = &report.figures else {
        panic!("{report:?}")
    };
    assert_eq!(f.opened, 40, "{report:?}");
    assert_eq!(f.errors, 0, "{:?}", f.error_samples);
    assert_eq!(f.join_latency_us.count, 40);
    assert!(f.sessions_per_sec > 0.0);
    assert!(f.router_rss_before_bytes.unwrap() > 0);
    assert!(f.router_rss_after_bytes.unwrap() > 0);
    assert!(f.router_bytes_per_session.is_some());
    router.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_writes_json_and_fails_clearly_without_a_router() {
    let (router, url) = router().await;
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("rpc.json");
    let exe = env!("CARGO_BIN_EXE_wamp-bench");
    let out = tokio::task::spawn_blocking({
        let (url, json) = (url.clone(), json.clone());
        move || {
            Command::new(exe)
                .args(["--url", &url, "--realm", "realm1", "rpc"])
                .args(["--duration", "0.5", "--warmup", "0", "--json"])
                .arg(&json)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("calls/s"), "{stdout}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["scenario"], "rpc");
    assert_eq!(report["parameters"]["in_flight"], 1);
    assert!(report["figures"]["calls"].as_u64().unwrap() > 0);
    router.shutdown().await;

    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("ws://127.0.0.1:{port}/ws");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(exe)
            .args(["--url", &url, "--realm", "realm1", "rpc"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot open a session on ws://127.0.0.1:"),
        "{stderr}"
    );
    assert!(stderr.contains("is running"), "{stderr}");

    // A missing --url is a usage error.
    let out = Command::new(exe)
        .args(["--realm", "realm1", "rpc"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--url"));
}
