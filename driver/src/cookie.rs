//! A cookie jar for WebSocket cookie authentication.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

/// One stored cookie.
#[derive(Clone)]
struct Cookie {
    name: String,
    value: String,
    /// Only sent over TLS (`wss://`).
    secure: bool,
}

/// Cookies that routers set in WebSocket handshake responses, kept by host and sent back
/// in the `Cookie` header of the next WebSocket handshake to the same host.
///
/// Give a jar to [`ClientConfig::cookie_jar`](crate::ClientConfig::cookie_jar): a client
/// whose jar holds a cookie for the router's host sends it and offers the `cookie`
/// authmethod first. A router that bound the cookie to an earlier authenticated session
/// (Crossbar, or nexus with a cookie-enabled listener) then welcomes the client without a
/// CHALLENGE. The jar is cheap to clone; clones share the same store, so one jar can serve
/// many clients, also at the same time.
///
/// Cookies are kept for the life of the jar: `Max-Age=0` (or negative) removes a cookie,
/// other expiry attributes (`Max-Age`, `Expires`) are not tracked, and `Secure` cookies
/// are only sent over `wss://`. Hosts are compared without the port, as in RFC 6265.
/// Cookie values are secrets: `Debug` shows the hosts and cookie names only.
///
/// ```
/// use nexus_driver::CookieJar;
///
/// let jar = CookieJar::new();
/// jar.store("router.example.com", "cbtid=abc123; Max-Age=604800; HttpOnly");
/// jar.store("router.example.com", "lang=en");
/// assert_eq!(jar.header("router.example.com", false).as_deref(), Some("cbtid=abc123; lang=en"));
/// assert_eq!(jar.header("other.example.com", false), None);
///
/// // A clone shares the store; Max-Age=0 deletes.
/// jar.clone().store("router.example.com", "lang=; Max-Age=0");
/// assert_eq!(jar.header("router.example.com", false).as_deref(), Some("cbtid=abc123"));
/// assert!(!format!("{jar:?}").contains("abc123"));
/// ```
#[derive(Clone, Default)]
pub struct CookieJar {
    hosts: Arc<Mutex<HashMap<String, Vec<Cookie>>>>,
}

impl CookieJar {
    /// An empty jar.
    pub fn new() -> Self {
        CookieJar::default()
    }

    fn key(host: &str) -> String {
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase()
    }

    /// Stores the cookie of a `Set-Cookie` header value received from `host` (a cookie
    /// with the same name is replaced). Values that are not `name=value[; attributes]` are
    /// ignored.
    pub fn store(&self, host: &str, set_cookie: &str) {
        let mut parts = set_cookie.split(';');
        let Some((name, value)) = parts.next().and_then(|pair| pair.split_once('=')) else {
            return;
        };
        let (name, value) = (name.trim(), value.trim().trim_matches('"'));
        if name.is_empty() {
            return;
        }
        let mut secure = false;
        let mut delete = false;
        for attribute in parts {
            let (key, val) = attribute.split_once('=').unwrap_or((attribute, ""));
            let key = key.trim();
            if key.eq_ignore_ascii_case("secure") {
                secure = true;
            } else if key.eq_ignore_ascii_case("max-age") {
                delete = val.trim().parse::<i64>().is_ok_and(|age| age <= 0);
            }
        }
        let mut hosts = self.hosts.lock().unwrap_or_else(PoisonError::into_inner);
        let cookies = hosts.entry(Self::key(host)).or_default();
        cookies.retain(|cookie| cookie.name != name);
        if !delete {
            cookies.push(Cookie {
                name: name.to_owned(),
                value: value.to_owned(),
                secure,
            });
        }
    }

    /// The `Cookie` header value for a connection to `host` (`tls`: whether it is
    /// `wss://`), or `None` when the jar holds no cookie to send there.
    pub fn header(&self, host: &str, tls: bool) -> Option<String> {
        let hosts = self.hosts.lock().unwrap_or_else(PoisonError::into_inner);
        let pairs: Vec<String> = hosts
            .get(&Self::key(host))?
            .iter()
            .filter(|cookie| tls || !cookie.secure)
            .map(|cookie| format!("{}={}", cookie.name, cookie.value))
            .collect();
        (!pairs.is_empty()).then(|| pairs.join("; "))
    }

    /// Forgets every cookie of `host`.
    pub fn remove_host(&self, host: &str) {
        self.hosts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&Self::key(host));
    }

    /// Forgets every cookie.
    pub fn clear(&self) {
        self.hosts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

impl fmt::Debug for CookieJar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hosts = self.hosts.lock().unwrap_or_else(PoisonError::into_inner);
        let mut map = f.debug_map();
        for (host, cookies) in hosts.iter() {
            let names: Vec<&str> = cookies.iter().map(|c| c.name.as_str()).collect();
            map.entry(host, &names);
        }
        map.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::CookieJar;

    #[test]
    fn secure_cookies_only_over_tls_and_hosts_without_case_or_brackets() {
        let jar = CookieJar::new();
        jar.store("[::1]", "sid=1; Secure; HttpOnly");
        jar.store("::1", "plain=2");
        assert_eq!(jar.header("::1", false).as_deref(), Some("plain=2"));
        assert_eq!(jar.header("[::1]", true).as_deref(), Some("sid=1; plain=2"));
        jar.store("Router.Example", "a=\"quoted\"");
        assert_eq!(
            jar.header("router.example", false).as_deref(),
            Some("a=quoted")
        );
        jar.store("router.example", "garbage");
        jar.store("router.example", "=nameless");
        assert_eq!(
            jar.header("router.example", false).as_deref(),
            Some("a=quoted")
        );
        jar.remove_host("router.example");
        assert_eq!(jar.header("router.example", false), None);
        jar.clear();
        assert_eq!(jar.header("::1", true), None);
    }
}
