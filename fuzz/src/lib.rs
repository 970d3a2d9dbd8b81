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
    skim_agrees(serializer, data, &limits);
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

/// `Serializer::skim` never panics, gives ranges inside the input, and where the decoder also
/// reads the bytes as a list, finds exactly its elements. (Where only one of them accepts
/// the bytes, see the corner cases in `skim`'s documentation.)
pub fn skim_agrees(serializer: Serializer, data: &[u8], limits: &Limits) {
    let Ok(spans) = serializer.skim(data, limits) else {
        return;
    };
    let mut end = 0;
    for span in &spans {
        assert!(end <= span.start && span.start < span.end && span.end <= data.len());
        end = span.end;
    }
    let Ok(nexus_core::Value::List(list)) = serializer.decode_value(data, limits) else {
        return;
    };
    assert_eq!(spans.len(), list.len(), "{serializer}: element count");
    for (span, value) in spans.iter().zip(&list) {
        let element = serializer
            .decode_value(&data[span.clone()], limits)
            .unwrap_or_else(|e| panic!("{serializer}: a skimmed element: {e}"));
        // Compared encoded: a NaN is not equal to itself.
        assert_eq!(
            serializer.encode_value(&element).ok(),
            serializer.encode_value(value).ok(),
            "{serializer}: element"
        );
    }
}
