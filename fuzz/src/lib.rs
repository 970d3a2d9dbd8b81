//! Shared checks for the fuzz targets.

use nexus_core::{Limits, Serializer};

/// Limits small enough that the fuzzer explores them, large enough for real messages.
pub fn limits() -> Limits {
    Limits {
        max_message_size: 64 * 1024,
        max_depth: 16,
        max_collection_len: 4096,
        max_values: 16 * 1024,
        max_batch_len: 64,
    }
}

/// Decodes `data` with `serializer`; when it decodes, our encoding of the message must decode
/// back, and re-encoding that must give the same bytes (encoding is stable).
pub fn decode_and_reencode(serializer: Serializer, data: &[u8]) {
    let limits = limits();
    let Ok(message) = serializer.decode(data, &limits) else {
        return;
    };
    let first = serializer
        .encode(&message)
        .expect("a decoded message must encode");
    let roomy = Limits {
        max_message_size: usize::MAX,
        ..limits
    };
    let again = serializer
        .decode(&first, &roomy)
        .unwrap_or_else(|e| panic!("our own {serializer} encoding does not decode: {e}"));
    let second = serializer.encode(&again).expect("re-encode");
    assert_eq!(first, second, "{serializer} encoding is not stable");
}
