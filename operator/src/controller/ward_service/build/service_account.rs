//! The ServiceAccount of a ward service's pods: an identity with no API token.

use k8s_openapi::api::core::v1::ServiceAccount;

use super::{BuildContext, service_account_name};

/// The ServiceAccount. The pods never talk to the API server, so no token is
/// mounted (here and on the pod).
pub fn service_account(ctx: &BuildContext) -> ServiceAccount {
    ServiceAccount {
        metadata: ctx.owned_metadata(service_account_name(ctx.name)),
        automount_service_account_token: Some(false),
        ..ServiceAccount::default()
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{build, ward};

    #[test]
    fn no_token_automount() {
        let sa = build(&ward()).service_account;
        assert_eq!(sa.metadata.name.as_deref(), Some("one-stop"));
        assert_eq!(sa.automount_service_account_token, Some(false));
        assert!(sa.secrets.is_none());
    }
}
