//! How a client connects and joins: [`ClientConfig`] (realm, serializers, limits, TLS,
//! keep-alive, credentials and the other authentication settings of WAMP spec
//! *Authentication*) and the [`ChallengeHandler`] for methods the credentials do not answer.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use nexus_core::auth::client::Credentials;
use nexus_core::auth::cryptosign::SigningKey;
use nexus_core::auth::Secret;
use nexus_core::message::{AuthenticateExtra, Challenge};
use nexus_core::session::ReconnectPolicy;
use nexus_core::{Dict, Limits, Serializer};

use crate::cookie::CookieJar;
use crate::error::Error;

/// Answers a CHALLENGE during the join: returns the AUTHENTICATE signature and extra.
pub type ChallengeHandler = Arc<
    dyn Fn(Challenge) -> BoxFuture<'static, Result<(String, AuthenticateExtra), Error>>
        + Send
        + Sync,
>;

/// How a client connects and joins.
#[derive(Clone)]
pub struct ClientConfig {
    /// The realm to join.
    pub realm: String,
    /// Serializers to offer, in preference order (RawSocket uses the first).
    pub serializers: Vec<Serializer>,
    /// How long connecting, the transport handshake and joining may take together.
    pub connect_timeout: Duration,
    /// Decoding limits (the message size is also the transport's maximum).
    pub limits: Limits,
    /// TLS settings for `wss://` and `tcps://` (default: the webpki root certificates).
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// The authid to announce.
    pub authid: Option<String>,
    /// The credentials the client authenticates with itself (see [`ClientConfig::ticket`],
    /// [`ClientConfig::wampcra`], [`ClientConfig::cryptosign`], [`ClientConfig::scram`]):
    /// their methods are offered first, the client answers their CHALLENGEs and checks the
    /// router's proof in WELCOME (SCRAM server signature, cryptosign router key).
    pub credentials: Credentials,
    /// Further authentication methods to offer, answered by [`on_challenge`](Self::on_challenge).
    pub authmethods: Vec<String>,
    /// Method-specific HELLO data (added to what the credentials send).
    pub authextra: Dict,
    /// Answers CHALLENGEs for methods the credentials do not handle.
    pub on_challenge: Option<ChallengeHandler>,
    /// Sends a ping after this much silence and gives up after twice as much.
    pub keepalive: Option<Duration>,
    /// Events queued per [`Subscription`](crate::Subscription) before new ones are dropped
    /// (a slow consumer must not stall the client); the stream reports how many it missed
    /// ([`Missed::Lagged`](crate::Missed::Lagged)).
    pub event_buffer: usize,
    /// How the client reconnects when the connection is lost (see
    /// [`ClientConfig::reconnect`]); `None`: the client ends with its first connection.
    pub reconnect: Option<ReconnectPolicy>,
    /// How long a request made while the client is disconnected (reconnecting) waits for
    /// the next session before failing with [`Error::NotConnected`]; zero (the default):
    /// it fails at once.
    pub wait_for_connection: Duration,
    /// Where WebSocket cookies come from and go to (see [`ClientConfig::cookie_jar`]).
    pub cookie_jar: Option<CookieJar>,
    /// Offers `tls` (TLS client certificate authentication) first, before the credentials'
    /// methods (see [`ClientConfig::client_certificate`]).
    pub offer_tls: bool,
}

impl ClientConfig {
    /// Defaults for `realm`: CBOR, MessagePack then JSON; 10 s to connect; 30 s keep-alive.
    pub fn new(realm: impl Into<String>) -> Self {
        ClientConfig {
            realm: realm.into(),
            serializers: Serializer::ALL.to_vec(),
            connect_timeout: Duration::from_secs(10),
            limits: Limits::default(),
            tls: None,
            authid: None,
            credentials: Credentials::new(),
            authmethods: Vec::new(),
            authextra: Dict::new(),
            on_challenge: None,
            keepalive: Some(Duration::from_secs(30)),
            event_buffer: 4096,
            reconnect: None,
            wait_for_connection: Duration::ZERO,
            cookie_jar: None,
            offer_tls: false,
        }
    }

    /// Reconnects with `policy` whenever the connection is lost: after each new join the
    /// client authenticates again (with the same credentials, and the cookie jar's cookie),
    /// subscribes and registers again everything the application still holds, and the
    /// handles, handlers and streams carry on. Calls in flight when the connection drops
    /// fail with [`Error::ConnectionLost`]; subscription streams say where events may have
    /// been missed ([`Missed::Disconnected`](crate::Missed::Disconnected)). A router that
    /// refuses the join (ABORT: bad credentials, no such realm) stops the retries with that
    /// error. The first connection is retried by the same policy.
    ///
    /// ```
    /// use std::time::Duration;
    /// use nexus_driver::ReconnectPolicy;
    ///
    /// let config = nexus_driver::ClientConfig::new("realm1")
    ///     .reconnect(ReconnectPolicy::new().max_delay(Duration::from_secs(5)))
    ///     .wait_for_connection(Duration::from_secs(2));
    /// assert!(config.reconnect.is_some());
    /// ```
    pub fn reconnect(mut self, policy: ReconnectPolicy) -> Self {
        self.reconnect = Some(policy);
        self
    }

    /// Lets requests made while disconnected wait up to `wait` for the next session
    /// (see [`wait_for_connection`](Self::wait_for_connection)).
    pub fn wait_for_connection(mut self, wait: Duration) -> Self {
        self.wait_for_connection = wait;
        self
    }

    /// Sets how many events each subscription queues for a slow reader.
    pub fn event_buffer(mut self, events: usize) -> Self {
        self.event_buffer = events.max(1);
        self
    }

    /// Offers only `serializer`.
    pub fn serializer(mut self, serializer: Serializer) -> Self {
        self.serializers = vec![serializer];
        self
    }

    /// Uses these TLS settings.
    pub fn tls(mut self, tls: Arc<rustls::ClientConfig>) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Sets the connect timeout.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets the authid to authenticate as (required by ticket, WAMP-CRA and SCRAM; optional
    /// for cryptosign, where the router may find it from the public key).
    ///
    /// ```
    /// let config = nexus_driver::ClientConfig::new("realm1").authid("joe").ticket("s3cr3t");
    /// assert_eq!(config.authid.as_deref(), Some("joe"));
    /// assert_eq!(config.credentials.authmethods(), ["ticket"]);
    /// ```
    pub fn authid(mut self, authid: impl Into<String>) -> Self {
        self.authid = Some(authid.into());
        self
    }

    /// Offers ticket authentication: the ticket is sent as is, so use it over TLS only.
    ///
    /// ```
    /// let config = nexus_driver::ClientConfig::new("realm1").authid("joe").ticket("s3cr3t");
    /// // Secrets never show in Debug output.
    /// assert!(!format!("{config:?}").contains("s3cr3t"));
    /// ```
    pub fn ticket(mut self, ticket: impl Into<Secret>) -> Self {
        self.credentials = self.credentials.ticket(ticket);
        self
    }

    /// Offers WAMP-CRA with `secret`; the router's CHALLENGE says whether the key is the
    /// secret itself or derived from it with PBKDF2 (salted WAMP-CRA).
    ///
    /// ```
    /// let config = nexus_driver::ClientConfig::new("realm1").authid("joe").wampcra("secret1");
    /// assert_eq!(config.credentials.authmethods(), ["wampcra"]);
    /// ```
    pub fn wampcra(mut self, secret: impl Into<Secret>) -> Self {
        self.credentials = self.credentials.wampcra(secret);
        self
    }

    /// Offers cryptosign with an Ed25519 key (announced in `authextra.pubkey`). For router
    /// authentication or channel binding, build the [`Credentials`] with
    /// [`Credentials::cryptosign_with`] and use [`ClientConfig::credentials`].
    ///
    /// ```
    /// use nexus_driver::nexus_core::auth::cryptosign::SigningKey;
    ///
    /// let key = SigningKey::from_hex("4d57d97a68f555696620a6d849c0ce582568518d729eb753dc7c732de2804510").unwrap();
    /// let config = nexus_driver::ClientConfig::new("realm1").cryptosign(key);
    /// assert_eq!(config.credentials.authmethods(), ["cryptosign"]);
    /// ```
    pub fn cryptosign(mut self, key: SigningKey) -> Self {
        self.credentials = self.credentials.cryptosign(key);
        self
    }

    /// Offers SCRAM with `password`, in both dialects: `scram` (Autobahn and Crossbar) and
    /// `wamp-scram` (the specification), in that order (Crossbar refuses a HELLO whose
    /// methods it does not know unless it meets one it has configured first); the client follows the router's choice, refuses
    /// key derivation costs outside the default
    /// [`CostPolicy`](nexus_core::auth::scram::CostPolicy), and checks the router's server
    /// signature in WELCOME.
    ///
    /// ```
    /// let config = nexus_driver::ClientConfig::new("realm1").authid("joe").scram("pencil");
    /// assert_eq!(config.credentials.authmethods(), ["scram", "wamp-scram"]);
    /// ```
    pub fn scram(mut self, password: impl Into<Secret>) -> Self {
        self.credentials = self.credentials.scram(password);
        self
    }

    /// Offers `anonymous` too (usually last, as a fallback).
    ///
    /// ```
    /// let config = nexus_driver::ClientConfig::new("realm1").authid("joe").ticket("t").anonymous();
    /// assert_eq!(config.credentials.authmethods(), ["ticket", "anonymous"]);
    /// ```
    pub fn anonymous(mut self) -> Self {
        self.credentials = self.credentials.anonymous();
        self
    }

    /// Keeps WebSocket cookies in `jar`: the client stores the cookies the router sets in
    /// the handshake response and sends the jar's cookies for the router's host in the
    /// handshake request. When it sends one, it offers `cookie` first in `authmethods`
    /// (and `anonymous` after it, if nothing else is offered), so a router that bound the
    /// cookie to an earlier authenticated session welcomes it without a CHALLENGE (as
    /// that session's authid and authrole); otherwise the router goes on with the next
    /// method. RawSocket and in-process connections ignore the jar.
    ///
    /// ```no_run
    /// # async fn example(runtime: std::sync::Arc<dyn nexus_driver::Runtime>) -> Result<(), nexus_driver::Error> {
    /// use nexus_driver::{Client, ClientConfig, CookieJar};
    ///
    /// let jar = CookieJar::new();
    /// // The first session authenticates by ticket; the router sets a cookie and binds it.
    /// let config = ClientConfig::new("realm1").authid("joe").ticket("s3cr3t");
    /// let first = Client::connect(runtime.clone(), "ws://127.0.0.1:8080/ws", config.cookie_jar(jar.clone())).await?;
    /// first.close().await?;
    /// // The next one needs nothing but the cookie.
    /// let config = ClientConfig::new("realm1").cookie_jar(jar);
    /// let second = Client::connect(runtime, "ws://127.0.0.1:8080/ws", config).await?;
    /// assert_eq!(second.authid().as_deref(), Some("joe"));
    /// # Ok(()) }
    /// ```
    pub fn cookie_jar(mut self, jar: CookieJar) -> Self {
        self.cookie_jar = Some(jar);
        self
    }

    /// Presents the client certificate of `tls` (build it with
    /// [`tls::client_config_with_cert`](nexus_transports::tls::client_config_with_cert))
    /// on `wss://` and `tcps://` connections, and offers `tls` authentication first: the
    /// router authenticates the client from the certificate, without a CHALLENGE.
    ///
    /// ```no_run
    /// # fn example() -> Result<(), Box<dyn std::error::Error>> {
    /// use nexus_driver::nexus_transports::tls;
    ///
    /// // The router's CA (when not a public one), the client's certificate and its key.
    /// let tls = tls::client_config_with_cert(
    ///     Some(&std::fs::read("ca.pem")?),
    ///     &std::fs::read("client.pem")?,
    ///     &std::fs::read("client.key")?,
    /// )?;
    /// let config = nexus_driver::ClientConfig::new("realm1").client_certificate(tls);
    /// assert!(config.offer_tls && config.tls.is_some());
    /// # Ok(()) }
    /// ```
    pub fn client_certificate(mut self, tls: Arc<rustls::ClientConfig>) -> Self {
        self.tls = Some(tls);
        self.offer_tls = true;
        self
    }

    /// Replaces the credentials (for options the shortcuts above do not cover).
    ///
    /// ```
    /// use nexus_driver::nexus_core::auth::client::{Credentials, CryptosignOptions};
    /// use nexus_driver::nexus_core::auth::cryptosign::{PublicKey, SigningKey};
    ///
    /// let router = PublicKey::from_hex("4a3838f6fe75251e613329d53fc69b262d5eac97fb1d73bebbaed4015b53c862").unwrap();
    /// let credentials = Credentials::new().cryptosign_with(
    ///     SigningKey::from_seed(&[1; 32]),
    ///     CryptosignOptions { router_key: Some(router), ..Default::default() },
    /// );
    /// let config = nexus_driver::ClientConfig::new("realm1").credentials(credentials);
    /// ```
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = credentials;
        self
    }
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("realm", &self.realm)
            .field("serializers", &self.serializers)
            .field("connect_timeout", &self.connect_timeout)
            .field("authid", &self.authid)
            .field("credentials", &self.credentials)
            .field("authmethods", &self.authmethods)
            .field("cookie_jar", &self.cookie_jar)
            .field("offer_tls", &self.offer_tls)
            .field("reconnect", &self.reconnect)
            .field("wait_for_connection", &self.wait_for_connection)
            .finish_non_exhaustive()
    }
}
