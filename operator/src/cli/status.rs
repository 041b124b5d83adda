//! `kubectl wardops status`: one view of a city. Each WardService with its
//! connectors and its backups; what needs attention first.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::ResourceExt;
use serde::Serialize;

use super::kube::{CliError, Cluster, connect};
use super::{Format, KubeArgs};
use crate::api::common::condition::READY;
use crate::api::data_connector::ConnectorMode;
use crate::api::{BackupPolicy, DataConnector, WardService};
use crate::controller::backup_policy::status::reason::BACKUP_FAILED;
use crate::controller::backup_policy::status::{target_overdue, target_skipped};
use crate::runtime::settings::DEFAULT_BACKUP_OVERDUE_GRACE_SECONDS;

/// The whole view (`-o json|yaml` prints it as is).
#[derive(Serialize, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CityStatus {
    /// WardServices, those that need attention first.
    pub ward_services: Vec<WardRow>,
    /// DataConnectors and BackupPolicies that serve no listed WardService.
    pub unattached: Vec<OtherRow>,
}

/// One WardService.
#[derive(Serialize, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WardRow {
    pub namespace: String,
    pub name: String,
    /// The ward's code and display name (`Phường Hồng Bàng`).
    pub ward_code: String,
    pub ward_name: String,
    pub classification: String,
    /// `True`, `False` or `Unknown`.
    pub ready: String,
    pub reason: String,
    pub message: String,
    pub ready_replicas: i32,
    /// The desired count; none when autoscaled.
    pub replicas: Option<i32>,
    pub connectors: Vec<ConnectorRow>,
    pub backups: Vec<BackupRow>,
    /// Why this row needs attention; empty when all is well.
    pub attention: Vec<String>,
}

/// A DataConnector of a ward.
#[derive(Serialize, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorRow {
    pub name: String,
    /// `proxy` or `sync`.
    pub mode: String,
    pub ready: bool,
    pub reason: String,
    /// Sync mode: when the last pull ended, and how.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_sync_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_sync_result: Option<String>,
}

/// A BackupPolicy's view of one ward.
#[derive(Serialize, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BackupRow {
    pub policy: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_successful_time: Option<String>,
    /// Seconds since the last success.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_success_age_seconds: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_schedule_time: Option<String>,
    pub overdue: bool,
    pub suspended: bool,
    /// Why the target is skipped or failing (e.g. `BackupFailed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A DataConnector or BackupPolicy tied to no listed WardService.
#[derive(Serialize, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OtherRow {
    pub namespace: String,
    pub kind: String,
    pub name: String,
    pub ready: String,
    pub reason: String,
    pub message: String,
}

/// Status, reason and message of the Ready condition.
pub(super) fn ready_of(conditions: &[Condition]) -> (String, String, String) {
    conditions.iter().find(|c| c.type_ == READY).map_or(
        ("Unknown".into(), "NotReconciled".into(), String::new()),
        |c| (c.status.clone(), c.reason.clone(), c.message.clone()),
    )
}

fn rfc3339(t: &Time) -> String {
    t.0.to_string()
}

/// Builds the view from the listed objects at `now`.
pub fn build(
    wards: &[WardService],
    connectors: &[DataConnector],
    policies: &[BackupPolicy],
    now: Timestamp,
) -> CityStatus {
    let grace = i64::try_from(DEFAULT_BACKUP_OVERDUE_GRACE_SECONDS).unwrap_or(i64::MAX);
    let key = |ns: &str, name: &str| (ns.to_string(), name.to_string());
    let mut rows: BTreeMap<(String, String), WardRow> = BTreeMap::new();
    for ws in wards {
        let st = ws.status.clone().unwrap_or_default();
        let (ready, reason, message) = ready_of(&st.conditions);
        let ns = ws.namespace().unwrap_or_default();
        let mut attention = Vec::new();
        if ready != "True" {
            attention.push(format!("Ready={ready} {reason}"));
        }
        rows.insert(
            key(&ns, &ws.name_any()),
            WardRow {
                namespace: ns,
                name: ws.name_any(),
                ward_code: ws.spec.ward.code.clone(),
                ward_name: ws.spec.ward.name.clone(),
                classification: ws.spec.classification.as_str().to_string(),
                ready,
                reason,
                message,
                ready_replicas: st.ready_replicas.unwrap_or(0),
                replicas: ws.spec.autoscaling.is_none().then_some(ws.spec.replicas),
                connectors: Vec::new(),
                backups: Vec::new(),
                attention,
            },
        );
    }
    let mut unattached = Vec::new();
    for dc in connectors {
        let ns = dc.namespace().unwrap_or_default();
        let st = dc.status.clone().unwrap_or_default();
        let (ready, reason, message) = ready_of(&st.conditions);
        match rows.get_mut(&key(&ns, &dc.spec.ward_service_ref.name)) {
            Some(row) => {
                if ready != "True" {
                    row.attention
                        .push(format!("connector {} {reason}", dc.name_any()));
                }
                if st.last_sync_result.as_deref() == Some("Failed") {
                    row.attention
                        .push(format!("connector {} last sync failed", dc.name_any()));
                }
                row.connectors.push(ConnectorRow {
                    name: dc.name_any(),
                    mode: match dc.spec.mode {
                        ConnectorMode::Proxy => "proxy".into(),
                        ConnectorMode::Sync => "sync".into(),
                    },
                    ready: ready == "True",
                    reason,
                    last_sync_time: st.last_sync_time.as_ref().map(rfc3339),
                    last_sync_result: st.last_sync_result.clone(),
                });
            }
            None => unattached.push(OtherRow {
                namespace: ns,
                kind: "DataConnector".into(),
                name: dc.name_any(),
                ready,
                reason,
                message,
            }),
        }
    }
    for bp in policies {
        let ns = bp.namespace().unwrap_or_default();
        let st = bp.status.clone().unwrap_or_default();
        let since = bp.metadata.creation_timestamp.as_ref().map_or(now, |t| t.0);
        let mut attached = false;
        for t in &st.targets {
            let Some(row) = rows.get_mut(&key(&ns, &t.ward_service)) else {
                continue;
            };
            attached = true;
            let overdue = !target_skipped(t) && target_overdue(&bp.spec, t, since, now, grace);
            if overdue {
                row.attention
                    .push(format!("backup {} overdue", bp.name_any()));
            }
            if let Some(r) = &t.reason {
                row.attention.push(format!("backup {} {r}", bp.name_any()));
            }
            row.backups.push(BackupRow {
                policy: bp.name_any(),
                last_successful_time: t.last_successful_time.as_ref().map(rfc3339),
                last_success_age_seconds: t
                    .last_successful_time
                    .as_ref()
                    .map(|s| now.as_second() - s.0.as_second()),
                next_schedule_time: st.next_schedule_time.as_ref().map(rfc3339),
                overdue,
                suspended: bp.spec.suspend,
                reason: t.reason.clone(),
            });
        }
        let (ready, reason, message) = ready_of(&st.conditions);
        if !attached {
            unattached.push(OtherRow {
                namespace: ns,
                kind: "BackupPolicy".into(),
                name: bp.name_any(),
                ready,
                reason,
                message,
            });
        }
    }
    let mut ward_services: Vec<WardRow> = rows.into_values().collect();
    ward_services.sort_by(|a, b| {
        (a.attention.is_empty(), &a.namespace, &a.ward_name, &a.name).cmp(&(
            b.attention.is_empty(),
            &b.namespace,
            &b.ward_name,
            &b.name,
        ))
    });
    unattached.sort_by(|a, b| {
        (a.ready == "True", &a.namespace, &a.kind, &a.name).cmp(&(
            b.ready == "True",
            &b.namespace,
            &b.kind,
            &b.name,
        ))
    });
    CityStatus {
        ward_services,
        unattached,
    }
}

/// `5s`, `3m`, `2h`, `4d`: kubectl's way of showing an age.
pub fn age(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        7200..=172_799 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// Colours, only on a terminal and without `NO_COLOR`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Style {
    pub colour: bool,
}

impl Style {
    /// Colour when standard output is a terminal and `NO_COLOR` is unset or empty.
    pub fn detect() -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style {
            colour: !no_color && std::io::stdout().is_terminal(),
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
    fn red(&self, t: &str) -> String {
        self.paint("31", t)
    }
    fn green(&self, t: &str) -> String {
        self.paint("32", t)
    }
    fn yellow(&self, t: &str) -> String {
        self.paint("33", t)
    }
}

fn connectors_cell(row: &WardRow, now: Timestamp) -> String {
    if row.connectors.is_empty() {
        return "-".into();
    }
    row.connectors
        .iter()
        .map(|c| {
            let state = if c.ready { "ready" } else { c.reason.as_str() };
            let sync = match (&c.last_sync_time, &c.last_sync_result) {
                (Some(t), Some(r)) => format!(", sync {r} {} ago", since(t, now)),
                _ if c.mode == "sync" => ", never synced".to_string(),
                _ => String::new(),
            };
            format!("{} ({} {state}{sync})", c.name, c.mode)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn backups_cell(row: &WardRow, now: Timestamp) -> String {
    if row.backups.is_empty() {
        return "-".into();
    }
    row.backups
        .iter()
        .map(|b| {
            if let Some(r) = b.reason.as_deref().filter(|r| *r != BACKUP_FAILED) {
                return format!("{}: skipped, {r}", b.policy);
            }
            let mut cell = match b.last_success_age_seconds {
                Some(s) => format!("{}: last ok {} ago", b.policy, age(s)),
                None => format!("{}: no backup yet", b.policy),
            };
            if b.overdue {
                cell.push_str(" OVERDUE");
            }
            if let Some(r) = &b.reason {
                cell.push_str(&format!(", {r}"));
            }
            if b.suspended {
                cell.push_str(", suspended");
            } else if let Some(n) = &b.next_schedule_time {
                cell.push_str(&format!(", next in {}", until(n, now)));
            }
            cell
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn since(t: &str, now: Timestamp) -> String {
    t.parse::<Timestamp>()
        .map_or("?".into(), |t| age(now.as_second() - t.as_second()))
}

fn until(t: &str, now: Timestamp) -> String {
    t.parse::<Timestamp>()
        .map_or("?".into(), |t| age(t.as_second() - now.as_second()))
}

/// The table, aligned by display width (Vietnamese names intact).
pub fn table(view: &CityStatus, style: Style, now: Timestamp) -> String {
    let mut rows: Vec<Vec<String>> = vec![
        [
            "",
            "NAMESPACE",
            "WARD",
            "SERVICE",
            "CLASS",
            "READY",
            "REASON",
            "PODS",
            "CONNECTORS",
            "BACKUPS",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for r in &view.ward_services {
        let pods = match r.replicas {
            Some(n) => format!("{}/{n}", r.ready_replicas),
            None => format!("{}/auto", r.ready_replicas),
        };
        rows.push(vec![
            mark(!r.attention.is_empty()),
            r.namespace.clone(),
            format!("{} ({})", r.ward_name, r.ward_code),
            r.name.clone(),
            r.classification.clone(),
            r.ready.clone(),
            r.reason.clone(),
            pods,
            connectors_cell(r, now),
            backups_cell(r, now),
        ]);
    }
    let mut out = align(&rows, style);
    if !view.unattached.is_empty() {
        out.push('\n');
        let mut other: Vec<Vec<String>> = vec![
            [
                "",
                "NAMESPACE",
                "KIND",
                "NAME",
                "READY",
                "REASON",
                "MESSAGE",
            ]
            .map(String::from)
            .to_vec(),
        ];
        for o in &view.unattached {
            other.push(vec![
                mark(o.ready != "True"),
                o.namespace.clone(),
                o.kind.clone(),
                o.name.clone(),
                o.ready.clone(),
                o.reason.clone(),
                o.message.clone(),
            ]);
        }
        out.push_str(&align(&other, style));
    }
    out
}

/// The first column: `!` on a row that needs attention.
fn mark(attention: bool) -> String {
    if attention { "!" } else { "" }.to_string()
}

fn align(rows: &[Vec<String>], style: Style) -> String {
    use unicode_width::UnicodeWidthStr;
    let cols = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..cols)
        .map(|i| rows.iter().map(|r| r[i].width()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for cells in rows {
        let mut line = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let last = i + 1 == cells.len();
            let shown = match cell.as_str() {
                "True" => style.green(cell),
                "!" => style.red(cell),
                "False" => style.red(cell),
                "Unknown" => style.yellow(cell),
                _ if cell.contains("OVERDUE") || cell.contains("Failed") => style.red(cell),
                _ => cell.clone(),
            };
            line.push_str(&shown);
            if !last {
                line.push_str(&" ".repeat(widths[i] - cell.width() + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Prints the view of the namespace (or all) in `format`.
pub async fn run(args: &KubeArgs, all: bool, format: Format) -> Result<(), CliError> {
    let cluster = connect(args).await?;
    let view = fetch(&cluster, all).await?;
    let now = Timestamp::now();
    let text = match format {
        Format::Table if view.ward_services.is_empty() && view.unattached.is_empty() => match all {
            true => "No WardServices found.\n".to_string(),
            false => format!(
                "No WardServices found in namespace {}.\n",
                cluster.namespace
            ),
        },
        Format::Table => table(&view, Style::detect(), now),
        Format::Json => serde_json::to_string_pretty(&view)
            .map(|s| s + "\n")
            .map_err(|e| CliError::Output(e.to_string()))?,
        Format::Yaml => {
            serde_yaml::to_string(&view).map_err(|e| CliError::Output(e.to_string()))?
        }
    };
    std::io::stdout()
        .write_all(text.as_bytes())
        .map_err(|e| CliError::Output(e.to_string()))
}

/// Lists the three kinds and builds the view.
pub async fn fetch(cluster: &Cluster, all: bool) -> Result<CityStatus, CliError> {
    let ns = (!all).then_some(cluster.namespace.as_str());
    let wards = cluster.list::<WardService>(ns).await?.items;
    let connectors = cluster.list::<DataConnector>(ns).await?.items;
    let policies = cluster.list::<BackupPolicy>(ns).await?.items;
    Ok(build(&wards, &connectors, &policies, Timestamp::now()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ward(ns: &str, name: &str, ward_name: &str, ready: &str, reason: &str) -> WardService {
        serde_json::from_value(json!({
            "apiVersion": "wardops.io/v1alpha1", "kind": "WardService",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"ward": {"code": "11311", "name": ward_name}, "classification": "internal",
                "image": "i", "replicas": 2, "port": 8080},
            "status": {"readyReplicas": if ready == "True" { 2 } else { 0 },
                "conditions": [{"type": "Ready", "status": ready, "reason": reason, "message": "m",
                    "lastTransitionTime": "2026-11-27T00:00:00Z"}]}
        }))
        .unwrap()
    }

    fn policy(ns: &str, ward: &str, last_ok: &str) -> BackupPolicy {
        serde_json::from_value(json!({
            "apiVersion": "wardops.io/v1alpha1", "kind": "BackupPolicy",
            "metadata": {"name": "nightly", "namespace": ns, "creationTimestamp": "2026-11-01T00:00:00Z"},
            "spec": {"schedule": "0 1 * * *", "timeZone": "Asia/Ho_Chi_Minh",
                "target": {"wardServiceRef": {"name": ward}},
                "destination": {"pvc": {"claimName": "b"}}, "retention": {"keepDaily": 7}},
            "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Scheduled",
                    "message": "", "lastTransitionTime": "2026-11-27T00:00:00Z"}],
                "targets": [{"wardService": ward, "cronJob": "nightly-x", "lastSuccessfulTime": last_ok}]}
        }))
        .unwrap()
    }

    #[test]
    fn what_needs_attention_comes_first() {
        let now: Timestamp = "2026-11-27T12:00:00Z".parse().unwrap();
        let wards = [
            ward("a", "ok", "Phường Hồng Bàng", "True", "Available"),
            ward(
                "b",
                "broken",
                "Xã Đảo Bạch Long Vĩ",
                "False",
                "SecretMissing",
            ),
            ward("a", "late", "Phường Lê Chân", "True", "Available"),
        ];
        let policies = [
            policy("a", "late", "2026-11-20T01:00:00Z"),
            policy("a", "ok", "2026-11-27T01:00:00Z"),
        ];
        let v = build(&wards, &[], &policies, now);
        let names: Vec<&str> = v.ward_services.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["late", "broken", "ok"]);
        assert!(v.ward_services[0].backups[0].overdue);
        assert!(!v.ward_services[2].backups[0].overdue);
        assert_eq!(v.ward_services[1].attention, ["Ready=False SecretMissing"]);
    }

    #[test]
    fn the_table_keeps_vietnamese_names_and_aligns_them() {
        let now: Timestamp = "2026-11-27T12:00:00Z".parse().unwrap();
        let wards = [
            ward("a", "one-stop", "Xã Đảo Bạch Long Vĩ", "True", "Available"),
            ward("a", "records", "Phường Hồng Bàng", "False", "SecretMissing"),
        ];
        let out = table(&build(&wards, &[], &[], now), Style { colour: false }, now);
        assert!(out.contains("Xã Đảo Bạch Long Vĩ (11311)"), "{out}");
        assert!(!out.contains('\x1b'), "no colour off a terminal");
        use unicode_width::UnicodeWidthStr;
        let starts: Vec<usize> = out
            .lines()
            .map(|l| {
                l[..l
                    .find("records")
                    .or(l.find("one-stop"))
                    .or(l.find("SERVICE"))
                    .unwrap()]
                    .width()
            })
            .collect();
        assert!(starts.windows(2).all(|w| w[0] == w[1]), "{out}");
        let coloured = table(&build(&wards, &[], &[], now), Style { colour: true }, now);
        assert!(coloured.contains("\x1b[31mFalse"), "{coloured}");
    }

    #[test]
    fn ages_read_like_kubectl() {
        assert_eq!(age(5), "5s");
        assert_eq!(age(600), "10m");
        assert_eq!(age(3 * 3600), "3h");
        assert_eq!(age(5 * 86_400), "5d");
    }
}
