//! nexusd as a process: startup lines, clients, graceful shutdown on SIGTERM, bad config.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use nexus_tokio::{args, ClientConfig, Invocation, Payload};

const WAIT: Duration = Duration::from_secs(20);

fn nexusd(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nexusd"));
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Reads `n` "listening on URL" lines from the child's stdout (with a timeout).
fn listening(child: &mut Child, n: usize) -> Vec<String> {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (0..n)
        .map(|_| {
            let line = rx
                .recv_timeout(WAIT)
                .expect("a 'listening on' line in time");
            line.strip_prefix("listening on ")
                .unwrap_or_else(|| panic!("unexpected line {line:?}"))
                .to_owned()
        })
        .collect()
}

/// Waits for the child to exit, with a timeout.
fn wait_exit(mut child: Child) -> std::process::ExitStatus {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    rx.recv_timeout(WAIT)
        .expect("nexusd exits in time")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_clients_and_shuts_down_gracefully_on_sigterm() {
    let socket = std::env::temp_dir().join(format!("nexusd-test-{}.sock", std::process::id()));
    let unix = format!("unix://{}", socket.display());
    let mut child = nexusd(&[
        "--listen",
        "ws://127.0.0.1:0/ws",
        "--listen",
        "tcp://127.0.0.1:0",
        "--listen",
        &unix,
    ])
    .spawn()
    .unwrap();
    let urls = listening(&mut child, 3);
    assert!(
        urls[0].starts_with("ws://127.0.0.1:") && !urls[0].contains(":0/"),
        "{urls:?}"
    );
    assert!(
        urls[1].starts_with("tcp://127.0.0.1:") && !urls[1].ends_with(":0"),
        "{urls:?}"
    );

    let callee = nexus_tokio::connect(&urls[2], ClientConfig::new("realm1"))
        .await
        .unwrap();
    callee
        .register("com.test.double", |inv: Invocation| async move {
            let n = inv.args[0].as_i64().unwrap_or(0);
            Ok(Payload::new(args![n * 2], Default::default()))
        })
        .await
        .unwrap()
        .detach();
    let caller = nexus_tokio::connect(&urls[0], ClientConfig::new("realm1"))
        .await
        .unwrap();
    let r = caller
        .call("com.test.double")
        .args(args![21])
        .await
        .unwrap();
    assert_eq!(r.args, args![42]);
    let raw = nexus_tokio::connect(&urls[1], ClientConfig::new("realm1"))
        .await
        .unwrap();

    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    for client in [&callee, &caller, &raw] {
        tokio::time::timeout(WAIT, client.closed())
            .await
            .expect("GOODBYE reached the client");
    }
    let status = wait_exit(child);
    assert!(status.success(), "nexusd exited with {status}");
}

#[test]
fn bad_configuration_is_a_clear_error() {
    let out = nexusd(&["--config", "/nonexistent/nexusd.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot read the config file /nonexistent/nexusd.toml"),
        "{err}"
    );

    let out = nexusd(&["--listen", "http://127.0.0.1:1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("http://127.0.0.1:1"), "{err}");
}

#[test]
fn a_port_in_use_is_reported() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("tcp://{}", taken.local_addr().unwrap());
    let out = nexusd(&["--listen", &url]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot listen on"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_locked_down_example_refuses_what_anonymous_may_not_do() {
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/locked-down.toml");
    let mut child = nexusd(&["--config", config, "--listen", "ws://127.0.0.1:0/ws"])
        .spawn()
        .unwrap();
    let urls = listening(&mut child, 1);
    let client = nexus_tokio::connect(&urls[0], ClientConfig::new("realm1"))
        .await
        .unwrap();
    let refused = |r: Result<(), nexus_tokio::Error>| match r {
        Err(nexus_tokio::Error::Wamp(e)) => {
            assert_eq!(e.error.as_str(), "wamp.error.not_authorized", "{e:?}");
            let why = e.args.first().and_then(|v| v.as_str()).unwrap_or_default();
            assert!(why.contains("anonymous"), "{why}");
        }
        other => panic!("expected wamp.error.not_authorized, got {other:?}"),
    };
    // Allowed: following a public topic.
    client.subscribe("com.example.public.news").await.unwrap();
    // Refused: registering, publishing, a procedure taken back, the meta API.
    refused(
        client
            .register("com.example.public.time", |_inv: Invocation| async move {
                Ok(Payload::default())
            })
            .await
            .map(|_| ()),
    );
    refused(
        client
            .publish("com.example.public.news")
            .args(args![1])
            .acknowledged()
            .await
            .map(|_| ()),
    );
    refused(client.call("com.example.public.debug").await.map(|_| ()));
    refused(client.call("wamp.session.list").await.map(|_| ()));
    // An allowed call goes through to routing (nobody registered it).
    match client.call("com.example.public.time").await {
        Err(nexus_tokio::Error::Wamp(e)) => {
            assert_eq!(e.error.as_str(), "wamp.error.no_such_procedure")
        }
        other => panic!("expected wamp.error.no_such_procedure, got {other:?}"),
    }
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let status = wait_exit(child);
    assert!(status.success(), "nexusd exited with {status}");
}
