//! The store of WAMP cookie authentication (digest §5.7): which cookie stands
//! for which identity, until when, and the issuing of fresh cookies. Pure data, no clock:
//! every call takes `now`.
//!
//! The driver owns one store and consults it twice: while accepting a WebSocket connection
//! ([`CookieStore::admit`]: is the cookie the client presents bound to someone? if not, a
//! fresh one is issued, for the driver to set in its handshake response) and on the router's
//! [`Action::RememberCookie`](crate::router::Action::RememberCookie) (bind the cookie issued
//! on that connection). See [`ConnectionCookie`] for why
//! only issued cookies are bound.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

use super::transport::{ConnectionCookie, CookieGrant, CookieIdentity};

/// The longest presented cookie value looked up: the store's are 43 characters, and
/// anything much longer is not worth hashing.
const MAX_PRESENTED: usize = 256;

/// A bounded map from cookie values to identities, with expiry.
///
/// Values are kept only as a keyed digest, so a memory dump of the router does not hold
/// usable cookies. At capacity, the binding closest to expiry (an expired one first) makes
/// room for the new one; expired bindings are never returned.
///
/// ```
/// use std::time::{Duration, Instant};
/// use nexus_core::router::{CookieGrant, CookieStore, Identity};
/// use nexus_core::Uri;
///
/// let mut store = CookieStore::new(1000, [7; 32]);
/// let now = Instant::now();
/// store.remember(now, CookieGrant {
///     value: "c00k1e".into(),
///     realm: Uri::parse("realm1").unwrap(),
///     identity: Identity { authid: "alice".into(), authrole: "user".into(), ..Default::default() },
///     max_age: Duration::from_secs(60),
/// });
/// assert_eq!(store.lookup(now, "c00k1e").unwrap().identity.authid, "alice");
/// assert!(store.lookup(now, "other").is_none());
/// assert!(store.lookup(now + Duration::from_secs(61), "c00k1e").is_none());
/// assert!(store.is_empty()); // the expired binding is gone
///
/// // A client presenting no known cookie is issued a fresh one.
/// let cookie = store.admit(now, Some("forged"), Duration::from_secs(60));
/// assert!(cookie.issued && cookie.value != "forged" && cookie.value.len() == 43);
/// ```
pub struct CookieStore {
    capacity: usize,
    key: [u8; 32],
    /// Draws the values of issued cookies (seeded from `key`, which is secret).
    values: ChaCha20Rng,
    by_value: HashMap<[u8; 32], (CookieIdentity, u64)>,
    /// Bindings by expiry (then insertion), to evict the one closest to expiry.
    by_expiry: BTreeSet<(Instant, u64, [u8; 32])>,
    next: u64,
}

impl CookieStore {
    /// A store of at most `capacity` bindings (at least 1). `key` keys the digest of the
    /// cookie values: draw it from a CSPRNG.
    pub fn new(capacity: usize, key: [u8; 32]) -> Self {
        let seed = super::digest::keyed_digest(&key, b"nexus cookie values");
        CookieStore {
            capacity: capacity.max(1),
            key,
            values: ChaCha20Rng::from_seed(seed),
            by_value: HashMap::new(),
            by_expiry: BTreeSet::new(),
            next: 0,
        }
    }

    fn digest(&self, value: &str) -> [u8; 32] {
        super::digest::keyed_digest(&self.key, value.as_bytes())
    }

    /// The cookie of a connection whose WebSocket handshake presented `presented` (the value
    /// of its cookie, if any): that one, when it is bound to an identity (not expired);
    /// otherwise a fresh value (32 random bytes, URL-safe base64), `issued`, which the driver
    /// sets in the handshake response with `max_age`. A presented value is never adopted:
    /// see [`ConnectionCookie`].
    pub fn admit(
        &mut self,
        now: Instant,
        presented: Option<&str>,
        max_age: Duration,
    ) -> ConnectionCookie {
        let known = presented
            .filter(|v| v.len() <= MAX_PRESENTED)
            .and_then(|v| Some((v, self.lookup(now, v)?)));
        if let Some((value, remembered)) = known {
            return ConnectionCookie {
                value: value.to_owned(),
                issued: false,
                max_age,
                remembered: Some(remembered),
            };
        }
        let mut random = [0u8; 32];
        self.values.fill_bytes(&mut random);
        ConnectionCookie {
            value: URL_SAFE_NO_PAD.encode(random),
            issued: true,
            max_age,
            remembered: None,
        }
    }

    /// Binds `grant.value` to `grant.identity` in `grant.realm` until `now + max_age`,
    /// replacing an earlier binding of the same value.
    pub fn remember(&mut self, now: Instant, grant: CookieGrant) {
        let Some(expires) = now.checked_add(grant.max_age) else {
            return;
        };
        let digest = self.digest(&grant.value);
        self.forget_digest(&digest);
        while self.by_value.len() >= self.capacity {
            let Some((_, _, oldest)) = self.by_expiry.pop_first() else {
                break;
            };
            self.by_value.remove(&oldest);
        }
        let seq = self.next;
        self.next += 1;
        let identity = CookieIdentity {
            realm: grant.realm,
            identity: grant.identity,
            expires,
        };
        self.by_expiry.insert((expires, seq, digest));
        self.by_value.insert(digest, (identity, seq));
    }

    /// The live binding of `value`, if any (an expired one is dropped).
    pub fn lookup(&mut self, now: Instant, value: &str) -> Option<CookieIdentity> {
        let digest = self.digest(value);
        let (identity, _) = self.by_value.get(&digest)?;
        if identity.expires <= now {
            self.forget_digest(&digest);
            return None;
        }
        Some(identity.clone())
    }

    /// Forgets the binding of `value` (a logout).
    pub fn forget(&mut self, value: &str) {
        let digest = self.digest(value);
        self.forget_digest(&digest);
    }

    fn forget_digest(&mut self, digest: &[u8; 32]) {
        if let Some((identity, seq)) = self.by_value.remove(digest) {
            self.by_expiry.remove(&(identity.expires, seq, *digest));
        }
    }

    /// Drops every binding expired at `now`.
    pub fn purge(&mut self, now: Instant) {
        while let Some(&(expires, _, digest)) = self.by_expiry.first() {
            if expires > now {
                break;
            }
            self.by_expiry.pop_first();
            self.by_value.remove(&digest);
        }
    }

    /// The number of bindings held (expired ones included until looked up or purged).
    pub fn len(&self) -> usize {
        self.by_value.len()
    }

    /// Whether the store holds no binding.
    pub fn is_empty(&self) -> bool {
        self.by_value.is_empty()
    }
}

impl fmt::Debug for CookieStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CookieStore")
            .field("capacity", &self.capacity)
            .field("len", &self.by_value.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::Identity;
    use crate::uri::Uri;
    use std::time::Duration;

    fn grant(value: &str, authid: &str, secs: u64) -> CookieGrant {
        CookieGrant {
            value: value.into(),
            realm: Uri::new_unchecked("realm1"),
            identity: Identity {
                authid: authid.into(),
                ..Default::default()
            },
            max_age: Duration::from_secs(secs),
        }
    }

    #[test]
    fn bounded_evicting_the_soonest_expiry() {
        let now = Instant::now();
        let mut store = CookieStore::new(2, [1; 32]);
        store.remember(now, grant("a", "A", 100));
        store.remember(now, grant("b", "B", 10));
        store.remember(now, grant("c", "C", 50));
        assert_eq!(store.len(), 2);
        assert!(store.lookup(now, "b").is_none());
        assert_eq!(store.lookup(now, "a").unwrap().identity.authid, "A");
        assert_eq!(store.lookup(now, "c").unwrap().identity.authid, "C");
        // Rebinding replaces, it does not duplicate.
        store.remember(now, grant("c", "C2", 50));
        assert_eq!(store.len(), 2);
        assert_eq!(store.lookup(now, "c").unwrap().identity.authid, "C2");
        store.purge(now + Duration::from_secs(60));
        assert_eq!(store.len(), 1);
        store.forget("a");
        assert!(store.is_empty());
        assert!(!format!("{store:?}").contains('A'));
    }
}
