//! TLS: wss:// and tcps:// round trips with a private CA, certificate checking, PEM loading.

mod common;

use common::{certificates, listener, run, sample_message};
use futures_util::{SinkExt, StreamExt};
use nexus_core::{Limits, Serializer};
use nexus_transports::{
    accept_rawsocket, accept_websocket, connect_rawsocket, connect_websocket, tls, Endpoint,
    Incoming, Outgoing, ServerConfig, TlsError, TransportKind,
};
use smol::net::TcpStream;

#[test]
fn wss_round_trip() {
    let (ca, chain, key) = certificates();
    let server_tls = tls::server_config_from_pem(chain.as_bytes(), key.as_bytes()).unwrap();
    let client_tls = tls::client_config(Some(ca.as_bytes())).unwrap();
    run(async move {
        let (listener, port) = listener().await;
        let router = smol::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let stream = tls::accept(stream, server_tls).await.unwrap();
            let mut transport = accept_websocket(stream, &ServerConfig::default())
                .await
                .unwrap();
            while let Some(item) = transport.next().await {
                if let Incoming::Message(bytes) = item.unwrap() {
                    transport.send(Outgoing::Message(bytes)).await.unwrap();
                }
            }
        });
        let endpoint = Endpoint::parse("wss://localhost/ws")
            .unwrap()
            .with_port(port);
        assert!(endpoint.is_tls());
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let stream = tls::connect(tcp, endpoint.host().unwrap(), client_tls)
            .await
            .unwrap();
        let mut client = connect_websocket(stream, &endpoint, &[Serializer::MsgPack], 1 << 20)
            .await
            .unwrap();
        assert_eq!(client.kind(), TransportKind::WebSocket);
        let message = sample_message(42);
        let bytes = Serializer::MsgPack.encode(&message).unwrap();
        client.send(Outgoing::Message(bytes)).await.unwrap();
        let Some(Ok(Incoming::Message(echoed))) = client.next().await else {
            panic!("expected the echo")
        };
        assert_eq!(
            Serializer::MsgPack
                .decode(&echoed, &Limits::default())
                .unwrap(),
            message
        );
        client.send(Outgoing::Ping("tls".into())).await.unwrap();
        assert_eq!(
            client.next().await.unwrap().unwrap(),
            Incoming::Pong("tls".into())
        );
        client.close().await.unwrap();
        assert!(client.next().await.is_none());
        router.await;
    });
}

#[test]
fn tcps_round_trip_by_ip_address() {
    let (ca, chain, key) = certificates();
    let server_tls = tls::server_config_from_pem(chain.as_bytes(), key.as_bytes()).unwrap();
    let client_tls = tls::client_config(Some(ca.as_bytes())).unwrap();
    run(async move {
        let (listener, port) = listener().await;
        let router = smol::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let stream = tls::accept(stream, server_tls).await.unwrap();
            let mut transport = accept_rawsocket(stream, &ServerConfig::default())
                .await
                .unwrap();
            let item = transport.next().await.unwrap().unwrap();
            let Incoming::Message(bytes) = item else {
                panic!("expected a message")
            };
            transport.send(Outgoing::Message(bytes)).await.unwrap();
            // Reading on answers the client's PING.
            assert!(transport.next().await.is_none());
        });
        let endpoint = Endpoint::parse("tcps://127.0.0.1:1")
            .unwrap()
            .with_port(port);
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let stream = tls::connect(tcp, endpoint.host().unwrap(), client_tls)
            .await
            .unwrap();
        let mut client = connect_rawsocket(stream, Serializer::Json, 1 << 20)
            .await
            .unwrap();
        let message = sample_message(9);
        let bytes = Serializer::Json.encode(&message).unwrap();
        client.send(Outgoing::Message(bytes.clone())).await.unwrap();
        assert_eq!(
            client.next().await.unwrap().unwrap(),
            Incoming::Message(bytes)
        );
        client
            .send(Outgoing::Ping("12345678".into()))
            .await
            .unwrap();
        assert_eq!(
            client.next().await.unwrap().unwrap(),
            Incoming::Pong("12345678".into())
        );
        client.close().await.unwrap();
        router.await;
    });
}

#[test]
fn an_untrusted_certificate_fails_the_handshake() {
    let (_ca, chain, key) = certificates();
    let server_tls = tls::server_config_from_pem(chain.as_bytes(), key.as_bytes()).unwrap();
    // Only the public roots: the private CA is unknown.
    let client_tls = tls::client_config(None).unwrap();
    run(async move {
        let (listener, port) = listener().await;
        let router = smol::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            tls::accept(stream, server_tls).await.map(|_| ())
        });
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let error = tls::connect(tcp, "localhost", client_tls)
            .await
            .unwrap_err();
        assert!(matches!(error, TlsError::Handshake(_)), "{error}");
        assert!(error.to_string().contains("UnknownIssuer"), "{error}");
        assert!(router.await.is_err());
    });
}

#[test]
fn the_wrong_host_name_fails_the_handshake() {
    let (ca, chain, key) = certificates();
    let server_tls = tls::server_config_from_pem(chain.as_bytes(), key.as_bytes()).unwrap();
    let client_tls = tls::client_config(Some(ca.as_bytes())).unwrap();
    run(async move {
        let (listener, port) = listener().await;
        let router = smol::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            tls::accept(stream, server_tls).await.map(|_| ())
        });
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let error = tls::connect(tcp, "router.example.com", client_tls)
            .await
            .unwrap_err();
        assert!(error.to_string().contains("not valid for name"), "{error}");
        assert!(router.await.is_err());
    });
}

#[test]
fn invalid_server_names_are_refused_before_connecting() {
    let client_tls = tls::client_config(None).unwrap();
    run(async move {
        let (listener, port) = listener().await;
        let _keep = listener;
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let error = tls::connect(tcp, "not a host name", client_tls.clone())
            .await
            .unwrap_err();
        assert!(matches!(error, TlsError::InvalidServerName(_)), "{error}");
        // Bracketed IPv6 literals are accepted as names.
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        drop(_keep);
        let error = tls::connect(tcp, "[::1]", client_tls).await.unwrap_err();
        assert!(!matches!(error, TlsError::InvalidServerName(_)), "{error}");
    });
}

#[test]
fn pem_problems_are_explained() {
    let (ca, chain, key) = certificates();
    let (_, _, other_key) = certificates();
    assert!(matches!(
        tls::server_config_from_pem(b"", key.as_bytes()),
        Err(TlsError::NoCertificate)
    ));
    assert!(matches!(
        tls::server_config_from_pem(chain.as_bytes(), chain.as_bytes()),
        Err(TlsError::NoPrivateKey)
    ));
    let error = tls::server_config_from_pem(chain.as_bytes(), other_key.as_bytes()).unwrap_err();
    assert!(matches!(error, TlsError::Config(_)), "{error}");
    let broken = "-----BEGIN CERTIFICATE-----\nAAAA\n";
    assert!(matches!(
        tls::server_config_from_pem(broken.as_bytes(), key.as_bytes()),
        Err(TlsError::Pem(_))
    ));
    assert!(matches!(
        tls::client_config(Some(b"no pem here")),
        Err(TlsError::NoCertificate)
    ));
    assert!(tls::client_config(Some(ca.as_bytes())).is_ok());
}

#[test]
fn server_config_from_files() {
    let (_ca, chain, key) = certificates();
    let dir = std::env::temp_dir().join(format!("nexus-transports-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, &chain).unwrap();
    std::fs::write(&key_path, &key).unwrap();
    assert!(tls::server_config_from_files(&cert_path, &key_path).is_ok());
    let missing = dir.join("missing.pem");
    let error = tls::server_config_from_files(&missing, &key_path).unwrap_err();
    assert!(matches!(error, TlsError::ReadFile { .. }));
    assert!(error.to_string().contains("missing.pem"), "{error}");
    std::fs::remove_dir_all(&dir).unwrap();
}
