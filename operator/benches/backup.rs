//! `wardops backup` ÷ plain `restic backup` of the same generated tree, same
//! run, each into a fresh local repository (init not timed). Size in MiB from
//! `WARDOPS_BENCH_BACKUP_MIB` (default 1024, the size the goal is stated for): half
//! small files (1-64 KiB), half 16 MiB files. Goal: ≤ 1.05×.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

fn restic() -> PathBuf {
    let path = std::env::var_os("WARDOPS_RESTIC")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").unwrap_or_default();
            Path::new(&home)
                .join(".cache/wardops-testenv/bin-restic-v0.18.1-versitygw-v1.8.0/restic")
        });
    assert!(
        path.is_file(),
        "restic not found at {}: run tests/backup/build.sh",
        path.display()
    );
    path
}

fn fill(out: &mut Vec<u8>, seed: u64, len: usize) {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    out.clear();
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
}

fn make_tree(root: &Path, mib: usize) {
    let half = mib << 19;
    let mut buf = Vec::new();
    let (mut written, mut i) = (0, 0u64);
    while written < half {
        let dir = root.join(format!("records/{:03}", i % 100));
        std::fs::create_dir_all(&dir).unwrap();
        let len = 1024 + (i as usize * 7919) % (63 * 1024);
        fill(&mut buf, i, len);
        std::fs::write(dir.join(format!("{i}.bin")), &buf).unwrap();
        written += len;
        i += 1;
    }
    std::fs::create_dir_all(root.join("scans")).unwrap();
    let (mut written, mut j) = (0, 0u64);
    while written < half {
        fill(&mut buf, 1_000_000 + j, 16 << 20);
        std::fs::write(root.join(format!("scans/{j}.pdf")), &buf).unwrap();
        written += 16 << 20;
        j += 1;
    }
}

fn init(restic: &Path, repo: &Path, password: &Path) {
    let ok = Command::new(restic)
        .args(["init", "-q", "-r"])
        .arg(repo)
        .env("RESTIC_PASSWORD_FILE", password)
        .status()
        .unwrap()
        .success();
    assert!(ok, "restic init failed");
}

fn main() {
    let mib: usize = std::env::var("WARDOPS_BENCH_BACKUP_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let restic = restic();
    let dir = std::env::temp_dir().join(format!("wardops-bench-backup-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let src = dir.join("source");
    make_tree(&src, mib);
    let password = dir.join("password");
    std::fs::write(&password, "bench-password\n").unwrap();
    let (plain_repo, wardops_repo) = (dir.join("plain"), dir.join("wardops"));
    init(&restic, &plain_repo, &password);
    init(&restic, &wardops_repo, &password);

    let t = Instant::now();
    let ok = Command::new(&restic)
        .args([
            "backup", "--json", "-q", "--host", "bench", "--tag", "bench", "-r",
        ])
        .arg(&plain_repo)
        .arg(".")
        .current_dir(&src)
        .env("RESTIC_PASSWORD_FILE", &password)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap()
        .success();
    let plain = t.elapsed().as_secs_f64();
    assert!(ok, "restic backup failed");

    let t = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_wardops"))
        .args([
            "backup",
            "--host",
            "bench",
            "--tag",
            "bench",
            "--repository",
        ])
        .arg(&wardops_repo)
        .arg("--password-file")
        .arg(&password)
        .arg("--source")
        .arg(&src)
        .arg("--termination-log")
        .arg(dir.join("termination-log"))
        .env("WARDOPS_RESTIC", &restic)
        .output()
        .unwrap();
    let wardops = t.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "wardops backup failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );

    println!(
        "backup {mib} MiB: wardops backup {wardops:.2} s, restic backup {plain:.2} s, ratio {:.3}x (goal <= 1.05x)",
        wardops / plain
    );
    let _ = std::fs::remove_dir_all(&dir);
}
