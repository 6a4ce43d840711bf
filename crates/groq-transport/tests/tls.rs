//! The HTTPS path: `HyperTransport` against a local rustls server with a freshly generated
//! self-signed certificate for `localhost`.

mod support;

use std::sync::Arc;

use bytes::Bytes;
use groq_transport::{Body, HyperTransport, TlsRoots, Transport};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use support::{TestServer, handler, serve_with};
use tokio_rustls::TlsAcceptor;

struct Tls {
    cert_der: Vec<u8>,
    cert_pem: String,
    acceptor: TlsAcceptor,
}

fn tls(alpn: &[&[u8]]) -> Tls {
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(signing_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], key)
        .unwrap();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Tls {
        cert_der: cert.der().to_vec(),
        cert_pem: cert.pem(),
        acceptor: TlsAcceptor::from(Arc::new(config)),
    }
}

async fn serve_https(acceptor: TlsAcceptor) -> TestServer {
    let reply = handler(|request: http::Request<hyper::body::Incoming>| async move {
        http::Response::new(Body::from(format!("{:?}", request.version())))
    });
    serve_with(reply, move |stream| {
        let acceptor = acceptor.clone();
        async move { acceptor.accept(stream).await.ok() }
    })
    .await
}

fn get(server: &TestServer) -> http::Request<Bytes> {
    let url = format!("https://localhost:{}/openai/v1/models", server.addr.port());
    http::Request::get(url)
        .header("authorization", "Bearer gsk_tls")
        .body(Bytes::new())
        .unwrap()
}

#[tokio::test]
async fn https_with_an_added_root_negotiates_http2() {
    let tls = tls(&[b"h2", b"http/1.1"]);
    let server = serve_https(tls.acceptor.clone()).await;
    let transport = HyperTransport::builder()
        .tls_roots(TlsRoots::CustomOnly)
        .add_root_certificate_der(tls.cert_der.clone())
        .build()
        .unwrap();
    for _ in 0..3 {
        let response = transport.send(get(&server)).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.version(), http::Version::HTTP_2);
        let body = response.into_body().collect_bytes(64).await.unwrap();
        assert_eq!(&body[..], b"HTTP/2.0");
    }
    assert_eq!(
        server.connections(),
        1,
        "HTTP/2 multiplexes on one connection"
    );
}

#[tokio::test]
async fn https_falls_back_to_http1_and_accepts_pem_roots() {
    let tls = tls(&[b"http/1.1"]);
    let server = serve_https(tls.acceptor.clone()).await;
    let transport = HyperTransport::builder()
        .add_root_certificates_pem(tls.cert_pem.clone())
        .build()
        .unwrap();
    let response = transport.send(get(&server)).await.unwrap();
    assert_eq!(response.version(), http::Version::HTTP_11);
    let body = response.into_body().collect_bytes(64).await.unwrap();
    assert_eq!(&body[..], b"HTTP/1.1");
}

#[tokio::test]
async fn an_untrusted_certificate_is_a_tls_error_not_worth_retrying() {
    let tls = tls(&[b"h2", b"http/1.1"]);
    let server = serve_https(tls.acceptor.clone()).await;
    let transport = HyperTransport::builder().build().unwrap();
    let err = transport.send(get(&server)).await.unwrap_err();
    assert!(
        err.is_tls() && err.is_connect() && !err.is_retryable(),
        "{err:?}"
    );
    assert!(!format!("{err} {err:?}").contains("gsk_tls"));
}
