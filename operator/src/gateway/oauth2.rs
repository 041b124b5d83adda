//! OAuth 2.0 client credentials (RFC 6749 §4.4): a bearer token, cached and
//! refreshed at 80% of its lifetime, in the background and, when none is
//! valid, by the request that needs it.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use http::{HeaderValue, Method, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use serde::Deserialize;

use super::config::{AuthConfig, ClientAuthMethod, GatewayConfig};
use super::credentials::{CredentialError, Credentials, basic_value, read_value};
use super::log::Log;
use super::metrics::GatewayMetrics;

/// Lifetime assumed when the token response has no `expires_in`.
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(300);
/// Largest token response read.
const MAX_TOKEN_RESPONSE: usize = 64 * 1024;

/// Why no token could be obtained. Never quotes the token endpoint's answer,
/// which may echo the client secret.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The credentials (client id, secret, TLS) cannot be loaded.
    #[error("cannot load the OAuth2 client credentials")]
    Credentials(#[source] Arc<CredentialError>),
    /// The token endpoint cannot be reached.
    #[error("cannot reach the OAuth2 token endpoint")]
    Request(#[source] hyper_util::client::legacy::Error),
    /// The token endpoint did not answer in time.
    #[error("the OAuth2 token endpoint did not answer within {0} s")]
    Timeout(u32),
    /// The token endpoint refused.
    #[error(
        "the OAuth2 token endpoint answered HTTP {0} (check clientID, clientSecret and scopes)"
    )]
    Status(u16),
    /// The answer is not a token response.
    #[error("the OAuth2 token endpoint's answer is not a JSON token response with access_token")]
    Response,
    /// The token cannot be sent in a header.
    #[error("the OAuth2 access token holds characters that cannot be sent in an HTTP header")]
    TokenValue,
    /// The token URL is not a URL (validate() refuses this first).
    #[error("auth.tokenUrl is not a URL")]
    TokenUrl,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    expires_in: Option<f64>,
}

#[derive(Clone)]
struct Token {
    value: HeaderValue,
    refresh_at: Instant,
    expires_at: Instant,
}

/// The token cache of `oauth2ClientCredentials`.
pub struct OAuth2 {
    token_url: String,
    client_id_file: PathBuf,
    client_secret_file: PathBuf,
    scopes: Vec<String>,
    client_auth: ClientAuthMethod,
    timeout_seconds: u32,
    token: RwLock<Option<Token>>,
    fetching: tokio::sync::Mutex<()>,
    metrics: Arc<GatewayMetrics>,
    log: Log,
}

impl OAuth2 {
    /// The token cache, when the configuration uses OAuth2.
    pub fn from_config(
        config: &GatewayConfig,
        metrics: Arc<GatewayMetrics>,
        log: Log,
    ) -> Option<Arc<Self>> {
        let AuthConfig::OAuth2ClientCredentials {
            token_url,
            client_id_file,
            client_secret_file,
            scopes,
            client_auth,
        } = &config.auth
        else {
            return None;
        };
        Some(Arc::new(OAuth2 {
            token_url: token_url.clone(),
            client_id_file: client_id_file.clone(),
            client_secret_file: client_secret_file.clone(),
            scopes: scopes.clone(),
            client_auth: *client_auth,
            timeout_seconds: config.timeout_seconds,
            token: RwLock::new(None),
            fetching: tokio::sync::Mutex::new(()),
            metrics,
            log,
        }))
    }

    fn cached(&self) -> Option<Token> {
        self.token.read().ok().and_then(|t| t.clone())
    }

    /// Whether a token that has not expired is held.
    pub fn has_valid_token(&self) -> bool {
        self.cached().is_some_and(|t| Instant::now() < t.expires_at)
    }

    /// Forgets the token (the source refused it), so the next request fetches one.
    pub fn invalidate(&self) {
        if let Ok(mut t) = self.token.write() {
            *t = None;
        }
    }

    /// The `Authorization` value: the cached token until its refresh point,
    /// else a new one; if fetching fails, the old one while it is still valid.
    pub async fn authorization(
        &self,
        credentials: &Credentials,
    ) -> Result<HeaderValue, TokenError> {
        let now = Instant::now();
        if let Some(t) = self.cached()
            && now < t.refresh_at
        {
            return Ok(t.value);
        }
        let _guard = self.fetching.lock().await;
        // Someone else fetched while this request waited.
        let old = self.cached();
        if let Some(t) = &old
            && Instant::now() < t.refresh_at
        {
            return Ok(t.value.clone());
        }
        match self.fetch(credentials).await {
            Ok(t) => Ok(t.value),
            Err(e) => match old {
                Some(t) if Instant::now() < t.expires_at => {
                    self.log.event(
                        "warn",
                        "cannot refresh the OAuth2 token; using the current one until it expires",
                        Some(&e),
                    );
                    Ok(t.value)
                }
                _ => Err(e),
            },
        }
    }

    /// Keeps a fresh token until `stop` turns true: fetches at start, then at
    /// 80% of each token's lifetime, retrying failures with backoff.
    pub async fn refresh_loop(
        self: Arc<Self>,
        credentials: Arc<Credentials>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut backoff = Duration::from_millis(500);
        loop {
            let wait = {
                let _guard = self.fetching.lock().await;
                match self.cached() {
                    Some(t) if Instant::now() < t.refresh_at => t.refresh_at - Instant::now(),
                    _ => match self.fetch(&credentials).await {
                        Ok(t) => {
                            backoff = Duration::from_millis(500);
                            t.refresh_at.saturating_duration_since(Instant::now())
                        }
                        Err(e) => {
                            self.log
                                .event("error", "cannot obtain an OAuth2 token", Some(&e));
                            backoff = (backoff * 2).min(Duration::from_secs(30));
                            backoff
                        }
                    },
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait.max(Duration::from_millis(50))) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }

    async fn fetch(&self, credentials: &Credentials) -> Result<Token, TokenError> {
        let result = self.request(credentials).await;
        self.metrics.token_fetch(result.is_ok());
        if let Ok(t) = &result
            && let Ok(mut slot) = self.token.write()
        {
            *slot = Some(t.clone());
        }
        result
    }

    async fn request(&self, credentials: &Credentials) -> Result<Token, TokenError> {
        let loaded = credentials.get().map_err(TokenError::Credentials)?;
        let client_id =
            read_value(&self.client_id_file).map_err(|e| TokenError::Credentials(Arc::new(e)))?;
        let client_secret = read_value(&self.client_secret_file)
            .map_err(|e| TokenError::Credentials(Arc::new(e)))?;

        // The serializer is not Send: finish it before any await.
        let (form, authorization) = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", "client_credentials");
            if !self.scopes.is_empty() {
                form.append_pair("scope", &self.scopes.join(" "));
            }
            let authorization = match self.client_auth {
                ClientAuthMethod::Basic => {
                    // RFC 6749 §2.3.1: each part form-encoded before basic auth.
                    let enc =
                        |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
                    Some(
                        basic_value(
                            &enc(&client_id),
                            &enc(&client_secret),
                            &self.client_secret_file,
                        )
                        .map_err(|e| TokenError::Credentials(Arc::new(e)))?,
                    )
                }
                ClientAuthMethod::Post => {
                    form.append_pair("client_id", &client_id);
                    form.append_pair("client_secret", &client_secret);
                    None
                }
            };
            (form.finish(), authorization)
        };
        let mut builder = Request::builder()
            .method(Method::POST)
            .uri(
                self.token_url
                    .parse::<Uri>()
                    .map_err(|_| TokenError::TokenUrl)?,
            )
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "application/json");
        if let Some(v) = authorization {
            builder = builder.header(header::AUTHORIZATION, v);
        }
        let request = builder
            .body(Full::new(Bytes::from(form)))
            .map_err(|_| TokenError::TokenUrl)?;

        let timeout = Duration::from_secs(u64::from(self.timeout_seconds));
        let started = Instant::now();
        let response = tokio::time::timeout(timeout, async {
            let response = loaded
                .client
                .request(request)
                .await
                .map_err(TokenError::Request)?;
            let status = response.status();
            let body = Limited::new(response.into_body(), MAX_TOKEN_RESPONSE)
                .collect()
                .await
                .map_err(|_| TokenError::Response)?
                .to_bytes();
            Ok::<_, TokenError>((status, body))
        })
        .await
        .map_err(|_| TokenError::Timeout(self.timeout_seconds))??;
        let (status, body) = response;
        if status != StatusCode::OK {
            return Err(TokenError::Status(status.as_u16()));
        }
        let parsed: TokenResponse =
            serde_json::from_slice(&body).map_err(|_| TokenError::Response)?;
        if parsed
            .token_type
            .as_deref()
            .is_some_and(|t| !t.eq_ignore_ascii_case("bearer"))
            || parsed.access_token.is_empty()
        {
            return Err(TokenError::Response);
        }
        let mut value = HeaderValue::from_str(&format!("Bearer {}", parsed.access_token))
            .map_err(|_| TokenError::TokenValue)?;
        value.set_sensitive(true);
        let lifetime = parsed
            .expires_in
            .filter(|s| s.is_finite() && *s > 0.0)
            .map(|s| Duration::from_secs_f64(s.min(86400.0 * 365.0)))
            .unwrap_or(DEFAULT_TOKEN_LIFETIME);
        Ok(Token {
            value,
            refresh_at: started + lifetime.mul_f64(0.8),
            expires_at: started + lifetime,
        })
    }
}
