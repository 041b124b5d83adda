//! The plugin's way to the cluster: a client from kubectl's flags, and API
//! errors turned into what a user can act on (no cluster, no CRDs, a missing
//! permission named, an unknown name with a suggestion).

use std::fmt;

use kube::api::{Api, ListParams, ObjectList};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config, Resource};
use serde::de::DeserializeOwned;

use super::KubeArgs;
use crate::api::common::GROUP;

/// Why a plugin command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// No kubeconfig, or it cannot be used.
    #[error("no cluster configured: {0} (pass --kubeconfig or set KUBECONFIG)")]
    NoConfig(String),
    /// The API server does not answer.
    #[error("cannot reach the cluster at {url}: {cause}")]
    Unreachable { url: String, cause: String },
    /// The wardops CRDs are not installed.
    #[error(
        "the wardops CRDs are not installed in this cluster ({resource}.{GROUP} is not served): install the chart (helm install wardops charts/wardops) or `kubectl apply -f crds/`"
    )]
    NoCrds { resource: String },
    /// The API server refused for lack of a permission.
    #[error(
        "forbidden: you cannot {verb} {resource}{group} {scope}: ask for a role that grants it{hint}"
    )]
    Forbidden {
        verb: &'static str,
        resource: String,
        group: String,
        scope: String,
        hint: &'static str,
    },
    /// No object of that name.
    #[error("{kind} {name:?} not found in namespace {namespace:?}{suggestion}")]
    NotFound {
        kind: String,
        name: String,
        namespace: String,
        suggestion: String,
    },
    /// The request is not valid for this object (the message says why).
    #[error("{0}")]
    Invalid(String),
    /// The API server refused otherwise.
    #[error("the API server refused to {verb} {resource}: {message}")]
    Api {
        verb: &'static str,
        resource: String,
        message: String,
    },
    /// Output cannot be written.
    #[error("cannot write the output: {0}")]
    Output(String),
}

/// One request, to describe it in errors: `verb` on `resource` (plural) of
/// `group` ("" for the core group).
#[derive(Clone, Debug)]
pub struct Req<'a> {
    pub verb: &'static str,
    pub resource: String,
    pub group: String,
    pub namespace: Option<&'a str>,
}

impl<'a> Req<'a> {
    /// A request on a wardops kind.
    pub fn wardops(verb: &'static str, resource: &str, namespace: Option<&'a str>) -> Self {
        Self::builtin(verb, resource, GROUP, namespace)
    }

    /// A request on a core or other built-in kind.
    pub fn builtin(
        verb: &'static str,
        resource: &str,
        group: &str,
        namespace: Option<&'a str>,
    ) -> Self {
        Req {
            verb,
            resource: resource.to_string(),
            group: group.to_string(),
            namespace,
        }
    }

    /// A request on kind `K`.
    pub fn of<K: Resource<DynamicType = ()>>(
        verb: &'static str,
        namespace: Option<&'a str>,
    ) -> Self {
        Self::builtin(verb, &K::plural(&()), &K::group(&()), namespace)
    }
}

/// A client and the namespace commands use.
pub struct Cluster {
    pub client: Client,
    pub namespace: String,
    url: String,
}

impl fmt::Debug for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cluster")
            .field("namespace", &self.namespace)
            .field("url", &self.url)
            .finish()
    }
}

/// The client kubectl would use with these flags.
pub async fn connect(args: &KubeArgs) -> Result<Cluster, CliError> {
    let options = KubeConfigOptions {
        context: args.context.clone(),
        ..Default::default()
    };
    let config = match &args.kubeconfig {
        Some(path) => {
            let kc = Kubeconfig::read_from(path)
                .map_err(|e| CliError::NoConfig(format!("{}: {e}", path.display())))?;
            Config::from_custom_kubeconfig(kc, &options)
                .await
                .map_err(|e| CliError::NoConfig(e.to_string()))?
        }
        None if args.context.is_some() => Config::from_kubeconfig(&options)
            .await
            .map_err(|e| CliError::NoConfig(e.to_string()))?,
        None => Config::infer()
            .await
            .map_err(|e| CliError::NoConfig(e.to_string()))?,
    };
    let namespace = args
        .namespace
        .clone()
        .unwrap_or_else(|| config.default_namespace.clone());
    let url = config.cluster_url.to_string();
    let client = Client::try_from(config).map_err(|e| CliError::NoConfig(e.to_string()))?;
    Ok(Cluster {
        client,
        namespace,
        url,
    })
}

impl Cluster {
    /// `error` from the API server as a [`CliError`] for `req`.
    pub fn error(&self, req: Req<'_>, error: kube::Error) -> CliError {
        match error {
            kube::Error::Api(s) if s.code == 403 => forbidden(req),
            kube::Error::Api(s) if s.code == 404 && req.group == GROUP => CliError::NoCrds {
                resource: req.resource,
            },
            kube::Error::Api(s) => CliError::Api {
                verb: req.verb,
                resource: req.resource,
                message: s.message,
            },
            other => CliError::Unreachable {
                url: self.url.clone(),
                cause: crate::error_chain(&other),
            },
        }
    }

    /// Lists `K` in `namespace` (all namespaces when `None`).
    pub async fn list<K>(&self, namespace: Option<&str>) -> Result<ObjectList<K>, CliError>
    where
        K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + fmt::Debug,
    {
        let api: Api<K> = match namespace {
            Some(ns) => Api::namespaced(self.client.clone(), ns),
            None => Api::all(self.client.clone()),
        };
        let req = Req::of::<K>("list", namespace);
        api.list(&ListParams::default())
            .await
            .map_err(|e| self.error(req, e))
    }

    /// Gets `name` in the namespace; an unknown name is [`CliError::NotFound`]
    /// with the closest existing names.
    pub async fn get<K>(&self, name: &str) -> Result<K, CliError>
    where
        K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + fmt::Debug,
    {
        let ns = self.namespace.as_str();
        let api: Api<K> = Api::namespaced(self.client.clone(), ns);
        let req = Req::of::<K>("get", Some(ns));
        match api.get_opt(name).await {
            Ok(Some(k)) => Ok(k),
            Ok(None) => {
                let names: Vec<String> = self
                    .list::<K>(Some(ns))
                    .await?
                    .items
                    .iter()
                    .filter_map(|k| k.meta().name.clone())
                    .collect();
                Err(CliError::NotFound {
                    kind: K::kind(&()).into_owned(),
                    name: name.to_string(),
                    namespace: ns.to_string(),
                    suggestion: suggestion(name, &names),
                })
            }
            Err(e) => Err(self.error(req, e)),
        }
    }
}

fn forbidden(req: Req<'_>) -> CliError {
    let hint = match (req.group.as_str(), req.verb) {
        (GROUP, "get" | "list" | "watch") => {
            " (the wardops-view role, aggregated into the built-in view role)"
        }
        (GROUP, _) => " (the wardops-edit role, aggregated into the built-in edit and admin roles)",
        _ => " (e.g. the built-in edit role in that namespace)",
    };
    CliError::Forbidden {
        verb: req.verb,
        resource: req.resource,
        group: if req.group.is_empty() {
            String::new()
        } else {
            format!(".{}", req.group)
        },
        scope: match req.namespace {
            Some(ns) => format!("in namespace {ns:?}"),
            None => "in any namespace (cluster-wide)".to_string(),
        },
        hint,
    }
}

/// `; did you mean "x"?` for the closest of `names` to `name`, when close
/// enough to be a typo; otherwise the names there are (a few), or nothing.
pub fn suggestion(name: &str, names: &[String]) -> String {
    let best = names
        .iter()
        .map(|n| (distance(name, n), n))
        .min_by_key(|(d, n)| (*d, n.len()));
    match best {
        Some((d, n)) if d <= (name.chars().count() / 3).max(2) => {
            format!("; did you mean {n:?}?")
        }
        Some(_) => {
            let mut few: Vec<&String> = names.iter().take(5).collect();
            few.sort();
            let list = few
                .iter()
                .map(|n| format!("{n:?}"))
                .collect::<Vec<_>>()
                .join(", ");
            let more = if names.len() > 5 { ", ..." } else { "" };
            format!("; there are: {list}{more}")
        }
        None => "; there are none".to_string(),
    }
}

/// Levenshtein distance, in characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(row[j]).min(cur)
            };
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_closest_name_for_a_typo() {
        let names = vec!["records-hourly".to_string(), "nightly".to_string()];
        assert_eq!(
            suggestion("records-hourli", &names),
            "; did you mean \"records-hourly\"?"
        );
        assert_eq!(suggestion("nightyl", &names), "; did you mean \"nightly\"?");
        assert!(suggestion("zzzzzzzzzzzz", &names).starts_with("; there are: "));
        assert_eq!(suggestion("x", &[]), "; there are none");
    }

    #[test]
    fn distance_counts_edits() {
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("Hồng", "Hong"), 1);
    }

    fn cluster() -> Cluster {
        let url: http::Uri = "https://127.0.0.1:6443".parse().unwrap();
        Cluster {
            client: Client::try_from(Config::new(url)).unwrap(),
            namespace: "ward-a".into(),
            url: "https://127.0.0.1:6443/".into(),
        }
    }

    fn api_error(code: u16) -> kube::Error {
        kube::Error::Api(
            kube::core::Status::failure(
                "the server could not find the requested resource",
                "NotFound",
            )
            .with_code(code)
            .boxed(),
        )
    }

    #[tokio::test]
    async fn a_missing_wardops_resource_means_the_crds_are_not_installed() {
        let c = cluster();
        let e = c.error(
            Req::wardops("list", "wardservices", Some("ward-a")),
            api_error(404),
        );
        assert!(
            matches!(&e, CliError::NoCrds { resource } if resource == "wardservices"),
            "{e}"
        );
        assert!(
            e.to_string()
                .contains("wardservices.wardops.io is not served"),
            "{e}"
        );
        let e = c.error(
            Req::builtin("get", "cronjobs", "batch", Some("ward-a")),
            api_error(404),
        );
        assert!(matches!(e, CliError::Api { .. }), "{e}");
        let e = c.error(
            Req::wardops("patch", "backuppolicies", Some("ward-a")),
            api_error(403),
        );
        assert!(matches!(e, CliError::Forbidden { .. }), "{e}");
    }

    #[test]
    fn forbidden_names_the_permission_and_the_role() {
        let e = forbidden(Req::wardops("patch", "backuppolicies", Some("ward-a")));
        let m = e.to_string();
        assert!(
            m.contains("cannot patch backuppolicies.wardops.io in namespace \"ward-a\""),
            "{m}"
        );
        assert!(m.contains("wardops-edit"), "{m}");
        let e = forbidden(Req::builtin("create", "jobs", "batch", Some("w")));
        assert!(
            e.to_string()
                .contains("cannot create jobs.batch in namespace \"w\"")
        );
    }
}
