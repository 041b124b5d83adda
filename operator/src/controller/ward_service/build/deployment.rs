//! The Deployment that runs a ward service's pods.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMapEnvSource, Container, ContainerPort, EmptyDirVolumeSource,
    EnvFromSource, EnvVar, EnvVarSource, HTTPGetAction, KeyToPath,
    PersistentVolumeClaimVolumeSource, PodSecurityContext, PodSpec, PodTemplateSpec, Probe,
    ResourceRequirements, SeccompProfile, SecretKeySelector, SecretVolumeSource, SecurityContext,
    TCPSocketAction, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{BuildContext, config_map_name, deployment_name, pvc_name, service_account_name};
use crate::api::ward_service::{ProbeSpec, SECRET_FILE_MODE};
use crate::controller::apply::digest;
use crate::controller::labels;
use crate::runtime::settings::WorkloadSettings;

/// Name of the service container.
pub const CONTAINER_NAME: &str = "service";
/// Name of the container port, the Service port and the probes' port.
pub const PORT_NAME: &str = "http";
/// Volume of the writable `/tmp` (the root filesystem is read-only).
pub const TMP_VOLUME: &str = "tmp";
/// Where the writable scratch volume is mounted.
pub const TMP_MOUNT_PATH: &str = "/tmp";
/// Volume of the PersistentVolumeClaim, when `spec.storage` is set.
pub const DATA_VOLUME: &str = "data";
/// Group that owns mounted volumes, so a non-root user can write them.
pub const FS_GROUP: i64 = 10001;
/// Old ReplicaSets kept for `kubectl rollout undo`.
pub const REVISION_HISTORY_LIMIT: i32 = 5;

/// Defaults of a probe that `spec.probes` may override.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeDefaults {
    /// Seconds after start before the first probe.
    pub initial_delay_seconds: i32,
    /// Seconds between probes.
    pub period_seconds: i32,
    /// Seconds before a probe times out.
    pub timeout_seconds: i32,
    /// Consecutive failures before the probe fails.
    pub failure_threshold: i32,
}

/// Readiness: a TCP connection to the port, soon after start.
pub const READINESS_DEFAULTS: ProbeDefaults = ProbeDefaults {
    initial_delay_seconds: 5,
    period_seconds: 10,
    timeout_seconds: 1,
    failure_threshold: 3,
};

/// Liveness: a TCP connection to the port, later and less often than readiness,
/// so a slow start is not a restart loop.
pub const LIVENESS_DEFAULTS: ProbeDefaults = ProbeDefaults {
    initial_delay_seconds: 15,
    period_seconds: 20,
    timeout_seconds: 1,
    failure_threshold: 3,
};

/// The Deployment.
pub fn deployment(ctx: &BuildContext) -> Deployment {
    let spec = ctx.spec;
    Deployment {
        metadata: ctx.owned_metadata(deployment_name(ctx.name)),
        spec: Some(DeploymentSpec {
            // With autoscaling the HPA owns the count: sending one would fight it.
            replicas: spec.autoscaling.is_none().then_some(spec.replicas),
            selector: LabelSelector {
                match_labels: Some(ctx.selector_labels()),
                ..LabelSelector::default()
            },
            strategy: Some(strategy(ctx)),
            revision_history_limit: Some(REVISION_HISTORY_LIMIT),
            template: pod_template(ctx),
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    }
}

/// `Recreate` when a single pod holds a ReadWriteOnce volume (a second pod could
/// not start beside it on another node); otherwise a rolling update that never
/// goes below the wanted count.
fn strategy(ctx: &BuildContext) -> DeploymentStrategy {
    let spec = ctx.spec;
    if spec.storage.is_some() && spec.autoscaling.is_none() && spec.replicas <= 1 {
        return DeploymentStrategy {
            type_: Some("Recreate".to_string()),
            rolling_update: None,
        };
    }
    DeploymentStrategy {
        type_: Some("RollingUpdate".to_string()),
        rolling_update: Some(RollingUpdateDeployment {
            max_surge: Some(IntOrString::String("25%".to_string())),
            max_unavailable: Some(IntOrString::Int(0)),
        }),
    }
}

fn pod_template(ctx: &BuildContext) -> PodTemplateSpec {
    let classified = ctx.classification().is_classified();
    let isolated = &ctx.settings;
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(ctx.labels()),
            annotations: Some(pod_annotations(ctx)),
            ..ObjectMeta::default()
        }),
        spec: Some(PodSpec {
            service_account_name: Some(service_account_name(ctx.name)),
            automount_service_account_token: Some(false),
            // Service links put every Service of the namespace into the environment.
            enable_service_links: Some(false),
            security_context: Some(restricted_pod()),
            containers: vec![container(ctx)],
            volumes: Some(volumes(ctx)),
            node_selector: classified.then(|| isolated.isolated_node_selector.0.clone()),
            tolerations: classified.then(|| isolated.isolated_tolerations.0.clone()),
            ..PodSpec::default()
        }),
    }
}

/// Ward name, config digest and, when Secrets are referenced, their versions:
/// a change of either rolls the pods, once.
fn pod_annotations(ctx: &BuildContext) -> BTreeMap<String, String> {
    let mut annotations = ctx.annotations();
    annotations.insert(
        labels::CONFIG_HASH_ANNOTATION.to_string(),
        config_hash(&ctx.spec.config),
    );
    if let Some(versions) = secret_versions_annotation(ctx.secret_versions) {
        annotations.insert(labels::SECRET_VERSIONS_ANNOTATION.to_string(), versions);
    }
    annotations
}

/// `name=resourceVersion,...` in name order; `None` when no Secret is referenced.
pub fn secret_versions_annotation(versions: &BTreeMap<String, String>) -> Option<String> {
    (!versions.is_empty()).then(|| {
        versions
            .iter()
            .map(|(name, version)| format!("{name}={version}"))
            .collect::<Vec<_>>()
            .join(",")
    })
}

/// Stable digest of `spec.config` (FNV-1a 64, 16 hex digits). Not a security
/// measure: the configuration is not secret, the digest only detects a change.
pub fn config_hash(config: &BTreeMap<String, String>) -> String {
    // Length prefixes keep `{"a": "bc"}` and `{"ab": "c"}` apart.
    let mut bytes = Vec::new();
    for (key, value) in config {
        bytes.extend_from_slice(&(key.len() as u64).to_le_bytes());
        bytes.extend_from_slice(key.as_bytes());
        bytes.extend_from_slice(&(value.len() as u64).to_le_bytes());
        bytes.extend_from_slice(value.as_bytes());
    }
    crate::controller::apply::digest(&bytes)
}

/// Every wardops pod's security (the restricted Pod Security Standard): non-root,
/// the shared group that owns mounted volumes, the runtime's seccomp profile.
pub fn restricted_pod() -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        fs_group: Some(FS_GROUP),
        fs_group_change_policy: Some("OnRootMismatch".to_string()),
        seccomp_profile: Some(runtime_default_seccomp()),
        ..PodSecurityContext::default()
    }
}

/// Every wardops container's security: no privilege escalation, no
/// capability, a read-only root filesystem, non-root.
pub fn restricted_container() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".to_string()]),
            add: None,
        }),
        read_only_root_filesystem: Some(true),
        run_as_non_root: Some(true),
        seccomp_profile: Some(runtime_default_seccomp()),
        ..SecurityContext::default()
    }
}

/// The container runtime's default seccomp profile (restricted pod security).
pub fn runtime_default_seccomp() -> SeccompProfile {
    SeccompProfile {
        type_: "RuntimeDefault".to_string(),
        localhost_profile: None,
    }
}

fn container(ctx: &BuildContext) -> Container {
    let spec = ctx.spec;
    let probes = spec.probes.clone().unwrap_or_default();
    Container {
        name: CONTAINER_NAME.to_string(),
        image: Some(spec.image.clone()),
        ports: Some(vec![ContainerPort {
            name: Some(PORT_NAME.to_string()),
            container_port: spec.port,
            protocol: Some("TCP".to_string()),
            ..ContainerPort::default()
        }]),
        env_from: Some(vec![EnvFromSource {
            config_map_ref: Some(ConfigMapEnvSource {
                name: config_map_name(ctx.name),
                optional: None,
            }),
            ..EnvFromSource::default()
        }]),
        env: Some(env(ctx)),
        resources: Some(
            spec.resources
                .clone()
                .unwrap_or_else(|| default_resources(ctx.settings)),
        ),
        readiness_probe: Some(probe(probes.readiness.as_ref(), READINESS_DEFAULTS)),
        liveness_probe: Some(probe(probes.liveness.as_ref(), LIVENESS_DEFAULTS)),
        security_context: Some(restricted_container()),
        volume_mounts: Some(volume_mounts(ctx)),
        ..Container::default()
    }
}

/// Secret-backed variables by reference only (the value never leaves the
/// Secret), then one URL variable per wired connector, in name order.
fn env(ctx: &BuildContext) -> Vec<EnvVar> {
    let secrets = ctx.spec.secret_env.iter().map(|var| EnvVar {
        name: var.name.clone(),
        value: None,
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: var.secret_key_ref.name.clone(),
                key: var.secret_key_ref.key.clone(),
                optional: None,
            }),
            ..EnvVarSource::default()
        }),
    });
    let mut connectors: Vec<EnvVar> = ctx
        .connectors
        .iter()
        .filter_map(|c| {
            c.url.as_ref().map(|url| EnvVar {
                name: labels::connector_env_name(&c.name),
                value: Some(url.clone()),
                value_from: None,
            })
        })
        .collect();
    connectors.sort_by(|a, b| a.name.cmp(&b.name));
    connectors.dedup_by(|a, b| a.name == b.name);
    secrets.chain(connectors).collect()
}

/// A probe from the defaults and the overrides: HTTP GET when a path is set,
/// else a TCP connection, always on the `http` port.
fn probe(overrides: Option<&ProbeSpec>, defaults: ProbeDefaults) -> Probe {
    let o = overrides.cloned().unwrap_or_default();
    let port = IntOrString::String(PORT_NAME.to_string());
    let (http_get, tcp_socket) = match o.path {
        Some(path) => (
            Some(HTTPGetAction {
                path: Some(path),
                port,
                scheme: Some("HTTP".to_string()),
                ..HTTPGetAction::default()
            }),
            None,
        ),
        None => (None, Some(TCPSocketAction { port, host: None })),
    };
    Probe {
        http_get,
        tcp_socket,
        initial_delay_seconds: Some(
            o.initial_delay_seconds
                .unwrap_or(defaults.initial_delay_seconds),
        ),
        period_seconds: Some(o.period_seconds.unwrap_or(defaults.period_seconds)),
        timeout_seconds: Some(o.timeout_seconds.unwrap_or(defaults.timeout_seconds)),
        failure_threshold: Some(o.failure_threshold.unwrap_or(defaults.failure_threshold)),
        ..Probe::default()
    }
}

/// What a container that sets no `resources` gets, so that no pod of the
/// shared pool runs unbounded: CPU and memory requests, a memory limit, and a
/// CPU limit only when the operator is told to set one (CPU limits throttle).
pub fn default_resources(settings: &WorkloadSettings) -> ResourceRequirements {
    let quantity = |q: &str| Quantity(q.to_string());
    let mut limits = BTreeMap::from([(
        "memory".to_string(),
        quantity(&settings.default_memory_limit),
    )]);
    if !settings.default_cpu_limit.is_empty() {
        limits.insert("cpu".to_string(), quantity(&settings.default_cpu_limit));
    }
    ResourceRequirements {
        requests: Some(BTreeMap::from([
            ("cpu".to_string(), quantity(&settings.default_cpu_request)),
            (
                "memory".to_string(),
                quantity(&settings.default_memory_request),
            ),
        ])),
        limits: Some(limits),
        claims: None,
    }
}

/// Name of the volume of `spec.secretFiles` entry `mount_path`: stable when
/// entries are reordered.
pub fn secret_files_volume(mount_path: &str) -> String {
    format!("secret-files-{}", &digest(mount_path.as_bytes())[..10])
}

/// A scratch `/tmp` unless the data volume is mounted there itself.
fn needs_tmp(ctx: &BuildContext) -> bool {
    ctx.spec
        .storage
        .as_ref()
        .is_none_or(|s| s.mount_path.trim_end_matches('/') != TMP_MOUNT_PATH)
}

fn volume_mounts(ctx: &BuildContext) -> Vec<VolumeMount> {
    let mut mounts = Vec::new();
    if needs_tmp(ctx) {
        mounts.push(VolumeMount {
            name: TMP_VOLUME.to_string(),
            mount_path: TMP_MOUNT_PATH.to_string(),
            ..VolumeMount::default()
        });
    }
    if let Some(storage) = &ctx.spec.storage {
        mounts.push(VolumeMount {
            name: DATA_VOLUME.to_string(),
            mount_path: storage.mount_path.clone(),
            ..VolumeMount::default()
        });
    }
    for files in &ctx.spec.secret_files {
        mounts.push(VolumeMount {
            name: secret_files_volume(&files.mount_path),
            mount_path: files.mount_path.clone(),
            read_only: Some(true),
            ..VolumeMount::default()
        });
    }
    mounts
}

fn volumes(ctx: &BuildContext) -> Vec<Volume> {
    let mut volumes = Vec::new();
    if needs_tmp(ctx) {
        volumes.push(Volume {
            name: TMP_VOLUME.to_string(),
            empty_dir: Some(EmptyDirVolumeSource {
                medium: None,
                size_limit: Some(Quantity(ctx.settings.tmp_size_limit.clone())),
            }),
            ..Volume::default()
        });
    }
    if ctx.spec.storage.is_some() {
        volumes.push(Volume {
            name: DATA_VOLUME.to_string(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: pvc_name(ctx.name),
                read_only: None,
            }),
            ..Volume::default()
        });
    }
    // Secret keys as read-only files, owner-readable only; by reference: the
    // kubelet reads the Secret, wardops never does.
    for files in &ctx.spec.secret_files {
        let items = (!files.keys.is_empty()).then(|| {
            files
                .keys
                .iter()
                .map(|key| KeyToPath {
                    key: key.clone(),
                    path: key.clone(),
                    mode: None,
                })
                .collect()
        });
        volumes.push(Volume {
            name: secret_files_volume(&files.mount_path),
            secret: Some(SecretVolumeSource {
                secret_name: Some(files.secret_name.clone()),
                default_mode: Some(SECRET_FILE_MODE),
                items,
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

    use super::super::test_support::{build, input_for, ward, ward_with};
    use super::super::{Children, children};
    use super::*;
    use crate::api::WardService;
    use crate::api::ward_service::ConnectorRef;
    use crate::runtime::settings::WorkloadSettings;

    fn pod_spec(d: &Deployment) -> &PodSpec {
        d.spec.as_ref().unwrap().template.spec.as_ref().unwrap()
    }

    fn the_container(d: &Deployment) -> &Container {
        &pod_spec(d).containers[0]
    }

    fn pod_annotations_of(d: &Deployment) -> &BTreeMap<String, String> {
        d.spec
            .as_ref()
            .unwrap()
            .template
            .metadata
            .as_ref()
            .unwrap()
            .annotations
            .as_ref()
            .unwrap()
    }

    fn build_with(
        ws: &WardService,
        versions: &BTreeMap<String, String>,
        connectors: &[ConnectorRef],
    ) -> Children {
        let settings = WorkloadSettings::default();
        children(&input_for(ws, &settings, versions, connectors)).unwrap()
    }

    #[test]
    fn image_port_replicas_and_selector() {
        let ws = ward_with(json!({ "replicas": 2, "port": 9000 }));
        let d = build(&ws).deployment;
        assert_eq!(d.metadata.name.as_deref(), Some("one-stop"));
        let spec = d.spec.as_ref().unwrap();
        assert_eq!(spec.replicas, Some(2));
        assert_eq!(spec.revision_history_limit, Some(5));
        assert_eq!(
            spec.selector.match_labels,
            Some(labels::selector_labels(
                labels::COMPONENT_WARD_SERVICE,
                "one-stop"
            ))
        );
        let template_labels = spec
            .template
            .metadata
            .as_ref()
            .unwrap()
            .labels
            .as_ref()
            .unwrap();
        assert_eq!(
            template_labels,
            &labels::common_labels(
                labels::COMPONENT_WARD_SERVICE,
                "one-stop",
                "one-stop",
                "31101",
                "internal"
            )
        );
        let c = the_container(&d);
        assert_eq!(
            c.image.as_deref(),
            Some("registry.city.gov.vn/one-stop/backend:2.4.1")
        );
        let port = &c.ports.as_ref().unwrap()[0];
        assert_eq!(port.name.as_deref(), Some("http"));
        assert_eq!(port.container_port, 9000);
        assert_eq!(
            pod_spec(&d).service_account_name.as_deref(),
            Some("one-stop")
        );
        assert_eq!(pod_spec(&d).automount_service_account_token, Some(false));
    }

    #[test]
    fn replicas_omitted_with_autoscaling() {
        let ws = ward_with(json!({
            "replicas": 3,
            "autoscaling": { "minReplicas": 2, "maxReplicas": 6 },
        }));
        let d = build(&ws).deployment;
        assert_eq!(d.spec.as_ref().unwrap().replicas, None);
        let json = serde_json::to_value(&d).unwrap();
        assert!(json["spec"].get("replicas").is_none());
    }

    #[test]
    fn resources_are_passed_through() {
        let ws = ward_with(json!({
            "resources": { "requests": { "cpu": "100m", "memory": "128Mi" }, "limits": { "memory": "256Mi" } },
        }));
        let d = build(&ws).deployment;
        assert_eq!(the_container(&d).resources, ws.spec.resources);
        assert!(the_container(&d).resources.is_some());
    }

    #[test]
    fn env_from_config_map_and_secrets_by_reference_only() {
        let ws = ward_with(json!({
            "config": { "LOG_LEVEL": "info" },
            "secretEnv": [
                { "name": "DB_PASSWORD", "secretKeyRef": { "name": "one-stop-db", "key": "password" } },
                { "name": "API_TOKEN", "secretKeyRef": { "name": "one-stop-api", "key": "token" } },
            ],
        }));
        let d = build(&ws).deployment;
        let c = the_container(&d);
        let env_from = c.env_from.as_ref().unwrap();
        assert_eq!(env_from.len(), 1);
        assert_eq!(
            env_from[0].config_map_ref.as_ref().unwrap().name,
            "one-stop-config"
        );
        let env = c.env.as_ref().unwrap();
        assert_eq!(env.len(), 2);
        assert_eq!(env[0].name, "DB_PASSWORD");
        let sel = env[0]
            .value_from
            .as_ref()
            .unwrap()
            .secret_key_ref
            .as_ref()
            .unwrap();
        assert_eq!(
            (sel.name.as_str(), sel.key.as_str()),
            ("one-stop-db", "password")
        );
        assert_eq!(env[1].name, "API_TOKEN");
        // No literal value for a Secret-backed variable, anywhere in the pod.
        for var in env {
            assert!(var.value.is_none(), "{} has a literal value", var.name);
        }
        let text = serde_json::to_string(&d).unwrap();
        assert!(!text.contains("\"value\":"), "{text}");
    }

    #[test]
    fn connector_urls_become_env_vars() {
        let connectors = [
            ConnectorRef {
                name: "nha-dat".into(),
                env: labels::connector_env_name("nha-dat"),
                url: Some("http://one-stop-nha-dat.phuong-hong-bang.svc:8080".into()),
                ready: true,
            },
            ConnectorRef {
                name: "dan-cu".into(),
                env: labels::connector_env_name("dan-cu"),
                url: Some("http://one-stop-dan-cu.phuong-hong-bang.svc:8080".into()),
                ready: false,
            },
            ConnectorRef {
                name: "ho-tich".into(),
                env: labels::connector_env_name("ho-tich"),
                url: None,
                ready: false,
            },
        ];
        let ws = ward();
        let d = build_with(&ws, &BTreeMap::new(), &connectors).deployment;
        let env = the_container(&d).env.clone().unwrap();
        let pairs: Vec<(String, Option<String>)> =
            env.into_iter().map(|e| (e.name, e.value)).collect();
        assert_eq!(
            pairs,
            vec![
                (
                    "WARDOPS_CONNECTOR_DAN_CU_URL".to_string(),
                    Some("http://one-stop-dan-cu.phuong-hong-bang.svc:8080".to_string())
                ),
                (
                    "WARDOPS_CONNECTOR_NHA_DAT_URL".to_string(),
                    Some("http://one-stop-nha-dat.phuong-hong-bang.svc:8080".to_string())
                ),
            ]
        );
    }

    #[test]
    fn secret_versions_annotation_lists_every_secret() {
        let versions = BTreeMap::from([
            ("one-stop-db".to_string(), "4711".to_string()),
            ("one-stop-api".to_string(), "12".to_string()),
        ]);
        let d = build_with(&ward(), &versions, &[]).deployment;
        assert_eq!(
            pod_annotations_of(&d)[labels::SECRET_VERSIONS_ANNOTATION],
            "one-stop-api=12,one-stop-db=4711"
        );
        let d = build(&ward()).deployment;
        assert!(!pod_annotations_of(&d).contains_key(labels::SECRET_VERSIONS_ANNOTATION));
        assert_eq!(
            pod_annotations_of(&d)[labels::WARD_NAME_ANNOTATION],
            "Phường Hồng Bàng"
        );
    }

    #[test]
    fn config_hash_changes_only_with_config() {
        let hash = |ws: &WardService| {
            pod_annotations_of(&build(ws).deployment)[labels::CONFIG_HASH_ANNOTATION].clone()
        };
        let a = ward_with(json!({ "config": { "LOG_LEVEL": "info", "TZ": "UTC" } }));
        let same =
            ward_with(json!({ "config": { "TZ": "UTC", "LOG_LEVEL": "info" }, "replicas": 4 }));
        let changed = ward_with(json!({ "config": { "LOG_LEVEL": "debug", "TZ": "UTC" } }));
        assert_eq!(hash(&a), hash(&same));
        assert_ne!(hash(&a), hash(&changed));
        assert_ne!(hash(&a), hash(&ward()));
        assert_eq!(hash(&a).len(), 16);
        assert!(hash(&a).bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn config_hash_is_stable_and_unambiguous() {
        // FNV-1a 64 of nothing is the offset basis: the digest does not depend on the run.
        assert_eq!(config_hash(&BTreeMap::new()), "cbf29ce484222325");
        let split = |k: &str, v: &str| config_hash(&BTreeMap::from([(k.into(), v.into())]));
        assert_ne!(split("a", "bc"), split("ab", "c"));
    }

    #[test]
    fn default_probes_are_tcp_on_the_port() {
        let d = build(&ward()).deployment;
        let c = the_container(&d);
        let readiness = c.readiness_probe.as_ref().unwrap();
        let liveness = c.liveness_probe.as_ref().unwrap();
        let http = IntOrString::String("http".into());
        assert_eq!(readiness.tcp_socket.as_ref().unwrap().port, http);
        assert!(readiness.http_get.is_none());
        assert_eq!(readiness.initial_delay_seconds, Some(5));
        assert_eq!(readiness.period_seconds, Some(10));
        assert_eq!(readiness.failure_threshold, Some(3));
        assert_eq!(liveness.tcp_socket.as_ref().unwrap().port, http);
        assert_eq!(liveness.initial_delay_seconds, Some(15));
        assert_eq!(liveness.period_seconds, Some(20));
        assert_eq!(liveness.failure_threshold, Some(3));
    }

    #[test]
    fn probes_can_be_overridden() {
        let ws = ward_with(json!({
            "probes": {
                "readiness": { "path": "/readyz", "periodSeconds": 3 },
                "liveness": { "initialDelaySeconds": 60, "failureThreshold": 6, "timeoutSeconds": 5 },
            },
        }));
        let d = build(&ws).deployment;
        let c = the_container(&d);
        let readiness = c.readiness_probe.as_ref().unwrap();
        let get = readiness.http_get.as_ref().unwrap();
        assert_eq!(get.path.as_deref(), Some("/readyz"));
        assert_eq!(get.port, IntOrString::String("http".into()));
        assert!(readiness.tcp_socket.is_none());
        assert_eq!(readiness.period_seconds, Some(3));
        assert_eq!(readiness.initial_delay_seconds, Some(5));
        let liveness = c.liveness_probe.as_ref().unwrap();
        assert!(liveness.tcp_socket.is_some());
        assert_eq!(liveness.initial_delay_seconds, Some(60));
        assert_eq!(liveness.failure_threshold, Some(6));
        assert_eq!(liveness.timeout_seconds, Some(5));
        assert_eq!(liveness.period_seconds, Some(20));
    }

    #[test]
    fn security_context_meets_the_restricted_standard() {
        let d = build(&ward()).deployment;
        let pod = pod_spec(&d).security_context.as_ref().unwrap();
        assert_eq!(pod.run_as_non_root, Some(true));
        assert_eq!(pod.fs_group, Some(10001));
        assert_eq!(
            pod.seccomp_profile.as_ref().unwrap().type_,
            "RuntimeDefault"
        );
        let c = the_container(&d).security_context.as_ref().unwrap();
        assert_eq!(c.allow_privilege_escalation, Some(false));
        assert_eq!(
            c.capabilities.as_ref().unwrap().drop,
            Some(vec!["ALL".to_string()])
        );
        assert!(c.capabilities.as_ref().unwrap().add.is_none());
        assert_eq!(c.read_only_root_filesystem, Some(true));
        assert_eq!(c.run_as_non_root, Some(true));
        assert!(c.privileged.is_none());
    }

    #[test]
    fn containers_without_resources_get_the_operator_defaults() {
        let d = build(&ward()).deployment;
        let c = &d.spec.unwrap().template.spec.unwrap().containers[0];
        let r = c.resources.clone().unwrap();
        let requests = r.requests.unwrap();
        assert_eq!(requests["cpu"].0, "100m");
        assert_eq!(requests["memory"].0, "128Mi");
        let limits = r.limits.unwrap();
        assert_eq!(limits["memory"].0, "512Mi");
        assert!(!limits.contains_key("cpu"), "no CPU limit unless set");
        let settings = WorkloadSettings {
            default_cpu_limit: "1".into(),
            ..WorkloadSettings::default()
        };
        assert_eq!(default_resources(&settings).limits.unwrap()["cpu"].0, "1");
        // A spec's own resources win.
        let ws = ward_with(json!({ "resources": { "requests": { "cpu": "2" } } }));
        let d = build(&ws).deployment;
        let c = &d.spec.unwrap().template.spec.unwrap().containers[0];
        assert_eq!(c.resources.clone().unwrap().limits, None);
    }

    #[test]
    fn secret_files_are_read_only_owner_only_and_by_reference() {
        let ws = ward_with(json!({ "secretFiles": [
            { "secretName": "db", "mountPath": "/var/run/secrets/db", "keys": ["password"] },
            { "secretName": "tls", "mountPath": "/etc/tls" },
        ] }));
        let pod = build(&ws).deployment.spec.unwrap().template.spec.unwrap();
        let volumes = pod.volumes.unwrap();
        let db = volumes
            .iter()
            .find(|v| v.name == secret_files_volume("/var/run/secrets/db"))
            .unwrap();
        let src = db.secret.as_ref().unwrap();
        assert_eq!(src.secret_name.as_deref(), Some("db"));
        assert_eq!(src.default_mode, Some(0o400));
        assert_eq!(src.items.as_ref().unwrap()[0].key, "password");
        let tls = volumes
            .iter()
            .find(|v| v.name == secret_files_volume("/etc/tls"))
            .unwrap();
        assert!(tls.secret.as_ref().unwrap().items.is_none(), "every key");
        let mounts = pod.containers[0].volume_mounts.clone().unwrap();
        let m = mounts.iter().find(|m| m.mount_path == "/etc/tls").unwrap();
        assert_eq!(m.read_only, Some(true));
    }

    #[test]
    fn tmp_is_an_empty_dir() {
        let d = build(&ward()).deployment;
        let volumes = pod_spec(&d).volumes.as_ref().unwrap();
        assert_eq!(volumes.len(), 1);
        assert_eq!(volumes[0].name, "tmp");
        let size = volumes[0].empty_dir.as_ref().unwrap().size_limit.clone();
        assert_eq!(
            size.map(|q| q.0).as_deref(),
            Some("64Mi"),
            "a bounded scratch volume"
        );
        let mounts = the_container(&d).volume_mounts.as_ref().unwrap();
        assert_eq!(mounts.len(), 1);
        assert_eq!(
            (mounts[0].name.as_str(), mounts[0].mount_path.as_str()),
            ("tmp", "/tmp")
        );
    }

    #[test]
    fn storage_is_mounted_and_recreated() {
        let ws = ward_with(json!({ "storage": { "size": "10Gi", "mountPath": "/srv/data" } }));
        let d = build(&ws).deployment;
        let volumes = pod_spec(&d).volumes.as_ref().unwrap();
        let data = volumes.iter().find(|v| v.name == "data").unwrap();
        assert_eq!(
            data.persistent_volume_claim.as_ref().unwrap().claim_name,
            "one-stop-data"
        );
        let mounts = the_container(&d).volume_mounts.as_ref().unwrap();
        assert!(
            mounts
                .iter()
                .any(|m| m.name == "data" && m.mount_path == "/srv/data")
        );
        assert!(mounts.iter().any(|m| m.mount_path == "/tmp"));
        let strategy = d.spec.as_ref().unwrap().strategy.as_ref().unwrap();
        assert_eq!(strategy.type_.as_deref(), Some("Recreate"));
        assert!(strategy.rolling_update.is_none());
    }

    #[test]
    fn data_volume_at_tmp_replaces_the_scratch_volume() {
        let ws = ward_with(json!({ "storage": { "size": "1Gi", "mountPath": "/tmp" } }));
        let d = build(&ws).deployment;
        let mounts = the_container(&d).volume_mounts.as_ref().unwrap();
        assert_eq!(mounts.len(), 1);
        assert_eq!(mounts[0].name, "data");
        assert_eq!(pod_spec(&d).volumes.as_ref().unwrap().len(), 1);
    }

    #[test]
    fn rolling_update_never_drops_below_the_count() {
        for ws in [
            ward_with(json!({ "replicas": 3 })),
            ward(),
            ward_with(json!({ "replicas": 2, "storage": { "size": "1Gi" } })),
        ] {
            let d = build(&ws).deployment;
            let strategy = d.spec.as_ref().unwrap().strategy.clone().unwrap();
            assert_eq!(strategy.type_.as_deref(), Some("RollingUpdate"));
            let ru = strategy.rolling_update.unwrap();
            assert_eq!(ru.max_unavailable, Some(IntOrString::Int(0)));
            assert_eq!(ru.max_surge, Some(IntOrString::String("25%".into())));
        }
    }

    #[test]
    fn classified_pods_go_to_the_isolated_pool() {
        let settings = WorkloadSettings::default();
        for class in ["confidential", "secret"] {
            let ws = ward_with(json!({ "classification": class }));
            let d = build(&ws).deployment;
            let pod = pod_spec(&d);
            assert_eq!(
                pod.node_selector.as_ref(),
                Some(&settings.isolated_node_selector.0)
            );
            assert_eq!(
                pod.tolerations.as_ref(),
                Some(&settings.isolated_tolerations.0)
            );
        }
        for class in ["public", "internal"] {
            let d = build(&ward_with(json!({ "classification": class }))).deployment;
            assert!(pod_spec(&d).node_selector.is_none());
            assert!(pod_spec(&d).tolerations.is_none());
        }
    }
}
