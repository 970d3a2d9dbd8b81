//! Reusable proptest strategies for the nexus-core integration tests.
//!
//! Everything generated here round-trips exactly through all three serializers, so the
//! strategies avoid the normalizations the codec performs:
//!
//! - integers: non-negative numbers are always `Value::UInt`, `Value::Int` is only negative;
//! - floats are finite (JSON has no NaN or infinity);
//! - strings never start with U+0000, which is how WAMP's JSON serializer marks base64
//!   binary (they may contain it later on);
//! - the `extra` dicts of options and details have keys starting with `_` (never a typed
//!   key) and non-null values (a null typed key is read as absent);
//! - URIs that the decoder checks (realms, close reasons, error URIs) are valid under the
//!   loose rules.

// Each integration test compiles this module on its own and uses only part of it.
#![allow(dead_code)]

use bytes::Bytes;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::strategy::{BoxedStrategy, Union};

use nexus_core::message::RequestType;
use nexus_core::message::{
    self as m, AbortDetails, AuthenticateExtra, CallOptions, CancelMode, CancelOptions,
    ChallengeExtra, ClientRoles, EncAlgo, EncSerializer, ErrorDetails, EventDetails, ForwardFor,
    GoodbyeDetails, HelloDetails, InterruptOptions, InvocationDetails, InvokePolicy, Message,
    PublishOptions, RegisterOptions, ResultDetails, Role, RouterRoles, SubscribeOptions,
    UnregisteredDetails, UnsubscribedDetails, WelcomeDetails, YieldOptions,
};
use nexus_core::{Dict, IdOutOfRange, MatchPolicy, Payload, Serializer, Uri, Value};

// ---- Scalars -----------------------------------------------------------------------------

/// A character for payload text: mostly ASCII, some arbitrary Unicode, NUL, and characters
/// that need escaping or are batch separators in JSON.
pub fn text_char() -> impl Strategy<Value = char> {
    prop_oneof![
        6 => proptest::char::range('a', 'z'),
        3 => any::<char>(),
        1 => Just('\0'),
        2 => proptest::sample::select(vec![
            'é', '€', '😀', '\u{feff}', '\u{10ffff}', '"', '\\', '/', '\n', '\t', '\u{18}',
            '\u{1e}', '\u{7f}', '\u{2028}', ' ',
        ]),
    ]
}

/// Any Unicode string that does not start with U+0000 (it may contain it later), including
/// the empty string.
pub fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just(String::new()),
        1 => Just("a\u{0}b".to_owned()),
        10 => (
            // Built rather than filtered, so long runs never exhaust proptest's reject budget.
            text_char().prop_map(|c| if c == '\0' { 'x' } else { c }),
            vec(text_char(), 0..16),
        )
            .prop_map(|(first, rest)| std::iter::once(first).chain(rest).collect()),
    ]
}

/// A dict key: any string at all (keys are never read as JSON binary).
pub fn dict_key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z_]{1,8}",
        1 => vec(text_char(), 0..8).prop_map(|cs| cs.into_iter().collect()),
    ]
}

/// A finite `f64`: normal, subnormal, zero (both signs), integral values and extremes.
pub fn finite_f64() -> impl Strategy<Value = f64> {
    use proptest::num::f64 as f;
    prop_oneof![
        4 => f::POSITIVE | f::NEGATIVE | f::NORMAL | f::SUBNORMAL | f::ZERO,
        2 => (-1_000_000i32..1_000_000).prop_map(f64::from),
        1 => -1000.0f64..1000.0,
        1 => proptest::sample::select(vec![
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.1,
            1e16,
            9007199254740993.0,
            f64::MAX,
            f64::MIN,
            f64::MIN_POSITIVE,
            f64::EPSILON,
            5e-324,
        ]),
    ]
    // The float classes above are all finite; keep it so if a class is added by mistake.
    .prop_map(|x| if x.is_finite() { x } else { 0.0 })
}

/// A non-negative integer, biased towards small numbers and the edges.
pub fn uint() -> impl Strategy<Value = u64> {
    prop_oneof![
        3 => 0u64..256,
        3 => any::<u64>(),
        1 => proptest::sample::select(vec![
            0,
            127,
            128,
            255,
            256,
            65535,
            65536,
            u64::from(u32::MAX),
            1 << 32,
            1 << 53,
            (1 << 53) + 1,
            i64::MAX as u64,
            u64::MAX,
        ]),
    ]
}

/// A negative integer, biased towards small magnitudes and the edges.
pub fn negative_int() -> impl Strategy<Value = i64> {
    prop_oneof![
        3 => -300i64..0,
        3 => i64::MIN..0,
        1 => proptest::sample::select(vec![
            -1,
            -32,
            -33,
            -128,
            -129,
            -32768,
            -32769,
            i64::from(i32::MIN),
            i64::from(i32::MIN) - 1,
            i64::MIN,
        ]),
    ]
}

/// Binary data, including empty.
pub fn bytes() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        1 => Just(Bytes::new()),
        6 => vec(any::<u8>(), 0..48).prop_map(Bytes::from),
    ]
}

/// A WAMP ID in `[1, 2^53]`, typed by what the caller builds (a session, a request...).
pub fn id<T>() -> impl Strategy<Value = T>
where
    T: TryFrom<u64, Error = IdOutOfRange> + std::fmt::Debug,
{
    prop_oneof![
        3 => 1u64..1000,
        3 => 1u64..=(1 << 53),
        1 => Just(1u64 << 53),
        1 => Just(1u64),
    ]
    .prop_map(|n| T::try_from(n).expect("generated in range"))
}

// ---- Values ------------------------------------------------------------------------------

/// A scalar [`Value`] in its canonical form.
pub fn leaf_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        1 => Just(Value::Null),
        2 => any::<bool>().prop_map(Value::Bool),
        2 => negative_int().prop_map(Value::Int),
        3 => uint().prop_map(Value::UInt),
        2 => finite_f64().prop_map(Value::Float),
        4 => text().prop_map(Value::String),
        2 => bytes().prop_map(Value::Bytes),
    ]
}

/// A dict whose values come from `values`.
pub fn dict_of<S>(
    keys: impl Strategy<Value = String>,
    values: S,
    len: std::ops::Range<usize>,
) -> impl Strategy<Value = Dict>
where
    S: Strategy<Value = Value>,
{
    vec((keys, values), len).prop_map(|entries| entries.into_iter().collect())
}

/// Any [`Value`]: scalars, and lists and dicts nested up to four levels.
pub fn value() -> impl Strategy<Value = Value> {
    leaf_value().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::List),
            dict_of(dict_key(), inner, 0..6).prop_map(Value::Dict),
        ]
    })
}

/// Any [`Value`] but `Null` (it may hold nulls inside).
pub fn non_null_value() -> impl Strategy<Value = Value> {
    value().prop_map(|v| if v.is_null() { Value::Bool(false) } else { v })
}

/// A dict of any values.
pub fn dict() -> impl Strategy<Value = Dict> {
    dict_of(dict_key(), value(), 0..5)
}

/// The `extra` dict of an options struct: keys start with `_` (so they are never a typed
/// key), values are not null. Usually small, often empty.
pub fn extra() -> impl Strategy<Value = Dict> {
    prop_oneof![
        2 => Just(Dict::new()),
        3 => dict_of(
            dict_key().prop_map(|k| format!("_{k}")),
            non_null_value(),
            1..4,
        ),
    ]
}

// ---- URIs --------------------------------------------------------------------------------

/// A URI valid under the strict rules (and so the loose ones): `[0-9a-z_]+` components.
pub fn strict_uri() -> impl Strategy<Value = Uri> {
    vec("[0-9a-z_]{1,8}", 1..6).prop_map(|parts| Uri::new_unchecked(parts.join(".")))
}

/// A character allowed in a loose URI component (no `.`, `#`, whitespace or NUL).
fn loose_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => proptest::char::range('!', '~'),
        1 => any::<char>(),
        1 => proptest::sample::select(vec!['é', 'Ä', '€', '😀', '-', '+', '"', '\\', '\u{1}']),
    ]
    .prop_map(|c| {
        if matches!(c, '.' | '#' | '\0') || c.is_whitespace() {
            '_'
        } else {
            c
        }
    })
}

/// A URI valid under the loose rules only (components of any characters but `.`, `#` and
/// whitespace), often invalid under the strict ones.
pub fn loose_uri() -> impl Strategy<Value = Uri> {
    vec(
        vec(loose_char(), 1..8).prop_map(|cs| cs.into_iter().collect::<String>()),
        1..6,
    )
    .prop_map(|parts| Uri::new_unchecked(parts.join(".")))
}

/// A URI that the decoder checks (realm, close reason, error): strict or loose.
pub fn valid_uri() -> impl Strategy<Value = Uri> {
    prop_oneof![strict_uri(), loose_uri()]
}

/// A wildcard (`com..topic`) or prefix (`com.example.`) pattern.
pub fn pattern_uri() -> impl Strategy<Value = Uri> {
    prop_oneof![
        vec(prop_oneof![Just(String::new()), "[a-z0-9_]{1,6}"], 2..6)
            .prop_map(|parts| Uri::new_unchecked(parts.join("."))),
        strict_uri().prop_map(|u| Uri::new_unchecked(format!("{u}."))),
    ]
}

/// A topic or procedure: the decoder does not check these, so besides valid URIs and
/// patterns this includes arbitrary text.
pub fn topic_uri() -> impl Strategy<Value = Uri> {
    prop_oneof![
        4 => strict_uri(),
        2 => loose_uri(),
        2 => pattern_uri(),
        1 => text().prop_map(Uri::new_unchecked),
    ]
}

// ---- Options and details -----------------------------------------------------------------

fn opt<S: Strategy>(s: S) -> impl Strategy<Value = Option<S::Value>> {
    proptest::option::weighted(0.4, s)
}

fn strings() -> impl Strategy<Value = Vec<String>> {
    vec(text(), 0..4)
}

fn ids<T>() -> impl Strategy<Value = Vec<T>>
where
    T: TryFrom<u64, Error = IdOutOfRange> + std::fmt::Debug,
{
    vec(id(), 0..4)
}

fn match_policy() -> impl Strategy<Value = MatchPolicy> {
    proptest::sample::select(vec![
        MatchPolicy::Exact,
        MatchPolicy::Prefix,
        MatchPolicy::Wildcard,
    ])
}

fn enc_algo() -> impl Strategy<Value = EncAlgo> {
    proptest::sample::select(EncAlgo::ALL)
}

fn enc_serializer() -> impl Strategy<Value = EncSerializer> {
    proptest::sample::select(EncSerializer::ALL)
}

fn cancel_mode() -> impl Strategy<Value = CancelMode> {
    proptest::sample::select(CancelMode::ALL)
}

fn invoke_policy() -> impl Strategy<Value = InvokePolicy> {
    proptest::sample::select(InvokePolicy::ALL)
}

/// The wire key of a field: its name, unless given.
macro_rules! key_of {
    ($field:ident) => {
        stringify!($field)
    };
    ($field:ident $key:literal) => {
        $key
    };
}

/// A strategy for an options struct: each listed field set (or `None`) from its strategy,
/// plus [`extra`]. Panics when the fields listed are not exactly the struct's typed keys,
/// so a key added to the struct cannot go untested.
macro_rules! options_strategy {
    ($ty:ident { $( $field:ident $(as $key:literal)? => $strat:expr ),* $(,)? }) => {{
        let mut listed: Vec<&str> = vec![$( key_of!($field $($key)?) ),*];
        let mut typed: Vec<&str> = $ty::KEYS.to_vec();
        listed.sort_unstable();
        typed.sort_unstable();
        assert_eq!(
            listed,
            typed,
            concat!("the strategy for ", stringify!($ty), " must list every typed key")
        );
        let s = extra()
            .prop_map(|extra| $ty { extra, ..Default::default() })
            .boxed();
        $(
            let s = (s, opt($strat))
                .prop_map(|(mut o, v)| {
                    o.$field = v;
                    o
                })
                .boxed();
        )*
        s
    }};
}

/// One hop of `forward_for`.
pub fn forward_for() -> BoxedStrategy<ForwardFor> {
    options_strategy!(ForwardFor {
        session => id(),
        authid => text(),
        authrole => text(),
    })
}

fn forward_fors() -> impl Strategy<Value = Vec<ForwardFor>> {
    vec(forward_for(), 0..3)
}

/// A role announcement.
pub fn role() -> BoxedStrategy<Role> {
    options_strategy!(Role {
        features => prop_oneof![
            dict_of(dict_key(), any::<bool>().prop_map(Value::Bool), 0..5),
            dict(),
        ],
    })
}

/// The roles of a client.
pub fn client_roles() -> BoxedStrategy<ClientRoles> {
    options_strategy!(ClientRoles {
        subscriber => role(),
        publisher => role(),
        caller => role(),
        callee => role(),
    })
}

/// The roles of a router.
pub fn router_roles() -> BoxedStrategy<RouterRoles> {
    options_strategy!(RouterRoles {
        broker => role(),
        dealer => role(),
    })
}

/// `HELLO.Details`.
pub fn hello_details() -> BoxedStrategy<HelloDetails> {
    options_strategy!(HelloDetails {
        roles => client_roles(),
        agent => text(),
        authmethods => strings(),
        authid => text(),
        authrole => text(),
        authextra => dict(),
        transport => dict(),
        resumable => any::<bool>(),
    })
}

/// `WELCOME.Details`.
pub fn welcome_details() -> BoxedStrategy<WelcomeDetails> {
    options_strategy!(WelcomeDetails {
        roles => router_roles(),
        agent => text(),
        authid => text(),
        authrole => text(),
        authmethod => text(),
        authprovider => text(),
        authextra => dict(),
        realm => text(),
        resumed => any::<bool>(),
        resumable => any::<bool>(),
    })
}

/// `ABORT.Details`.
pub fn abort_details() -> BoxedStrategy<AbortDetails> {
    options_strategy!(AbortDetails {
        message => text(),
        scram => text(),
    })
}

/// `GOODBYE.Details`.
pub fn goodbye_details() -> BoxedStrategy<GoodbyeDetails> {
    options_strategy!(GoodbyeDetails { message => text() })
}

/// `CHALLENGE.Extra`.
pub fn challenge_extra() -> BoxedStrategy<ChallengeExtra> {
    options_strategy!(ChallengeExtra {
        challenge => text(),
        salt => text(),
        keylen => uint(),
        iterations => uint(),
        memory => uint(),
        kdf => text(),
        nonce => text(),
        channel_binding => text(),
        pubkey => text(),
        signature => text(),
    })
}

/// `AUTHENTICATE.Extra`.
pub fn authenticate_extra() -> BoxedStrategy<AuthenticateExtra> {
    options_strategy!(AuthenticateExtra {
        nonce => text(),
        channel_binding => text(),
        cbind_data => text(),
    })
}

/// `ERROR.Details`.
pub fn error_details() -> BoxedStrategy<ErrorDetails> {
    options_strategy!(ErrorDetails {
        ppt_scheme => text(),
        ppt_serializer => text(),
        ppt_cipher => text(),
        ppt_keyid => text(),
        enc_algo => enc_algo(),
        enc_serializer => enc_serializer(),
        enc_key => text(),
        forward_for => forward_fors(),
    })
}

/// `PUBLISH.Options`.
pub fn publish_options() -> BoxedStrategy<PublishOptions> {
    options_strategy!(PublishOptions {
        acknowledge => any::<bool>(),
        exclude_me => any::<bool>(),
        exclude => ids(),
        exclude_authid => strings(),
        exclude_authrole => strings(),
        eligible => ids(),
        eligible_authid => strings(),
        eligible_authrole => strings(),
        disclose_me => any::<bool>(),
        retain => any::<bool>(),
        rkey => text(),
        ppt_scheme => text(),
        ppt_serializer => text(),
        ppt_cipher => text(),
        ppt_keyid => text(),
        enc_algo => enc_algo(),
        enc_serializer => enc_serializer(),
        enc_key => text(),
        forward_for => forward_fors(),
        transaction_hash => text(),
        x_acknowledged_delivery => any::<bool>(),
    })
}

/// `SUBSCRIBE.Options`.
pub fn subscribe_options() -> BoxedStrategy<SubscribeOptions> {
    options_strategy!(SubscribeOptions {
        match_policy as "match" => match_policy(),
        get_retained => any::<bool>(),
        nkey => text(),
        forward_for => forward_fors(),
    })
}

/// `UNSUBSCRIBED.Details`.
pub fn unsubscribed_details() -> BoxedStrategy<UnsubscribedDetails> {
    options_strategy!(UnsubscribedDetails {
        subscription => id(),
        reason => text(),
    })
}

/// `EVENT.Details`.
pub fn event_details() -> BoxedStrategy<EventDetails> {
    options_strategy!(EventDetails {
        publisher => id(),
        publisher_authid => text(),
        publisher_authrole => text(),
        trustlevel => uint(),
        topic => topic_uri(),
        retained => any::<bool>(),
        ppt_scheme => text(),
        ppt_serializer => text(),
        ppt_cipher => text(),
        ppt_keyid => text(),
        enc_algo => enc_algo(),
        enc_serializer => enc_serializer(),
        enc_key => text(),
        forward_for => forward_fors(),
        transaction_hash => text(),
        x_acknowledged_delivery => any::<bool>(),
    })
}

/// `CALL.Options`.
pub fn call_options() -> BoxedStrategy<CallOptions> {
    options_strategy!(CallOptions {
        receive_progress => any::<bool>(),
        progress => any::<bool>(),
        timeout => uint(),
        disclose_me => any::<bool>(),
        runmode => text(),
        rkey => text(),
        ppt_scheme => text(),
        ppt_serializer => text(),
        ppt_cipher => text(),
        ppt_keyid => text(),
        enc_algo => enc_algo(),
        enc_serializer => enc_serializer(),
        enc_key => text(),
        forward_for => forward_fors(),
    })
}

/// `CANCEL.Options`.
pub fn cancel_options() -> BoxedStrategy<CancelOptions> {
    options_strategy!(CancelOptions { mode => cancel_mode() })
}

/// `RESULT.Details`.
pub fn result_details() -> BoxedStrategy<ResultDetails> {
    options_strategy!(ResultDetails {
        progress => any::<bool>(),
        ppt_scheme => text(),
        ppt_serializer => text(),
        ppt_cipher => text(),
        ppt_keyid => text(),
        enc_algo => enc_algo(),
        enc_serializer => enc_serializer(),
        enc_key => text(),
        forward_for => forward_fors(),
    })
}

/// `REGISTER.Options`.
pub fn register_options() -> BoxedStrategy<RegisterOptions> {
    options_strategy!(RegisterOptions {
        match_policy as "match" => match_policy(),
        invoke => invoke_policy(),
        disclose_caller => any::<bool>(),
        forward_timeout => any::<bool>(),
        concurrency => uint(),
        forward_for => forward_fors(),
    })
}

/// `UNREGISTERED.Details`.
pub fn unregistered_details() -> BoxedStrategy<UnregisteredDetails> {
    options_strategy!(UnregisteredDetails {
        registration => id(),
        reason => text(),
    })
}

/// `INVOCATION.Details`.
pub fn invocation_details() -> BoxedStrategy<InvocationDetails> {
    options_strategy!(InvocationDetails {
        receive_progress => any::<bool>(),
        progress => any::<bool>(),
        caller => id(),
        caller_authid => text(),
        caller_authrole => text(),
        procedure => topic_uri(),
        trustlevel => uint(),
        timeout => uint(),
        ppt_scheme => text(),
        ppt_serializer => text(),
        ppt_cipher => text(),
        ppt_keyid => text(),
        enc_algo => enc_algo(),
        enc_serializer => enc_serializer(),
        enc_key => text(),
        forward_for => forward_fors(),
    })
}

/// `INTERRUPT.Options`.
pub fn interrupt_options() -> BoxedStrategy<InterruptOptions> {
    options_strategy!(InterruptOptions {
        mode => cancel_mode(),
        reason => text(),
    })
}

/// `YIELD.Options`.
pub fn yield_options() -> BoxedStrategy<YieldOptions> {
    options_strategy!(YieldOptions {
        progress => any::<bool>(),
        ppt_scheme => text(),
        ppt_serializer => text(),
        ppt_cipher => text(),
        ppt_keyid => text(),
        enc_algo => enc_algo(),
        enc_serializer => enc_serializer(),
        enc_key => text(),
        forward_for => forward_fors(),
    })
}

// ---- Payloads and messages ---------------------------------------------------------------

/// A payload: nothing, positional arguments only, keyword arguments only (sent after an
/// empty `Arguments`), both, or a transparent binary payload.
pub fn payload() -> impl Strategy<Value = Payload> {
    let kwargs = || dict_of(dict_key(), value(), 1..5);
    prop_oneof![
        2 => Just(Payload::default()),
        3 => vec(value(), 1..6).prop_map(|args| Payload::new(args, Dict::new())),
        2 => kwargs().prop_map(|kwargs| Payload::new(Vec::new(), kwargs)),
        3 => (vec(value(), 0..6), kwargs()).prop_map(|(args, kwargs)| Payload::new(args, kwargs)),
        2 => bytes().prop_map(Payload::Transparent),
    ]
}

/// The request type an ERROR answers.
pub fn request_type() -> impl Strategy<Value = RequestType> {
    proptest::sample::select(vec![
        RequestType::Publish,
        RequestType::Subscribe,
        RequestType::Unsubscribe,
        RequestType::Call,
        RequestType::Register,
        RequestType::Unregister,
        RequestType::Invocation,
    ])
}

/// The number of [`Message`] variants.
pub const MESSAGE_VARIANTS: usize = 25;

/// The index of a message's variant, in declaration order. The match has no wildcard arm,
/// so adding a variant breaks the build here until [`message`] generates it too.
pub fn variant_index(message: &Message) -> usize {
    match message {
        Message::Hello(_) => 0,
        Message::Welcome(_) => 1,
        Message::Abort(_) => 2,
        Message::Challenge(_) => 3,
        Message::Authenticate(_) => 4,
        Message::Goodbye(_) => 5,
        Message::Error(_) => 6,
        Message::Publish(_) => 7,
        Message::Published(_) => 8,
        Message::Subscribe(_) => 9,
        Message::Subscribed(_) => 10,
        Message::Unsubscribe(_) => 11,
        Message::Unsubscribed(_) => 12,
        Message::Event(_) => 13,
        Message::Call(_) => 14,
        Message::Cancel(_) => 15,
        Message::Result(_) => 16,
        Message::Register(_) => 17,
        Message::Registered(_) => 18,
        Message::Unregister(_) => 19,
        Message::Unregistered(_) => 20,
        Message::Invocation(_) => 21,
        Message::Interrupt(_) => 22,
        Message::Yield(_) => 23,
        Message::EventReceived(_) => 24,
    }
}

/// One strategy per [`Message`] variant, in declaration order. UNSUBSCRIBED and
/// UNREGISTERED come in the normal form (a request, with or without details) and the
/// revocation form (no request, sent as 0, always with a details dict).
pub fn message_variants() -> Vec<BoxedStrategy<Message>> {
    vec![
        (valid_uri(), hello_details())
            .prop_map(|(realm, details)| m::Hello { realm, details }.into())
            .boxed(),
        (id(), welcome_details())
            .prop_map(|(session, details)| m::Welcome { session, details }.into())
            .boxed(),
        (abort_details(), valid_uri(), payload())
            .prop_map(|(details, reason, payload)| {
                m::Abort {
                    details,
                    reason,
                    payload,
                }
                .into()
            })
            .boxed(),
        (text(), challenge_extra())
            .prop_map(|(auth_method, extra)| m::Challenge { auth_method, extra }.into())
            .boxed(),
        (text(), authenticate_extra())
            .prop_map(|(signature, extra)| m::Authenticate { signature, extra }.into())
            .boxed(),
        (goodbye_details(), valid_uri())
            .prop_map(|(details, reason)| m::Goodbye { details, reason }.into())
            .boxed(),
        (
            request_type(),
            id(),
            error_details(),
            valid_uri(),
            payload(),
        )
            .prop_map(|(request_type, request, details, error, payload)| {
                m::Error {
                    request_type,
                    request,
                    details,
                    error,
                    payload,
                }
                .into()
            })
            .boxed(),
        (id(), publish_options(), topic_uri(), payload())
            .prop_map(|(request, options, topic, payload)| {
                m::Publish {
                    request,
                    options,
                    topic,
                    payload,
                }
                .into()
            })
            .boxed(),
        (id(), id())
            .prop_map(|(request, publication)| {
                m::Published {
                    request,
                    publication,
                }
                .into()
            })
            .boxed(),
        (id(), subscribe_options(), topic_uri())
            .prop_map(|(request, options, topic)| {
                m::Subscribe {
                    request,
                    options,
                    topic,
                }
                .into()
            })
            .boxed(),
        (id(), id())
            .prop_map(|(request, subscription)| {
                m::Subscribed {
                    request,
                    subscription,
                }
                .into()
            })
            .boxed(),
        (id(), id())
            .prop_map(|(request, subscription)| {
                m::Unsubscribe {
                    request,
                    subscription,
                }
                .into()
            })
            .boxed(),
        prop_oneof![
            // Normal form, usually without details.
            (
                id(),
                prop_oneof![2 => Just(UnsubscribedDetails::default()), 1 => unsubscribed_details()]
            )
                .prop_map(|(request, details)| m::Unsubscribed {
                    request: Some(request),
                    details,
                }),
            // Revocation form.
            unsubscribed_details().prop_map(|details| m::Unsubscribed {
                request: None,
                details,
            }),
        ]
        .prop_map(Message::from)
        .boxed(),
        (id(), id(), event_details(), payload())
            .prop_map(|(subscription, publication, details, payload)| {
                m::Event {
                    subscription,
                    publication,
                    details,
                    payload,
                }
                .into()
            })
            .boxed(),
        (id(), call_options(), topic_uri(), payload())
            .prop_map(|(request, options, procedure, payload)| {
                m::Call {
                    request,
                    options,
                    procedure,
                    payload,
                }
                .into()
            })
            .boxed(),
        (id(), cancel_options())
            .prop_map(|(request, options)| m::Cancel { request, options }.into())
            .boxed(),
        (id(), result_details(), payload())
            .prop_map(|(request, details, payload)| {
                m::CallResult {
                    request,
                    details,
                    payload,
                }
                .into()
            })
            .boxed(),
        (id(), register_options(), topic_uri())
            .prop_map(|(request, options, procedure)| {
                m::Register {
                    request,
                    options,
                    procedure,
                }
                .into()
            })
            .boxed(),
        (id(), id())
            .prop_map(|(request, registration)| {
                m::Registered {
                    request,
                    registration,
                }
                .into()
            })
            .boxed(),
        (id(), id())
            .prop_map(|(request, registration)| {
                m::Unregister {
                    request,
                    registration,
                }
                .into()
            })
            .boxed(),
        prop_oneof![
            // Normal form, usually without details.
            (
                id(),
                prop_oneof![2 => Just(UnregisteredDetails::default()), 1 => unregistered_details()]
            )
                .prop_map(|(request, details)| m::Unregistered {
                    request: Some(request),
                    details,
                }),
            // Revocation form.
            unregistered_details().prop_map(|details| m::Unregistered {
                request: None,
                details,
            }),
        ]
        .prop_map(Message::from)
        .boxed(),
        (id(), id(), invocation_details(), payload())
            .prop_map(|(request, registration, details, payload)| {
                m::Invocation {
                    request,
                    registration,
                    details,
                    payload,
                }
                .into()
            })
            .boxed(),
        (id(), interrupt_options())
            .prop_map(|(request, options)| m::Interrupt { request, options }.into())
            .boxed(),
        (id(), yield_options(), payload())
            .prop_map(|(request, options, payload)| {
                m::Yield {
                    request,
                    options,
                    payload,
                }
                .into()
            })
            .boxed(),
        id().prop_map(|publication| m::EventReceived { publication }.into())
            .boxed(),
    ]
}

/// Any [`Message`], every variant equally likely.
pub fn message() -> impl Strategy<Value = Message> {
    let variants = message_variants();
    assert_eq!(variants.len(), MESSAGE_VARIANTS);
    Union::new(variants)
}

/// One of the three serializers.
pub fn serializer() -> impl Strategy<Value = Serializer> {
    proptest::sample::select(Serializer::ALL.to_vec())
}
