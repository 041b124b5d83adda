//! The Deployment that runs the gateway, `wardops gateway --config ...`: the
//! only pod that mounts the connector's credentials.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
};
use k8s_openapi::api::core::v1::{
    Affinity, ConfigMapVolumeSource, Container, ContainerPort, HTTPGetAction, KeyToPath,
    PersistentVolumeClaimVolumeSource, PodAffinity, PodAffinityTerm, PodSpec, PodTemplateSpec,
    Probe, SecretVolumeSource, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::config_map::{
    CA_DIR, CLIENT_CERT_DIR, CONFIG_DIR, CREDENTIALS_DIR, config_path, serialise,
};
use super::{BuildContext, config_map_name, data_claim_name, gateway_name};
use crate::api::data_connector::{AuthType, ConnectorMode};
use crate::api::ward_service::SECRET_FILE_MODE;
use crate::controller::labels;
use crate::controller::ward_service::build::deployment::{
    REVISION_HISTORY_LIMIT, default_resources, restricted_container, restricted_pod,
    secret_versions_annotation,
};
use crate::gateway::config::{GatewayConfig, secret_keys};

/// Name of the gateway container.
pub const CONTAINER_NAME: &str = "gateway";
/// Name of the port the ward calls (container and Service).
pub const PORT_NAME: &str = "http";
/// Name of the port of `/metrics`, `/healthz` and `/readyz`.
pub const ADMIN_PORT_NAME: &str = "admin";
/// The binary in the wardops image (its entrypoint runs the operator).
pub const BINARY: &str = "/wardops";
/// Volume of the configuration.
pub const CONFIG_VOLUME: &str = "config";
/// Volume of the credentials Secret.
pub const CREDENTIALS_VOLUME: &str = "credentials";
/// Volume of the mTLS client certificate Secret.
pub const CLIENT_CERT_VOLUME: &str = "client-cert";
/// Volume of the source's CA bundle.
pub const CA_VOLUME: &str = "source-ca";
/// Volume of a sync connector's snapshots.
pub const DATA_VOLUME: &str = "data";
/// Where a sync connector's snapshot volume is mounted (`--data-dir`).
pub const DATA_DIR: &str = "/var/lib/wardops/connector";
/// The topology a sync connector's pods share: one node, so a ReadWriteOnce
/// snapshot volume can be mounted by the gateway and the sync pod at once.
pub const SAME_NODE: &str = "kubernetes.io/hostname";

/// Which pod of a connector: what it mounts follows from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The gateway. Proxy mode: the credentials. Sync mode: the snapshots,
    /// read-only, and no credential (it never calls the source).
    Gateway,
    /// A sync pod (`wardops gateway sync`): the credentials and the
    /// snapshots, writable.
    Sync,
}

impl Role {
    fn mounts_credentials(self, mode: ConnectorMode) -> bool {
        self == Role::Sync || mode == ConnectorMode::Proxy
    }
}

/// The Deployment: one gateway pod, rolled with no gap.
pub fn deployment(ctx: &BuildContext, config: &GatewayConfig) -> Deployment {
    Deployment {
        metadata: ctx.owned_metadata(gateway_name(ctx.name)),
        spec: Some(DeploymentSpec {
            replicas: Some(1),
            selector: LabelSelector {
                match_labels: Some(ctx.selector_labels()),
                ..LabelSelector::default()
            },
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".to_string()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_surge: Some(IntOrString::Int(1)),
                    max_unavailable: Some(IntOrString::Int(0)),
                }),
            }),
            revision_history_limit: Some(REVISION_HISTORY_LIMIT),
            template: pod_template(ctx, config),
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    }
}

fn pod_template(ctx: &BuildContext, config: &GatewayConfig) -> PodTemplateSpec {
    let mut labels = ctx.pod_labels();
    labels.extend(data_labels(ctx));
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels),
            annotations: Some(pod_annotations(ctx, config, Role::Gateway)),
            ..ObjectMeta::default()
        }),
        spec: Some(PodSpec {
            containers: vec![container(ctx, config)],
            ..pod_spec(ctx, Role::Gateway)
        }),
    }
}

/// Labels of the pods that share a sync connector's snapshot volume (none
/// in proxy mode).
pub fn data_labels(ctx: &BuildContext) -> BTreeMap<String, String> {
    match ctx.spec.mode {
        ConnectorMode::Proxy => BTreeMap::new(),
        ConnectorMode::Sync => BTreeMap::from([(
            labels::CONNECTOR_DATA_LABEL.to_string(),
            ctx.name.to_string(),
        )]),
    }
}

/// What every pod of a connector shares, without its containers: restricted
/// security, no service-account token, the isolated pool when classified,
/// its volumes and, in sync mode, the node of the other pods that mount the
/// snapshot volume.
pub fn pod_spec(ctx: &BuildContext, role: Role) -> PodSpec {
    let classified = ctx.classification().is_classified();
    let s = ctx.settings;
    PodSpec {
        service_account_name: Some(gateway_name(ctx.name)),
        automount_service_account_token: Some(false),
        enable_service_links: Some(false),
        security_context: Some(restricted_pod()),
        volumes: Some(volumes(ctx, role)),
        affinity: same_node_as_the_data(ctx),
        node_selector: classified.then(|| s.isolated_node_selector.0.clone()),
        tolerations: classified.then(|| s.isolated_tolerations.0.clone()),
        ..PodSpec::default()
    }
}

/// Sync mode: required affinity to the pods that mount the snapshot volume.
/// The first such pod goes anywhere (it matches its own term); every later
/// one, gateway or sync pod, follows it to that node.
fn same_node_as_the_data(ctx: &BuildContext) -> Option<Affinity> {
    let data = data_labels(ctx);
    (!data.is_empty()).then(|| Affinity {
        pod_affinity: Some(PodAffinity {
            required_during_scheduling_ignored_during_execution: Some(vec![PodAffinityTerm {
                label_selector: Some(LabelSelector {
                    match_labels: Some(data),
                    match_expressions: None,
                }),
                topology_key: SAME_NODE.to_string(),
                ..PodAffinityTerm::default()
            }]),
            ..PodAffinity::default()
        }),
        ..Affinity::default()
    })
}

/// A digest of the configuration and, on a pod that mounts the credentials,
/// the Secrets' resourceVersions (a rotation rolls the pod once; the gateway
/// also re-reads rotated files).
pub fn pod_annotations(
    ctx: &BuildContext,
    config: &GatewayConfig,
    role: Role,
) -> BTreeMap<String, String> {
    let mut a = BTreeMap::from([(
        labels::CONFIG_HASH_ANNOTATION.to_string(),
        crate::controller::apply::digest(serialise(config).as_bytes()),
    )]);
    if role.mounts_credentials(ctx.spec.mode)
        && let Some(v) = secret_versions_annotation(ctx.secret_versions)
    {
        a.insert(labels::SECRET_VERSIONS_ANNOTATION.to_string(), v);
    }
    a
}

/// The image of the connector's pods.
pub fn image(ctx: &BuildContext) -> String {
    ctx.spec
        .image
        .clone()
        .unwrap_or_else(|| ctx.settings.connector_image.clone())
}

fn container(ctx: &BuildContext, config: &GatewayConfig) -> Container {
    let admin = IntOrString::String(ADMIN_PORT_NAME.to_string());
    let probe = |path: &str, delay: i32, period: i32| Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_string()),
            port: admin.clone(),
            scheme: Some("HTTP".to_string()),
            ..HTTPGetAction::default()
        }),
        initial_delay_seconds: Some(delay),
        period_seconds: Some(period),
        timeout_seconds: Some(1),
        failure_threshold: Some(3),
        ..Probe::default()
    };
    let mut args = vec!["gateway".to_string(), "--config".to_string(), config_path()];
    if ctx.spec.mode == ConnectorMode::Sync {
        args.extend(["--data-dir".to_string(), DATA_DIR.to_string()]);
    }
    Container {
        name: CONTAINER_NAME.to_string(),
        image: Some(image(ctx)),
        command: Some(vec![BINARY.to_string()]),
        args: Some(args),
        ports: Some(vec![
            ContainerPort {
                name: Some(PORT_NAME.to_string()),
                container_port: i32::from(config.listen_port),
                protocol: Some("TCP".to_string()),
                ..ContainerPort::default()
            },
            ContainerPort {
                name: Some(ADMIN_PORT_NAME.to_string()),
                container_port: i32::from(config.admin_port),
                protocol: Some("TCP".to_string()),
                ..ContainerPort::default()
            },
        ]),
        resources: Some(default_resources(ctx.settings)),
        readiness_probe: Some(probe("/readyz", 1, 5)),
        liveness_probe: Some(probe("/healthz", 10, 20)),
        security_context: Some(restricted_container()),
        volume_mounts: Some(volume_mounts(ctx, Role::Gateway)),
        ..Container::default()
    }
}

/// The Secret volumes a pod of this connector mounts: (volume, Secret,
/// items, mount dir).
fn secret_volumes(
    ctx: &BuildContext,
    role: Role,
) -> Vec<(&'static str, String, Vec<KeyToPath>, &'static str)> {
    let item = |key: &str, path: &str| KeyToPath {
        key: key.to_string(),
        path: path.to_string(),
        mode: None,
    };
    let spec = ctx.spec;
    let tls = spec.source.tls.as_ref();
    let mut out = Vec::new();
    if !role.mounts_credentials(spec.mode) {
        return out;
    }
    let keys = credential_keys(spec.auth.type_);
    if !keys.is_empty() {
        out.push((
            CREDENTIALS_VOLUME,
            spec.credentials_secret_ref.name.clone(),
            keys.iter().map(|k| item(k, k)).collect(),
            CREDENTIALS_DIR,
        ));
    }
    if spec.auth.type_ == AuthType::MTls
        && let Some(cert) = tls.and_then(|t| t.client_cert_secret_ref.as_ref())
    {
        out.push((
            CLIENT_CERT_VOLUME,
            cert.name.clone(),
            [secret_keys::TLS_CRT, secret_keys::TLS_KEY]
                .iter()
                .map(|k| item(k, k))
                .collect(),
            CLIENT_CERT_DIR,
        ));
    }
    if let Some(ca) = tls.and_then(|t| t.ca_secret_ref.as_ref()) {
        out.push((
            CA_VOLUME,
            ca.name.clone(),
            vec![item(&ca.key, secret_keys::CA_CRT)],
            CA_DIR,
        ));
    }
    out
}

/// Keys of the credentials Secret that an auth type reads (mTLS reads
/// `source.tls.clientCertSecretRef` instead).
pub fn credential_keys(auth: AuthType) -> &'static [&'static str] {
    use secret_keys::*;
    match auth {
        AuthType::None | AuthType::MTls => &[],
        AuthType::ApiKey => &[API_KEY],
        AuthType::Basic => &[USERNAME, PASSWORD],
        AuthType::OAuth2ClientCredentials => &[CLIENT_ID, CLIENT_SECRET],
    }
}

/// The mounts of a container of `role`.
pub fn volume_mounts(ctx: &BuildContext, role: Role) -> Vec<VolumeMount> {
    let mut mounts = vec![VolumeMount {
        name: CONFIG_VOLUME.to_string(),
        mount_path: CONFIG_DIR.to_string(),
        read_only: Some(true),
        ..VolumeMount::default()
    }];
    if ctx.spec.mode == ConnectorMode::Sync {
        mounts.push(VolumeMount {
            name: DATA_VOLUME.to_string(),
            mount_path: DATA_DIR.to_string(),
            read_only: (role == Role::Gateway).then_some(true),
            ..VolumeMount::default()
        });
    }
    for (volume, _, _, dir) in secret_volumes(ctx, role) {
        mounts.push(VolumeMount {
            name: volume.to_string(),
            mount_path: dir.to_string(),
            read_only: Some(true),
            ..VolumeMount::default()
        });
    }
    mounts
}

fn volumes(ctx: &BuildContext, role: Role) -> Vec<Volume> {
    let mut volumes = vec![Volume {
        name: CONFIG_VOLUME.to_string(),
        config_map: Some(ConfigMapVolumeSource {
            name: config_map_name(ctx.name),
            ..ConfigMapVolumeSource::default()
        }),
        ..Volume::default()
    }];
    if ctx.spec.mode == ConnectorMode::Sync {
        volumes.push(Volume {
            name: DATA_VOLUME.to_string(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: data_claim_name(ctx.name),
                read_only: (role == Role::Gateway).then_some(true),
            }),
            ..Volume::default()
        });
    }
    // By reference: the kubelet reads the Secrets, wardops never does.
    for (volume, secret, items, _) in secret_volumes(ctx, role) {
        volumes.push(Volume {
            name: volume.to_string(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(secret),
                default_mode: Some(SECRET_FILE_MODE),
                items: Some(items),
                optional: None,
            }),
            ..Volume::default()
        });
    }
    volumes
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::test_support::{build, connector, connector_with};
    use super::*;
    use crate::runtime::settings::WorkloadSettings;

    fn pod(d: &Deployment) -> &PodSpec {
        d.spec.as_ref().unwrap().template.spec.as_ref().unwrap()
    }

    #[test]
    fn runs_the_gateway_restricted_with_the_default_image_and_resources() {
        let d = build(&connector()).deployment;
        let p = pod(&d);
        let c = &p.containers[0];
        assert_eq!(
            c.image.as_deref(),
            Some(WorkloadSettings::default().connector_image.as_str())
        );
        assert_eq!(c.command, Some(vec!["/wardops".to_string()]));
        assert_eq!(
            c.args,
            Some(vec![
                "gateway".into(),
                "--config".into(),
                "/etc/wardops/gateway/gateway.json".into()
            ])
        );
        let sc = c.security_context.as_ref().unwrap();
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_eq!(p.automount_service_account_token, Some(false));
        assert_eq!(
            c.resources,
            Some(default_resources(&WorkloadSettings::default()))
        );
        assert!(p.node_selector.is_none() && p.tolerations.is_none());
        let custom = build(&connector_with(json!({"image": "registry.city/cg:2"}))).deployment;
        assert_eq!(
            pod(&custom).containers[0].image.as_deref(),
            Some("registry.city/cg:2")
        );
    }

    #[test]
    fn credentials_are_mounted_read_only_0400_with_the_keys_of_the_auth_mode() {
        let d = build(&connector_with(json!({"auth": {"type": "basic"}}))).deployment;
        let p = pod(&d);
        let v = p
            .volumes
            .as_ref()
            .unwrap()
            .iter()
            .find(|v| v.name == CREDENTIALS_VOLUME)
            .unwrap();
        let s = v.secret.as_ref().unwrap();
        assert_eq!(s.secret_name.as_deref(), Some("dan-cu"));
        assert_eq!(s.default_mode, Some(0o400));
        let keys: Vec<&str> = s.items.iter().flatten().map(|i| i.key.as_str()).collect();
        assert_eq!(keys, ["username", "password"]);
        let m = p.containers[0]
            .volume_mounts
            .iter()
            .flatten()
            .find(|m| m.name == CREDENTIALS_VOLUME)
            .unwrap();
        assert_eq!(m.read_only, Some(true));
        assert_eq!(m.mount_path, CREDENTIALS_DIR);
        // No value anywhere: only references.
        assert!(p.containers[0].env.is_none() && p.containers[0].env_from.is_none());
    }

    #[test]
    fn mtls_mounts_the_client_certificate_and_the_ca() {
        let d = build(&connector_with(json!({"auth": {"type": "mTLS"},
            "source": {"kind": "land", "endpoint": "https://dd.city/api",
                "tls": {"clientCertSecretRef": {"name": "client"}, "caSecretRef": {"name": "ca", "key": "bundle.pem"}}}})))
        .deployment;
        let names: Vec<(String, Option<String>)> = pod(&d)
            .volumes
            .iter()
            .flatten()
            .map(|v| {
                (
                    v.name.clone(),
                    v.secret.as_ref().and_then(|s| s.secret_name.clone()),
                )
            })
            .collect();
        assert_eq!(
            names,
            [
                ("config".to_string(), None),
                ("client-cert".to_string(), Some("client".to_string())),
                ("source-ca".to_string(), Some("ca".to_string())),
            ]
        );
    }

    #[test]
    fn the_secret_version_is_stamped_on_the_pod_template() {
        let d = build(&connector()).deployment;
        let a = d
            .spec
            .unwrap()
            .template
            .metadata
            .unwrap()
            .annotations
            .unwrap();
        assert_eq!(a[labels::SECRET_VERSIONS_ANNOTATION], "dan-cu=7");
        assert_eq!(a[labels::CONFIG_HASH_ANNOTATION].len(), 16);
    }

    #[test]
    fn pods_carry_the_peer_labels_of_their_ward_services_policy() {
        let d = build(&connector()).deployment;
        let l = d.spec.unwrap().template.metadata.unwrap().labels.unwrap();
        for (k, v) in labels::connector_peer_labels("dan-cu", "one-stop") {
            assert_eq!(l.get(&k), Some(&v), "{k}");
        }
    }

    #[test]
    fn classified_gateways_run_on_the_isolated_pool() {
        let mut settings = WorkloadSettings::default();
        settings.isolated_node_selector.0 =
            BTreeMap::from([("wardops.io/pool".to_string(), "isolated".to_string())]);
        let dc = connector_with(json!({"classification": "confidential"}));
        let versions = BTreeMap::new();
        let c = super::super::children(&super::super::BuildInput {
            connector: &dc,
            ward_code: "31101",
            ward_classification: crate::api::Classification::Internal,
            settings: &settings,
            secret_versions: &versions,
        })
        .unwrap();
        let p = pod(&c.deployment);
        assert_eq!(
            p.node_selector,
            Some(settings.isolated_node_selector.0.clone())
        );
        assert!(p.tolerations.is_some());
    }
}
