//! Connecting and joining: opening the transport (TCP, Unix, TLS, the WebSocket or RawSocket
//! handshake, cookies), setting up the [`Session`] (credentials, the router's size limit,
//! random bytes from the operating system), and pumping the handshake (WAMP spec,
//! *Session Establishment* and *Authentication*) until WELCOME. The session answers the
//! CHALLENGEs its credentials handle; the pump only awaits the application's
//! [`ChallengeHandler`](super::ChallengeHandler) for the others.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::channel::{mpsc, oneshot};
use futures::FutureExt;
use nexus_core::auth::client::HELLO_RANDOM_LEN;
use nexus_core::message::WelcomeDetails;
use nexus_core::session::{Session, SessionConfig, SessionEvent, UsageError};
use nexus_core::{Serializer, SessionId, Uri};
use nexus_transports::{Endpoint, Transport};

use super::link::{Link, Received};
use super::pump::Conn;
use super::supervise::Task;
use super::{Client, ClientConfig, Common, Shared};
use crate::error::Error;
use crate::host::RouterHandle;
use crate::runtime::{self, Runtime};

/// Where a client connects, again after each lost connection.
#[derive(Clone)]
pub(super) enum Target {
    /// A router's URL.
    Url(String),
    /// An in-process router.
    Local(RouterHandle),
}

impl Client {
    /// Connects to `url` (`ws://`, `wss://`, `tcp://`, `tcps://`, `unix://`) and joins
    /// `config.realm`. Completes once joined; with a
    /// [`reconnect`](ClientConfig::reconnect) policy, failed attempts are retried by it
    /// first, and from then on the client reconnects whenever the connection is lost.
    pub async fn connect(
        runtime: Arc<dyn Runtime>,
        url: &str,
        config: ClientConfig,
    ) -> Result<Client, Error> {
        Endpoint::parse(url).map_err(Error::Url)?;
        Client::start(runtime, Target::Url(url.to_owned()), config).await
    }

    /// Joins `config.realm` on an in-process router, without a socket or serialization.
    pub async fn connect_local(
        router: &RouterHandle,
        config: ClientConfig,
    ) -> Result<Client, Error> {
        Client::start(router.runtime(), Target::Local(router.clone()), config).await
    }

    async fn start(
        runtime: Arc<dyn Runtime>,
        target: Target,
        mut config: ClientConfig,
    ) -> Result<Client, Error> {
        config.event_buffer = config.event_buffer.max(1);
        let config = Arc::new(config);
        let (cmd, cmds) = mpsc::channel(super::COMMAND_BUFFER);
        let (closed_tx, closed_rx) = oneshot::channel();
        let (alive, dropped) = oneshot::channel();
        let (first_tx, first_rx) = oneshot::channel();
        let common = Arc::new(Common::new());
        let shared = Arc::new(Shared {
            cmd: cmd.clone(),
            common: common.clone(),
            tokens: AtomicU64::new(1),
            closed: closed_rx.shared(),
            _alive: alive,
        });
        // The jitter of the reconnection delays; not a secret, but unlike every other client's.
        let seed = random_seed();
        let task = Task::new(runtime.clone(), target, config, common, cmd, seed);
        runtime::spawn(&*runtime, task.run(cmds, dropped, first_tx, closed_tx));
        match first_rx.await {
            Ok(Ok(())) => Ok(Client { shared }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::Closed),
        }
    }
}

/// A joined connection.
pub(super) struct Joined {
    pub(super) conn: Conn,
    pub(super) id: SessionId,
    pub(super) welcome: WelcomeDetails,
}

/// Connects once and joins: the transport, the WAMP handshake and authentication.
pub(super) async fn connect_and_join(
    runtime: Arc<dyn Runtime>,
    target: Target,
    config: Arc<ClientConfig>,
) -> Result<Box<Joined>, Error> {
    let started = Instant::now();
    let (link, cookie_sent) = match target {
        Target::Url(url) => {
            let endpoint = Endpoint::parse(&url).map_err(Error::Url)?;
            // The jar's cookies for this host, on WebSocket only.
            let cookie_host = match (&endpoint, &config.cookie_jar) {
                (Endpoint::WebSocket { host, tls, .. }, Some(jar)) => {
                    Some((jar, host.clone(), *tls))
                }
                _ => None,
            };
            let mut headers = Vec::new();
            if let Some((jar, host, tls)) = &cookie_host {
                if let Some(cookie) = jar.header(host, *tls) {
                    headers.push(("Cookie".to_owned(), cookie));
                }
            }
            let cookie_sent = !headers.is_empty();
            let transport = open_transport(
                &*runtime,
                &url,
                &endpoint,
                &config.serializers,
                config.tls.clone(),
                config.limits.max_message_size,
                config.connect_timeout,
                headers,
            )
            .await?;
            if let Some((jar, host, _)) = &cookie_host {
                for (name, value) in transport.response_headers() {
                    if name.eq_ignore_ascii_case("set-cookie") {
                        jar.store(host, value);
                    }
                }
            }
            let link = Link::Wire {
                transport,
                limits: config.limits,
            };
            (link, cookie_sent)
        }
        Target::Local(router) => (Link::Local(router.attach_local().await?), false),
    };
    let left = config.connect_timeout.saturating_sub(started.elapsed());
    join(runtime, link, &config, left, cookie_sent).await
}

/// Joins over an open link.
async fn join(
    runtime: Arc<dyn Runtime>,
    mut link: Link,
    config: &ClientConfig,
    timeout: Duration,
    cookie_sent: bool,
) -> Result<Box<Joined>, Error> {
    let realm = Uri::parse(config.realm.clone())?;
    let mut session_config = SessionConfig::new(realm);
    session_config.authid = config.authid.clone();
    session_config.authmethods = config.authmethods.clone();
    session_config.authextra = config.authextra.clone();
    let mut session = Session::new(session_config);
    // Transport-level methods: the WebSocket cookie sent, the client certificate.
    let mut transport_methods = Vec::new();
    if cookie_sent {
        transport_methods.push("cookie");
    }
    if config.offer_tls {
        transport_methods.push("tls");
    }
    session.set_transport_authmethods(transport_methods);
    session.set_send_limit(link.send_limit());
    // A handler is stopped when its call is canceled; the caller gets canceled at once.
    session.set_answer_interrupts(true);
    let mut credentials = config.credentials.clone();
    if let Some(authid) = &config.authid {
        credentials = credentials.authid(authid.clone());
    }
    let joined = if credentials.is_empty() {
        session.join().map_err(Error::from)
    } else {
        session.set_credentials(credentials);
        random_bytes().and_then(|random| {
            session.join_with_random(&random).map_err(|e| match e {
                UsageError::Credentials(e) => Error::Authentication(e),
                e => Error::Usage(e),
            })
        })
    };
    if let Err(e) = joined {
        link.close().await;
        return Err(e);
    }
    let handshake = handshake(&mut session, &mut link, config);
    let (id, welcome) = match runtime::timeout(&*runtime, timeout, handshake).await {
        Ok(Ok(joined)) => joined,
        Ok(Err(e)) => {
            link.close().await;
            return Err(e);
        }
        Err(_) => {
            link.close().await;
            return Err(Error::Timeout {
                what: "connecting and joining took longer than ClientConfig::connect_timeout",
                after: config.connect_timeout,
            });
        }
    };
    Ok(Box::new(Joined {
        conn: Conn { session, link },
        id,
        welcome,
    }))
}

/// A seed for the reconnection jitter: from the operating system, or the clock if it has
/// none to give.
fn random_seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    if getrandom::fill(&mut seed).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        seed[..16].copy_from_slice(&nanos.to_le_bytes());
    }
    seed
}

/// Fresh random bytes from the operating system, for HELLO.
fn random_bytes() -> Result<[u8; HELLO_RANDOM_LEN], Error> {
    let mut random = [0u8; HELLO_RANDOM_LEN];
    getrandom::fill(&mut random).map_err(|e| Error::Random {
        reason: e.to_string(),
    })?;
    Ok(random)
}

/// Pumps the session until WELCOME; awaits the challenge handler for CHALLENGEs the
/// session leaves to the application.
async fn handshake(
    session: &mut Session,
    link: &mut Link,
    config: &ClientConfig,
) -> Result<(SessionId, WelcomeDetails), Error> {
    loop {
        while let Some(m) = session.poll_transmit() {
            link.send(m).await?;
        }
        while let Some(event) = session.poll_event() {
            match event {
                SessionEvent::Joined {
                    session: id,
                    details,
                } => return Ok((id, *details)),
                SessionEvent::Challenge(challenge) => {
                    let Some(handler) = &config.on_challenge else {
                        let _ = session
                            .decline_challenge("this client has no way to answer a CHALLENGE");
                        flush_quietly(session, link).await;
                        return Err(Error::Config {
                            what: "ClientConfig::on_challenge",
                            problem: format!(
                                "the router asked for {} authentication, which the credentials do not answer, and no challenge handler is configured",
                                challenge.auth_method
                            ),
                        });
                    };
                    let (signature, extra) = handler(challenge).await?;
                    session.authenticate(signature, extra)?;
                }
                SessionEvent::Aborted {
                    reason, details, ..
                } => {
                    return Err(Error::Aborted {
                        reason,
                        message: details.message,
                    })
                }
                SessionEvent::ProtocolViolation { error } => {
                    flush_quietly(session, link).await;
                    return Err(Error::Protocol(error));
                }
                SessionEvent::AuthenticationFailed { error } => {
                    flush_quietly(session, link).await;
                    return Err(Error::Authentication(error));
                }
                _ => return Err(Error::Closed),
            }
        }
        if session.has_transmit() {
            continue;
        }
        match link.recv().await {
            Received::Messages(messages) => {
                let now = Instant::now();
                for m in messages {
                    let _ = session.handle_message(now, m);
                }
            }
            Received::Undecodable(e) => session.handle_decode_error(&e),
            Received::Nothing => {}
            Received::End(e) => return Err(e.unwrap_or(Error::Closed)),
        }
    }
}

/// Sends the session's last messages (an ABORT) on a link about to close; failures do not
/// matter any more.
async fn flush_quietly(session: &mut Session, link: &mut Link) {
    while let Some(m) = session.poll_transmit() {
        let _ = link.send(m).await;
    }
}

/// Opens a negotiated WAMP transport to `url` (`ws://`, `wss://`, `tcp://`, `tcps://`,
/// `unix://`) without joining a realm: for tools that speak WAMP messages themselves, such as
/// a conformance suite. WebSocket offers `serializers` in order; RawSocket uses the first.
/// TLS uses `tls`, or the webpki root certificates.
pub async fn connect_transport(
    runtime: &dyn Runtime,
    url: &str,
    serializers: &[Serializer],
    tls: Option<Arc<rustls::ClientConfig>>,
    max_message_size: usize,
    timeout: Duration,
) -> Result<Transport, Error> {
    let endpoint = Endpoint::parse(url).map_err(Error::Url)?;
    open_transport(
        runtime,
        url,
        &endpoint,
        serializers,
        tls,
        max_message_size,
        timeout,
        Vec::new(),
    )
    .await
}

/// [`connect_transport`] with extra WebSocket handshake headers.
#[allow(clippy::too_many_arguments)]
async fn open_transport(
    runtime: &dyn Runtime,
    url: &str,
    endpoint: &Endpoint,
    serializers: &[Serializer],
    tls: Option<Arc<rustls::ClientConfig>>,
    max_message_size: usize,
    timeout: Duration,
    headers: Vec<(String, String)>,
) -> Result<Transport, Error> {
    let connect = async {
        let io = match endpoint {
            Endpoint::WebSocket { host, port, .. } | Endpoint::RawSocket { host, port, .. } => {
                runtime.connect_tcp(host.clone(), *port).await
            }
            Endpoint::Unix { path } => runtime.connect_unix(path.clone()).await,
        }
        .map_err(|e| Error::Connect {
            url: url.to_owned(),
            source: Box::new(e),
        })?;
        let io: crate::runtime::BoxIo = match endpoint {
            Endpoint::WebSocket {
                tls: true, host, ..
            }
            | Endpoint::RawSocket {
                tls: true, host, ..
            } => {
                let tls = match tls {
                    Some(tls) => tls,
                    None => {
                        nexus_transports::tls::client_config(None).map_err(|e| Error::Config {
                            what: "TLS (the webpki root certificates)",
                            problem: e.to_string(),
                        })?
                    }
                };
                Box::new(
                    nexus_transports::tls::connect(io, host, tls)
                        .await
                        .map_err(|e| Error::Connect {
                            url: url.to_owned(),
                            source: Box::new(e),
                        })?,
                )
            }
            _ => io,
        };
        let transport = match endpoint {
            Endpoint::WebSocket { .. } => {
                let config = nexus_transports::WebSocketClientConfig {
                    offers: serializers.iter().map(|s| (*s, false)).collect(),
                    max_message_size,
                    headers,
                };
                nexus_transports::connect_websocket_with_config(io, endpoint, &config).await?
            }
            _ => {
                let serializer = *serializers.first().ok_or_else(|| Error::Config {
                    what: "ClientConfig::serializers",
                    problem: "it is empty; RawSocket needs one serializer (the first is used)"
                        .into(),
                })?;
                nexus_transports::connect_rawsocket(io, serializer, max_message_size).await?
            }
        };
        Ok::<_, Error>(transport)
    };
    runtime::timeout(runtime, timeout, connect)
        .await
        .map_err(|_| Error::Timeout {
            what: "connecting and the transport handshake took longer than the connect timeout",
            after: timeout,
        })?
}
