//! Rendezvous hashing for sharded registrations (digest §4.10: with `runmode: "partition"`,
//! the callee with the highest [`shard_score`] gets the call) and sharded subscriptions
//! (§4.18: among subscribers with an `nkey`, those whose key has the highest [`nkey_score`]
//! get the event). The scores are stable across routers and versions, so anyone can compute
//! where a key goes.

use crate::id::SessionId;

/// The rendezvous-hashing score of a publication's `rkey` for a subscriber's `nkey`
/// (sharded subscription): the SplitMix64 finalizer of (FNV-1a 64 of `rkey` XOR FNV-1a 64
/// of `nkey`).
pub fn nkey_score(rkey: &str, nkey: &str) -> u64 {
    mix(fnv1a(rkey) ^ fnv1a(nkey))
}

/// The rendezvous-hashing score of a shard key for a callee session: the SplitMix64
/// finalizer of (FNV-1a 64 of the key's UTF-8 bytes XOR the session ID). Stable across
/// routers and versions, so anyone can compute where a key goes.
pub fn shard_score(rkey: &str, session: SessionId) -> u64 {
    mix(fnv1a(rkey) ^ session.get())
}

/// FNV-1a 64 of a string's UTF-8 bytes.
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The SplitMix64 finalizer: spreads FNV's weak low bits over the whole word.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
