//! Where each message of an established session goes (digest §2: sessions, protocol violations, the RPC and pub/sub basics): the lifecycle's
//! GOODBYE and ABORT, the request-ID watermark, then authorization, then the feature that
//! owns the message (pub/sub, RPC, the meta APIs through RPC); anything a client must not
//! send is a protocol violation.

use super::authz::{self, Gate, Stage};
use super::config::RequestIdPolicy;
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
    let allowed = match message {
        Message::Goodbye(_) => return lifecycle::client_goodbye(cx, realm, conn),
        Message::Abort(_) => return cx.conns.doom(conn),
        Message::Publish(m) => fresh(cx, m.request, false).then_some(Message::Publish(m)),
        Message::Subscribe(m) => fresh(cx, m.request, false).then_some(Message::Subscribe(m)),
        Message::Register(m) => fresh(cx, m.request, false).then_some(Message::Register(m)),
        Message::Call(m) => {
            // A chunk of a progressive call invocation already under way?
            let Some(m) = rpc::call_continuation(cx, realm, conn, m) else {
                return;
            };
            fresh(cx, m.request, true).then_some(Message::Call(m))
        }
        Message::Unsubscribe(m) => {
            if fresh(cx, m.request, false) {
                pubsub::on_unsubscribe(cx, realm, conn, m.request, m.subscription);
            }
            return;
        }
        Message::Unregister(m) => {
            if fresh(cx, m.request, false) {
                rpc::on_unregister(cx, realm, conn, m.request, m.registration);
            }
            return;
        }
        Message::Yield(m) => return rpc::on_yield(cx, realm, conn, m),
        Message::Error(m) if m.request_type == RequestType::Invocation => {
            return rpc::on_callee_error(cx, realm, conn, m)
        }
        Message::Error(m) => {
            return cx.conns.violation(
                conn,
                format!(
                    "a client may send ERROR only for INVOCATION (68), not for request type {}",
                    m.request_type.code()
                ),
            )
        }
        Message::Cancel(m) => return rpc::on_cancel(cx, realm, conn, m.request, m.options.mode),
        // Autobahn's delivery acknowledgement: not announced, so nothing to do.
        Message::EventReceived(_) => return,
        other @ (Message::Hello(_) | Message::Authenticate(_)) => {
            return cx.conns.violation(
                conn,
                format!(
                    "received {} after the session was established",
                    other.name()
                ),
            )
        }
        other => {
            return cx.conns.violation(
                conn,
                format!(
                    "a client must not send {}; only a router does",
                    other.name()
                ),
            )
        }
    };
    let Some(message) = allowed else {
        return;
    };
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
