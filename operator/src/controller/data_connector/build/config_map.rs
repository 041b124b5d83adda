//! The gateway's configuration: a serialised [`GatewayConfig`] that names
//! where each credential is mounted, never a credential itself.

use std::collections::BTreeMap;
use std::path::Path;

use k8s_openapi::api::core::v1::ConfigMap;

use super::{BuildContext, config_map_name};
use crate::api::data_connector::{AuthType, ConnectorMode, OAuth2ClientAuth};
use crate::gateway::config::{
    AuthConfig, AuthMode, ClientAuthMethod, GatewayConfig, GatewayMode, secret_keys,
};

/// Key of the ConfigMap that holds the configuration.
pub const CONFIG_KEY: &str = "gateway.json";
/// Where the ConfigMap is mounted in the gateway's pod.
pub const CONFIG_DIR: &str = "/etc/wardops/gateway";
/// Where the credentials Secret is mounted (read-only, owner-readable).
pub const CREDENTIALS_DIR: &str = "/var/run/secrets/wardops/source";
/// Where the mTLS client certificate Secret is mounted.
pub const CLIENT_CERT_DIR: &str = "/var/run/secrets/wardops/client-cert";
/// Where the source's CA bundle is mounted.
pub const CA_DIR: &str = "/var/run/secrets/wardops/ca";

/// Path of the configuration file inside the gateway's pod.
pub fn config_path() -> String {
    format!("{CONFIG_DIR}/{CONFIG_KEY}")
}

/// The gateway configuration of a connector: source, datasets, mode, and the
/// auth mode with the file path of every credential.
pub fn gateway_config(ctx: &BuildContext) -> GatewayConfig {
    let spec = ctx.spec;
    let mut config = GatewayConfig::new(spec.source.endpoint.clone(), spec.datasets.clone());
    config.source.kind = Some(spec.source.kind);
    config.source.ca_file = spec
        .source
        .tls
        .as_ref()
        .and_then(|t| t.ca_secret_ref.as_ref())
        .map(|_| Path::new(CA_DIR).join(secret_keys::CA_CRT));
    config.mode = match spec.mode {
        ConnectorMode::Proxy => GatewayMode::Proxy,
        ConnectorMode::Sync => GatewayMode::Sync,
    };
    config.listen_port = crate::gateway::config::DEFAULT_LISTEN_PORT;
    let auth = &spec.auth;
    let mode = match auth.type_ {
        AuthType::None => AuthMode::None,
        AuthType::ApiKey => AuthMode::ApiKey {
            header: auth.header_or_default().to_string(),
        },
        AuthType::Basic => AuthMode::Basic,
        AuthType::OAuth2ClientCredentials => AuthMode::OAuth2ClientCredentials {
            token_url: auth.token_url.clone().unwrap_or_default(),
            scopes: auth.scopes.clone(),
            client_auth: match auth.client_auth.unwrap_or_default() {
                OAuth2ClientAuth::Basic => ClientAuthMethod::Basic,
                OAuth2ClientAuth::Post => ClientAuthMethod::Post,
            },
        },
        AuthType::MTls => AuthMode::MTls,
    };
    // mTLS reads the kubernetes.io/tls Secret of source.tls; the others the credentials Secret.
    let dir = if auth.type_ == AuthType::MTls {
        CLIENT_CERT_DIR
    } else {
        CREDENTIALS_DIR
    };
    config.auth = AuthConfig::mounted(mode, Path::new(dir));
    config
}

/// The configuration as JSON, stable for equal configurations.
pub fn serialise(config: &GatewayConfig) -> String {
    // A struct of strings, numbers and paths: serialisation cannot fail.
    serde_json::to_string_pretty(config).unwrap_or_default()
}

/// The ConfigMap.
pub fn config_map(ctx: &BuildContext, config: &GatewayConfig) -> ConfigMap {
    ConfigMap {
        metadata: ctx.owned_metadata(config_map_name(ctx.name)),
        data: Some(BTreeMap::from([(
            CONFIG_KEY.to_string(),
            serialise(config),
        )])),
        ..ConfigMap::default()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::test_support::{build, connector_with};
    use super::*;

    fn parsed(extra: serde_json::Value) -> GatewayConfig {
        let cm = build(&connector_with(extra)).config_map;
        GatewayConfig::parse(&cm.data.unwrap()[CONFIG_KEY]).expect("the gateway accepts it")
    }

    #[test]
    fn the_gateway_reads_what_the_controller_writes() {
        let c = parsed(json!({}));
        assert_eq!(c.source.endpoint, "https://dancu.haiphong.gov.vn/api");
        assert_eq!(c.datasets, vec!["cong-dan", "ho-khau"]);
        assert_eq!(c.mode, GatewayMode::Proxy);
        assert_eq!(
            c.auth,
            AuthConfig::ApiKey {
                header: "X-API-Key".into(),
                key_file: Path::new(CREDENTIALS_DIR).join("apiKey"),
            }
        );
        assert_eq!(
            i32::from(c.listen_port),
            crate::controller::labels::CONNECTOR_PORT
        );
        assert!(c.source.ca_file.is_none());
    }

    #[test]
    fn every_auth_mode_names_files_only() {
        let cases = [
            json!({"auth": {"type": "none"}}),
            json!({"auth": {"type": "apiKey", "header": "X-Token"}}),
            json!({"auth": {"type": "basic"}}),
            json!({"auth": {"type": "oauth2ClientCredentials", "tokenURL": "https://sso.city/token", "scopes": ["a"], "clientAuth": "post"}}),
            json!({"auth": {"type": "mTLS"}, "source": {"kind": "land", "endpoint": "https://dd.city/api",
                   "tls": {"clientCertSecretRef": {"name": "client"}, "caSecretRef": {"name": "ca", "key": "bundle.pem"}}}}),
        ];
        let expected = ["none", "apiKey", "basic", "oauth2ClientCredentials", "mTLS"];
        for (case, want) in cases.into_iter().zip(expected) {
            let c = parsed(case);
            assert_eq!(c.auth.type_name(), want);
            match &c.auth {
                AuthConfig::MTls {
                    cert_file,
                    key_file,
                } => {
                    assert_eq!(cert_file, &Path::new(CLIENT_CERT_DIR).join("tls.crt"));
                    assert_eq!(key_file, &Path::new(CLIENT_CERT_DIR).join("tls.key"));
                    assert_eq!(c.source.ca_file, Some(Path::new(CA_DIR).join("ca.crt")));
                }
                AuthConfig::OAuth2ClientCredentials {
                    token_url,
                    client_auth,
                    scopes,
                    ..
                } => {
                    assert_eq!(token_url, "https://sso.city/token");
                    assert_eq!(*client_auth, ClientAuthMethod::Post);
                    assert_eq!(scopes, &vec!["a".to_string()]);
                }
                AuthConfig::ApiKey { header, .. } => assert_eq!(header, "X-Token"),
                _ => {}
            }
        }
    }
}
