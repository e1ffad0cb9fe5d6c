//! Access control through the real server: anonymous callers never see a
//! restricted layer (catalog, TileJSON, tiles, composites), responses that
//! depend on the key are `Cache-Control: private`, owner names are masked
//! from viewers, and every endpoint needs its role.

use serde_json::Value;
use tudi::auth::Role;

use super::support::{decode, fixtures_server, get, get_as, key, tile_of};

fn ids(catalog: &Value) -> Vec<String> {
    catalog["services"]
        .as_array()
        .expect("services")
        .iter()
        .filter_map(|s| s["id"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn restricted_layers_are_invisible_without_the_role() {
    let s = fixtures_server();
    let anon: Value = get(&format!("{}/catalog", s.base))
        .await
        .json()
        .await
        .expect("json");
    let anon = ids(&anon);
    assert!(!anon.contains(&"households".to_string()), "{anon:?}");
    assert!(!anon.contains(&"homestead_parcels".to_string()), "{anon:?}");
    assert!(anon.contains(&"roads".to_string()));
    let viewer: Value = get_as(&format!("{}/catalog", s.base), Role::Viewer)
        .await
        .json()
        .await
        .expect("json");
    let viewer = ids(&viewer);
    assert!(viewer.contains(&"homestead_parcels".to_string()));
    assert!(!viewer.contains(&"households".to_string()));
    let approver: Value = get_as(&format!("{}/catalog", s.base), Role::Approver)
        .await
        .json()
        .await
        .expect("json");
    assert!(ids(&approver).contains(&"households".to_string()));

    let (z, x, y) = tile_of(113.0, 22.95, 14);
    for path in [
        "/tiles/households".to_string(),
        format!("/tiles/households/{z}/{x}/{y}"),
        format!("/tiles/roads,households/{z}/{x}/{y}"),
        "/tiles/roads,homestead_parcels".to_string(),
    ] {
        let r = get(&format!("{}{path}", s.base)).await;
        assert_eq!(r.status(), 404, "{path}");
        let body = r.text().await.expect("text");
        let unknown = get(&format!("{}/tiles/no_such_layer", s.base))
            .await
            .text()
            .await
            .expect("text");
        // Indistinguishable from a layer that does not exist.
        assert_eq!(
            body.replace("households", "X")
                .replace("homestead_parcels", "X"),
            unknown.replace("no_such_layer", "X"),
            "{path}"
        );
    }
    let r = get_as(
        &format!("{}/tiles/households/{z}/{x}/{y}", s.base),
        Role::Viewer,
    )
    .await;
    assert_eq!(r.status(), 404);
    let r = get_as(&format!("{}/tiles/households", s.base), Role::Approver).await;
    assert_eq!(r.status(), 200);
    let cc = r.headers()["cache-control"]
        .to_str()
        .expect("cc")
        .to_string();
    assert!(cc.starts_with("private"), "{cc}");
    let tj: Value = r.json().await.expect("json");
    let tile_url = tj["tiles"][0]
        .as_str()
        .expect("url")
        .replace("{z}", &z.to_string())
        .replace("{x}", &x.to_string())
        .replace("{y}", &y.to_string());
    let r = get_as(&tile_url, Role::Approver).await;
    assert!(r.status() == 200 || r.status() == 204);
    let cc = r.headers()["cache-control"]
        .to_str()
        .expect("cc")
        .to_string();
    assert!(cc.starts_with("private"), "{cc}");
    assert!(!cc.contains("public"), "{cc}");
    // A public layer stays publicly cacheable.
    let r = get(&format!("{}/tiles/roads/{z}/{x}/{y}", s.base)).await;
    let cc = r.headers()["cache-control"]
        .to_str()
        .expect("cc")
        .to_string();
    assert!(cc.starts_with("public"), "{cc}");
}

#[tokio::test]
async fn owner_names_are_masked_from_viewers() {
    let s = fixtures_server();
    // A tile with parcels in it (first parcel of the fixture).
    let tj: Value = get_as(&format!("{}/tiles/homestead_parcels", s.base), Role::Viewer)
        .await
        .json()
        .await
        .expect("tilejson");
    let fields = tj["vector_layers"][0]["fields"]
        .as_object()
        .expect("fields");
    assert!(!fields.contains_key("qlr"), "{fields:?}");
    assert!(fields.contains_key("zddm"));
    // The tile holding the first parcel of the fixture (EPSG:4547 source).
    use flatgeobuf::{FallibleStreamingIterator, FgbReader};
    use geo::BoundingRect;
    use geozero::ToGeo;
    let file =
        std::fs::File::open(super::support::repo().join("fixtures/small/homestead_parcels.fgb"))
            .expect("fgb");
    let mut reader = FgbReader::open(std::io::BufReader::new(file))
        .expect("open")
        .select_all_seq()
        .expect("select");
    let f = reader.next().expect("read").expect("a parcel");
    let c = f
        .to_geo()
        .expect("geometry")
        .bounding_rect()
        .expect("bbox")
        .center();
    let (lon, lat) = tudi::crs::gk_to_lonlat(c.x, c.y, 114.0);
    let (z, x, y) = tile_of(lon, lat, 16);
    let url = format!("{}/tiles/homestead_parcels/{z}/{x}/{y}", s.base);
    let as_viewer = get_as(&url, Role::Viewer).await;
    assert_eq!(as_viewer.status(), 200);
    let v = decode(&as_viewer.bytes().await.expect("body"));
    let vf = v.get_features(0).expect("features");
    let a = decode(
        &get_as(&url, Role::Approver)
            .await
            .bytes()
            .await
            .expect("body"),
    );
    let af = a.get_features(0).expect("features");
    assert!(!vf.is_empty());
    assert_eq!(vf.len(), af.len());
    for f in &vf {
        let p = f.properties.as_ref().expect("properties");
        assert!(!p.contains_key("qlr"), "viewer sees qlr");
        assert!(p.contains_key("zddm"));
    }
    assert!(
        af.iter()
            .all(|f| f.properties.as_ref().is_some_and(|p| p.contains_key("qlr"))),
        "approver must see qlr"
    );
}

#[tokio::test]
async fn each_endpoint_needs_its_role() {
    let s = fixtures_server();
    let client = reqwest::Client::new();
    // (method, path, body, lowest role allowed)
    let cases: [(&str, &str, &str, Role); 6] = [
        ("GET", "/api/audit/verify", "", Role::Approver),
        ("POST", "/api/reviews", "{}", Role::Approver),
        ("GET", "/api/layers", "", Role::Publisher),
        (
            "POST",
            "/api/layers/roads/rollback",
            "{\"version\": 99}",
            Role::Publisher,
        ),
        ("GET", "/api/keys", "", Role::Admin),
        ("POST", "/api/keys", "{\"role\": 5}", Role::Admin),
    ];
    for (method, path, body, min) in cases {
        let url = format!("{}{path}", s.base);
        let mk = || match method {
            "GET" => client.get(&url),
            _ => client.post(&url).body(body.to_string()),
        };
        let r = mk().send().await.expect("anon");
        assert_eq!(r.status(), 401, "{method} {path} anonymous");
        assert!(r.headers().contains_key("www-authenticate"));
        for role in Role::ALL {
            let r = mk().bearer_auth(key(role)).send().await.expect("req");
            let st = r.status().as_u16();
            if role < min {
                assert_eq!(st, 403, "{method} {path} as {role}");
            } else {
                assert!(st != 401 && st != 403, "{method} {path} as {role}: {st}");
            }
        }
    }
    // Bad keys.
    for bad in [
        "Bearer nope",
        "Basic dXNlcjpwYXNz",
        "Bearer tudi_0000000000000000000000000000000000000000",
    ] {
        let r = client
            .get(format!("{}/catalog", s.base))
            .header("authorization", bad)
            .send()
            .await
            .expect("req");
        assert_eq!(r.status(), 401, "{bad}");
    }
    let me: Value = get_as(&format!("{}/api/me", s.base), Role::Viewer)
        .await
        .json()
        .await
        .expect("me");
    assert_eq!(me["role"], "viewer");
    assert_eq!(get(&format!("{}/api/me", s.base)).await.status(), 401);
}

#[tokio::test]
async fn admins_create_and_revoke_keys_shown_once() {
    let s = fixtures_server();
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{}/api/keys", s.base))
        .bearer_auth(key(Role::Admin))
        .body(r#"{"role": "viewer", "label": "desk 7"}"#)
        .send()
        .await
        .expect("create");
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.expect("json");
    let secret = created["key"].as_str().expect("key").to_string();
    let id = created["id"].as_str().expect("id").to_string();
    let r = client
        .get(format!("{}/api/me", s.base))
        .bearer_auth(&secret)
        .send()
        .await
        .expect("me");
    assert_eq!(r.status(), 200);
    let list = client
        .get(format!("{}/api/keys", s.base))
        .bearer_auth(key(Role::Admin))
        .send()
        .await
        .expect("list")
        .text()
        .await
        .expect("text");
    assert!(list.contains(&id) && !list.contains(&secret[5..]), "{list}");
    let r = client
        .delete(format!("{}/api/keys/{id}", s.base))
        .bearer_auth(key(Role::Admin))
        .send()
        .await
        .expect("revoke");
    assert_eq!(r.status(), 200);
    let r = client
        .get(format!("{}/api/me", s.base))
        .bearer_auth(&secret)
        .send()
        .await
        .expect("me");
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn styles_leave_out_what_the_caller_may_not_see() {
    let s = fixtures_server();
    let url = format!("{}/styles/land-review", s.base);
    let anon: Value = get(&url).await.json().await.expect("style");
    let text = anon.to_string();
    assert!(
        !text.contains("homestead_parcels"),
        "anonymous style names parcels"
    );
    assert!(!text.contains("households"));
    assert!(text.contains("/tiles/district_boundary"));
    let layers = anon["layers"].as_array().expect("layers");
    for l in layers {
        if let Some(src) = l["source"].as_str() {
            assert!(anon["sources"].get(src).is_some(), "dangling source {src}");
        }
    }
    let viewer: Value = get_as(&url, Role::Viewer)
        .await
        .json()
        .await
        .expect("style");
    let text = viewer.to_string();
    assert!(text.contains("homestead_parcels") && !text.contains("households"));
    let approver: Value = get_as(&url, Role::Approver)
        .await
        .json()
        .await
        .expect("style");
    assert!(approver.to_string().contains("households"));
}
