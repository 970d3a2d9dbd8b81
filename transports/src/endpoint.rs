//! Where a transport connects to or listens on, written as a URL.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use url::{Host, Url};

/// A transport address.
///
/// | URL | endpoint |
/// |---|---|
/// | `ws://host[:port][/path][?query]` | WebSocket, port 80 by default, path `/` by default |
/// | `wss://host[:port][/path][?query]` | WebSocket over TLS, port 443 by default |
/// | `tcp://host:port` (or `rs://`) | RawSocket over TCP; the port is required |
/// | `tcps://host:port` (or `rss://`) | RawSocket over TLS; the port is required |
/// | `unix:///absolute/path` or `unix:relative/path` | RawSocket over a Unix socket |
///
/// IPv6 hosts are written in brackets (`ws://[::1]:8080/ws`) and kept without them in
/// `host`, ready for name resolution. Unix socket paths are taken literally (no
/// percent-decoding).
///
/// ```
/// use nexus_transports::Endpoint;
/// let endpoint = Endpoint::parse("wss://example.com/ws").unwrap();
/// assert_eq!(
///     endpoint,
///     Endpoint::WebSocket { tls: true, host: "example.com".into(), port: 443, path: "/ws".into() }
/// );
/// assert!(endpoint.is_tls());
/// assert_eq!(endpoint.to_url(), "wss://example.com/ws");
///
/// let listen = Endpoint::parse("tcp://127.0.0.1:0").unwrap();
/// assert_eq!(listen.with_port(8080).to_url(), "tcp://127.0.0.1:8080");
/// assert!(Endpoint::parse("tcp://127.0.0.1").is_err()); // RawSocket needs a port
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// WAMP over WebSocket.
    WebSocket {
        /// Whether the WebSocket runs over TLS (`wss`).
        tls: bool,
        /// The host name or IP address (IPv6 without brackets).
        host: String,
        /// The TCP port.
        port: u16,
        /// The HTTP path, starting with `/`, query string included.
        path: String,
    },
    /// WAMP over RawSocket over TCP.
    RawSocket {
        /// Whether the RawSocket runs over TLS (`tcps`).
        tls: bool,
        /// The host name or IP address (IPv6 without brackets).
        host: String,
        /// The TCP port.
        port: u16,
    },
    /// WAMP over RawSocket over a Unix domain socket.
    Unix {
        /// The socket's path.
        path: PathBuf,
    },
}

/// Why a URL is not a transport endpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// The text is not a URL.
    #[error("`{url}` is not a valid URL: {reason}")]
    InvalidUrl {
        /// The text.
        url: String,
        /// What the URL parser said.
        reason: String,
    },
    /// The scheme is not one of ws, wss, tcp, tcps, rs, rss, unix.
    #[error(
        "unsupported scheme `{scheme}` in `{url}`: use ws://, wss://, tcp://, tcps:// or unix://"
    )]
    UnsupportedScheme {
        /// The URL.
        url: String,
        /// The scheme.
        scheme: String,
    },
    /// The URL has no host.
    #[error("`{0}` has no host: write e.g. ws://127.0.0.1:8080/ws or tcp://localhost:8081")]
    MissingHost(String),
    /// A RawSocket URL has no port.
    #[error("`{0}` has no port: RawSocket has no default port, write e.g. tcp://localhost:8081")]
    MissingPort(String),
    /// The URL has a part the transport cannot use (user name, password, fragment, a path
    /// on a RawSocket URL, a host on a Unix URL, an empty Unix path).
    #[error("`{url}`: {problem}")]
    Unsupported {
        /// The URL.
        url: String,
        /// What is wrong and how to write it instead.
        problem: &'static str,
    },
}

impl Endpoint {
    /// Parses a transport URL (see the table on [`Endpoint`]).
    pub fn parse(url: &str) -> Result<Endpoint, EndpointError> {
        if let Some(rest) = strip_prefix_ignore_case(url, "unix:") {
            return parse_unix(url, rest);
        }
        let parsed = Url::parse(url).map_err(|error| EndpointError::InvalidUrl {
            url: url.to_owned(),
            reason: error.to_string(),
        })?;
        let unsupported = |problem| EndpointError::Unsupported {
            url: url.to_owned(),
            problem,
        };
        let (websocket, tls) = match parsed.scheme() {
            "ws" => (true, false),
            "wss" => (true, true),
            "tcp" | "rs" => (false, false),
            "tcps" | "rss" => (false, true),
            other => {
                return Err(EndpointError::UnsupportedScheme {
                    url: url.to_owned(),
                    scheme: other.to_owned(),
                })
            }
        };
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(unsupported(
                "user names and passwords in transport URLs are not supported; authenticate in WAMP instead",
            ));
        }
        if parsed.fragment().is_some() {
            return Err(unsupported(
                "a transport URL cannot have a #fragment; remove it",
            ));
        }
        let host = match parsed.host() {
            Some(Host::Domain(domain)) if !domain.is_empty() => domain.to_owned(),
            Some(Host::Ipv4(address)) => address.to_string(),
            Some(Host::Ipv6(address)) => address.to_string(),
            _ => return Err(EndpointError::MissingHost(url.to_owned())),
        };
        if websocket {
            let port = parsed
                .port_or_known_default()
                .unwrap_or(if tls { 443 } else { 80 });
            let mut path = parsed.path().to_owned();
            if path.is_empty() {
                path.push('/');
            }
            if let Some(query) = parsed.query() {
                path.push('?');
                path.push_str(query);
            }
            Ok(Endpoint::WebSocket {
                tls,
                host,
                port,
                path,
            })
        } else {
            if !matches!(parsed.path(), "" | "/") || parsed.query().is_some() {
                return Err(unsupported(
                    "a RawSocket URL has no path or query: write tcp://host:port",
                ));
            }
            let port = parsed
                .port()
                .ok_or_else(|| EndpointError::MissingPort(url.to_owned()))?;
            Ok(Endpoint::RawSocket { tls, host, port })
        }
    }

    /// Whether the endpoint runs over TLS (`wss`, `tcps`).
    pub fn is_tls(&self) -> bool {
        match self {
            Endpoint::WebSocket { tls, .. } | Endpoint::RawSocket { tls, .. } => *tls,
            Endpoint::Unix { .. } => false,
        }
    }

    /// Whether the endpoint speaks WebSocket (otherwise RawSocket).
    pub fn is_websocket(&self) -> bool {
        matches!(self, Endpoint::WebSocket { .. })
    }

    /// The host, for TCP endpoints.
    pub fn host(&self) -> Option<&str> {
        match self {
            Endpoint::WebSocket { host, .. } | Endpoint::RawSocket { host, .. } => Some(host),
            Endpoint::Unix { .. } => None,
        }
    }

    /// The port, for TCP endpoints.
    pub fn port(&self) -> Option<u16> {
        match self {
            Endpoint::WebSocket { port, .. } | Endpoint::RawSocket { port, .. } => Some(*port),
            Endpoint::Unix { .. } => None,
        }
    }

    /// The URL, in the form [`Endpoint::parse`] reads back to the same endpoint. WebSocket
    /// URLs leave out the default port.
    pub fn to_url(&self) -> String {
        match self {
            Endpoint::WebSocket {
                tls,
                host,
                port,
                path,
            } => {
                let (scheme, default_port) = if *tls { ("wss", 443) } else { ("ws", 80) };
                let host = url_host(host);
                let slash = if path.starts_with('/') { "" } else { "/" };
                if *port == default_port {
                    format!("{scheme}://{host}{slash}{path}")
                } else {
                    format!("{scheme}://{host}:{port}{slash}{path}")
                }
            }
            Endpoint::RawSocket { tls, host, port } => {
                let scheme = if *tls { "tcps" } else { "tcp" };
                format!("{scheme}://{}:{port}", url_host(host))
            }
            Endpoint::Unix { path } => {
                let path = path.to_string_lossy();
                if path.starts_with('/') {
                    format!("unix://{path}")
                } else {
                    format!("unix:{path}")
                }
            }
        }
    }

    /// The same endpoint with another port (for example the port a listener bound to port 0
    /// actually got). Unix endpoints are returned unchanged.
    pub fn with_port(&self, port: u16) -> Endpoint {
        let mut endpoint = self.clone();
        match &mut endpoint {
            Endpoint::WebSocket { port: p, .. } | Endpoint::RawSocket { port: p, .. } => *p = port,
            Endpoint::Unix { .. } => {}
        }
        endpoint
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_url())
    }
}

impl FromStr for Endpoint {
    type Err = EndpointError;

    fn from_str(url: &str) -> Result<Endpoint, EndpointError> {
        Endpoint::parse(url)
    }
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

fn parse_unix(url: &str, rest: &str) -> Result<Endpoint, EndpointError> {
    let path = match rest.strip_prefix("//") {
        // unix:///abs/path: an empty authority, then the absolute path.
        Some(after) if after.starts_with('/') => after,
        Some(_) => return Err(EndpointError::Unsupported {
            url: url.to_owned(),
            problem:
                "a Unix socket URL has no host: write unix:///absolute/path or unix:relative/path",
        }),
        // unix:/abs/path or unix:relative/path.
        None => rest,
    };
    if path.is_empty() {
        return Err(EndpointError::Unsupported {
            url: url.to_owned(),
            problem:
                "the Unix socket path is empty: write unix:///absolute/path or unix:relative/path",
        });
    }
    Ok(Endpoint::Unix {
        path: PathBuf::from(path),
    })
}

fn url_host(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ws(tls: bool, host: &str, port: u16, path: &str) -> Endpoint {
        Endpoint::WebSocket {
            tls,
            host: host.into(),
            port,
            path: path.into(),
        }
    }

    fn rs(tls: bool, host: &str, port: u16) -> Endpoint {
        Endpoint::RawSocket {
            tls,
            host: host.into(),
            port,
        }
    }

    #[test]
    fn parses_every_scheme() {
        let cases = [
            ("ws://localhost", ws(false, "localhost", 80, "/")),
            ("ws://localhost/", ws(false, "localhost", 80, "/")),
            (
                "WS://LocalHost:8080/ws",
                ws(false, "localhost", 8080, "/ws"),
            ),
            ("wss://example.com", ws(true, "example.com", 443, "/")),
            (
                "wss://example.com:80/a/b",
                ws(true, "example.com", 80, "/a/b"),
            ),
            ("ws://h:1/p?x=1&y=2", ws(false, "h", 1, "/p?x=1&y=2")),
            ("ws://127.0.0.1:0/ws", ws(false, "127.0.0.1", 0, "/ws")),
            ("ws://[::1]:9000/ws", ws(false, "::1", 9000, "/ws")),
            ("tcp://127.0.0.1:8081", rs(false, "127.0.0.1", 8081)),
            ("tcp://router.local:8081/", rs(false, "router.local", 8081)),
            ("tcps://router.local:443", rs(true, "router.local", 443)),
            ("rs://h:1", rs(false, "h", 1)),
            ("rss://h:2", rs(true, "h", 2)),
            ("tcp://[::1]:7", rs(false, "::1", 7)),
            (
                "unix:///run/nexus.sock",
                Endpoint::Unix {
                    path: "/run/nexus.sock".into(),
                },
            ),
            (
                "unix:/run/nexus.sock",
                Endpoint::Unix {
                    path: "/run/nexus.sock".into(),
                },
            ),
            (
                "unix:run/nexus.sock",
                Endpoint::Unix {
                    path: "run/nexus.sock".into(),
                },
            ),
        ];
        for (url, expected) in cases {
            let endpoint = Endpoint::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(endpoint, expected, "{url}");
            // to_url reads back to the same endpoint.
            assert_eq!(
                Endpoint::parse(&endpoint.to_url()).unwrap(),
                endpoint,
                "{url}"
            );
        }
    }

    #[test]
    fn canonical_urls() {
        assert_eq!(ws(false, "h", 80, "/").to_url(), "ws://h/");
        assert_eq!(ws(true, "h", 443, "/ws").to_url(), "wss://h/ws");
        assert_eq!(ws(true, "h", 8443, "/ws").to_url(), "wss://h:8443/ws");
        assert_eq!(ws(false, "::1", 1, "/").to_url(), "ws://[::1]:1/");
        assert_eq!(ws(false, "h", 1, "").to_url(), "ws://h:1/");
        assert_eq!(rs(true, "h", 5).to_url(), "tcps://h:5");
        assert_eq!(
            Endpoint::Unix {
                path: "/tmp/s".into()
            }
            .to_url(),
            "unix:///tmp/s"
        );
        assert_eq!(Endpoint::Unix { path: "s".into() }.to_url(), "unix:s");
        assert_eq!(
            "tcp://h:1".parse::<Endpoint>().unwrap().to_string(),
            "tcp://h:1"
        );
    }

    #[test]
    fn accessors_and_with_port() {
        let endpoint = Endpoint::parse("wss://h:0/ws").unwrap();
        assert!(endpoint.is_tls() && endpoint.is_websocket());
        assert_eq!(endpoint.host(), Some("h"));
        assert_eq!(endpoint.with_port(4433).port(), Some(4433));
        let unix = Endpoint::parse("unix:///s").unwrap();
        assert!(!unix.is_tls());
        assert_eq!(unix.with_port(1), unix);
        assert_eq!(unix.port(), None);
    }

    #[test]
    fn rejects_bad_urls() {
        let bad = [
            "",
            "localhost:8080",
            "http://localhost/",
            "tcp://localhost",
            "tcps://localhost",
            "tcp://localhost:1/path",
            "tcp://localhost:1?x",
            "ws://user:pw@localhost/",
            "ws://localhost/#frag",
            "tcp://:80",
            "unix://host/path",
            "unix:",
            "unix://",
            "ws://localhost:99999/",
        ];
        for url in bad {
            let error = Endpoint::parse(url).expect_err(url);
            assert!(!error.to_string().is_empty());
        }
        assert_eq!(
            Endpoint::parse("tcp://localhost"),
            Err(EndpointError::MissingPort("tcp://localhost".into()))
        );
        assert!(matches!(
            Endpoint::parse("http://x/"),
            Err(EndpointError::UnsupportedScheme { .. })
        ));
    }
}
