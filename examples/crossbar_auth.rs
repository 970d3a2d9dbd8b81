//! Authenticates against a Crossbar router with every method nexus supports, and checks the
//! WELCOME (authid, authrole, authmethod), then tries a wrong secret for each method and
//! expects the router's ABORT. Driven by `interop/crossbar-auth/run.sh`, which starts
//! Crossbar with the matching principals (interop/crossbar-auth/principals.py).
//!
//! ```text
//! cargo run -p nexus-examples --example crossbar_auth -- ws://127.0.0.1:8080/ws [ROUTER_PUBKEY_HEX] \
//!     [--cookie ws://127.0.0.1:8080/cookie] [--tls wss://127.0.0.1:8443/ws CERT_DIR]
//! ```
//!
//! With the router's public key (Crossbar's node key, `key.pub` in its node directory), the
//! cryptosign cases also ask the router to authenticate itself. `--cookie` names a WebSocket
//! path with a cookie store where ticket authentication is configured: a first session logs
//! in by ticket with a [`CookieJar`], the next ones by the cookie alone. `--tls` names a TLS
//! transport that asks for client certificates, and the directory holding the router's
//! certificate (`server.crt`, trusted as is) and the client's (`client.crt`, `client.key`).
//! Prints one line per case and `N passed, N failed`; exits with status 1 if any case failed.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use nexus_tokio::nexus_core::auth::client::{Credentials, CryptosignOptions};
use nexus_tokio::nexus_core::auth::cryptosign::{PublicKey, SigningKey};
use nexus_tokio::nexus_transports::tls;
use nexus_tokio::{Client, ClientConfig, CookieJar, Error};

/// The principals' key: the first test vector of the cryptosign specification.
const CS_SEED: &str = "4d57d97a68f555696620a6d849c0ce582568518d729eb753dc7c732de2804510";
/// A key the router does not know.
const OTHER_SEED: &str = "d511fe78e23934b3dadb52fcd022974b80bd92bccc7c5cf404e46cc0a8a2f5cd";

/// What a case expects.
enum Expect {
    /// WELCOME with this authid, authrole and authmethod.
    Welcome(&'static str, &'static str, &'static str),
    /// WELCOME with this authid, authrole, authmethod and authprovider.
    WelcomeBy(&'static str, &'static str, &'static str, &'static str),
    /// ABORT from the router.
    Abort,
    /// Our side refuses (the router did not prove its identity).
    ClientRefuses,
    /// The connection fails before the join (e.g. the TLS handshake).
    NoConnection,
}

/// Where the optional cases connect.
struct Targets {
    /// The WebSocket path with a cookie store.
    cookie: Option<String>,
    /// The TLS transport asking for client certificates, and the certificate directory.
    tls: Option<(String, PathBuf)>,
}

type Case = (&'static str, String, ClientConfig, Expect);

fn key(seed: &str) -> SigningKey {
    SigningKey::from_hex(seed).expect("a valid seed")
}

fn read(dir: &std::path::Path, name: &str) -> Result<Vec<u8>, String> {
    let path = dir.join(name);
    std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// Cookie authentication: the jar is shared, and the cases run in order.
fn cookie_cases(url: &str) -> Vec<Case> {
    let jar = CookieJar::new();
    let forged = CookieJar::new();
    forged.store("127.0.0.1", "cbtid=forged0000000000000000000000");
    let c = || ClientConfig::new("auth");
    vec![
        (
            "cookie: first session by ticket, the jar keeps the cookie",
            url.to_owned(),
            c().authid("ticket-user")
                .ticket("ticket-secret-1")
                .cookie_jar(jar.clone()),
            Expect::Welcome("ticket-user", "ticket-role", "ticket"),
        ),
        (
            "cookie: second session by the cookie alone",
            url.to_owned(),
            c().cookie_jar(jar.clone()),
            // Crossbar reports the method that authenticated the cookie, and itself as
            // "cookie" provider.
            Expect::WelcomeBy("ticket-user", "ticket-role", "ticket", "cookie"),
        ),
        (
            "cookie: offered before a wrong ticket",
            url.to_owned(),
            c().authid("ticket-user").ticket("nope").cookie_jar(jar),
            Expect::WelcomeBy("ticket-user", "ticket-role", "ticket", "cookie"),
        ),
        (
            "cookie: a cookie Crossbar does not know",
            url.to_owned(),
            c().cookie_jar(forged.clone()),
            Expect::Abort,
        ),
        (
            "cookie: the fresh cookie is skipped for the ticket, which binds it",
            url.to_owned(),
            c().authid("ticket-user")
                .ticket("ticket-secret-1")
                .cookie_jar(forged.clone()),
            Expect::WelcomeBy("ticket-user", "ticket-role", "ticket", "static"),
        ),
        (
            "cookie: then the fresh cookie alone",
            url.to_owned(),
            c().cookie_jar(forged),
            Expect::WelcomeBy("ticket-user", "ticket-role", "ticket", "cookie"),
        ),
    ]
}

/// TLS client certificate authentication.
fn tls_cases(url: &str, dir: &std::path::Path) -> Result<Vec<Case>, String> {
    let server = read(dir, "server.crt")?;
    let with_cert = tls::client_config_with_cert(
        Some(&server),
        &read(dir, "client.crt")?,
        &read(dir, "client.key")?,
    )
    .map_err(|e| e.to_string())?;
    let without_cert = tls::client_config(Some(&server)).map_err(|e| e.to_string())?;
    let c = || ClientConfig::new("auth");
    Ok(vec![
        (
            "tls client certificate",
            url.to_owned(),
            c().client_certificate(with_cert),
            Expect::Welcome("tls-user", "tls-role", "tls"),
        ),
        (
            "tls, no client certificate",
            url.to_owned(),
            c().client_certificate(without_cert),
            Expect::NoConnection,
        ),
    ])
}

fn cases(url: &str, router_key: Option<PublicKey>) -> Vec<Case> {
    let c = || ClientConfig::new("auth");
    let mut cases = vec![
        (
            "ticket",
            url.to_owned(),
            c().authid("ticket-user").ticket("ticket-secret-1"),
            Expect::Welcome("ticket-user", "ticket-role", "ticket"),
        ),
        (
            "ticket, wrong ticket",
            url.to_owned(),
            c().authid("ticket-user").ticket("nope"),
            Expect::Abort,
        ),
        (
            "wampcra",
            url.to_owned(),
            c().authid("cra-user").wampcra("cra-secret-1"),
            Expect::Welcome("cra-user", "cra-role", "wampcra"),
        ),
        (
            "wampcra, wrong secret",
            url.to_owned(),
            c().authid("cra-user").wampcra("nope"),
            Expect::Abort,
        ),
        (
            "wampcra salted",
            url.to_owned(),
            c().authid("cra-salted").wampcra("cra-secret-2"),
            Expect::Welcome("cra-salted", "cra-role", "wampcra"),
        ),
        (
            "wampcra salted, wrong secret",
            url.to_owned(),
            c().authid("cra-salted").wampcra("cra-secret-1"),
            Expect::Abort,
        ),
        (
            "cryptosign",
            url.to_owned(),
            c().authid("cs-user").cryptosign(key(CS_SEED)),
            Expect::Welcome("cs-user", "cs-role", "cryptosign"),
        ),
        (
            "cryptosign, authid from the public key",
            url.to_owned(),
            c().cryptosign(key(CS_SEED)),
            Expect::Welcome("cs-user", "cs-role", "cryptosign"),
        ),
        (
            "cryptosign, wrong key",
            url.to_owned(),
            c().authid("cs-user").cryptosign(key(OTHER_SEED)),
            Expect::Abort,
        ),
        (
            "scram argon2id-13",
            url.to_owned(),
            c().authid("scram-argon2").scram("scram-secret-1"),
            Expect::Welcome("scram-argon2", "scram-role", "scram"),
        ),
        (
            "scram argon2id-13, wrong password",
            url.to_owned(),
            c().authid("scram-argon2").scram("scram-secret-2"),
            Expect::Abort,
        ),
        (
            "scram pbkdf2",
            url.to_owned(),
            c().authid("scram-pbkdf2").scram("scram-secret-2"),
            Expect::Welcome("scram-pbkdf2", "scram-role", "scram"),
        ),
        (
            "scram pbkdf2, wrong password",
            url.to_owned(),
            c().authid("scram-pbkdf2").scram("scram-secret-1"),
            Expect::Abort,
        ),
        (
            "ticket first, then wampcra",
            url.to_owned(),
            c().authid("cra-user")
                .ticket("no such ticket principal")
                .wampcra("cra-secret-1"),
            // Crossbar tries the offered methods in order and picks the first configured
            // one: ticket, which has no principal "cra-user".
            Expect::Abort,
        ),
    ];
    if let Some(router_key) = router_key {
        let with_router = |router_key| {
            Credentials::new().authid("cs-user").cryptosign_with(
                key(CS_SEED),
                CryptosignOptions {
                    router_key: Some(router_key),
                    ..Default::default()
                },
            )
        };
        cases.push((
            "cryptosign with router authentication",
            url.to_owned(),
            c().credentials(with_router(router_key)),
            Expect::Welcome("cs-user", "cs-role", "cryptosign"),
        ));
        cases.push((
            "cryptosign, router not the one expected",
            url.to_owned(),
            c().credentials(with_router(key(OTHER_SEED).public_key())),
            Expect::ClientRefuses,
        ));
    }
    cases
}

#[tokio::main]
async fn main() -> ExitCode {
    let usage = "usage: crossbar_auth URL [ROUTER_PUBKEY_HEX] [--cookie URL] [--tls URL CERT_DIR]";
    let mut url = None;
    let mut router_key = None;
    let mut targets = Targets {
        cookie: None,
        tls: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--cookie" => targets.cookie = args.next(),
            "--tls" => match (args.next(), args.next()) {
                (Some(url), Some(dir)) => targets.tls = Some((url, dir.into())),
                _ => {
                    eprintln!("{usage}");
                    return ExitCode::from(2);
                }
            },
            _ if url.is_none() => url = Some(arg),
            _ if router_key.is_none() => match PublicKey::from_hex(arg.trim()) {
                Ok(key) => router_key = Some(key),
                Err(e) => {
                    eprintln!("bad router key: {e}");
                    return ExitCode::from(2);
                }
            },
            _ => {
                eprintln!("{usage}");
                return ExitCode::from(2);
            }
        }
    }
    let Some(url) = url else {
        eprintln!("{usage}");
        return ExitCode::from(2);
    };
    let mut all = cases(&url, router_key);
    if let Some(cookie) = &targets.cookie {
        all.extend(cookie_cases(cookie));
    }
    if let Some((tls_url, dir)) = &targets.tls {
        match tls_cases(tls_url, dir) {
            Ok(cases) => all.extend(cases),
            Err(e) => {
                eprintln!("TLS cases: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let runtime = nexus_tokio::runtime();
    let (mut passed, mut failed) = (0, 0);
    for (name, url, config, expect) in all {
        let started = Instant::now();
        let result = Client::connect(runtime.clone(), &url, config).await;
        let outcome = match (&expect, result) {
            (Expect::Welcome(authid, authrole, authmethod), Ok(client)) => {
                let got = (client.authid(), client.authrole(), client.authmethod());
                let _ = client.close().await;
                if (got.0.as_deref(), got.1.as_deref(), got.2.as_deref())
                    == (Some(*authid), Some(*authrole), Some(*authmethod))
                {
                    Ok(format!(
                        "authid={authid} authrole={authrole} authmethod={authmethod}"
                    ))
                } else {
                    Err(format!("WELCOME said {got:?}"))
                }
            }
            (Expect::WelcomeBy(authid, authrole, authmethod, authprovider), Ok(client)) => {
                let welcome = client.welcome();
                let got = (
                    welcome.authid.as_deref(),
                    welcome.authrole.as_deref(),
                    welcome.authmethod.as_deref(),
                    welcome.authprovider.as_deref(),
                );
                let want = (
                    Some(*authid),
                    Some(*authrole),
                    Some(*authmethod),
                    Some(*authprovider),
                );
                let outcome = if got == want {
                    Ok(format!(
                        "authid={authid} authrole={authrole} authmethod={authmethod} authprovider={authprovider}"
                    ))
                } else {
                    Err(format!("WELCOME said {got:?}"))
                };
                let _ = client.close().await;
                outcome
            }
            (
                Expect::NoConnection,
                Err(e @ (Error::Connect { .. } | Error::Transport(_) | Error::Closed)),
            ) => Ok(format!("no connection: {e}")),
            (Expect::Abort, Err(Error::Aborted { reason, message })) => {
                Ok(format!("ABORT {reason} ({})", message.unwrap_or_default()))
            }
            (Expect::ClientRefuses, Err(Error::Authentication(e))) => Ok(format!("refused: {e}")),
            (_, Ok(client)) => {
                let got = (client.authid(), client.authrole(), client.authmethod());
                let _ = client.close().await;
                Err(format!("joined unexpectedly as {got:?}"))
            }
            (_, Err(e)) => Err(format!("unexpected error: {e}")),
        };
        let ms = started.elapsed().as_millis();
        match outcome {
            Ok(detail) => {
                passed += 1;
                println!("ok    {name}: {detail} [{ms} ms]");
            }
            Err(detail) => {
                failed += 1;
                println!("FAIL  {name}: {detail} [{ms} ms]");
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
