//! Payload passthru mode: `ppt_*` options are forwarded with the payload untouched, and
//! peers that did not announce the feature are refused.

use bytes::Bytes;
use nexus_tokio::nexus_core::features as f;

use super::*;

pub(super) fn scenarios() -> Vec<Scenario> {
    vec![
        a!(f::PAYLOAD_PASSTHRU_MODE, "dealer", passthru_call_and_result, "Payload passthru mode (§ payload_passthru_mode): the ppt_* options of CALL reach the callee in INVOCATION.Details and those of YIELD the caller in RESULT.Details, with the payload (one binary element in Arguments) untouched"),
        a!(f::PAYLOAD_PASSTHRU_MODE, "dealer", passthru_error, "Payload passthru mode (§ payload_passthru_mode): the ppt_* details of a callee's ERROR reach the caller's ERROR.Details, with the binary payload untouched"),
        a!(f::PAYLOAD_PASSTHRU_MODE, "broker", passthru_publish, "Payload passthru mode (§ payload_passthru_mode): the ppt_* options of PUBLISH reach subscribers in EVENT.Details, with the binary payload untouched"),
        a!(f::PAYLOAD_PASSTHRU_MODE, "dealer", passthru_callee_without_feature, "Payload passthru mode (§ payload_passthru_mode): a passthru CALL routed to a callee that did not announce payload_passthru_mode gets ERROR wamp.error.feature_not_supported"),
        a!(f::PAYLOAD_PASSTHRU_MODE, "dealer", passthru_caller_without_feature, "Payload passthru mode (§ payload_passthru_mode): a passthru YIELD for a caller that did not announce payload_passthru_mode gets the callee ERROR wamp.error.feature_not_supported"),
        a!(f::PAYLOAD_PASSTHRU_MODE, "dealer", passthru_call_unannounced_is_violation, "Payload passthru mode (§ payload_passthru_mode): a CALL with ppt_scheme from a caller that did not announce payload_passthru_mode is a protocol violation"),
        a!(f::PAYLOAD_PASSTHRU_MODE, "broker", passthru_publish_unannounced_is_violation, "Payload passthru mode (§ payload_passthru_mode): a PUBLISH with ppt_scheme from a publisher that did not announce payload_passthru_mode is a protocol violation"),
    ]
}

const SCHEME: &str = "x_conformance";
const SERIALIZER: &str = "cbor";
const CIPHER: &str = "xsalsa20poly1305";
const KEY: &str = "conformance-key-1";

/// An opaque payload: bytes no serializer would produce by itself.
fn opaque(tag: u8) -> Vec<Value> {
    args![Bytes::from(vec![0x00, 0xff, tag, 0xc1, 0x80, 0x1e, 0x00])]
}

fn call_ppt() -> CallOptions {
    CallOptions {
        ppt_scheme: Some(SCHEME.into()),
        ppt_serializer: Some(SERIALIZER.into()),
        ppt_cipher: Some(CIPHER.into()),
        ppt_keyid: Some(KEY.into()),
        ..Default::default()
    }
}

fn yield_ppt() -> YieldOptions {
    YieldOptions {
        ppt_scheme: Some(SCHEME.into()),
        ppt_serializer: Some(SERIALIZER.into()),
        ppt_cipher: Some(CIPHER.into()),
        ppt_keyid: Some(KEY.into()),
        ..Default::default()
    }
}

/// Checks forwarded `ppt_*` keys and the payload.
fn check_ppt(
    what: &str,
    keys: [Option<&String>; 4],
    payload: &Payload,
    tag: u8,
) -> Result<(), Failure> {
    let expected = [SCHEME, SERIALIZER, CIPHER, KEY];
    check(
        keys.iter().zip(expected).all(|(got, want)| got.map(String::as_str) == Some(want)),
        format!("{what} with ppt_scheme {SCHEME}, ppt_serializer {SERIALIZER}, ppt_cipher {CIPHER}, ppt_keyid {KEY}"),
        format!("{keys:?}"),
    )?;
    check(
        payload.args() == &opaque(tag)[..] && payload.kwargs().is_none_or(|k| k.is_empty()),
        format!("{what} with the binary payload untouched"),
        format!("{payload:?}"),
    )
}

async fn passthru_call_and_result(t: Target) -> Result<(), Failure> {
    let mut callee = Peer::join(&t).await?;
    let mut caller = Peer::join(&t).await?;
    let procedure = unique(&callee, "ppt");
    register(&mut callee, &procedure).await?;
    let request = call(&mut caller, &procedure, call_ppt(), opaque(1)).await?;
    let inv = expect_invocation(&mut callee).await?;
    let d = &inv.details;
    check_ppt(
        "INVOCATION",
        [
            d.ppt_scheme.as_ref(),
            d.ppt_serializer.as_ref(),
            d.ppt_cipher.as_ref(),
            d.ppt_keyid.as_ref(),
        ],
        &inv.payload,
        1,
    )?;
    callee
        .send(yield_with(inv.request, yield_ppt()).with_args(opaque(2)))
        .await?;
    let r = expect_result(&mut caller, request).await?;
    let d = &r.details;
    check_ppt(
        "RESULT",
        [
            d.ppt_scheme.as_ref(),
            d.ppt_serializer.as_ref(),
            d.ppt_cipher.as_ref(),
            d.ppt_keyid.as_ref(),
        ],
        &r.payload,
        2,
    )
}

async fn passthru_error(t: Target) -> Result<(), Failure> {
    let mut callee = Peer::join(&t).await?;
    let mut caller = Peer::join(&t).await?;
    let procedure = unique(&callee, "ppterror");
    register(&mut callee, &procedure).await?;
    let request = call(&mut caller, &procedure, call_ppt(), opaque(1)).await?;
    let inv = expect_invocation(&mut callee).await?;
    let mut error = Error::new(
        RequestType::Invocation,
        inv.request,
        "com.conformance.error.sealed",
    )
    .with_args(opaque(3));
    error.details = ErrorDetails {
        ppt_scheme: Some(SCHEME.into()),
        ppt_serializer: Some(SERIALIZER.into()),
        ppt_cipher: Some(CIPHER.into()),
        ppt_keyid: Some(KEY.into()),
        ..Default::default()
    };
    callee.send(error).await?;
    let e = expect_error(
        &mut caller,
        RequestType::Call,
        request,
        "com.conformance.error.sealed",
    )
    .await?;
    let d = &e.details;
    check_ppt(
        "ERROR",
        [
            d.ppt_scheme.as_ref(),
            d.ppt_serializer.as_ref(),
            d.ppt_cipher.as_ref(),
            d.ppt_keyid.as_ref(),
        ],
        &e.payload,
        3,
    )
}

fn publish_ppt() -> PublishOptions {
    PublishOptions {
        ppt_scheme: Some(SCHEME.into()),
        ppt_serializer: Some(SERIALIZER.into()),
        ppt_cipher: Some(CIPHER.into()),
        ppt_keyid: Some(KEY.into()),
        ..Default::default()
    }
}

async fn passthru_publish(t: Target) -> Result<(), Failure> {
    let mut sub = Peer::join(&t).await?;
    let mut p = Peer::join(&t).await?;
    let topic = unique(&sub, "pptevent");
    subscribe(&mut sub, &topic).await?;
    publish(&mut p, &topic, publish_ppt(), opaque(4)).await?;
    let e = expect_event(&mut sub, "the passthru EVENT").await?;
    let d = &e.details;
    check_ppt(
        "EVENT",
        [
            d.ppt_scheme.as_ref(),
            d.ppt_serializer.as_ref(),
            d.ppt_cipher.as_ref(),
            d.ppt_keyid.as_ref(),
        ],
        &e.payload,
        4,
    )
}

async fn passthru_callee_without_feature(t: Target) -> Result<(), Failure> {
    let mut callee = Peer::join_with(&t, roles_without(&[f::PAYLOAD_PASSTHRU_MODE])).await?;
    let mut caller = Peer::join(&t).await?;
    let procedure = unique(&callee, "pptcallee");
    register(&mut callee, &procedure).await?;
    let request = call(&mut caller, &procedure, call_ppt(), opaque(5)).await?;
    expect_error(
        &mut caller,
        RequestType::Call,
        request,
        "wamp.error.feature_not_supported",
    )
    .await?;
    callee.expect_nothing().await
}

async fn passthru_caller_without_feature(t: Target) -> Result<(), Failure> {
    let mut callee = Peer::join(&t).await?;
    let mut caller = Peer::join_with(&t, roles_without(&[f::PAYLOAD_PASSTHRU_MODE])).await?;
    let procedure = unique(&callee, "pptcaller");
    register(&mut callee, &procedure).await?;
    call(&mut caller, &procedure, CallOptions::default(), args![]).await?;
    let inv = expect_invocation(&mut callee).await?;
    callee
        .send(yield_with(inv.request, yield_ppt()).with_args(opaque(6)))
        .await?;
    let e = want!(callee, "ERROR wamp.error.feature_not_supported", Message::Error(e) => e);
    check(
        e.error == "wamp.error.feature_not_supported",
        "ERROR wamp.error.feature_not_supported to the callee",
        show_error(&e),
    )
}

async fn passthru_call_unannounced_is_violation(t: Target) -> Result<(), Failure> {
    let mut callee = Peer::join(&t).await?;
    let mut caller = Peer::join_with(&t, roles_without(&[f::PAYLOAD_PASSTHRU_MODE])).await?;
    let procedure = unique(&callee, "pptviolation");
    register(&mut callee, &procedure).await?;
    call(&mut caller, &procedure, call_ppt(), opaque(7)).await?;
    caller.expect_violation().await
}

async fn passthru_publish_unannounced_is_violation(t: Target) -> Result<(), Failure> {
    let mut p = Peer::join_with(&t, roles_without(&[f::PAYLOAD_PASSTHRU_MODE])).await?;
    let topic = unique(&p, "pptviolation");
    publish(&mut p, &topic, publish_ppt(), opaque(8)).await?;
    p.expect_violation().await
}
