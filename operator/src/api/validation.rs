//! Validation of a manifest against the generated CRD, with no cluster: the
//! OpenAPI schema (types, enums, ranges, patterns, lengths, unknown fields,
//! list types) through a JSON-schema validator, then the CRD's
//! `x-kubernetes-validations` CEL rules through the Kubernetes CEL library.
//!
//! The CRD is the only source of the rules: nothing here knows a field of
//! wardops' kinds. `wardops render` uses it so that a manifest that renders is
//! one the API server accepts, and the parity tests hold the two together.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::OnceLock;

use serde_json::{Map, Value};

use super::crds;
use crate::runtime::settings::is_dns_label;

/// One invalid field of a manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// Path of the field as the API server writes it, e.g. `spec.replicas` or
    /// `spec.secretEnv[1].name`; empty for a rule on the whole object.
    pub field: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl FieldError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

/// The compiled checks of one kind.
struct KindSchema {
    /// `openAPIV3Schema` as generated (defaults, CEL rules, list types).
    openapi: Value,
    /// The same schema as strict JSON Schema.
    json_schema: jsonschema::Validator,
    /// The CEL rules, compiled once.
    cel: kube_cel::CompiledSchema,
}

/// Why the CRD schemas could not be compiled: a bug in the generated CRD.
#[derive(Debug, thiserror::Error)]
#[error("the generated CRD of {kind} cannot be compiled for validation: {message}")]
pub struct SchemaError {
    kind: String,
    message: String,
}

type Schemas = BTreeMap<String, KindSchema>;

fn schemas() -> Result<&'static Schemas, &'static SchemaError> {
    static SCHEMAS: OnceLock<Result<Schemas, SchemaError>> = OnceLock::new();
    SCHEMAS.get_or_init(compile_all).as_ref()
}

fn compile_all() -> Result<Schemas, SchemaError> {
    let mut out = BTreeMap::new();
    for crd in crds() {
        let kind = crd.spec.names.kind.clone();
        let err = |message: String| SchemaError {
            kind: kind.clone(),
            message,
        };
        let mut openapi = crd
            .spec
            .versions
            .first()
            .and_then(|v| v.schema.as_ref())
            .and_then(|s| s.open_api_v3_schema.as_ref())
            .map(serde_json::to_value)
            .transpose()
            .map_err(|e| err(e.to_string()))?
            .ok_or_else(|| err("no openAPIV3Schema".to_string()))?;
        with_object_meta(&mut openapi);
        let json_schema = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft4)
            .should_validate_formats(false)
            .build(&strict_json_schema(&openapi))
            .map_err(|e| err(e.to_string()))?;
        let cel = kube_cel::compile_schema(&openapi);
        out.insert(
            kind,
            KindSchema {
                openapi,
                json_schema,
                cel,
            },
        );
    }
    Ok(out)
}

/// The fields the API server gives every object whether or not a CRD's schema
/// lists them; `metadata` itself is checked by [`metadata_errors`].
fn with_object_meta(openapi: &mut Value) {
    if let Some(props) = openapi.get_mut("properties").and_then(Value::as_object_mut) {
        for (field, schema) in [
            ("apiVersion", serde_json::json!({"type": "string"})),
            ("kind", serde_json::json!({"type": "string"})),
            ("metadata", serde_json::json!({"type": "object"})),
        ] {
            props.entry(field).or_insert(schema);
        }
    }
}

/// The kinds this module can validate: every kind of the API (named
/// without building its CRD: render asks once per document).
pub fn kinds() -> Vec<String> {
    super::kinds()
        .iter()
        .map(|k| (k.kind)(&()).into_owned())
        .collect()
}

/// Outcome of [`validate`]: the object with the schema's defaults applied, or
/// every invalid field.
pub type Validated = Result<Value, Vec<FieldError>>;

/// Validates `object` (a whole manifest: apiVersion, kind, metadata, spec) of
/// `kind` as the API server would on create, with strict field validation (as
/// `kubectl apply` asks for). `status` is ignored, as the status subresource
/// makes the API server do. Returns the defaulted object.
pub fn validate(kind: &str, object: &Value) -> Result<Validated, &'static SchemaError> {
    let schemas = schemas()?;
    let Some(schema) = schemas.get(kind) else {
        return Ok(Err(vec![FieldError::new(
            "kind",
            format!(
                "Unsupported value: {kind:?}: supported values: {:?}",
                kinds()
            ),
        )]));
    };
    let mut object = object.clone();
    if let Some(map) = object.as_object_mut() {
        map.remove("status");
    }
    let mut errors = metadata_errors(&object);
    let defaulted = kube_cel::apply_defaults(&schema.openapi, &object);

    errors.extend(
        schema
            .json_schema
            .iter_errors(&defaulted)
            .flat_map(|e| schema_errors(&e, &defaulted)),
    );
    list_type_errors(&schema.openapi, &defaulted, "", &mut errors);
    // CEL rules assume the types the schema promises, as on the API server.
    if errors.is_empty()
        && let Err(cel) =
            kube_cel::Validator::new().validate_compiled(&schema.cel, &defaulted, None)
    {
        errors.extend(cel.into_vec().into_iter().map(|e| {
            FieldError::new(
                e.field_path.trim_start_matches('.'),
                format!("Invalid value: {}", e.message),
            )
        }));
    }
    errors.dedup();
    Ok(if errors.is_empty() {
        Ok(defaulted)
    } else {
        Err(errors)
    })
}

/// What the API server checks of every object's metadata before the schema.
fn metadata_errors(object: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let meta = object.get("metadata");
    match meta.and_then(|m| m.get("name")) {
        None | Some(Value::Null) => errors.push(FieldError::new("metadata.name", "Required value")),
        Some(Value::String(s)) if !s.is_empty() => {}
        Some(other) => errors.push(FieldError::new(
            "metadata.name",
            format!("Invalid value: {other}: must be a non-empty string"),
        )),
    }
    if let Some(ns) = meta.and_then(|m| m.get("namespace"))
        && !ns.as_str().is_some_and(is_dns_label)
    {
        errors.push(FieldError::new(
            "metadata.namespace",
            format!(
                "Invalid value: {ns}: a namespace name is at most 63 lowercase letters, digits and '-'"
            ),
        ));
    }
    errors
}

/// The structural schema as JSON Schema draft 4, strict as the API server's
/// field validation: objects with `properties` refuse other fields, `nullable`
/// admits null, int-or-string admits both, Kubernetes extensions are dropped.
fn strict_json_schema(schema: &Value) -> Value {
    let Value::Object(map) = schema else {
        return schema.clone();
    };
    let mut out = Map::new();
    for (k, v) in map {
        let v = match k.as_str() {
            "properties" => Value::Object(
                v.as_object()
                    .map(|props| {
                        props
                            .iter()
                            .map(|(name, s)| (name.clone(), strict_json_schema(s)))
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
            "items" | "additionalProperties" if v.is_object() => strict_json_schema(v),
            "allOf" | "anyOf" | "oneOf" => Value::Array(
                v.as_array()
                    .map(|a| a.iter().map(strict_json_schema).collect())
                    .unwrap_or_default(),
            ),
            "not" => strict_json_schema(v),
            // Documentation and Kubernetes' own keywords carry no JSON-schema check.
            "description" | "format" | "default" | "nullable" => continue,
            k if k.starts_with("x-kubernetes-") => continue,
            _ => v.clone(),
        };
        out.insert(k.clone(), v);
    }
    let preserve = map.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    if map.contains_key("properties") && !map.contains_key("additionalProperties") && !preserve {
        out.insert("additionalProperties".into(), Value::Bool(false));
    }
    if map.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
        out.remove("type");
        out.insert(
            "anyOf".into(),
            serde_json::json!([{"type": "integer"}, {"type": "string"}]),
        );
    }
    if map.get("nullable") == Some(&Value::Bool(true)) {
        // `type: [T, "null"]` keeps the inner errors precise (an `anyOf` would hide them).
        if let Some(Value::String(t)) = out.get("type").cloned() {
            out.insert("type".into(), serde_json::json!([t, "null"]));
        }
        if let Some(Value::Array(options)) = out.get_mut("enum") {
            options.push(Value::Null);
        }
    }
    Value::Object(out)
}

/// A JSON pointer into `doc` as the API server writes field paths:
/// `/spec/secretEnv/0/name` → `spec.secretEnv[0].name`.
fn field_path(pointer: &str, doc: &Value) -> String {
    let mut out = String::new();
    let mut cur = Some(doc);
    for raw in pointer.split('/').skip(1) {
        let segment = raw.replace("~1", "/").replace("~0", "~");
        match cur {
            Some(Value::Array(items)) => {
                out.push_str(&format!("[{segment}]"));
                cur = segment.parse::<usize>().ok().and_then(|i| items.get(i));
            }
            other => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&segment);
                cur = other.and_then(|v| v.get(&segment));
            }
        }
    }
    out
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_string()
    } else {
        format!("{path}.{field}")
    }
}

/// One JSON-schema error in the API server's words.
fn schema_errors(e: &jsonschema::ValidationError<'_>, doc: &Value) -> Vec<FieldError> {
    use jsonschema::error::ValidationErrorKind as K;
    let path = field_path(e.instance_path().as_str(), doc);
    let value = || compact(e.instance());
    let one = |message: String| vec![FieldError::new(path.clone(), message)];
    match e.kind() {
        K::Required { property } => vec![FieldError::new(
            join(&path, property.as_str().unwrap_or_default()),
            "Required value",
        )],
        K::AdditionalProperties { unexpected } => unexpected
            .iter()
            .map(|f| {
                let full = join(&path, f);
                FieldError::new(full.clone(), format!("unknown field \"{full}\""))
            })
            .collect(),
        K::Enum { options } => {
            let supported: Vec<String> = options
                .as_array()
                .map(|o| o.iter().map(compact).collect())
                .unwrap_or_default();
            one(format!(
                "Unsupported value: {}: supported values: {}",
                value(),
                supported.join(", ")
            ))
        }
        K::Type { .. } => one(format!(
            "Invalid value: \"{}\": {path} in body must be of type {}",
            type_name(e.instance()),
            expected_type(e)
        )),
        K::AnyOf { .. } => one(format!(
            "Invalid value: \"{}\": {path} in body has the wrong type",
            type_name(e.instance())
        )),
        K::Maximum { limit } => one(format!(
            "Invalid value: {}: {path} in body should be less than or equal to {limit}",
            value()
        )),
        K::Minimum { limit } => one(format!(
            "Invalid value: {}: {path} in body should be greater than or equal to {limit}",
            value()
        )),
        K::Pattern { pattern } => one(format!(
            "Invalid value: {}: {path} in body should match '{pattern}'",
            value()
        )),
        K::MaxLength { limit } => one(format!("Too long: may not be more than {limit} characters")),
        K::MinLength { limit } => one(format!(
            "Invalid value: {}: {path} in body should be at least {limit} chars long",
            value()
        )),
        K::MaxItems { limit } => one(format!("Too many: must have at most {limit} items")),
        K::MinItems { limit } => one(format!(
            "Invalid value: {}: {path} in body should have at least {limit} items",
            e.instance().as_array().map_or(0, Vec::len)
        )),
        K::MaxProperties { limit } => one(format!("Too many: must have at most {limit} items")),
        _ => one(format!("Invalid value: {}: {e}", value())),
    }
}

fn expected_type(e: &jsonschema::ValidationError<'_>) -> String {
    let text = e.to_string();
    // jsonschema says `... is not of type "string"`; keep the type name.
    text.rsplit_once("of type ")
        .map(|(_, t)| t.trim_matches('"').to_string())
        .unwrap_or(text)
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A value for a message, shortened so that a huge input stays readable.
fn compact(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() > 80 {
        format!("{}...", text.chars().take(77).collect::<String>())
    } else {
        text
    }
}

/// `x-kubernetes-list-type` `map` (unique keys) and `set` (unique items), which
/// JSON Schema does not know.
fn list_type_errors(schema: &Value, value: &Value, path: &str, errors: &mut Vec<FieldError>) {
    match value {
        Value::Object(fields) => {
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|s| s.is_object());
            for (name, v) in fields {
                let sub = props.and_then(|p| p.get(name)).or(additional);
                if let Some(sub) = sub {
                    list_type_errors(sub, v, &join(path, name), errors);
                }
            }
        }
        Value::Array(items) => {
            let list_type = schema.get("x-kubernetes-list-type").and_then(Value::as_str);
            let keys: Vec<&str> = schema
                .get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .map(|k| k.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let mut seen = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let identity = match list_type {
                    Some("set") => Some(item.clone()),
                    Some("map") => Some(Value::Object(
                        keys.iter()
                            .filter_map(|k| item.get(*k).map(|v| (k.to_string(), v.clone())))
                            .collect(),
                    )),
                    _ => None,
                };
                if let Some(id) = identity {
                    if seen.contains(&id) {
                        errors.push(FieldError::new(
                            format!("{path}[{i}]"),
                            format!("Duplicate value: {}", compact(&id)),
                        ));
                    } else {
                        seen.push(id);
                    }
                }
                if let Some(sub) = schema.get("items") {
                    list_type_errors(sub, item, &format!("{path}[{i}]"), errors);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ward(spec: Value) -> Value {
        let mut s =
            json!({"ward": {"code": "11311", "name": "Phường Hồng Bàng"}, "image": "nginx:1"});
        if let (Some(base), Some(extra)) = (s.as_object_mut(), spec.as_object()) {
            base.extend(extra.clone());
        }
        json!({"apiVersion": "wardops.io/v1alpha1", "kind": "WardService",
               "metadata": {"name": "one-stop", "namespace": "phuong-1"}, "spec": s})
    }

    fn fields(r: Validated) -> Vec<String> {
        r.expect_err("invalid")
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn a_valid_manifest_comes_back_defaulted() {
        let out = validate("WardService", &ward(json!({}))).unwrap().unwrap();
        assert_eq!(out["spec"]["replicas"], 1);
        assert_eq!(out["spec"]["classification"], "internal");
    }

    #[test]
    fn schema_errors_name_the_field() {
        let r = validate("WardService", &ward(json!({"replicas": 101, "port": 0}))).unwrap();
        let mut got = fields(r);
        got.sort();
        assert_eq!(got, ["spec.port", "spec.replicas"]);
        let r = validate("WardService", &ward(json!({"replica": 3}))).unwrap();
        let errs = r.unwrap_err();
        assert_eq!(
            errs[0].to_string(),
            "spec.replica: unknown field \"spec.replica\""
        );
    }

    #[test]
    fn lengths_count_characters_not_bytes() {
        // 150 characters, 300+ bytes: the API server accepts it (maxLength 256).
        let path = format!("/{}", "đ".repeat(149));
        let r = validate(
            "WardService",
            &ward(json!({"probes": {"readiness": {"path": path}}})),
        )
        .unwrap();
        assert!(r.is_ok(), "{r:?}");
    }

    #[test]
    fn cel_rules_run_with_their_field_path() {
        let r = validate(
            "WardService",
            &ward(json!({"classification": "secret", "ingress": {"host": "a.gov.vn"}})),
        )
        .unwrap();
        assert_eq!(fields(r), ["spec.ingress"]);
        let r = validate("WardService", &ward(json!({"storage": {"size": "0"}}))).unwrap();
        assert_eq!(fields(r), ["spec.storage.size"]);
        let r = validate(
            "WardService",
            &ward(json!({"egressCIDRs": ["10.0.0.0/33"]})),
        )
        .unwrap();
        assert_eq!(fields(r), ["spec.egressCIDRs"]);
    }

    #[test]
    fn list_map_keys_are_unique() {
        let env = |n: &str| json!({"name": n, "secretKeyRef": {"name": "s", "key": "k"}});
        let r = validate(
            "WardService",
            &ward(json!({"secretEnv": [env("A"), env("A")]})),
        )
        .unwrap();
        assert_eq!(fields(r), ["spec.secretEnv[1]"]);
    }

    #[test]
    fn yaml_typing_matters() {
        let mut doc = ward(json!({}));
        doc["spec"]["ward"]["code"] = json!(11311);
        let errs = validate("WardService", &doc).unwrap().unwrap_err();
        assert_eq!(errs[0].field, "spec.ward.code");
        assert!(
            errs[0].message.contains("must be of type string"),
            "{}",
            errs[0]
        );
    }

    #[test]
    fn field_paths_follow_the_document() {
        let doc = json!({"spec": {"a": [{"b": 1}], "m": {"0": {"c": 2}}}});
        assert_eq!(field_path("/spec/a/0/b", &doc), "spec.a[0].b");
        assert_eq!(field_path("/spec/m/0/c", &doc), "spec.m.0.c");
    }

    #[test]
    fn every_kind_compiles() {
        assert_eq!(schemas().unwrap().len(), crds().len());
    }
}
