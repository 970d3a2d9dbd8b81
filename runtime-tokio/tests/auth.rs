//! The client's authentication, end to end over WebSocket: a nexus router whose
//! authenticator implements the router side of every method with `nexus_core::auth`, and
//! clients with right and wrong credentials. (Against Crossbar: interop/crossbar-auth.)

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nexus_driver::nexus_core::auth::client::{Credentials, CryptosignOptions, ScramOptions};
use nexus_driver::nexus_core::auth::cryptosign::{self, PublicKey, SigningKey};
use nexus_driver::nexus_core::auth::scram::{
    CostPolicy, Kdf, ScramServer, StoredCredential, Variant,
};
use nexus_driver::nexus_core::auth::{cra, method, ticket, AuthError};
use nexus_driver::nexus_core::message::ChallengeExtra;
use nexus_driver::nexus_core::router::{
    AuthDecision, AuthMode, AuthRequest, ConnectionId, Identity, RealmConfig,
};
use nexus_driver::nexus_core::{Dict, Uri, Value};
use nexus_driver::{Authenticator, Client, ClientConfig, Error, RouterBuilder};

const ROUTER_SEED: [u8; 32] = [0x70; 32];
const CLIENT_SEED: [u8; 32] = [0x71; 32];
const CRA_SALT: &str = "salt123";

/// What the router remembers between HELLO and AUTHENTICATE.
enum Pending {
    Ticket(String),
    Cra(String, String),
    Cryptosign(String, [u8; 32]),
    Scram(String, Box<ScramServer>),
}

/// How the test router misbehaves, if at all.
#[derive(Clone, Copy, PartialEq)]
enum Router {
    Honest,
    /// SCRAM: a WELCOME with a wrong server signature.
    ForgesScram,
    /// SCRAM: a CHALLENGE with cheap Argon2 parameters.
    WeakScram,
}

fn scram_kdf(variant: Variant, weak: bool) -> Kdf {
    match (variant, weak) {
        (_, true) => Kdf::Argon2id13 {
            iterations: 1,
            memory: 64,
        },
        (Variant::Spec, false) => Kdf::Argon2id13 {
            iterations: 2,
            memory: 16_384,
        },
        (Variant::Autobahn, false) => Kdf::Pbkdf2 { iterations: 4096 },
    }
}

fn deny(message: &str) -> AuthDecision {
    AuthDecision::Deny {
        reason: "wamp.error.authentication_failed".into(),
        message: message.into(),
    }
}

fn welcome(authid: &str, authmethod: &str, authextra: Dict) -> AuthDecision {
    AuthDecision::Welcome(Identity {
        authid: authid.into(),
        authrole: format!("{authmethod}-role"),
        authmethod: authmethod.into(),
        authprovider: "test".into(),
        authextra,
    })
}

fn authenticator(behaviour: Router) -> Authenticator {
    let pending: Arc<Mutex<HashMap<ConnectionId, Pending>>> = Arc::default();
    let router_key = SigningKey::from_seed(&ROUTER_SEED);
    let client_key = SigningKey::from_seed(&CLIENT_SEED).public_key();
    Arc::new(move |request: AuthRequest| {
        let decision = decide(&pending, &router_key, &client_key, behaviour, request);
        Box::pin(async move { decision })
    })
}

fn decide(
    pending: &Mutex<HashMap<ConnectionId, Pending>>,
    router_key: &SigningKey,
    client_key: &PublicKey,
    behaviour: Router,
    request: AuthRequest,
) -> AuthDecision {
    let mut pending = pending.lock().unwrap();
    let details = &request.hello.details;
    let authid = details.authid.clone().unwrap_or_default();
    let empty = Dict::new();
    let hello_extra = details.authextra.as_ref().unwrap_or(&empty);
    let Some(answer) = request.authenticate else {
        // HELLO: challenge with the first method we know.
        for m in details.authmethods.iter().flatten() {
            let (extra, state) = match m.as_str() {
                method::TICKET => (ChallengeExtra::default(), Pending::Ticket(authid.clone())),
                method::WAMPCRA => {
                    let challenge = cra::CraChallenge {
                        authid: authid.clone(),
                        authrole: "wampcra-role".into(),
                        authprovider: "test".into(),
                        nonce: cra::nonce(&[3; 16]),
                        timestamp: cra::timestamp(1_700_000_000_000),
                        session: 1,
                    }
                    .to_json();
                    let extra = ChallengeExtra {
                        challenge: Some(challenge.clone()),
                        salt: Some(CRA_SALT.into()),
                        iterations: Some(1000),
                        keylen: Some(32),
                        ..Default::default()
                    };
                    (extra, Pending::Cra(authid.clone(), challenge))
                }
                method::CRYPTOSIGN => {
                    let random = [0x33; 32];
                    let client_challenge = hello_extra.get("challenge").and_then(Value::as_str);
                    let extra = match cryptosign::challenge_extra(
                        &random,
                        None,
                        client_challenge.map(|c| (router_key, c)),
                    ) {
                        Ok(extra) => extra,
                        Err(e) => return deny(&e.to_string()),
                    };
                    (extra, Pending::Cryptosign(authid.clone(), random))
                }
                method::SCRAM | method::WAMP_SCRAM => {
                    let variant = Variant::from_authmethod(m).unwrap();
                    let kdf = scram_kdf(variant, behaviour == Router::WeakScram);
                    let stored =
                        StoredCredential::derive(variant, "pencil", &[9; 16], kdf).unwrap();
                    let server =
                        match ScramServer::new(variant, &authid, hello_extra, stored, &[4; 16]) {
                            Ok(server) => server,
                            Err(e) => return deny(&e.to_string()),
                        };
                    (
                        server.challenge_extra(),
                        Pending::Scram(authid.clone(), Box::new(server)),
                    )
                }
                _ => continue,
            };
            pending.insert(request.connection, state);
            return AuthDecision::Challenge {
                method: m.clone(),
                extra,
            };
        }
        return AuthDecision::Deny {
            reason: "wamp.error.no_matching_auth_method".into(),
            message: "no method offered is configured".into(),
        };
    };
    match pending.remove(&request.connection) {
        Some(Pending::Ticket(authid)) if ticket::verify("t1cket", &answer.signature) => {
            welcome(&authid, method::TICKET, Dict::new())
        }
        Some(Pending::Cra(authid, challenge)) => {
            let key = cra::derive_key("cra-secret", CRA_SALT, 1000, 32).unwrap();
            if cra::verify(key.as_bytes(), &challenge, &answer.signature) {
                welcome(&authid, method::WAMPCRA, Dict::new())
            } else {
                deny("WAMP-CRA signature is invalid")
            }
        }
        Some(Pending::Cryptosign(authid, random)) => {
            match cryptosign::verify(client_key, &random, None, &answer.signature) {
                Ok(()) => welcome(&authid, method::CRYPTOSIGN, Dict::new()),
                Err(e) => deny(&e.to_string()),
            }
        }
        Some(Pending::Scram(authid, server)) => {
            match server.verify(&answer.signature, &answer.extra, None) {
                Ok(mut authextra) => {
                    if behaviour == Router::ForgesScram {
                        for value in authextra.values_mut() {
                            *value = Value::from("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
                        }
                    }
                    let m = Variant::from_authmethod(&answer_method(&server)).unwrap();
                    welcome(&authid, m.authmethod(), authextra)
                }
                Err(e) => deny(&e.to_string()),
            }
        }
        _ => deny("wrong answer"),
    }
}

/// The authmethod of a SCRAM exchange (its CHALLENGE names the KDF per variant).
fn answer_method(server: &ScramServer) -> String {
    match server.challenge_extra().kdf.as_deref() {
        Some("argon2id13") => method::WAMP_SCRAM.into(),
        _ => method::SCRAM.into(),
    }
}

async fn router(behaviour: Router) -> (nexus_driver::RouterHandle, String) {
    let mut realm = RealmConfig::new(Uri::parse("auth").unwrap());
    realm.auth = AuthMode::External;
    let router = RouterBuilder::new()
        .realm_config(realm)
        .authenticator(authenticator(behaviour))
        .start(nexus_tokio::runtime());
    let url = router.listen("ws://127.0.0.1:0/ws", None).await.unwrap();
    (router, url)
}

async fn connect(url: &str, config: ClientConfig) -> Result<Client, Error> {
    let config = config.connect_timeout(Duration::from_secs(10));
    Client::connect(nexus_tokio::runtime(), url, config).await
}

fn who(client: &Client) -> (Option<String>, Option<String>, Option<String>) {
    (client.authid(), client.authrole(), client.authmethod())
}

fn cheap_scram(variant: Variant) -> ScramOptions {
    ScramOptions {
        variants: vec![variant],
        policy: CostPolicy {
            min_argon2_work: 0,
            ..CostPolicy::default()
        },
        channel_binding: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_method_against_a_nexus_router() {
    let (_router, url) = router(Router::Honest).await;
    let c = || ClientConfig::new("auth").authid("joe");

    let client = connect(&url, c().ticket("t1cket")).await.unwrap();
    assert_eq!(
        who(&client),
        (
            Some("joe".into()),
            Some("ticket-role".into()),
            Some("ticket".into())
        )
    );
    let wrong = connect(&url, c().ticket("wrong")).await.unwrap_err();
    assert!(matches!(wrong, Error::Aborted { .. }), "{wrong}");

    let client = connect(&url, c().wampcra("cra-secret")).await.unwrap();
    assert_eq!(
        who(&client),
        (
            Some("joe".into()),
            Some("wampcra-role".into()),
            Some("wampcra".into())
        )
    );
    let wrong = connect(&url, c().wampcra("wrong")).await.unwrap_err();
    assert!(matches!(wrong, Error::Aborted { .. }), "{wrong}");

    let key = || SigningKey::from_seed(&CLIENT_SEED);
    let client = connect(&url, c().cryptosign(key())).await.unwrap();
    assert_eq!(client.authmethod().as_deref(), Some("cryptosign"));
    let wrong = connect(&url, c().cryptosign(SigningKey::from_seed(&[1; 32])))
        .await
        .unwrap_err();
    assert!(matches!(wrong, Error::Aborted { .. }), "{wrong}");
    let trusting = |router_key| {
        Credentials::new().authid("joe").cryptosign_with(
            key(),
            CryptosignOptions {
                router_key: Some(router_key),
                ..Default::default()
            },
        )
    };
    let router_key = SigningKey::from_seed(&ROUTER_SEED).public_key();
    let client = connect(&url, c().credentials(trusting(router_key)))
        .await
        .unwrap();
    assert_eq!(client.authmethod().as_deref(), Some("cryptosign"));
    let impostor = SigningKey::from_seed(&[2; 32]).public_key();
    let refused = connect(&url, c().credentials(trusting(impostor)))
        .await
        .unwrap_err();
    assert!(
        matches!(
            refused,
            Error::Authentication(AuthError::RouterNotAuthenticated { .. })
        ),
        "{refused}"
    );

    for variant in [Variant::Spec, Variant::Autobahn] {
        let scram = |password: &str| {
            c().credentials(Credentials::new().scram_with(password, cheap_scram(variant)))
        };
        let client = connect(&url, scram("pencil")).await.unwrap();
        assert_eq!(client.authmethod().as_deref(), Some(variant.authmethod()));
        assert_eq!(client.authid().as_deref(), Some("joe"));
        let wrong = connect(&url, scram("crayon")).await.unwrap_err();
        assert!(matches!(wrong, Error::Aborted { .. }), "{wrong}");
    }

    // Several methods are offered in order; this router takes the first it knows.
    let client = connect(&url, c().anonymous().wampcra("cra-secret").ticket("t1cket"))
        .await
        .unwrap();
    assert_eq!(client.authmethod().as_deref(), Some("wampcra"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_refuses_a_dishonest_scram_router() {
    let (_router, url) = router(Router::ForgesScram).await;
    let config = ClientConfig::new("auth")
        .authid("joe")
        .credentials(Credentials::new().scram_with("pencil", cheap_scram(Variant::Autobahn)));
    let refused = connect(&url, config).await.unwrap_err();
    assert!(
        matches!(
            refused,
            Error::Authentication(AuthError::RouterNotAuthenticated { .. })
        ),
        "{refused}"
    );

    let (_router, url) = router(Router::WeakScram).await;
    let config = ClientConfig::new("auth").authid("joe").scram("pencil");
    let refused = connect(&url, config).await.unwrap_err();
    assert!(
        matches!(
            refused,
            Error::Authentication(AuthError::WeakParameters { .. })
        ),
        "{refused}"
    );
}
