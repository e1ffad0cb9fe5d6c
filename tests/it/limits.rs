//! Resource limits through the real server: slow headers (slowloris) and
//! idle keep-alive connections are cut off, a stalled body is a `408`, a
//! slow request a `503` (uploads get a longer limit), tile renders are
//! bounded (`503` with `Retry-After`), clients are rate limited (`429` with
//! `Retry-After`, `/health` and `/metrics` exempt; made-up keys per
//! address), oversized headers a
//! `431`, compressed bodies a `415`, deep JSON a `4xx`, too many vertices in a layer a `422`, and a
//! shutdown drains the requests in flight.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tudi::auth::Role;
use tudi::http::ServerConfig;

use super::support::{Server, fixtures_server, folder, key, repo, start, tile_of};

/// The bundled layers served with short limits: headers and body idle 1 s,
/// requests 2 s, one tile render at a time with no wait, no tile cache, no
/// rate limit, at most 100 vertices per uploaded layer.
fn limited() -> &'static Server {
    static S: OnceLock<Server> = OnceLock::new();
    S.get_or_init(|| {
        start(
            &repo().join("layers"),
            ServerConfig {
                header_read_timeout: Duration::from_secs(1),
                body_idle_timeout: Some(Duration::from_secs(1)),
                request_timeout: Some(Duration::from_secs(2)),
                long_request_timeout: Some(Duration::from_secs(60)),
                max_renders: 1,
                render_wait: Duration::ZERO,
                cache_bytes: 0,
                rate_per_s: 0.0,
                max_layer_vertices: 100,
                ..ServerConfig::default()
            },
        )
    })
}

/// A one-layer server whose clients may make 3 requests at once, then one
/// every 2 s (shared by the tests of one bucket).
fn rate_limited() -> &'static Server {
    static S: OnceLock<(Server, tempfile::TempDir)> = OnceLock::new();
    &S.get_or_init(new_rate_limited).0
}

/// A server like [`rate_limited`] of one's own (buckets nobody else uses).
fn new_rate_limited() -> (Server, tempfile::TempDir) {
    rate_limited_trusting(&[])
}

/// A server like [`new_rate_limited`] that trusts the `X-Forwarded-For` of
/// the proxies `trusted`.
fn rate_limited_trusting(trusted: &[&str]) -> (Server, tempfile::TempDir) {
    let dir = one_layer();
    let s = start(
        dir.path(),
        ServerConfig {
            rate_per_s: 0.5,
            rate_burst: 3,
            trusted_proxies: trusted.iter().map(|n| n.parse().expect("net")).collect(),
            ..ServerConfig::default()
        },
    );
    (s, dir)
}

const SQUARE: &str = r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"n":1},"geometry":{"type":"Polygon","coordinates":[[[113.1,23.0],[113.11,23.0],[113.11,23.01],[113.1,23.01],[113.1,23.0]]]}}]}"#;

fn one_layer() -> tempfile::TempDir {
    folder(&[
        ("sq.geojson", SQUARE),
        (
            "sq.toml",
            "id = \"sq\"\ntitle = \"Sq\"\ncategory = \"test\"\nsource = \"sq.geojson\"\ncrs = \"EPSG:4326\"\nattributes = [\"n\"]\n",
        ),
    ])
}

fn addr(s: &Server) -> String {
    s.base.trim_start_matches("http://").to_string()
}

/// Reads until the peer closes (or `limit` passes); what arrived and
/// whether the peer closed.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, bool) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&got).into_owned(), true),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&got).into_owned(), false),
        }
    }
}

/// Reads one response head (status line and headers).
async fn read_head(stream: &mut TcpStream, limit: Duration) -> Option<String> {
    let mut got = Vec::new();
    let mut buf = [0u8; 1];
    let deadline = Instant::now() + limit;
    while !got.ends_with(b"\r\n\r\n") {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(1)) => got.push(buf[0]),
            _ => return None,
        }
    }
    Some(String::from_utf8_lossy(&got).into_owned())
}

#[tokio::test]
async fn slow_headers_and_idle_connections_are_cut_off() {
    let s = limited();
    // Half a request line, then nothing (slowloris).
    let mut c = TcpStream::connect(addr(s)).await.expect("connect");
    c.write_all(b"GET /hea").await.expect("write");
    let started = Instant::now();
    let (got, closed) = read_until_closed(&mut c, Duration::from_secs(10)).await;
    let took = started.elapsed();
    assert!(closed, "connection still open after {took:?}");
    assert!(
        took >= Duration::from_millis(800),
        "closed too early: {took:?}"
    );
    assert!(took < Duration::from_secs(5), "closed too late: {took:?}");
    assert!(!got.contains("200 OK"), "{got}");

    // A connection that sends nothing at all.
    let mut c = TcpStream::connect(addr(s)).await.expect("connect");
    let (_, closed) = read_until_closed(&mut c, Duration::from_secs(10)).await;
    assert!(closed, "silent connection still open");

    // A keep-alive connection left idle after a complete request.
    let mut c = TcpStream::connect(addr(s)).await.expect("connect");
    c.write_all(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .expect("write");
    let head = read_head(&mut c, Duration::from_secs(5))
        .await
        .expect("a response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let started = Instant::now();
    let (_, closed) = read_until_closed(&mut c, Duration::from_secs(10)).await;
    assert!(closed, "idle keep-alive connection still open");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn oversized_headers_are_a_431() {
    let s = limited();
    let many: String = (0..150).map(|i| format!("X-H{i}: a\r\n")).collect();
    let big = format!("X-Big: {}\r\n", "a".repeat(600_000));
    for extra in [many, big] {
        let mut c = TcpStream::connect(addr(s)).await.expect("connect");
        let req = format!("GET /health HTTP/1.1\r\nHost: t\r\n{extra}\r\n");
        // The server may answer and close before it has read everything.
        let _ = c.write_all(req.as_bytes()).await;
        let (got, _) = read_until_closed(&mut c, Duration::from_secs(10)).await;
        assert!(
            got.starts_with("HTTP/1.1 431"),
            "{}",
            &got[..got.len().min(200)]
        );
    }
}

#[tokio::test]
async fn a_stalled_body_is_a_408_and_closes_the_connection() {
    let s = limited();
    let mut c = TcpStream::connect(addr(s)).await.expect("connect");
    let head = format!(
        "POST /api/reviews HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"plot\"",
        key(Role::Approver)
    );
    c.write_all(head.as_bytes()).await.expect("write");
    let started = Instant::now();
    let (got, closed) = read_until_closed(&mut c, Duration::from_secs(10)).await;
    assert!(got.starts_with("HTTP/1.1 408"), "{got}");
    assert!(got.contains("\"error\":\"timeout\""), "{got}");
    assert!(closed, "connection left open after a 408");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(800) && took < Duration::from_secs(5),
        "{took:?}"
    );
}

/// Sends `head` then `body` one byte every `every`, reading the answer.
async fn trickle(s: &Server, head: String, body: Vec<u8>, every: Duration) -> (String, Duration) {
    let c = TcpStream::connect(addr(s)).await.expect("connect");
    let (mut r, mut w) = c.into_split();
    let started = Instant::now();
    // The write half is handed back, not dropped: dropping it would
    // half-close the connection, which hyper takes for a client gone.
    let writer = tokio::spawn(async move {
        w.write_all(head.as_bytes()).await.expect("head");
        for b in body {
            if w.write_all(&[b]).await.is_err() {
                break; // the server answered and closed
            }
            tokio::time::sleep(every).await;
        }
        w
    });
    let mut got = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), r.read_to_end(&mut got)).await;
    let took = started.elapsed();
    drop(writer.await);
    (String::from_utf8_lossy(&got).into_owned(), took)
}

#[tokio::test]
async fn a_slow_request_is_a_503_but_uploads_have_longer() {
    let s = limited();
    // A review body trickling in (never idle for 1 s) past the 2 s limit.
    let body = vec![b' '; 40];
    let head = format!(
        "POST /api/reviews HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {}\r\n\
         Connection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        key(Role::Approver),
        body.len()
    );
    let (got, took) = trickle(s, head, body, Duration::from_millis(200)).await;
    assert!(got.starts_with("HTTP/1.1 503"), "{got}");
    assert!(got.to_ascii_lowercase().contains("retry-after: "), "{got}");
    assert!(got.contains("longer than the limit of 2 s"), "{got}");
    assert!(took < Duration::from_secs(6), "{took:?}");

    // An upload trickling in for ~3 s is still within the upload limit.
    let upload = SQUARE.as_bytes().to_vec();
    let every = Duration::from_millis(3000 / upload.len() as u64);
    let head = format!(
        "POST /api/layers?id=slowpoke&title=Slow&category=test HTTP/1.1\r\nHost: t\r\n\
         Authorization: Bearer {}\r\nConnection: close\r\n\
         Content-Type: application/geo+json\r\nContent-Length: {}\r\n\r\n",
        key(Role::Publisher),
        upload.len()
    );
    let (got, took) = trickle(s, head, upload, every).await;
    assert!(took > Duration::from_secs(2), "{took:?}");
    assert!(got.starts_with("HTTP/1.1 201"), "{got}");
}

#[tokio::test]
async fn saturated_renders_answer_503_with_retry_after() {
    let s = limited();
    let client = reqwest::Client::new();
    // Many different uncached tiles at once, one render slot, no wait.
    let mut tasks = Vec::new();
    for i in 0..48u32 {
        let (z, x, y) = tile_of(
            113.0 + f64::from(i % 8) * 0.02,
            22.95 + f64::from(i / 8) * 0.02,
            14,
        );
        let url = format!(
            "{}/tiles/roads,zoning,rivers,village_boundary/{z}/{x}/{y}",
            s.base
        );
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            client.get(url).send().await.expect("tile")
        }));
    }
    let mut busy = 0;
    for t in tasks {
        let r = t.await.expect("task");
        match r.status().as_u16() {
            200 | 204 => {}
            503 => {
                busy += 1;
                assert_eq!(r.headers()["retry-after"], "1");
                let v: Value = r.json().await.expect("json");
                assert_eq!(v["error"], "unavailable", "{v}");
            }
            other => panic!("tile answered {other}"),
        }
    }
    assert!(
        busy > 0,
        "48 concurrent renders with one slot never saturated"
    );
    // Once the burst is over, tiles are served again.
    assert_tile_served(&client, &s.base, "roads", (113.0, 22.95)).await;
}

/// A z14 tile of `layer` at `(lon, lat)` is answered `200` or `204`.
async fn assert_tile_served(client: &reqwest::Client, base: &str, layer: &str, at: (f64, f64)) {
    let (z, x, y) = tile_of(at.0, at.1, 14);
    let r = client
        .get(format!("{base}/tiles/{layer}/{z}/{x}/{y}"))
        .send()
        .await
        .expect("tile");
    assert!(r.status() == 200 || r.status() == 204, "{}", r.status());
}

#[tokio::test]
async fn clients_over_their_rate_get_429_with_retry_after() {
    let s = rate_limited();
    let client = reqwest::Client::new();
    let (z, x, y) = tile_of(113.105, 23.005, 14);
    let url = format!("{}/tiles/sq/{z}/{x}/{y}", s.base);
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let r = client.get(&url).send().await.expect("tile");
        statuses.push(r.status().as_u16());
        if r.status() == 429 {
            let retry: u64 = r.headers()["retry-after"]
                .to_str()
                .expect("text")
                .parse()
                .expect("seconds");
            assert!((1..=2).contains(&retry), "{retry}");
            let v: Value = r.json().await.expect("json");
            assert_eq!(v["error"], "too_many_requests");
        }
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    // Probes and scrapers are not limited.
    for _ in 0..10 {
        assert_eq!(
            client
                .get(format!("{}/health", s.base))
                .send()
                .await
                .expect("h")
                .status(),
            200
        );
        assert_eq!(
            client
                .get(format!("{}/metrics", s.base))
                .send()
                .await
                .expect("m")
                .status(),
            200
        );
    }
    // A key has its own bucket, apart from the address's.
    let r = client
        .get(&url)
        .bearer_auth(key(Role::Viewer))
        .send()
        .await
        .expect("tile");
    assert_ne!(r.status(), 429);
    // After the wait, the address may ask again.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = client.get(&url).send().await.expect("tile");
    assert_ne!(r.status(), 429);
}

/// A flood of made-up keys from one address: each unknown key is a `401`
/// and takes a token from the address's unknown-key bucket; once that is
/// empty, keys that would need a catalog lookup are `429` with
/// `Retry-After`, before the lookup. A key looked up moments before (in the
/// key cache) and anonymous requests from the same address keep working:
/// they have buckets of their own.
#[tokio::test]
async fn made_up_keys_are_rate_limited_per_address() {
    let (s, _dir) = new_rate_limited();
    let client = reqwest::Client::new();
    let url = format!("{}/api/me", s.base);
    let me = |key: String| client.get(&url).bearer_auth(key).send();
    assert_eq!(
        me(key(Role::Viewer).to_string())
            .await
            .expect("me")
            .status(),
        200
    );
    let mut statuses = Vec::new();
    for i in 0..6u64 {
        let r = me(format!("tudi_{:040x}", 0xdead_beef + i))
            .await
            .expect("me");
        statuses.push(r.status().as_u16());
        if r.status() == 429 {
            assert!(r.headers().contains_key("retry-after"));
            let v: Value = r.json().await.expect("json");
            assert!(
                v["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("keys that are not known")),
                "{v}"
            );
        }
    }
    assert_eq!(statuses, [401, 401, 401, 429, 429, 429]);
    assert_eq!(
        me(key(Role::Viewer).to_string())
            .await
            .expect("me")
            .status(),
        200
    );
    assert_tile_served(&client, &s.base, "sq", (113.105, 23.005)).await;
    // After the refill, a key is looked up again.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = me(format!("tudi_{:040x}", 7)).await.expect("me");
    assert_eq!(r.status(), 401);
}

/// Behind a trusted proxy (here the test itself, on 127.0.0.1) clients are
/// rate limited by the address `X-Forwarded-For` gives, rendered and
/// cached tiles alike; from an untrusted peer the header changes nothing.
#[tokio::test]
async fn forwarded_clients_get_buckets_only_behind_trusted_proxies() {
    let (z, x, y) = tile_of(113.105, 23.005, 14);
    let statuses = |base: String, clients: Vec<&'static str>| async move {
        let c = reqwest::Client::new();
        let mut out = Vec::new();
        for xff in clients {
            let r = c
                .get(format!("{base}/tiles/sq/{z}/{x}/{y}"))
                .header("x-forwarded-for", xff)
                .send()
                .await
                .expect("tile");
            out.push(r.status().as_u16() == 429);
        }
        out
    };
    let (proxied, _d1) = rate_limited_trusting(&["127.0.0.1/32"]);
    let a = "203.0.113.7";
    let b = "198.51.100.2, 203.0.113.8";
    assert_eq!(
        statuses(proxied.base.clone(), vec![a, a, a, a, b]).await,
        [false, false, false, true, false],
        "a client over its rate is refused, the next one behind the proxy is not"
    );
    let (direct, _d2) = new_rate_limited();
    assert_eq!(
        statuses(direct.base.clone(), vec![a, b, "192.0.2.1", "192.0.2.2"]).await,
        [false, false, false, true],
        "an untrusted peer's X-Forwarded-For is ignored"
    );
}

#[tokio::test]
async fn compressed_request_bodies_are_refused_with_415() {
    let s = fixtures_server();
    let client = reqwest::Client::new();
    for (path, role) in [
        ("/api/reviews", Role::Approver),
        ("/api/layers/roads/versions?dry_run=true", Role::Publisher),
    ] {
        let r = client
            .post(format!("{}{path}", s.base))
            .bearer_auth(key(role))
            .header("content-encoding", "gzip")
            .header("content-type", "application/json")
            .body(vec![0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0])
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), 415, "{path}");
        let v: Value = r.json().await.expect("json");
        assert_eq!(v["error"], "unsupported_media_type", "{v}");
    }
}

fn nested(depth: usize) -> String {
    format!(
        "{{\"plot\":{}1{},\"applicant\":{{}}}}",
        "[".repeat(depth),
        "]".repeat(depth)
    )
}

#[tokio::test]
async fn json_nested_past_128_levels_is_a_4xx() {
    let s = fixtures_server();
    let client = reqwest::Client::new();
    for depth in [129, 200, 100_000] {
        for path in ["/api/reviews", "/api/reviews/batch"] {
            let r = client
                .post(format!("{}{path}", s.base))
                .bearer_auth(key(Role::Approver))
                .header("content-type", "application/json")
                .body(nested(depth))
                .send()
                .await
                .expect("post");
            let status = r.status().as_u16();
            assert!(
                (400..500).contains(&status),
                "{path} depth {depth}: {status}"
            );
            let v: Value = r.json().await.expect("json");
            assert!(v["error"].is_string(), "{v}");
            if depth > 1000 {
                assert!(v["problems"].to_string().contains("recursion"), "{v}");
            }
        }
    }
    // And as an upload.
    let deep = format!(
        "{{\"type\":\"FeatureCollection\",\"features\":[{{\"type\":\"Feature\",\"properties\":{{\"a\":{}1{}}},\"geometry\":null}}]}}",
        "[".repeat(50_000),
        "]".repeat(50_000)
    );
    let r = client
        .post(format!("{}/api/layers/roads/versions?dry_run=true", s.base))
        .bearer_auth(key(Role::Publisher))
        .header("content-type", "application/geo+json")
        .body(deep)
        .send()
        .await
        .expect("post");
    let status = r.status().as_u16();
    assert!((400..500).contains(&status), "deep upload: {status}");
    // The server is still up.
    let r = client
        .get(format!("{}/health", s.base))
        .send()
        .await
        .expect("health");
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn layers_with_too_many_vertices_are_refused() {
    let s = limited();
    // 30 squares of 5 vertices: 150 > 100 (each feature is far below the
    // per-feature cap).
    let mut feats = Vec::new();
    for i in 0..30 {
        let x = 113.1 + f64::from(i) * 0.001;
        feats.push(format!(
            r#"{{"type":"Feature","properties":{{"i":{i}}},"geometry":{{"type":"Polygon","coordinates":[[[{x},23.0],[{x2},23.0],[{x2},23.0005],[{x},23.0005],[{x},23.0]]]}}}}"#,
            x2 = x + 0.0005
        ));
    }
    let body = |n: usize| {
        format!(
            r#"{{"type":"FeatureCollection","features":[{}]}}"#,
            feats[..n].join(",")
        )
    };
    let client = reqwest::Client::new();
    let post = |n: usize| {
        client
            .post(format!(
                "{}/api/layers?id=vcap&title=V&category=test",
                s.base
            ))
            .bearer_auth(key(Role::Publisher))
            .header("content-type", "application/geo+json")
            .body(body(n))
            .send()
    };
    let r = post(30).await.expect("post");
    assert_eq!(r.status(), 422);
    let v: Value = r.json().await.expect("json");
    assert!(
        v["message"]
            .as_str()
            .is_some_and(|m| m.contains("150 vertices") && m.contains("limit of 100")),
        "{v}"
    );
    assert!(v["report"].is_object(), "{v}");
    // 20 squares (100 vertices) are within the limit.
    let r = post(20).await.expect("post");
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
}

#[tokio::test]
async fn errors_from_the_router_are_json() {
    let s = fixtures_server();
    let client = reqwest::Client::new();
    let r = client
        .delete(format!("{}/catalog", s.base))
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), 405);
    assert!(r.headers().contains_key("allow"));
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["error"], "method_not_allowed");
}

/// A server over one layer with a shutdown switch; returns the address,
/// the switch and the server task.
async fn switchable() -> (
    String,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
    tempfile::TempDir,
) {
    let layers = one_layer();
    let data: PathBuf = layers.path().join("data");
    let defs = tudi::layer::config::read_dir(layers.path()).expect("defs");
    let registry = Arc::new(tudi::layer::Registry::default());
    let state = tudi::http::AppState::new(registry, defs.clone(), ServerConfig::default())
        .with_catalog(super::support::catalog_with_keys(&data));
    let state = Arc::new(state);
    assert!(
        tudi::http::load_layers(state.clone(), defs)
            .await
            .is_empty()
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(tudi::http::serve(listener, state, async move {
        let _ = rx.await;
    }));
    (addr, tx, task, layers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_requests_in_flight() {
    let (addr, stop, server, _dir) = switchable().await;
    // A request whose body is still coming when the shutdown starts.
    let mut c = TcpStream::connect(&addr).await.expect("connect");
    let body = b"{\"plot\": null}";
    let head = format!(
        "POST /api/reviews HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        key(Role::Approver),
        body.len()
    );
    c.write_all(head.as_bytes()).await.expect("head");
    c.write_all(&body[..5]).await.expect("part");
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.send(()).expect("stop");
    tokio::time::sleep(Duration::from_millis(300)).await;
    // No new connections are served...
    let refused = match TcpStream::connect(&addr).await {
        Err(_) => true,
        Ok(mut c2) => {
            let _ = c2
                .write_all(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
                .await;
            let (got, _) = read_until_closed(&mut c2, Duration::from_secs(3)).await;
            got.is_empty()
        }
    };
    assert!(refused, "a new connection was served after the shutdown");
    assert!(!server.is_finished(), "stopped before the request finished");
    // ...but the one in flight is answered (this server has no rule set:
    // 503 "reviews are not configured", after the whole body was read).
    c.write_all(&body[5..]).await.expect("rest");
    let (got, closed) = read_until_closed(&mut c, Duration::from_secs(10)).await;
    assert!(got.starts_with("HTTP/1.1 503"), "{got}");
    assert!(got.contains("not configured"), "{got}");
    assert!(closed);
    let done = tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("serve returned")
        .expect("task");
    assert!(done.is_ok());
}
