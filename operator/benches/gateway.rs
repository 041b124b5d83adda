//! Latency the gateway adds, and its memory: an upstream on 127.0.0.1, the
//! built `wardops gateway` as a child process in front of it, and an
//! open-loop client sending requests at a fixed rate, straight to the
//! upstream and through the gateway, in the same run: on the idle machine,
//! then with every CPU kept awake by an idle-priority spinner ([`CpusAwake`]).
//!
//! `cargo bench -p wardops --bench gateway` (`GATEWAY_BENCH_RATE`,
//! `GATEWAY_BENCH_SECONDS` change the rate and the duration of each phase).

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::AsyncBufReadExt;
use tokio::net::TcpListener;

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// A registry answer of a realistic size for one record.
const RECORD: &str = r#"{"id":"079203001234","name":"Nguyễn Văn An","birthDate":"1990-01-01","ward":"Phường Hồng Bàng","household":"HB-0001","status":"active"}"#;

async fn upstream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let _ = tcp.set_nodelay(true);
            tokio::spawn(async move {
                let service = service_fn(|req: http::Request<Incoming>| async move {
                    let ok = req
                        .headers()
                        .get("x-api-key")
                        .is_some_and(|v| v == "bench-key")
                        || !req.uri().path().starts_with("/api/");
                    let _ = req.into_body().collect().await;
                    let status = if ok { 200 } else { 401 };
                    Ok::<_, std::convert::Infallible>(
                        http::Response::builder()
                            .status(status)
                            .header("content-type", "application/json")
                            .body(Full::new(Bytes::from_static(RECORD.as_bytes())))
                            .expect("response"),
                    )
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    addr
}

struct Phase {
    name: &'static str,
    latencies: Vec<Duration>,
    errors: usize,
    elapsed: Duration,
}

impl Phase {
    fn new(name: &'static str) -> Self {
        Phase {
            name,
            latencies: Vec::new(),
            errors: 0,
            elapsed: Duration::ZERO,
        }
    }
    fn add(&mut self, other: Phase) {
        self.latencies.extend(other.latencies);
        self.latencies.sort();
        self.errors += other.errors;
        self.elapsed += other.elapsed;
    }
    fn pct(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[i]
    }
    fn throughput(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }
    fn print(&self) {
        println!(
            "{:<8} n={:<6} errors={:<3} throughput={:>7.1} req/s  p50={:>7.3} ms  p99={:>7.3} ms  max={:>7.3} ms",
            self.name,
            self.latencies.len(),
            self.errors,
            self.throughput(),
            ms(self.pct(0.5)),
            ms(self.pct(0.99)),
            ms(self.latencies.last().copied().unwrap_or_default()),
        );
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Sends `rate` requests per second for `seconds`, each on its schedule
/// (open loop: a slow answer does not delay the next request), and measures
/// each from its sending to the end of its body.
async fn run(name: &'static str, client: &HttpClient, url: &str, rate: u32, seconds: u32) -> Phase {
    let total = rate * seconds;
    let period = Duration::from_secs_f64(1.0 / f64::from(rate));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let at = start + period * i;
        tokio::time::sleep_until(at.into()).await;
        let client = client.clone();
        let uri: http::Uri = url.parse().expect("url");
        tasks.push(tokio::spawn(async move {
            let sent = Instant::now();
            let req = http::Request::get(uri)
                .body(Full::new(Bytes::new()))
                .expect("request");
            let ok = match client.request(req).await {
                Ok(r) => {
                    let ok = r.status() == 200;
                    ok && r.into_body().collect().await.is_ok()
                }
                Err(_) => false,
            };
            (ok, sent.elapsed())
        }));
    }
    let mut phase = Phase {
        name,
        latencies: Vec::with_capacity(total as usize),
        errors: 0,
        elapsed: Duration::ZERO,
    };
    for t in tasks {
        match t.await {
            Ok((true, d)) => phase.latencies.push(d),
            _ => phase.errors += 1,
        }
    }
    phase.elapsed = start.elapsed();
    phase.latencies.sort();
    phase
}

/// Both paths in alternating one-second slices (so that both see the same
/// machine), `seconds` each, and their figures printed.
async fn compare(
    client: &HttpClient,
    direct_url: &str,
    gateway_url: &str,
    rate: u32,
    seconds: u32,
) {
    let mut direct = Phase::new("direct");
    let mut through = Phase::new("gateway");
    for _ in 0..seconds {
        direct.add(run("direct", client, direct_url, rate, 1).await);
        through.add(run("gateway", client, gateway_url, rate, 1).await);
    }
    direct.print();
    through.print();
    println!(
        "ratio gateway/direct: p50 {:.2}x  p99 {:.2}x  throughput {:.3}x",
        ms(through.pct(0.5)) / ms(direct.pct(0.5)).max(1e-9),
        ms(through.pct(0.99)) / ms(direct.pct(0.99)).max(1e-9),
        through.throughput() / direct.throughput().max(1e-9),
    );
    println!(
        "overhead: p50 {:+.3} ms  p99 {:+.3} ms (goal: p99 <= 1 ms)",
        ms(through.pct(0.5)) - ms(direct.pct(0.5)),
        ms(through.pct(0.99)) - ms(direct.pct(0.99)),
    );
}

/// One busy loop per CPU at the lowest priority (`chrt --idle`, pinned by
/// `taskset`), while it lives. On a mostly idle VM a halted vCPU takes up to
/// milliseconds to wake for a thread that becomes runnable, and the gateway
/// path has twice the wake-ups of the direct one; with the CPUs busy (as on a
/// node with other work) a wake-up is a preemption of the spinner, and what
/// remains is the gateway's own cost.
struct CpusAwake(Vec<std::process::Child>);

impl CpusAwake {
    fn start() -> Option<Self> {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let spinners = (0..cpus)
            .map(|cpu| {
                std::process::Command::new("chrt")
                    .args(["--idle", "0", "taskset", "-c", &cpu.to_string()])
                    .args(["sh", "-c", "while :; do :; done"])
                    .spawn()
                    .ok()
            })
            .collect::<Option<Vec<_>>>()?;
        std::thread::sleep(Duration::from_millis(500));
        Some(CpusAwake(spinners))
    }
}

impl Drop for CpusAwake {
    fn drop(&mut self) {
        for spinner in &mut self.0 {
            let _ = spinner.kill();
            let _ = spinner.wait();
        }
    }
}

fn rss_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn env_u32(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn write_config(dir: &Path, upstream: SocketAddr) -> std::path::PathBuf {
    let key = dir.join("apiKey");
    std::fs::write(&key, "bench-key\n").expect("key");
    let config = serde_json::json!({
        "source": {"endpoint": format!("http://{upstream}/api")},
        "datasets": ["citizens"],
        "auth": {"type": "apiKey", "keyFile": key},
        "listenAddress": "127.0.0.1",
        "listenPort": 0,
        "adminPort": 0,
        "rateLimit": {"requestsPerSecond": 100000, "burst": 100000}
    });
    let path = dir.join("gateway.json");
    std::fs::write(&path, config.to_string()).expect("config");
    path
}

fn main() {
    let rate = env_u32("GATEWAY_BENCH_RATE", 1000);
    let seconds = env_u32("GATEWAY_BENCH_SECONDS", 5);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let up = upstream().await;
        let dir = std::env::temp_dir().join(format!("wardops-gateway-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let config = write_config(&dir, up);
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_wardops"))
            .args(["gateway", "--config"])
            .arg(&config)
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start wardops gateway");
        let pid = child.id().expect("pid");
        let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
        let first = lines.next_line().await.expect("read").expect("a first line");
        let gateway: SocketAddr = first
            .split([' ', '(', ')', '"'])
            .find_map(|w| w.parse().ok())
            .expect("the listening address");
        // Drain the access log so that the gateway never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        let client: HttpClient = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(256)
            .build(http);
        let direct_url = format!("http://{up}/citizens/079203001234");
        let gateway_url = format!("http://{gateway}/citizens/079203001234");
        let rss_idle = rss_kib(pid, "VmRSS:");

        // Warm both paths (connections, allocator), then measure.
        run("warmup", &client, &direct_url, rate, 1).await;
        run("warmup", &client, &gateway_url, rate, 1).await;
        println!("wardops gateway bench: {rate} req/s, {seconds} s per path in alternating 1 s slices, keep-alive client, 127.0.0.1");
        println!("-- on the idle machine");
        compare(&client, &direct_url, &gateway_url, rate, seconds).await;
        let rss = rss_kib(pid, "VmRSS:");
        let hwm = rss_kib(pid, "VmHWM:");
        match CpusAwake::start() {
            Some(awake) => {
                println!("-- with every CPU kept awake by an idle-priority spinner (SCHED_IDLE: any runnable thread preempts it)");
                compare(&client, &direct_url, &gateway_url, rate, seconds).await;
                drop(awake);
            }
            None => println!("-- (chrt or taskset missing: no run with the CPUs kept awake)"),
        }
        let mib = |k: Option<u64>| k.map(|k| format!("{:.1} MiB", k as f64 / 1024.0)).unwrap_or("n/a".into());
        println!(
            "gateway RSS: idle {}  after load {}  peak {} (goal: <= 20 MiB)",
            mib(rss_idle),
            mib(rss),
            mib(hwm)
        );
        let _ = child.start_kill();
        let _ = child.wait().await;
        let _ = std::fs::remove_dir_all(&dir);
    });
}
