//! The NetworkPolicy that isolates a ward service's pods.
//!
//! In: the service port, from the ward's own wardops-managed pods (same
//! namespace, same `wardops.io/ward`, classification at or above this
//! service's) and, with an Ingress, from the ingress controller.
//! Out: the cluster DNS pods (and a node-local DNS cache if configured), the
//! service's own connector gateways by their selector labels and, for
//! `public` and `internal` services only, `spec.egressCIDRs`.
//!
//! Peers are matched by labels that only wardops sets together
//! (`app.kubernetes.io/managed-by` with the classification), never by a label
//! alone that any editor could put on a pod.

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{BuildContext, has_ingress, network_policy_name};
use crate::api::Classification;
use crate::controller::labels;
use crate::runtime::settings::WorkloadSettings;

/// Label every namespace carries with its own name (set by the API server).
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// The NetworkPolicy.
pub fn network_policy(ctx: &BuildContext) -> NetworkPolicy {
    NetworkPolicy {
        metadata: ctx.owned_metadata(network_policy_name(ctx.name)),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(match_labels(ctx.selector_labels())),
            policy_types: Some(vec!["Ingress".to_string(), "Egress".to_string()]),
            ingress: Some(ingress_rules(ctx)),
            egress: Some(egress_rules(ctx)),
        }),
    }
}

fn ingress_rules(ctx: &BuildContext) -> Vec<NetworkPolicyIngressRule> {
    let service_port = vec![NetworkPolicyPort {
        port: Some(IntOrString::Int(ctx.spec.port)),
        protocol: Some("TCP".to_string()),
        end_port: None,
    }];
    // A podSelector without a namespaceSelector matches only this namespace.
    let same_ward = NetworkPolicyPeer {
        pod_selector: Some(LabelSelector {
            match_labels: Some(BTreeMap::from([
                (labels::WARD_LABEL.to_string(), ctx.spec.ward.code.clone()),
                (
                    labels::MANAGED_BY_LABEL.to_string(),
                    labels::MANAGED_BY.to_string(),
                ),
            ])),
            match_expressions: Some(vec![at_or_above(ctx.classification())]),
        }),
        ..NetworkPolicyPeer::default()
    };
    let mut rules = vec![NetworkPolicyIngressRule {
        from: Some(vec![same_ward]),
        ports: Some(service_port.clone()),
    }];
    if has_ingress(ctx.spec) {
        rules.push(NetworkPolicyIngressRule {
            from: Some(vec![NetworkPolicyPeer {
                namespace_selector: Some(match_labels(BTreeMap::from([(
                    NAMESPACE_NAME_LABEL.to_string(),
                    ctx.settings.ingress_namespace.clone(),
                )]))),
                ..NetworkPolicyPeer::default()
            }]),
            ports: Some(service_port),
        });
    }
    rules
}

/// Pods whose classification label is `level` or higher.
pub fn at_or_above(level: Classification) -> LabelSelectorRequirement {
    LabelSelectorRequirement {
        key: labels::CLASSIFICATION_LABEL.to_string(),
        operator: "In".to_string(),
        values: Some(
            Classification::ALL
                .into_iter()
                .filter(|c| *c >= level)
                .map(|c| c.as_str().to_string())
                .collect(),
        ),
    }
}

/// Port 53 to the cluster DNS pods only (a resolver anywhere else would be an
/// exfiltration channel), and to the node-local DNS cache when one is set.
pub fn dns_egress(settings: &WorkloadSettings) -> NetworkPolicyEgressRule {
    let mut to = vec![NetworkPolicyPeer {
        namespace_selector: Some(match_labels(BTreeMap::from([(
            NAMESPACE_NAME_LABEL.to_string(),
            settings.dns_namespace.clone(),
        )]))),
        pod_selector: Some(match_labels(settings.dns_pod_selector.0.clone())),
        ..NetworkPolicyPeer::default()
    }];
    if let Some(ip) = settings.node_local_dns.0 {
        let prefix = if ip.is_ipv4() { 32 } else { 128 };
        to.push(NetworkPolicyPeer {
            ip_block: Some(IPBlock {
                cidr: format!("{ip}/{prefix}"),
                except: None,
            }),
            ..NetworkPolicyPeer::default()
        });
    }
    NetworkPolicyEgressRule {
        to: Some(to),
        ports: Some(
            ["UDP", "TCP"]
                .map(|protocol| NetworkPolicyPort {
                    port: Some(IntOrString::Int(53)),
                    protocol: Some(protocol.to_string()),
                    end_port: None,
                })
                .to_vec(),
        ),
    }
}

fn egress_rules(ctx: &BuildContext) -> Vec<NetworkPolicyEgressRule> {
    let mut rules = vec![dns_egress(ctx.settings)];
    // Each wired connector's gateway (it has a URL: valid, gateway created)
    // by its own selector labels, never a label any pod could carry.
    let wired: Vec<_> = ctx.connectors.iter().filter(|c| c.url.is_some()).collect();
    if !wired.is_empty() {
        rules.push(NetworkPolicyEgressRule {
            to: Some(
                wired
                    .iter()
                    .map(|c| NetworkPolicyPeer {
                        pod_selector: Some(match_labels(labels::connector_peer_labels(
                            &c.name, ctx.name,
                        ))),
                        ..NetworkPolicyPeer::default()
                    })
                    .collect(),
            ),
            ports: None,
        });
    }
    // Classified services reach the outside only through their connectors.
    if !ctx.classification().is_classified() && !ctx.spec.egress_cidrs.is_empty() {
        rules.push(NetworkPolicyEgressRule {
            to: Some(
                ctx.spec
                    .egress_cidrs
                    .iter()
                    .map(|cidr| NetworkPolicyPeer {
                        ip_block: Some(IPBlock {
                            cidr: cidr.clone(),
                            except: None,
                        }),
                        ..NetworkPolicyPeer::default()
                    })
                    .collect(),
            ),
            ports: None,
        });
    }
    rules
}

/// Whether a pod with `pod_labels` matches `selector` (matchLabels and the
/// In/NotIn/Exists/DoesNotExist expressions), as the network plugin decides.
pub fn selector_matches(selector: &LabelSelector, pod_labels: &BTreeMap<String, String>) -> bool {
    let labels_ok = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| pod_labels.get(k) == Some(v));
    let exprs_ok = selector.match_expressions.iter().flatten().all(|e| {
        let value = pod_labels.get(&e.key);
        let values = e.values.as_deref().unwrap_or_default();
        match e.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        }
    });
    labels_ok && exprs_ok
}

/// A selector of exactly these labels.
pub fn match_labels(labels: BTreeMap<String, String>) -> LabelSelector {
    LabelSelector {
        match_labels: Some(labels),
        match_expressions: None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::test_support::{build, ward, ward_with};
    use super::*;
    use crate::api::WardService;

    fn spec_of(ws: &WardService) -> NetworkPolicySpec {
        build(ws).network_policy.spec.unwrap()
    }

    fn has_ip_block(spec: &NetworkPolicySpec) -> bool {
        spec.egress
            .iter()
            .flatten()
            .flat_map(|r| r.to.iter().flatten())
            .any(|peer| peer.ip_block.is_some())
    }

    #[test]
    fn selects_the_pods_both_directions() {
        let np = build(&ward()).network_policy;
        assert_eq!(np.metadata.name.as_deref(), Some("one-stop"));
        let spec = np.spec.unwrap();
        assert_eq!(
            spec.pod_selector.unwrap().match_labels,
            Some(labels::selector_labels(
                labels::COMPONENT_WARD_SERVICE,
                "one-stop"
            ))
        );
        assert_eq!(
            spec.policy_types,
            Some(vec!["Ingress".to_string(), "Egress".to_string()])
        );
    }

    /// Labels of a pod of another WardService of the same ward.
    fn ward_pod(classification: &str) -> BTreeMap<String, String> {
        labels::common_labels(
            labels::COMPONENT_WARD_SERVICE,
            "portal",
            "portal",
            "31101",
            classification,
        )
    }

    #[test]
    fn ingress_only_on_the_port_from_managed_pods_of_the_same_ward_and_level() {
        let spec = spec_of(&ward_with(
            json!({ "port": 9000, "classification": "confidential" }),
        ));
        let rules = spec.ingress.unwrap();
        assert_eq!(rules.len(), 1);
        let from = rules[0].from.as_ref().unwrap();
        assert_eq!(from.len(), 1);
        assert!(from[0].namespace_selector.is_none());
        let peer = from[0].pod_selector.as_ref().unwrap();
        assert!(selector_matches(peer, &ward_pod("confidential")));
        assert!(selector_matches(peer, &ward_pod("secret")));
        assert!(
            !selector_matches(peer, &ward_pod("public")),
            "a less classified service"
        );
        assert!(!selector_matches(peer, &ward_pod("internal")));
        // A hand-made pod that copies the ward label (or ward and level) is refused.
        let copied = BTreeMap::from([
            ("wardops.io/ward".to_string(), "31101".to_string()),
            (
                "wardops.io/classification".to_string(),
                "secret".to_string(),
            ),
        ]);
        assert!(!selector_matches(peer, &copied));
        let mut other_ward = ward_pod("secret");
        other_ward.insert("wardops.io/ward".to_string(), "31102".to_string());
        assert!(!selector_matches(peer, &other_ward));
        let ports = rules[0].ports.as_ref().unwrap();
        assert_eq!(ports.len(), 1);
        assert_eq!(ports[0].port, Some(IntOrString::Int(9000)));
        assert_eq!(ports[0].protocol.as_deref(), Some("TCP"));
    }

    #[test]
    fn ingress_controller_allowed_only_with_an_ingress() {
        let ws = ward_with(json!({ "ingress": { "host": "motcua.hongbang.haiphong.gov.vn" } }));
        let rules = spec_of(&ws).ingress.unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(
            rules[1].from.as_ref().unwrap()[0]
                .namespace_selector
                .as_ref()
                .unwrap()
                .match_labels,
            Some(BTreeMap::from([(
                "kubernetes.io/metadata.name".to_string(),
                "ingress-nginx".to_string()
            )]))
        );
        assert_eq!(
            rules[1].ports.as_ref().unwrap()[0].port,
            Some(IntOrString::Int(8080))
        );
    }

    #[test]
    fn dns_only_to_the_cluster_dns_pods() {
        let egress = spec_of(&ward()).egress.unwrap();
        assert_eq!(egress.len(), 1, "DNS only: no connectors are wired");
        let to = egress[0].to.as_ref().unwrap();
        assert_eq!(to.len(), 1);
        assert_eq!(
            to[0].namespace_selector.as_ref().unwrap().match_labels,
            Some(BTreeMap::from([(
                "kubernetes.io/metadata.name".to_string(),
                "kube-system".to_string()
            )]))
        );
        assert_eq!(
            to[0].pod_selector.as_ref().unwrap().match_labels,
            Some(BTreeMap::from([(
                "k8s-app".to_string(),
                "kube-dns".to_string()
            )]))
        );
        let dns: Vec<(Option<IntOrString>, Option<String>)> = egress[0]
            .ports
            .clone()
            .unwrap()
            .into_iter()
            .map(|p| (p.port, p.protocol))
            .collect();
        assert_eq!(
            dns,
            vec![
                (Some(IntOrString::Int(53)), Some("UDP".to_string())),
                (Some(IntOrString::Int(53)), Some("TCP".to_string())),
            ]
        );
        let settings = WorkloadSettings {
            node_local_dns: crate::runtime::settings::OptionalIp(Some(
                "169.254.20.10".parse().unwrap(),
            )),
            ..WorkloadSettings::default()
        };
        let rule = dns_egress(&settings);
        let cidrs: Vec<String> = rule
            .to
            .unwrap()
            .into_iter()
            .filter_map(|p| p.ip_block.map(|b| b.cidr))
            .collect();
        assert_eq!(cidrs, ["169.254.20.10/32"]);
    }

    #[test]
    fn egress_to_each_wired_connector_by_its_selector_labels() {
        use crate::api::ward_service::ConnectorRef;
        let ws = ward();
        let settings = WorkloadSettings::default();
        let versions = BTreeMap::new();
        let wired = [
            ConnectorRef {
                name: "dan-cu".into(),
                env: "WARDOPS_CONNECTOR_DAN_CU_URL".into(),
                url: Some("http://dan-cu-connector.phuong-hong-bang.svc:8080".into()),
                ready: true,
            },
            // Not wired (refused, or not reconciled yet): not reached.
            ConnectorRef {
                name: "ho-tich".into(),
                env: "WARDOPS_CONNECTOR_HO_TICH_URL".into(),
                url: None,
                ready: false,
            },
        ];
        let input = super::super::test_support::input_for(&ws, &settings, &versions, &wired);
        let spec = super::super::children(&input)
            .unwrap()
            .network_policy
            .spec
            .unwrap();
        let egress = spec.egress.unwrap();
        assert_eq!(egress.len(), 2);
        let to = egress[1].to.as_ref().unwrap();
        assert_eq!(to.len(), 1);
        let peer = to[0].pod_selector.as_ref().unwrap();
        let gateway = labels::connector_peer_labels("dan-cu", "one-stop");
        assert!(selector_matches(peer, &gateway));
        // Another connector's gateway, or a pod with only the old trust label, is not reached.
        assert!(!selector_matches(
            peer,
            &labels::connector_peer_labels("dat-dai", "one-stop")
        ));
        let copied = BTreeMap::from([
            (
                "wardops.io/connector-for".to_string(),
                "one-stop".to_string(),
            ),
            (
                "app.kubernetes.io/component".to_string(),
                "connector-gateway".to_string(),
            ),
        ]);
        assert!(!selector_matches(peer, &copied));
        assert!(egress[1].ports.is_none());
    }

    #[test]
    fn egress_cidrs_for_ordinary_services() {
        let ws = ward_with(json!({ "egressCIDRs": ["10.20.0.0/16", "192.0.2.10/32"] }));
        let egress = spec_of(&ws).egress.unwrap();
        assert_eq!(egress.len(), 2);
        let cidrs: Vec<String> = egress[1]
            .to
            .clone()
            .unwrap()
            .into_iter()
            .map(|p| p.ip_block.unwrap().cidr)
            .collect();
        assert_eq!(cidrs, vec!["10.20.0.0/16", "192.0.2.10/32"]);
    }

    #[test]
    fn classified_gets_only_dns_and_connectors() {
        // Even if the CRD rule were bypassed, classified egress has no ipBlock
        // and the ingress controller is not let in.
        let ws = ward_with(json!({
            "classification": "secret",
            "egressCIDRs": ["0.0.0.0/0"],
            "ingress": { "host": "motcua.hongbang.haiphong.gov.vn" },
        }));
        let spec = spec_of(&ws);
        assert!(!has_ip_block(&spec));
        assert_eq!(spec.egress.as_ref().unwrap().len(), 1);
        assert_eq!(spec.ingress.as_ref().unwrap().len(), 1);
        let ws = ward_with(json!({ "classification": "confidential" }));
        assert!(!has_ip_block(&spec_of(&ws)));
    }
}
