//! Reading rendered manifests (helm template, kubectl kustomize, samples):
//! one set of helpers for every test that looks into YAML.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_yaml::Value;

/// Documents of a multi-document YAML stream, empty ones dropped; panics on
/// YAML that does not parse or a document that is not a `T`.
pub fn docs<T: DeserializeOwned>(text: &str) -> Vec<T> {
    serde_yaml::Deserializer::from_str(text)
        .map(|d| Value::deserialize(d).unwrap_or_else(|e| panic!("invalid YAML: {e}")))
        .filter(|v| !v.is_null())
        .map(|v| serde_yaml::from_value(v).unwrap_or_else(|e| panic!("unexpected document: {e}")))
        .collect()
}

/// `kind` of a document, or "".
pub fn kind_of(doc: &Value) -> &str {
    doc["kind"].as_str().unwrap_or("")
}

/// `metadata.name` of a document, or "".
pub fn name_of(doc: &Value) -> &str {
    doc["metadata"]["name"].as_str().unwrap_or("")
}

/// `Kind/name` of every document, sorted.
pub fn kinds(docs: &[Value]) -> Vec<String> {
    let mut k: Vec<String> = docs
        .iter()
        .map(|d| format!("{}/{}", kind_of(d), name_of(d)))
        .collect();
    k.sort();
    k
}

/// The document of `kind` named `name`; panics when there is none.
pub fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| kind_of(d) == kind && name_of(d) == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in {:?}", kinds(docs)))
}

/// The one document of `kind`; panics when there are none or several.
pub fn only<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let all: Vec<&Value> = docs.iter().filter(|d| kind_of(d) == kind).collect();
    assert_eq!(all.len(), 1, "expected one {kind}, got {}", all.len());
    all[0]
}

/// A list of strings; empty when absent. Panics on an entry that is not a string.
pub fn strings(v: &Value) -> Vec<String> {
    v.as_sequence()
        .map(|s| {
            s.iter()
                .map(|x| {
                    x.as_str()
                        .unwrap_or_else(|| panic!("not a string: {x:?}"))
                        .to_string()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Pod spec of the one Deployment.
pub fn pod_spec(docs: &[Value]) -> &Value {
    &only(docs, "Deployment")["spec"]["template"]["spec"]
}

/// First container of the one Deployment (the operator).
pub fn container(docs: &[Value]) -> &Value {
    &pod_spec(docs)["containers"][0]
}

/// The operator container's env: name -> value, or its `valueFrom` as JSON.
/// Panics on a value that is not a string (Kubernetes refuses those).
pub fn env(docs: &[Value]) -> BTreeMap<String, String> {
    container(docs)["env"]
        .as_sequence()
        .expect("the operator container has env")
        .iter()
        .map(|e| {
            let value = match &e["value"] {
                Value::String(s) => s.clone(),
                Value::Null => serde_json::to_string(&e["valueFrom"]).expect("JSON"),
                other => panic!("env value must be a string: {other:?}"),
            };
            (e["name"].as_str().expect("env name").to_string(), value)
        })
        .collect()
}
