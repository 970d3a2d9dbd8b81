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
    lazy_agrees(serializer, data, &limits);
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

/// The router's decoding (`decode_lazy`, payload kept encoded) gives what the decoder gives,
/// errors included (syntax errors may word their position differently), and a message it
/// kept encodes for every serializer to what the decoded one encodes to. (Compared as
/// encodings, not values: a NaN is not equal to itself.)
pub fn lazy_agrees(serializer: Serializer, data: &[u8], limits: &Limits) {
    use nexus_core::DecodeError;
    let frame = bytes::Bytes::copy_from_slice(data);
    let (lazy, full) = match (
        serializer.decode_lazy(&frame, limits),
        serializer.decode(data, limits),
    ) {
        (Ok(lazy), Ok(full)) => (lazy, full),
        (Err(DecodeError::Syntax { .. }), Err(DecodeError::Syntax { .. })) => return,
        (Err(a), Err(b)) => {
            assert_eq!(
                a, b,
                "{serializer}: decode_lazy and decode fail differently"
            );
            return;
        }
        (a, b) => panic!("{serializer}: decode_lazy gives {a:?}, decode {b:?}"),
    };
    let roomy = Limits {
        max_message_size: usize::MAX,
        ..*limits
    };
    // Our encoding of what `other` decodes from `bytes`: the same for equal values.
    let canonical = |other: Serializer, bytes: &[u8]| {
        let m = other.decode(bytes, &roomy).expect("our encoding decodes");
        other.encode(&m).expect("a decoded message encodes")
    };
    for other in Serializer::ALL {
        match (other.encode(&lazy), other.encode(&full)) {
            // The same serializer copies the payload's bytes as they came, which may be
            // another encoding of the same values.
            (Ok(a), Ok(b)) if other == serializer => assert_eq!(
                canonical(other, &a),
                canonical(other, &b),
                "{serializer}: the kept payload encodes differently"
            ),
            // Another converts the same values the same way. (Not decoded again: a text
            // starting with U+0000 reads back as JSON binary, kept or not.)
            (Ok(a), Ok(b)) => assert_eq!(
                a, b,
                "{serializer} to {other}: the kept payload converts differently"
            ),
            (a, b) => assert_eq!(a.is_ok(), b.is_ok(), "{serializer} to {other}"),
        }
    }
}
