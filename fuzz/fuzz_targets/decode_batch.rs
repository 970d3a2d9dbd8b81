#![no_main]
//! Arbitrary bytes through the batched-transport decoder of a serializer chosen by the first
//! byte; what decodes must round-trip.

use libfuzzer_sys::fuzz_target;
use nexus_core::Serializer;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let serializer = Serializer::ALL[usize::from(pick) % Serializer::ALL.len()];
    let limits = nexus_fuzz::limits();
    let Ok(messages) = serializer.decode_batch(rest, &limits) else {
        return;
    };
    let bytes = serializer.encode_batch(&messages).expect("encode batch");
    let roomy = nexus_core::Limits {
        max_message_size: usize::MAX,
        ..limits
    };
    let again = serializer
        .decode_batch(&bytes, &roomy)
        .expect("our batch decodes");
    assert_eq!(
        serializer.encode_batch(&again).expect("re-encode"),
        bytes,
        "batch encoding is not stable"
    );
});
