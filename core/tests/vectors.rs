//! The official WAMP test vectors (vendored in `tests/testsuite/`, see its SOURCE.txt).
//!
//! For every serialization sample:
//! - every JSON, MessagePack and CBOR variant decodes, and all decode to the same message;
//! - that message equals the one built from the sample's `expected_attributes`;
//! - our encoding decodes back to the same message, and equals at least one variant byte for
//!   byte, except in the cases listed in [`inexact`] (with the reason).
//!
//! Every validation sample (`wmsg`) is read as a message: those with `expected_error` must be
//! rejected with an error naming the offending key; the others must be accepted.
//!
//! The multi-session sample's messages are built from their named fields and round-tripped;
//! the routing behaviour it describes belongs to the router's scenario tests.
//!
//! UBJSON and FlatBuffers variants are counted but not decoded: nexus does not implement
//! those serializers (the spec names them only as RawSocket serializer IDs).

use std::path::{Path, PathBuf};

use nexus_core::message::Message;
use nexus_core::{Dict, Limits, Serializer, Value};
use serde_json::Value as Json;

fn suite_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testsuite")
}

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            json_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

fn load(path: &Path) -> Json {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// A JSON document as our [`Value`], through our own JSON decoder.
fn to_value(j: &Json) -> Value {
    Serializer::Json
        .decode_value(&serde_json::to_vec(j).unwrap(), &Limits::default())
        .unwrap()
}

fn hex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap_or_else(|e| panic!("bad hex {s:?}: {e}"))
}

fn serializer_of(name: &str) -> Option<Serializer> {
    match name {
        "json" => Some(Serializer::Json),
        "msgpack" => Some(Serializer::MsgPack),
        "cbor" => Some(Serializer::Cbor),
        "ubjson" | "flatbuffers" => None,
        other => panic!("unknown serializer {other:?} in the test vectors"),
    }
}

/// Builds the wire list of a message from named fields (the vectors' `expected_attributes`
/// and the multi-session `message` objects).
fn wire_from_fields(code: u64, f: &serde_json::Map<String, Json>) -> Value {
    let get = |k: &str| f.get(k).cloned().unwrap_or(Json::Null);
    let first = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| f.get(*k).cloned())
            .unwrap_or_else(|| panic!("none of {keys:?} in {f:?}"))
    };
    let empty = || Json::Object(Default::default());
    let or_empty = |k: &str| f.get(k).cloned().unwrap_or_else(empty);
    let mut wire: Vec<Json> = vec![code.into()];
    let mut tail = false;
    match code {
        1 => wire.extend([get("realm"), serde_json::json!({ "roles": get("roles") })]),
        2 => wire.extend([
            get("session_id"),
            serde_json::json!({ "roles": get("roles") }),
        ]),
        3 | 6 => wire.extend([or_empty("details"), get("reason")]),
        4 => wire.extend([get("method"), or_empty("extra")]),
        5 => wire.extend([get("signature"), or_empty("extra")]),
        8 => {
            wire.extend([
                get("request_type"),
                get("request_id"),
                or_empty("details"),
                get("error"),
            ]);
            tail = true;
        }
        16 => {
            wire.extend([get("request_id"), or_empty("options"), get("topic")]);
            tail = true;
        }
        17 => wire.extend([get("request_id"), get("publication_id")]),
        32 => wire.extend([get("request_id"), or_empty("options"), get("topic")]),
        33 | 34 => wire.extend([get("request_id"), get("subscription_id")]),
        35 | 67 => wire.push(get("request_id")),
        36 => {
            wire.extend([
                first(&["subscription", "subscription_id"]),
                first(&["publication", "publication_id"]),
                or_empty("details"),
            ]);
            tail = true;
        }
        48 => {
            wire.extend([get("request_id"), or_empty("options"), get("procedure")]);
            tail = true;
        }
        49 | 69 => wire.extend([get("request_id"), or_empty("options")]),
        50 => {
            wire.extend([get("request_id"), or_empty("details")]);
            tail = true;
        }
        64 => wire.extend([get("request_id"), or_empty("options"), get("procedure")]),
        65 | 66 => wire.extend([get("request_id"), get("registration_id")]),
        68 => {
            wire.extend([
                get("request_id"),
                get("registration_id"),
                or_empty("details"),
            ]);
            tail = true;
        }
        70 => {
            wire.extend([get("request_id"), or_empty("options")]);
            tail = true;
        }
        337 => wire.push(get("publication_id")),
        other => panic!("no field layout for message code {other}"),
    }
    let mut value = to_value(&Json::Array(wire));
    if tail {
        let Value::List(items) = &mut value else {
            unreachable!()
        };
        match (get("payload"), get("args"), get("kwargs")) {
            (Json::String(p), _, _) => items.push(Value::Bytes(hex(&p).into())),
            (_, args, Json::Object(kw)) if !kw.is_empty() => {
                let args = if args.is_null() {
                    Json::Array(vec![])
                } else {
                    args
                };
                items.push(to_value(&args));
                items.push(to_value(&Json::Object(kw)));
            }
            (_, Json::Array(a), _) => items.push(to_value(&Json::Array(a))),
            _ => {}
        }
    }
    value
}

/// The encodings allowed to differ from every variant, as `file sample serializer`, and only
/// in the order of dict keys (the test checks that they decode to the same value as a
/// variant).
///
/// None today. Typed options write their known keys in one fixed order (declaration order,
/// then unknown keys in arrival order), so a vector that ordered known keys differently would
/// land here. The vectors' orders are Autobahn's, and the structs declare keys in that order
/// (for example `forward_for` before the payload keys in EVENT.Details, after them in
/// PUBLISH.Options). HELLO's roles are declared subscriber first for the same reason.
const KEY_ORDER_ONLY: &[&str] = &[];

#[derive(Default, Debug)]
struct Tally {
    samples: usize,
    decoded_variants: usize,
    skipped_variants: usize,
    exact_matches: usize,
    inexact: Vec<String>,
    validation_accepted: usize,
    validation_rejected: usize,
    multisession_steps: usize,
}

#[test]
fn every_vector_sample() {
    let mut files = Vec::new();
    json_files(&suite_dir(), &mut files);
    let mut tally = Tally::default();
    for path in &files {
        let name = path
            .strip_prefix(suite_dir())
            .unwrap()
            .display()
            .to_string();
        if name == "SCHEMA.json" {
            continue;
        }
        let doc = load(path);
        if let Some(samples) = doc.get("samples") {
            let code = doc["wamp_message_code"].as_u64().unwrap();
            for (i, sample) in samples.as_array().unwrap().iter().enumerate() {
                let at = format!("{name} sample {i} ({})", sample["description"]);
                if sample.get("serializers").is_some() {
                    serialization_sample(&at, &name, code, sample, &mut tally);
                } else {
                    validation_sample(&at, sample, &mut tally);
                }
                tally.samples += 1;
            }
        } else if let Some(sequence) = doc.get("sequence") {
            multisession(&name, sequence, &mut tally);
        } else {
            panic!("{name}: neither samples nor sequence");
        }
    }
    println!("{tally:#?}");
    // The counts of the vendored suite (digest §9.3): 102 samples in 26 files, 35 of them
    // serialization samples with 129 JSON/MessagePack/CBOR variants, and 67 validation
    // samples of which 28 must be rejected.
    assert_eq!(tally.samples, 102);
    assert_eq!(tally.decoded_variants, 129);
    assert_eq!(tally.skipped_variants, 104);
    assert_eq!(tally.validation_rejected, 28);
    assert_eq!(tally.validation_accepted, 39);
    assert_eq!(tally.multisession_steps, 4);
    assert_eq!(
        tally.inexact, KEY_ORDER_ONLY,
        "encodings that differ in key order only"
    );
    assert_eq!(tally.exact_matches + tally.inexact.len(), 35 * 3);
}

/// The sample number in a location string.
fn at_index(at: &str) -> &str {
    at.split(" sample ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .unwrap_or("?")
}

fn serialization_sample(at: &str, file: &str, code: u64, sample: &Json, tally: &mut Tally) {
    let limits = Limits::default();
    let expected = Message::from_value(wire_from_fields(
        code,
        sample["expected_attributes"].as_object().unwrap(),
    ))
    .unwrap_or_else(|e| panic!("{at}: expected_attributes do not make a message: {e}"));
    assert_eq!(expected.code(), code, "{at}");
    for (ser_name, variants) in sample["serializers"].as_object().unwrap() {
        let variants = variants.as_array().unwrap();
        let Some(serializer) = serializer_of(ser_name) else {
            tally.skipped_variants += variants.len();
            continue;
        };
        let mut encodings = Vec::new();
        for variant in variants {
            let bytes = hex(variant["bytes_hex"].as_str().unwrap());
            if let Some(text) = variant.get("bytes").and_then(Json::as_str) {
                assert_eq!(
                    text.as_bytes(),
                    &bytes[..],
                    "{at}: bytes and bytes_hex disagree"
                );
            }
            let decoded = serializer
                .decode(&bytes, &limits)
                .unwrap_or_else(|e| panic!("{at}: {ser_name} variant does not decode: {e}"));
            assert_eq!(decoded, expected, "{at}: {ser_name} variant");
            tally.decoded_variants += 1;
            encodings.push(bytes);
        }
        let ours = serializer.encode(&expected).unwrap();
        assert_eq!(
            serializer.decode(&ours, &limits).unwrap(),
            expected,
            "{at}: our {ser_name} encoding does not decode back"
        );
        if encodings.iter().any(|e| e[..] == ours[..]) {
            tally.exact_matches += 1;
        } else if encodings.iter().any(|e| {
            serializer.decode_value(e, &limits).unwrap()
                == serializer.decode_value(&ours, &limits).unwrap()
        }) {
            tally
                .inexact
                .push(format!("{file} {} {ser_name}", at_index(at)));
        } else {
            panic!(
                "{at}: our {ser_name} encoding matches no variant\n ours: {}\n theirs: {:?}",
                hex::encode(&ours),
                encodings.iter().map(hex::encode).collect::<Vec<_>>()
            );
        }
    }
}

fn validation_sample(at: &str, sample: &Json, tally: &mut Tally) {
    let mut wire = to_value(&sample["wmsg"]);
    // The vectors write a transparent payload (Autobahn's `enc_algo` form) as hex text in
    // `wmsg`; on the wire it is binary.
    if let Value::List(items) = &mut wire {
        let options_at = match items[0].as_u64() {
            Some(16) => 2,
            Some(36) => 3,
            _ => usize::MAX,
        };
        let transparent = items
            .get(options_at)
            .and_then(Value::as_dict)
            .is_some_and(|o: &Dict| o.contains_key("enc_algo"));
        if transparent {
            if let Some(Value::String(s)) = items.last().cloned() {
                *items.last_mut().unwrap() = Value::Bytes(hex(&s).into());
            }
        }
    }
    let result = Message::from_value(wire.clone());
    match sample.get("expected_error") {
        Some(err) => {
            assert_eq!(err["type"], "protocol_violation", "{at}");
            let needle = err["contains"].as_str().unwrap();
            let e = result.expect_err(&format!("{at}: {wire} must be rejected"));
            assert!(
                e.to_string().contains(needle),
                "{at}: error {e:?} does not name {needle:?}"
            );
            tally.validation_rejected += 1;
        }
        None => {
            let m = result.unwrap_or_else(|e| panic!("{at}: {wire} must be accepted: {e}"));
            for s in Serializer::ALL {
                let bytes = s.encode(&m).unwrap();
                assert_eq!(
                    s.decode(&bytes, &Limits::default()).unwrap(),
                    m,
                    "{at} via {s}"
                );
            }
            tally.validation_accepted += 1;
        }
    }
}

fn multisession(name: &str, sequence: &Json, tally: &mut Tally) {
    for step in sequence.as_array().unwrap() {
        let fields = step["message"].as_object().unwrap();
        let code = match fields["type"].as_str().unwrap() {
            "SUBSCRIBE" => 32,
            "SUBSCRIBED" => 33,
            "PUBLISH" => 16,
            "EVENT" => 36,
            other => panic!("{name}: add message type {other} to this test"),
        };
        let m = Message::from_value(wire_from_fields(code, fields))
            .unwrap_or_else(|e| panic!("{name} step {}: {e}", step["step"]));
        for s in Serializer::ALL {
            let bytes = s.encode(&m).unwrap();
            assert_eq!(s.decode(&bytes, &Limits::default()).unwrap(), m);
        }
        tally.multisession_steps += 1;
    }
}
