//! Pure status decisions of a DataConnector. Reasons are stable API (alerts
//! and runbooks match on them); the gateway's availability reads as a
//! WardService's (`Available`, `RollingOut`, ...).

pub use crate::controller::ward_service::status::{
    blocked_conditions, deployment_state, running_conditions,
};

/// Stable condition reasons of a DataConnector.
pub mod reason {
    pub use crate::controller::ward_service::status::reason::{
        APPLY_FAILED, AVAILABLE, CLASSIFICATION_MISMATCH, ROLLING_OUT, SECRET_MISSING,
    };
    /// `spec.wardServiceRef` names no WardService in the namespace (yet).
    pub const WARD_SERVICE_NOT_FOUND: &str = "WardServiceNotFound";
    /// A sync connector's `spec.timeZone` is not an IANA name, or its
    /// `spec.schedule` is not a cron expression.
    pub const INVALID_TIME_ZONE: &str = "InvalidTimeZone";
    /// `spec.mode: sync` is not run by this version of the operator.
    pub const MODE_NOT_SUPPORTED: &str = "ModeNotSupported";
}

#[cfg(test)]
mod tests {
    use super::reason::*;

    #[test]
    fn reasons_are_camel_case() {
        for r in [
            WARD_SERVICE_NOT_FOUND,
            MODE_NOT_SUPPORTED,
            INVALID_TIME_ZONE,
            SECRET_MISSING,
            CLASSIFICATION_MISMATCH,
            AVAILABLE,
            ROLLING_OUT,
            APPLY_FAILED,
        ] {
            assert!(r.chars().next().is_some_and(char::is_uppercase));
            assert!(r.chars().all(char::is_alphanumeric), "{r}");
        }
    }
}
