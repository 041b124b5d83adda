//! The request path: `/<dataset>` or `/<dataset>/<rest>`, checked before
//! anything is forwarded, on the raw (still percent-encoded) path, so that no
//! decoding or normalising by the source can lead outside the dataset.

/// Why a path is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// `/`: no dataset named.
    #[error("no dataset in the path; call /<dataset>/...")]
    NoDataset,
    /// Traversal or an ambiguous form: `..`, `.`, `//`, `\`, encoded `.`, `/`, `\` or
    /// control characters, malformed percent-encoding.
    #[error("the path is not allowed (no '..', '.', '//', '\\', encoded separators or dots)")]
    Invalid,
}

/// A checked path: the dataset (first segment) and the rest (`""` or `/...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatasetPath<'a> {
    /// First segment, as sent (an allowed dataset name has no encoding).
    pub dataset: &'a str,
    /// Everything after the dataset, with its leading `/`; empty for `/<dataset>`.
    pub rest: &'a str,
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes a segment once; `None` when malformed.
fn decode(segment: &str) -> Option<Vec<u8>> {
    let b = segment.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hi = hex(*b.get(i + 1)?)?;
            let lo = hex(*b.get(i + 2)?)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

fn segment_ok(segment: &str) -> bool {
    if segment.contains('\\') {
        return false;
    }
    let Some(decoded) = decode(segment) else {
        return false;
    };
    if decoded
        .iter()
        .any(|&c| c == b'/' || c == b'\\' || c < 0x20 || c == 0x7f)
    {
        return false;
    }
    // `..;x` is `..` to some servers (path parameters).
    let name = decoded.split(|&c| c == b';').next().unwrap_or(&[]);
    if name == b"." || name == b".." {
        return false;
    }
    // Encoded twice (`%252e`): a second decoding must find nothing either.
    let lower = String::from_utf8_lossy(&decoded).to_ascii_lowercase();
    !(lower.contains("%2e")
        || lower.contains("%2f")
        || lower.contains("%5c")
        || lower.contains("%00"))
}

/// Splits and checks a raw request path.
pub fn check(path: &str) -> Result<DatasetPath<'_>, PathError> {
    let Some(body) = path.strip_prefix('/') else {
        return Err(PathError::Invalid);
    };
    if body.is_empty() {
        return Err(PathError::NoDataset);
    }
    if path.contains("//") || path.contains('\\') {
        return Err(PathError::Invalid);
    }
    let segments: Vec<&str> = body.split('/').collect();
    let last = segments.len() - 1;
    for (i, s) in segments.iter().enumerate() {
        // Only a trailing slash leaves an empty segment (`//` is refused above).
        if s.is_empty() && i == last && i > 0 {
            continue;
        }
        if s.is_empty() || !segment_ok(s) {
            return Err(PathError::Invalid);
        }
    }
    let (dataset, rest) = match body.find('/') {
        Some(i) => (&body[..i], &body[i..]),
        None => (body, ""),
    };
    Ok(DatasetPath { dataset, rest })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_dataset_paths() {
        assert_eq!(
            check("/citizens"),
            Ok(DatasetPath {
                dataset: "citizens",
                rest: ""
            })
        );
        assert_eq!(
            check("/citizens/079203001234/records"),
            Ok(DatasetPath {
                dataset: "citizens",
                rest: "/079203001234/records"
            })
        );
        assert_eq!(
            check("/citizens/"),
            Ok(DatasetPath {
                dataset: "citizens",
                rest: "/"
            })
        );
        // Encoded characters other than separators and dots are fine.
        assert!(check("/citizens/Nguy%E1%BB%85n%20V%C4%83n").is_ok());
        assert!(check("/citizens/a.b/..x/x..").is_ok());
    }

    #[test]
    fn refuses_traversal_in_every_spelling() {
        for p in [
            "/citizens/../admin",
            "/citizens/..",
            "/../citizens",
            "/..",
            "/.",
            "/citizens/./x",
            "/citizens/%2e%2e/admin",
            "/citizens/%2E%2E/admin",
            "/citizens/%2e%2E/admin",
            "/citizens/.%2e/admin",
            "/citizens/%2e./admin",
            "/citizens/%2e",
            "/%2e%2e/etc/passwd",
            "/citizens//x",
            "//citizens",
            "/citizens\\..\\admin",
            "/citizens/a%5c..%5cb",
            "/citizens/a%2fb",
            "/citizens/..%2Fadmin",
            "/citizens/%252e%252e/admin",
            "/citizens/%252f",
            "/citizens/..;/admin",
            "/citizens/a%00b",
            "/citizens/a%0ab",
            "/citizens/%zz",
            "/citizens/%2",
            "citizens",
        ] {
            assert_eq!(check(p), Err(PathError::Invalid), "{p}");
        }
        assert_eq!(check("/"), Err(PathError::NoDataset));
    }
}
