//! Every bad URL gets a 4xx with a JSON error naming the problem, never a 5xx.

use super::support::{get, tiny_server};

async fn expect_error(path: &str, status: u16, needle: &str) {
    let s = tiny_server();
    let r = get(&format!("{}{path}", s.base)).await;
    assert_eq!(r.status().as_u16(), status, "{path}");
    let body: serde_json::Value = r.json().await.expect("json error body");
    let msg = body["message"].as_str().unwrap_or_default().to_string();
    assert!(
        msg.contains(needle),
        "{path}: message `{msg}` should mention `{needle}`"
    );
    assert!(body["error"].is_string());
}

#[tokio::test]
async fn non_numeric_coordinates_are_400() {
    expect_error("/tiles/squares/abc/0/0", 400, "abc").await;
    expect_error("/tiles/squares/1/x/0", 400, "x").await;
    expect_error("/tiles/squares/1/0/0.png", 400, "0.png").await;
    expect_error("/tiles/squares/1.5/0/0", 400, "1.5").await;
}

#[tokio::test]
async fn out_of_range_coordinates_are_400() {
    expect_error("/tiles/squares/-1/0/0", 400, "-1").await;
    expect_error("/tiles/squares/23/0/0", 400, "23").await;
    expect_error("/tiles/squares/0/1/0", 400, "1").await;
    expect_error("/tiles/squares/0/0/-1", 400, "-1").await;
    expect_error("/tiles/squares/3/0/8", 400, "8").await;
    expect_error(
        "/tiles/squares/3/0/99999999999999999999999999",
        400,
        "99999999999999999999999999",
    )
    .await;
}

#[tokio::test]
async fn unknown_layers_and_routes_are_404() {
    expect_error("/tiles/nope/0/0/0", 404, "nope").await;
    expect_error("/tiles/nope", 404, "nope").await;
    expect_error("/tiles/squares,nope/0/0/0", 404, "nope").await;
    expect_error("/nothing/here", 404, "/nothing/here").await;
    expect_error("/tiles/squares/1/0/0/extra", 404, "extra").await;
}

#[tokio::test]
async fn malformed_composites_are_400() {
    expect_error("/tiles/squares,,pts/0/0/0", 400, "empty layer id").await;
    expect_error("/tiles/,/0/0/0", 400, "empty layer id").await;
}

#[tokio::test]
async fn hostile_strings_never_5xx() {
    let s = tiny_server();
    for path in [
        "/tiles/%00/0/0/0",
        "/tiles/squares/%FF/0/0",
        "/tiles/..%2F..%2Fetc%2Fpasswd/0/0/0",
        "/tiles/squares/0/0/0.mvt.mvt",
        "/tiles/squares/00000000000000000000000000001/0/0",
        "/tiles/<script>/0/0/0",
        "/tiles/squares/0/0/0?v=%ZZ",
    ] {
        let r = get(&format!("{}{path}", s.base)).await;
        assert!(!r.status().is_server_error(), "{path} -> {}", r.status());
    }
}
