//! Ticket authentication: the client sends a shared secret (the ticket) in AUTHENTICATE.
//!
//! The ticket travels in clear, so use it only over TLS. The router's check is
//! constant-time: both tickets are hashed first, so neither their contents nor their lengths
//! show in the time taken.
//!
//! ```
//! use nexus_core::auth::ticket;
//!
//! assert!(ticket::verify("correct horse", "correct horse"));
//! assert!(!ticket::verify("correct horse", "battery staple"));
//! ```

use sha2::{Digest, Sha256};

use super::ct_eq;

/// Whether the `presented` ticket equals the `expected` one, in constant time.
///
/// ```
/// assert!(!nexus_core::auth::ticket::verify("abc", "abcd"));
/// ```
pub fn verify(expected: &str, presented: &str) -> bool {
    let a = Sha256::digest(expected.as_bytes());
    let b = Sha256::digest(presented.as_bytes());
    // Equal hashes of different strings would be a SHA-256 collision; compare the lengths
    // too (after the hashes, which already took the time) to make that moot.
    ct_eq(&a, &b) & (expected.len() == presented.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets() {
        assert!(verify("", ""));
        assert!(verify("secret", "secret"));
        assert!(!verify("secret", "Secret"));
        assert!(!verify("secret", ""));
        assert!(!verify("", "secret"));
    }
}
