//! The sans-IO RawSocket codec: the 4-octet opening handshake, its replies and the 4-octet
//! frame header that precedes every message, PING and PONG.
//!
//! Nothing here does I/O. The async transport ([`accept_rawsocket`](crate::accept_rawsocket),
//! [`connect_rawsocket`](crate::connect_rawsocket)) is built on these pieces, and they can
//! drive RawSocket over anything else that moves bytes.
//!
//! All integers are big-endian.
//!
//! ```
//! use nexus_core::Serializer;
//! use nexus_transports::rawsocket::{
//!     FrameDecoder, FrameHeader, FrameType, HandshakeReply, HandshakeRequest, MaxLength,
//! };
//!
//! // The client asks for JSON and can receive up to 16 MiB.
//! let request = HandshakeRequest::new(Serializer::Json, MaxLength::MAX);
//! assert_eq!(request.encode(), [0x7F, 0xF1, 0x00, 0x00]);
//!
//! // The router accepts and announces that it receives up to 1 MiB.
//! let reply = HandshakeReply::Accepted { serializer_id: 1, max_length: MaxLength::at_most(1 << 20) };
//! assert_eq!(reply.encode(), [0x7F, 0xB1, 0x00, 0x00]);
//!
//! // A 300-byte message is preceded by its header.
//! let header = FrameHeader::new(FrameType::Message, 300).unwrap();
//! assert_eq!(header.encode(), [0x00, 0x00, 0x01, 0x2C]);
//!
//! // The decoder takes bytes in pieces of any size.
//! let mut decoder = FrameDecoder::new(1 << 20);
//! let mut wire = header.encode().to_vec();
//! wire.extend_from_slice(&[b'x'; 300]);
//! let (used, frame) = decoder.decode(&wire[..100]).unwrap();
//! assert_eq!((used, frame), (100, None));
//! let (used, frame) = decoder.decode(&wire[100..]).unwrap();
//! assert_eq!(used, 204);
//! assert_eq!(frame.unwrap().payload.len(), 300);
//! ```

use std::fmt;

use bytes::{Bytes, BytesMut};
use nexus_core::Serializer;

/// The first octet of every handshake request and reply. No HTTP request can start with it,
/// which lets RawSocket share a port with WebSocket.
pub const MAGIC: u8 = 0x7F;

/// The length of the handshake request and of its reply.
pub const HANDSHAKE_LEN: usize = 4;

/// The length of a frame header.
pub const HEADER_LEN: usize = 4;

/// The largest payload a frame can carry: 2^24 octets (16 MiB), announced with `L = 15`
/// and encoded with the X bit.
pub const MAX_FRAME_PAYLOAD: usize = 1 << 24;

/// The largest message a peer will receive, as announced in the handshake: `2^(9 + L)`
/// octets for `L` in 0..=15, that is 512 bytes to 16 MiB.
///
/// ```
/// use nexus_transports::rawsocket::MaxLength;
/// assert_eq!(MaxLength::MIN.bytes(), 512);
/// assert_eq!(MaxLength::MAX.bytes(), 16 * 1024 * 1024);
/// assert_eq!(MaxLength::at_most(1_000_000).bytes(), 524_288);
/// assert_eq!(MaxLength::at_most(100).bytes(), 512);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MaxLength(u8);

impl MaxLength {
    /// `L = 0`: 512 octets.
    pub const MIN: MaxLength = MaxLength(0);
    /// `L = 15`: 16 MiB (2^24 octets).
    pub const MAX: MaxLength = MaxLength(15);

    /// The length for exponent `L`, if `L` fits in 4 bits.
    pub fn from_exponent(exponent: u8) -> Option<MaxLength> {
        (exponent <= 15).then_some(MaxLength(exponent))
    }

    /// The largest announceable length that is at most `bytes`, but never below 512 octets
    /// (the smallest length the handshake can express).
    pub fn at_most(bytes: usize) -> MaxLength {
        (0..=15u8)
            .rev()
            .map(MaxLength)
            .find(|length| length.bytes() <= bytes)
            .unwrap_or(MaxLength::MIN)
    }

    /// The exponent `L` sent on the wire.
    pub fn exponent(self) -> u8 {
        self.0
    }

    /// The length in octets: `2^(9 + L)`.
    pub fn bytes(self) -> usize {
        1 << (9 + u32::from(self.0))
    }
}

impl fmt::Display for MaxLength {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bytes (L={})", self.bytes(), self.0)
    }
}

/// Why a router refuses a RawSocket connection (the `E` of an error reply).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum RawSocketError {
    /// 1: the router does not speak the requested serializer.
    #[error("the router does not support the requested serializer (RawSocket error 1)")]
    SerializerUnsupported,
    /// 2: the announced maximum message length is not acceptable to the router.
    #[error("the router does not accept the announced maximum message length (RawSocket error 2)")]
    MaxLengthUnacceptable,
    /// 3: the handshake used reserved bits.
    #[error("the handshake used reserved bits (RawSocket error 3)")]
    ReservedBitsUsed,
    /// 4: the router has reached its maximum number of connections.
    #[error(
        "the router has reached its maximum connection count; retry later (RawSocket error 4)"
    )]
    MaxConnections,
}

impl RawSocketError {
    /// The error code `E` (1 to 4).
    pub fn code(self) -> u8 {
        match self {
            RawSocketError::SerializerUnsupported => 1,
            RawSocketError::MaxLengthUnacceptable => 2,
            RawSocketError::ReservedBitsUsed => 3,
            RawSocketError::MaxConnections => 4,
        }
    }

    /// The error for code `E`; `None` for 0 (illegal) and 5 to 15 (reserved).
    pub fn from_code(code: u8) -> Option<RawSocketError> {
        match code {
            1 => Some(RawSocketError::SerializerUnsupported),
            2 => Some(RawSocketError::MaxLengthUnacceptable),
            3 => Some(RawSocketError::ReservedBitsUsed),
            4 => Some(RawSocketError::MaxConnections),
            _ => None,
        }
    }
}

/// Why handshake octets could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// The first octet is not 0x7F: the peer does not speak RawSocket.
    #[error(
        "not a RawSocket handshake: the first octet is {0:#04x}, expected 0x7f \
         (is the peer speaking WebSocket/HTTP or TLS to a plain RawSocket endpoint?)"
    )]
    NotRawSocket(u8),
    /// The reserved third and fourth octets are not zero.
    #[error("the reserved handshake octets are {0:#04x} {1:#04x}; both must be 0x00")]
    ReservedBits(u8, u8),
    /// An error reply carries the illegal code 0 or a reserved code (5 to 15).
    #[error("the RawSocket error reply carries code {0}, which is illegal or reserved (known codes are 1 to 4)")]
    UnknownErrorCode(u8),
}

/// The handshake a client sends: the serializer it wants and the largest message it will
/// receive.
///
/// The serializer is kept as its raw number so that a router can answer
/// [`RawSocketError::SerializerUnsupported`] for numbers it does not know (0, UBJSON 4,
/// FlatBuffers 5, reserved 6 to 15).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandshakeRequest {
    /// The serializer number `S` (1 JSON, 2 MessagePack, 3 CBOR, 4 UBJSON, 5 FlatBuffers).
    pub serializer_id: u8,
    /// The largest message the client will receive.
    pub max_length: MaxLength,
}

impl HandshakeRequest {
    /// A request for `serializer`.
    pub fn new(serializer: Serializer, max_length: MaxLength) -> HandshakeRequest {
        HandshakeRequest {
            serializer_id: serializer.rawsocket_id(),
            max_length,
        }
    }

    /// The requested serializer, if nexus implements it.
    pub fn serializer(&self) -> Option<Serializer> {
        Serializer::from_rawsocket_id(self.serializer_id)
    }

    /// The four octets `7F (L<<4 | S) 00 00`.
    pub fn encode(&self) -> [u8; HANDSHAKE_LEN] {
        [
            MAGIC,
            (self.max_length.0 << 4) | (self.serializer_id & 0x0F),
            0,
            0,
        ]
    }

    /// Parses the four octets a client sent.
    ///
    /// ```
    /// use nexus_core::Serializer;
    /// use nexus_transports::rawsocket::{HandshakeError, HandshakeRequest};
    /// let request = HandshakeRequest::parse([0x7F, 0x02, 0x00, 0x00]).unwrap();
    /// assert_eq!(request.serializer(), Some(Serializer::MsgPack));
    /// assert_eq!(request.max_length.bytes(), 512);
    /// assert_eq!(HandshakeRequest::parse(*b"GET "), Err(HandshakeError::NotRawSocket(b'G')));
    /// ```
    pub fn parse(octets: [u8; HANDSHAKE_LEN]) -> Result<HandshakeRequest, HandshakeError> {
        if octets[0] != MAGIC {
            return Err(HandshakeError::NotRawSocket(octets[0]));
        }
        if octets[2] != 0 || octets[3] != 0 {
            return Err(HandshakeError::ReservedBits(octets[2], octets[3]));
        }
        Ok(HandshakeRequest {
            serializer_id: octets[1] & 0x0F,
            max_length: MaxLength(octets[1] >> 4),
        })
    }
}

/// The router's answer to a [`HandshakeRequest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeReply {
    /// The connection is accepted.
    Accepted {
        /// The serializer number; must echo the client's.
        serializer_id: u8,
        /// The largest message the router will receive.
        max_length: MaxLength,
    },
    /// The connection is refused.
    Refused(RawSocketError),
}

impl HandshakeReply {
    /// The four octets: `7F (L<<4 | S) 00 00` or `7F (E<<4) 00 00`.
    ///
    /// An `Accepted` reply whose serializer number is 0 would read as an error reply; a
    /// router never sends one, since it refuses serializer 0.
    pub fn encode(&self) -> [u8; HANDSHAKE_LEN] {
        let second = match *self {
            HandshakeReply::Accepted {
                serializer_id,
                max_length,
            } => (max_length.0 << 4) | (serializer_id & 0x0F),
            HandshakeReply::Refused(error) => error.code() << 4,
        };
        [MAGIC, second, 0, 0]
    }

    /// Parses the four octets a router sent.
    ///
    /// ```
    /// use nexus_transports::rawsocket::{HandshakeReply, RawSocketError};
    /// assert_eq!(
    ///     HandshakeReply::parse([0x7F, 0x40, 0x00, 0x00]).unwrap(),
    ///     HandshakeReply::Refused(RawSocketError::MaxConnections)
    /// );
    /// ```
    pub fn parse(octets: [u8; HANDSHAKE_LEN]) -> Result<HandshakeReply, HandshakeError> {
        if octets[0] != MAGIC {
            return Err(HandshakeError::NotRawSocket(octets[0]));
        }
        if octets[2] != 0 || octets[3] != 0 {
            return Err(HandshakeError::ReservedBits(octets[2], octets[3]));
        }
        let (high, low) = (octets[1] >> 4, octets[1] & 0x0F);
        if low == 0 {
            RawSocketError::from_code(high)
                .map(HandshakeReply::Refused)
                .ok_or(HandshakeError::UnknownErrorCode(high))
        } else {
            Ok(HandshakeReply::Accepted {
                serializer_id: low,
                max_length: MaxLength(high),
            })
        }
    }
}

/// The kind of a RawSocket frame (`TTT` in the header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameType {
    /// 0: a serialized WAMP message.
    Message,
    /// 1: a PING; the peer must answer with a PONG echoing the payload.
    Ping,
    /// 2: a PONG.
    Pong,
}

impl FrameType {
    /// The 3-bit code.
    pub fn code(self) -> u8 {
        match self {
            FrameType::Message => 0,
            FrameType::Ping => 1,
            FrameType::Pong => 2,
        }
    }
}

/// Why a frame header or frame is not acceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The reserved high nibble of the first header octet is not zero.
    #[error("RawSocket frame header uses reserved bits (first octet {0:#04x}; the high nibble must be 0)")]
    ReservedBits(u8),
    /// The frame type is one of the reserved types 3 to 7.
    #[error("RawSocket frame type {0} is reserved (known types: 0 message, 1 PING, 2 PONG)")]
    ReservedType(u8),
    /// The X bit is set together with a non-zero 24-bit length, which would mean more than
    /// 2^24 octets.
    #[error("RawSocket frame header sets the X length bit with a non-zero length ({0}); X is only for exactly 2^24 octets")]
    InvalidLength(u32),
    /// The payload is longer than the limit (the negotiated maximum, or 2^24).
    #[error("RawSocket frame of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The payload length.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The decoder already failed; the connection must be dropped.
    #[error("the RawSocket frame decoder already failed; drop the connection")]
    Failed,
}

/// A frame header: the frame type and the payload length (0 to 2^24).
///
/// ```
/// use nexus_transports::rawsocket::{FrameHeader, FrameType};
/// let ping = FrameHeader::new(FrameType::Ping, 8).unwrap();
/// assert_eq!(ping.encode(), [0x01, 0x00, 0x00, 0x08]);
/// let biggest = FrameHeader::new(FrameType::Message, 1 << 24).unwrap();
/// assert_eq!(biggest.encode(), [0x08, 0x00, 0x00, 0x00]);
/// assert_eq!(FrameHeader::decode([0x08, 0, 0, 0]).unwrap(), biggest);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    frame_type: FrameType,
    length: usize,
}

impl FrameHeader {
    /// A header; fails when `length` exceeds 2^24.
    pub fn new(frame_type: FrameType, length: usize) -> Result<FrameHeader, FrameError> {
        if length > MAX_FRAME_PAYLOAD {
            return Err(FrameError::TooLarge {
                size: length,
                limit: MAX_FRAME_PAYLOAD,
            });
        }
        Ok(FrameHeader { frame_type, length })
    }

    /// The frame type.
    pub fn frame_type(&self) -> FrameType {
        self.frame_type
    }

    /// The payload length in octets.
    pub fn length(&self) -> usize {
        self.length
    }

    /// The four octets `RRRR XTTT` + 24-bit length; a payload of exactly 2^24 octets sets X
    /// and leaves the length 0.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let (x, low) = if self.length == MAX_FRAME_PAYLOAD {
            (0x08, 0)
        } else {
            (0, self.length as u32)
        };
        let [_, b1, b2, b3] = low.to_be_bytes();
        [x | self.frame_type.code(), b1, b2, b3]
    }

    /// Parses four header octets.
    pub fn decode(octets: [u8; HEADER_LEN]) -> Result<FrameHeader, FrameError> {
        let first = octets[0];
        if first & 0xF0 != 0 {
            return Err(FrameError::ReservedBits(first));
        }
        let frame_type = match first & 0x07 {
            0 => FrameType::Message,
            1 => FrameType::Ping,
            2 => FrameType::Pong,
            other => return Err(FrameError::ReservedType(other)),
        };
        let low = u32::from_be_bytes([0, octets[1], octets[2], octets[3]]);
        let length = if first & 0x08 != 0 {
            if low != 0 {
                return Err(FrameError::InvalidLength(low));
            }
            MAX_FRAME_PAYLOAD
        } else {
            low as usize
        };
        Ok(FrameHeader { frame_type, length })
    }
}

/// A complete frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The frame type.
    pub frame_type: FrameType,
    /// The payload (a serialized message, or the PING/PONG bytes).
    pub payload: Bytes,
}

/// The payload buffer grows with the bytes that arrive rather than with the length a header
/// claims, so a peer announcing 16 MiB and sending nothing costs nothing.
const INITIAL_PAYLOAD_CAPACITY: usize = 64 * 1024;

#[derive(Debug)]
enum DecoderState {
    Header {
        octets: [u8; HEADER_LEN],
        filled: usize,
    },
    Payload {
        frame_type: FrameType,
        length: usize,
        payload: BytesMut,
    },
    Failed,
}

/// Splits a byte stream into frames, fed incrementally.
///
/// It consumes only the bytes of the current frame, so it never holds more than one header
/// and one payload of at most `limit` octets. Every frame type counts against the limit.
/// After an error the decoder answers [`FrameError::Failed`]: the connection must be failed.
#[derive(Debug)]
pub struct FrameDecoder {
    limit: usize,
    state: DecoderState,
}

impl FrameDecoder {
    /// A decoder that refuses payloads longer than `limit` octets (capped at 2^24).
    pub fn new(limit: usize) -> FrameDecoder {
        FrameDecoder {
            limit: limit.min(MAX_FRAME_PAYLOAD),
            state: DecoderState::Header {
                octets: [0; HEADER_LEN],
                filled: 0,
            },
        }
    }

    /// The largest payload accepted.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Whether the decoder sits between frames (no partial header or payload), so an end of
    /// stream here is a clean close.
    pub fn is_idle(&self) -> bool {
        matches!(self.state, DecoderState::Header { filled: 0, .. })
    }

    /// Feeds bytes; returns how many of them were used and the frame they completed, if any.
    ///
    /// At most one frame is returned per call; call again with the unused rest. The count is
    /// positive whenever `input` is not empty and the decoder has not failed.
    pub fn decode(&mut self, input: &[u8]) -> Result<(usize, Option<Frame>), FrameError> {
        let mut used = 0;
        loop {
            match &mut self.state {
                DecoderState::Failed => return Err(FrameError::Failed),
                DecoderState::Header { octets, filled } => {
                    let take = (HEADER_LEN - *filled).min(input.len() - used);
                    octets[*filled..*filled + take].copy_from_slice(&input[used..used + take]);
                    *filled += take;
                    used += take;
                    if *filled < HEADER_LEN {
                        return Ok((used, None));
                    }
                    let header = match FrameHeader::decode(*octets) {
                        Ok(header) => header,
                        Err(error) => return Err(self.fail(error)),
                    };
                    if header.length > self.limit {
                        return Err(self.fail(FrameError::TooLarge {
                            size: header.length,
                            limit: self.limit,
                        }));
                    }
                    if header.length == 0 {
                        self.reset();
                        return Ok((
                            used,
                            Some(Frame {
                                frame_type: header.frame_type,
                                payload: Bytes::new(),
                            }),
                        ));
                    }
                    self.state = DecoderState::Payload {
                        frame_type: header.frame_type,
                        length: header.length,
                        payload: BytesMut::with_capacity(
                            header.length.min(INITIAL_PAYLOAD_CAPACITY),
                        ),
                    };
                }
                DecoderState::Payload {
                    frame_type,
                    length,
                    payload,
                } => {
                    let take = (*length - payload.len()).min(input.len() - used);
                    payload.extend_from_slice(&input[used..used + take]);
                    used += take;
                    if payload.len() < *length {
                        return Ok((used, None));
                    }
                    let frame = Frame {
                        frame_type: *frame_type,
                        payload: std::mem::take(payload).freeze(),
                    };
                    self.reset();
                    return Ok((used, Some(frame)));
                }
            }
        }
    }

    fn reset(&mut self) {
        self.state = DecoderState::Header {
            octets: [0; HEADER_LEN],
            filled: 0,
        };
    }

    fn fail(&mut self, error: FrameError) -> FrameError {
        self.state = DecoderState::Failed;
        error
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_request_vectors() {
        // The examples of the RawSocket spec.
        assert_eq!(
            HandshakeRequest::new(Serializer::Json, MaxLength::at_most(16 << 20)).encode(),
            [0x7F, 0xF1, 0x00, 0x00]
        );
        assert_eq!(
            HandshakeRequest::new(Serializer::MsgPack, MaxLength::at_most(512)).encode(),
            [0x7F, 0x02, 0x00, 0x00]
        );
        assert_eq!(
            HandshakeRequest::new(Serializer::Cbor, MaxLength::at_most(1 << 20)).encode(),
            [0x7F, 0xB3, 0x00, 0x00]
        );
        let parsed = HandshakeRequest::parse([0x7F, 0xB3, 0x00, 0x00]).unwrap();
        assert_eq!(parsed.serializer(), Some(Serializer::Cbor));
        assert_eq!(parsed.max_length.exponent(), 11);
        assert_eq!(parsed.max_length.bytes(), 1 << 20);
    }

    #[test]
    fn handshake_request_round_trips_every_octet() {
        for second in 0..=255u8 {
            let octets = [0x7F, second, 0, 0];
            let request = HandshakeRequest::parse(octets).unwrap();
            assert_eq!(request.encode(), octets);
        }
    }

    #[test]
    fn handshake_request_errors() {
        assert_eq!(
            HandshakeRequest::parse([0x16, 0x03, 0x01, 0x00]),
            Err(HandshakeError::NotRawSocket(0x16))
        );
        assert_eq!(
            HandshakeRequest::parse([0x7F, 0xF1, 0x00, 0x01]),
            Err(HandshakeError::ReservedBits(0x00, 0x01))
        );
        assert_eq!(
            HandshakeRequest::parse([0x7F, 0xF1, 0x80, 0x00]),
            Err(HandshakeError::ReservedBits(0x80, 0x00))
        );
        // Unknown serializers parse: the router answers them with error 1.
        for id in [0u8, 4, 5, 6, 15] {
            let request = HandshakeRequest::parse([0x7F, 0xF0 | id, 0, 0]).unwrap();
            assert_eq!(request.serializer_id, id);
            assert_eq!(request.serializer(), None);
        }
    }

    #[test]
    fn handshake_reply_vectors() {
        let cases = [
            (
                RawSocketError::SerializerUnsupported,
                [0x7F, 0x10, 0x00, 0x00],
            ),
            (
                RawSocketError::MaxLengthUnacceptable,
                [0x7F, 0x20, 0x00, 0x00],
            ),
            (RawSocketError::ReservedBitsUsed, [0x7F, 0x30, 0x00, 0x00]),
            (RawSocketError::MaxConnections, [0x7F, 0x40, 0x00, 0x00]),
        ];
        for (error, octets) in cases {
            assert_eq!(HandshakeReply::Refused(error).encode(), octets);
            assert_eq!(
                HandshakeReply::parse(octets).unwrap(),
                HandshakeReply::Refused(error)
            );
            assert_eq!(RawSocketError::from_code(error.code()), Some(error));
        }
        let accepted = HandshakeReply::Accepted {
            serializer_id: 1,
            max_length: MaxLength::MAX,
        };
        assert_eq!(accepted.encode(), [0x7F, 0xF1, 0x00, 0x00]);
        assert_eq!(
            HandshakeReply::parse([0x7F, 0xF1, 0x00, 0x00]).unwrap(),
            accepted
        );
    }

    #[test]
    fn handshake_reply_errors() {
        assert_eq!(
            HandshakeReply::parse([0x7F, 0x00, 0x00, 0x00]),
            Err(HandshakeError::UnknownErrorCode(0))
        );
        for code in 5..=15u8 {
            assert_eq!(
                HandshakeReply::parse([0x7F, code << 4, 0x00, 0x00]),
                Err(HandshakeError::UnknownErrorCode(code))
            );
        }
        assert_eq!(
            HandshakeReply::parse(*b"HTTP"),
            Err(HandshakeError::NotRawSocket(b'H'))
        );
        assert_eq!(
            HandshakeReply::parse([0x7F, 0xF1, 0x01, 0x00]),
            Err(HandshakeError::ReservedBits(0x01, 0x00))
        );
    }

    #[test]
    fn max_length_rounding() {
        assert_eq!(MaxLength::at_most(0), MaxLength::MIN);
        assert_eq!(MaxLength::at_most(511), MaxLength::MIN);
        assert_eq!(MaxLength::at_most(512), MaxLength::MIN);
        assert_eq!(MaxLength::at_most(1023).bytes(), 512);
        assert_eq!(MaxLength::at_most(1024).bytes(), 1024);
        assert_eq!(MaxLength::at_most((16 << 20) - 1).exponent(), 14);
        assert_eq!(MaxLength::at_most(16 << 20), MaxLength::MAX);
        assert_eq!(MaxLength::at_most(usize::MAX), MaxLength::MAX);
        assert_eq!(MaxLength::from_exponent(16), None);
        for l in 0..=15 {
            assert_eq!(MaxLength::from_exponent(l).unwrap().bytes(), 1 << (9 + l));
        }
    }

    #[test]
    fn frame_header_vectors() {
        let cases: [(FrameType, usize, [u8; 4]); 6] = [
            (FrameType::Message, 300, [0x00, 0x00, 0x01, 0x2C]),
            (FrameType::Ping, 8, [0x01, 0x00, 0x00, 0x08]),
            (FrameType::Pong, 8, [0x02, 0x00, 0x00, 0x08]),
            (FrameType::Message, 1 << 24, [0x08, 0x00, 0x00, 0x00]),
            (FrameType::Message, (1 << 24) - 1, [0x00, 0xFF, 0xFF, 0xFF]),
            (FrameType::Pong, 0, [0x02, 0x00, 0x00, 0x00]),
        ];
        for (frame_type, length, octets) in cases {
            let header = FrameHeader::new(frame_type, length).unwrap();
            assert_eq!(header.encode(), octets, "{frame_type:?} {length}");
            assert_eq!(FrameHeader::decode(octets).unwrap(), header);
        }
        assert_eq!(
            FrameHeader::new(FrameType::Message, (1 << 24) + 1),
            Err(FrameError::TooLarge {
                size: (1 << 24) + 1,
                limit: 1 << 24
            })
        );
    }

    #[test]
    fn frame_header_errors() {
        for reserved in [0x10u8, 0x20, 0x40, 0x80, 0xF0] {
            assert_eq!(
                FrameHeader::decode([reserved, 0, 0, 1]),
                Err(FrameError::ReservedBits(reserved))
            );
        }
        for frame_type in 3..=7u8 {
            assert_eq!(
                FrameHeader::decode([frame_type, 0, 0, 1]),
                Err(FrameError::ReservedType(frame_type))
            );
        }
        assert_eq!(
            FrameHeader::decode([0x08, 0, 0, 1]),
            Err(FrameError::InvalidLength(1))
        );
        assert_eq!(
            FrameHeader::decode([0x08, 0xFF, 0xFF, 0xFF]),
            Err(FrameError::InvalidLength(0xFF_FFFF))
        );
    }

    fn frame(frame_type: FrameType, payload: &[u8]) -> Vec<u8> {
        let mut bytes = FrameHeader::new(frame_type, payload.len())
            .unwrap()
            .encode()
            .to_vec();
        bytes.extend_from_slice(payload);
        bytes
    }

    #[test]
    fn decoder_byte_by_byte() {
        let mut wire = frame(FrameType::Message, b"[1,\"realm1\",{}]");
        wire.extend(frame(FrameType::Ping, b"12345678"));
        wire.extend(frame(FrameType::Pong, b""));
        wire.extend(frame(FrameType::Message, &[7; 1000]));
        let mut decoder = FrameDecoder::new(1024);
        let mut frames = Vec::new();
        for byte in &wire {
            let (used, frame) = decoder.decode(std::slice::from_ref(byte)).unwrap();
            assert_eq!(used, 1);
            frames.extend(frame);
        }
        assert!(decoder.is_idle());
        assert_eq!(
            frames,
            vec![
                Frame {
                    frame_type: FrameType::Message,
                    payload: Bytes::from_static(b"[1,\"realm1\",{}]")
                },
                Frame {
                    frame_type: FrameType::Ping,
                    payload: Bytes::from_static(b"12345678")
                },
                Frame {
                    frame_type: FrameType::Pong,
                    payload: Bytes::new()
                },
                Frame {
                    frame_type: FrameType::Message,
                    payload: Bytes::from(vec![7; 1000])
                },
            ]
        );
    }

    #[test]
    fn decoder_whole_buffer_one_frame_per_call() {
        let mut wire = frame(FrameType::Message, b"one");
        wire.extend(frame(FrameType::Message, b"two"));
        let mut decoder = FrameDecoder::new(16);
        let (used, first) = decoder.decode(&wire).unwrap();
        assert_eq!(used, 7);
        assert_eq!(&first.unwrap().payload[..], b"one");
        assert!(decoder.is_idle());
        let (used, second) = decoder.decode(&wire[7..]).unwrap();
        assert_eq!(used, 7);
        assert_eq!(&second.unwrap().payload[..], b"two");
        assert_eq!(decoder.decode(&[]).unwrap(), (0, None));
    }

    #[test]
    fn decoder_partial_state_is_not_idle() {
        let mut decoder = FrameDecoder::new(16);
        decoder.decode(&[0x00, 0x00]).unwrap();
        assert!(!decoder.is_idle());
        decoder.decode(&[0x00, 0x02, b'a']).unwrap();
        assert!(!decoder.is_idle());
        let (_, frame) = decoder.decode(b"b").unwrap();
        assert_eq!(&frame.unwrap().payload[..], b"ab");
        assert!(decoder.is_idle());
    }

    #[test]
    fn decoder_enforces_the_limit_before_buffering() {
        let mut decoder = FrameDecoder::new(512);
        assert!(decoder
            .decode(&frame(FrameType::Message, &[0; 512]))
            .is_ok());
        // The header alone is refused: nothing of the payload is buffered.
        assert_eq!(
            decoder.decode(&[0x00, 0x00, 0x02, 0x01]),
            Err(FrameError::TooLarge {
                size: 513,
                limit: 512
            })
        );
        assert_eq!(decoder.decode(&[0]), Err(FrameError::Failed));
        // PINGs count too.
        let mut decoder = FrameDecoder::new(4);
        assert!(matches!(
            decoder.decode(&frame(FrameType::Ping, b"12345")),
            Err(FrameError::TooLarge { size: 5, limit: 4 })
        ));
        // X bit: 2^24 is over any smaller limit.
        let mut decoder = FrameDecoder::new(1 << 20);
        assert!(matches!(
            decoder.decode(&[0x08, 0, 0, 0]),
            Err(FrameError::TooLarge {
                size: 16_777_216,
                ..
            })
        ));
    }

    #[test]
    fn decoder_fails_on_bad_headers() {
        let mut decoder = FrameDecoder::new(1024);
        assert_eq!(
            decoder.decode(&[0x03, 0, 0, 1]),
            Err(FrameError::ReservedType(3))
        );
        assert_eq!(decoder.decode(&[0]), Err(FrameError::Failed));
        let mut decoder = FrameDecoder::new(1024);
        assert_eq!(
            decoder.decode(&[0x40, 0, 0, 1]),
            Err(FrameError::ReservedBits(0x40))
        );
    }

    #[test]
    fn decoder_accepts_exactly_two_to_the_24() {
        let mut decoder = FrameDecoder::new(usize::MAX);
        assert_eq!(decoder.limit(), 1 << 24);
        let (used, frame) = decoder.decode(&[0x08, 0, 0, 0]).unwrap();
        assert_eq!((used, frame), (4, None));
        let chunk = vec![0xAB; 1 << 20];
        let mut last = None;
        for _ in 0..16 {
            let (used, frame) = decoder.decode(&chunk).unwrap();
            assert_eq!(used, chunk.len());
            last = frame;
        }
        let frame = last.expect("the 16th chunk completes the frame");
        assert_eq!(frame.payload.len(), 1 << 24);
        assert!(decoder.is_idle());
    }
}
