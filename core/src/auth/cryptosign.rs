//! WAMP-Cryptosign: Ed25519 signatures over a random challenge.
//!
//! The client announces its public key in `HELLO.Details.authextra.pubkey`; the router
//! sends 32 random bytes as hex in `CHALLENGE.Extra.challenge`; the client signs them
//! (XOR-ed with the 32-byte TLS channel ID when channel binding is in use) and answers with
//! `hex(signature ‖ message)`, 96 bytes. Router authentication is the same in the other
//! direction: the client sends its own challenge in `HELLO.Details.authextra.challenge` and
//! the router returns `CHALLENGE.Extra.signature` and its `pubkey`.
//!
//! ```
//! use nexus_core::auth::cryptosign::{self, SigningKey};
//!
//! let client = SigningKey::from_seed(&[1; 32]);
//! let pubkey = client.public_key(); // the router knows it in advance
//!
//! // Router: a fresh challenge from 32 random bytes.
//! let random = [0x5a; 32];
//! let challenge = cryptosign::challenge_hex(&random);
//! // Client:
//! let signature = client.sign_challenge(&challenge, None).unwrap();
//! assert_eq!(signature.len(), 192);
//! // Router:
//! assert!(cryptosign::verify(&pubkey, &random, None, &signature).is_ok());
//! ```

use std::fmt;

use ed25519_dalek::{Signer, SIGNATURE_LENGTH};
use sha2::{Digest, Sha256};

use super::{ct_eq, method, unhex, AuthError};
use crate::message::ChallengeExtra;

/// The channel binding type `tls-unique` (RFC 5929).
pub const TLS_UNIQUE: &str = "tls-unique";
/// The channel binding type `tls-exporter` (RFC 9266).
pub const TLS_EXPORTER: &str = "tls-exporter";

/// An Ed25519 key pair that signs challenges. `Debug` shows only the public key; the secret
/// half is wiped from memory when dropped.
///
/// ```
/// use nexus_core::auth::cryptosign::SigningKey;
///
/// let key = SigningKey::from_hex("4d57d97a68f555696620a6d849c0ce582568518d729eb753dc7c732de2804510").unwrap();
/// assert!(format!("{key:?}").contains(&key.public_key().to_hex()));
/// assert!(!format!("{key:?}").contains("4d57d97a"));
/// assert!(SigningKey::from_hex("4d57").is_err());
/// ```
#[derive(Clone)]
pub struct SigningKey(ed25519_dalek::SigningKey);

impl SigningKey {
    /// The key pair of a 32-byte seed (the "private key" of RFC 8032, as Autobahn and
    /// Crossbar store it).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        SigningKey(ed25519_dalek::SigningKey::from_bytes(seed))
    }

    /// The key pair of a seed written as 64 hex digits.
    pub fn from_hex(seed_hex: &str) -> Result<Self, AuthError> {
        let seed = zeroize::Zeroizing::new(unhex::<32>(
            method::CRYPTOSIGN,
            "private key",
            seed_hex.trim(),
        )?);
        Ok(SigningKey::from_seed(&seed))
    }

    /// The public half.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// Signs a challenge given as 64 hex digits, XOR-ed with `channel_id` if given; returns
    /// `hex(signature ‖ message)` (192 hex digits) for `AUTHENTICATE.Signature` (or, on a
    /// router, for `CHALLENGE.Extra.signature`).
    ///
    /// ```
    /// use nexus_core::auth::cryptosign::SigningKey;
    /// // The specification's first test vector.
    /// let key = SigningKey::from_hex("4d57d97a68f555696620a6d849c0ce582568518d729eb753dc7c732de2804510").unwrap();
    /// let sig = key.sign_challenge(&"ff".repeat(32), None).unwrap();
    /// assert!(sig.starts_with("b32675b221f08593213737bef8240e7c"));
    /// assert!(sig.ends_with(&"ff".repeat(32)));
    /// ```
    pub fn sign_challenge(
        &self,
        challenge_hex: &str,
        channel_id: Option<&[u8; 32]>,
    ) -> Result<String, AuthError> {
        let challenge = unhex::<32>(method::CRYPTOSIGN, "challenge", challenge_hex)?;
        Ok(self.sign_message(&message(&challenge, channel_id)))
    }

    fn sign_message(&self, message: &[u8; 32]) -> String {
        let signature = self.0.sign(message);
        let mut out = String::with_capacity(192);
        out.push_str(&hex::encode(signature.to_bytes()));
        out.push_str(&hex::encode(message));
        out
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("public_key", &self.public_key().to_hex())
            .finish_non_exhaustive()
    }
}

/// [`SigningKey::sign_challenge`] as a function.
///
/// ```
/// use nexus_core::auth::cryptosign::{sign_challenge, SigningKey};
/// let key = SigningKey::from_seed(&[3; 32]);
/// assert!(sign_challenge(&key, "zz", None).is_err());
/// ```
pub fn sign_challenge(
    key: &SigningKey,
    challenge_hex: &str,
    channel_id: Option<[u8; 32]>,
) -> Result<String, AuthError> {
    key.sign_challenge(challenge_hex, channel_id.as_ref())
}

/// An Ed25519 public key. `Display` and `Debug` show it as hex.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(ed25519_dalek::VerifyingKey);

impl PublicKey {
    /// The key of 32 bytes; fails for byte strings that are not a curve point.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, AuthError> {
        ed25519_dalek::VerifyingKey::from_bytes(bytes)
            .map(PublicKey)
            .map_err(|_| AuthError::InvalidField {
                method: method::CRYPTOSIGN,
                field: "pubkey",
                reason: "not an Ed25519 public key".into(),
            })
    }

    /// The key written as 64 hex digits (as in `HELLO.Details.authextra.pubkey`).
    ///
    /// ```
    /// use nexus_core::auth::cryptosign::PublicKey;
    /// let hex = "545efb0a2192db8d43f118e9bf9aee081466e1ef36c708b96ee6f62dddad9122";
    /// assert_eq!(PublicKey::from_hex(hex).unwrap().to_hex(), hex);
    /// assert!(PublicKey::from_hex("nope").is_err());
    /// ```
    pub fn from_hex(hex: &str) -> Result<Self, AuthError> {
        PublicKey::from_bytes(&unhex::<32>(method::CRYPTOSIGN, "pubkey", hex)?)
    }

    /// The 32 bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The key as 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0.as_bytes())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// A challenge from 32 random bytes: their hex text.
///
/// ```
/// assert_eq!(nexus_core::auth::cryptosign::challenge_hex(&[0xab; 32]), "ab".repeat(32));
/// ```
pub fn challenge_hex(random: &[u8; 32]) -> String {
    hex::encode(random)
}

/// The message signed for `challenge`: the challenge itself, or XOR-ed bytewise with the
/// channel ID when channel binding is in use.
///
/// ```
/// use nexus_core::auth::cryptosign::message;
/// assert_eq!(message(&[0x0f; 32], Some(&[0xf0; 32])), [0xff; 32]);
/// assert_eq!(message(&[0x0f; 32], None), [0x0f; 32]);
/// ```
pub fn message(challenge: &[u8; 32], channel_id: Option<&[u8; 32]>) -> [u8; 32] {
    let mut m = *challenge;
    if let Some(id) = channel_id {
        for (b, c) in m.iter_mut().zip(id) {
            *b ^= c;
        }
    }
    m
}

/// The 32-byte channel ID for `tls-unique` binding as Autobahn and Crossbar compute it: the
/// SHA-256 of the TLS `tls-unique` bytes (12 bytes under TLS 1.2). The specification only
/// says "32 bytes"; this is the de facto rule.
pub fn tls_unique_channel_id(tls_unique: &[u8]) -> [u8; 32] {
    Sha256::digest(tls_unique).into()
}

/// Checks a signature answering `challenge` (the 32 bytes sent, XOR-ed with `channel_id`
/// if given): `signature_hex` must be `hex(Ed25519 signature ‖ message)` over exactly that
/// message, under `pubkey`. Verification is strict (RFC 8032 with canonical encodings and no
/// small-order keys).
///
/// ```
/// use nexus_core::auth::cryptosign::{self, SigningKey};
///
/// let key = SigningKey::from_seed(&[9; 32]);
/// let challenge = [0x11; 32];
/// let sig = key.sign_challenge(&cryptosign::challenge_hex(&challenge), Some(&[0x22; 32])).unwrap();
/// assert!(cryptosign::verify(&key.public_key(), &challenge, Some([0x22; 32]), &sig).is_ok());
/// // Without the channel binding the message is different.
/// assert!(cryptosign::verify(&key.public_key(), &challenge, None, &sig).is_err());
/// assert!(cryptosign::verify(&key.public_key(), &challenge, None, "00").is_err());
/// ```
pub fn verify(
    pubkey: &PublicKey,
    challenge: &[u8; 32],
    channel_id: Option<[u8; 32]>,
    signature_hex: &str,
) -> Result<(), AuthError> {
    let signed = unhex::<96>(method::CRYPTOSIGN, "signature", signature_hex)?;
    let expected = message(challenge, channel_id.as_ref());
    if !ct_eq(&signed[SIGNATURE_LENGTH..], &expected) {
        return Err(AuthError::VerificationFailed {
            method: method::CRYPTOSIGN,
            what: "the signed message (not the challenge sent)",
        });
    }
    let mut sig = [0u8; SIGNATURE_LENGTH];
    sig.copy_from_slice(&signed[..SIGNATURE_LENGTH]);
    let sig = ed25519_dalek::Signature::from_bytes(&sig);
    pubkey
        .0
        .verify_strict(&expected, &sig)
        .map_err(|_| AuthError::VerificationFailed {
            method: method::CRYPTOSIGN,
            what: "the signature",
        })
}

/// Builds a router's `CHALLENGE.Extra` for cryptosign: the challenge from 32 random bytes,
/// the channel binding in use (if any), and for router authentication the router's
/// signature over the client's `HELLO.Details.authextra.challenge` (XOR-ed with the channel
/// ID when bound) with the router's public key.
///
/// ```
/// use nexus_core::auth::cryptosign::{self, SigningKey};
///
/// let router = SigningKey::from_seed(&[4; 32]);
/// let client_challenge = "cc".repeat(32);
/// let extra = cryptosign::challenge_extra(&[1; 32], None, Some((&router, &client_challenge))).unwrap();
/// assert_eq!(extra.challenge.as_deref(), Some("01".repeat(32).as_str()));
/// assert_eq!(extra.pubkey, Some(router.public_key().to_hex()));
/// assert!(cryptosign::verify(&router.public_key(), &[0xcc; 32], None, extra.signature.as_deref().unwrap()).is_ok());
/// ```
pub fn challenge_extra(
    random: &[u8; 32],
    binding: Option<(&str, [u8; 32])>,
    router_auth: Option<(&SigningKey, &str)>,
) -> Result<ChallengeExtra, AuthError> {
    let mut extra = ChallengeExtra {
        challenge: Some(challenge_hex(random)),
        channel_binding: binding.map(|(kind, _)| kind.to_owned()),
        ..ChallengeExtra::default()
    };
    if let Some((key, client_challenge)) = router_auth {
        let channel_id = binding.map(|(_, id)| id);
        extra.signature = Some(key.sign_challenge(client_challenge, channel_id.as_ref())?);
        extra.pubkey = Some(key.public_key().to_hex());
    }
    Ok(extra)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test vectors of the specification (`authentication_cryptosign.md`): private key,
    /// challenge, channel ID, signature.
    const VECTORS: [(&str, &str, Option<&str>, &str); 6] = [
        (
            "4d57d97a68f555696620a6d849c0ce582568518d729eb753dc7c732de2804510",
            "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
            None,
            "b32675b221f08593213737bef8240e7c15228b07028e19595294678c90d11c0cae80a357331bfc5cc9fb71081464e6e75013517c2cf067ad566a6b7b728e5d03ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        ),
        (
            "d511fe78e23934b3dadb52fcd022974b80bd92bccc7c5cf404e46cc0a8a2f5cd",
            "b26c1f87c13fc1da14997f1b5a71995dff8fbe0a62fae8473c7bdbd05bfb607d",
            None,
            "d4209ad10d5aff6bfbc009d7e924795de138a63515efc7afc6b01b7fe5201372190374886a70207b042294af5bd64ce725cd8dceb344e6d11c09d1aaaf4d660fb26c1f87c13fc1da14997f1b5a71995dff8fbe0a62fae8473c7bdbd05bfb607d",
        ),
        (
            "6e1fde9cf9e2359a87420b65a87dc0c66136e66945196ba2475990d8a0c3a25b",
            "b05e6b8ad4d69abf74aa3be3c0ee40ae07d66e1895b9ab09285a2f1192d562d2",
            None,
            "7beb282184baadd08f166f16dd683b39cab53816ed81e6955def951cb2ddad1ec184e206746fd82bda075af03711d3d5658fc84a76196b0fa8d1ebc92ef9f30bb05e6b8ad4d69abf74aa3be3c0ee40ae07d66e1895b9ab09285a2f1192d562d2",
        ),
        (
            "4d57d97a68f555696620a6d849c0ce582568518d729eb753dc7c732de2804510",
            "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
            Some("62e935ae755f3d48f80d4d59f6121358c435722a67e859cc0caa8b539027f2ff"),
            "9b6f41540c9b95b4b7b281c3042fa9c54cef43c842d62ea3fd6030fcb66e70b3e80d49d44c29d1635da9348d02ec93f3ed1ef227dfb59a07b580095c2b82f80f9d16ca518aa0c2b707f2b2a609edeca73bca8dd59817a633f35574ac6fd80d00",
        ),
        (
            "d511fe78e23934b3dadb52fcd022974b80bd92bccc7c5cf404e46cc0a8a2f5cd",
            "b26c1f87c13fc1da14997f1b5a71995dff8fbe0a62fae8473c7bdbd05bfb607d",
            Some("62e935ae755f3d48f80d4d59f6121358c435722a67e859cc0caa8b539027f2ff"),
            "305aaa3ac25e98f651427688b3fc43fe7d8a68a7ec1d7d61c61517c519bd4a427c3015599d83ca28b4c652333920223844ef0725eb5dc2febfd6af7677b73f01d0852a29b460fc92ec943242ac638a053bbacc200512b18b30d15083cbdc9282",
        ),
        (
            "6e1fde9cf9e2359a87420b65a87dc0c66136e66945196ba2475990d8a0c3a25b",
            "b05e6b8ad4d69abf74aa3be3c0ee40ae07d66e1895b9ab09285a2f1192d562d2",
            Some("62e935ae755f3d48f80d4d59f6121358c435722a67e859cc0caa8b539027f2ff"),
            "ee3c7644fd8070532bc1fde3d70d742267da545d8c8f03e63bda63f1ad4214f4d2c4bfdb4eb9526def42deeb7e31602a6ff99eba893e0a4ad4d45892ca75e608d2b75e24a189a7f78ca776ba36fc53f6c3e31c32f251f2c524f0a44202f2902d",
        ),
    ];

    fn id(hex: Option<&str>) -> Option<[u8; 32]> {
        hex.map(|h| unhex::<32>("test", "channel_id", h).unwrap())
    }

    #[test]
    fn specification_vectors_sign_and_verify() {
        for (key, challenge, channel_id, signature) in VECTORS {
            let key = SigningKey::from_hex(key).unwrap();
            let channel_id = id(channel_id);
            assert_eq!(
                sign_challenge(&key, challenge, channel_id).unwrap(),
                signature
            );
            let challenge = unhex::<32>("test", "challenge", challenge).unwrap();
            verify(&key.public_key(), &challenge, channel_id, signature).unwrap();
            // A flipped bit anywhere fails.
            let mut bad = hex::decode(signature).unwrap();
            bad[10] ^= 1;
            assert!(verify(
                &key.public_key(),
                &challenge,
                channel_id,
                &hex::encode(&bad)
            )
            .is_err());
        }
    }

    /// The specification's router-authentication example: the router (pubkey `4a38…`)
    /// signed the client's challenge `bbae…`.
    #[test]
    fn specification_router_authentication_example() {
        let router =
            PublicKey::from_hex("4a3838f6fe75251e613329d53fc69b262d5eac97fb1d73bebbaed4015b53c862")
                .unwrap();
        let client_challenge = unhex::<32>(
            "test",
            "challenge",
            "bbae60ea44cdd7b20dc7010a618b0f0803fab25a817520b4b7f057299b524deb",
        )
        .unwrap();
        let signature = "fd5128d2d207ba58a9d1d6f41b72c747964ad9d1294077b3b1eee6130b05843ab12c53c7f2519f73d4feb82db19d8ca0fc26b62bde6518e79a882f5795bc9f00bbae60ea44cdd7b20dc7010a618b0f0803fab25a817520b4b7f057299b524deb";
        verify(&router, &client_challenge, None, signature).unwrap();
    }

    #[test]
    fn malformed_input_is_an_error() {
        let key = SigningKey::from_seed(&[1; 32]);
        for bad in ["", "zz", &"f".repeat(63), &"f".repeat(65), &"é".repeat(32)] {
            assert!(key.sign_challenge(bad, None).is_err(), "{bad:?}");
            assert!(verify(&key.public_key(), &[0; 32], None, bad).is_err());
            assert!(PublicKey::from_hex(bad).is_err());
        }
    }
}
