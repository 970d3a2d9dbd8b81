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
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(pem) = extra_roots_pem {
        for certificate in certificates(pem)? {
            roots.add(certificate)?;
        }
    }
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
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
