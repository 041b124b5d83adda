//! restic's environment, built from the repository settings and from
//! credentials mounted as files. Secrets go to restic through its environment
//! or a file path, never through its command line.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::error::{Failure, Reason};

/// Files in `--s3-credentials-dir` (the keys of the Secret mounted there).
pub const ACCESS_KEY_FILE: &str = "AWS_ACCESS_KEY_ID";
pub const SECRET_KEY_FILE: &str = "AWS_SECRET_ACCESS_KEY";

/// Variables that would override what wardops passes; never inherited.
const CLEARED: [&str; 5] = [
    "RESTIC_PASSWORD",
    "RESTIC_PASSWORD_COMMAND",
    "RESTIC_REPOSITORY_FILE",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
];

/// Where the repository is and how to open it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repository {
    /// A restic repository URL (`s3:https://host/bucket/path`) or a local path.
    pub url: String,
    pub password_file: PathBuf,
}

/// S3 keys read from their files.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Credentials").finish_non_exhaustive()
    }
}

/// The environment for every restic run: set these, remove those.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Env {
    pub set: Vec<(&'static str, OsString)>,
    pub remove: Vec<&'static str>,
}

/// restic's environment (pure).
pub fn restic_env(repo: &Repository, s3: Option<&S3Credentials>) -> Env {
    let mut set = vec![
        ("RESTIC_REPOSITORY", OsString::from(&repo.url)),
        (
            "RESTIC_PASSWORD_FILE",
            repo.password_file.clone().into_os_string(),
        ),
    ];
    let mut remove = CLEARED.to_vec();
    match s3 {
        Some(c) => {
            set.push(("AWS_ACCESS_KEY_ID", OsString::from(&c.access_key_id)));
            set.push((
                "AWS_SECRET_ACCESS_KEY",
                OsString::from(&c.secret_access_key),
            ));
        }
        None => remove.extend(["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]),
    }
    Env { set, remove }
}

/// Reads one mounted secret file; a trailing newline is not part of the value.
pub fn read_secret_file(path: &Path, what: &str) -> Result<String, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Failure::new(
            Reason::CredentialsMissing,
            format!(
                "cannot read the {what} file {}: {e}; mount the Secret that holds it",
                path.display()
            ),
        )
    })?;
    let value = text.trim_end_matches(['\n', '\r']).to_owned();
    if value.is_empty() {
        return Err(Failure::new(
            Reason::CredentialsMissing,
            format!("the {what} file {} is empty", path.display()),
        ));
    }
    Ok(value)
}

/// Reads `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` from `dir`.
pub fn read_s3_credentials(dir: &Path) -> Result<S3Credentials, Failure> {
    Ok(S3Credentials {
        access_key_id: read_secret_file(&dir.join(ACCESS_KEY_FILE), "S3 access key id")?,
        secret_access_key: read_secret_file(&dir.join(SECRET_KEY_FILE), "S3 secret access key")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_goes_by_file_and_keys_by_environment() {
        let repo = Repository {
            url: "s3:http://127.0.0.1:9000/b/ward".into(),
            password_file: "/secrets/key/password".into(),
        };
        let s3 = S3Credentials {
            access_key_id: "AK".into(),
            secret_access_key: "SK".into(),
        };
        let env = restic_env(&repo, Some(&s3));
        assert_eq!(
            env.set,
            vec![
                (
                    "RESTIC_REPOSITORY",
                    "s3:http://127.0.0.1:9000/b/ward".into()
                ),
                ("RESTIC_PASSWORD_FILE", "/secrets/key/password".into()),
                ("AWS_ACCESS_KEY_ID", "AK".into()),
                ("AWS_SECRET_ACCESS_KEY", "SK".into()),
            ]
        );
        assert!(env.remove.contains(&"RESTIC_PASSWORD"));
        let local = restic_env(&repo, None);
        assert!(local.remove.contains(&"AWS_SECRET_ACCESS_KEY"));
        assert_eq!(local.set.len(), 2);
    }

    #[test]
    fn secret_files_lose_their_newline_and_must_not_be_empty() {
        let dir = std::env::temp_dir().join(format!("wardops-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(ACCESS_KEY_FILE), "AK\n").unwrap();
        std::fs::write(dir.join(SECRET_KEY_FILE), "").unwrap();
        let err = read_s3_credentials(&dir).unwrap_err();
        assert_eq!(err.reason, Reason::CredentialsMissing);
        std::fs::write(dir.join(SECRET_KEY_FILE), "SK\r\n").unwrap();
        let c = read_s3_credentials(&dir).unwrap();
        assert_eq!(
            (c.access_key_id.as_str(), c.secret_access_key.as_str()),
            ("AK", "SK")
        );
        assert_eq!(format!("{c:?}"), "S3Credentials { .. }");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
