//! The results of wardops' own Jobs (`wardops gateway sync`, `wardops
//! backup`, `wardops restore`): a one-line JSON in the container's
//! termination message, read from the pods in the watch caches.

use k8s_openapi::api::core::v1::{ContainerStateTerminated, Pod};

/// Longest error text taken from a result into a status or an Event.
pub const MAX_ERROR_CHARS: usize = 512;

/// How container `name` (an init container when `init`) ended, once its pod
/// has ended: only then is the whole result known.
pub fn ended<'a>(pod: &'a Pod, name: &str, init: bool) -> Option<&'a ContainerStateTerminated> {
    let status = pod.status.as_ref()?;
    if !matches!(status.phase.as_deref(), Some("Succeeded" | "Failed")) {
        return None;
    }
    let statuses = if init {
        status.init_container_statuses.as_ref()
    } else {
        status.container_statuses.as_ref()
    };
    statuses?
        .iter()
        .find(|c| c.name == name)?
        .state
        .as_ref()?
        .terminated
        .as_ref()
}

/// The result line of a container, when it is one JSON object.
pub fn line(t: &ContainerStateTerminated) -> Option<serde_json::Value> {
    t.message
        .as_deref()
        .and_then(|m| serde_json::from_str::<serde_json::Value>(m.trim()).ok())
        .filter(serde_json::Value::is_object)
}

/// `reason: message` of a `"result": "Failed"` line.
pub fn failure(line: &serde_json::Value) -> String {
    format!(
        "{}: {}",
        line["reason"].as_str().unwrap_or("Failed"),
        line["message"].as_str().unwrap_or_default()
    )
}

/// `text`, cut to [`MAX_ERROR_CHARS`] characters.
pub fn truncate(text: &str) -> String {
    if text.chars().count() <= MAX_ERROR_CHARS {
        return text.to_string();
    }
    let mut out: String = text.chars().take(MAX_ERROR_CHARS).collect();
    out.push('…');
    out
}

/// Why a container ended without a result line.
pub fn no_result(what: &str, t: &ContainerStateTerminated) -> String {
    format!(
        "the {what} container ended with exit code {}{} and no result line",
        t.exit_code,
        t.reason
            .as_deref()
            .map(|r| format!(" ({})", truncate(r)))
            .unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_an_ended_pod_has_a_result() {
        let pod = |phase: &str| -> Pod {
            serde_json::from_value(json!({"status": {"phase": phase, "containerStatuses": [
                {"name": "c", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
                 "state": {"terminated": {"exitCode": 0, "message": "{\"result\":\"Succeeded\"}"}}}]}}))
            .unwrap()
        };
        assert!(ended(&pod("Running"), "c", false).is_none());
        let done = pod("Succeeded");
        let t = ended(&done, "c", false).unwrap();
        assert_eq!(line(t).unwrap()["result"], "Succeeded");
        assert!(ended(&done, "c", true).is_none());
        assert_eq!(
            truncate(&"é".repeat(600)).chars().count(),
            MAX_ERROR_CHARS + 1
        );
    }
}
