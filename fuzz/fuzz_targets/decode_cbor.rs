#![no_main]
//! Arbitrary bytes through the cbor decoder; what decodes must re-encode stably.

use libfuzzer_sys::fuzz_target;
use nexus_core::Serializer;

fuzz_target!(|data: &[u8]| {
    nexus_fuzz::decode_and_reencode(Serializer::Cbor, data);
});
