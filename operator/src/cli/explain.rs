//! `kubectl wardops explain-reason REASON`: the runbook entry of a condition
//! reason, from the same text as the docs (compiled in), in English or
//! Vietnamese. An entry is a section whose heading names the reason in
//! backticks, e.g. ``### `SecretMissing` (Ready=False)``.

use std::collections::BTreeSet;

use super::Lang;
use super::kube::{CliError, suggestion};

/// The documents that hold runbook entries: (path in the repository, text).
const EN: &[(&str, &str)] = &[
    (
        "docs/troubleshooting.md",
        include_str!("../../../docs/troubleshooting.md"),
    ),
    (
        "docs/connectors.md",
        include_str!("../../../docs/connectors.md"),
    ),
    ("docs/backups.md", include_str!("../../../docs/backups.md")),
];
const VI: &[(&str, &str)] = &[
    (
        "docs/vi/troubleshooting.md",
        include_str!("../../../docs/vi/troubleshooting.md"),
    ),
    (
        "docs/vi/connectors.md",
        include_str!("../../../docs/vi/connectors.md"),
    ),
    (
        "docs/vi/backups.md",
        include_str!("../../../docs/vi/backups.md"),
    ),
];

fn docs(lang: Lang) -> &'static [(&'static str, &'static str)] {
    match lang {
        Lang::En => EN,
        Lang::Vi => VI,
    }
}

/// One runbook entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub doc: &'static str,
    pub heading: String,
    pub body: String,
}

fn heading_level(line: &str) -> Option<usize> {
    let n = line.chars().take_while(|c| *c == '#').count();
    (n > 0 && line[n..].starts_with(' ')).then_some(n)
}

/// The reasons a heading names: its words in backticks that look like one
/// (CamelCase letters and digits).
fn named(heading: &str) -> Vec<&str> {
    heading
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|w| {
            w.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                && w.chars().all(|c| c.is_ascii_alphanumeric())
        })
        .collect()
}

/// Every entry in `lang`, with the reasons it explains.
fn all(lang: Lang) -> Vec<(Vec<String>, Entry)> {
    let mut out = Vec::new();
    for (doc, text) in docs(lang) {
        let lines: Vec<&str> = text.lines().collect();
        let mut in_code = false;
        let mut heads = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            if line.trim_start().starts_with("```") {
                in_code = !in_code;
            }
            if !in_code && let Some(level) = heading_level(line) {
                heads.push((i, level));
            }
        }
        for (k, &(i, level)) in heads.iter().enumerate() {
            let reasons = named(lines[i]);
            if reasons.is_empty() {
                continue;
            }
            let end = heads[k + 1..]
                .iter()
                .find(|(_, l)| *l <= level)
                .map_or(lines.len(), |(j, _)| *j);
            let body = lines[i + 1..end].join("\n").trim().to_string();
            out.push((
                reasons.iter().map(|r| r.to_string()).collect(),
                Entry {
                    doc,
                    heading: lines[i].trim_start_matches('#').trim().to_string(),
                    body,
                },
            ));
        }
    }
    out
}

/// The reasons the docs in `lang` explain.
pub fn known(lang: Lang) -> BTreeSet<String> {
    all(lang).into_iter().flat_map(|(r, _)| r).collect()
}

/// The entries for `reason` (case-insensitive), in `lang`.
pub fn entries(reason: &str, lang: Lang) -> Vec<Entry> {
    all(lang)
        .into_iter()
        .filter(|(rs, _)| rs.iter().any(|r| r.eq_ignore_ascii_case(reason)))
        .map(|(_, e)| e)
        .collect()
}

/// The text `explain-reason` prints.
pub fn explain(reason: &str, lang: Lang) -> Result<String, CliError> {
    let found = entries(reason, lang);
    if found.is_empty() {
        let names: Vec<String> = known(lang).into_iter().collect();
        return Err(CliError::Invalid(format!(
            "no runbook entry for reason {reason:?}{}",
            suggestion(reason, &names)
        )));
    }
    let mut out = String::new();
    for e in found {
        out.push_str(&format!("{}  [{}]\n\n{}\n\n", e.heading, e.doc, e.body));
    }
    Ok(out)
}

/// Vietnamese when `LC_ALL`, `LC_MESSAGES` or `LANG` (the first set) starts
/// with `vi`; English otherwise.
pub fn lang_from_env() -> Lang {
    let value = ["LC_ALL", "LC_MESSAGES", "LANG"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_default();
    if value.to_ascii_lowercase().starts_with("vi") {
        Lang::Vi
    } else {
        Lang::En
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::{backup_policy, data_connector, restore, ward_service};

    /// Every reason a controller can set, from the code.
    fn code_reasons() -> BTreeSet<&'static str> {
        [
            ward_service::status::reason::ALL,
            data_connector::status::reason::ALL,
            backup_policy::status::reason::ALL,
            restore::reason::ALL,
        ]
        .concat()
        .into_iter()
        .collect()
    }

    #[test]
    fn every_reason_of_the_code_has_an_entry_in_both_languages() {
        for lang in [Lang::En, Lang::Vi] {
            let known = known(lang);
            let missing: Vec<_> = code_reasons()
                .into_iter()
                .filter(|r| !known.contains(*r))
                .collect();
            assert!(
                missing.is_empty(),
                "{lang:?}: no runbook entry for {missing:?}"
            );
        }
    }

    #[test]
    fn an_entry_is_its_section_up_to_the_next_heading() {
        let text = explain("secretmissing", Lang::En).unwrap();
        assert!(
            text.contains("`SecretMissing` (Ready=False)  [docs/troubleshooting.md]"),
            "{text}"
        );
        assert!(!text.contains("### `ClassificationMismatch`"), "{text}");
        let vi = explain("SecretMissing", Lang::Vi).unwrap();
        assert!(vi.contains("[docs/vi/troubleshooting.md]"), "{vi}");
        assert_ne!(text, vi);
    }

    #[test]
    fn an_unknown_reason_suggests_the_closest() {
        let e = explain("SecretMising", Lang::En).unwrap_err().to_string();
        assert!(e.contains("did you mean \"SecretMissing\""), "{e}");
    }

    #[test]
    fn headings_name_reasons_in_backticks_only() {
        assert_eq!(
            named("### `RollingOut`, `RolloutComplete` (Progressing)"),
            ["RollingOut", "RolloutComplete"]
        );
        assert!(named("### BackupPolicy reasons").is_empty());
        assert!(named("### `spec.paused` is set").is_empty());
    }
}
