//! etcd read directly, through its JSON gateway on the client port: what the
//! API server stores, not only what it serves (every kind, every field,
//! Events included).

use std::io::{Read, Write};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use crate::state_dir;

/// Where Kubernetes keeps Secrets in etcd: the only place a secret value may be.
pub const SECRETS_PREFIX: &str = "/registry/secrets/";

/// Fails unless `needle` is stored in the Secret `namespace/name` and in no
/// key outside Secrets.
pub fn assert_only_in_secret(needle: &str, namespace: &str, name: &str) -> Result<()> {
    let hits = keys_containing(needle.as_bytes())?;
    let own = format!("{SECRETS_PREFIX}{namespace}/{name}");
    if !hits.contains(&own) {
        bail!("the scan did not find the value in its own Secret {own}: found in {hits:?}");
    }
    let leaks: Vec<&String> = hits
        .iter()
        .filter(|k| !k.starts_with(SECRETS_PREFIX))
        .collect();
    if !leaks.is_empty() {
        bail!("a secret value is stored outside Secrets, in etcd keys {leaks:?}");
    }
    Ok(())
}

/// etcd's client port: `WARDOPS_TESTENV_ETCD_PORT` as `up.sh` reads it.
fn port() -> u16 {
    std::env::var("WARDOPS_TESTENV_ETCD_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(23790)
}

/// POSTs `body` to the gateway at `path`: the JSON answer.
fn post(path: &str, body: &Value) -> Result<Value> {
    let host = format!("127.0.0.1:{}", port());
    let body = body.to_string();
    let mut s = std::net::TcpStream::connect(&host).with_context(|| {
        format!(
            "connecting to etcd at {host} (state in {})",
            state_dir().display()
        )
    })?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        s,
        "POST {path} HTTP/1.0\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow!("no HTTP answer from etcd"))?;
    if !head.starts_with("HTTP/1.0 200") && !head.starts_with("HTTP/1.1 200") {
        bail!(
            "etcd answered {}: {body}",
            head.lines().next().unwrap_or_default()
        );
    }
    Ok(serde_json::from_str(body)?)
}

/// Every key whose stored value contains `needle`, reading the whole
/// keyspace in pages. A test of secret separation holds the keys outside
/// [`SECRETS_PREFIX`] to none, and the Secret's own key to being found (the
/// store is not encrypted here: that proves the scan sees values).
pub fn keys_containing(needle: &[u8]) -> Result<Vec<String>> {
    let mut hits = Vec::new();
    let mut from = vec![0u8];
    let mut scanned = 0usize;
    loop {
        let page = post(
            "/v3/kv/range",
            &json!({"key": B64.encode(&from), "range_end": B64.encode([0u8]), "limit": 200}),
        )?;
        let kvs = page["kvs"].as_array().cloned().unwrap_or_default();
        for kv in &kvs {
            let key = B64.decode(kv["key"].as_str().unwrap_or_default())?;
            let value = B64.decode(kv["value"].as_str().unwrap_or_default())?;
            scanned += 1;
            let name = String::from_utf8_lossy(&key).into_owned();
            if value.windows(needle.len()).any(|w| w == needle) {
                hits.push(name);
            }
            from = key;
            from.push(0);
        }
        if kvs.is_empty() || page["more"].as_bool() != Some(true) {
            break;
        }
    }
    if scanned == 0 {
        bail!("etcd holds no key: not the cluster's etcd?");
    }
    Ok(hits)
}
