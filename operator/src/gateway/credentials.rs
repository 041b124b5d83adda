//! The source credentials: read from the mounted Secret files, re-read when a
//! file changes (a rotated Secret needs no restart), turned into an HTTP
//! client (TLS roots, client certificate) and a header to add.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine;
use http::{HeaderName, HeaderValue};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::config::{AuthConfig, GatewayConfig};
use super::log::Log;
use super::metrics::GatewayMetrics;

/// How often, at most, the gateway looks at the credential files for a change.
pub const RELOAD_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// The HTTP client to the source.
pub type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Why the credentials cannot be loaded. Messages name files, never contents.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// A file cannot be read.
    #[error("cannot read credential file {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file is empty.
    #[error("credential file {} is empty", path.display())]
    Empty { path: PathBuf },
    /// A value cannot be sent in an HTTP header.
    #[error("credential file {} holds characters that cannot be sent in an HTTP header", path.display())]
    HeaderValue { path: PathBuf },
    /// A PEM file has no certificate.
    #[error("{} holds no PEM certificate", path.display())]
    NoCertificate { path: PathBuf },
    /// A PEM file has no private key, or a malformed one.
    #[error("{} holds no readable PEM private key (PKCS#8, PKCS#1 or SEC1)", path.display())]
    NoKey { path: PathBuf },
    /// A CA certificate is not usable.
    #[error("a CA certificate in {} is not usable", path.display())]
    Ca {
        path: PathBuf,
        #[source]
        source: rustls::Error,
    },
    /// The system has no CA certificates and no `source.caFile` is set.
    #[error("no system CA certificates were found; set source.caFile")]
    NoRoots,
    /// The client certificate and key do not make a usable identity.
    #[error("the client certificate {} and key {} cannot be used together (do tls.crt and tls.key match?)", cert.display(), key.display())]
    ClientIdentity {
        cert: PathBuf,
        key: PathBuf,
        #[source]
        source: rustls::Error,
    },
    /// TLS cannot be set up.
    #[error("cannot set up TLS")]
    Tls(#[source] rustls::Error),
}

/// Identity of a file's content, as the file system tells without reading it:
/// a Secret volume replaces files (new inode) when the Secret changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    modified: Option<SystemTime>,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    Some(Stamp {
        dev: m.dev(),
        ino: m.ino(),
        len: m.len(),
        modified: m.modified().ok(),
    })
}

/// A credential value read from a file, trimmed of surrounding whitespace.
pub(crate) fn read_value(path: &Path) -> Result<String, CredentialError> {
    let raw = std::fs::read(path).map_err(|source| CredentialError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let text = String::from_utf8(raw).map_err(|_| CredentialError::HeaderValue {
        path: path.to_path_buf(),
    })?;
    let value = text.trim();
    if value.is_empty() {
        return Err(CredentialError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(value.to_string())
}

fn sensitive(value: &str, path: &Path) -> Result<HeaderValue, CredentialError> {
    let mut v = HeaderValue::from_str(value).map_err(|_| CredentialError::HeaderValue {
        path: path.to_path_buf(),
    })?;
    v.set_sensitive(true);
    Ok(v)
}

/// `Basic base64(user:password)`.
pub(crate) fn basic_value(
    user: &str,
    password: &str,
    path: &Path,
) -> Result<HeaderValue, CredentialError> {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    sensitive(&format!("Basic {encoded}"), path)
}

fn read_bytes(path: &Path) -> Result<Vec<u8>, CredentialError> {
    std::fs::read(path).map_err(|source| CredentialError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, CredentialError> {
    let pem = read_bytes(path)?;
    // A PEM error may quote a line of the file: never pass it on.
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|_| CredentialError::NoCertificate {
            path: path.to_path_buf(),
        })?;
    if certs.is_empty() {
        return Err(CredentialError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

/// Whether the source or the token endpoint is reached over TLS.
fn uses_https(config: &GatewayConfig) -> bool {
    let https = |u: &str| {
        u.get(..8)
            .is_some_and(|p| p.eq_ignore_ascii_case("https://"))
    };
    https(&config.source.endpoint)
        || matches!(&config.auth, AuthConfig::OAuth2ClientCredentials { token_url, .. } if https(token_url))
}

/// The TLS settings towards the source: its CA (else the system roots) and,
/// for mTLS, the client identity.
fn tls_config(config: &GatewayConfig) -> Result<rustls::ClientConfig, CredentialError> {
    let mut roots = rustls::RootCertStore::empty();
    match &config.source.ca_file {
        Some(ca) => {
            for cert in certificates(ca)? {
                roots.add(cert).map_err(|source| CredentialError::Ca {
                    path: ca.clone(),
                    source,
                })?;
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(native.certs);
            if added == 0 && uses_https(config) {
                return Err(CredentialError::NoRoots);
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(CredentialError::Tls)?
        .with_root_certificates(roots);
    // hyper-rustls sets ALPN (http/1.1) itself.
    let tls = match &config.auth {
        AuthConfig::MTls {
            cert_file,
            key_file,
        } => {
            let chain = certificates(cert_file)?;
            let key_pem = read_bytes(key_file)?;
            let key =
                PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| CredentialError::NoKey {
                    path: key_file.clone(),
                })?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|source| CredentialError::ClientIdentity {
                    cert: cert_file.clone(),
                    key: key_file.clone(),
                    source,
                })?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(tls)
}

/// An HTTP(S) client with these TLS settings.
pub(crate) fn http_client(tls: rustls::ClientConfig, connect_timeout: Duration) -> HttpClient {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(connect_timeout));
    http.set_nodelay(true);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(64)
        .build(https)
}

/// Credentials in usable form.
pub struct Loaded {
    /// The client to the source (and to the token endpoint).
    pub client: HttpClient,
    /// The header every request carries (`apiKey`, `basic`), if any.
    pub header: Option<(HeaderName, HeaderValue)>,
}

fn load(config: &GatewayConfig) -> Result<Loaded, CredentialError> {
    let client = http_client(
        tls_config(config)?,
        Duration::from_secs(u64::from(config.timeout_seconds)),
    );
    let header = match &config.auth {
        AuthConfig::ApiKey { header, key_file } => {
            let name = HeaderName::from_bytes(header.as_bytes()).map_err(|_| {
                CredentialError::HeaderValue {
                    path: key_file.clone(),
                }
            })?;
            Some((name, sensitive(&read_value(key_file)?, key_file)?))
        }
        AuthConfig::Basic {
            username_file,
            password_file,
        } => {
            let user = read_value(username_file)?;
            let password = read_value(password_file)?;
            Some((
                http::header::AUTHORIZATION,
                basic_value(&user, &password, password_file)?,
            ))
        }
        // OAuth2 client id and secret are read at each token request.
        AuthConfig::OAuth2ClientCredentials {
            client_id_file,
            client_secret_file,
            ..
        } => {
            read_value(client_id_file)?;
            read_value(client_secret_file)?;
            None
        }
        AuthConfig::None | AuthConfig::MTls { .. } => None,
    };
    Ok(Loaded { client, header })
}

struct Check {
    at: Instant,
    stamps: Vec<Option<Stamp>>,
}

/// The credentials, reloaded when their files change.
pub struct Credentials {
    config: Arc<GatewayConfig>,
    files: Vec<PathBuf>,
    current: RwLock<Result<Arc<Loaded>, Arc<CredentialError>>>,
    check: Mutex<Check>,
    log: Log,
    metrics: Arc<GatewayMetrics>,
}

impl Credentials {
    /// Loads the credentials once; a failure is kept (and logged) and retried
    /// when the files change.
    pub fn new(config: Arc<GatewayConfig>, log: Log, metrics: Arc<GatewayMetrics>) -> Self {
        let files: Vec<PathBuf> = config
            .credential_files()
            .into_iter()
            .map(Path::to_path_buf)
            .collect();
        let stamps = files.iter().map(|f| stamp(f)).collect();
        let current = load(&config).map(Arc::new).map_err(Arc::new);
        metrics.credential_reload(current.is_ok());
        if let Err(e) = &current {
            log.event("error", "cannot load the source credentials", Some(&**e));
        }
        Credentials {
            config,
            files,
            current: RwLock::new(current),
            check: Mutex::new(Check {
                at: Instant::now(),
                stamps,
            }),
            log,
            metrics,
        }
    }

    /// The current credentials, after reloading them if a file changed
    /// (looked at no more than once per [`RELOAD_CHECK_INTERVAL`]).
    pub fn get(&self) -> Result<Arc<Loaded>, Arc<CredentialError>> {
        self.refresh();
        match self.current.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Whether credentials are loaded.
    pub fn is_loaded(&self) -> bool {
        self.get().is_ok()
    }

    fn refresh(&self) {
        // Another request is looking: use what is loaded.
        let Ok(mut check) = self.check.try_lock() else {
            return;
        };
        if check.at.elapsed() < RELOAD_CHECK_INTERVAL {
            return;
        }
        check.at = Instant::now();
        let stamps: Vec<Option<Stamp>> = self.files.iter().map(|f| stamp(f)).collect();
        if stamps == check.stamps {
            return;
        }
        check.stamps = stamps;
        let loaded = load(&self.config);
        self.metrics.credential_reload(loaded.is_ok());
        match loaded {
            Ok(l) => {
                self.log
                    .event("info", "source credentials reloaded after a change", None);
                if let Ok(mut c) = self.current.write() {
                    *c = Ok(Arc::new(l));
                }
            }
            Err(e) => {
                // Mid-rotation (certificate changed, key not yet): keep what works.
                let keeping = matches!(self.current.read().as_deref(), Ok(Ok(_)));
                let message = if keeping {
                    "source credentials changed but cannot be loaded; still using the previous ones"
                } else {
                    "cannot load the source credentials"
                };
                self.log.event("error", message, Some(&e));
                if !keeping && let Ok(mut c) = self.current.write() {
                    *c = Err(Arc::new(e));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_trimmed_and_never_in_errors() {
        let dir = std::env::temp_dir().join(format!("wardops-cred-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = dir.join("apiKey");
        std::fs::write(&key, "s3cret-value\n").unwrap();
        assert_eq!(read_value(&key).unwrap(), "s3cret-value");
        std::fs::write(&key, "bad\u{1}value-s3cret").unwrap();
        let e = sensitive(&read_value(&key).unwrap(), &key).unwrap_err();
        assert!(!e.to_string().contains("s3cret"), "{e}");
        std::fs::write(&key, "  \n").unwrap();
        assert!(matches!(
            read_value(&key),
            Err(CredentialError::Empty { .. })
        ));
        std::fs::write(&key, "-----BEGIN PRIVATE KEY-----\nnot-base64-s3cret\n").unwrap();
        let e = certificates(&key).unwrap_err();
        assert!(!crate::error_chain(&e).contains("s3cret"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn basic_header() {
        let v = basic_value("Aladdin", "open sesame", Path::new("/p")).unwrap();
        assert_eq!(v, "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        assert!(v.is_sensitive());
    }
}
