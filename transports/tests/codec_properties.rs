//! Properties of the sans-IO RawSocket codec: frames survive any split of the byte stream,
//! and arbitrary bytes never panic the decoder nor make it hold more than its limit.

use proptest::prelude::*;

use nexus_transports::rawsocket::{
    Frame, FrameDecoder, FrameHeader, FrameType, HandshakeReply, HandshakeRequest, HEADER_LEN,
};

fn frame_type() -> impl Strategy<Value = FrameType> {
    prop_oneof![
        Just(FrameType::Message),
        Just(FrameType::Ping),
        Just(FrameType::Pong)
    ]
}

proptest! {
    #[test]
    fn frames_survive_any_split(
        frames in prop::collection::vec(
            (frame_type(), prop::collection::vec(any::<u8>(), 0..600)),
            1..8,
        ),
        cuts in prop::collection::vec(1usize..700, 0..20),
    ) {
        let mut wire = Vec::new();
        for (frame_type, payload) in &frames {
            wire.extend_from_slice(&FrameHeader::new(*frame_type, payload.len()).unwrap().encode());
            wire.extend_from_slice(payload);
        }
        let mut decoder = FrameDecoder::new(600);
        let mut decoded = Vec::new();
        let mut rest = &wire[..];
        let mut cuts = cuts.into_iter().cycle();
        while !rest.is_empty() {
            let piece = cuts.next().unwrap_or(rest.len()).min(rest.len());
            let mut chunk = &rest[..piece];
            while !chunk.is_empty() {
                let (used, frame) = decoder.decode(chunk).unwrap();
                prop_assert!(used > 0);
                chunk = &chunk[used..];
                decoded.extend(frame);
            }
            rest = &rest[piece..];
        }
        prop_assert!(decoder.is_idle());
        let expected: Vec<Frame> = frames
            .into_iter()
            .map(|(frame_type, payload)| Frame { frame_type, payload: payload.into() })
            .collect();
        prop_assert_eq!(decoded, expected);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048), limit in 0usize..1024) {
        let mut decoder = FrameDecoder::new(limit);
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            match decoder.decode(rest) {
                Ok((used, frame)) => {
                    prop_assert!(used > 0 && used <= rest.len());
                    if let Some(frame) = frame {
                        prop_assert!(frame.payload.len() <= limit);
                    }
                    rest = &rest[used..];
                }
                Err(_) => break,
            }
        }
    }

    #[test]
    fn headers_round_trip(frame_type in frame_type(), length in 0usize..=(1 << 24)) {
        let header = FrameHeader::new(frame_type, length).unwrap();
        let octets = header.encode();
        prop_assert_eq!(octets.len(), HEADER_LEN);
        prop_assert_eq!(FrameHeader::decode(octets).unwrap(), header);
    }

    #[test]
    fn handshake_parsers_never_panic(octets in any::<[u8; 4]>()) {
        if let Ok(request) = HandshakeRequest::parse(octets) {
            prop_assert_eq!(request.encode(), octets);
        }
        if let Ok(reply) = HandshakeReply::parse(octets) {
            prop_assert_eq!(reply.encode(), octets);
        }
    }
}
