//! The operator's Kubernetes client: kube's own stack (TLS, authentication,
//! extra headers, timeouts, retries), built from kube's public layers so
//! that each connection's read buffer is bounded.
//!
//! Each watch is a connection of its own, and hyper grows a connection's
//! read buffer to whatever a burst of events fills, up to about 400 KiB,
//! then keeps it for the connection's life. A first listing of a city is
//! such a burst on every watch at once: after a restart over 1,000
//! WardServices, heaptrack found 5.5 MiB of the operator's heap in these
//! buffers, held until the watches end (README, Performance: Memory).
//! Bounded at [`READ_BUFFER_MAX`], a burst is read in more, smaller reads.

use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use kube::client::{Body, ConfigExt, retry::RetryPolicy};
use kube::{Client, Config};
use tower::{BoxError, ServiceBuilder};

/// The most a connection's read buffer holds. A watch event of a wardops
/// child is a few KiB; a larger one is read across several reads.
pub const READ_BUFFER_MAX: usize = 64 * 1024;

/// A client for `config`, as kube's `Client::try_from(config)` builds it
/// (same TLS, authentication, headers, timeouts and retries; kube's debug
/// tracing spans aside) with [`READ_BUFFER_MAX`]. A proxy, which this build
/// of kube does not support, gets kube's own answer.
pub fn from_config(config: Config) -> Result<Client, kube::Error> {
    if config.proxy_url.is_some() {
        return Client::try_from(config);
    }
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    let https = config.rustls_https_connector_with_connector(http)?;
    let mut connector = hyper_timeout::TimeoutConnector::new(https);
    connector.set_connect_timeout(config.connect_timeout);
    connector.set_read_timeout(config.read_timeout);
    connector.set_write_timeout(config.write_timeout);
    connector.set_reset_reader_on_write(config.reset_reader_on_write);
    let hyper = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .http1_max_buf_size(READ_BUFFER_MAX)
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
    use std::time::Duration;

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
