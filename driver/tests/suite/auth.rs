//! Authentication over real sockets: the WebSocket cookie round trip, TLS client
//! certificates (optional and required), and cryptosign bound to the TLS channel with
//! `tls-exporter`, against a router with the built-in provider.

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use nexus_driver::nexus_core::auth::client::{Credentials, CryptosignOptions, HELLO_RANDOM_LEN};
use nexus_driver::nexus_core::auth::cryptosign::SigningKey;
use nexus_driver::nexus_core::message::{Authenticate, ClientRoles, Hello, Message, Role, Welcome};
use nexus_driver::nexus_core::router::{
    AuthMethod, AuthMode, RealmConfig, RouterConfig, StaticAuth, StaticUser,
};
use nexus_driver::nexus_core::{Limits, Serializer, Uri};
use nexus_driver::nexus_transports::tls::{self, ClientCertMode};
use nexus_driver::nexus_transports::{
    connect_rawsocket, connect_websocket_with_config, CookieConfig, Endpoint, Incoming, Outgoing,
    Transport, WebSocketClientConfig,
};
use nexus_driver::{ClientConfig, CookieJar, Error, ListenOptions, RouterBuilder, Runtime};

use super::within;

fn alice_key() -> SigningKey {
    SigningKey::from_seed(&[0xa1; 32])
}

fn router(rt: Arc<dyn Runtime>) -> nexus_driver::RouterHandle {
    let auth = StaticAuth::new([
        AuthMethod::Ticket,
        AuthMethod::Cookie,
        AuthMethod::Tls,
        AuthMethod::Cryptosign,
    ])
    .user(
        "alice",
        StaticUser::new("admin")
            .ticket("alice-ticket")
            .cryptosign(alice_key().public_key()),
    )
    .unwrap()
    .user("device-17", StaticUser::new("device"))
    .unwrap();
    let mut realm = RealmConfig::new(Uri::parse("auth.realm").unwrap());
    realm.auth = AuthMode::Static(Arc::new(auth));
    RouterBuilder::with_config(RouterConfig {
        realms: vec![realm],
        ..RouterConfig::default()
    })
    .start(rt)
}

fn hello(authmethods: &[&str], authid: Option<&str>) -> Hello {
    let mut hello = Hello::new(
        Uri::parse("auth.realm").unwrap(),
        ClientRoles {
            caller: Some(Role::default()),
            ..Default::default()
        },
    );
    hello.details.authmethods = Some(authmethods.iter().map(|m| m.to_string()).collect());
    hello.details.authid = authid.map(str::to_owned);
    hello
}

async fn send(rt: &dyn Runtime, transport: &mut Transport, message: Message) {
    let bytes = transport.serializer().encode(&message).unwrap();
    within(rt, "send", transport.send(Outgoing::Message(bytes)))
        .await
        .unwrap();
}

async fn recv(rt: &dyn Runtime, transport: &mut Transport) -> Message {
    loop {
        let item = within(rt, "a message from the router", transport.next())
            .await
            .expect("the router closed the transport")
            .unwrap();
        if let Incoming::Message(bytes) = item {
            return transport
                .serializer()
                .decode(&bytes, &Limits::default())
                .unwrap();
        }
    }
}

fn welcome(message: Message) -> Welcome {
    match message {
        Message::Welcome(w) => *w,
        other => panic!("expected WELCOME, got {other:?}"),
    }
}

/// Opens a WebSocket to `url` with `headers`; returns it and its `Set-Cookie` value.
async fn websocket(
    rt: &dyn Runtime,
    url: &str,
    headers: Vec<(String, String)>,
) -> (Transport, Option<String>) {
    let endpoint = Endpoint::parse(url).unwrap();
    let Endpoint::WebSocket { host, port, .. } = &endpoint else {
        panic!("{url} is not WebSocket")
    };
    let io = within(rt, "connect", rt.connect_tcp(host.clone(), *port))
        .await
        .unwrap();
    let config = WebSocketClientConfig {
        offers: vec![(Serializer::Json, false)],
        headers,
        ..WebSocketClientConfig::default()
    };
    let transport = within(
        rt,
        "WebSocket handshake",
        connect_websocket_with_config(io, &endpoint, &config),
    )
    .await
    .unwrap();
    let set_cookie = transport
        .response_headers()
        .iter()
        .find(|(name, _)| name == "set-cookie")
        .map(|(_, value)| value.clone());
    (transport, set_cookie)
}

/// A cookie set on the first connection authenticates the next one, once a session on the
/// first authenticated by another method.
pub async fn cookie_round_trip(rt: Arc<dyn Runtime>) {
    let router = router(rt.clone());
    let options = ListenOptions {
        tls: None,
        cookie: Some(CookieConfig {
            name: "nexus_sid".into(),
            max_age: Duration::from_secs(600),
        }),
    };
    let url = within(
        &*rt,
        "listen",
        router.listen_with("ws://127.0.0.1:0/ws", options),
    )
    .await
    .unwrap();
    let rt = &*rt;

    // 1. No cookie: the router sets one; a ticket login binds it.
    let (mut first, set_cookie) = websocket(rt, &url, Vec::new()).await;
    let set_cookie = set_cookie.expect("a Set-Cookie for a client without a cookie");
    assert!(set_cookie.starts_with("nexus_sid="), "{set_cookie}");
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("Max-Age=600"), "{set_cookie}");
    assert!(!set_cookie.contains("Secure"), "plain ws:// {set_cookie}");
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    send(rt, &mut first, hello(&["ticket"], Some("alice")).into()).await;
    assert!(matches!(recv(rt, &mut first).await, Message::Challenge(_)));
    let authenticate = Authenticate {
        signature: "alice-ticket".into(),
        extra: Default::default(),
    };
    send(rt, &mut first, authenticate.into()).await;
    let w = welcome(recv(rt, &mut first).await);
    assert_eq!(w.details.authmethod.as_deref(), Some("ticket"));
    let _ = first.close().await;

    // 2. The cookie alone: welcomed as alice, and no new cookie.
    let headers = vec![("Cookie".to_owned(), format!("other=1; {cookie}"))];
    let (mut second, set_again) = websocket(rt, &url, headers).await;
    assert_eq!(set_again, None);
    send(rt, &mut second, hello(&["cookie", "ticket"], None).into()).await;
    let w = welcome(recv(rt, &mut second).await);
    assert_eq!(w.details.authmethod.as_deref(), Some("cookie"));
    assert_eq!(w.details.authid.as_deref(), Some("alice"));
    assert_eq!(w.details.authrole.as_deref(), Some("admin"));
    let _ = second.close().await;

    // 3. A forged cookie: not known, so a fresh one is set and cookie does not work.
    let headers = vec![("Cookie".to_owned(), "nexus_sid=forged".to_owned())];
    let (mut third, fresh) = websocket(rt, &url, headers).await;
    assert!(fresh.is_some_and(|c| !c.contains("forged")));
    send(rt, &mut third, hello(&["cookie"], None).into()).await;
    let Message::Abort(abort) = recv(rt, &mut third).await else {
        panic!("expected ABORT")
    };
    assert_eq!(abort.reason.as_str(), "wamp.error.no_matching_auth_method");
    router.shutdown().await;
}

/// The client's cookie jar: the first session logs in by ticket and the jar keeps the
/// router's cookie; the next sessions offer `cookie` first and are welcomed by it; a cookie
/// the router does not know is not enough, and the jar takes the fresh one, which the next
/// ticket login binds.
pub async fn client_cookie_jar(rt: Arc<dyn Runtime>) {
    let router = router(rt.clone());
    let options = ListenOptions {
        tls: None,
        cookie: Some(CookieConfig {
            name: "nexus_sid".into(),
            max_age: Duration::from_secs(600),
        }),
    };
    let url = within(
        &*rt,
        "listen",
        router.listen_with("ws://127.0.0.1:0/ws", options),
    )
    .await
    .unwrap();
    let connect = |config: ClientConfig| {
        let rt = rt.clone();
        let url = url.clone();
        async move {
            within(
                &*rt,
                "join",
                nexus_driver::Client::connect(rt.clone(), &url, config),
            )
            .await
        }
    };
    let jar = CookieJar::new();

    // 1. Ticket; the router's cookie lands in the jar.
    let config = ClientConfig::new("auth.realm")
        .authid("alice")
        .ticket("alice-ticket")
        .cookie_jar(jar.clone());
    let client = connect(config).await.unwrap();
    assert_eq!(client.authmethod().as_deref(), Some("ticket"));
    client.close().await.unwrap();
    let cookie = jar.header("127.0.0.1", false).expect("the router's cookie");
    assert!(cookie.starts_with("nexus_sid="));
    assert!(!format!("{jar:?}").contains(&cookie["nexus_sid=".len()..]));

    // 2. The jar alone: welcomed by cookie as alice; the cookie is kept as it is.
    let client = connect(ClientConfig::new("auth.realm").cookie_jar(jar.clone()))
        .await
        .unwrap();
    assert_eq!(client.authmethod().as_deref(), Some("cookie"));
    assert_eq!(client.authid().as_deref(), Some("alice"));
    assert_eq!(client.authrole().as_deref(), Some("admin"));
    client.close().await.unwrap();
    assert_eq!(jar.header("127.0.0.1", false), Some(cookie.clone()));

    // 3. The cookie is offered before the credentials: a wrong ticket is never tried.
    let config = ClientConfig::new("auth.realm")
        .authid("alice")
        .ticket("wrong")
        .cookie_jar(jar.clone());
    let client = connect(config).await.unwrap();
    assert_eq!(client.authmethod().as_deref(), Some("cookie"));
    client.close().await.unwrap();

    // 4. A forged cookie does not authenticate; the router sets a fresh one, which the
    // jar keeps instead.
    let forged = CookieJar::new();
    forged.store("127.0.0.1", "nexus_sid=forged");
    let refused = connect(ClientConfig::new("auth.realm").cookie_jar(forged.clone())).await;
    assert!(
        matches!(&refused, Err(Error::Aborted { reason, .. }) if reason.as_str() == "wamp.error.no_matching_auth_method"),
        "{:?}",
        refused.map(|c| c.authmethod().as_deref().map(str::to_owned))
    );
    let fresh = forged.header("127.0.0.1", false).unwrap();
    assert!(fresh.starts_with("nexus_sid=") && fresh != "nexus_sid=forged" && fresh != cookie);

    // 5. An unbound cookie is skipped for the next method, and that login binds it.
    let config = ClientConfig::new("auth.realm")
        .authid("alice")
        .ticket("alice-ticket")
        .cookie_jar(forged.clone());
    let client = connect(config).await.unwrap();
    assert_eq!(client.authmethod().as_deref(), Some("ticket"));
    client.close().await.unwrap();
    let client = connect(ClientConfig::new("auth.realm").cookie_jar(forged))
        .await
        .unwrap();
    assert_eq!(client.authmethod().as_deref(), Some("cookie"));
    assert_eq!(client.authid().as_deref(), Some("alice"));
    client.close().await.unwrap();

    // 6. Without a jar, no cookie is sent: the ticket is used.
    let config = ClientConfig::new("auth.realm")
        .authid("alice")
        .ticket("alice-ticket");
    let client = connect(config).await.unwrap();
    assert_eq!(client.authmethod().as_deref(), Some("ticket"));
    client.close().await.unwrap();
    router.shutdown().await;
}

/// A CA, a server certificate and client certificates.
struct Pki {
    ca_pem: String,
    server_cert: String,
    server_key: String,
}

fn ca() -> (rcgen::Issuer<'static, rcgen::KeyPair>, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "nexus test CA");
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params.self_signed(&key).unwrap();
    (rcgen::Issuer::new(params, key), cert.pem())
}

/// A certificate for `cn` (and `dns` names) issued by `issuer`: PEM certificate and key.
fn leaf(
    issuer: &rcgen::Issuer<'static, rcgen::KeyPair>,
    cn: &str,
    dns: &[&str],
    client: bool,
) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let names: Vec<String> = dns.iter().map(|d| d.to_string()).collect();
    let mut params = rcgen::CertificateParams::new(names).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    params.extended_key_usages = vec![if client {
        rcgen::ExtendedKeyUsagePurpose::ClientAuth
    } else {
        rcgen::ExtendedKeyUsagePurpose::ServerAuth
    }];
    let cert = params.signed_by(&key, issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn pki() -> (Pki, rcgen::Issuer<'static, rcgen::KeyPair>) {
    let (issuer, ca_pem) = ca();
    let (server_cert, server_key) = leaf(&issuer, "router", &["127.0.0.1", "localhost"], false);
    (
        Pki {
            ca_pem,
            server_cert,
            server_key,
        },
        issuer,
    )
}

/// TLS client certificates: `tls` authentication with the certificate's CN, optional and
/// required listeners, certificates from another CA refused; cryptosign bound to the TLS
/// channel with tls-exporter.
pub async fn tls_client_certificates(rt: Arc<dyn Runtime>) {
    let (pki, issuer) = pki();
    let router = router(rt.clone());
    let server = |mode| {
        tls::server_config_with_client_auth(
            pki.server_cert.as_bytes(),
            pki.server_key.as_bytes(),
            pki.ca_pem.as_bytes(),
            mode,
        )
        .unwrap()
    };
    let listen = |url: &'static str, mode| {
        let options = ListenOptions {
            tls: Some(server(mode)),
            cookie: None,
        };
        router.listen_with(url, options)
    };
    let optional = within(
        &*rt,
        "listen",
        listen("wss://127.0.0.1:0/ws", ClientCertMode::Optional),
    )
    .await
    .unwrap();
    let required = within(
        &*rt,
        "listen",
        listen("tcps://127.0.0.1:0", ClientCertMode::Required),
    )
    .await
    .unwrap();
    let (device_cert, device_key) = leaf(&issuer, "device-17", &[], true);
    let with_cert = tls::client_config_with_cert(
        Some(pki.ca_pem.as_bytes()),
        device_cert.as_bytes(),
        device_key.as_bytes(),
    )
    .unwrap();
    let without_cert = tls::client_config(Some(pki.ca_pem.as_bytes())).unwrap();
    let tls_login = |tls: Arc<rustls::ClientConfig>| {
        let mut config = ClientConfig::new("auth.realm").tls(tls);
        config.authmethods = vec!["tls".into()];
        config
    };

    // The certificate authenticates, on both listeners; `client_certificate` offers `tls`
    // before the credentials' methods (`anonymous` here, which the realm refuses).
    for url in [&optional, &required] {
        let config = ClientConfig::new("auth.realm")
            .client_certificate(with_cert.clone())
            .anonymous();
        let client = within(
            &*rt,
            "join with a certificate",
            nexus_driver::Client::connect(rt.clone(), url, config),
        )
        .await
        .unwrap();
        let details = client.welcome();
        assert_eq!(details.authmethod.as_deref(), Some("tls"), "{url}");
        assert_eq!(details.authid.as_deref(), Some("device-17"));
        assert_eq!(details.authrole.as_deref(), Some("device"));
        client.close().await.unwrap();
    }

    // No certificate: the optional listener lets the client in for other methods only...
    let refused = within(
        &*rt,
        "join without a certificate",
        nexus_driver::Client::connect(rt.clone(), &optional, tls_login(without_cert.clone())),
    )
    .await;
    assert!(refused.is_err());
    let mut ticket = ClientConfig::new("auth.realm").tls(without_cert.clone());
    ticket.authid = Some("alice".into());
    ticket.authmethods = vec!["tls".into(), "ticket".into()];
    ticket.on_challenge = Some(Arc::new(|_challenge| {
        Box::pin(async { Ok(("alice-ticket".to_owned(), Default::default())) })
    }));
    let client = within(
        &*rt,
        "join with a ticket",
        nexus_driver::Client::connect(rt.clone(), &optional, ticket),
    )
    .await
    .unwrap();
    assert_eq!(client.welcome().authmethod.as_deref(), Some("ticket"));
    client.close().await.unwrap();
    // ... and the required listener refuses the TLS handshake.
    let refused = within(
        &*rt,
        "TLS without a certificate",
        nexus_driver::Client::connect(rt.clone(), &required, tls_login(without_cert.clone())),
    )
    .await;
    assert!(refused.is_err());

    // A certificate from another CA is refused during the handshake.
    let (rogue_issuer, _) = ca();
    let (rogue_cert, rogue_key) = leaf(&rogue_issuer, "device-17", &[], true);
    let rogue = tls::client_config_with_cert(
        Some(pki.ca_pem.as_bytes()),
        rogue_cert.as_bytes(),
        rogue_key.as_bytes(),
    )
    .unwrap();
    let refused = within(
        &*rt,
        "TLS with a rogue certificate",
        nexus_driver::Client::connect(rt.clone(), &optional, tls_login(rogue)),
    )
    .await;
    assert!(refused.is_err());

    // Cryptosign bound to this TLS channel (tls-exporter, RFC 9266): both sides export the
    // same keying material.
    let Endpoint::RawSocket { host, port, .. } = Endpoint::parse(&required).unwrap() else {
        panic!()
    };
    let io = within(&*rt, "connect", rt.connect_tcp(host.clone(), port))
        .await
        .unwrap();
    let stream = within(&*rt, "TLS", tls::connect(io, &host, with_cert.clone()))
        .await
        .unwrap();
    let binding = tls::client_channel_binding(&stream).expect("TLS 1.3 exports keying material");
    let mut transport = within(
        &*rt,
        "RawSocket",
        connect_rawsocket(stream, Serializer::Cbor, 1 << 20),
    )
    .await
    .unwrap();
    let options = CryptosignOptions {
        router_key: None,
        channel_binding: Some(("tls-exporter".into(), binding.data)),
    };
    let mut credentials = Credentials::new()
        .authid("alice")
        .cryptosign_with(alice_key(), options);
    let auth = credentials.hello(&[7; HELLO_RANDOM_LEN]).unwrap();
    let mut message = hello(&[], None);
    message.details.authmethods = Some(auth.authmethods);
    message.details.authid = auth.authid;
    message.details.authextra = Some(auth.authextra);
    send(&*rt, &mut transport, message.into()).await;
    let Message::Challenge(challenge) = recv(&*rt, &mut transport).await else {
        panic!("expected CHALLENGE")
    };
    assert_eq!(
        challenge.extra.channel_binding.as_deref(),
        Some("tls-exporter")
    );
    let (signature, extra) = credentials.respond(&challenge).unwrap();
    send(
        &*rt,
        &mut transport,
        Authenticate { signature, extra }.into(),
    )
    .await;
    let w = welcome(recv(&*rt, &mut transport).await);
    assert_eq!(w.details.authmethod.as_deref(), Some("cryptosign"));
    assert_eq!(w.details.authid.as_deref(), Some("alice"));
    router.shutdown().await;
}

/// A reconnecting client authenticates again on every connection: after the router restarts
/// (a new router, which knows no cookie) by its ticket, and after its session is killed by the
/// cookie the new router set.
pub async fn reconnect_authenticates_again(rt: Arc<dyn Runtime>) {
    let options = || ListenOptions {
        tls: None,
        cookie: Some(CookieConfig {
            name: "nexus_sid".into(),
            max_age: Duration::from_secs(600),
        }),
    };
    let first = router(rt.clone());
    let url = within(
        &*rt,
        "listen",
        first.listen_with("ws://127.0.0.1:0/ws", options()),
    )
    .await
    .unwrap();
    let policy = nexus_driver::ReconnectPolicy::new()
        .initial_delay(Duration::from_millis(20))
        .max_delay(Duration::from_millis(200));
    let config = ClientConfig::new("auth.realm")
        .authid("alice")
        .ticket("alice-ticket")
        .cookie_jar(CookieJar::new())
        .reconnect(policy);
    let client = within(
        &*rt,
        "join",
        nexus_driver::Client::connect(rt.clone(), &url, config),
    )
    .await
    .unwrap();
    assert_eq!(client.authmethod().as_deref(), Some("ticket"));
    let mut states = client.state();
    let mut events = within(&*rt, "subscribe", client.subscribe("com.suite.auth.news"))
        .await
        .unwrap();

    // A new router on the same address: it knows no cookie, so the ticket again.
    within(&*rt, "shutdown", first.shutdown()).await;
    let second = router(rt.clone());
    let again = within(&*rt, "listen again", second.listen_with(&url, options()))
        .await
        .unwrap();
    assert_eq!(again, url);
    super::reconnect::until_joined(&*rt, "joined the new router", &client, &mut states).await;
    assert_eq!(client.authid().as_deref(), Some("alice"));
    assert_eq!(client.authrole().as_deref(), Some("admin"));
    assert_eq!(client.authmethod().as_deref(), Some("ticket"));
    assert!(events.id().is_some(), "subscribed again");

    // The session is killed: the next join presents the cookie the new router set.
    let killed = client.session_id();
    assert!(within(&*rt, "kill", second.kill(killed, "wamp.close.killed", None)).await);
    within(&*rt, "rejoined", async {
        loop {
            super::reconnect::until_joined(&*rt, "joined after the kill", &client, &mut states)
                .await;
            if client.session_id() != killed {
                break;
            }
            states.next().await;
        }
    })
    .await;
    assert_eq!(client.authmethod().as_deref(), Some("cookie"));
    assert_eq!(client.authid().as_deref(), Some("alice"));
    // Still subscribed, and events flow.
    let publisher = within(
        &*rt,
        "publisher",
        nexus_driver::Client::connect(
            rt.clone(),
            &url,
            ClientConfig::new("auth.realm")
                .authid("alice")
                .ticket("alice-ticket"),
        ),
    )
    .await
    .unwrap();
    within(
        &*rt,
        "publish",
        publisher
            .publish("com.suite.auth.news")
            .arg("hi")
            .acknowledged(),
    )
    .await
    .unwrap();
    // The stream marks both gaps (the restart and the kill), then the event.
    for gap in ["restart", "kill"] {
        match within(&*rt, gap, events.next()).await {
            Some(Err(nexus_driver::SubscriptionError::Missed(
                nexus_driver::Missed::Disconnected,
            ))) => {}
            other => panic!("expected the gap of the {gap}, got {other:?}"),
        }
    }
    let event = super::next_event(&*rt, "event", &mut events).await;
    assert_eq!(event.arg::<String>(0).unwrap(), "hi");
    within(&*rt, "close", client.close()).await.unwrap();
    within(&*rt, "close", publisher.close()).await.unwrap();
    within(&*rt, "shutdown", second.shutdown()).await;
}
