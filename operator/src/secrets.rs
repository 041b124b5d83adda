//! Secret references: check that each referenced Secret and key exists, and
//! collect `resourceVersion` stamps for rollouts. A Secret is read (once per
//! resourceVersion) only to learn its key names, inside this module; its
//! values are never kept, returned, logged or copied anywhere.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client, ResourceExt};

use crate::controller::cache::Versions;

/// One place in a spec that refers to a Secret (and maybe a key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretUse {
    /// The spec field that holds the reference, e.g. `spec.secretEnv[0].secretKeyRef`.
    pub field: String,
    /// Name of the Secret.
    pub secret: String,
    /// Key that must exist in it, if any.
    pub key: Option<String>,
}

/// A reference that does not resolve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissingSecret {
    /// The reference.
    pub reference: SecretUse,
    /// Namespace it was looked up in.
    pub namespace: String,
    /// True when the Secret exists but lacks the key.
    pub secret_exists: bool,
}

impl fmt::Display for MissingSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.reference;
        match (&r.key, self.secret_exists) {
            (Some(key), true) => write!(
                f,
                "Secret `{}` in namespace `{}` has no key `{key}` (referenced by {})",
                r.secret, self.namespace, r.field
            ),
            _ => write!(
                f,
                "Secret `{}` not found in namespace `{}` (referenced by {})",
                r.secret, self.namespace, r.field
            ),
        }
    }
}

/// Outcome of checking a set of references.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretCheck {
    /// `resourceVersion` of every Secret that exists, by name.
    pub versions: BTreeMap<String, String>,
    /// References that do not resolve, in spec order.
    pub missing: Vec<MissingSecret>,
}

impl SecretCheck {
    /// All missing references in one message, e.g. for a condition.
    pub fn message(&self) -> String {
        self.missing
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// A Secret: (namespace, name).
type SecretId = (String, String);
/// A Secret's resourceVersion and key names.
type KeyNames = (String, Vec<String>);

/// The Secrets a reconcile may refer to, from a watch cache of their
/// resourceVersions, and the key names of each referenced Secret at its
/// current resourceVersion. A reconcile reads a Secret from the API server only when
/// its resourceVersion changed since the key names were last read (a rotation
/// or a new Secret): an unchanged cluster costs no request, and reconciles
/// that need the same Secret at once read it once.
pub struct SecretIndex {
    versions: Versions<Secret>,
    /// (namespace, name) -> (resourceVersion, key names). Never a value.
    keys: Mutex<HashMap<SecretId, KeyNames>>,
    /// The Secrets being read, each with the turn its readers take.
    reading: Mutex<HashMap<SecretId, Arc<tokio::sync::Mutex<()>>>>,
}

impl SecretIndex {
    /// An index over the cache `versions`.
    pub fn new(versions: Versions<Secret>) -> Self {
        SecretIndex {
            versions,
            keys: Mutex::new(HashMap::new()),
            reading: Mutex::new(HashMap::new()),
        }
    }

    /// The cache of versions (for readiness, and whether a Secret exists).
    pub fn versions(&self) -> &Versions<Secret> {
        &self.versions
    }

    fn cached_keys(&self, id: &SecretId, version: &str) -> Option<Vec<String>> {
        let keys = self.keys.lock().ok()?;
        keys.get(id)
            .filter(|(v, _)| v == version)
            .map(|(_, k)| k.clone())
    }

    fn remember(&self, id: SecretId, entry: Option<KeyNames>) {
        if let Ok(mut keys) = self.keys.lock() {
            match entry {
                Some(e) => keys.insert(id, e),
                None => keys.remove(&id),
            };
        }
    }

    /// The key names of `id` at `version`, read from the API server unless
    /// a reconcile that was reading them when this one asked has read them:
    /// after a restart, the reconciles of every ward that shares a Secret
    /// (a backup repository's, a connector's credentials) start at once,
    /// and each read it.
    async fn read_once(
        &self,
        client: &Client,
        id: &SecretId,
        version: &str,
    ) -> Result<Option<KeyNames>, kube::Error> {
        let gate = self
            .reading
            .lock()
            .map(|mut r| r.entry(id.clone()).or_default().clone())
            .unwrap_or_default();
        let turn = gate.lock().await;
        let found = match self.cached_keys(id, version) {
            Some(keys) => Ok(Some((version.to_string(), keys))),
            None => read_keys(client, &id.0, &id.1).await,
        };
        if let Ok(found) = &found {
            self.remember(id.clone(), found.clone());
        }
        drop(turn);
        // The last reader of this turn lets the Secret's gate go, whether
        // the read succeeded or not.
        if let Ok(mut r) = self.reading.lock()
            && Arc::strong_count(&gate) <= 2
        {
            r.remove(id);
        }
        found
    }

    /// Checks `uses` in `namespace`: each Secret's existence from the cache,
    /// its key names from the index, read once per resourceVersion.
    pub async fn check(
        &self,
        client: &Client,
        namespace: &str,
        uses: &[SecretUse],
    ) -> Result<SecretCheck, kube::Error> {
        let mut seen: BTreeMap<String, Option<(String, Vec<String>)>> = BTreeMap::new();
        for u in uses {
            if seen.contains_key(&u.secret) {
                continue;
            }
            let id = (namespace.to_string(), u.secret.clone());
            let cached = self.versions.get(namespace, &u.secret);
            let found = match cached {
                None => None,
                Some(version) => match self.cached_keys(&id, &version) {
                    Some(keys) => Some((version, keys)),
                    None => self.read_once(client, &id, &version).await?,
                },
            };
            self.remember(id, found.clone());
            seen.insert(u.secret.clone(), found);
        }
        Ok(evaluate(namespace, uses, &seen))
    }
}

/// Reads one Secret and keeps only its resourceVersion and key names.
async fn read_keys(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<Option<(String, Vec<String>)>, kube::Error> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    Ok(api.get_opt(name).await?.map(|s| {
        let keys = s
            .data
            .as_ref()
            .map(|d| d.keys().cloned().collect())
            .unwrap_or_default();
        (s.resource_version().unwrap_or_default(), keys)
    }))
}

/// Pure part of `check`: which references resolve against the fetched key names.
pub fn evaluate(
    namespace: &str,
    uses: &[SecretUse],
    seen: &BTreeMap<String, Option<(String, Vec<String>)>>,
) -> SecretCheck {
    let mut versions = BTreeMap::new();
    let mut missing = Vec::new();
    for u in uses {
        match seen.get(&u.secret).and_then(Option::as_ref) {
            Some((version, keys)) => {
                versions.insert(u.secret.clone(), version.clone());
                if let Some(key) = &u.key
                    && !keys.contains(key)
                {
                    missing.push(MissingSecret {
                        reference: u.clone(),
                        namespace: namespace.to_string(),
                        secret_exists: true,
                    });
                }
            }
            None => missing.push(MissingSecret {
                reference: u.clone(),
                namespace: namespace.to_string(),
                secret_exists: false,
            }),
        }
    }
    SecretCheck { versions, missing }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client of the test server at `url`, and an index whose cache
    /// holds the Secret `ward-1/repo` at resourceVersion 7.
    fn index_of_repo(url: &str) -> (Client, SecretIndex) {
        let client = Client::try_from(kube::Config::new(url.parse().unwrap())).unwrap();
        let versions = Versions::holding(&[("ward-1", "repo", "7")]);
        (client, SecretIndex::new(versions))
    }

    #[tokio::test]
    async fn reconciles_that_need_a_secret_at_once_read_it_once() {
        let secret = serde_json::json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "repo", "namespace": "ward-1", "resourceVersion": "7"},
            "data": {"password": "c2VudGluZWw="}});
        let (url, seen) =
            crate::test_server::serve(secret.to_string(), std::time::Duration::from_millis(50))
                .await;
        let (client, index) = index_of_repo(&url);
        let uses = [use_(
            "spec.repository.passwordSecretRef",
            "repo",
            Some("password"),
        )];
        let checks =
            futures::future::join_all((0..8).map(|_| index.check(&client, "ward-1", &uses))).await;
        for check in checks {
            let check = check.unwrap();
            assert!(check.missing.is_empty(), "{}", check.message());
            assert_eq!(check.versions["repo"], "7");
        }
        assert_eq!(
            seen.lock().unwrap().len(),
            1,
            "one read for eight reconciles"
        );
        assert!(
            index.reading.lock().unwrap().is_empty(),
            "no gate left behind"
        );
        // Unchanged, it is not read again.
        index.check(&client, "ward-1", &uses).await.unwrap();
        assert_eq!(seen.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_failed_read_leaves_no_gate_behind() {
        let (url, seen) =
            crate::test_server::serve("not a Secret".to_string(), std::time::Duration::ZERO).await;
        let (client, index) = index_of_repo(&url);
        let uses = [use_("spec.repository.passwordSecretRef", "repo", None)];
        assert!(index.check(&client, "ward-1", &uses).await.is_err());
        assert_eq!(seen.lock().unwrap().len(), 1);
        assert!(
            index.reading.lock().unwrap().is_empty(),
            "no gate left behind"
        );
        assert!(index.keys.lock().unwrap().is_empty(), "nothing remembered");
    }

    fn use_(field: &str, secret: &str, key: Option<&str>) -> SecretUse {
        SecretUse {
            field: field.into(),
            secret: secret.into(),
            key: key.map(Into::into),
        }
    }

    #[test]
    fn missing_secret_and_missing_key_are_named() {
        let uses = [
            use_("spec.secretEnv[0].secretKeyRef", "db", Some("password")),
            use_("spec.secretEnv[1].secretKeyRef", "api", Some("token")),
        ];
        let seen = BTreeMap::from([
            (
                "db".to_string(),
                Some(("41".to_string(), vec!["user".to_string()])),
            ),
            ("api".to_string(), None),
        ]);
        let check = evaluate("phuong-1", &uses, &seen);
        assert_eq!(check.versions.get("db").map(String::as_str), Some("41"));
        assert_eq!(check.missing.len(), 2);
        assert_eq!(
            check.missing[0].to_string(),
            "Secret `db` in namespace `phuong-1` has no key `password` (referenced by spec.secretEnv[0].secretKeyRef)"
        );
        assert_eq!(
            check.missing[1].to_string(),
            "Secret `api` not found in namespace `phuong-1` (referenced by spec.secretEnv[1].secretKeyRef)"
        );
    }

    #[test]
    fn all_present_gives_versions_only() {
        let uses = [use_(
            "spec.secretEnv[0].secretKeyRef",
            "db",
            Some("password"),
        )];
        let seen = BTreeMap::from([(
            "db".to_string(),
            Some(("7".to_string(), vec!["password".to_string()])),
        )]);
        let check = evaluate("ns", &uses, &seen);
        assert!(check.missing.is_empty());
        assert_eq!(check.versions.len(), 1);
    }
}
