//! Where each message of an established session goes (digest §2: sessions, protocol violations, the RPC and pub/sub basics): the lifecycle's
//! GOODBYE and ABORT, the request-ID watermark, then authorization, then the feature that
//! owns the message (pub/sub, RPC, the meta APIs through RPC); anything a client must not
//! send is a protocol violation.

use super::authz::{self, Gate, Stage};
use super::config::{AuthzMode, RequestIdPolicy};
use super::connection::ConnectionId;
use super::context::Ctx;
use super::lifecycle;
use super::pubsub;
use super::realm::Realm;
use super::rpc;
use crate::id::RequestId;
use crate::message::{Message, RequestType};

/// A message of the established session on `conn`, in `realm`.
pub(crate) fn established(
    cx: &mut Ctx<'_>,
    realm: &mut Realm,
    gate: &mut Gate,
    policy: RequestIdPolicy,
    conn: ConnectionId,
    message: Message,
) {
    let fresh = |cx: &mut Ctx<'_>, request: RequestId, is_call: bool| {
        lifecycle::check_request(cx.conns, policy, conn, request, is_call)
    };
    // The common case asks nothing: straight to the feature, without wrapping the message
    // again for authorization.
    let open = matches!(realm.config.authz, AuthzMode::AllowAll);
    let none = authz::Grant::default();
    match message {
        Message::Goodbye(_) => lifecycle::client_goodbye(cx, realm, conn),
        Message::Abort(_) => cx.conns.doom(conn),
        // The guards check (and record) the request ID; a refused one falls through below.
        Message::Publish(m) if fresh(cx, m.request, false) => match open {
            true => pubsub::on_publish(cx, realm, conn, m, none),
            false => authorized(cx, realm, gate, conn, Message::Publish(m)),
        },
        Message::Subscribe(m) if fresh(cx, m.request, false) => match open {
            true => pubsub::on_subscribe(cx, realm, conn, m),
            false => authorized(cx, realm, gate, conn, Message::Subscribe(m)),
        },
        Message::Register(m) if fresh(cx, m.request, false) => match open {
            true => rpc::on_register(cx, realm, conn, m),
            false => authorized(cx, realm, gate, conn, Message::Register(m)),
        },
        Message::Publish(_) | Message::Subscribe(_) | Message::Register(_) => {}
        Message::Call(m) => {
            // A chunk of a progressive call invocation already under way?
            let Some(m) = rpc::call_continuation(cx, realm, conn, m) else {
                return;
            };
            if !fresh(cx, m.request, true) {
                return;
            }
            match open {
                true => rpc::on_call(cx, realm, conn, m, none),
                false => authorized(cx, realm, gate, conn, Message::Call(m)),
            }
        }
        Message::Unsubscribe(m) => {
            if fresh(cx, m.request, false) {
                pubsub::on_unsubscribe(cx, realm, conn, m.request, m.subscription);
            }
        }
        Message::Unregister(m) => {
            if fresh(cx, m.request, false) {
                rpc::on_unregister(cx, realm, conn, m.request, m.registration);
            }
        }
        Message::Yield(m) => rpc::on_yield(cx, realm, conn, m),
        Message::Error(m) if m.request_type == RequestType::Invocation => {
            rpc::on_callee_error(cx, realm, conn, m)
        }
        Message::Error(m) => cx.conns.violation(
            conn,
            format!(
                "a client may send ERROR only for INVOCATION (68), not for request type {}",
                m.request_type.code()
            ),
        ),
        Message::Cancel(m) => rpc::on_cancel(cx, realm, conn, m.request, m.options.mode),
        // Autobahn's delivery acknowledgement: not announced, so nothing to do.
        Message::EventReceived(_) => {}
        other @ (Message::Hello(_) | Message::Authenticate(_)) => cx.conns.violation(
            conn,
            format!(
                "received {} after the session was established",
                other.name()
            ),
        ),
        other => cx.conns.violation(
            conn,
            format!(
                "a client must not send {}; only a router does",
                other.name()
            ),
        ),
    }
}

/// A PUBLISH, SUBSCRIBE, REGISTER or CALL through the realm's authorization, then to its
/// feature if allowed.
fn authorized(
    cx: &mut Ctx<'_>,
    realm: &mut Realm,
    gate: &mut Gate,
    conn: ConnectionId,
    message: Message,
) {
    if let Some((message, grant)) = gate.check(cx, realm, conn, message, Stage::New) {
        perform(cx, realm, conn, message, grant);
    }
}

/// Carries out an allowed PUBLISH, SUBSCRIBE, REGISTER or CALL.
pub(crate) fn perform(
    cx: &mut Ctx<'_>,
    realm: &mut Realm,
    conn: ConnectionId,
    message: Message,
    grant: authz::Grant,
) {
    match message {
        Message::Publish(m) => pubsub::on_publish(cx, realm, conn, m, grant),
        Message::Subscribe(m) => pubsub::on_subscribe(cx, realm, conn, m),
        Message::Register(m) => rpc::on_register(cx, realm, conn, m),
        Message::Call(m) => rpc::on_call(cx, realm, conn, m, grant),
        _ => {}
    }
}
