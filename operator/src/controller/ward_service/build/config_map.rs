//! The ConfigMap that carries `spec.config` (plain configuration, never credentials).

use k8s_openapi::api::core::v1::ConfigMap;

use super::{BuildContext, config_map_name};

/// The ConfigMap: `data` is `spec.config` as it is.
pub fn config_map(ctx: &BuildContext) -> ConfigMap {
    ConfigMap {
        metadata: ctx.owned_metadata(config_map_name(ctx.name)),
        data: Some(ctx.spec.config.clone()),
        ..ConfigMap::default()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::super::test_support::{build, ward, ward_with};

    #[test]
    fn data_is_spec_config() {
        let ws = ward_with(json!({ "config": { "LOG_LEVEL": "info", "TZ": "Asia/Ho_Chi_Minh" } }));
        let cm = build(&ws).config_map;
        assert_eq!(cm.metadata.name.as_deref(), Some("one-stop-config"));
        assert_eq!(
            cm.data,
            Some(BTreeMap::from([
                ("LOG_LEVEL".to_string(), "info".to_string()),
                ("TZ".to_string(), "Asia/Ho_Chi_Minh".to_string()),
            ]))
        );
        assert!(cm.binary_data.is_none());
    }

    #[test]
    fn empty_config_gives_empty_data() {
        // An empty map (not absent) so that a removed key is removed by server-side apply.
        assert_eq!(build(&ward()).config_map.data, Some(BTreeMap::new()));
    }
}
