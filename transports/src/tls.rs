//! TLS for both transports (`wss://`, `tcps://`), with rustls and its `ring` crypto
//! provider.
//!
//! Build a configuration once, then wrap each accepted or connected stream with [`accept`] or
//! [`connect`] before handing it to the WebSocket or RawSocket functions of this crate. The
//! configurations name their crypto provider explicitly, so they work whatever default
//! provider the process has installed (or none).
//!
//! ```no_run
//! # async fn example(tcp: smol::net::TcpStream) -> Result<(), Box<dyn std::error::Error>> {
//! use nexus_core::Serializer;
//! use nexus_transports::{connect_rawsocket, tls};
//!
//! let config = tls::client_config(None)?; // the Mozilla roots of webpki-roots
//! let stream = tls::connect(tcp, "router.example.com", config).await?;
//! let transport = connect_rawsocket(stream, Serializer::Cbor, 16 << 20).await?;
//! # let _ = transport; Ok(()) }
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_io::{AsyncRead, AsyncWrite};
use futures_rustls::{TlsAcceptor, TlsConnector};
use nexus_core::router::{ChannelBinding, ChannelBindingKind, ClientCertificate};
use rustls::crypto::CryptoProvider;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

pub use futures_rustls::client::TlsStream as TlsClientStream;
pub use futures_rustls::server::TlsStream as TlsServerStream;
pub use rustls;
pub use rustls::{ClientConfig, ServerConfig};

/// Why a TLS configuration could not be built or a TLS handshake failed.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The PEM text holds no certificate.
    #[error("no certificate found in the PEM input: expected at least one `-----BEGIN CERTIFICATE-----` block")]
    NoCertificate,
    /// The PEM text holds no private key.
    #[error(
        "no private key found in the PEM input: expected a `BEGIN PRIVATE KEY`, \
         `BEGIN RSA PRIVATE KEY` or `BEGIN EC PRIVATE KEY` block"
    )]
    NoPrivateKey,
    /// The PEM text is malformed.
    #[error("malformed PEM input: {0}")]
    Pem(String),
    /// A certificate or key file could not be read.
    #[error("cannot read TLS file {path}: {source}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// rustls refused the configuration (e.g. the key does not match the certificate, or
    /// a CA certificate is invalid).
    #[error("invalid TLS configuration: {0}")]
    Config(#[from] rustls::Error),
    /// The host name cannot be checked against a certificate.
    #[error("`{0}` is not a valid TLS server name: use a DNS name or an IP address")]
    InvalidServerName(String),
    /// The TLS handshake failed (bad certificate, unknown issuer, no common cipher, peer
    /// hung up, ...).
    #[error("TLS handshake failed: {0}")]
    Handshake(#[source] std::io::Error),
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| TlsError::Pem(error.to_string()))?;
    if certificates.is_empty() {
        return Err(TlsError::NoCertificate);
    }
    Ok(certificates)
}

fn private_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|error| match error {
        rustls_pki_types::pem::Error::NoItemsFound => TlsError::NoPrivateKey,
        other => TlsError::Pem(other.to_string()),
    })
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::ReadFile {
        path: path.to_owned(),
        source,
    })
}

/// A server configuration from a PEM certificate chain (leaf first) and a PEM private key
/// (PKCS#8, PKCS#1 or SEC1). TLS 1.2 and 1.3, no client certificates.
///
/// ```
/// let key = rcgen::KeyPair::generate().unwrap();
/// let cert = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap()
///     .self_signed(&key).unwrap();
/// let config = nexus_transports::tls::server_config_from_pem(
///     cert.pem().as_bytes(),
///     key.serialize_pem().as_bytes(),
/// ).unwrap();
/// # let _ = config;
/// assert!(nexus_transports::tls::server_config_from_pem(b"", b"").is_err());
/// ```
pub fn server_config_from_pem(
    cert_chain_pem: &[u8],
    key_pem: &[u8],
) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = certificates(cert_chain_pem)?;
    let key = private_key(key_pem)?;
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    Ok(Arc::new(config))
}

/// [`server_config_from_pem`] with the PEM read from files (blocking: call it at start-up).
pub fn server_config_from_files(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    server_config_from_pem(&read(cert)?, &read(key)?)
}

/// A client configuration trusting the Mozilla root certificates (webpki-roots) and, when
/// given, every certificate in `extra_roots_pem` (e.g. a private CA or a self-signed router
/// certificate).
///
/// ```
/// let config = nexus_transports::tls::client_config(None).unwrap();
/// # let _ = config;
/// assert!(nexus_transports::tls::client_config(Some(b"not PEM")).is_err());
/// ```
pub fn client_config(extra_roots_pem: Option<&[u8]>) -> Result<Arc<ClientConfig>, TlsError> {
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(root_store(extra_roots_pem)?)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Performs the server side of the TLS handshake.
///
/// There is no time limit: wrap the call in your runtime's timeout.
pub async fn accept<S>(stream: S, config: Arc<ServerConfig>) -> Result<TlsServerStream<S>, TlsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    TlsAcceptor::from(config)
        .accept(stream)
        .await
        .map_err(TlsError::Handshake)
}

/// Performs the client side of the TLS handshake, checking the server's certificate for
/// `host` (a DNS name or an IP address; IPv6 with or without brackets).
///
/// There is no time limit: wrap the call in your runtime's timeout.
pub async fn connect<S>(
    stream: S,
    host: &str,
    config: Arc<ClientConfig>,
) -> Result<TlsClientStream<S>, TlsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let name = ServerName::try_from(bare.to_owned())
        .map_err(|_| TlsError::InvalidServerName(host.to_owned()))?;
    TlsConnector::from(config)
        .connect(name, stream)
        .await
        .map_err(TlsError::Handshake)
}

/// Whether a TLS listener asks clients for a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientCertMode {
    /// Never (the default).
    #[default]
    None,
    /// Ask; a client without one still connects (and may authenticate otherwise), a client
    /// with one the CA did not issue is refused.
    Optional,
    /// Refuse clients without a certificate issued by the CA.
    Required,
}

/// A server configuration like [`server_config_from_pem`] that asks clients for a
/// certificate issued by one of the CAs in `client_ca_pem` (rustls' WebPKI client
/// verifier: chain, validity period and key usage are checked). `mode`
/// [`ClientCertMode::None`] ignores `client_ca_pem`.
///
/// The verified certificate's identity is then read with [`peer_certificate`].
///
/// ```
/// use nexus_transports::tls::{self, ClientCertMode};
///
/// let ca_key = rcgen::KeyPair::generate().unwrap();
/// let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
/// ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
/// let ca = ca.self_signed(&ca_key).unwrap();
/// let key = rcgen::KeyPair::generate().unwrap();
/// let cert = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap()
///     .self_signed(&key).unwrap();
/// let config = tls::server_config_with_client_auth(
///     cert.pem().as_bytes(),
///     key.serialize_pem().as_bytes(),
///     ca.pem().as_bytes(),
///     ClientCertMode::Required,
/// ).unwrap();
/// # let _ = config;
/// ```
pub fn server_config_with_client_auth(
    cert_chain_pem: &[u8],
    key_pem: &[u8],
    client_ca_pem: &[u8],
    mode: ClientCertMode,
) -> Result<Arc<ServerConfig>, TlsError> {
    if mode == ClientCertMode::None {
        return server_config_from_pem(cert_chain_pem, key_pem);
    }
    let chain = certificates(cert_chain_pem)?;
    let key = private_key(key_pem)?;
    let mut roots = rustls::RootCertStore::empty();
    for certificate in certificates(client_ca_pem)? {
        roots.add(certificate)?;
    }
    let builder =
        rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider());
    let builder = match mode {
        ClientCertMode::Optional => builder.allow_unauthenticated(),
        _ => builder,
    };
    let verifier = builder
        .build()
        .map_err(|e| TlsError::Config(rustls::Error::General(e.to_string())))?;
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)?;
    Ok(Arc::new(config))
}

/// [`server_config_with_client_auth`] with the PEM read from files (blocking: call it at
/// start-up).
pub fn server_config_from_files_with_client_auth(
    cert: &Path,
    key: &Path,
    client_ca: &Path,
    mode: ClientCertMode,
) -> Result<Arc<ServerConfig>, TlsError> {
    server_config_with_client_auth(&read(cert)?, &read(key)?, &read(client_ca)?, mode)
}

/// A client configuration like [`client_config`] that presents a client certificate
/// (`cert_chain_pem`, leaf first, and its `key_pem`: PKCS#8, PKCS#1 or SEC1) to servers
/// that ask for one, for TLS client certificate authentication (the `tls` authmethod).
///
/// ```
/// use nexus_transports::tls;
///
/// // A CA, and a client certificate it issued for "device-17".
/// let ca_key = rcgen::KeyPair::generate().unwrap();
/// let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
/// ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
/// let ca_pem = ca.clone().self_signed(&ca_key).unwrap().pem();
/// let issuer = rcgen::Issuer::new(ca, ca_key);
/// let key = rcgen::KeyPair::generate().unwrap();
/// let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
/// params.distinguished_name.push(rcgen::DnType::CommonName, "device-17");
/// let cert_pem = params.signed_by(&key, &issuer).unwrap().pem();
///
/// // Trust the CA for the router's certificate too, and present ours.
/// let config = tls::client_config_with_cert(
///     Some(ca_pem.as_bytes()),
///     cert_pem.as_bytes(),
///     key.serialize_pem().as_bytes(),
/// ).unwrap();
/// assert!(config.client_auth_cert_resolver.has_certs());
/// // A key that is not PEM is refused.
/// assert!(tls::client_config_with_cert(None, cert_pem.as_bytes(), b"nope").is_err());
/// ```
pub fn client_config_with_cert(
    extra_roots_pem: Option<&[u8]>,
    cert_chain_pem: &[u8],
    key_pem: &[u8],
) -> Result<Arc<ClientConfig>, TlsError> {
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(root_store(extra_roots_pem)?)
        .with_client_auth_cert(certificates(cert_chain_pem)?, private_key(key_pem)?)?;
    Ok(Arc::new(config))
}

/// The identity in the client certificate of an accepted TLS connection, if the client
/// presented one (rustls has verified it against the configured client CA by then).
/// `None` also when the certificate cannot be parsed, which a verified one always can.
pub fn peer_certificate<S>(stream: &TlsServerStream<S>) -> Option<ClientCertificate> {
    let leaf = stream.get_ref().1.peer_certificates()?.first()?;
    certificate_identity(leaf.as_ref())
}

/// The subject CN, DNS names and SHA-256 fingerprint of a DER certificate.
///
/// ```
/// let key = rcgen::KeyPair::generate().unwrap();
/// let mut params = rcgen::CertificateParams::new(vec!["a.example".into(), "b.example".into()]).unwrap();
/// params.distinguished_name.push(rcgen::DnType::CommonName, "device-7");
/// let cert = params.self_signed(&key).unwrap();
/// let id = nexus_transports::tls::certificate_identity(cert.der()).unwrap();
/// assert_eq!(id.subject_cn.as_deref(), Some("device-7"));
/// assert_eq!(id.dns_names, ["a.example", "b.example"]);
/// assert_eq!(id.authid(), Some("device-7"));
/// assert!(nexus_transports::tls::certificate_identity(b"garbage").is_none());
/// ```
pub fn certificate_identity(der: &[u8]) -> Option<ClientCertificate> {
    use sha2::Digest;
    use x509_parser::extensions::GeneralName;
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let subject_cn = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_owned);
    let mut dns_names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            if let GeneralName::DNSName(dns) = name {
                dns_names.push((*dns).to_owned());
            }
        }
    }
    Some(ClientCertificate {
        subject_cn,
        dns_names,
        fingerprint: hex::encode(sha2::Sha256::digest(der)),
    })
}

/// The RFC 9266 `tls-exporter` channel binding of an accepted TLS connection: 32 bytes of
/// keying material exported with the label `EXPORTER-Channel-Binding` and no context.
///
/// Only for TLS 1.3: RFC 9266 allows `tls-exporter` under TLS 1.2 only with the extended
/// master secret, which rustls does not report. `tls-unique` is not available at all
/// (rustls does not expose the Finished message).
pub fn channel_binding<S>(stream: &TlsServerStream<S>) -> Option<ChannelBinding> {
    tls_exporter(stream.get_ref().1)
}

/// The client side of [`channel_binding`], for clients that bind their authentication to
/// the channel.
pub fn client_channel_binding<S>(stream: &TlsClientStream<S>) -> Option<ChannelBinding> {
    tls_exporter(stream.get_ref().1)
}

/// The `tls-exporter` binding of either side of a TLS 1.3 connection.
fn tls_exporter<Data>(conn: &rustls::ConnectionCommon<Data>) -> Option<ChannelBinding> {
    if conn.protocol_version() != Some(rustls::ProtocolVersion::TLSv1_3) {
        return None;
    }
    let data = conn
        .export_keying_material([0u8; 32], EXPORTER_LABEL, None)
        .ok()?;
    Some(ChannelBinding {
        kind: ChannelBindingKind::TlsExporter,
        data,
    })
}

/// RFC 9266's exporter label.
const EXPORTER_LABEL: &[u8] = b"EXPORTER-Channel-Binding";

/// The webpki roots, plus the certificates of `extra_roots_pem` (for example a private CA).
fn root_store(extra_roots_pem: Option<&[u8]>) -> Result<rustls::RootCertStore, TlsError> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(pem) = extra_roots_pem {
        for certificate in certificates(pem)? {
            roots.add(certificate)?;
        }
    }
    Ok(roots)
}
