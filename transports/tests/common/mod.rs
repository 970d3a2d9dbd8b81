//! Helpers shared by the integration tests: loopback sockets, timeouts, certificates.

#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

use nexus_core::message::{Call, Message};
use nexus_core::{args, kwargs, RequestId, Uri, Value};
use smol::future::FutureExt;
use smol::net::{TcpListener, TcpStream};

/// How long any single wait may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(20);

/// Runs `future` to completion, failing the test if it takes longer than [`WAIT`].
pub fn run<T>(future: impl Future<Output = T>) -> T {
    smol::block_on(within(future))
}

/// Awaits `future`, failing the test if it takes longer than [`WAIT`].
pub async fn within<T>(future: impl Future<Output = T>) -> T {
    future
        .or(async {
            smol::Timer::after(WAIT).await;
            panic!("timed out after {WAIT:?}")
        })
        .await
}

/// A listener on 127.0.0.1 with an OS-chosen port.
pub async fn listener() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

/// A connected TCP pair over loopback: (client, server).
pub async fn tcp_pair() -> (TcpStream, TcpStream) {
    let (listener, port) = listener().await;
    let (client, accepted) =
        smol::future::zip(TcpStream::connect(("127.0.0.1", port)), listener.accept()).await;
    (client.unwrap(), accepted.unwrap().0)
}

/// A WAMP CALL with a binary argument, so every serializer's binary handling is exercised.
pub fn sample_message(n: u64) -> Message {
    Message::Call(
        Call::new(
            RequestId::new(n).unwrap(),
            Uri::parse("com.example.echo").unwrap(),
        )
        .with_args(args!["hello", n, Value::Bytes(vec![0, 1, 2, 255].into())])
        .with_kwargs(kwargs! { "ok" => true }),
    )
}

/// A CA and a server certificate for `localhost` and 127.0.0.1 signed by it:
/// (CA certificate PEM, server chain PEM, server key PEM).
pub fn certificates() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "nexus test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let server_key = KeyPair::generate().unwrap();
    let server_params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let server_cert = server_params.signed_by(&server_key, &issuer).unwrap();
    (ca_cert.pem(), server_cert.pem(), server_key.serialize_pem())
}
