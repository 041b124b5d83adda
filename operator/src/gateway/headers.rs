//! Which headers cross the gateway: hop-by-hop headers never do (RFC 9110
//! §7.6.1), nor the ward's own credentials or cookies.

use http::header::{self, HeaderMap, HeaderName};

/// Headers that belong to one connection, not to the request.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
];

/// Whether a header is hop-by-hop by name (`Proxy-*` included).
pub fn is_hop_by_hop(name: &HeaderName) -> bool {
    let n = name.as_str();
    HOP_BY_HOP.contains(&n) || n.starts_with("proxy-")
}

/// Removes hop-by-hop headers, those that `Connection` names included.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    for n in named {
        headers.remove(n);
    }
    let hop: Vec<HeaderName> = headers
        .keys()
        .filter(|n| is_hop_by_hop(n))
        .cloned()
        .collect();
    for n in hop {
        headers.remove(n);
    }
}

/// The request headers the gateway forwards: the ward's, less hop-by-hop
/// headers, its credentials and cookies (the gateway authenticates itself),
/// `Host` (the source's is set), `Expect` (the body is read before it is
/// forwarded) and any request id (the gateway sets one).
pub fn forwardable_request(mut headers: HeaderMap, auth_header: Option<&HeaderName>) -> HeaderMap {
    strip_hop_by_hop(&mut headers);
    for n in [
        header::AUTHORIZATION,
        header::COOKIE,
        header::HOST,
        // The gateway reads the whole body before forwarding: nothing to wait for.
        header::EXPECT,
        HeaderName::from_static("x-request-id"),
    ] {
        headers.remove(n);
    }
    if let Some(h) = auth_header {
        headers.remove(h);
    }
    headers
}

/// The response headers the gateway relays: the source's, less hop-by-hop
/// headers and cookies (a session of the gateway's identity, not the ward's).
pub fn forwardable_response(headers: &mut HeaderMap) {
    strip_hop_by_hop(headers);
    headers.remove(header::SET_COOKIE);
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn strips_hop_by_hop_and_those_connection_names() {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("connection", "close, x-secret-hop"),
            ("keep-alive", "timeout=5"),
            ("proxy-authorization", "Basic eA=="),
            ("proxy-foo", "1"),
            ("te", "trailers"),
            ("trailer", "x"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "h2c"),
            ("x-secret-hop", "1"),
            ("authorization", "Bearer ward"),
            ("cookie", "s=1"),
            ("host", "gw"),
            ("x-request-id", "spoofed"),
            ("x-api-key", "spoofed"),
            ("accept", "application/json"),
        ] {
            h.append(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        let api = HeaderName::from_static("x-api-key");
        let out = forwardable_request(h, Some(&api));
        let names: Vec<&str> = out.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, vec!["accept"]);
    }
}
