//! The gateway's NetworkPolicy.
//!
//! In: port 8080 from its WardService's pods only (managed by wardops, same
//! ward, classification at or above the ward's).
//! Out: the cluster DNS pods, and the source: `source.egressCIDRs` on the
//! source's port (`source.port`, else the endpoint's), or that port anywhere
//! when no CIDR is given. OAuth2's token endpoint port is allowed as well.

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{BuildContext, gateway_name, sync_name};
use crate::api::data_connector::{AuthType, ConnectorMode};
use crate::controller::labels;
use crate::controller::ward_service::build::network_policy::{
    at_or_above, dns_egress, match_labels,
};

/// The gateway's NetworkPolicy. A sync gateway serves files and calls
/// nothing: no egress at all.
pub fn network_policy(ctx: &BuildContext) -> NetworkPolicy {
    let egress = match ctx.spec.mode {
        ConnectorMode::Proxy => egress_rules(ctx),
        ConnectorMode::Sync => Vec::new(),
    };
    NetworkPolicy {
        metadata: ctx.owned_metadata(gateway_name(ctx.name)),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(match_labels(ctx.selector_labels())),
            policy_types: Some(vec!["Ingress".to_string(), "Egress".to_string()]),
            ingress: Some(vec![ingress_rule(ctx)]),
            egress: Some(egress),
        }),
    }
}

/// A sync connector's pull pods: nothing calls them; they reach the cluster
/// DNS and the source only.
pub fn sync_network_policy(ctx: &BuildContext) -> NetworkPolicy {
    NetworkPolicy {
        metadata: ctx.owned_metadata(sync_name(ctx.name)),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(match_labels(ctx.sync_selector_labels())),
            policy_types: Some(vec!["Ingress".to_string(), "Egress".to_string()]),
            ingress: Some(Vec::new()),
            egress: Some(egress_rules(ctx)),
        }),
    }
}

fn tcp(port: i32) -> NetworkPolicyPort {
    NetworkPolicyPort {
        port: Some(IntOrString::Int(port)),
        protocol: Some("TCP".to_string()),
        end_port: None,
    }
}

/// The WardService's own pods, by labels only wardops sets together.
fn ingress_rule(ctx: &BuildContext) -> NetworkPolicyIngressRule {
    let ward_service = &ctx.spec.ward_service_ref.name;
    let mut pods = labels::selector_labels(labels::COMPONENT_WARD_SERVICE, ward_service);
    pods.extend(BTreeMap::from([
        (labels::WARD_LABEL.to_string(), ctx.ward_code.to_string()),
        (
            labels::MANAGED_BY_LABEL.to_string(),
            labels::MANAGED_BY.to_string(),
        ),
    ]));
    NetworkPolicyIngressRule {
        from: Some(vec![NetworkPolicyPeer {
            pod_selector: Some(LabelSelector {
                match_labels: Some(pods),
                match_expressions: Some(vec![at_or_above(ctx.ward_classification)]),
            }),
            ..NetworkPolicyPeer::default()
        }]),
        ports: Some(vec![tcp(labels::CONNECTOR_PORT)]),
    }
}

/// Port of an http(s) URL: its explicit port, else 443 or 80.
pub fn url_port(url: &str) -> Option<i32> {
    let uri: http::Uri = url.parse().ok()?;
    match uri.port_u16() {
        Some(p) => Some(i32::from(p)),
        None => match uri.scheme_str()? {
            "https" => Some(443),
            "http" => Some(80),
            _ => None,
        },
    }
}

/// Ports the gateway opens towards the source, sorted and distinct.
pub fn source_ports(ctx: &BuildContext) -> Vec<i32> {
    let spec = ctx.spec;
    let mut ports: Vec<i32> = spec
        .source
        .port
        .or_else(|| url_port(&spec.source.endpoint))
        .into_iter()
        .collect();
    if spec.auth.type_ == AuthType::OAuth2ClientCredentials
        && let Some(p) = spec.auth.token_url.as_deref().and_then(url_port)
    {
        ports.push(p);
    }
    ports.sort_unstable();
    ports.dedup();
    ports
}

fn egress_rules(ctx: &BuildContext) -> Vec<NetworkPolicyEgressRule> {
    let cidrs = &ctx.spec.source.egress_cidrs;
    let to = (!cidrs.is_empty()).then(|| {
        cidrs
            .iter()
            .map(|cidr| NetworkPolicyPeer {
                ip_block: Some(IPBlock {
                    cidr: cidr.clone(),
                    except: None,
                }),
                ..NetworkPolicyPeer::default()
            })
            .collect()
    });
    vec![
        dns_egress(ctx.settings),
        NetworkPolicyEgressRule {
            to,
            ports: Some(source_ports(ctx).into_iter().map(tcp).collect()),
        },
    ]
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::test_support::{build, connector, connector_with};
    use super::*;
    use crate::controller::ward_service::build::network_policy::selector_matches;
    use crate::runtime::settings::WorkloadSettings;

    fn ward_pod(instance: &str, code: &str, classification: &str) -> BTreeMap<String, String> {
        labels::common_labels(
            labels::COMPONENT_WARD_SERVICE,
            instance,
            instance,
            code,
            classification,
        )
    }

    #[test]
    fn ingress_only_from_the_wards_own_pods_on_8080() {
        let spec = build(&connector()).network_policy.spec.unwrap();
        let rules = spec.ingress.unwrap();
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].ports, Some(vec![tcp(8080)]));
        let from = rules[0].from.as_ref().unwrap();
        assert_eq!(from.len(), 1);
        assert!(from[0].namespace_selector.is_none() && from[0].ip_block.is_none());
        let sel = from[0].pod_selector.as_ref().unwrap();
        assert!(selector_matches(
            sel,
            &ward_pod("one-stop", "31101", "internal")
        ));
        assert!(selector_matches(
            sel,
            &ward_pod("one-stop", "31101", "secret")
        ));
        assert!(!selector_matches(
            sel,
            &ward_pod("portal", "31101", "internal")
        ));
        assert!(!selector_matches(
            sel,
            &ward_pod("one-stop", "31102", "internal")
        ));
        assert!(!selector_matches(
            sel,
            &ward_pod("one-stop", "31101", "public")
        ));
        let mut unmanaged = ward_pod("one-stop", "31101", "internal");
        unmanaged.remove(labels::MANAGED_BY_LABEL);
        assert!(!selector_matches(sel, &unmanaged));
    }

    #[test]
    fn egress_to_dns_and_the_source_only() {
        let spec = build(&connector()).network_policy.spec.unwrap();
        let egress = spec.egress.unwrap();
        assert_eq!(egress.len(), 2);
        assert_eq!(egress[0], dns_egress(&WorkloadSettings::default()));
        assert_eq!(egress[1].ports, Some(vec![tcp(443)]));
        assert!(egress[1].to.is_none());

        let spec = build(&connector_with(json!({"source": {"kind": "land",
            "endpoint": "http://dd.city:8443/api", "egressCIDRs": ["10.20.0.0/16"]}})))
        .network_policy
        .spec
        .unwrap();
        let rule = &spec.egress.unwrap()[1];
        assert_eq!(rule.ports, Some(vec![tcp(8443)]));
        let to = rule.to.as_ref().unwrap();
        assert_eq!(to.len(), 1);
        assert_eq!(to[0].ip_block.as_ref().unwrap().cidr, "10.20.0.0/16");
    }

    #[test]
    fn source_port_and_token_endpoint_port() {
        let dc = connector_with(json!({
            "source": {"kind": "land", "endpoint": "https://dd.city/api", "port": 9443},
            "auth": {"type": "oauth2ClientCredentials", "tokenURL": "https://sso.city:8443/token"}}));
        let spec = build(&dc).network_policy.spec.unwrap();
        assert_eq!(
            spec.egress.unwrap()[1].ports,
            Some(vec![tcp(8443), tcp(9443)])
        );
        assert_eq!(url_port("http://a.b"), Some(80));
        assert_eq!(url_port("https://a.b/x"), Some(443));
    }
}
