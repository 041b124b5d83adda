//! The gateway's output: one JSON object per line. Access lines carry the
//! dataset, method, status, duration and request id only — never the path
//! after the dataset, the query string, headers or bodies, where citizen
//! identifiers travel. Event lines carry messages built from wardops' own
//! error types, which name files and fields, never their values.

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde::Serialize;

/// Where the gateway writes its lines.
#[derive(Clone)]
pub struct Log {
    sink: Arc<Sink>,
}

enum Sink {
    Stdout,
    Stderr,
    Memory(Mutex<Vec<u8>>),
}

/// One request, as the access log records it.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct AccessEntry<'a> {
    /// When the request arrived (RFC 3339, UTC).
    pub time: String,
    /// Always `access`.
    pub kind: &'static str,
    /// The id the gateway gave the request (`X-Request-ID` upstream and in the response).
    pub request_id: &'a str,
    /// An allowed dataset, `_denied` or `_invalid`.
    pub dataset: &'a str,
    /// Request method.
    pub method: &'a str,
    /// Response status.
    pub status: u16,
    /// Time to the response headers, in milliseconds.
    pub duration_ms: f64,
    /// The error code of a refused or failed request (as in its JSON body).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a str>,
}

#[derive(Serialize)]
struct EventEntry<'a> {
    time: String,
    kind: &'static str,
    level: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

/// Now, RFC 3339 in UTC with milliseconds.
pub fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

impl Log {
    /// Lines to standard output.
    pub fn stdout() -> Self {
        Log {
            sink: Arc::new(Sink::Stdout),
        }
    }

    /// Lines to standard error.
    pub fn stderr() -> Self {
        Log {
            sink: Arc::new(Sink::Stderr),
        }
    }

    /// Lines kept in memory (tests read them with [`Log::captured`]).
    pub fn memory() -> Self {
        Log {
            sink: Arc::new(Sink::Memory(Mutex::new(Vec::new()))),
        }
    }

    /// What a memory log holds; empty for the others.
    pub fn captured(&self) -> String {
        match &*self.sink {
            Sink::Memory(m) => m
                .lock()
                .map(|v| String::from_utf8_lossy(&v).into_owned())
                .unwrap_or_default(),
            _ => String::new(),
        }
    }

    /// Writes an access line.
    pub fn access(&self, entry: &AccessEntry<'_>) {
        if let Ok(line) = serde_json::to_vec(entry) {
            self.write(line);
        }
    }

    /// Writes an event line (`level`: `info`, `warn`, `error`).
    pub fn event(&self, level: &str, message: &str, error: Option<&dyn std::error::Error>) {
        let chain = error.map(crate::error_chain);
        let entry = EventEntry {
            time: now_rfc3339(),
            kind: "event",
            level,
            message,
            error: chain.as_deref(),
        };
        if let Ok(line) = serde_json::to_vec(&entry) {
            self.write(line);
        }
    }

    fn write(&self, mut line: Vec<u8>) {
        line.push(b'\n');
        // A log that cannot be written must not fail the request.
        let _ = match &*self.sink {
            Sink::Stdout => std::io::stdout().lock().write_all(&line),
            Sink::Stderr => std::io::stderr().lock().write_all(&line),
            Sink::Memory(m) => {
                if let Ok(mut v) = m.lock() {
                    v.extend_from_slice(&line);
                }
                Ok(())
            }
        };
    }
}
