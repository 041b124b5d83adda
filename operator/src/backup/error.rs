//! Why a backup, restore or forget failed: a bounded category (the result's
//! `reason`, later an Event reason and a metric label) and a message that
//! says what to do and never holds a secret.

use serde::Serialize;

/// Bounded failure categories.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Reason {
    /// The repository password (key) does not open the repository.
    WrongPassword,
    /// The repository's server could not be reached (DNS, refused, timeout, TLS).
    RepositoryUnreachable,
    /// There is no repository at that location (restore, forget).
    RepositoryMissing,
    /// Another restic holds an exclusive lock on the repository.
    RepositoryLocked,
    /// A mounted credential file is absent or empty.
    CredentialsMissing,
    /// The directory to back up does not exist.
    SourceMissing,
    /// Some files of the source could not be read; the snapshot is incomplete.
    SourceUnreadable,
    /// The restore target is not a writable directory.
    TargetInvalid,
    /// No snapshot matches the id (or no snapshot yet for `latest`).
    SnapshotNotFound,
    /// wardops was asked to stop (SIGTERM, SIGINT) and stopped restic.
    Interrupted,
    /// The restic binary could not be started.
    ResticMissing,
    /// Any other restic failure; the message has restic's own words.
    ResticFailed,
}

/// A failed step: its category and a message for the person on call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub reason: Reason,
    pub message: String,
}

impl Failure {
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        Failure {
            reason,
            message: message.into(),
        }
    }
}

/// restic's documented exit codes (restic 0.17+).
const EXIT_INCOMPLETE: i32 = 3;
const EXIT_NO_REPOSITORY: i32 = 10;
const EXIT_LOCKED: i32 = 11;
const EXIT_WRONG_PASSWORD: i32 = 12;
const EXIT_INTERRUPTED: i32 = 130;

/// Words of Go's network and TLS errors that mean the server was not reached.
const UNREACHABLE: [&str; 9] = [
    "connection refused",
    "no such host",
    "i/o timeout",
    "network is unreachable",
    "no route to host",
    "connection reset",
    "context deadline exceeded",
    "tls: ",
    "x509: ",
];

/// Classifies a failed restic run by its exit code, then by its error text
/// (pure). `code` is `None` when restic was killed by a signal.
pub fn classify(code: Option<i32>, error_text: &str) -> Reason {
    let lower = error_text.to_ascii_lowercase();
    match code {
        Some(EXIT_WRONG_PASSWORD) => return Reason::WrongPassword,
        Some(EXIT_LOCKED) => return Reason::RepositoryLocked,
        Some(EXIT_INTERRUPTED) | None => return Reason::Interrupted,
        Some(EXIT_INCOMPLETE) => return Reason::SourceUnreadable,
        _ => {}
    }
    if lower.contains("wrong password") {
        Reason::WrongPassword
    } else if UNREACHABLE.iter().any(|w| lower.contains(w)) {
        Reason::RepositoryUnreachable
    } else if code == Some(EXIT_NO_REPOSITORY)
        || lower.contains("repository does not exist")
        || lower.contains("bucket does not exist")
    {
        Reason::RepositoryMissing
    } else if lower.contains("no matching id found") || lower.contains("no snapshot found") {
        Reason::SnapshotNotFound
    } else {
        Reason::ResticFailed
    }
}

/// What each category asks of the person on call, before restic's own words.
pub fn advice(reason: Reason) -> &'static str {
    match reason {
        Reason::WrongPassword => {
            "the repository password does not open the repository; check that the key Secret is the one this repository was created with"
        }
        Reason::RepositoryUnreachable => {
            "the repository's server could not be reached; check the endpoint, DNS, network policy and TLS"
        }
        Reason::RepositoryMissing => "there is no restic repository at this location",
        Reason::RepositoryLocked => {
            "another restic run holds a lock on the repository; wait for it, or remove a stale lock with `restic unlock`"
        }
        Reason::SourceUnreadable => "some files could not be read; the snapshot is incomplete",
        Reason::SnapshotNotFound => "no snapshot matches",
        Reason::Interrupted => "stopped before the end; the repository stays usable",
        Reason::CredentialsMissing
        | Reason::SourceMissing
        | Reason::TargetInvalid
        | Reason::ResticMissing
        | Reason::ResticFailed => "restic failed",
    }
}

/// Replaces every secret value in `text` (pure). Values shorter than four
/// characters are left alone: hiding them would garble the message and say
/// nothing about the secret.
pub fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for s in secrets.iter().filter(|s| s.len() >= 4) {
        out = out.replace(s, "[redacted]");
    }
    out
}

/// Longest message kept: the termination message is at most 4096 bytes.
const MAX_MESSAGE: usize = 1500;

/// Cuts a message to a bounded length on a character boundary (pure).
pub fn bounded(mut text: String) -> String {
    if text.len() > MAX_MESSAGE {
        let mut end = MAX_MESSAGE;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_come_first() {
        assert_eq!(classify(Some(12), ""), Reason::WrongPassword);
        assert_eq!(classify(Some(11), ""), Reason::RepositoryLocked);
        assert_eq!(classify(Some(130), ""), Reason::Interrupted);
        assert_eq!(classify(None, ""), Reason::Interrupted);
        assert_eq!(classify(Some(3), ""), Reason::SourceUnreadable);
        assert_eq!(
            classify(Some(10), "Fatal: repository does not exist"),
            Reason::RepositoryMissing
        );
    }

    #[test]
    fn text_classifies_the_rest() {
        assert_eq!(
            classify(Some(1), "Fatal: wrong password or no key found"),
            Reason::WrongPassword
        );
        assert_eq!(
            classify(
                Some(1),
                "Fatal: unable to open config file: Stat: Head \"http://127.0.0.1:1/b/config\": dial tcp 127.0.0.1:1: connect: connection refused"
            ),
            Reason::RepositoryUnreachable
        );
        // An unreachable S3 endpoint also reads as "no repository" (exit 10).
        assert_eq!(
            classify(Some(10), "dial tcp: lookup s3.invalid: no such host"),
            Reason::RepositoryUnreachable
        );
        assert_eq!(
            classify(Some(1), "Fatal: no matching ID found for prefix \"abc\""),
            Reason::SnapshotNotFound
        );
        assert_eq!(
            classify(Some(1), "Fatal: something else"),
            Reason::ResticFailed
        );
    }

    #[test]
    fn secrets_are_redacted_and_messages_bounded() {
        assert_eq!(
            redact("key s3cr3t-value and ab", &["s3cr3t-value", "ab"]),
            "key [redacted] and ab"
        );
        let long = "é".repeat(2000);
        let cut = bounded(long);
        assert!(cut.len() <= MAX_MESSAGE + '…'.len_utf8());
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn reasons_serialise_as_camel_case_words() {
        assert_eq!(
            serde_json::to_string(&Reason::RepositoryUnreachable).unwrap(),
            "\"RepositoryUnreachable\""
        );
    }
}
