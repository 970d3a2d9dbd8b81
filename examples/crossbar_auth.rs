//! Authenticates against a Crossbar router with every method nexus supports, and checks the
//! WELCOME (authid, authrole, authmethod), then tries a wrong secret for each method and
//! expects the router's ABORT. Driven by `interop/crossbar-auth/run.sh`, which starts
//! Crossbar with the matching principals (interop/crossbar-auth/principals.py).
//!
//! ```text
//! cargo run -p nexus-examples --example crossbar_auth -- ws://127.0.0.1:8080/ws [ROUTER_PUBKEY_HEX]
//! ```
//!
//! With the router's public key (Crossbar's node key, `key.pub` in its node directory), the
//! cryptosign cases also ask the router to authenticate itself. Prints one line per case and
//! `N passed, N failed`; exits with status 1 if any case failed.

use std::process::ExitCode;
use std::time::Instant;

use nexus_tokio::nexus_core::auth::client::{Credentials, CryptosignOptions};
use nexus_tokio::nexus_core::auth::cryptosign::{PublicKey, SigningKey};
use nexus_tokio::{Client, ClientConfig, Error};

/// The principals' key: the first test vector of the cryptosign specification.
const CS_SEED: &str = "4d57d97a68f555696620a6d849c0ce582568518d729eb753dc7c732de2804510";
/// A key the router does not know.
const OTHER_SEED: &str = "d511fe78e23934b3dadb52fcd022974b80bd92bccc7c5cf404e46cc0a8a2f5cd";

/// What a case expects.
enum Expect {
    /// WELCOME with this authid, authrole and authmethod.
    Welcome(&'static str, &'static str, &'static str),
    /// ABORT from the router.
    Abort,
    /// Our side refuses (the router did not prove its identity).
    ClientRefuses,
}

fn key(seed: &str) -> SigningKey {
    SigningKey::from_hex(seed).expect("a valid seed")
}

fn cases(router_key: Option<PublicKey>) -> Vec<(&'static str, ClientConfig, Expect)> {
    let c = || ClientConfig::new("auth");
    let mut cases = vec![
        (
            "ticket",
            c().authid("ticket-user").ticket("ticket-secret-1"),
            Expect::Welcome("ticket-user", "ticket-role", "ticket"),
        ),
        (
            "ticket, wrong ticket",
            c().authid("ticket-user").ticket("nope"),
            Expect::Abort,
        ),
        (
            "wampcra",
            c().authid("cra-user").wampcra("cra-secret-1"),
            Expect::Welcome("cra-user", "cra-role", "wampcra"),
        ),
        (
            "wampcra, wrong secret",
            c().authid("cra-user").wampcra("nope"),
            Expect::Abort,
        ),
        (
            "wampcra salted",
            c().authid("cra-salted").wampcra("cra-secret-2"),
            Expect::Welcome("cra-salted", "cra-role", "wampcra"),
        ),
        (
            "wampcra salted, wrong secret",
            c().authid("cra-salted").wampcra("cra-secret-1"),
            Expect::Abort,
        ),
        (
            "cryptosign",
            c().authid("cs-user").cryptosign(key(CS_SEED)),
            Expect::Welcome("cs-user", "cs-role", "cryptosign"),
        ),
        (
            "cryptosign, authid from the public key",
            c().cryptosign(key(CS_SEED)),
            Expect::Welcome("cs-user", "cs-role", "cryptosign"),
        ),
        (
            "cryptosign, wrong key",
            c().authid("cs-user").cryptosign(key(OTHER_SEED)),
            Expect::Abort,
        ),
        (
            "scram argon2id-13",
            c().authid("scram-argon2").scram("scram-secret-1"),
            Expect::Welcome("scram-argon2", "scram-role", "scram"),
        ),
        (
            "scram argon2id-13, wrong password",
            c().authid("scram-argon2").scram("scram-secret-2"),
            Expect::Abort,
        ),
        (
            "scram pbkdf2",
            c().authid("scram-pbkdf2").scram("scram-secret-2"),
            Expect::Welcome("scram-pbkdf2", "scram-role", "scram"),
        ),
        (
            "scram pbkdf2, wrong password",
            c().authid("scram-pbkdf2").scram("scram-secret-1"),
            Expect::Abort,
        ),
        (
            "ticket first, then wampcra",
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
            c().credentials(with_router(router_key)),
            Expect::Welcome("cs-user", "cs-role", "cryptosign"),
        ));
        cases.push((
            "cryptosign, router not the one expected",
            c().credentials(with_router(key(OTHER_SEED).public_key())),
            Expect::ClientRefuses,
        ));
    }
    cases
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(url) = args.next() else {
        eprintln!("usage: crossbar_auth URL [ROUTER_PUBKEY_HEX]");
        return ExitCode::from(2);
    };
    let router_key = match args.next().map(|hex| PublicKey::from_hex(hex.trim())) {
        None => None,
        Some(Ok(key)) => Some(key),
        Some(Err(e)) => {
            eprintln!("bad router key: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = nexus_tokio::runtime();
    let (mut passed, mut failed) = (0, 0);
    for (name, config, expect) in cases(router_key) {
        let started = Instant::now();
        let result = Client::connect(runtime.clone(), &url, config).await;
        let outcome = match (&expect, result) {
            (Expect::Welcome(authid, authrole, authmethod), Ok(client)) => {
                let got = (client.authid(), client.authrole(), client.authmethod());
                let _ = client.close().await;
                if got == (Some(*authid), Some(*authrole), Some(*authmethod)) {
                    Ok(format!(
                        "authid={authid} authrole={authrole} authmethod={authmethod}"
                    ))
                } else {
                    Err(format!("WELCOME said {got:?}"))
                }
            }
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
