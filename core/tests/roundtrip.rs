//! Property tests of the serializers: everything we generate round-trips exactly through
//! JSON, MessagePack and CBOR (single messages, values and batches), and no input, random
//! or a corrupted valid encoding, makes a decoder panic.

mod common;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;

use nexus_core::uri::UriRules;
use nexus_core::{Limits, MatchPolicy, Message, Serializer};

use common::*;

/// `cases` per property, unless `PROPTEST_CASES` asks for another number (for a longer run:
/// `PROPTEST_CASES=20000 cargo test --release -p nexus-core --test roundtrip`).
fn config(cases: u32) -> ProptestConfig {
    let default = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_some() {
        default
    } else {
        ProptestConfig { cases, ..default }
    }
}

/// A corruption of an encoding.
#[derive(Debug, Clone)]
enum Mutation {
    /// XOR one byte with a non-zero mask.
    Flip(Index, u8),
    /// Insert a byte.
    Insert(Index, u8),
    /// Delete a byte.
    Delete(Index),
    /// Cut the encoding short.
    Truncate(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<Index>(), 1u8..=255).prop_map(|(i, mask)| Mutation::Flip(i, mask)),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        2 => any::<Index>().prop_map(Mutation::Delete),
        1 => any::<Index>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(bytes: &mut Vec<u8>, mutations: &[Mutation]) {
    for mutation in mutations {
        match mutation {
            Mutation::Flip(i, mask) if !bytes.is_empty() => {
                let i = i.index(bytes.len());
                bytes[i] ^= mask;
            }
            Mutation::Insert(i, b) => {
                let i = i.index(bytes.len() + 1);
                bytes.insert(i, *b);
            }
            Mutation::Delete(i) if !bytes.is_empty() => {
                let i = i.index(bytes.len());
                bytes.remove(i);
            }
            Mutation::Truncate(i) => {
                let i = i.index(bytes.len() + 1);
                bytes.truncate(i);
            }
            Mutation::Flip(..) | Mutation::Delete(_) => {}
        }
    }
}

/// Decodes `bytes` every way there is; only a panic can fail this.
fn decode_every_way(bytes: &[u8]) {
    let limits = Limits::default();
    for s in Serializer::ALL {
        let _ = s.decode(bytes, &limits);
        let _ = s.decode_value(bytes, &limits);
        let _ = s.decode_batch(bytes, &limits);
    }
}

proptest! {
    #![proptest_config(config(256))]

    /// encode, then decode, gives the message back, with every serializer; decoding and
    /// re-encoding gives the same bytes.
    #[test]
    fn message_round_trips(message in message()) {
        let limits = Limits::default();
        for s in Serializer::ALL {
            let bytes = s.encode(&message).map_err(|e| TestCaseError::fail(format!("{s}: {e}")))?;
            let back = s
                .decode(&bytes, &limits)
                .map_err(|e| TestCaseError::fail(format!("{s}: {e}; bytes {}", hex::encode(&bytes))))?;
            prop_assert_eq!(&back, &message, "{}", s);
            let again = s.encode(&back).map_err(|e| TestCaseError::fail(format!("{s}: {e}")))?;
            prop_assert_eq!(&again[..], &bytes[..], "{} re-encoding differs", s);
        }
    }

    /// The wire list as a `Value` reads back as the same message, and goes through every
    /// serializer unchanged.
    #[test]
    fn message_value_round_trips(message in message()) {
        let value = message.to_value();
        prop_assert_eq!(Message::from_value(value.clone()), Ok(message.clone()));
        for s in Serializer::ALL {
            let bytes = s.encode_value(&value).map_err(|e| TestCaseError::fail(format!("{s}: {e}")))?;
            prop_assert_eq!(&s.encode(&message).unwrap()[..], &bytes[..], "{}", s);
        }
    }

    /// encode_value, then decode_value, gives the value back, with every serializer.
    #[test]
    fn value_round_trips(value in value()) {
        let limits = Limits::default();
        for s in Serializer::ALL {
            let bytes = s.encode_value(&value).map_err(|e| TestCaseError::fail(format!("{s}: {e}")))?;
            let back = s
                .decode_value(&bytes, &limits)
                .map_err(|e| TestCaseError::fail(format!("{s}: {e}; bytes {}", hex::encode(&bytes))))?;
            prop_assert_eq!(&back, &value, "{}", s);
        }
    }

    /// No byte string makes a decoder panic.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..512)) {
        decode_every_way(&bytes);
    }

    /// No corruption of a valid encoding (single or batched) makes a decoder panic.
    #[test]
    fn mutated_encodings_never_panic(
        messages in vec(message(), 1..3),
        s in serializer(),
        mutations in vec(mutation(), 1..5),
    ) {
        let single = s.encode(&messages[0]).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let batch = s.encode_batch(&messages).map_err(|e| TestCaseError::fail(e.to_string()))?;
        for encoded in [single, batch] {
            let mut bytes = encoded.to_vec();
            mutate(&mut bytes, &mutations);
            decode_every_way(&bytes);
        }
    }

    /// The URI strategies produce what they claim.
    #[test]
    fn uri_strategies_are_valid(
        strict in strict_uri(),
        loose in loose_uri(),
        pattern in pattern_uri(),
    ) {
        prop_assert!(strict.is_valid(UriRules::Strict, MatchPolicy::Exact), "{}", strict);
        prop_assert!(loose.is_valid(UriRules::Loose, MatchPolicy::Exact), "{}", loose);
        prop_assert!(
            pattern.is_valid(UriRules::Strict, MatchPolicy::Wildcard)
                || pattern.is_valid(UriRules::Strict, MatchPolicy::Prefix),
            "{}",
            pattern
        );
    }
}

proptest! {
    // Generating eight messages per case is the slow part; the framing needs fewer cases.
    #![proptest_config(config(64))]

    /// A batch of 1 to 8 messages round-trips through the batched framing.
    #[test]
    fn batch_round_trips(messages in vec(message(), 1..8)) {
        let limits = Limits::default();
        for s in Serializer::ALL {
            let bytes = s
                .encode_batch(&messages)
                .map_err(|e| TestCaseError::fail(format!("{s}: {e}")))?;
            let back = s
                .decode_batch(&bytes, &limits)
                .map_err(|e| TestCaseError::fail(format!("{s}: {e}")))?;
            prop_assert_eq!(&back, &messages, "{}", s);
        }
    }
}

/// Each per-variant strategy generates its own variant, and `message()` reaches all of them
/// and both forms of UNSUBSCRIBED and UNREGISTERED.
#[test]
fn message_strategy_covers_every_variant() {
    let mut runner = TestRunner::deterministic();
    for (i, strategy) in message_variants().into_iter().enumerate() {
        for _ in 0..4 {
            let m = strategy.new_tree(&mut runner).unwrap().current();
            assert_eq!(variant_index(&m), i, "strategy {i} generated {}", m.name());
        }
    }
    let strategy = message();
    let mut seen = [false; MESSAGE_VARIANTS];
    let (mut revocations, mut normal) = (0, 0);
    for _ in 0..600 {
        let m = strategy.new_tree(&mut runner).unwrap().current();
        seen[variant_index(&m)] = true;
        match &m {
            Message::Unsubscribed(u) => {
                if u.request.is_none() {
                    revocations += 1
                } else {
                    normal += 1
                }
            }
            Message::Unregistered(u) => {
                if u.request.is_none() {
                    revocations += 1
                } else {
                    normal += 1
                }
            }
            _ => {}
        }
    }
    assert!(
        seen.iter().all(|s| *s),
        "variants never generated: {seen:?}"
    );
    assert!(revocations > 0 && normal > 0);
}

/// Floats proptest found that serde_json's default (best-effort) float parser read back one
/// ULP off; exact parsing needs serde_json's `float_roundtrip` feature.
#[test]
fn json_floats_round_trip_exactly() {
    use nexus_core::Value;
    for x in [
        901.0791580157071,
        -7.191528091620647e-300,
        3.7850217299542956e-111,
        -1.774699295265821e-103,
    ] {
        let v = Value::Float(x);
        let bytes = Serializer::Json.encode_value(&v).unwrap();
        let back = Serializer::Json
            .decode_value(&bytes, &Limits::default())
            .unwrap();
        assert_eq!(back.as_f64().map(f64::to_bits), Some(x.to_bits()), "{x:?}");
    }
}
