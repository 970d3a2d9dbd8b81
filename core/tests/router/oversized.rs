//! Messages too large for their receiver: the driver reports them, the router answers for
//! them with `wamp.error.payload_size_exceeded` and disconnects no one.

use crate::harness::*;
use nexus_core::message::*;

fn limit(net: &mut Net, client: &Client, bytes: usize) {
    net.router.set_frame_limit(client.conn, bytes);
}

#[test]
fn an_invocation_too_large_for_the_callee_fails_the_call() {
    let mut net = Net::realm1();
    let mut callee = net.join();
    let mut caller = net.join();
    limit(&mut net, &callee, 1024);
    net.register(&mut callee, "com.p");
    let call = net.call(&mut caller, "com.p", vec!["x".repeat(2000).into()]);
    let invocation = net.recv_one(&callee);
    net.router
        .handle_oversized(net.now, callee.conn, Some(&invocation), 2040);
    net.pump();
    let error = net.recv_one(&caller);
    assert_eq!(
        error_of(&error),
        ("wamp.error.payload_size_exceeded", call, RequestType::Call)
    );
    let Message::Error(e) = &error else {
        unreachable!()
    };
    assert_eq!(
        e.payload.args()[0].as_str(),
        Some("the message is 2040 bytes; the receiving peer accepts at most 1024")
    );
    assert!(!net.is_closed(&callee) && !net.is_closed(&caller));
    // The callee's late answer is dropped quietly: the call is over.
    let Message::Invocation(i) = invocation else {
        panic!("{invocation:?}")
    };
    net.send(&callee, Yield::new(i.request));
    assert!(net.recv(&caller).is_empty());
    assert!(!net.is_closed(&callee));
}

#[test]
fn a_result_too_large_for_the_caller_becomes_an_error() {
    let mut net = Net::realm1();
    let mut callee = net.join();
    let mut caller = net.join();
    net.register(&mut callee, "com.p");
    let call = net.call(&mut caller, "com.p", vec![]);
    let Message::Invocation(i) = net.recv_one(&callee) else {
        panic!()
    };
    net.send(
        &callee,
        Yield::new(i.request).with_args(vec!["y".repeat(5000).into()]),
    );
    let result = net.recv_one(&caller);
    assert!(matches!(result, Message::Result(_)));
    net.router
        .handle_oversized(net.now, caller.conn, Some(&result), 5010);
    net.pump();
    assert_eq!(
        error_of(&net.recv_one(&caller)),
        ("wamp.error.payload_size_exceeded", call, RequestType::Call)
    );
}

#[test]
fn an_event_too_large_is_dropped_and_counted() {
    let mut net = Net::realm1();
    let mut subscriber = net.join();
    let mut publisher = net.join();
    net.subscribe(&mut subscriber, "com.t");
    net.publish(
        &mut publisher,
        "com.t",
        PublishOptions::default(),
        vec!["z".repeat(3000).into()],
    );
    // A fan-out EVENT reaches the driver encoded: it is reported without its message.
    assert!(matches!(net.recv_one(&subscriber), Message::Event(_)));
    net.router
        .handle_oversized(net.now, subscriber.conn, None, 3010);
    net.pump();
    assert!(net.recv(&subscriber).is_empty());
    let stats = net.router.connection_stats(subscriber.conn).unwrap();
    assert_eq!(stats.oversized, 1);
    assert!(!net.is_closed(&subscriber));
}
