//! Cross-checks against autobahn-python, and full exchanges through [`Credentials`].

use super::client::{Credentials, CryptosignOptions, ScramOptions, HELLO_RANDOM_LEN};
use super::cryptosign::{self, SigningKey};
use super::scram::{CostPolicy, Kdf, ScramClient, ScramServer, StoredCredential, Variant};
use super::{cra, AuthError};
use crate::message::{AuthenticateExtra, Challenge, ChallengeExtra, WelcomeDetails};
use crate::value::{Dict, Value};

// ---- values computed by autobahn-python 26.10.2 ------------------------------------------
// Printed by `interop/auth_vectors.py` (run with the Crossbar virtualenv's Python, which has
// PyNaCl, argon2-cffi and passlib; the WAMP-CRA part also runs in target/interop-venv).

const AB_CRA_SECRET: &str = "L3L1YUE8Txlw";
const AB_CRA_CHALLENGE: &str = r#"{"authid": "joe", "authrole": "user", "authmethod": "wampcra", "authprovider": "static", "session": 3251278072152162, "nonce": "LHRTC9zeOIrt_9U3", "timestamp": "2014-06-22T16:51:41.643Z"}"#;
const AB_CRA_PLAIN: &str = "SaWSc/Mll03pdX0qVcX6n5s6QeoWh2fmM6XSyQSYw5Q=";
const AB_CRA_SALTED: &str = "WO1KKhLQHTmW6ViualqLPYWRxoQSTP5c1nH2cTcYy2g=";
const AB_CRA_UNICODE_KEY: &str = "jHGpOn+Gk8mAm35EWtRqEQ=="; // derive_key("sécret✓", "sel✓", 10, 16)
const AB_CRA_UNICODE_SIG: &str = "N9Rs0K1jw1TixXVgACeXEmNrTQW5urHlpDePeD8XtJE=";

const AB_CS_PUBKEY: &str = "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8";
const AB_CS_SIG: &str = "e94830c26d593f5192e07ec128b31a74aba485fdfa416ec6c0dc442e80b008cad14441c64bb5a7622344daebe9979cf03145eff83a704c619efc7ce6a65eac0ea5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5";
const AB_CS_SIG_BOUND: &str = "00148950eb15c9b077fdfbea30433fa40bdadba5be67b42674216aa552dbe46b11021b5d5a61ca77726032bc7ce6466b978a904a5259171b1fe3769a2e051c0c85848786818083828d8c8f8e89888b8a95949796919093929d9c9f9e99989b9a";

const AB_SCRAM_CHALLENGE_NONCE: &str = "ZGVmZ2hpamtsbW5vcHFyc8jJysvMzc7P0NHS09TV1tc=";
const AB_SCRAM_SALT: &str = "AAECAwQFBgcICQoLDA0ODw==";
const AB_SCRAM_PROOF_SECRET: &str = "L/5SuCjL7265iz9TJEniYe9LTx2JO7E5KO4WHZgOrvo=";
const AB_SCRAM_PROOF_UNICODE: &str = "+mkAZtWa31Fq0h6q+vt5IEXxrTJ2k3oOTFelO0mNsCQ=";
// derive_scram_credential("alice@example.com", "secret"): argon2id-13, t=4096, m=512.
const AB_SCRAM_CRED_SALT: &str = "ff8d9819fc0e12bf0d24892e45987e24";
const AB_SCRAM_CRED_STORED: &str =
    "bd5eb9779f560ba3e3b08c6c4ee12a3ed127f7d6346bd66fdc9c0eac49237da5";
const AB_SCRAM_CRED_SERVER: &str =
    "4b00ed0a8335a0d0a0f01df3b289f594786b8722638bdc1241bce89b163c67b1";

/// Accepts the cheap parameters tests use to stay fast.
fn cheap() -> CostPolicy {
    CostPolicy {
        min_argon2_memory: 8,
        min_argon2_work: 0,
        min_pbkdf2_iterations: 1,
        ..CostPolicy::default()
    }
}

fn range<const N: usize>(start: u8) -> [u8; N] {
    std::array::from_fn(|i| start + i as u8)
}

#[test]
fn wampcra_matches_autobahn() {
    assert_eq!(
        cra::sign(AB_CRA_SECRET.as_bytes(), AB_CRA_CHALLENGE),
        AB_CRA_PLAIN
    );
    let key = cra::derive_key(AB_CRA_SECRET, "salt123", 1000, 32).unwrap();
    assert_eq!(cra::sign(key.as_bytes(), AB_CRA_CHALLENGE), AB_CRA_SALTED);
    let key = cra::derive_key("sécret✓", "sel✓", 10, 16).unwrap();
    assert_eq!(key, AB_CRA_UNICODE_KEY);
    assert_eq!(
        cra::sign("sécret✓".as_bytes(), r#"{"authid": "jö", "nonce": "✓"}"#),
        AB_CRA_UNICODE_SIG
    );

    // Through Credentials, as Autobahn's AuthWampCra answers.
    let mut credentials = Credentials::new().authid("joe").wampcra(AB_CRA_SECRET);
    credentials.hello(&[0; HELLO_RANDOM_LEN]).unwrap();
    let plain = challenge(
        "wampcra",
        ChallengeExtra {
            challenge: Some(AB_CRA_CHALLENGE.into()),
            ..Default::default()
        },
    );
    assert_eq!(credentials.respond(&plain).unwrap().0, AB_CRA_PLAIN);
    let salted = challenge(
        "wampcra",
        ChallengeExtra {
            challenge: Some(AB_CRA_CHALLENGE.into()),
            salt: Some("salt123".into()),
            iterations: Some(1000),
            keylen: Some(32),
            ..Default::default()
        },
    );
    assert_eq!(credentials.respond(&salted).unwrap().0, AB_CRA_SALTED);
}

#[test]
fn cryptosign_matches_autobahn() {
    let key = SigningKey::from_seed(&range::<32>(0));
    assert_eq!(key.public_key().to_hex(), AB_CS_PUBKEY);
    let challenge_hex = "a5".repeat(32);
    assert_eq!(key.sign_challenge(&challenge_hex, None).unwrap(), AB_CS_SIG);
    let channel_id = range::<32>(32);
    assert_eq!(
        key.sign_challenge(&challenge_hex, Some(&channel_id))
            .unwrap(),
        AB_CS_SIG_BOUND
    );
    cryptosign::verify(
        &key.public_key(),
        &[0xa5; 32],
        Some(channel_id),
        AB_CS_SIG_BOUND,
    )
    .unwrap();
}

#[test]
fn scram_client_matches_autobahn() {
    let extra = ChallengeExtra {
        nonce: Some(AB_SCRAM_CHALLENGE_NONCE.into()),
        salt: Some(AB_SCRAM_SALT.into()),
        kdf: Some("argon2id-13".into()),
        iterations: Some(3),
        memory: Some(1024),
        ..Default::default()
    };
    for (password, proof) in [
        ("secret", AB_SCRAM_PROOF_SECRET),
        ("pässwörd", AB_SCRAM_PROOF_UNICODE),
    ] {
        // Autobahn's client nonce is 16 bytes: Crossbar's combined nonce is the base64 of the
        // concatenated bytes, so its text does not start with the client's text.
        let client = ScramClient::new(Variant::Autobahn, "alice", password, &range::<16>(100))
            .unwrap()
            .with_policy(cheap());
        assert_eq!(client.nonce(), "ZGVmZ2hpamtsbW5vcHFycw==");
        let answer = client.respond(&extra).unwrap();
        assert_eq!(answer.proof, proof);
        assert!(answer.extra.is_empty());
    }
    // The default policy refuses these cheap parameters.
    let client = ScramClient::new(Variant::Autobahn, "alice", "secret", &range::<16>(100)).unwrap();
    assert!(matches!(
        client.respond(&extra),
        Err(AuthError::WeakParameters { .. })
    ));
}

#[test]
fn scram_stored_credential_matches_autobahn() {
    // Autobahn's (and Crossbar's documented) defaults: 4096 passes over 512 KiB.
    let salt = hex::decode(AB_SCRAM_CRED_SALT).unwrap();
    let kdf = Kdf::Argon2id13 {
        iterations: 4096,
        memory: 512,
    };
    let stored = StoredCredential::derive(Variant::Autobahn, "secret", &salt, kdf).unwrap();
    assert_eq!(hex::encode(stored.stored_key), AB_SCRAM_CRED_STORED);
    assert_eq!(hex::encode(stored.server_key), AB_SCRAM_CRED_SERVER);
    // The default policy accepts Crossbar's defaults.
    assert!(CostPolicy::default().check(Variant::Autobahn, &kdf).is_ok());
}

#[test]
fn scram_server_accepts_autobahn_proof() {
    // Our server (Autobahn dialect) with Crossbar's nonce construction, fed Autobahn's proof.
    let salt = range::<16>(0);
    let kdf = Kdf::Argon2id13 {
        iterations: 3,
        memory: 1024,
    };
    let stored = StoredCredential::derive(Variant::Autobahn, "secret", &salt, kdf).unwrap();
    let mut hello = Dict::new();
    hello.insert("nonce".into(), Value::from("ZGVmZ2hpamtsbW5vcHFycw=="));
    let server = ScramServer::new(
        Variant::Autobahn,
        "alice",
        &hello,
        stored,
        &range::<16>(200),
    )
    .unwrap();
    let extra = server.challenge_extra();
    assert_eq!(extra.nonce.as_deref(), Some(AB_SCRAM_CHALLENGE_NONCE));
    assert_eq!(extra.salt.as_deref(), Some(AB_SCRAM_SALT));
    assert_eq!(extra.kdf.as_deref(), Some("argon2id-13"));
    let welcome = server
        .verify(AB_SCRAM_PROOF_SECRET, &AuthenticateExtra::default(), None)
        .unwrap();
    assert!(welcome.contains_key("scram_server_signature"));
    assert!(matches!(
        server.verify(AB_SCRAM_PROOF_UNICODE, &AuthenticateExtra::default(), None),
        Err(AuthError::VerificationFailed { .. })
    ));
}

fn challenge(method: &str, extra: ChallengeExtra) -> Challenge {
    Challenge {
        auth_method: method.into(),
        extra,
    }
}

/// One SCRAM exchange through `Credentials` against `ScramServer`.
fn scram_exchange(
    variant: Variant,
    kdf: Kdf,
    password: &str,
    tried: &str,
) -> Result<(), AuthError> {
    let salt = range::<16>(40);
    let stored = StoredCredential::derive(variant, password, &salt, kdf).unwrap();
    let options = ScramOptions {
        policy: cheap(),
        ..ScramOptions::default()
    };
    let mut credentials = Credentials::new()
        .authid("us,er=1")
        .scram_with(tried, options);
    let hello = credentials.hello(&range::<HELLO_RANDOM_LEN>(1)).unwrap();
    assert_eq!(hello.authmethods, ["scram", "wamp-scram"]);
    let server = ScramServer::new(
        variant,
        "us,er=1",
        &hello.authextra,
        stored,
        &range::<16>(90),
    )?;
    let (proof, extra) =
        credentials.respond(&challenge(variant.authmethod(), server.challenge_extra()))?;
    let authextra = server.verify(&proof, &extra, None)?;
    credentials.check_welcome(&WelcomeDetails {
        authmethod: Some(variant.authmethod().into()),
        authextra: Some(authextra.clone()),
        ..Default::default()
    })?;
    // A tampered server signature is refused.
    let mut forged = authextra;
    let key = forged.keys().next().unwrap().clone();
    forged.insert(
        key,
        Value::from("v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
    );
    assert!(credentials
        .check_welcome(&WelcomeDetails {
            authextra: Some(forged),
            ..Default::default()
        })
        .is_err());
    Ok(())
}

#[test]
fn scram_round_trips_both_variants_both_kdfs() {
    let kdfs = [
        Kdf::Argon2id13 {
            iterations: 2,
            memory: 64,
        },
        Kdf::Pbkdf2 { iterations: 64 },
    ];
    for variant in [Variant::Spec, Variant::Autobahn] {
        for kdf in kdfs {
            scram_exchange(variant, kdf, "pencil✓", "pencil✓").unwrap();
            assert!(
                matches!(
                    scram_exchange(variant, kdf, "pencil✓", "pencil"),
                    Err(AuthError::VerificationFailed { .. })
                ),
                "{variant:?} {kdf:?}"
            );
        }
    }
}

#[test]
fn scram_spec_channel_binding() {
    use super::scram::ChannelBinding;
    let kdf = Kdf::Pbkdf2 { iterations: 16 };
    let stored = StoredCredential::derive(Variant::Spec, "pw", &[3; 16], kdf).unwrap();
    let binding = ChannelBinding {
        kind: "tls-unique".into(),
        data: vec![1, 2, 3],
    };
    let client = ScramClient::new(Variant::Spec, "u", "pw", &[5; 18])
        .unwrap()
        .with_policy(cheap())
        .with_channel_binding(binding);
    let hello = client.hello_authextra();
    assert_eq!(hello["channel_binding"], Value::from("tls-unique"));
    let server = ScramServer::new(Variant::Spec, "u", &hello, stored, &[6; 16]).unwrap();
    let answer = client.respond(&server.challenge_extra()).unwrap();
    assert_eq!(answer.extra.cbind_data.as_deref(), Some("AQID"));
    let welcome = server
        .verify(&answer.proof, &answer.extra, Some(&[1, 2, 3]))
        .unwrap();
    answer.verifier.verify(&welcome).unwrap();
    // The router sees another TLS channel: a man in the middle.
    assert!(server
        .verify(&answer.proof, &answer.extra, Some(&[9, 9, 9]))
        .is_err());
}

#[test]
fn scram_client_refuses_bad_challenges() {
    let client = ScramClient::new(Variant::Spec, "u", "pw", &[5; 18]).unwrap();
    let good = ChallengeExtra {
        nonce: Some(format!("{}AAAA", client.nonce())),
        salt: Some("AAECAwQFBgcICQoLDA0ODw==".into()),
        kdf: Some("pbkdf2".into()),
        iterations: Some(4096),
        ..Default::default()
    };
    let with = |f: &dyn Fn(&mut ChallengeExtra)| {
        let mut e = good.clone();
        f(&mut e);
        client.respond(&e).unwrap_err()
    };
    assert!(client.respond(&good).is_ok());
    assert!(matches!(
        with(&|e| e.nonce = Some("AAAA".into())),
        AuthError::NonceMismatch { .. }
    ));
    assert!(matches!(
        with(&|e| e.nonce = Some(client.nonce().into())),
        AuthError::NonceMismatch { .. }
    ));
    assert!(matches!(
        with(&|e| e.nonce = None),
        AuthError::MissingField { field: "nonce", .. }
    ));
    assert!(matches!(
        with(&|e| e.salt = Some("*".into())),
        AuthError::InvalidField { field: "salt", .. }
    ));
    assert!(matches!(
        with(&|e| e.kdf = Some("md5".into())),
        AuthError::UnsupportedKdf { .. }
    ));
    assert!(matches!(
        with(&|e| e.iterations = Some(1000)),
        AuthError::WeakParameters { .. }
    ));
    assert!(matches!(
        with(&|e| e.iterations = Some(u64::MAX)),
        AuthError::ExcessiveParameters { .. }
    ));
    assert!(matches!(
        with(&|e| {
            e.kdf = Some("argon2id13".into());
            e.iterations = Some(1);
            e.memory = Some(1 << 30);
        }),
        AuthError::ExcessiveParameters { .. }
    ));
    assert!(matches!(
        with(&|e| e.channel_binding = Some("tls-unique".into())),
        AuthError::ChannelBindingMismatch { .. }
    ));
}

#[test]
fn scram_server_refuses_bad_input() {
    let kdf = Kdf::Pbkdf2 { iterations: 16 };
    let stored = StoredCredential::derive(Variant::Spec, "pw", &[3; 16], kdf).unwrap();
    let mut hello = Dict::new();
    assert!(ScramServer::new(Variant::Spec, "u", &hello, stored.clone(), &[0; 16]).is_err());
    hello.insert("nonce".into(), Value::from("not base64!"));
    assert!(ScramServer::new(Variant::Spec, "u", &hello, stored.clone(), &[0; 16]).is_err());
    hello.insert("nonce".into(), Value::from("AAAA"));
    let server = ScramServer::new(Variant::Spec, "u", &hello, stored, &[0; 16]).unwrap();
    let extra = AuthenticateExtra {
        nonce: server.challenge_extra().nonce,
        ..Default::default()
    };
    for bad in [
        "",
        "AAAA",
        "!!!!",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ] {
        assert!(server.verify(bad, &extra, None).is_err(), "{bad:?}");
    }
    assert!(matches!(
        server.verify("AAAA", &AuthenticateExtra::default(), None),
        Err(AuthError::MissingField { field: "nonce", .. })
    ));
}

#[test]
fn credentials_cryptosign_with_router_authentication() {
    let client_key = SigningKey::from_seed(&[1; 32]);
    let router_key = SigningKey::from_seed(&[2; 32]);
    let options = CryptosignOptions {
        router_key: Some(router_key.public_key()),
        ..Default::default()
    };
    let mut credentials = Credentials::new().cryptosign_with(client_key.clone(), options);
    let random = range::<HELLO_RANDOM_LEN>(0);
    let hello = credentials.hello(&random).unwrap();
    assert_eq!(hello.authid, None);
    assert_eq!(
        hello.authextra["pubkey"],
        Value::from(client_key.public_key().to_hex())
    );
    let client_challenge = hello.authextra["challenge"].as_str().unwrap().to_owned();

    let router_random = [7; 32];
    let extra =
        cryptosign::challenge_extra(&router_random, None, Some((&router_key, &client_challenge)))
            .unwrap();
    let (signature, _) = credentials
        .respond(&challenge("cryptosign", extra.clone()))
        .unwrap();
    cryptosign::verify(&client_key.public_key(), &router_random, None, &signature).unwrap();
    let welcome = WelcomeDetails {
        authmethod: Some("cryptosign".into()),
        ..Default::default()
    };
    credentials.check_welcome(&welcome).unwrap();

    // An impostor router: its own key, or no signature at all.
    let impostor = SigningKey::from_seed(&[3; 32]);
    let forged =
        cryptosign::challenge_extra(&router_random, None, Some((&impostor, &client_challenge)))
            .unwrap();
    credentials.hello(&random).unwrap();
    assert!(matches!(
        credentials.respond(&challenge("cryptosign", forged)),
        Err(AuthError::RouterNotAuthenticated { .. })
    ));
    let unsigned = cryptosign::challenge_extra(&router_random, None, None).unwrap();
    assert!(credentials
        .respond(&challenge("cryptosign", unsigned))
        .is_err());
    // A WELCOME claiming cryptosign without the router having proved itself.
    credentials.hello(&random).unwrap();
    assert!(credentials.check_welcome(&welcome).is_err());
}

#[test]
fn credentials_cryptosign_channel_binding_must_match() {
    let key = SigningKey::from_seed(&[1; 32]);
    let options = CryptosignOptions {
        channel_binding: Some(("tls-unique".into(), [9; 32])),
        ..Default::default()
    };
    let mut credentials = Credentials::new().cryptosign_with(key.clone(), options);
    let hello = credentials.hello(&[0; HELLO_RANDOM_LEN]).unwrap();
    assert_eq!(
        hello.authextra["channel_binding"],
        Value::from("tls-unique")
    );
    let unbound = cryptosign::challenge_extra(&[4; 32], None, None).unwrap();
    assert!(matches!(
        credentials.respond(&challenge("cryptosign", unbound)),
        Err(AuthError::ChannelBindingMismatch { .. })
    ));
    let bound = cryptosign::challenge_extra(&[4; 32], Some(("tls-unique", [9; 32])), None).unwrap();
    let (signature, _) = credentials
        .respond(&challenge("cryptosign", bound))
        .unwrap();
    cryptosign::verify(&key.public_key(), &[4; 32], Some([9; 32]), &signature).unwrap();
}

#[test]
fn credentials_ticket_and_errors() {
    let mut credentials = Credentials::new().ticket("t1");
    assert!(matches!(
        credentials.hello(&[0; HELLO_RANDOM_LEN]),
        Err(AuthError::InvalidParameter { .. })
    ));
    let mut credentials = Credentials::new().authid("joe").ticket("t1").anonymous();
    assert!(matches!(
        credentials.respond(&challenge("ticket", ChallengeExtra::default())),
        Err(AuthError::OutOfOrder(_))
    ));
    let hello = credentials.hello(&[0; HELLO_RANDOM_LEN]).unwrap();
    assert_eq!(hello.authmethods, ["ticket", "anonymous"]);
    assert!(hello.authextra.is_empty());
    assert_eq!(
        credentials
            .respond(&challenge("ticket", ChallengeExtra::default()))
            .unwrap()
            .0,
        "t1"
    );
    for method in ["anonymous", "wampcra", "cryptosign", "scram", ""] {
        assert!(
            matches!(
                credentials.respond(&challenge(method, ChallengeExtra::default())),
                Err(AuthError::UnexpectedMethod { .. })
            ),
            "{method}"
        );
    }
    // WAMP-CRA with missing or malformed fields.
    let mut cra = Credentials::new().authid("joe").wampcra("s");
    cra.hello(&[0; HELLO_RANDOM_LEN]).unwrap();
    let no_challenge = challenge("wampcra", ChallengeExtra::default());
    assert!(matches!(
        cra.respond(&no_challenge),
        Err(AuthError::MissingField {
            field: "challenge",
            ..
        })
    ));
    let half_salted = challenge(
        "wampcra",
        ChallengeExtra {
            challenge: Some("{}".into()),
            salt: Some("s".into()),
            iterations: Some(10),
            ..Default::default()
        },
    );
    assert!(matches!(
        cra.respond(&half_salted),
        Err(AuthError::MissingField {
            field: "keylen",
            ..
        })
    ));
    let huge = challenge(
        "wampcra",
        ChallengeExtra {
            challenge: Some("{}".into()),
            salt: Some("s".into()),
            iterations: Some(u64::MAX),
            keylen: Some(32),
            ..Default::default()
        },
    );
    assert!(matches!(
        cra.respond(&huge),
        Err(AuthError::InvalidField {
            field: "iterations",
            ..
        })
    ));
    let bad_hex = challenge("cryptosign", ChallengeExtra::default());
    let mut cs = Credentials::new().cryptosign(SigningKey::from_seed(&[0; 32]));
    cs.hello(&[0; HELLO_RANDOM_LEN]).unwrap();
    assert!(matches!(
        cs.respond(&bad_hex),
        Err(AuthError::MissingField {
            field: "challenge",
            ..
        })
    ));
    let bad_hex = challenge(
        "cryptosign",
        ChallengeExtra {
            challenge: Some("xyz".into()),
            ..Default::default()
        },
    );
    assert!(matches!(
        cs.respond(&bad_hex),
        Err(AuthError::InvalidField { .. })
    ));
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let key = SigningKey::from_seed(&[0x5e; 32]);
    let mut credentials = Credentials::new()
        .authid("joe")
        .ticket("tick-et")
        .wampcra("cra-secret")
        .scram("scram-pass")
        .cryptosign(key);
    credentials.hello(&[0; HELLO_RANDOM_LEN]).unwrap();
    let shown = format!("{credentials:?} {credentials:#?}");
    for secret in ["tick-et", "cra-secret", "scram-pass", &"5e".repeat(8)] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    let client = ScramClient::new(Variant::Spec, "u", "scram-pass", &[0; 18]).unwrap();
    assert!(!format!("{client:?}").contains("scram-pass"));
}
