//! The embedded web app (`/`, `/review`, `/web/...`) and the glyph endpoint
//! (`/fonts/{stack}/{range}.pbf`), against the real server over the fixtures.
//! Glyph PBFs are decoded with prost (derived from `glyphs.proto` here, not
//! with tudi's hand-written encoder).

use super::support::{fixtures_server, get};

/// `glyphs.proto` as MapLibre reads it.
#[derive(Clone, PartialEq, prost::Message)]
struct Glyphs {
    #[prost(message, repeated, tag = "1")]
    stacks: Vec<Fontstack>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Fontstack {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(string, tag = "2")]
    range: String,
    #[prost(message, repeated, tag = "3")]
    glyphs: Vec<Glyph>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Glyph {
    #[prost(uint32, tag = "1")]
    id: u32,
    #[prost(bytes = "vec", tag = "2")]
    bitmap: Vec<u8>,
    #[prost(uint32, tag = "3")]
    width: u32,
    #[prost(uint32, tag = "4")]
    height: u32,
    #[prost(sint32, tag = "5")]
    left: i32,
    #[prost(sint32, tag = "6")]
    top: i32,
    #[prost(uint32, tag = "7")]
    advance: u32,
}

fn content_type(r: &reqwest::Response) -> String {
    r.headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

#[tokio::test]
async fn pages_and_assets_are_served_with_their_types() {
    let s = fixtures_server();
    for (path, ty, needle) in [
        ("/", "text/html", "web/viewer.js"),
        ("/review", "text/html", "web/review.js"),
        ("/web/common.js", "text/javascript", "transformRequest"),
        ("/web/app.css", "text/css", "--accent"),
        ("/web/favicon.svg", "image/svg+xml", "<svg"),
        (
            "/web/vendor/maplibre-gl.mjs",
            "text/javascript",
            "maplibre-gl-worker.mjs",
        ),
        ("/web/vendor/maplibre-gl-worker.mjs", "text/javascript", ""),
        ("/web/vendor/maplibre-gl.css", "text/css", ".maplibregl-map"),
        (
            "/web/vendor/LICENSE.txt",
            "text/plain",
            "MapLibre contributors",
        ),
    ] {
        let r = get(&format!("{}{path}", s.base)).await;
        assert_eq!(r.status(), 200, "{path}");
        assert!(
            content_type(&r).starts_with(ty),
            "{path}: {}",
            content_type(&r)
        );
        assert_eq!(r.headers()["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(r.headers()["cache-control"], "no-cache", "{path}");
        if ty == "text/html" {
            let csp = r.headers()["content-security-policy"]
                .to_str()
                .expect("csp");
            assert!(csp.contains("default-src 'self'") && csp.contains("connect-src 'self'"));
        }
        let body = r.text().await.expect("body");
        assert!(body.contains(needle), "{path} lacks {needle}");
    }
}

#[tokio::test]
async fn assets_revalidate_with_etag() {
    let s = fixtures_server();
    let url = format!("{}/web/vendor/maplibre-gl.css", s.base);
    let r = get(&url).await;
    let etag = r.headers()["etag"].to_str().expect("etag").to_string();
    assert!(etag.starts_with('"') && etag.len() > 10, "{etag}");
    let again = reqwest::Client::new()
        .get(&url)
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("request");
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["etag"], etag.as_str());
}

#[tokio::test]
async fn unknown_asset_is_a_json_404() {
    let s = fixtures_server();
    for path in [
        "/web/nope.js",
        "/web/../Cargo.toml",
        "/web/%2e%2e/Cargo.toml",
        "/web/",
    ] {
        let r = get(&format!("{}{path}", s.base)).await;
        assert_eq!(r.status(), 404, "{path}");
        let body: serde_json::Value = r.json().await.expect("json");
        assert_eq!(body["error"], "not_found", "{path}");
    }
}

/// URLs the vendored MapLibre bundle contains: its licence link, links in
/// error messages and the attribution, XML namespaces, a reserved `.invalid`
/// base. None is fetched by the page (the browser test records requests).
const VENDOR_URLS: &[&str] = &[
    "https://github.com/maplibre/maplibre-gl-js/blob/v6.17.0/LICENSE.txt",
    "https://github.com/mapbox/mapbox-gl-js/issues/2907",
    "https://maplibre.org/",
    "https://wiki.openstreetmap.org/wiki/This_map_requires_WebGL",
    "https://maplibre.invalid/",
    "http://www.w3.org/2000/svg",
    "http://www.w3.org/1999/xhtml",
];

fn urls_in(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, _) in text.match_indices("http") {
        let rest = &text[i..];
        if !(rest.starts_with("http://") || rest.starts_with("https://")) {
            continue;
        }
        let end = rest
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '`' | ')' | '<' | '>'))
            .unwrap_or(rest.len());
        out.push(rest[..end].to_string());
    }
    out
}

#[test]
fn no_page_references_an_external_url() {
    for asset in tudi::http::web::ASSETS {
        let text = String::from_utf8_lossy(asset.body);
        for u in urls_in(&text) {
            let ok = if asset.path == "vendor/LICENSE.txt" {
                true // a licence text, never loaded by a page
            } else if asset.path.starts_with("vendor/") {
                VENDOR_URLS.contains(&u.as_str())
            } else {
                // Our own files: only the SVG namespace of the favicon.
                u == "http://www.w3.org/2000/svg"
            };
            assert!(ok, "{} references {u}", asset.path);
        }
    }
}

#[tokio::test]
async fn served_style_points_only_at_this_server() {
    let s = fixtures_server();
    let text = get(&format!("{}/styles/land-review", s.base))
        .await
        .text()
        .await
        .expect("style");
    for u in urls_in(&text) {
        assert!(u.starts_with(&s.base), "style references {u}");
    }
    assert!(text.contains("Noto Sans Regular"), "Latin fallback font");
}

async fn glyphs(base: &str, stack: &str, range: &str) -> (reqwest::StatusCode, String, Vec<u8>) {
    let r = get(&format!("{base}/fonts/{stack}/{range}")).await;
    let status = r.status();
    let ty = content_type(&r);
    (status, ty, r.bytes().await.expect("body").to_vec())
}

#[tokio::test]
async fn latin_glyph_range_decodes() {
    let s = fixtures_server();
    let stack = "Noto%20Sans%20CJK%20SC%20Regular,Noto%20Sans%20Regular";
    let (status, ty, body) = glyphs(&s.base, stack, "0-255.pbf").await;
    assert_eq!(status, 200);
    assert_eq!(ty, "application/x-protobuf");
    let msg: Glyphs = prost::Message::decode(body.as_slice()).expect("glyphs.proto");
    assert_eq!(msg.stacks.len(), 1);
    let st = &msg.stacks[0];
    assert_eq!(st.range, "0-255");
    assert_eq!(st.name, "Noto Sans CJK SC Regular,Noto Sans Regular");
    assert!(st.glyphs.len() > 150, "{} glyphs", st.glyphs.len());
    let a = st
        .glyphs
        .iter()
        .find(|g| g.id == u32::from('A'))
        .expect("A");
    assert!((12..=20).contains(&a.height) && a.width > 8, "{a:?}");
    assert_eq!(a.bitmap.len() as u32, (a.width + 6) * (a.height + 6));
    assert!(a.advance > 10 && a.left >= 0 && a.top < 0, "{a:?}");
    // Inside the glyph is above the edge value (191), the border below.
    assert!(a.bitmap.iter().any(|&v| v > 191) && a.bitmap[0] < 191);
    let space = st.glyphs.iter().find(|g| g.id == 32).expect("space");
    assert!(space.bitmap.is_empty() && space.advance > 0);
    assert!(st.glyphs.iter().all(|g| g.id < 256));
}

#[tokio::test]
async fn glyph_ranges_cache_and_revalidate() {
    let s = fixtures_server();
    let url = format!("{}/fonts/Noto%20Sans%20Regular/256-511.pbf", s.base);
    let r = get(&url).await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["cache-control"]
            .to_str()
            .expect("cc")
            .contains("max-age")
    );
    let etag = r.headers()["etag"].clone();
    let again = reqwest::Client::new()
        .get(&url)
        .header("if-none-match", etag)
        .send()
        .await
        .expect("request");
    assert_eq!(again.status(), 304);
}

#[tokio::test]
async fn cjk_glyphs_when_a_cjk_font_is_installed() {
    let s = fixtures_server();
    let fonts: serde_json::Value = get(&format!("{}/fonts", s.base))
        .await
        .json()
        .await
        .expect("fonts");
    let names: Vec<&str> = fonts["fonts"]
        .as_array()
        .expect("fonts")
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert!(names.contains(&"Noto Sans Regular"), "{names:?}");
    if fonts["cjk"] != true {
        eprintln!("no CJK font installed (Debian fonts-noto-cjk): CJK glyph check skipped");
        return;
    }
    // 土 is U+571F, in the range 22272-22527.
    let stack = "Noto%20Sans%20CJK%20SC%20Regular,Noto%20Sans%20Regular";
    let (status, _, body) = glyphs(&s.base, stack, "22272-22527.pbf").await;
    assert_eq!(status, 200);
    let msg: Glyphs = prost::Message::decode(body.as_slice()).expect("glyphs.proto");
    let tu = msg.stacks[0]
        .glyphs
        .iter()
        .find(|g| g.id == 0x571F)
        .expect("土");
    assert!(
        tu.width >= 16 && tu.height >= 16 && tu.advance >= 22,
        "{tu:?}"
    );
}

#[tokio::test]
async fn bad_ranges_and_stacks_are_4xx_json() {
    let s = fixtures_server();
    let ok_stack = "Noto%20Sans%20Regular";
    for (stack, range, status) in [
        (ok_stack, "0-254.pbf", 400),
        (ok_stack, "abc.pbf", 400),
        (ok_stack, "65536-65791.pbf", 400),
        (ok_stack, "256-255.pbf", 400),
        (ok_stack, "1-256.pbf", 400),
        (ok_stack, "0-255.png", 400),
        (ok_stack, "0-255", 400),
        ("..%2F..%2Fetc%2Fpasswd", "0-255.pbf", 400),
        ("..%5Cfonts", "0-255.pbf", 400),
        ("NotoSans-Regular.ttf", "0-255.pbf", 400),
        ("No%20Such%20Font", "0-255.pbf", 404),
    ] {
        let r = get(&format!("{}/fonts/{stack}/{range}", s.base)).await;
        assert_eq!(r.status(), status, "{stack}/{range}");
        let body: serde_json::Value = r.json().await.expect("json error");
        let code = if status == 400 {
            "bad_request"
        } else {
            "not_found"
        };
        assert_eq!(body["error"], code, "{stack}/{range}: {body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // A literal `..` segment never reaches the handler: no route, JSON 404.
    let r = get(&format!("{}/fonts/../0-255.pbf", s.base)).await;
    assert_eq!(r.status(), 404);
}
