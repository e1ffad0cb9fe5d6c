//! The public base URL for links the server hands out (TileJSON tile URLs,
//! style sources): configured, or derived from the request behind a proxy.

use axum::http::HeaderMap;

/// Characters allowed in a host taken from a request header; anything else
/// falls back to `Host`, so a forged header cannot inject into URLs.
fn clean_host(h: &str) -> Option<&str> {
    let ok = !h.is_empty()
        && h.len() <= 255
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    ok.then_some(h)
}

/// `configured` wins; else `X-Forwarded-Proto` + `X-Forwarded-Host`
/// (first value of each), else `http://` + `Host`, else `fallback`.
pub fn base_url(configured: Option<&str>, headers: &HeaderMap, fallback: &str) -> String {
    if let Some(c) = configured {
        return c.trim_end_matches('/').to_string();
    }
    let first = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim)
    };
    let proto = match first("x-forwarded-proto") {
        Some("https") => "https",
        _ => "http",
    };
    let host = first("x-forwarded-host")
        .and_then(clean_host)
        .or_else(|| first("host").and_then(clean_host));
    match host {
        Some(h) => format!("{proto}://{h}"),
        None => fallback.trim_end_matches('/').to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn forwarded_headers_win_over_host() {
        let mut h = HeaderMap::new();
        h.insert("host", HeaderValue::from_static("127.0.0.1:3000"));
        assert_eq!(base_url(None, &h, "x"), "http://127.0.0.1:3000");
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        h.insert(
            "x-forwarded-host",
            HeaderValue::from_static("gis.example.cn"),
        );
        assert_eq!(base_url(None, &h, "x"), "https://gis.example.cn");
        assert_eq!(base_url(Some("https://a/b/"), &h, "x"), "https://a/b");
    }

    #[test]
    fn forged_host_is_ignored() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-host",
            HeaderValue::from_static("evil\"><script>"),
        );
        h.insert("host", HeaderValue::from_static("ok.example"));
        assert_eq!(base_url(None, &h, "x"), "http://ok.example");
    }
}
