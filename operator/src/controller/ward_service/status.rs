//! Pure status decisions: what the Deployment's state means for the
//! WardService's conditions. Reasons are stable API (alerts match on them).

use k8s_openapi::api::apps::v1::Deployment;

use crate::api::common::condition::{DEGRADED, PROGRESSING, READY};
use crate::controller::conditions::DesiredCondition;

/// Stable condition reasons of a WardService.
pub mod reason {
    /// Ready: every desired pod of the current generation is available.
    pub const AVAILABLE: &str = "Available";
    /// A rollout is in progress.
    pub const ROLLING_OUT: &str = "RollingOut";
    /// The rollout finished.
    pub const ROLLOUT_COMPLETE: &str = "RolloutComplete";
    /// No rollout is in progress but pods are missing.
    pub const DEPLOYMENT_UNAVAILABLE: &str = "DeploymentUnavailable";
    /// Some but not all pods are available.
    pub const REPLICAS_UNAVAILABLE: &str = "ReplicasUnavailable";
    /// The Deployment's rollout exceeded its progress deadline.
    pub const PROGRESS_DEADLINE_EXCEEDED: &str = "ProgressDeadlineExceeded";
    /// Nothing is wrong.
    pub const AS_EXPECTED: &str = "AsExpected";
    /// A referenced Secret or key does not exist.
    pub const SECRET_MISSING: &str = "SecretMissing";
    /// A classified service in a namespace not labelled for it.
    pub const CLASSIFICATION_MISMATCH: &str = "ClassificationMismatch";
    /// `spec.paused` is true.
    pub const PAUSED: &str = "Paused";
    /// A Restore has stopped the service to restore its data in place.
    pub const RESTORING: &str = "Restoring";
    /// The API server refused a child object.
    pub const APPLY_FAILED: &str = "ApplyFailed";
    /// Every reason above (runbook entries and tests read it).
    pub const ALL: &[&str] = &[
        AVAILABLE,
        ROLLING_OUT,
        ROLLOUT_COMPLETE,
        DEPLOYMENT_UNAVAILABLE,
        REPLICAS_UNAVAILABLE,
        PROGRESS_DEADLINE_EXCEEDED,
        AS_EXPECTED,
        SECRET_MISSING,
        CLASSIFICATION_MISMATCH,
        PAUSED,
        RESTORING,
        APPLY_FAILED,
    ];
}

/// What a Deployment says about availability.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeploymentState {
    /// Desired pods.
    pub desired: i32,
    /// Pods that are ready.
    pub ready: i32,
    /// Pods that are available.
    pub available: i32,
    /// The Deployment controller has seen the current spec, moved every pod
    /// to it, and had them all available at least once.
    pub rolled_out: bool,
    /// The Deployment reports `ProgressDeadlineExceeded`.
    pub deadline_exceeded: bool,
}

/// Reads a live Deployment.
pub fn deployment_state(d: &Deployment) -> DeploymentState {
    let desired = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let st = d.status.clone().unwrap_or_default();
    let observed = match (st.observed_generation, d.metadata.generation) {
        (Some(o), Some(g)) => o >= g,
        _ => false,
    };
    let updated = st.updated_replicas.unwrap_or(0);
    let total = st.replicas.unwrap_or(0);
    let available = st.available_replicas.unwrap_or(0);
    let progressing = |reason: &str| {
        st.conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == "Progressing" && c.reason.as_deref() == Some(reason))
    };
    // A rollout is complete once its pods were all available at least once
    // (the Deployment controller then says `NewReplicaSetAvailable`); until
    // then missing pods are the rollout's, not a fault of a finished one.
    let completed = available >= desired || progressing("NewReplicaSetAvailable");
    DeploymentState {
        desired,
        ready: st.ready_replicas.unwrap_or(0),
        available,
        rolled_out: observed && updated == desired && total == updated && completed,
        deadline_exceeded: progressing("ProgressDeadlineExceeded"),
    }
}

/// Ready, Progressing and Degraded for a running (not paused, not blocked) WardService.
pub fn running_conditions(s: &DeploymentState, generation: Option<i64>) -> Vec<DesiredCondition> {
    let all_available = s.rolled_out && s.available >= s.desired;
    let g = generation
        .map(|g| format!(" at generation {g}"))
        .unwrap_or_default();
    let ready = if all_available {
        DesiredCondition::new(
            READY,
            true,
            reason::AVAILABLE,
            format!("{}/{} pods available{g}", s.available, s.desired),
        )
    } else if !s.rolled_out && !s.deadline_exceeded {
        DesiredCondition::new(
            READY,
            false,
            reason::ROLLING_OUT,
            format!(
                "rolling out{g}: {}/{} pods available",
                s.available, s.desired
            ),
        )
    } else {
        DesiredCondition::new(
            READY,
            false,
            reason::DEPLOYMENT_UNAVAILABLE,
            format!(
                "{}/{} pods available; see the Deployment's pods",
                s.available, s.desired
            ),
        )
    };
    let progressing = if s.rolled_out {
        DesiredCondition::new(
            PROGRESSING,
            false,
            reason::ROLLOUT_COMPLETE,
            "the current spec is rolled out",
        )
    } else {
        DesiredCondition::new(
            PROGRESSING,
            true,
            reason::ROLLING_OUT,
            format!("rolling out{g}"),
        )
    };
    let degraded = if s.deadline_exceeded {
        DesiredCondition::new(
            DEGRADED,
            true,
            reason::PROGRESS_DEADLINE_EXCEEDED,
            "the rollout exceeded its progress deadline; see the Deployment's pods",
        )
    } else if s.rolled_out && s.available < s.desired {
        DesiredCondition::new(
            DEGRADED,
            true,
            reason::REPLICAS_UNAVAILABLE,
            format!("{}/{} pods available", s.available, s.desired),
        )
    } else {
        DesiredCondition::new(DEGRADED, false, reason::AS_EXPECTED, "")
    };
    vec![ready, progressing, degraded]
}

/// Conditions when wardops does not (or cannot) act: Ready=False with `reason`.
pub fn blocked_conditions(reason: &'static str, message: String) -> Vec<DesiredCondition> {
    vec![
        DesiredCondition::new(READY, false, reason, message),
        DesiredCondition::new(
            PROGRESSING,
            false,
            reason,
            "wardops is not rolling anything out",
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dep(v: serde_json::Value) -> Deployment {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn ready_only_when_available_at_current_generation() {
        let d = dep(json!({
            "metadata": {"name": "x", "generation": 3},
            "spec": {"replicas": 2, "selector": {}, "template": {}},
            "status": {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2, "readyReplicas": 2}
        }));
        let s = deployment_state(&d);
        assert!(!s.rolled_out, "an old generation is not rolled out");
        let c = running_conditions(&s, Some(3));
        assert_eq!((c[0].status, c[0].reason), (false, reason::ROLLING_OUT));
        assert_eq!((c[1].status, c[1].reason), (true, reason::ROLLING_OUT));

        let d = dep(json!({
            "metadata": {"name": "x", "generation": 3},
            "spec": {"replicas": 2, "selector": {}, "template": {}},
            "status": {"observedGeneration": 3, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2, "readyReplicas": 2}
        }));
        let c = running_conditions(&deployment_state(&d), Some(3));
        assert_eq!((c[0].status, c[0].reason), (true, reason::AVAILABLE));
        assert_eq!(c[0].message, "2/2 pods available at generation 3");
        assert_eq!((c[2].status, c[2].reason), (false, reason::AS_EXPECTED));
    }

    #[test]
    fn a_first_rollout_waiting_for_its_pods_is_rolling_out_not_unavailable() {
        let d = dep(json!({
            "metadata": {"name": "x", "generation": 1},
            "spec": {"replicas": 3, "selector": {}, "template": {}},
            "status": {"observedGeneration": 1, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 1,
                "conditions": [{"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"}]}
        }));
        let c = running_conditions(&deployment_state(&d), Some(1));
        assert_eq!((c[0].status, c[0].reason), (false, reason::ROLLING_OUT));
        assert_eq!((c[1].status, c[1].reason), (true, reason::ROLLING_OUT));
        assert_eq!((c[2].status, c[2].reason), (false, reason::AS_EXPECTED));
    }

    #[test]
    fn missing_pods_after_rollout_are_degraded() {
        let d = dep(json!({
            "metadata": {"name": "x", "generation": 1},
            "spec": {"replicas": 3, "selector": {}, "template": {}},
            "status": {"observedGeneration": 1, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 1,
                "conditions": [{"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]}
        }));
        let c = running_conditions(&deployment_state(&d), Some(1));
        assert_eq!(
            (c[0].status, c[0].reason),
            (false, reason::DEPLOYMENT_UNAVAILABLE)
        );
        assert_eq!(
            (c[2].status, c[2].reason),
            (true, reason::REPLICAS_UNAVAILABLE)
        );
    }

    #[test]
    fn deadline_exceeded_is_reported() {
        let d = dep(json!({
            "metadata": {"name": "x", "generation": 1},
            "spec": {"replicas": 1, "selector": {}, "template": {}},
            "status": {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 1, "availableReplicas": 0,
                "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]}
        }));
        let c = running_conditions(&deployment_state(&d), Some(1));
        assert_eq!(c[0].reason, reason::DEPLOYMENT_UNAVAILABLE);
        assert_eq!(
            (c[2].status, c[2].reason),
            (true, reason::PROGRESS_DEADLINE_EXCEEDED)
        );
    }

    #[test]
    fn scaled_to_zero_is_ready() {
        let d = dep(json!({
            "metadata": {"name": "x", "generation": 2},
            "spec": {"replicas": 0, "selector": {}, "template": {}},
            "status": {"observedGeneration": 2}
        }));
        let c = running_conditions(&deployment_state(&d), Some(2));
        assert!(c[0].status);
    }
}
