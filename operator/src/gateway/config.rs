//! The gateway's configuration: what the DataConnector controller writes into
//! the connector's ConfigMap (JSON or YAML), and `GatewayConfig::validate`.
//!
//! The configuration holds file paths, never credential values: the controller
//! mounts the connector's credentials Secret into the gateway pod only, and
//! names here where each key is mounted.

use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::api::data_connector::SourceKind;

/// Secret keys the gateway expects, per auth mode. The controller mounts each
/// key as a file and writes its path into [`AuthConfig`].
pub mod secret_keys {
    /// `apiKey` mode: the API key.
    pub const API_KEY: &str = "apiKey";
    /// `basic` mode: the user name.
    pub const USERNAME: &str = "username";
    /// `basic` mode: the password.
    pub const PASSWORD: &str = "password";
    /// `oauth2ClientCredentials` mode: the client id.
    pub const CLIENT_ID: &str = "clientID";
    /// `oauth2ClientCredentials` mode: the client secret.
    pub const CLIENT_SECRET: &str = "clientSecret";
    /// `mTLS` mode: the client certificate chain (PEM).
    pub const TLS_CRT: &str = "tls.crt";
    /// `mTLS` mode: the client private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub const TLS_KEY: &str = "tls.key";
    /// Any mode: the CA bundle (PEM) that signs the source's certificate.
    pub const CA_CRT: &str = "ca.crt";
}

/// Default port the ward's pods call.
pub const DEFAULT_LISTEN_PORT: u16 = 8080;
/// Default port of `/metrics`, `/healthz` and `/readyz`.
pub const DEFAULT_ADMIN_PORT: u16 = 9090;
/// Default largest request body forwarded: 1 MiB.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 1024 * 1024;
/// Largest `maxBodyBytes` accepted: 64 MiB (the gateway buffers request bodies).
pub const MAX_MAX_BODY_BYTES: u64 = 64 * 1024 * 1024;
/// Default time the source has to answer with response headers.
pub const DEFAULT_TIMEOUT_SECONDS: u32 = 30;
/// Default time one dataset pull may take in sync mode.
pub const DEFAULT_SYNC_TIMEOUT_SECONDS: u32 = 600;
/// Default header of `apiKey` mode.
pub const DEFAULT_API_KEY_HEADER: &str = "X-API-Key";
/// Default sustained request rate towards the source.
pub const DEFAULT_REQUESTS_PER_SECOND: u32 = 50;
/// Default burst above the sustained rate.
pub const DEFAULT_BURST: u32 = 100;
/// Most datasets a connector may allow (as the DataConnector CRD).
pub const MAX_DATASETS: usize = 64;
/// Longest dataset name (as the DataConnector CRD).
pub const MAX_DATASET_LENGTH: usize = 63;

/// Configuration of `wardops gateway` and `wardops gateway sync`.
///
/// ```yaml
/// source:
///   kind: population
///   endpoint: https://dancu.haiphong.gov.vn/api
///   caFile: /var/run/secrets/wardops/source/ca.crt
/// datasets: [citizens, households]
/// mode: proxy
/// auth:
///   type: apiKey
///   keyFile: /var/run/secrets/wardops/source/apiKey
/// rateLimit: {requestsPerSecond: 50, burst: 100}
/// ```
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GatewayConfig {
    /// The city data source.
    pub source: SourceConfig,

    /// The datasets the ward may read (the allow-list): the first path
    /// segment of a request, matched exactly. Anything else is refused (403).
    pub datasets: Vec<String>,

    /// `proxy` (forward each request live) or `sync` (serve the last complete
    /// snapshot that `wardops gateway sync` pulled).
    #[serde(default)]
    pub mode: GatewayMode,

    /// How the gateway authenticates to the source.
    #[serde(default)]
    pub auth: AuthConfig,

    /// Address both listeners bind; default all IPv4 addresses.
    #[serde(default = "default_listen_address")]
    pub listen_address: IpAddr,

    /// Port the ward's pods call (default 8080).
    #[serde(default = "default_listen_port")]
    pub listen_port: u16,

    /// Port of `/metrics`, `/healthz` and `/readyz` (default 9090), apart from
    /// the ward's port so that no dataset name is reserved.
    #[serde(default = "default_admin_port")]
    pub admin_port: u16,

    /// Largest request body forwarded, in bytes (default 1 MiB); larger is 413.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: u64,

    /// Seconds the source has to answer with response headers (default 30);
    /// later is 504. Also the connect timeout.
    #[serde(default = "default_timeout_seconds")]
    pub timeout_seconds: u32,

    /// Seconds one dataset pull may take in sync mode, body included (default 600).
    #[serde(default = "default_sync_timeout_seconds")]
    pub sync_timeout_seconds: u32,

    /// Request methods forwarded (default `GET`, `HEAD`); others are 405.
    /// Sync mode serves `GET` and `HEAD` only.
    #[serde(default = "default_methods")]
    pub methods: Vec<String>,

    /// The rate the gateway sends requests to the source at most, to protect
    /// the registry; past it the ward gets 429.
    #[serde(default)]
    pub rate_limit: RateLimit,
}

/// Where the gateway reads from.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SourceConfig {
    /// Kind of source (informational: logs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<SourceKind>,

    /// Base URL of the source API, `http://` or `https://`, optionally with a
    /// path (`https://dancu.haiphong.gov.vn/api`); no credentials, query or
    /// fragment. A request for `/<dataset>/<rest>` goes to
    /// `<endpoint>/<dataset>/<rest>`.
    pub endpoint: String,

    /// CA bundle (PEM, Secret key `ca.crt`) that signs the source's
    /// certificate. When set, only it is trusted; else the system's roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
}

/// How a connector moves data.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum GatewayMode {
    /// Forward each request to the source.
    #[default]
    Proxy,
    /// Serve the last complete snapshot from `--data-dir`.
    Sync,
}

/// How the gateway authenticates to the source. Every credential is a file
/// (a key of the connector's credentials Secret, mounted into the gateway
/// only), re-read when it changes: rotating the Secret needs no restart.
/// Values are trimmed of surrounding whitespace (a trailing newline).
///
/// Secret keys per mode (see [`secret_keys`]):
///
/// | `type` | Secret keys |
/// | --- | --- |
/// | `none` | none |
/// | `apiKey` | `apiKey` |
/// | `basic` | `username`, `password` |
/// | `oauth2ClientCredentials` | `clientID`, `clientSecret` |
/// | `mTLS` | `tls.crt`, `tls.key` |
///
/// and, in any mode, `ca.crt` for [`SourceConfig::ca_file`].
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum AuthConfig {
    /// No authentication (a source reachable only through the network policy).
    #[default]
    #[serde(rename = "none")]
    None,

    /// An API key sent in a header on every request.
    #[serde(rename = "apiKey", rename_all = "camelCase")]
    ApiKey {
        /// The header (default `X-API-Key`).
        #[serde(default = "default_api_key_header")]
        header: String,
        /// File holding the key (Secret key `apiKey`).
        key_file: PathBuf,
    },

    /// HTTP basic authentication.
    #[serde(rename = "basic", rename_all = "camelCase")]
    Basic {
        /// File holding the user name (Secret key `username`).
        username_file: PathBuf,
        /// File holding the password (Secret key `password`).
        password_file: PathBuf,
    },

    /// OAuth 2.0 client credentials grant (RFC 6749 §4.4): a bearer token
    /// from `tokenUrl`, cached and refreshed at 80% of its lifetime.
    #[serde(rename = "oauth2ClientCredentials", rename_all = "camelCase")]
    OAuth2ClientCredentials {
        /// Token endpoint, `https://` (or `http://` inside the cluster).
        token_url: String,
        /// File holding the client id (Secret key `clientID`).
        client_id_file: PathBuf,
        /// File holding the client secret (Secret key `clientSecret`).
        client_secret_file: PathBuf,
        /// Scopes requested; none when empty.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        scopes: Vec<String>,
        /// How the client authenticates to the token endpoint (default `basic`).
        #[serde(default)]
        client_auth: ClientAuthMethod,
    },

    /// A TLS client certificate (mutual TLS).
    #[serde(rename = "mTLS", rename_all = "camelCase")]
    MTls {
        /// Client certificate chain, PEM (Secret key `tls.crt`).
        cert_file: PathBuf,
        /// Its private key, PEM (Secret key `tls.key`).
        key_file: PathBuf,
    },
}

impl AuthConfig {
    /// The Secret keys this mode needs (without `ca.crt`).
    pub fn secret_keys(&self) -> &'static [&'static str] {
        use secret_keys::*;
        match self {
            AuthConfig::None => &[],
            AuthConfig::ApiKey { .. } => &[API_KEY],
            AuthConfig::Basic { .. } => &[USERNAME, PASSWORD],
            AuthConfig::OAuth2ClientCredentials { .. } => &[CLIENT_ID, CLIENT_SECRET],
            AuthConfig::MTls { .. } => &[TLS_CRT, TLS_KEY],
        }
    }

    /// The configuration of this mode with every Secret key mounted as a file
    /// under `dir` (a Secret volume), named after the key.
    pub fn mounted(mode: AuthMode, dir: &Path) -> Self {
        use secret_keys::*;
        match mode {
            AuthMode::None => AuthConfig::None,
            AuthMode::ApiKey { header } => AuthConfig::ApiKey {
                header,
                key_file: dir.join(API_KEY),
            },
            AuthMode::Basic => AuthConfig::Basic {
                username_file: dir.join(USERNAME),
                password_file: dir.join(PASSWORD),
            },
            AuthMode::OAuth2ClientCredentials {
                token_url,
                scopes,
                client_auth,
            } => AuthConfig::OAuth2ClientCredentials {
                token_url,
                client_id_file: dir.join(CLIENT_ID),
                client_secret_file: dir.join(CLIENT_SECRET),
                scopes,
                client_auth,
            },
            AuthMode::MTls => AuthConfig::MTls {
                cert_file: dir.join(TLS_CRT),
                key_file: dir.join(TLS_KEY),
            },
        }
    }

    /// The mode's name as written in `type`.
    pub fn type_name(&self) -> &'static str {
        match self {
            AuthConfig::None => "none",
            AuthConfig::ApiKey { .. } => "apiKey",
            AuthConfig::Basic { .. } => "basic",
            AuthConfig::OAuth2ClientCredentials { .. } => "oauth2ClientCredentials",
            AuthConfig::MTls { .. } => "mTLS",
        }
    }
}

/// An auth mode without file paths, for [`AuthConfig::mounted`].
#[derive(Clone, Debug, PartialEq)]
pub enum AuthMode {
    /// `none`.
    None,
    /// `apiKey` with this header.
    ApiKey {
        /// The header, usually [`DEFAULT_API_KEY_HEADER`].
        header: String,
    },
    /// `basic`.
    Basic,
    /// `oauth2ClientCredentials`.
    OAuth2ClientCredentials {
        /// Token endpoint.
        token_url: String,
        /// Scopes requested.
        scopes: Vec<String>,
        /// Client authentication at the token endpoint.
        client_auth: ClientAuthMethod,
    },
    /// `mTLS`.
    MTls,
}

/// How an OAuth2 client authenticates to the token endpoint.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum ClientAuthMethod {
    /// `client_secret_basic`: HTTP basic authentication.
    #[default]
    Basic,
    /// `client_secret_post`: `client_id` and `client_secret` in the form body.
    Post,
}

/// The most requests per second the gateway sends to the source.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RateLimit {
    /// Sustained rate (default 50).
    pub requests_per_second: u32,
    /// Requests allowed at once above the rate, after a quiet spell (default 100).
    pub burst: u32,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            requests_per_second: DEFAULT_REQUESTS_PER_SECOND,
            burst: DEFAULT_BURST,
        }
    }
}

fn default_listen_address() -> IpAddr {
    IpAddr::V4(Ipv4Addr::UNSPECIFIED)
}
fn default_listen_port() -> u16 {
    DEFAULT_LISTEN_PORT
}
fn default_admin_port() -> u16 {
    DEFAULT_ADMIN_PORT
}
fn default_max_body_bytes() -> u64 {
    DEFAULT_MAX_BODY_BYTES
}
fn default_timeout_seconds() -> u32 {
    DEFAULT_TIMEOUT_SECONDS
}
fn default_sync_timeout_seconds() -> u32 {
    DEFAULT_SYNC_TIMEOUT_SECONDS
}
fn default_methods() -> Vec<String> {
    vec!["GET".to_string(), "HEAD".to_string()]
}
fn default_api_key_header() -> String {
    DEFAULT_API_KEY_HEADER.to_string()
}

/// Methods `methods` may list.
pub const FORWARDABLE_METHODS: &[&str] =
    &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// Headers an API key may not be sent in: the connection's own headers.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "content-type",
    "cookie",
    "x-request-id",
];

/// Why a configuration file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read gateway configuration {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is neither JSON nor YAML of a `GatewayConfig`.
    #[error("gateway configuration {} is not valid", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_yaml::Error,
    },
    /// The configuration parsed but some fields are wrong.
    #[error("gateway configuration: {0}")]
    Invalid(FieldErrors),
}

/// One wrong field: its path (`source.endpoint`, `datasets[2]`) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Path of the field, as written in the file.
    pub field: String,
    /// What is wrong and what is expected.
    pub message: String,
}

/// Every wrong field of a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldErrors(pub Vec<FieldError>);

impl fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", e.field, e.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for FieldErrors {}

impl FieldErrors {
    /// The fields that are wrong.
    pub fn fields(&self) -> Vec<&str> {
        self.0.iter().map(|e| e.field.as_str()).collect()
    }
}

/// Whether `name` is a dataset name the DataConnector CRD accepts:
/// `^[a-z0-9]([-_.a-z0-9]*[a-z0-9])?$`, at most 63 characters.
pub fn is_dataset_name(name: &str) -> bool {
    let b = name.as_bytes();
    let edge = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    !b.is_empty()
        && b.len() <= MAX_DATASET_LENGTH
        && b.first().is_some_and(edge)
        && b.last().is_some_and(edge)
        && b.iter().all(|c| edge(c) || matches!(c, b'-' | b'_' | b'.'))
}

/// Why a URL is not a usable base URL, if it is not.
fn url_problem(url: &str) -> Option<&'static str> {
    let uri: http::Uri = match url.parse() {
        Ok(u) => u,
        Err(_) => return Some("must be an http:// or https:// URL"),
    };
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => return Some("must be an http:// or https:// URL"),
    }
    let Some(authority) = uri.authority() else {
        return Some("must name a host");
    };
    if authority.as_str().contains('@') {
        return Some("must not hold credentials (user:password@); use auth instead");
    }
    if authority.host().is_empty() {
        return Some("must name a host");
    }
    if uri.query().is_some() || url.contains('#') {
        return Some("must have no query string or fragment");
    }
    None
}

impl GatewayConfig {
    /// A configuration with every default, for this source and datasets.
    pub fn new(endpoint: impl Into<String>, datasets: Vec<String>) -> Self {
        GatewayConfig {
            source: SourceConfig {
                kind: None,
                endpoint: endpoint.into(),
                ca_file: None,
            },
            datasets,
            mode: GatewayMode::default(),
            auth: AuthConfig::default(),
            listen_address: default_listen_address(),
            listen_port: DEFAULT_LISTEN_PORT,
            admin_port: DEFAULT_ADMIN_PORT,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            timeout_seconds: DEFAULT_TIMEOUT_SECONDS,
            sync_timeout_seconds: DEFAULT_SYNC_TIMEOUT_SECONDS,
            methods: default_methods(),
            rate_limit: RateLimit::default(),
        }
    }

    /// Reads and validates a JSON or YAML file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text).map_err(|e| match e {
            ConfigError::Parse { source, .. } => ConfigError::Parse {
                path: path.to_path_buf(),
                source,
            },
            other => other,
        })
    }

    /// Parses and validates JSON or YAML text.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        // YAML is a superset of JSON: one parser reads both.
        let config: GatewayConfig =
            serde_yaml::from_str(text).map_err(|source| ConfigError::Parse {
                path: PathBuf::from("<text>"),
                source,
            })?;
        config.validate().map_err(ConfigError::Invalid)?;
        Ok(config)
    }

    /// Checks every field; all problems at once, each named by its field.
    pub fn validate(&self) -> Result<(), FieldErrors> {
        let mut errors = Vec::new();
        let mut bad = |field: String, message: String| errors.push(FieldError { field, message });

        if let Some(p) = url_problem(&self.source.endpoint) {
            bad(
                "source.endpoint".into(),
                format!("{p}, e.g. https://dancu.haiphong.gov.vn/api"),
            );
        }
        if let Some(ca) = &self.source.ca_file {
            check_path(ca, "source.caFile", &mut bad);
        }

        if self.datasets.is_empty() {
            bad("datasets".into(), "must list at least one dataset".into());
        }
        if self.datasets.len() > MAX_DATASETS {
            bad(
                "datasets".into(),
                format!("at most {MAX_DATASETS} datasets"),
            );
        }
        let mut seen = BTreeSet::new();
        for (i, d) in self.datasets.iter().enumerate() {
            if !is_dataset_name(d) {
                bad(
                    format!("datasets[{i}]"),
                    format!(
                        "must be 1 to {MAX_DATASET_LENGTH} lowercase letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
                    ),
                );
            } else if !seen.insert(d.as_str()) {
                bad(format!("datasets[{i}]"), format!("`{d}` is listed twice"));
            }
        }

        match &self.auth {
            AuthConfig::None => {}
            AuthConfig::ApiKey { header, key_file } => {
                match http::HeaderName::from_bytes(header.as_bytes()) {
                    Err(_) => bad(
                        "auth.header".into(),
                        "must be an HTTP header name, e.g. X-API-Key".into(),
                    ),
                    Ok(h) => {
                        if RESERVED_HEADERS.contains(&h.as_str())
                            || super::headers::is_hop_by_hop(&h)
                        {
                            bad(
                                "auth.header".into(),
                                format!(
                                    "`{header}` is a header the gateway sets itself; use e.g. X-API-Key"
                                ),
                            );
                        }
                    }
                }
                check_path(key_file, "auth.keyFile", &mut bad);
            }
            AuthConfig::Basic {
                username_file,
                password_file,
            } => {
                check_path(username_file, "auth.usernameFile", &mut bad);
                check_path(password_file, "auth.passwordFile", &mut bad);
            }
            AuthConfig::OAuth2ClientCredentials {
                token_url,
                client_id_file,
                client_secret_file,
                scopes,
                ..
            } => {
                if let Some(p) = url_problem(token_url) {
                    bad(
                        "auth.tokenUrl".into(),
                        format!("{p}, e.g. https://sso.haiphong.gov.vn/oauth2/token"),
                    );
                }
                check_path(client_id_file, "auth.clientIdFile", &mut bad);
                check_path(client_secret_file, "auth.clientSecretFile", &mut bad);
                for (i, s) in scopes.iter().enumerate() {
                    // RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
                    let ok = !s.is_empty()
                        && s.bytes().all(|c| {
                            c == 0x21 || (0x23..=0x5b).contains(&c) || (0x5d..=0x7e).contains(&c)
                        });
                    if !ok {
                        bad(
                            format!("auth.scopes[{i}]"),
                            "must be one scope: printable ASCII, no space, quote or backslash"
                                .into(),
                        );
                    }
                }
            }
            AuthConfig::MTls {
                cert_file,
                key_file,
            } => {
                check_path(cert_file, "auth.certFile", &mut bad);
                check_path(key_file, "auth.keyFile", &mut bad);
                if self.source.endpoint.starts_with("http://") {
                    bad(
                        "auth".into(),
                        "mTLS needs an https:// source.endpoint".into(),
                    );
                }
            }
        }

        if self.listen_port != 0 && self.listen_port == self.admin_port {
            bad(
                "adminPort".into(),
                format!("must differ from listenPort ({})", self.listen_port),
            );
        }
        if self.max_body_bytes == 0 || self.max_body_bytes > MAX_MAX_BODY_BYTES {
            bad(
                "maxBodyBytes".into(),
                format!("must be between 1 and {MAX_MAX_BODY_BYTES}"),
            );
        }
        if !(1..=3600).contains(&self.timeout_seconds) {
            bad("timeoutSeconds".into(), "must be between 1 and 3600".into());
        }
        if !(1..=86400).contains(&self.sync_timeout_seconds) {
            bad(
                "syncTimeoutSeconds".into(),
                "must be between 1 and 86400".into(),
            );
        }
        if self.methods.is_empty() {
            bad(
                "methods".into(),
                "must list at least one method, e.g. GET".into(),
            );
        }
        for (i, m) in self.methods.iter().enumerate() {
            if !FORWARDABLE_METHODS.contains(&m.as_str()) {
                bad(
                    format!("methods[{i}]"),
                    format!("must be one of {}", FORWARDABLE_METHODS.join(", ")),
                );
            }
        }
        if self.rate_limit.requests_per_second == 0 {
            bad(
                "rateLimit.requestsPerSecond".into(),
                "must be at least 1".into(),
            );
        }
        if self.rate_limit.burst == 0 {
            bad("rateLimit.burst".into(), "must be at least 1".into());
        }

        if errors.is_empty() {
            Ok(())
        } else {
            Err(FieldErrors(errors))
        }
    }

    /// Every credential file this configuration reads (CA included).
    pub fn credential_files(&self) -> Vec<&Path> {
        let mut out: Vec<&Path> = Vec::new();
        if let Some(ca) = &self.source.ca_file {
            out.push(ca);
        }
        match &self.auth {
            AuthConfig::None => {}
            AuthConfig::ApiKey { key_file, .. } => out.push(key_file),
            AuthConfig::Basic {
                username_file,
                password_file,
            } => {
                out.push(username_file);
                out.push(password_file);
            }
            AuthConfig::OAuth2ClientCredentials {
                client_id_file,
                client_secret_file,
                ..
            } => {
                out.push(client_id_file);
                out.push(client_secret_file);
            }
            AuthConfig::MTls {
                cert_file,
                key_file,
            } => {
                out.push(cert_file);
                out.push(key_file);
            }
        }
        out
    }
}

fn check_path(path: &Path, field: &str, bad: &mut impl FnMut(String, String)) {
    if !path.is_absolute() {
        bad(
            field.to_string(),
            format!(
                "must be an absolute path (where the Secret key is mounted), not `{}`",
                path.display()
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> GatewayConfig {
        GatewayConfig::new("https://dancu.example/api", vec!["citizens".into()])
    }

    #[test]
    fn yaml_with_defaults() {
        let c = GatewayConfig::parse(
            "source: {endpoint: 'https://dancu.example/api', kind: population}\n\
             datasets: [citizens, households]\n\
             auth: {type: apiKey, keyFile: /s/apiKey}\n",
        )
        .unwrap();
        assert_eq!(c.listen_port, 8080);
        assert_eq!(c.admin_port, 9090);
        assert_eq!(c.mode, GatewayMode::Proxy);
        assert_eq!(
            c.rate_limit,
            RateLimit {
                requests_per_second: 50,
                burst: 100
            }
        );
        assert_eq!(
            c.auth,
            AuthConfig::ApiKey {
                header: "X-API-Key".into(),
                key_file: "/s/apiKey".into()
            }
        );
    }

    #[test]
    fn json_round_trip_of_every_auth_mode() {
        let dir = Path::new("/var/run/secrets/wardops/source");
        for mode in [
            AuthMode::None,
            AuthMode::ApiKey {
                header: "X-Key".into(),
            },
            AuthMode::Basic,
            AuthMode::OAuth2ClientCredentials {
                token_url: "https://sso.example/token".into(),
                scopes: vec!["registry.read".into()],
                client_auth: ClientAuthMethod::Post,
            },
            AuthMode::MTls,
        ] {
            let mut c = base();
            c.auth = AuthConfig::mounted(mode, dir);
            let json = serde_json::to_string(&c).unwrap();
            let back = GatewayConfig::parse(&json).unwrap();
            assert_eq!(back, c, "{json}");
        }
        let json = serde_json::to_value(AuthConfig::mounted(AuthMode::MTls, dir)).unwrap();
        assert_eq!(json["type"], "mTLS");
        assert_eq!(json["certFile"], "/var/run/secrets/wardops/source/tls.crt");
        let json = serde_json::to_value(AuthConfig::mounted(AuthMode::Basic, dir)).unwrap();
        assert_eq!(json["type"], "basic");
        assert_eq!(
            json["passwordFile"],
            "/var/run/secrets/wardops/source/password"
        );
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = GatewayConfig::parse(
            "source: {endpoint: 'https://x.example'}\ndatasets: [a]\nratelimit: {}\n",
        )
        .unwrap_err();
        assert!(matches!(err, ConfigError::Parse { .. }), "{err}");
        let err = GatewayConfig::parse(
            "source: {endpoint: 'https://x.example'}\ndatasets: [a]\nauth: {type: apiKey, keyFile: /k, password: x}\n",
        )
        .unwrap_err();
        assert!(matches!(err, ConfigError::Parse { .. }), "{err}");
    }

    #[test]
    fn validate_names_every_wrong_field() {
        let mut c = base();
        c.source.endpoint = "ftp://user:pw@x".into();
        c.datasets = vec!["ok".into(), "../etc".into(), "ok".into(), "Upper".into()];
        c.auth = AuthConfig::ApiKey {
            header: "Connection".into(),
            key_file: "relative/key".into(),
        };
        c.admin_port = c.listen_port;
        c.max_body_bytes = 0;
        c.timeout_seconds = 0;
        c.methods = vec!["TRACE".into()];
        c.rate_limit.requests_per_second = 0;
        let e = c.validate().unwrap_err();
        assert_eq!(
            e.fields(),
            vec![
                "source.endpoint",
                "datasets[1]",
                "datasets[2]",
                "datasets[3]",
                "auth.header",
                "auth.keyFile",
                "adminPort",
                "maxBodyBytes",
                "timeoutSeconds",
                "methods[0]",
                "rateLimit.requestsPerSecond"
            ]
        );
        // The message never needs a credential: only paths and names.
        assert!(
            e.to_string().contains("datasets[2]: `ok` is listed twice"),
            "{e}"
        );
    }

    #[test]
    fn endpoint_with_credentials_is_refused_without_echoing_them() {
        let mut c = base();
        c.source.endpoint = "https://svc:hunter2@x.example/api".into();
        let e = c.validate().unwrap_err();
        assert_eq!(e.fields(), vec!["source.endpoint"]);
        assert!(!e.to_string().contains("hunter2"));
    }

    #[test]
    fn dataset_names() {
        for ok in ["a", "citizens", "land.parcels", "ho_tich-2024"] {
            assert!(is_dataset_name(ok), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "-a",
            "a-",
            "A",
            "a/b",
            "a%2e",
            &"a".repeat(64),
        ] {
            assert!(!is_dataset_name(bad), "{bad}");
        }
    }

    #[test]
    fn secret_keys_per_mode() {
        let dir = Path::new("/s");
        assert_eq!(
            AuthConfig::mounted(AuthMode::Basic, dir).secret_keys(),
            &["username", "password"]
        );
        assert_eq!(
            AuthConfig::mounted(
                AuthMode::OAuth2ClientCredentials {
                    token_url: "https://t".into(),
                    scopes: vec![],
                    client_auth: ClientAuthMethod::Basic
                },
                dir
            )
            .secret_keys(),
            &["clientID", "clientSecret"]
        );
        assert_eq!(
            AuthConfig::mounted(AuthMode::MTls, dir).secret_keys(),
            &["tls.crt", "tls.key"]
        );
    }
}
