//! The DataConnector gateway against a real HTTPS source: an upstream server
//! in this process (hyper + rustls, certificates from a CA made by rcgen, on
//! 127.0.0.1) that checks credentials the way a registry does and records
//! what it receives. The gateway runs in-process through the library, and as
//! the built `wardops` binary where its process output matters.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use wardops::gateway::config::{
    AuthConfig, ClientAuthMethod, GatewayConfig, GatewayMode, RateLimit,
};
use wardops::gateway::{Gateway, Log, ServeOptions, SyncResult};

/// Planted in every credential file: must never appear in any output.
const SENTINEL: &str = "S3NTINEL-7c1e";
/// A citizen identifier sent in paths and query strings: never logged.
const CITIZEN: &str = "079203001234";
const CLIENT_ID: &str = "ward-gateway";

// ---------------------------------------------------------------------------
// Certificates

struct Pki {
    dir: PathBuf,
    ca_file: PathBuf,
    ca_roots: Arc<rustls::RootCertStore>,
    server_chain: Vec<CertificateDer<'static>>,
    server_key_pem: String,
    client_cert: PathBuf,
    client_key: PathBuf,
}

fn temp_dir(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "wardops-gw-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn pki(name: &str) -> Pki {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let dir = temp_dir(name);
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "wardops test registry CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);

    let server_key = KeyPair::generate().unwrap();
    let mut sp =
        CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    sp.distinguished_name
        .push(DnType::CommonName, "registry.test");
    sp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_cert = sp.signed_by(&server_key, &issuer).unwrap();

    let client_key = KeyPair::generate().unwrap();
    let mut cp = CertificateParams::new(Vec::<String>::new()).unwrap();
    cp.distinguished_name
        .push(DnType::CommonName, "wardops-connector");
    cp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client_cert = cp.signed_by(&client_key, &issuer).unwrap();

    let ca_file = dir.join("ca.crt");
    std::fs::write(&ca_file, ca_cert.pem()).unwrap();
    let client_cert_file = dir.join("tls.crt");
    std::fs::write(&client_cert_file, client_cert.pem()).unwrap();
    let client_key_file = dir.join("tls.key");
    std::fs::write(&client_key_file, client_key.serialize_pem()).unwrap();

    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca_cert.der().clone()).unwrap();
    Pki {
        dir,
        ca_file,
        ca_roots: Arc::new(roots),
        server_chain: vec![server_cert.der().clone()],
        server_key_pem: server_key.serialize_pem(),
        client_cert: client_cert_file,
        client_key: client_key_file,
    }
}

/// Writes a credential file the way the kubelet updates a Secret volume: a
/// new file renamed over the old one.
fn write_secret(path: &Path, value: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, value).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

// ---------------------------------------------------------------------------
// The upstream registry

#[derive(Clone, Debug, Default)]
enum Expect {
    #[default]
    Nothing,
    ApiKey(String, String),
    Basic(String),
    Bearer,
    ClientCert,
}

#[derive(Clone, Debug)]
struct Seen {
    method: String,
    headers: Vec<(String, String)>,
    body_len: usize,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Registry {
    expect: Mutex<Expect>,
    seen: Mutex<Vec<Seen>>,
    issued: Mutex<Vec<(String, Instant)>>,
    token_requests: AtomicUsize,
    token_lifetime: Mutex<f64>,
    failing: Mutex<BTreeSet<String>>,
    version: AtomicUsize,
}

impl Registry {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
    fn expect(&self, e: Expect) {
        *self.expect.lock().unwrap() = e;
    }
}

fn respond(status: u16, content_type: &str, body: impl Into<Bytes>) -> http::Response<Full<Bytes>> {
    http::Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("set-cookie", "registry-session=abc")
        .header("connection", "x-upstream-hop")
        .header("x-upstream-hop", "1")
        .body(Full::new(body.into()))
        .unwrap()
}

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

async fn registry_handle(
    reg: Arc<Registry>,
    client_cert: bool,
    req: http::Request<Incoming>,
) -> Result<http::Response<Full<Bytes>>, std::convert::Infallible> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let path = parts.uri.path().to_string();
    let header = |n: &str| {
        parts
            .headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };

    if path == "/oauth/token" {
        let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
        let ok = header("authorization")
            == Some(basic(CLIENT_ID, &format!("{SENTINEL}-client-secret")))
            && form.contains(&("grant_type".into(), "client_credentials".into()))
            && form.contains(&("scope".into(), "registry.read population.read".into()));
        if !ok {
            return Ok(respond(
                401,
                "application/json",
                r#"{"error":"invalid_client"}"#,
            ));
        }
        let n = reg.token_requests.fetch_add(1, Ordering::SeqCst) + 1;
        let lifetime = *reg.token_lifetime.lock().unwrap();
        let token = format!("tok-{n}-{SENTINEL}");
        reg.issued.lock().unwrap().push((
            token.clone(),
            Instant::now() + Duration::from_secs_f64(lifetime),
        ));
        let json = serde_json::json!({"access_token": token, "token_type": "Bearer", "expires_in": lifetime});
        return Ok(respond(200, "application/json", json.to_string()));
    }

    let authorized = match reg.expect.lock().unwrap().clone() {
        Expect::Nothing => true,
        Expect::ApiKey(h, v) => header(&h) == Some(v),
        Expect::Basic(v) => header("authorization") == Some(v),
        Expect::ClientCert => client_cert,
        Expect::Bearer => {
            let now = Instant::now();
            let got = header("authorization").unwrap_or_default();
            reg.issued
                .lock()
                .unwrap()
                .iter()
                .any(|(t, exp)| got == format!("Bearer {t}") && now < *exp)
        }
    };
    reg.seen.lock().unwrap().push(Seen {
        method: parts.method.to_string(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect(),
        body_len: body.len(),
    });
    if !authorized {
        return Ok(respond(
            401,
            "application/json",
            r#"{"error":"unauthorized"}"#,
        ));
    }
    let rest = path.strip_prefix("/api/").unwrap_or("");
    let dataset = rest.split('/').next().unwrap_or("");
    if reg.failing.lock().unwrap().contains(dataset) {
        return Ok(respond(500, "text/plain", "registry failure"));
    }
    let v = reg.version.load(Ordering::SeqCst);
    Ok(match (dataset, rest.contains('/')) {
        ("slow", _) => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            respond(200, "application/json", "[]")
        }
        ("citizens", false) => respond(
            200,
            "application/json",
            serde_json::json!([{"id": 1, "v": v}, {"id": 2, "v": v}, {"id": 3, "v": v}])
                .to_string(),
        ),
        ("households", false) => respond(200, "text/csv", format!("id,v\n1,{v}\n2,{v}\n")),
        _ => respond(
            200,
            "application/json",
            serde_json::json!({"uri": parts.uri.to_string(), "method": parts.method.as_str()})
                .to_string(),
        ),
    })
}

struct Upstream {
    addr: SocketAddr,
    reg: Arc<Registry>,
}

impl Upstream {
    fn endpoint(&self) -> String {
        format!("https://127.0.0.1:{}/api", self.addr.port())
    }
    fn token_url(&self) -> String {
        format!("https://127.0.0.1:{}/oauth/token", self.addr.port())
    }
}

async fn upstream(pki: &Pki, require_client_cert: bool) -> Upstream {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        pki.ca_roots.clone(),
        provider.clone(),
    );
    if !require_client_cert {
        verifier = verifier.allow_unauthenticated();
    }
    let key = PrivateKeyDer::from_pem_slice(pki.server_key_pem.as_bytes()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier.build().unwrap())
        .with_single_cert(pki.server_chain.clone(), key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let reg = Arc::new(Registry {
        token_lifetime: Mutex::new(3600.0),
        ..Default::default()
    });
    let r = reg.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let reg = r.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let client_cert = tls.get_ref().1.peer_certificates().is_some();
                let service = service_fn(move |req| registry_handle(reg.clone(), client_cert, req));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    Upstream { addr, reg }
}

// ---------------------------------------------------------------------------
// The gateway and a raw HTTP client

struct Running {
    addr: SocketAddr,
    admin: SocketAddr,
    log: Log,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Running {
    async fn stop(mut self) -> String {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
        let log = self.log.captured();
        assert_clean(&log, "access log");
        log
    }
}

fn config(up: &Upstream, pki: &Pki, datasets: &[&str]) -> GatewayConfig {
    let mut c = GatewayConfig::new(
        up.endpoint(),
        datasets.iter().map(|d| d.to_string()).collect(),
    );
    c.listen_address = "127.0.0.1".parse().unwrap();
    c.listen_port = 0;
    c.admin_port = 0;
    c.source.ca_file = Some(pki.ca_file.clone());
    c.methods = vec!["GET".into(), "HEAD".into(), "POST".into()];
    c
}

async fn start(config: GatewayConfig, data_dir: Option<PathBuf>) -> Running {
    let log = Log::memory();
    let gw = Gateway::bind(
        config,
        ServeOptions {
            data_dir,
            log: log.clone(),
        },
    )
    .await
    .unwrap();
    let (addr, admin) = (gw.addr(), gw.admin_addr());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        gw.run(async move {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    Running {
        addr,
        admin,
        log,
        stop: Some(tx),
        task: Some(task),
    }
}

#[derive(Debug)]
struct Resp {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(i) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size = usize::from_str_radix(
            std::str::from_utf8(&b[..i])
                .unwrap()
                .split(';')
                .next()
                .unwrap()
                .trim(),
            16,
        )
        .unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[i + 2..i + 2 + size]);
        b = &b[i + 2 + size + 2..];
    }
}

/// Sends raw bytes (no normalisation of any kind) and reads the answer to EOF.
async fn raw(addr: SocketAddr, request: &[u8]) -> Resp {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(15), s.read_to_end(&mut buf))
        .await
        .expect("response in time")
        .unwrap();
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let mut body = buf[end + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    Resp { status, head, body }
}

async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    let mut r = format!("{method} {path} HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n");
    for (k, v) in headers {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() {
        r.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    r.push_str("\r\n");
    let mut bytes = r.into_bytes();
    bytes.extend_from_slice(body);
    raw(addr, &bytes).await
}

async fn get(addr: SocketAddr, path: &str) -> Resp {
    request(addr, "GET", path, &[], b"").await
}

/// No sentinel credential, citizen identifier or query string in `text`.
fn assert_clean(text: &str, what: &str) {
    assert!(
        !text.contains(SENTINEL),
        "{what} holds a credential: {text}"
    );
    assert!(
        !text.contains(CITIZEN),
        "{what} holds a citizen identifier: {text}"
    );
    assert!(
        !text.contains("fields="),
        "{what} holds a query string: {text}"
    );
}

fn access_lines(log: &str) -> Vec<Value> {
    log.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .filter(|v| v["kind"] == "access")
        .collect()
}

fn assert_error(r: &Resp, status: u16, code: &str) {
    assert_eq!(r.status, status, "{r:?}");
    let j = r.json();
    assert_eq!(j["error"], code, "{j}");
    assert!(j["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert_eq!(j["requestId"].as_str(), r.header("x-request-id").as_deref());
    assert_clean(&r.text(), "error body");
}

fn api_key_auth(pki: &Pki, value: &str) -> AuthConfig {
    let key_file = pki.dir.join("apiKey");
    write_secret(&key_file, &format!("{value}\n"));
    AuthConfig::ApiKey {
        header: "X-Registry-Key".into(),
        key_file,
    }
}

// ---------------------------------------------------------------------------
// Proxy mode

#[tokio::test]
async fn api_key_is_added_and_the_wards_credentials_are_not_forwarded() {
    let pki = pki("apikey");
    let up = upstream(&pki, false).await;
    let key = format!("{SENTINEL}-api-key");
    up.reg
        .expect(Expect::ApiKey("x-registry-key".into(), key.clone()));
    let mut c = config(&up, &pki, &["citizens"]);
    c.auth = api_key_auth(&pki, &key);
    let gw = start(c, None).await;

    let r = request(
        gw.addr,
        "GET",
        &format!("/citizens/{CITIZEN}/records?fields=name&lang=vi"),
        &[
            ("Authorization", "Bearer ward-own-token"),
            ("Cookie", "ward-session=1"),
            ("Proxy-Authorization", "Basic d2FyZDp3YXJk"),
            ("X-Registry-Key", "spoofed-by-ward"),
            ("X-Request-ID", "spoofed-id"),
            ("Accept", "application/json"),
        ],
        b"",
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    // The query string reaches the source unchanged; the base path is kept.
    assert_eq!(
        r.json()["uri"],
        format!("/api/citizens/{CITIZEN}/records?fields=name&lang=vi")
    );
    let seen = up.reg.seen();
    assert_eq!(seen.len(), 1);
    let s = &seen[0];
    assert_eq!(s.header("x-registry-key"), Some(key.as_str()));
    assert_eq!(s.header("authorization"), None);
    assert_eq!(s.header("cookie"), None);
    assert_eq!(s.header("proxy-authorization"), None);
    assert_eq!(s.header("accept"), Some("application/json"));
    let id = r.header("x-request-id").unwrap();
    assert_eq!(s.header("x-request-id"), Some(id.as_str()));
    assert_eq!(id.len(), 32);

    let log = gw.stop().await;
    let lines = access_lines(&log);
    assert_eq!(lines.len(), 1, "{log}");
    let l = &lines[0];
    assert_eq!(l["dataset"], "citizens");
    assert_eq!(l["method"], "GET");
    assert_eq!(l["status"], 200);
    assert_eq!(l["request_id"], id);
    assert!(l["duration_ms"].as_f64().is_some());
    let keys: BTreeSet<&str> = l.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "dataset",
            "duration_ms",
            "kind",
            "method",
            "request_id",
            "status",
            "time"
        ]
        .into_iter()
        .collect()
    );
}

#[tokio::test]
async fn hop_by_hop_headers_are_stripped_both_ways() {
    let pki = pki("hop");
    let up = upstream(&pki, false).await;
    let gw = start(config(&up, &pki, &["citizens"]), None).await;
    let r = request(
        gw.addr,
        "GET",
        "/citizens/1",
        &[
            ("Connection", "x-ward-hop"),
            ("X-Ward-Hop", "1"),
            ("Keep-Alive", "timeout=5"),
            ("TE", "trailers"),
            ("Trailer", "x-t"),
            ("Upgrade", "websocket"),
            ("Proxy-Connection", "keep-alive"),
            ("Proxy-Foo", "1"),
            ("X-Kept", "yes"),
        ],
        b"",
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    let seen = up.reg.seen();
    let names: BTreeSet<&str> = seen[0].headers.iter().map(|(k, _)| k.as_str()).collect();
    for h in [
        "x-ward-hop",
        "keep-alive",
        "te",
        "trailer",
        "upgrade",
        "proxy-connection",
        "proxy-foo",
        "transfer-encoding",
    ] {
        assert!(!names.contains(h), "{h} forwarded: {names:?}");
    }
    assert!(names.contains("x-kept"));
    // The source's session cookie and its hop-by-hop headers stay with the gateway.
    assert_eq!(r.header("set-cookie"), None, "{}", r.head);
    assert_eq!(r.header("x-upstream-hop"), None, "{}", r.head);
    gw.stop().await;
}

#[tokio::test]
async fn basic_auth_is_sent() {
    let pki = pki("basic");
    let up = upstream(&pki, false).await;
    let password = format!("{SENTINEL}-password");
    up.reg.expect(Expect::Basic(basic("so-tnmt", &password)));
    let mut c = config(&up, &pki, &["citizens"]);
    let (u, p) = (pki.dir.join("username"), pki.dir.join("password"));
    write_secret(&u, "so-tnmt\n");
    write_secret(&p, &password);
    c.auth = AuthConfig::Basic {
        username_file: u,
        password_file: p,
    };
    let gw = start(c, None).await;
    let r = request(
        gw.addr,
        "GET",
        "/citizens/x",
        &[("Authorization", "Basic d2FyZDp3YXJk")],
        b"",
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        up.reg.seen()[0].header("authorization"),
        Some(basic("so-tnmt", &password).as_str())
    );
    gw.stop().await;
}

#[tokio::test]
async fn oauth2_token_is_fetched_cached_and_refreshed_before_expiry() {
    let pki = pki("oauth");
    let up = upstream(&pki, false).await;
    up.reg.expect(Expect::Bearer);
    *up.reg.token_lifetime.lock().unwrap() = 2.0;
    let (id, secret) = (pki.dir.join("clientID"), pki.dir.join("clientSecret"));
    write_secret(&id, CLIENT_ID);
    write_secret(&secret, &format!("{SENTINEL}-client-secret\n"));
    let mut c = config(&up, &pki, &["citizens"]);
    c.auth = AuthConfig::OAuth2ClientCredentials {
        token_url: up.token_url(),
        client_id_file: id,
        client_secret_file: secret,
        scopes: vec!["registry.read".into(), "population.read".into()],
        client_auth: ClientAuthMethod::Basic,
    };
    let gw = start(c, None).await;

    // Ready once a token is held.
    let deadline = Instant::now() + Duration::from_secs(5);
    while get(gw.admin, "/readyz").await.status != 200 {
        assert!(Instant::now() < deadline, "never ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for _ in 0..3 {
        assert_eq!(get(gw.addr, "/citizens/1").await.status, 200);
    }
    assert_eq!(
        up.reg.token_requests.load(Ordering::SeqCst),
        1,
        "token cached"
    );
    let first = up.reg.seen()[0]
        .header("authorization")
        .unwrap()
        .to_string();

    // Past the token's lifetime: a new one was fetched (at 80%) and is used.
    tokio::time::sleep(Duration::from_millis(2300)).await;
    let r = get(gw.addr, "/citizens/2").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(up.reg.token_requests.load(Ordering::SeqCst) >= 2);
    let last = up
        .reg
        .seen()
        .last()
        .unwrap()
        .header("authorization")
        .unwrap()
        .to_string();
    assert_ne!(first, last);
    assert!(last.starts_with("Bearer tok-"));
    // Never a 401 on the way: the token was renewed before it expired.
    assert!(up.reg.seen().iter().all(|s| s.method == "GET"));

    let metrics = get(gw.admin, "/metrics").await.text();
    assert!(
        metrics.contains(r#"wardops_gateway_oauth2_token_fetches_total{result="success"}"#),
        "{metrics}"
    );
    assert_clean(&metrics, "metrics");
    gw.stop().await;
}

#[tokio::test]
async fn oauth2_refused_client_is_unready_and_503() {
    let pki = pki("oauth-bad");
    let up = upstream(&pki, false).await;
    up.reg.expect(Expect::Bearer);
    let (id, secret) = (pki.dir.join("clientID"), pki.dir.join("clientSecret"));
    write_secret(&id, CLIENT_ID);
    write_secret(&secret, &format!("{SENTINEL}-wrong-secret"));
    let mut c = config(&up, &pki, &["citizens"]);
    c.auth = AuthConfig::OAuth2ClientCredentials {
        token_url: up.token_url(),
        client_id_file: id,
        client_secret_file: secret,
        scopes: vec!["registry.read".into()],
        client_auth: ClientAuthMethod::Post,
    };
    let gw = start(c, None).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(get(gw.admin, "/readyz").await.status, 503);
    assert_error(
        &get(gw.addr, "/citizens/1").await,
        503,
        "credentials_unavailable",
    );
    assert!(up.reg.seen().is_empty());
    let log = gw.stop().await;
    assert!(
        log.contains("OAuth2 token endpoint answered HTTP 401"),
        "{log}"
    );
}

#[tokio::test]
async fn mtls_client_certificate_is_presented() {
    let pki = pki("mtls");
    let up = upstream(&pki, true).await;
    up.reg.expect(Expect::ClientCert);
    let mut c = config(&up, &pki, &["citizens"]);
    c.auth = AuthConfig::MTls {
        cert_file: pki.client_cert.clone(),
        key_file: pki.client_key.clone(),
    };
    let gw = start(c, None).await;
    assert_eq!(get(gw.admin, "/readyz").await.status, 200);
    let r = get(gw.addr, "/citizens/1").await;
    assert_eq!(r.status, 200, "{r:?}");
    gw.stop().await;

    // Without the certificate the source refuses the handshake.
    let gw = start(config(&up, &pki, &["citizens"]), None).await;
    let r = get(gw.addr, "/citizens/1").await;
    assert_eq!(r.status, 502, "{r:?}");
    gw.stop().await;
}

#[tokio::test]
async fn a_source_certificate_from_another_ca_is_refused() {
    let pki = pki("ca");
    let other = self::pki("other-ca");
    let up = upstream(&pki, false).await;
    let mut c = config(&up, &pki, &["citizens"]);
    c.source.ca_file = Some(other.ca_file.clone());
    let gw = start(c, None).await;
    let r = get(gw.addr, "/citizens/1").await;
    assert_eq!(r.status, 502, "{r:?}");
    assert!(up.reg.seen().is_empty());
    gw.stop().await;
}

#[tokio::test]
async fn datasets_outside_the_allow_list_are_403() {
    let pki = pki("allow");
    let up = upstream(&pki, false).await;
    let gw = start(config(&up, &pki, &["citizens"]), None).await;
    for p in [
        "/land/parcels",
        "/households",
        "/citizensX/1",
        "/Citizens/1",
        "/citizen",
        "/metrics",
        "/healthz",
    ] {
        assert_error(&get(gw.addr, p).await, 403, "dataset_not_allowed");
    }
    assert_error(&get(gw.addr, "/").await, 404, "not_found");
    assert_error(
        &request(gw.addr, "DELETE", "/citizens/1", &[], b"").await,
        405,
        "method_not_allowed",
    );
    assert!(up.reg.seen().is_empty(), "nothing reached the source");
    let metrics = get(gw.admin, "/metrics").await.text();
    assert!(
        metrics.contains(r#"wardops_gateway_requests_total{dataset="_denied",code="4xx"} 7"#),
        "{metrics}"
    );
    assert!(!metrics.contains("land"), "{metrics}");
    assert_eq!(get(gw.admin, "/healthz").await.status, 200);
    gw.stop().await;
}

#[tokio::test]
async fn path_traversal_is_400_in_every_spelling() {
    let pki = pki("traversal");
    let up = upstream(&pki, false).await;
    let gw = start(config(&up, &pki, &["citizens", "land"]), None).await;
    for p in [
        "/citizens/../land/x",
        "/citizens/..",
        "/../land",
        "/citizens/%2e%2e/land",
        "/citizens/%2E%2E/land",
        "/citizens/%2e%2E/land",
        "/citizens/.%2e/land",
        "/citizens/%2e/x",
        "/citizens/./x",
        "/citizens//x",
        "//citizens/x",
        "/citizens/..%2fland",
        "/citizens/a%2Fb",
        "/citizens/a%5cb",
        "/citizens/%252e%252e/land",
        "/citizens/..;/land",
        "/citizens/a%00",
    ] {
        let r = get(gw.addr, p).await;
        assert_error(&r, 400, "invalid_path");
    }
    // A backslash, sent raw.
    let r = raw(
        gw.addr,
        b"GET /citizens\\..\\land HTTP/1.1\r\nHost: g\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(r.status, 400, "{r:?}");
    assert!(
        up.reg.seen().is_empty(),
        "nothing reached the source: {:?}",
        up.reg.seen()
    );
    let log = gw.stop().await;
    assert!(
        access_lines(&log)
            .iter()
            .all(|l| l["dataset"] == "_invalid" || l["dataset"].is_null()),
        "{log}"
    );
}

#[tokio::test]
async fn bodies_above_the_limit_are_413() {
    let pki = pki("body");
    let up = upstream(&pki, false).await;
    let mut c = config(&up, &pki, &["citizens"]);
    c.max_body_bytes = 1024;
    let gw = start(c, None).await;
    let ok = request(
        gw.addr,
        "POST",
        "/citizens/search",
        &[("Content-Type", "application/json")],
        &[b'x'; 1024],
    )
    .await;
    assert_eq!(ok.status, 200, "{ok:?}");
    assert_eq!(up.reg.seen()[0].body_len, 1024);
    assert_error(
        &request(gw.addr, "POST", "/citizens/search", &[], &[b'x'; 2048]).await,
        413,
        "body_too_large",
    );
    // Chunked, so that only reading tells the size.
    let mut chunked = b"POST /citizens/search HTTP/1.1\r\nHost: g\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..3 {
        chunked.extend_from_slice(b"200\r\n");
        chunked.extend_from_slice(&[b'y'; 512]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    assert_error(&raw(gw.addr, &chunked).await, 413, "body_too_large");
    assert_eq!(up.reg.seen().len(), 1);
    gw.stop().await;
}

#[tokio::test]
async fn a_slow_source_is_504() {
    let pki = pki("slow");
    let up = upstream(&pki, false).await;
    let mut c = config(&up, &pki, &["slow"]);
    c.timeout_seconds = 1;
    let gw = start(c, None).await;
    let t = Instant::now();
    assert_error(&get(gw.addr, "/slow/1").await, 504, "upstream_timeout");
    assert!(t.elapsed() < Duration::from_millis(2500));
    gw.stop().await;
}

#[tokio::test]
async fn an_unreachable_source_is_502() {
    let pki = pki("down");
    let up = upstream(&pki, false).await;
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut c = config(&up, &pki, &["citizens"]);
    c.source.endpoint = format!("https://127.0.0.1:{port}/api");
    let gw = start(c, None).await;
    assert_error(
        &get(gw.addr, "/citizens/1").await,
        502,
        "upstream_unreachable",
    );
    gw.stop().await;
}

#[tokio::test]
async fn requests_past_the_rate_limit_are_429() {
    let pki = pki("rate");
    let up = upstream(&pki, false).await;
    let mut c = config(&up, &pki, &["citizens"]);
    c.rate_limit = RateLimit {
        requests_per_second: 1,
        burst: 3,
    };
    let gw = start(c, None).await;
    for _ in 0..3 {
        assert_eq!(get(gw.addr, "/citizens/1").await.status, 200);
    }
    let r = get(gw.addr, "/citizens/1").await;
    assert_error(&r, 429, "rate_limited");
    assert_eq!(r.header("retry-after").as_deref(), Some("1"));
    assert_eq!(
        up.reg.seen().len(),
        3,
        "the registry saw only what the limit allows"
    );
    // Refused requests do not spend the budget.
    assert_error(&get(gw.addr, "/land/1").await, 403, "dataset_not_allowed");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(get(gw.addr, "/citizens/1").await.status, 200);
    gw.stop().await;
}

#[tokio::test]
async fn rotated_credentials_are_used_without_restart() {
    let pki = pki("rotate");
    let up = upstream(&pki, false).await;
    let key_a = format!("{SENTINEL}-key-a");
    let key_b = format!("{SENTINEL}-key-b");
    let mut c = config(&up, &pki, &["citizens"]);
    // The Secret is not mounted yet: unready, 503, and the gateway recovers.
    let key_file = pki.dir.join("apiKey");
    c.auth = AuthConfig::ApiKey {
        header: "X-API-Key".into(),
        key_file: key_file.clone(),
    };
    let gw = start(c, None).await;
    assert_eq!(get(gw.admin, "/readyz").await.status, 503);
    assert_error(
        &get(gw.addr, "/citizens/1").await,
        503,
        "credentials_unavailable",
    );

    up.reg
        .expect(Expect::ApiKey("x-api-key".into(), key_a.clone()));
    write_secret(&key_file, &key_a);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(get(gw.admin, "/readyz").await.status, 200);
    assert_eq!(get(gw.addr, "/citizens/1").await.status, 200);

    up.reg
        .expect(Expect::ApiKey("x-api-key".into(), key_b.clone()));
    write_secret(&key_file, &format!("{key_b}\n"));
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let r = get(gw.addr, "/citizens/2").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        up.reg.seen().last().unwrap().header("x-api-key"),
        Some(key_b.as_str())
    );

    // A broken rotation (empty file) keeps the last good key.
    write_secret(&key_file, "");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(get(gw.addr, "/citizens/3").await.status, 200);
    let log = gw.stop().await;
    assert!(log.contains("reloaded after a change"), "{log}");
    assert!(log.contains("still using the previous ones"), "{log}");
    assert!(
        log.contains(&key_file.display().to_string()),
        "errors name the file: {log}"
    );
}

#[tokio::test]
async fn credentials_never_appear_in_responses_metrics_or_logs() {
    let pki = pki("sentinel");
    let up = upstream(&pki, false).await;
    let key = format!("{SENTINEL}-api-key");
    up.reg
        .expect(Expect::ApiKey("x-api-key".into(), "something-else".into()));
    let mut c = config(&up, &pki, &["citizens", "slow"]);
    c.timeout_seconds = 1;
    c.max_body_bytes = 16;
    c.auth = AuthConfig::ApiKey {
        header: "X-API-Key".into(),
        key_file: pki.dir.join("apiKey"),
    };
    write_secret(&pki.dir.join("apiKey"), &key);
    let gw = start(c, None).await;
    let mut bodies = String::new();
    for (method, path, body) in [
        ("GET", format!("/citizens/{CITIZEN}?fields=name"), &b""[..]),
        ("GET", format!("/land/{CITIZEN}?fields=x"), &b""[..]),
        ("GET", format!("/citizens/../{CITIZEN}?fields=x"), &b""[..]),
        (
            "POST",
            format!("/citizens/{CITIZEN}?fields=x"),
            &[b'z'; 64][..],
        ),
        ("GET", format!("/slow/{CITIZEN}?fields=x"), &b""[..]),
        ("PUT", format!("/citizens/{CITIZEN}?fields=x"), &b""[..]),
    ] {
        let r = request(gw.addr, method, &path, &[("Cookie", SENTINEL)], body).await;
        bodies.push_str(&r.head);
        bodies.push_str(&r.text());
    }
    // The source refused the key (401 relayed) without the gateway echoing it.
    assert!(bodies.contains("401"));
    assert!(!bodies.contains(SENTINEL), "{bodies}");
    let metrics = get(gw.admin, "/metrics").await.text();
    assert_clean(&metrics, "metrics");
    let log = gw.stop().await;
    assert_eq!(access_lines(&log).len(), 6, "{log}");
}

// ---------------------------------------------------------------------------
// Sync mode

fn current_target(dir: &Path) -> PathBuf {
    std::fs::read_link(dir.join("current")).unwrap()
}

fn snapshots(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir.join("snapshots"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn sync_pulls_every_dataset_switches_current_and_serves_it() {
    let pki = pki("sync");
    let up = upstream(&pki, false).await;
    let key = format!("{SENTINEL}-sync-key");
    up.reg
        .expect(Expect::ApiKey("x-api-key".into(), key.clone()));
    let data = temp_dir("sync-data");
    let mut c = config(&up, &pki, &["citizens", "households"]);
    c.auth = AuthConfig::ApiKey {
        header: "X-API-Key".into(),
        key_file: pki.dir.join("apiKey"),
    };
    write_secret(&pki.dir.join("apiKey"), &key);

    // Before any pull: 503.
    let mut serving = c.clone();
    serving.mode = GatewayMode::Sync;
    let gw = start(serving.clone(), Some(data.clone())).await;
    assert_error(&get(gw.addr, "/citizens").await, 503, "no_snapshot");
    assert_eq!(get(gw.admin, "/readyz").await.status, 200);

    let meta = wardops::gateway::pull(c.clone(), &data, Log::memory())
        .await
        .unwrap();
    let line = SyncResult::of(&Ok(meta.clone())).to_line();
    let v: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["result"], "Succeeded");
    assert_eq!(
        v["datasets"][0],
        serde_json::json!({"name": "citizens", "records": 3, "bytes": meta.datasets[0].bytes})
    );
    assert_eq!(v["datasets"][1]["name"], "households");
    assert_eq!(v["datasets"][1]["records"], 3);
    assert!(v["time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        current_target(&data),
        Path::new("snapshots").join(&meta.snapshot),
        "relative symlink"
    );

    // Served bodies are the source's, byte for byte, with its content type.
    let r = get(gw.addr, "/citizens").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()[0]["v"], 0);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(r.header("x-wardops-snapshot-time"), Some(meta.time.clone()));
    assert_eq!(
        r.body,
        std::fs::read(data.join("current/citizens")).unwrap()
    );
    let r = get(gw.addr, "/households").await;
    assert_eq!(r.text(), "id,v\n1,0\n2,0\n");
    assert_eq!(r.header("content-type").as_deref(), Some("text/csv"));
    let h = request(gw.addr, "HEAD", "/households", &[], b"").await;
    assert_eq!(h.status, 200);
    assert_eq!(h.header("content-length").as_deref(), Some("13"));
    assert_error(&get(gw.addr, "/citizens/1").await, 404, "not_found");
    assert_error(&get(gw.addr, "/land").await, 403, "dataset_not_allowed");
    assert_error(
        &get(gw.addr, "/citizens/../households").await,
        400,
        "invalid_path",
    );
    assert_error(
        &request(gw.addr, "POST", "/citizens", &[], b"{}").await,
        405,
        "method_not_allowed",
    );

    // Later pulls switch `current`; two snapshots are kept.
    let mut names = vec![meta.snapshot.clone()];
    for version in 1..=3 {
        up.reg.version.store(version, Ordering::SeqCst);
        let m = wardops::gateway::pull(c.clone(), &data, Log::memory())
            .await
            .unwrap();
        assert_eq!(get(gw.addr, "/citizens").await.json()[0]["v"], version);
        names.push(m.snapshot);
    }
    assert_eq!(snapshots(&data), names[2..].to_vec());
    assert_eq!(
        current_target(&data),
        Path::new("snapshots").join(&names[3])
    );
    let log = gw.stop().await;
    assert!(
        access_lines(&log)
            .iter()
            .any(|l| l["dataset"] == "citizens" && l["status"] == 200)
    );
    let seen = up.reg.seen();
    assert!(
        seen.iter()
            .all(|s| s.header("x-api-key") == Some(key.as_str()))
    );
    assert!(seen.iter().all(|s| {
        s.header("x-request-id")
            .is_some_and(|i| i.starts_with("sync-"))
    }));
}

#[tokio::test]
async fn a_failed_pull_keeps_the_previous_snapshot() {
    let pki = pki("sync-fail");
    let up = upstream(&pki, false).await;
    let data = temp_dir("sync-fail-data");
    let c = config(&up, &pki, &["citizens", "households"]);
    let good = wardops::gateway::pull(c.clone(), &data, Log::memory())
        .await
        .unwrap();

    up.reg.version.store(7, Ordering::SeqCst);
    up.reg.failing.lock().unwrap().insert("households".into());
    let err = wardops::gateway::pull(c.clone(), &data, Log::memory())
        .await
        .unwrap_err();
    let line = SyncResult::of(&Err(err)).to_line();
    let v: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["result"], "Failed");
    assert_eq!(
        v["error"],
        "dataset `households`: the source answered HTTP 500"
    );
    assert_eq!(
        current_target(&data),
        Path::new("snapshots").join(&good.snapshot)
    );
    assert_eq!(
        snapshots(&data),
        vec![good.snapshot.clone()],
        "no partial snapshot left"
    );

    let mut serving = c.clone();
    serving.mode = GatewayMode::Sync;
    let gw = start(serving, Some(data.clone())).await;
    assert_eq!(
        get(gw.addr, "/citizens").await.json()[0]["v"],
        0,
        "the old data"
    );

    // The source unreachable: the same.
    let mut down = c.clone();
    down.source.endpoint = "https://127.0.0.1:9/api".into();
    down.timeout_seconds = 1;
    assert!(
        wardops::gateway::pull(down, &data, Log::memory())
            .await
            .is_err()
    );
    assert_eq!(
        current_target(&data),
        Path::new("snapshots").join(&good.snapshot)
    );
    gw.stop().await;
}

// ---------------------------------------------------------------------------
// The binary

fn write_config(dir: &Path, c: &GatewayConfig) -> PathBuf {
    let path = dir.join("gateway.yaml");
    std::fs::write(&path, serde_yaml::to_string(c).unwrap()).unwrap();
    path
}

#[tokio::test]
async fn the_binary_serves_until_sigterm_and_prints_no_credential() {
    let pki = pki("binary");
    let up = upstream(&pki, false).await;
    let key = format!("{SENTINEL}-bin-key");
    up.reg
        .expect(Expect::ApiKey("x-api-key".into(), key.clone()));
    let mut c = config(&up, &pki, &["citizens"]);
    c.auth = AuthConfig::ApiKey {
        header: "X-API-Key".into(),
        key_file: pki.dir.join("apiKey"),
    };
    write_secret(&pki.dir.join("apiKey"), &key);
    let cfg = write_config(&pki.dir, &c);
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_wardops"))
        .args(["gateway", "--config"])
        .arg(&cfg)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    tokio::io::AsyncBufReadExt::read_line(&mut stdout, &mut first)
        .await
        .unwrap();
    let event: Value = serde_json::from_str(&first).unwrap_or_else(|e| panic!("{e}: {first}"));
    let msg = event["message"].as_str().unwrap();
    let addrs: Vec<SocketAddr> = msg
        .split([' ', '(', ')'])
        .filter_map(|w| w.parse().ok())
        .collect();
    let (addr, admin) = (addrs[0], addrs[1]);

    assert_eq!(
        get(addr, &format!("/citizens/{CITIZEN}?fields=name"))
            .await
            .status,
        200
    );
    assert_eq!(get(addr, &format!("/land/{CITIZEN}")).await.status, 403);
    assert_eq!(
        get(addr, &format!("/citizens/%2e%2e/{CITIZEN}"))
            .await
            .status,
        400
    );
    assert_eq!(get(admin, "/readyz").await.status, 200);
    let metrics = get(admin, "/metrics").await.text();
    assert!(
        metrics.contains(r#"wardops_gateway_requests_total{dataset="citizens",code="2xx"} 1"#),
        "{metrics}"
    );

    let pid = child.id().unwrap().to_string();
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "clean exit on SIGTERM: {status}");
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).await.unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .await
        .unwrap();
    let all = format!("{first}{rest}{stderr}");
    assert_clean(&all, "process output");
    assert_eq!(access_lines(&all).len(), 3, "{all}");
    assert!(all.contains("gateway stopped"), "{all}");
}

#[tokio::test]
async fn the_sync_binary_reports_and_exits_nonzero_on_failure() {
    let pki = pki("sync-bin");
    let up = upstream(&pki, false).await;
    let key = format!("{SENTINEL}-sync-bin");
    let mut c = config(&up, &pki, &["citizens", "households"]);
    c.auth = AuthConfig::ApiKey {
        header: "X-API-Key".into(),
        key_file: pki.dir.join("apiKey"),
    };
    write_secret(&pki.dir.join("apiKey"), &key);
    let cfg = write_config(&pki.dir, &c);
    let data = temp_dir("sync-bin-data");
    let termination = pki.dir.join("termination-log");
    let run = || {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_wardops"))
            .args(["gateway", "sync", "--config"])
            .arg(&cfg)
            .arg("--data-dir")
            .arg(&data)
            .arg("--termination-log")
            .arg(&termination)
            .output()
    };
    let out = run().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["result"], "Succeeded");
    assert_eq!(
        std::fs::read_to_string(&termination).unwrap(),
        stdout.trim()
    );
    let good = current_target(&data);

    up.reg.failing.lock().unwrap().insert("citizens".into());
    let out = run().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success());
    let v: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["result"], "Failed");
    assert_eq!(
        v["error"],
        "dataset `citizens`: the source answered HTTP 500"
    );
    assert_eq!(
        std::fs::read_to_string(&termination).unwrap(),
        stdout.trim()
    );
    assert_eq!(current_target(&data), good);
    assert_clean(&format!("{stdout}{stderr}"), "sync output");
}
