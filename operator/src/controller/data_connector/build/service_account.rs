//! The gateway's ServiceAccount: an identity with no API token.

use k8s_openapi::api::core::v1::ServiceAccount;

use super::{BuildContext, gateway_name};

/// The ServiceAccount. The gateway never talks to the API server.
pub fn service_account(ctx: &BuildContext) -> ServiceAccount {
    ServiceAccount {
        metadata: ctx.owned_metadata(gateway_name(ctx.name)),
        automount_service_account_token: Some(false),
        ..ServiceAccount::default()
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{build, connector};

    #[test]
    fn no_token_automount() {
        let sa = build(&connector()).service_account;
        assert_eq!(sa.metadata.name.as_deref(), Some("dan-cu-connector"));
        assert_eq!(sa.automount_service_account_token, Some(false));
    }
}
