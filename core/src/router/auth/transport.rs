//! What the transport knows about a client before its HELLO: an HTTP cookie, a verified TLS
//! client certificate, and the TLS channel binding. The driver learns these while accepting
//! the connection and hands them over with
//! [`Router::set_transport_auth`](crate::router::Router::set_transport_auth).

use std::fmt;
use std::time::{Duration, Instant};

use super::Identity;
use crate::uri::Uri;

/// Transport-level authentication data of one connection (all optional).
///
/// ```
/// use nexus_core::router::{ClientCertificate, TransportAuth};
///
/// let auth = TransportAuth {
///     client_cert: Some(ClientCertificate {
///         subject_cn: Some("device-17".into()),
///         dns_names: vec!["device-17.example.com".into()],
///         fingerprint: "ab".repeat(32),
///     }),
///     ..TransportAuth::default()
/// };
/// assert_eq!(auth.client_cert.unwrap().authid(), Some("device-17"));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TransportAuth {
    /// The WebSocket connection's authentication cookie (cookie tracking enabled on the
    /// listener).
    pub cookie: Option<ConnectionCookie>,
    /// The client's TLS certificate, already verified by the TLS layer against the
    /// listener's client CA.
    pub client_cert: Option<ClientCertificate>,
    /// The TLS channel binding of the connection, for WAMP-Cryptosign (and SCRAM) channel
    /// binding.
    pub channel_binding: Option<ChannelBinding>,
}

/// The authentication cookie of a WebSocket connection.
///
/// Either the client presented a cookie the router remembers (`issued` false, `remembered`
/// set when it is bound to an identity), or the router issued a fresh one in its handshake
/// response (`issued` true). Only a cookie issued on this very connection is ever bound to
/// an identity: binding a cookie the client merely presented would let anyone who planted a
/// cookie in a victim's browser log in as the victim later (session fixation).
#[derive(Clone, PartialEq)]
pub struct ConnectionCookie {
    /// The cookie's value (a bearer credential: never logged, `Debug` redacts it).
    pub value: String,
    /// Whether the router set this cookie in this connection's handshake response.
    pub issued: bool,
    /// How long an identity stays bound to a cookie issued here (its `Max-Age`).
    pub max_age: Duration,
    /// The identity the cookie was bound to earlier, if any.
    pub remembered: Option<CookieIdentity>,
}

impl fmt::Debug for ConnectionCookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionCookie")
            .field("value", &"***")
            .field("issued", &self.issued)
            .field("max_age", &self.max_age)
            .field("remembered", &self.remembered)
            .finish()
    }
}

/// An identity bound to a cookie: in which realm, who, and until when.
#[derive(Debug, Clone, PartialEq)]
pub struct CookieIdentity {
    /// The realm the identity was authenticated for; it authenticates nowhere else.
    pub realm: Uri,
    /// The identity (authid, authrole, and the method that first authenticated it).
    pub identity: Identity,
    /// When the binding expires.
    pub expires: Instant,
}

/// A TLS client certificate the TLS layer has verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertificate {
    /// The subject's common name (CN), if it has one.
    pub subject_cn: Option<String>,
    /// The DNS names of its subjectAltName extension, in order.
    pub dns_names: Vec<String>,
    /// The SHA-256 fingerprint of the DER certificate, lower-case hex.
    pub fingerprint: String,
}

impl ClientCertificate {
    /// The authid the certificate stands for: the subject CN, else the first DNS name.
    ///
    /// ```
    /// use nexus_core::router::ClientCertificate;
    ///
    /// let cert = ClientCertificate {
    ///     subject_cn: None,
    ///     dns_names: vec!["svc.example.com".into()],
    ///     fingerprint: String::new(),
    /// };
    /// assert_eq!(cert.authid(), Some("svc.example.com"));
    /// ```
    pub fn authid(&self) -> Option<&str> {
        self.subject_cn
            .as_deref()
            .filter(|cn| !cn.is_empty())
            .or_else(|| self.dns_names.first().map(String::as_str))
            .filter(|id| !id.is_empty())
    }
}

/// The channel binding types a connection can offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChannelBindingKind {
    /// RFC 9266 `tls-exporter`: 32 bytes of TLS keying material exported with the label
    /// `EXPORTER-Channel-Binding` and no context (TLS 1.3).
    ///
    /// `tls-unique` (RFC 5929) is not offered: rustls does not expose the TLS Finished
    /// message, and `tls-unique` is undefined for TLS 1.3 anyway. A client asking for it
    /// gets a CHALLENGE without `channel_binding`, which tells it the binding is not in
    /// use.
    TlsExporter,
}

impl ChannelBindingKind {
    /// The name used in `authextra.channel_binding`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelBindingKind::TlsExporter => "tls-exporter",
        }
    }
}

/// A connection's channel binding data.
#[derive(Clone, PartialEq, Eq)]
pub struct ChannelBinding {
    /// Its type.
    pub kind: ChannelBindingKind,
    /// The 32 bytes that identify the TLS channel.
    pub data: [u8; 32],
}

impl fmt::Debug for ChannelBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChannelBinding")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// The router's request to remember that a cookie now stands for an identity
/// ([`Action::RememberCookie`](crate::router::Action::RememberCookie)).
#[derive(Clone, PartialEq)]
pub struct CookieGrant {
    /// The cookie's value (redacted by `Debug`).
    pub value: String,
    /// The realm.
    pub realm: Uri,
    /// The identity the session authenticated as.
    pub identity: Identity,
    /// How long to remember it.
    pub max_age: Duration,
}

impl fmt::Debug for CookieGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CookieGrant")
            .field("value", &"***")
            .field("realm", &self.realm)
            .field("identity", &self.identity)
            .field("max_age", &self.max_age)
            .finish()
    }
}
