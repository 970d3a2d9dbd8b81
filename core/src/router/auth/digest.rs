//! A keyed digest for values the router must recognise without keeping them: cookie values
//! in the [`CookieStore`](crate::router::CookieStore) and the per-authid inputs of mock challenges.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// HMAC-SHA256 of `data` under `key`.
pub(crate) fn keyed_digest(key: &[u8; 32], data: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}
