//! The operator's Kubernetes client: kube's own stack (TLS, authentication,
//! extra headers, timeouts, retries), built from kube's public layers so
//! that every request shares one connection.
//!
//! kube's own client speaks HTTP/1.1 only, so each watch holds a TLS
//! connection of its own: the operator held about 35, each with its TLS
//! state and read buffer. This one offers HTTP/2 (ALPN `h2`, as client-go
//! does), which the API server accepts: every watch and request is a
//! stream of one connection, opened by the first request (the CRD check).
//! A server that refuses HTTP/2 gets HTTP/1.1, with each connection's read
//! buffer bounded by [`READ_BUFFER_MAX`] (hyper otherwise grows it to
//! whatever a burst of events fills, up to about 400 KiB, for the
//! connection's life).
//!
//! One shared connection must not die unnoticed, taking every watch with
//! it: it is pinged every [`PING_INTERVAL`] and dropped when a ping is not
//! answered within [`PING_TIMEOUT`] (client-go's health check: 30 s and
//! 15 s); every watch then reconnects.
//!
//! Two limits of HTTP/2 that one connection must stay within:
//! - The API server takes 250 streams at once on a connection: the
//!   operator's watches (about 35) and its reconciles' requests in flight
//!   (each controller's `MAX_CONCURRENT_RECONCILES`) stay far below.
//! - Flow control is shared: data a stream has received and nobody read
//!   holds the connection's window, and enough of it would stall every
//!   other stream. Each watch is read as it arrives (`cache::Shared` hands
//!   changes to controllers, which take their triggers at once), and a
//!   request's answer is read whole by kube.

use std::time::Duration;

use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use kube::client::{Body, ConfigExt, RustlsTlsError, retry::RetryPolicy};
use kube::{Client, Config};
use tower::{BoxError, ServiceBuilder};

/// The most an HTTP/1.1 connection's read buffer holds. A watch event of a
/// wardops child is a few KiB; a larger one is read across several reads.
pub const READ_BUFFER_MAX: usize = 64 * 1024;

/// How often the shared HTTP/2 connection is pinged.
pub const PING_INTERVAL: Duration = Duration::from_secs(30);

/// How long a ping may go unanswered before the connection is dropped.
pub const PING_TIMEOUT: Duration = Duration::from_secs(15);

/// A client for `config`, as kube's `Client::try_from(config)` builds it
/// (same TLS, authentication, headers, timeouts and retries; kube's debug
/// tracing spans aside), offering HTTP/2 as well. A proxy, which this build
/// of kube does not support, gets kube's own answer.
pub fn from_config(config: Config) -> Result<Client, kube::Error> {
    if config.proxy_url.is_some() {
        return Client::try_from(config);
    }
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    let mut tls = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config.rustls_client_config()?)
        .https_or_http();
    if let Some(name) = &config.tls_server_name {
        let name = name
            .clone()
            .try_into()
            .map_err(|e| kube::Error::RustlsTls(RustlsTlsError::InvalidServerName(e)))?;
        tls = tls.with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(name));
    }
    let https = tls.enable_all_versions().wrap_connector(http);
    let mut connector = hyper_timeout::TimeoutConnector::new(https);
    connector.set_connect_timeout(config.connect_timeout);
    connector.set_read_timeout(config.read_timeout);
    connector.set_write_timeout(config.write_timeout);
    connector.set_reset_reader_on_write(config.reset_reader_on_write);
    let hyper = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .timer(TokioTimer::new())
        .http1_max_buf_size(READ_BUFFER_MAX)
        .http2_keep_alive_interval(PING_INTERVAL)
        .http2_keep_alive_timeout(PING_TIMEOUT)
        .build::<_, Body>(connector);
    let retry = config
        .default_retry
        .then(|| tower::retry::RetryLayer::new(RetryPolicy::server_retry()));
    let service = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(retry)
        .option_layer(config.auth_layer()?)
        .layer(config.extra_headers_layer()?)
        .map_err(BoxError::from)
        .service(hyper);
    Ok(Client::new(service, config.default_namespace))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_server::serve;
    use std::sync::Arc;

    #[tokio::test]
    async fn a_body_many_times_the_read_buffer_arrives_whole() {
        let items: Vec<_> = (0..2_000)
            .map(|i| {
                serde_json::json!({
                    "metadata": {"name": format!("cm-{i}"), "namespace": "ward-1"},
                    "data": {"k": "v".repeat(400)},
                })
            })
            .collect();
        let list = serde_json::json!({
            "apiVersion": "v1", "kind": "ConfigMapList", "metadata": {}, "items": items,
        })
        .to_string();
        assert!(
            list.len() > 10 * READ_BUFFER_MAX,
            "the body must outgrow the buffer"
        );
        let (url, _) = serve(list, Duration::ZERO).await;
        let client = from_config(Config::new(url.parse().unwrap())).unwrap();
        let api: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
            kube::Api::namespaced(client, "ward-1");
        let got = api.list(&Default::default()).await.unwrap();
        assert_eq!(got.items.len(), 2_000);
        assert_eq!(got.items[1_999].metadata.name.as_deref(), Some("cm-1999"));
    }

    /// A TLS server on 127.0.0.1 that speaks HTTP/2 only if the client asks
    /// for it (ALPN `h2`), as the API server does. It answers each request
    /// after `delay` with the HTTP version it was made in and the number of
    /// the connection that carried it (1, 2, ...); returns its URL and its
    /// CA (DER).
    async fn serve_h2(delay: Duration) -> (String, Vec<u8>) {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["127.0.0.1".to_string()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .unwrap();
        tls.alpn_protocols = vec![b"h2".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let mut connections = 0;
            while let Ok((tcp, _)) = listener.accept().await {
                connections += 1;
                let connection = connections;
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(stream) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let svc = hyper::service::service_fn(
                        move |req: http::Request<hyper::body::Incoming>| async move {
                            tokio::time::sleep(delay).await;
                            let body = format!("{:?} {connection}", req.version());
                            http::Response::builder()
                                .body(http_body_util::Full::<hyper::body::Bytes>::from(body))
                        },
                    );
                    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        (url, ca_cert.der().to_vec())
    }

    /// The operator's first request (the CRD check) opens the connection;
    /// every watch and request after it, however many at once, shares it.
    #[tokio::test]
    async fn requests_after_the_first_share_its_http2_connection() {
        let (url, ca) = serve_h2(Duration::from_millis(300)).await;
        let mut config = Config::new(url.parse().unwrap());
        config.root_cert = Some(vec![ca]);
        let client = from_config(config).unwrap();
        let get = || client.request_text(http::Request::get("/version").body(Vec::new()).unwrap());
        assert_eq!(get().await.unwrap(), "HTTP/2.0 1");
        let answers = futures::future::join_all((0..32).map(|_| get())).await;
        for answer in answers {
            assert_eq!(answer.unwrap(), "HTTP/2.0 1");
        }
    }

    #[tokio::test]
    async fn the_token_and_extra_headers_are_sent() {
        let (url, seen) = serve(
            r#"{"kind":"Status","status":"Success"}"#.to_string(),
            Duration::ZERO,
        )
        .await;
        let mut config = Config::new(url.parse().unwrap());
        config.auth_info.token = Some("planted-token".to_string().into());
        config.auth_info.impersonate = Some("system:serviceaccount:wardops:wardops".into());
        config.headers.push((
            http::header::USER_AGENT,
            http::HeaderValue::from_static("wardops/test"),
        ));
        let client = from_config(config).unwrap();
        let req = http::Request::get("/version").body(Vec::new()).unwrap();
        let _ = client.request_text(req).await.unwrap();
        let seen = seen.lock().unwrap();
        let (path, headers) = &seen[0];
        assert_eq!(path, "/version");
        assert_eq!(headers["authorization"], "Bearer planted-token");
        assert_eq!(
            headers["impersonate-user"],
            "system:serviceaccount:wardops:wardops"
        );
        assert_eq!(headers["user-agent"], "wardops/test");
    }
}
