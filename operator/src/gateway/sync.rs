//! Sync mode: `wardops gateway sync` pulls every allowed dataset into a new
//! snapshot and, only when all succeeded, points `<data-dir>/current` at it
//! (a symlink replaced by rename, so readers see the old or the new snapshot,
//! never a mix). Layout:
//!
//! ```text
//! <data-dir>/current -> snapshots/20260503T020000.123Z
//! <data-dir>/snapshots/20260503T020000.123Z/<dataset>
//! <data-dir>/snapshots/20260503T020000.123Z/.snapshot.json
//! ```

use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderValue, Method, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde::{Deserialize, Serialize};

use super::config::GatewayConfig;
use super::credentials::{CredentialError, Credentials};
use super::log::{Log, now_rfc3339};
use super::metrics::GatewayMetrics;
use super::oauth2::{OAuth2, TokenError};
use super::server::REQUEST_ID;

/// The symlink to the snapshot served.
pub const CURRENT: &str = "current";
/// The directory of snapshots.
pub const SNAPSHOTS: &str = "snapshots";
/// The metadata file of a snapshot.
pub const SNAPSHOT_META: &str = ".snapshot.json";
/// Snapshots kept, the current one included.
pub const KEEP_SNAPSHOTS: usize = 2;
const PARTIAL: &str = ".partial";

/// Why a pull failed. Never quotes the source's answer or a credential.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The source credentials cannot be loaded.
    #[error("cannot load the source credentials")]
    Credentials(#[source] Arc<CredentialError>),
    /// No OAuth2 token.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The source cannot be reached.
    #[error("dataset `{dataset}`: cannot reach the source")]
    Request {
        dataset: String,
        #[source]
        source: hyper_util::client::legacy::Error,
    },
    /// The source answered with an error.
    #[error("dataset `{dataset}`: the source answered HTTP {status}")]
    Status { dataset: String, status: u16 },
    /// The body broke off.
    #[error("dataset `{dataset}`: the source's answer broke off")]
    Body {
        dataset: String,
        #[source]
        source: hyper::Error,
    },
    /// The pull took too long.
    #[error("dataset `{dataset}`: not pulled within syncTimeoutSeconds ({seconds} s)")]
    Timeout { dataset: String, seconds: u32 },
    /// A file of the data directory cannot be written.
    #[error("cannot write {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The URL of a dataset is not valid (validate() refuses such endpoints first).
    #[error("dataset `{dataset}`: source.endpoint does not make a valid URL")]
    Url { dataset: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SyncError + '_ {
    move |source| SyncError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One dataset of a snapshot.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DatasetReport {
    /// Dataset name.
    pub name: String,
    /// Elements if the body is a JSON array, else lines.
    pub records: u64,
    /// Size of the body.
    pub bytes: u64,
    /// The source's `Content-Type`, served back in sync mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
}

/// A complete snapshot, as `.snapshot.json` records it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotMeta {
    /// When the pull finished (RFC 3339, UTC).
    pub time: String,
    /// The snapshot directory's name.
    pub snapshot: String,
    /// The datasets pulled.
    pub datasets: Vec<DatasetReport>,
}

impl SnapshotMeta {
    /// Reads a snapshot's metadata, if readable.
    pub fn read(dir: &Path) -> Option<Self> {
        let text = std::fs::read(dir.join(SNAPSHOT_META)).ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// The content type recorded for a dataset.
    pub fn content_type(&self, dataset: &str) -> Option<&str> {
        self.datasets
            .iter()
            .find(|d| d.name == dataset)
            .and_then(|d| d.content_type.as_deref())
    }

    /// Seconds since the pull.
    pub fn age_seconds(&self) -> Option<i64> {
        let t: jiff::Timestamp = self.time.parse().ok()?;
        Some(jiff::Timestamp::now().as_second() - t.as_second())
    }
}

/// The one-line JSON result of `wardops gateway sync`, which the DataConnector
/// controller reads back from the sync pod's termination message.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(tag = "result")]
pub enum SyncResult {
    /// Every dataset pulled; `current` points at the new snapshot.
    Succeeded {
        /// When the pull finished.
        time: String,
        /// The new snapshot's name.
        snapshot: String,
        /// The datasets pulled.
        datasets: Vec<DatasetSummary>,
    },
    /// Something failed; `current` is unchanged.
    Failed {
        /// When the pull failed.
        time: String,
        /// What failed (no credential, no body of the source).
        error: String,
    },
}

/// A dataset in the result line.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct DatasetSummary {
    /// Dataset name.
    pub name: String,
    /// Elements if the body is a JSON array, else lines.
    pub records: u64,
    /// Size of the body.
    pub bytes: u64,
}

impl SyncResult {
    /// The result of a pull.
    pub fn of(result: &Result<SnapshotMeta, SyncError>) -> Self {
        match result {
            Ok(m) => SyncResult::Succeeded {
                time: m.time.clone(),
                snapshot: m.snapshot.clone(),
                datasets: m
                    .datasets
                    .iter()
                    .map(|d| DatasetSummary {
                        name: d.name.clone(),
                        records: d.records,
                        bytes: d.bytes,
                    })
                    .collect(),
            },
            Err(e) => SyncResult::Failed {
                time: now_rfc3339(),
                error: crate::error_chain(e),
            },
        }
    }

    /// One JSON line, without the newline.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| r#"{"result":"Failed"}"#.to_string())
    }
}

/// Writes the result where Kubernetes reads a container's termination
/// message, when that file can be written; silently otherwise.
pub fn write_termination_log(path: &Path, line: &str) {
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
    {
        let _ = f.write_all(line.as_bytes());
    }
}

/// Counts records: elements of a top-level JSON array, else lines.
pub fn count_records(path: &Path, starts_with_bracket: bool, lines: u64) -> u64 {
    struct Count(u64);
    impl<'de> serde::de::Visitor<'de> for Count {
        type Value = u64;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON array")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(mut self, mut seq: A) -> Result<u64, A::Error> {
            while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {
                self.0 += 1;
            }
            Ok(self.0)
        }
    }
    if starts_with_bracket && let Ok(f) = std::fs::File::open(path) {
        let mut de = serde_json::Deserializer::from_reader(BufReader::new(f));
        if let Ok(n) = serde::Deserializer::deserialize_seq(&mut de, Count(0))
            && de.end().is_ok()
        {
            return n;
        }
    }
    lines
}

/// A new snapshot directory name, sortable: `20260503T020000.123Z`.
fn snapshot_name(snapshots: &Path) -> String {
    let base = jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%S%.3fZ")
        .to_string();
    let mut name = base.clone();
    let mut i = 1;
    while snapshots.join(&name).exists() || snapshots.join(format!("{name}{PARTIAL}")).exists() {
        name = format!("{base}-{i}");
        i += 1;
    }
    name
}

struct Puller {
    config: Arc<GatewayConfig>,
    credentials: Arc<Credentials>,
    oauth: Option<Arc<OAuth2>>,
    base: String,
}

impl Puller {
    /// Pulls one dataset into `file`.
    async fn pull(&self, dataset: &str, file: &Path, id: &str) -> Result<DatasetReport, SyncError> {
        let loaded = self.credentials.get().map_err(SyncError::Credentials)?;
        let uri: http::Uri =
            format!("{}/{dataset}", self.base)
                .parse()
                .map_err(|_| SyncError::Url {
                    dataset: dataset.to_string(),
                })?;
        let mut request = http::Request::new(Full::new(Bytes::new()));
        *request.method_mut() = Method::GET;
        *request.uri_mut() = uri;
        let h = request.headers_mut();
        if let Ok(v) = HeaderValue::from_str(id) {
            h.insert(REQUEST_ID, v);
        }
        if let Some((name, value)) = &loaded.header {
            h.insert(name.clone(), value.clone());
        }
        if let Some(o) = &self.oauth {
            let v = o.authorization(&self.credentials).await?;
            request.headers_mut().insert(header::AUTHORIZATION, v);
        }
        let response =
            loaded
                .client
                .request(request)
                .await
                .map_err(|source| SyncError::Request {
                    dataset: dataset.to_string(),
                    source,
                })?;
        if response.status() != StatusCode::OK {
            return Err(SyncError::Status {
                dataset: dataset.to_string(),
                status: response.status().as_u16(),
            });
        }
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let mut out = std::fs::File::create(file).map_err(io(file))?;
        let mut body = response.into_body();
        let (mut bytes, mut lines, mut last) = (0u64, 0u64, b'\n');
        let mut first: Option<u8> = None;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|source| SyncError::Body {
                dataset: dataset.to_string(),
                source,
            })?;
            let Ok(chunk) = frame.into_data() else {
                continue;
            };
            if first.is_none() {
                first = chunk.iter().copied().find(|c| !c.is_ascii_whitespace());
            }
            bytes += chunk.len() as u64;
            lines += chunk.iter().filter(|&&c| c == b'\n').count() as u64;
            if let Some(&c) = chunk.last() {
                last = c;
            }
            out.write_all(&chunk).map_err(io(file))?;
        }
        out.sync_all().map_err(io(file))?;
        if last != b'\n' {
            lines += 1;
        }
        Ok(DatasetReport {
            name: dataset.to_string(),
            records: count_records(file, first == Some(b'['), lines),
            bytes,
            content_type,
        })
    }
}

/// Pulls every dataset into a new snapshot; switches `current` only when all
/// succeeded, then removes snapshots beyond the newest [`KEEP_SNAPSHOTS`].
/// Run one pull at a time per data directory (a CronJob with
/// `concurrencyPolicy: Forbid`): a pull removes unfinished ones it finds.
pub async fn pull(
    config: GatewayConfig,
    data_dir: &Path,
    log: Log,
) -> Result<SnapshotMeta, SyncError> {
    // The same credentials and client as proxy mode, whatever `mode` says.
    let config = Arc::new(config);
    let metrics = GatewayMetrics::new();
    let credentials = Arc::new(Credentials::new(
        config.clone(),
        log.clone(),
        metrics.clone(),
    ));
    let puller = Puller {
        oauth: OAuth2::from_config(&config, metrics, log),
        base: config.source.endpoint.trim_end_matches('/').to_string(),
        credentials,
        config: config.clone(),
    };

    let snapshots = data_dir.join(SNAPSHOTS);
    std::fs::create_dir_all(&snapshots).map_err(io(&snapshots))?;
    remove_partials(&snapshots);
    let name = snapshot_name(&snapshots);
    let partial = snapshots.join(format!("{name}{PARTIAL}"));
    std::fs::create_dir(&partial).map_err(io(&partial))?;

    let result = pull_into(&puller, &partial, &name).await;
    let meta = match result {
        Ok(m) => m,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&partial);
            return Err(e);
        }
    };
    let done = snapshots.join(&name);
    std::fs::rename(&partial, &done).map_err(io(&done))?;
    sync_dir(&snapshots);
    switch_current(data_dir, &name)?;
    prune(&snapshots, &name);
    Ok(meta)
}

async fn pull_into(puller: &Puller, dir: &Path, name: &str) -> Result<SnapshotMeta, SyncError> {
    let seconds = puller.config.sync_timeout_seconds;
    let mut datasets = Vec::new();
    for (i, dataset) in puller.config.datasets.iter().enumerate() {
        let id = format!("sync-{name}-{i}");
        let file = dir.join(dataset);
        let report = tokio::time::timeout(
            Duration::from_secs(u64::from(seconds)),
            puller.pull(dataset, &file, &id),
        )
        .await
        .map_err(|_| SyncError::Timeout {
            dataset: dataset.clone(),
            seconds,
        })??;
        datasets.push(report);
    }
    let meta = SnapshotMeta {
        time: now_rfc3339(),
        snapshot: name.to_string(),
        datasets,
    };
    let path = dir.join(SNAPSHOT_META);
    let json = serde_json::to_vec_pretty(&meta).unwrap_or_default();
    let mut f = std::fs::File::create(&path).map_err(io(&path))?;
    f.write_all(&json).map_err(io(&path))?;
    f.sync_all().map_err(io(&path))?;
    sync_dir(dir);
    Ok(meta)
}

/// Points `<data-dir>/current` at `snapshots/<name>`, atomically: a new
/// symlink renamed over the old one. The target is relative, so the gateway
/// may mount the volume elsewhere than the sync job.
fn switch_current(data_dir: &Path, name: &str) -> Result<(), SyncError> {
    let tmp = data_dir.join(format!(".{CURRENT}.{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(Path::new(SNAPSHOTS).join(name), &tmp).map_err(io(&tmp))?;
    let current = data_dir.join(CURRENT);
    std::fs::rename(&tmp, &current).map_err(|source| {
        let _ = std::fs::remove_file(&tmp);
        SyncError::Io {
            path: current.clone(),
            source,
        }
    })?;
    sync_dir(data_dir);
    Ok(())
}

fn remove_partials(snapshots: &Path) {
    if let Ok(entries) = std::fs::read_dir(snapshots) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().ends_with(PARTIAL) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

/// Removes complete snapshots beyond the newest [`KEEP_SNAPSHOTS`], never `current`.
fn prune(snapshots: &Path, current: &str) {
    let Ok(entries) = std::fs::read_dir(snapshots) else {
        return;
    };
    let mut names: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(PARTIAL))
        .collect();
    names.sort();
    let excess = names.len().saturating_sub(KEEP_SNAPSHOTS);
    for n in names.into_iter().take(excess) {
        if n != current {
            let _ = std::fs::remove_dir_all(snapshots.join(n));
        }
    }
}

/// Makes a directory's entries durable (a crash right after the switch
/// must not lose it); best effort.
fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_array_elements_else_lines() {
        let dir = std::env::temp_dir().join(format!("wardops-records-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("d");
        std::fs::write(&f, " [ {\"a\": [1,2]}, 2, \"x\" ]\n").unwrap();
        assert_eq!(count_records(&f, true, 1), 3);
        std::fs::write(&f, "[1, 2").unwrap();
        assert_eq!(count_records(&f, true, 1), 1);
        std::fs::write(&f, "a\nb\n").unwrap();
        assert_eq!(count_records(&f, false, 2), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn failed_result_line_has_no_source_body() {
        let r: Result<SnapshotMeta, SyncError> = Err(SyncError::Status {
            dataset: "citizens".into(),
            status: 500,
        });
        let line = SyncResult::of(&r).to_line();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["result"], "Failed");
        assert_eq!(
            v["error"],
            "dataset `citizens`: the source answered HTTP 500"
        );
    }
}
