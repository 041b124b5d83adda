//! Generated WardService manifests sent to the API server (issue 12's fault
//! suite): valid and invalid, odd Unicode, huge strings, boundary numbers,
//! wrong types, missing and unknown fields. Each one must either be refused
//! by the API server with a field path in the message, or reach a Ready
//! condition with a CamelCase reason; the operator must not panic or
//! restart; a WardService created before them keeps converging.
//!
//! Count: `WARDOPS_GENERATED_COUNT` (1,000 by default, as in `make test`;
//! 10,000 for the long variant); the choices come from
//! `WARDOPS_GENERATED_SEED`, printed so that a failure can be replayed.
//! Accepted ones are deleted batch by batch (with their children), since each
//! takes a Service IP of the test control plane's /24 range.

use anyhow::{Result, anyhow, bail};
use futures::{StreamExt, stream};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};
use wardops::api::WardService;
use wardops_tests::rng::{Rng, env_or};
use wardops_tests::ward::{
    TIMEOUT, create_ready, patch_spec, ready_state, setup, wait_gone, wait_ready,
};
use wardops_tests::{operator, wait_for};

/// Manifests sent at once, and at most this many accepted ones live at a time.
const BATCH: usize = 40;

/// Strings that have broken parsers, validators and terminals.
const ODD: &[&str] = &[
    "",
    " ",
    "Phường Hồng Bàng",
    "Xã Đảo Bạch Long Vĩ (31135)",
    "Phường\u{0301}\u{0323}\u{0309}",
    "\u{202E}gnp.exe",
    "a\u{0000}b",
    "\u{FEFF}BOM",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 🏛️👩‍👩‍👧",
    "line\nbreak\r\n",
    "tab\there",
    "\"quoted\" 'single' `back`",
    "${HOME} $(rm -rf /) ; DROP TABLE",
    "../../etc/passwd",
    "/",
    "//double//slash",
    "-leading-dash",
    "UPPER",
    "a.b-c_d",
    "日本語のテキスト",
    "ع ربي",
    "\u{1F600}",
];

fn odd_string(rng: &mut Rng) -> String {
    match rng.below(10) {
        0 => "x".repeat(*rng.pick(&[63usize, 64, 200, 201, 253, 254, 512, 513, 4096, 4097])),
        1 => "Ư".repeat(*rng.pick(&[100usize, 101, 300, 5000])),
        2 => "a".repeat(100_000),
        _ => rng.pick(ODD).to_string(),
    }
}

/// Numbers at and across the schema's bounds, and numbers that are not integers.
fn odd_number(rng: &mut Rng) -> Value {
    rng.pick(&[
        json!(-1),
        json!(0),
        json!(1),
        json!(2),
        json!(100),
        json!(101),
        json!(65535),
        json!(65536),
        json!(2147483647),
        json!(2147483648i64),
        json!(-2147483649i64),
        json!(9007199254740993i64),
        json!(1.5),
        json!(1e300),
        json!("3"),
        json!(null),
        json!(true),
    ])
    .clone()
}

/// Any JSON of a wrong or odd kind.
fn odd_value(rng: &mut Rng) -> Value {
    match rng.below(5) {
        0 => odd_number(rng),
        1 => json!(odd_string(rng)),
        2 => json!([odd_string(rng), 1]),
        3 => json!({ odd_string(rng): odd_string(rng) }),
        _ => json!(null),
    }
}

fn quantity(rng: &mut Rng) -> Value {
    json!(rng.pick(&[
        "1Gi",
        "0",
        "-1Gi",
        "1e100",
        "1Pi",
        "100m",
        "1.5Gi",
        "Gi",
        "1 Gi",
        "1Gb",
        "1Ki",
        "9999999Ei",
    ]))
}

/// One manifest's spec: a valid base with one to three mutations.
fn spec(rng: &mut Rng) -> Value {
    let mut s = json!({
        "ward": {"code": "11311", "name": "Phường Hồng Bàng", "tier": "ward"},
        "image": "registry.haiphong.gov.vn/one-stop/backend:2.4.1",
    });
    for _ in 0..(1 + rng.below(3)) {
        // An earlier mutation may have made `ward` something else than an object.
        if !s["ward"].is_object() && !s["ward"].is_null() {
            s["ward"] = json!({});
        }
        match rng.below(20) {
            0 => s["ward"]["name"] = json!(odd_string(rng)),
            1 => {
                s["ward"]["code"] = json!(rng.pick(&[
                    "1",
                    "12",
                    "11311",
                    "0123456789",
                    "01234567890",
                    "1131a",
                    "１２３",
                    ""
                ]))
            }
            2 => {
                s["ward"]["tier"] =
                    json!(rng.pick(&["ward", "commune", "special-zone", "city", "", "Ward"]))
            }
            3 => s["image"] = json!(odd_string(rng)),
            4 => s["replicas"] = odd_number(rng),
            5 => s["port"] = odd_number(rng),
            6 => {
                let key = if rng.chance(50) {
                    rng.pick(&[
                        "TIEU_DE",
                        "DB_PASSWORD",
                        "api_key",
                        "X",
                        "_",
                        "9LIVES",
                        "A-B",
                        "Ư",
                    ])
                    .to_string()
                } else {
                    odd_string(rng)
                };
                s["config"] = json!({ key: odd_string(rng) });
            }
            7 => {
                s["storage"] = json!({"size": quantity(rng)});
                if rng.chance(50) {
                    s["storage"]["mountPath"] = json!(odd_string(rng));
                }
                if rng.chance(30) {
                    s["storage"]["reclaimPolicy"] =
                        json!(rng.pick(&["Retain", "Delete", "Recycle", ""]));
                }
            }
            8 => {
                s["autoscaling"] =
                    json!({"minReplicas": odd_number(rng), "maxReplicas": odd_number(rng)})
            }
            9 => {
                s["classification"] = json!(rng.pick(&[
                    "public",
                    "internal",
                    "confidential",
                    "secret",
                    "top-secret",
                    "PUBLIC",
                    ""
                ]))
            }
            10 => {
                s["egressCIDRs"] = json!([rng.pick(&[
                    "10.0.0.0/8",
                    "203.0.113.7/32",
                    "999.1.1.1/40",
                    "::/0",
                    "0.0.0.0/0",
                    "x"
                ])])
            }
            11 => {
                s["ingress"] = json!({"host": rng.pick(&["mot-cua.haiphong.gov.vn", "UPPER.example", "-x.example", "xn--pht-hng-bng.vn", ""])});
                if rng.chance(50) {
                    s["ingress"]["path"] = json!(odd_string(rng));
                }
            }
            12 => {
                s["secretEnv"] = json!([{"name": rng.pick(&["DB_URL", "1BAD", "OK_NAME", ""]),
                    "secretKeyRef": {"name": rng.pick(&["absent", "Bad_Name", ""]), "key": rng.pick(&["url", "a/b", ""])}}])
            }
            13 => {
                s["secretFiles"] = json!([{"secretName": "absent", "mountPath": rng.pick(&["/var/run/secrets/db", "/", "relative", "/a:b"])}])
            }
            14 => {
                s["probes"] = json!({"readiness": {"path": rng.pick(&["/healthz", "no-slash", ""]), "periodSeconds": odd_number(rng)}})
            }
            15 => {
                s["resources"] =
                    json!({"requests": {"cpu": quantity(rng), "memory": quantity(rng)}})
            }
            16 => {
                let field = rng
                    .pick(&["ward", "image", "config", "storage", "replicas", "paused"])
                    .to_string();
                s[field] = odd_value(rng);
            }
            17 => {
                let field = *rng.pick(&["ward", "image"]);
                if let Some(o) = s.as_object_mut() {
                    o.remove(field);
                }
            }
            18 => s[odd_string(rng).chars().take(40).collect::<String>()] = odd_value(rng),
            _ => s["paused"] = json!(rng.chance(50)),
        }
    }
    s
}

/// What became of one manifest.
enum Outcome {
    /// Refused with this message.
    Refused(String),
    /// Accepted under this name.
    Accepted(String),
}

async fn send(c: &Client, ns: &str, name: String, spec: Value) -> Result<Outcome> {
    let api = Api::<kube::api::DynamicObject>::namespaced_with(
        c.clone(),
        ns,
        &kube::api::ApiResource::erase::<WardService>(&()),
    );
    let obj: kube::api::DynamicObject = serde_json::from_value(json!({
        "apiVersion": "wardops.io/v1alpha1",
        "kind": "WardService",
        "metadata": {"name": name},
        "spec": spec,
    }))?;
    match api.create(&PostParams::default(), &obj).await {
        Ok(_) => Ok(Outcome::Accepted(name)),
        Err(kube::Error::Api(s)) if s.code == 422 || s.code == 400 => {
            Ok(Outcome::Refused(s.message))
        }
        Err(e) => Err(anyhow!("{name}: neither accepted nor refused: {e}")),
    }
}

/// A refusal names the field it is about.
fn names_a_field(message: &str) -> bool {
    message.contains("spec.") || message.contains("spec:") || message.contains("spec in body")
}

/// True for a stable CamelCase reason.
fn camel_case(reason: &str) -> bool {
    reason
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_uppercase())
        && reason.chars().all(|c| c.is_ascii_alphanumeric())
}

#[tokio::test]
async fn generated_manifests_are_refused_with_a_field_path_or_get_a_ready_reason() -> Result<()> {
    let count = env_or("WARDOPS_GENERATED_COUNT", 1000) as usize;
    let mut rng = Rng::from_env("WARDOPS_GENERATED_SEED");
    let op = operator().await;
    let (c, ns) = setup("generated", &[]).await?;
    let n = ns.name.as_str();
    create_ready(&c, n, "control", json!({})).await?;
    let wards = Api::<WardService>::namespaced(c.clone(), n);

    let (mut refused, mut accepted) = (0usize, 0usize);
    let mut reasons = std::collections::BTreeMap::<String, usize>::new();
    let mut sent = 0;
    while sent < count {
        let batch: Vec<(String, Value)> = (sent..count.min(sent + BATCH))
            .map(|i| (format!("gen-{i}"), spec(&mut rng)))
            .collect();
        sent += batch.len();
        let outcomes: Vec<(Value, Result<Outcome>)> = stream::iter(batch)
            .map(|(name, s)| {
                let c = c.clone();
                async move { (s.clone(), send(&c, n, name, s).await) }
            })
            .buffer_unordered(8)
            .collect()
            .await;
        let mut live = Vec::new();
        for (s, outcome) in outcomes {
            match outcome? {
                Outcome::Refused(message) => {
                    refused += 1;
                    if !names_a_field(&message) {
                        bail!("refused without a field path: {message}\nspec: {s}");
                    }
                }
                Outcome::Accepted(name) => {
                    accepted += 1;
                    live.push(name);
                }
            }
        }
        for name in &live {
            let ws = wait_for(
                &format!("{n}/{name} to get a Ready condition"),
                TIMEOUT,
                || async {
                    let ws = wards.get(name).await?;
                    Ok(ready_state(&ws).map(|(_, reason)| reason))
                },
            )
            .await?;
            if !camel_case(&ws) {
                bail!("{name}: Ready reason {ws:?} is not CamelCase");
            }
            *reasons.entry(ws).or_default() += 1;
        }
        // Foreground: the children (and their Service IPs) go first.
        for name in &live {
            wards.delete(name, &DeleteParams::foreground()).await?;
        }
        for name in &live {
            wait_gone::<WardService>(&c, n, name).await?;
        }
        op.alive()?;
    }
    println!(
        "{count} manifests: {refused} refused with a field path, {accepted} accepted; Ready reasons {reasons:?}"
    );
    assert!(
        refused > 0 && accepted > 0,
        "the generator tries both sides"
    );

    // No panic, no restart, and the control WardService still converges.
    op.alive()?;
    let log = std::fs::read_to_string(&op.log)?;
    assert!(
        !log.contains("panicked"),
        "the operator panicked:\n{}",
        op.log_tail()
    );
    patch_spec(&c, n, "control", json!({"replicas": 2})).await?;
    wait_for("the control WardService's edit", TIMEOUT, || async {
        let d = Api::<Deployment>::namespaced(c.clone(), n)
            .get("control")
            .await?;
        Ok((d.spec.and_then(|s| s.replicas) == Some(2)).then_some(()))
    })
    .await?;
    wait_ready(&c, n, "control").await?;
    Ok(())
}
