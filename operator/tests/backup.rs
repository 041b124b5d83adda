//! `wardops backup | restore | forget | snapshots` with the real restic,
//! against a local repository folder and a real S3 server (versitygw, posix
//! backend) that each test starts on 127.0.0.1. No Kubernetes.
//!
//! restic and versitygw come from `WARDOPS_RESTIC` / `WARDOPS_S3_SERVER`
//! (scripts/test.sh sets them) or from the cache tests/backup/build.sh fills.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use wardops::backup::report::SnapshotsResult;

const PASSWORD: &str = "sentinel-Pa55word-7c41e9";
const ACCESS_KEY: &str = "WARDOPSTESTACCESS";
const SECRET_KEY: &str = "sentinel-S3secret-a0b1c2";
const CACHE_BIN: &str = ".cache/wardops-testenv/bin-restic-v0.18.1-versitygw-v1.8.0";

fn tool(var: &str, name: &str) -> PathBuf {
    let path = std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
        let home = std::env::var_os("HOME").unwrap_or_default();
        Path::new(&home).join(CACHE_BIN).join(name)
    });
    assert!(
        path.is_file(),
        "{name} not found at {}: build it with `bash tests/backup/build.sh` and set {var} to the binary",
        path.display()
    );
    path
}

fn restic() -> PathBuf {
    tool("WARDOPS_RESTIC", "restic")
}

/// A directory removed at the end of the test.
struct Temp(PathBuf);

impl Temp {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "wardops-backup-{name}-{}-{}",
            std::process::id(),
            Instant::now().elapsed().as_nanos()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Temp(dir)
    }
    fn path(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// versitygw on a free port of 127.0.0.1, stopped at the end of the test.
struct S3Server {
    child: Child,
    port: u16,
}

impl S3Server {
    fn start(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let port = free_port();
        let child = Command::new(tool("WARDOPS_S3_SERVER", "versitygw"))
            .args(["--access", ACCESS_KEY, "--secret", SECRET_KEY, "--quiet"])
            .args(["--port", &format!("127.0.0.1:{port}"), "posix"])
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting versitygw");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "versitygw did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        S3Server { child, port }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Where the backups go, and the mounted files wardops reads.
struct Repo {
    url: String,
    password_file: PathBuf,
    s3_dir: Option<PathBuf>,
    termination_log: PathBuf,
    _server: Option<S3Server>,
}

impl Repo {
    fn local(t: &Temp) -> Self {
        Repo::new(t, t.path("repo").display().to_string(), None, None)
    }

    fn s3(t: &Temp) -> Self {
        let server = S3Server::start(&t.path("s3"));
        let url = format!("s3:http://127.0.0.1:{}/wards/phuong-1", server.port);
        let creds = t.path("s3-credentials");
        std::fs::create_dir_all(&creds).unwrap();
        std::fs::write(creds.join("AWS_ACCESS_KEY_ID"), format!("{ACCESS_KEY}\n")).unwrap();
        std::fs::write(
            creds.join("AWS_SECRET_ACCESS_KEY"),
            format!("{SECRET_KEY}\n"),
        )
        .unwrap();
        Repo::new(t, url, Some(creds), Some(server))
    }

    fn new(t: &Temp, url: String, s3_dir: Option<PathBuf>, server: Option<S3Server>) -> Self {
        let password_file = t.path("password");
        std::fs::write(&password_file, format!("{PASSWORD}\n")).unwrap();
        Repo {
            url,
            password_file,
            s3_dir,
            termination_log: t.path("termination-log"),
            _server: server,
        }
    }

    fn command(&self, sub: &str, tag: &str) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wardops"));
        cmd.arg(sub)
            .args([
                "--repository",
                &self.url,
                "--host",
                "phuong-1",
                "--tag",
                tag,
            ])
            .arg("--password-file")
            .arg(&self.password_file)
            .arg("--termination-log")
            .arg(&self.termination_log)
            .env("WARDOPS_RESTIC", restic())
            .env_remove("RESTIC_PASSWORD")
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY");
        if let Some(d) = &self.s3_dir {
            cmd.arg("--s3-credentials-dir").arg(d);
        }
        cmd
    }

    /// Runs wardops; checks the result line is on stdout and in the
    /// termination log and that no secret was printed anywhere.
    fn wardops(&self, sub: &str, tag: &str, args: &[&str]) -> (bool, Value) {
        let _ = std::fs::remove_file(&self.termination_log);
        let out = self
            .command(sub, tag)
            .args(args)
            .output()
            .expect("running wardops");
        self.result(out)
    }

    fn result(&self, out: Output) -> (bool, Value) {
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let log = std::fs::read_to_string(&self.termination_log).unwrap_or_default();
        for text in [&stdout, &stderr, &log] {
            for secret in [PASSWORD, SECRET_KEY] {
                assert!(!text.contains(secret), "a secret was printed: {text}");
            }
        }
        let line = stdout.trim();
        assert_eq!(
            line.lines().count(),
            1,
            "one result line, got: {stdout}\nstderr: {stderr}"
        );
        assert_eq!(log, line, "the termination log holds the result line");
        let value: Value = serde_json::from_str(line).expect("the result line is JSON");
        let ok = value["result"] == "Succeeded";
        assert_eq!(
            ok,
            out.status.success(),
            "exit status follows the result: {value}\n{stderr}"
        );
        (ok, value)
    }

    fn backup(&self, tag: &str, source: &Path, time: Option<&str>) -> Value {
        let mut args = vec!["--source", source.to_str().unwrap()];
        if let Some(t) = time {
            args.extend(["--time", t]);
        }
        let (ok, v) = self.wardops("backup", tag, &args);
        assert!(ok, "backup failed: {v}");
        v
    }

    /// `restic check` with the same mounted files.
    fn check(&self) {
        let mut cmd = Command::new(restic());
        cmd.args(["check", "-r", &self.url])
            .env("RESTIC_PASSWORD_FILE", &self.password_file);
        if self.s3_dir.is_some() {
            cmd.env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
                .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "restic check failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Incompressible bytes, the same for the same seed.
fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A ward's volume: small records in folders and a few large scans.
fn make_tree(root: &Path, small: usize, large: usize, large_size: usize) {
    for i in 0..small {
        let dir = root.join(format!("records/{:02}", i % 10));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join(format!("ho-so-{i}.json")),
            bytes(i as u64, 200 + i * 37),
        )
        .unwrap();
    }
    std::fs::create_dir_all(root.join("scans")).unwrap();
    for i in 0..large {
        std::fs::write(
            root.join(format!("scans/scan-{i}.pdf")),
            bytes(1000 + i as u64, large_size),
        )
        .unwrap();
    }
    std::fs::write(root.join("empty"), b"").unwrap();
}

/// Every file under `a` is in `b` with the same bytes, and no more files.
fn assert_same_tree(a: &Path, b: &Path) {
    fn files(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                files(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    let (mut fa, mut fb) = (Vec::new(), Vec::new());
    files(a, a, &mut fa);
    files(b, b, &mut fb);
    fa.sort();
    fb.sort();
    assert_eq!(fa, fb, "the same files");
    for f in &fa {
        assert!(
            std::fs::read(a.join(f)).unwrap() == std::fs::read(b.join(f)).unwrap(),
            "{} differs",
            f.display()
        );
    }
}

fn backup_dedup_restore(repo: &Repo, t: &Temp) {
    let src = t.path("source");
    make_tree(&src, 200, 3, 3 << 20);
    let first = repo.backup("ward-records", &src, None);
    assert_eq!(first["filesNew"], 204, "{first}");
    assert!(first["bytesAdded"].as_u64().unwrap() > 9 << 20, "{first}");
    assert!(first["durationSeconds"].as_f64().unwrap() > 0.0);

    let again = repo.backup("ward-records", &src, None);
    assert_eq!(again["filesNew"], 0, "{again}");
    assert_eq!(again["filesUnmodified"], 204, "{again}");
    assert!(
        again["bytesAdded"].as_u64().unwrap() < 16 * 1024,
        "deduplicated: {again}"
    );
    assert_ne!(again["snapshotID"], first["snapshotID"]);

    let out = t.path("restored-latest");
    let (ok, v) = repo.wardops(
        "restore",
        "ward-records",
        &["--target", out.to_str().unwrap()],
    );
    assert!(ok, "{v}");
    assert_eq!(
        v["snapshotID"], again["snapshotID"],
        "latest is the second backup"
    );
    // restic counts the directories too.
    assert!(v["filesRestored"].as_u64().unwrap() >= 204, "{v}");
    assert_same_tree(&src, &out);

    let first_id = first["snapshotID"].as_str().unwrap();
    let out = t.path("restored-first");
    let args = ["--snapshot", first_id, "--target", out.to_str().unwrap()];
    let (ok, v) = repo.wardops("restore", "ward-records", &args);
    assert!(ok, "{v}");
    assert_eq!(v["snapshotID"], first_id);
    assert_same_tree(&src, &out);

    // Another target's tag sees no snapshot.
    let (ok, v) = repo.wardops(
        "restore",
        "other-ward",
        &["--target", out.to_str().unwrap()],
    );
    assert!(!ok);
    assert_eq!(v["reason"], "SnapshotNotFound", "{v}");
    repo.check();
}

#[test]
fn local_backup_again_is_deduplicated_and_restores_byte_for_byte() {
    let t = Temp::new("local-restore");
    backup_dedup_restore(&Repo::local(&t), &t);
}

#[test]
fn s3_backup_again_is_deduplicated_and_restores_byte_for_byte() {
    let t = Temp::new("s3-restore");
    backup_dedup_restore(&Repo::s3(&t), &t);
}

fn retention(repo: &Repo, t: &Temp) {
    let src = t.path("source");
    make_tree(&src, 5, 0, 0);
    let dates = [
        "2026-01-01 12:00:00",
        "2026-01-02 12:00:00",
        "2026-01-03 12:00:00",
        "2026-01-10 12:00:00",
        "2026-02-01 12:00:00",
        "2026-03-01 12:00:00",
    ];
    let ids: Vec<String> = dates
        .iter()
        .map(|d| {
            repo.backup("ward-records", &src, Some(d))["snapshotID"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let other = repo.backup("other-ward", &src, Some("2025-06-01 12:00:00"));

    // keep-last 2: March 1st, February 1st; keep-monthly 3: and January's newest, the 10th.
    let args = ["--keep-last", "2", "--keep-monthly", "3"];
    let (ok, v) = repo.wardops("forget", "ward-records", &args);
    assert!(ok, "{v}");
    let mut kept: Vec<&str> = v["kept"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    let mut removed: Vec<&str> = v["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    kept.sort();
    removed.sort();
    let mut want_kept = vec![ids[3].as_str(), ids[4].as_str(), ids[5].as_str()];
    let mut want_removed = vec![ids[0].as_str(), ids[1].as_str(), ids[2].as_str()];
    want_kept.sort();
    want_removed.sort();
    assert_eq!(kept, want_kept);
    assert_eq!(removed, want_removed);

    // All zero: the newest is still kept.
    let zero = [
        "--keep-last",
        "0",
        "--keep-daily",
        "0",
        "--keep-weekly",
        "0",
        "--keep-monthly",
        "0",
    ];
    let (ok, v) = repo.wardops("forget", "ward-records", &zero);
    assert!(ok, "{v}");
    assert_eq!(v["kept"], serde_json::json!([ids[5]]), "{v}");

    // The other target was not touched.
    let (ok, v) = repo.wardops("forget", "other-ward", &[]);
    assert!(ok, "{v}");
    assert_eq!(v["kept"], serde_json::json!([other["snapshotID"]]), "{v}");
    assert_eq!(v["removed"], serde_json::json!([]));
    repo.check();
}

#[test]
fn local_retention_keeps_exactly_the_policys_snapshots() {
    let t = Temp::new("local-retention");
    retention(&Repo::local(&t), &t);
}

#[test]
fn s3_retention_keeps_exactly_the_policys_snapshots() {
    let t = Temp::new("s3-retention");
    retention(&Repo::s3(&t), &t);
}

fn wrong_password(repo: &Repo, t: &Temp) {
    let src = t.path("source");
    make_tree(&src, 3, 0, 0);
    repo.backup("ward-records", &src, None);
    std::fs::write(&repo.password_file, "not-the-key-0000\n").unwrap();
    let (ok, v) = repo.wardops(
        "backup",
        "ward-records",
        &["--source", src.to_str().unwrap()],
    );
    assert!(!ok);
    assert_eq!(v["reason"], "WrongPassword", "{v}");
    assert!(v["message"].as_str().unwrap().contains("key Secret"), "{v}");
    let (ok, v) = repo.wardops(
        "restore",
        "ward-records",
        &["--target", t.path("out").to_str().unwrap()],
    );
    assert!(!ok);
    assert_eq!(v["reason"], "WrongPassword", "{v}");
}

#[test]
fn local_wrong_password_fails_clearly() {
    let t = Temp::new("local-password");
    wrong_password(&Repo::local(&t), &t);
}

#[test]
fn s3_wrong_password_fails_clearly() {
    let t = Temp::new("s3-password");
    wrong_password(&Repo::s3(&t), &t);
}

fn list_snapshots(repo: &Repo, t: &Temp) {
    // No repository yet: said so, not an empty list.
    let (ok, v) = repo.wardops("snapshots", "ward-records", &[]);
    assert!(!ok);
    assert_eq!(v["reason"], "RepositoryMissing", "{v}");

    let src = t.path("source");
    make_tree(&src, 5, 0, 0);
    let first = repo.backup("ward-records", &src, None);
    let second = repo.backup("ward-records", &src, None);
    repo.backup("other-ward", &src, None);
    let (ok, v) = repo.wardops("snapshots", "ward-records", &[]);
    assert!(ok, "{v}");
    // The kubectl plugin reads the line with the same types.
    let listed: SnapshotsResult = serde_json::from_value(v.clone()).expect("a SnapshotsResult");
    let ids: Vec<&str> = listed.snapshots.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            second["snapshotID"].as_str().unwrap(),
            first["snapshotID"].as_str().unwrap()
        ],
        "newest first, this target only: {v}"
    );
    assert_eq!(listed.total, 2);
    for s in &listed.snapshots {
        assert_eq!(s.id.len(), 64, "the full id: {v}");
        assert_eq!(s.host, "phuong-1");
        assert_eq!(s.tags, ["ward-records"]);
        assert!(
            s.time.parse::<jiff::Timestamp>().is_ok(),
            "RFC 3339: {}",
            s.time
        );
    }

    let wrong = "not-the-key-5e2d91";
    std::fs::write(&repo.password_file, format!("{wrong}\n")).unwrap();
    let (ok, v) = repo.wardops("snapshots", "ward-records", &[]);
    assert!(!ok);
    assert_eq!(v["reason"], "WrongPassword", "{v}");
    assert!(
        !v.to_string().contains(wrong),
        "the password was printed: {v}"
    );
}

#[test]
fn local_snapshots_lists_the_targets_snapshots_newest_first() {
    let t = Temp::new("local-snapshots");
    list_snapshots(&Repo::local(&t), &t);
}

#[test]
fn s3_snapshots_lists_the_targets_snapshots_newest_first() {
    let t = Temp::new("s3-snapshots");
    list_snapshots(&Repo::s3(&t), &t);
}

#[test]
fn s3_unreachable_endpoint_fails_clearly_and_soon() {
    let t = Temp::new("s3-unreachable");
    let mut repo = Repo::s3(&t);
    repo.url = format!("s3:http://127.0.0.1:{}/wards/phuong-1", free_port());
    let src = t.path("source");
    make_tree(&src, 3, 0, 0);
    let started = Instant::now();
    let (ok, v) = repo.wardops(
        "backup",
        "ward-records",
        &["--source", src.to_str().unwrap()],
    );
    assert!(!ok);
    assert_eq!(v["reason"], "RepositoryUnreachable", "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("connection refused"),
        "{v}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn missing_source_and_credentials_fail_before_restic() {
    let t = Temp::new("missing");
    let repo = Repo::local(&t);
    let (ok, v) = repo.wardops(
        "backup",
        "ward-records",
        &["--source", t.path("nope").to_str().unwrap()],
    );
    assert!(!ok);
    assert_eq!(v["reason"], "SourceMissing", "{v}");
    let mut s3 = Repo::local(&t);
    s3.s3_dir = Some(t.path("no-credentials"));
    make_tree(&t.path("source"), 1, 0, 0);
    let (ok, v) = s3.wardops(
        "backup",
        "ward-records",
        &["--source", t.path("source").to_str().unwrap()],
    );
    assert!(!ok);
    assert_eq!(v["reason"], "CredentialsMissing", "{v}");
}

#[test]
fn interrupted_backup_leaves_the_repository_usable() {
    let t = Temp::new("interrupted");
    let repo = Repo::local(&t);
    let src = t.path("source");
    // Big enough that restic is still writing when SIGTERM comes.
    make_tree(&src, 2000, 48, 4 << 20);
    let child = repo
        .command("backup", "ward-records")
        .args(["--source", src.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Mid-way: once restic has written its first pack file.
    let data = t.path("repo/data");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let packs = walk_count(&data);
        if packs > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "restic wrote no data");
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: our own child, not reaped yet.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
    let out = child.wait_with_output().unwrap();
    let (ok, v) = repo.result(out);
    assert!(!ok, "the backup finished before SIGTERM: {v}");
    assert_eq!(v["reason"], "Interrupted", "{v}");
    repo.check();
    // And the next backup succeeds.
    let v = repo.backup("ward-records", &src, None);
    assert_eq!(
        v["filesNew"].as_u64().unwrap() + v["filesUnmodified"].as_u64().unwrap(),
        2049
    );
    repo.check();
}

fn walk_count(dir: &Path) -> usize {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() { walk_count(&p) } else { 1 }
        })
        .sum()
}
