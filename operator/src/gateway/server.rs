//! The ward-facing server (proxy or snapshot) and the admin server
//! (`/metrics`, `/healthz`, `/readyz`).

use std::hash::BuildHasher;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderName, HeaderValue, Method, StatusCode, header};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Bytes;

use super::config::{GatewayConfig, GatewayMode};
use super::credentials::Credentials;
use super::errors::Refusal;
use super::headers;
use super::log::{AccessEntry, Log, now_rfc3339};
use super::metrics::{DENIED, GatewayMetrics, INVALID};
use super::oauth2::OAuth2;
use super::path::{self, PathError};
use super::ratelimit::Bucket;
use super::sync::{CURRENT, SnapshotMeta};

/// The header carrying the request id, to the source and back to the ward.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// Sync mode: when the served snapshot was pulled (RFC 3339).
pub const SNAPSHOT_TIME: HeaderName = HeaderName::from_static("x-wardops-snapshot-time");

/// Request ids: 128 bits that look random, unique within the process.
struct RequestIds {
    hasher: std::hash::RandomState,
    counter: AtomicU64,
}

impl RequestIds {
    fn next(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        format!(
            "{:016x}{:016x}",
            self.hasher.hash_one(n),
            self.hasher.hash_one(!n)
        )
    }
}

/// Everything a request needs.
pub(crate) struct App {
    pub(crate) config: Arc<GatewayConfig>,
    base: String,
    methods: Vec<Method>,
    bucket: Bucket,
    pub(crate) credentials: Option<Arc<Credentials>>,
    pub(crate) oauth: Option<Arc<OAuth2>>,
    data_dir: Option<PathBuf>,
    metrics: Arc<GatewayMetrics>,
    log: Log,
    ids: RequestIds,
    timeout: Duration,
}

type Outcome<'a> = (&'a str, Result<Response, Refusal>);

impl App {
    pub(crate) fn new(
        config: Arc<GatewayConfig>,
        data_dir: Option<PathBuf>,
        metrics: Arc<GatewayMetrics>,
        log: Log,
    ) -> Self {
        let (credentials, oauth) = match config.mode {
            // Serving snapshots needs no credentials: the sync job has them.
            GatewayMode::Sync => (None, None),
            GatewayMode::Proxy => (
                Some(Arc::new(Credentials::new(
                    config.clone(),
                    log.clone(),
                    metrics.clone(),
                ))),
                OAuth2::from_config(&config, metrics.clone(), log.clone()),
            ),
        };
        App {
            base: config.source.endpoint.trim_end_matches('/').to_string(),
            methods: config
                .methods
                .iter()
                .filter_map(|m| Method::from_bytes(m.as_bytes()).ok())
                .collect(),
            bucket: Bucket::new(config.rate_limit),
            timeout: Duration::from_secs(u64::from(config.timeout_seconds)),
            credentials,
            oauth,
            data_dir,
            metrics,
            log,
            ids: RequestIds {
                hasher: std::hash::RandomState::new(),
                counter: AtomicU64::new(0),
            },
            config,
        }
    }

    /// The configured name of an allowed dataset.
    fn allowed(&self, dataset: &str) -> Option<&str> {
        self.config
            .datasets
            .iter()
            .find(|d| d.as_str() == dataset)
            .map(String::as_str)
    }

    /// Whether `/readyz` answers 200, and why not.
    fn readiness(&self) -> Result<(), &'static str> {
        if let Some(c) = &self.credentials
            && !c.is_loaded()
        {
            return Err("the source credentials cannot be loaded");
        }
        if let Some(o) = &self.oauth
            && !o.has_valid_token()
        {
            return Err("no OAuth2 token obtained yet");
        }
        Ok(())
    }

    fn checked<'a>(&'a self, raw_path: &str) -> Result<(&'a str, String), (&'a str, Refusal)> {
        match path::check(raw_path) {
            Err(PathError::NoDataset) => Err((INVALID, Refusal::NotFound)),
            Err(PathError::Invalid) => Err((INVALID, Refusal::InvalidPath)),
            Ok(p) => match self.allowed(p.dataset) {
                None => Err((DENIED, Refusal::DatasetNotAllowed)),
                Some(d) => Ok((d, p.rest.to_string())),
            },
        }
    }

    async fn proxy(&self, request: Request, id: &str) -> Outcome<'_> {
        let (parts, body) = request.into_parts();
        let (dataset, rest) = match self.checked(parts.uri.path()) {
            Ok(ok) => ok,
            Err((label, refusal)) => return (label, Err(refusal)),
        };
        (dataset, self.forward(parts, body, dataset, &rest, id).await)
    }

    async fn forward(
        &self,
        parts: http::request::Parts,
        body: Body,
        dataset: &str,
        rest: &str,
        id: &str,
    ) -> Result<Response, Refusal> {
        if !self.methods.contains(&parts.method) {
            return Err(Refusal::MethodNotAllowed);
        }
        let max = self.config.max_body_bytes;
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > max) {
            return Err(Refusal::BodyTooLarge);
        }
        let limit = usize::try_from(max).unwrap_or(usize::MAX);
        let bytes = match Limited::new(body, limit).collect().await {
            Ok(c) => c.to_bytes(),
            Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
                return Err(Refusal::BodyTooLarge);
            }
            Err(_) => return Err(Refusal::BadRequest),
        };

        let Some(credentials) = &self.credentials else {
            return Err(Refusal::CredentialsUnavailable);
        };
        let loaded = credentials
            .get()
            .map_err(|_| Refusal::CredentialsUnavailable)?;
        let bearer = match &self.oauth {
            None => None,
            Some(o) => match o.authorization(credentials).await {
                Ok(v) => Some(v),
                Err(e) => {
                    self.log
                        .event("error", "cannot obtain an OAuth2 token", Some(&e));
                    return Err(Refusal::CredentialsUnavailable);
                }
            },
        };

        // Only requests that will be sent spend the source's budget.
        self.bucket.take().map_err(|wait| Refusal::RateLimited {
            retry_after_seconds: wait.as_secs_f64().ceil().max(1.0) as u64,
        })?;

        let query = parts
            .uri
            .query()
            .map(|q| format!("?{q}"))
            .unwrap_or_default();
        let uri = format!("{}/{dataset}{rest}{query}", self.base);
        let uri: http::Uri = uri.parse().map_err(|_| Refusal::InvalidPath)?;
        let auth_name = loaded.header.as_ref().map(|(n, _)| n);
        let mut out_headers = headers::forwardable_request(parts.headers, auth_name);
        if let Ok(v) = HeaderValue::from_str(id) {
            out_headers.insert(REQUEST_ID, v);
        }
        if let Some((name, value)) = &loaded.header {
            out_headers.insert(name.clone(), value.clone());
        }
        if let Some(v) = bearer {
            out_headers.insert(header::AUTHORIZATION, v);
        }
        let mut upstream = http::Request::new(Full::new(bytes));
        *upstream.method_mut() = parts.method;
        *upstream.uri_mut() = uri;
        *upstream.headers_mut() = out_headers;

        let response =
            match tokio::time::timeout(self.timeout, loaded.client.request(upstream)).await {
                Err(_) => return Err(Refusal::UpstreamTimeout),
                Ok(Err(e)) => {
                    let refusal = if e.is_connect() {
                        Refusal::UpstreamUnreachable
                    } else {
                        Refusal::UpstreamError
                    };
                    self.log
                        .event("warn", "request to the source failed", Some(&e));
                    return Err(refusal);
                }
                Ok(Ok(r)) => r,
            };
        if response.status() == StatusCode::UNAUTHORIZED
            && let Some(o) = &self.oauth
        {
            o.invalidate();
        }
        let (mut parts, incoming) = response.into_parts();
        headers::forwardable_response(&mut parts.headers);
        Ok(Response::from_parts(parts, Body::new(incoming)))
    }

    async fn snapshot(&self, request: Request) -> Outcome<'_> {
        let (dataset, rest) = match self.checked(request.uri().path()) {
            Ok(ok) => ok,
            Err((label, refusal)) => return (label, Err(refusal)),
        };
        let method = request.method();
        if method != Method::GET && method != Method::HEAD {
            return (dataset, Err(Refusal::MethodNotAllowed));
        }
        if !(rest.is_empty() || rest == "/") {
            return (dataset, Err(Refusal::NotFound));
        }
        let head = method == Method::HEAD;
        (dataset, self.serve_file(dataset, head))
    }

    fn serve_file(&self, dataset: &str, head: bool) -> Result<Response, Refusal> {
        let Some(dir) = self.data_dir.as_deref().and_then(current_snapshot) else {
            self.metrics.set_snapshot_age(-1);
            return Err(Refusal::NoSnapshot);
        };
        let meta = SnapshotMeta::read(&dir);
        let file = std::fs::File::open(dir.join(dataset)).map_err(|_| Refusal::NoSnapshot)?;
        let len = file.metadata().map(|m| m.len()).ok();
        let mut response = if head {
            Response::new(Body::empty())
        } else {
            Response::new(file_body(file))
        };
        let h = response.headers_mut();
        let content_type = meta
            .as_ref()
            .and_then(|m| m.content_type(dataset))
            .and_then(|c| HeaderValue::from_str(c).ok())
            .unwrap_or(HeaderValue::from_static("application/octet-stream"));
        h.insert(header::CONTENT_TYPE, content_type);
        if let Some(len) = len {
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        }
        if let Some(m) = &meta {
            if let Ok(v) = HeaderValue::from_str(&m.time) {
                h.insert(SNAPSHOT_TIME, v);
            }
            if let Some(age) = m.age_seconds() {
                self.metrics.set_snapshot_age(age);
            }
        }
        Ok(response)
    }
}

/// The snapshot directory `<data-dir>/current` points to, if any.
pub(crate) fn current_snapshot(data_dir: &Path) -> Option<PathBuf> {
    let target = std::fs::read_link(data_dir.join(CURRENT)).ok()?;
    let dir = data_dir.join(target);
    dir.is_dir().then_some(dir)
}

/// A file's content, read on a blocking thread in 64 KiB chunks.
fn file_body(mut file: std::fs::File) -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::task::spawn_blocking(move || {
        loop {
            let mut buf = vec![0u8; 64 * 1024];
            match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    buf.truncate(n);
                    if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                        break;
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    break;
                }
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Body::from_stream(stream)
}

async fn handle(State(app): State<Arc<App>>, request: Request) -> Response {
    let started = Instant::now();
    let time = now_rfc3339();
    let id = app.ids.next();
    let method = request.method().clone();
    let (dataset, result) = match app.config.mode {
        GatewayMode::Proxy => app.proxy(request, &id).await,
        GatewayMode::Sync => app.snapshot(request).await,
    };
    let (mut response, error) = match result {
        Ok(r) => (r, None),
        Err(refusal) => (refusal.response(&id), Some(refusal.code())),
    };
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, v);
    }
    let seconds = started.elapsed().as_secs_f64();
    let status = response.status().as_u16();
    app.metrics.request(dataset, status, seconds);
    app.log.access(&AccessEntry {
        time,
        kind: "access",
        request_id: &id,
        dataset,
        method: method.as_str(),
        status,
        duration_ms: (seconds * 1_000_000.0).round() / 1000.0,
        error,
    });
    response
}

/// The ward-facing router: every path goes to the one handler.
pub(crate) fn router(app: Arc<App>) -> Router {
    Router::new().fallback(handle).with_state(app)
}

async fn metrics(State(app): State<Arc<App>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        app.metrics.encode(),
    )
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(app): State<Arc<App>>) -> Response {
    match app.readiness() {
        Ok(()) => (StatusCode::OK, "ok").into_response(),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, why).into_response(),
    }
}

/// The admin router.
pub(crate) fn admin_router(app: Arc<App>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(app)
}
