//! Pure-function benchmarks: building a WardService's children, the no-op
//! check that keeps an idle cluster free of writes, and `wardops render`.
//! Each figure is also given as a ratio to a baseline measured in the same
//! run: serialising the WardService to JSON once.
//!
//! Run: `cargo bench -p wardops --bench build` (or `make bench`).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use wardops::api::WardService;
use wardops::api::ward_service::ConnectorRef;
use wardops::controller::apply::{digest, is_subset};
use wardops::controller::ward_service::build::{BuildInput, children};
use wardops::runtime::settings::WorkloadSettings;

const SAMPLE: &str = include_str!("../../deploy/samples/wardservice-hong-bang-one-stop.yaml");

/// Median time per iteration over `rounds` rounds of `iters` iterations.
fn measure(iters: u32, rounds: u32, mut f: impl FnMut()) -> Duration {
    for _ in 0..iters {
        f();
    }
    let mut samples: Vec<Duration> = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iters {
                f();
            }
            start.elapsed() / iters
        })
        .collect();
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    let mut ws: WardService = serde_yaml::from_str(SAMPLE).expect("sample parses");
    ws.metadata.uid = Some("00000000-0000-0000-0000-000000000001".into());
    let settings = WorkloadSettings::default();
    let versions = BTreeMap::from([("one-stop-db".to_string(), "12345".to_string())]);
    let connectors = vec![ConnectorRef {
        name: "dan-cu".into(),
        env: "WARDOPS_CONNECTOR_DAN_CU_URL".into(),
        url: Some("http://dan-cu-connector.phuong-hong-bang.svc:8080".into()),
        ready: true,
    }];
    let input = BuildInput {
        ward: &ws,
        settings: &settings,
        secret_versions: &versions,
        connectors: &connectors,
    };
    let (iters, rounds) = (2_000, 15);

    let baseline = measure(iters, rounds, || {
        black_box(serde_json::to_vec(black_box(&ws)).unwrap());
    });
    let build = measure(iters, rounds, || {
        black_box(children(black_box(&input)).unwrap());
    });
    let built = children(&input).unwrap();
    let desired = serde_json::to_value(&built.deployment).unwrap();
    let mut live = desired.clone();
    live["status"] = serde_json::json!({"replicas": 2, "availableReplicas": 2});
    let noop_check = measure(iters, rounds, || {
        let bytes = serde_json::to_vec(black_box(&built.deployment)).unwrap();
        black_box(digest(&bytes));
        black_box(is_subset(black_box(&desired), black_box(&live)));
    });
    let render = measure(200, rounds, || {
        black_box(wardops::render::render(black_box(SAMPLE), &settings, None).unwrap());
    });

    let ratio = |d: Duration| d.as_secs_f64() / baseline.as_secs_f64();
    println!("benchmark                                   time/op      ratio to baseline");
    println!(
        "baseline: serialise a WardService to JSON  {:>9.2?}    1.00",
        baseline
    );
    for (name, d) in [
        ("build all children (9 objects)", build),
        ("no-op check of a Deployment (digest+subset)", noop_check),
        ("wardops render of the one-stop sample", render),
    ] {
        println!("{name:<43} {d:>9.2?}    {:.2}", ratio(d));
    }
}
