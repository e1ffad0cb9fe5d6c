//! MapLibre styles (style spec v8) loaded from `styles/*.json` at start-up.
//!
//! Style files do not know where the server lives. They name this server
//! with placeholder URLs that [`resolve`] rewrites per request:
//!
//! - a vector source `"url": "tudi://tiles/a,b,c"` becomes the TileJSON URL
//!   `{base}/tiles/a,b,c` (the TileJSON carries versioned tile URLs);
//! - `"glyphs": "tudi://fonts/{fontstack}/{range}.pbf"` becomes
//!   `{base}/fonts/{fontstack}/{range}.pbf`;
//! - any other `tudi://...` in source `url`/`tiles`, `glyphs` or `sprite`
//!   becomes `{base}/...`.
//!
//! [`load_dir`] checks every file before the server starts: valid JSON, a
//! v8 style, every `tudi://tiles/` source naming configured layers only and
//! every layer's `source-layer` being one of its source's layers. All
//! problems of a file are reported together. Full spec validation is the
//! job of `gl-style-validate` in `.ci/run`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::layer::config::LABEL_SUFFIX;

/// The placeholder scheme for URLs of this server.
pub const SCHEME: &str = "tudi://";
/// Prefix of a source URL naming layers of this server.
pub const TILES_PREFIX: &str = "tudi://tiles/";

/// Why the styles folder could not be loaded; names the file and reason.
#[derive(Debug, thiserror::Error)]
pub enum StyleError {
    #[error("cannot read styles folder {}: {source}", path.display())]
    ReadDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read style {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("style {}: invalid JSON: {source}", path.display())]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("style {}: {}", path.display(), problems.join("; "))]
    Invalid {
        path: PathBuf,
        problems: Vec<String>,
    },
}

/// One loaded style.
#[derive(Debug, Clone)]
pub struct Style {
    /// The file stem, used in `/styles/{name}`.
    pub name: String,
    /// The style's own `name`, or the file stem.
    pub title: String,
    /// The style document with placeholder URLs.
    pub doc: Value,
}

/// Every loaded style by name (sorted).
#[derive(Debug, Clone, Default)]
pub struct Styles {
    map: BTreeMap<String, Style>,
}

impl Styles {
    pub fn get(&self, name: &str) -> Option<&Style> {
        self.map.get(name)
    }

    /// Styles in name order.
    pub fn iter(&self) -> impl Iterator<Item = &Style> {
        self.map.values()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// [`load_dir`] against the layers of `defs` (their ids and label layers).
pub fn load_dir_for(dir: &Path, defs: &[crate::layer::LayerDef]) -> Result<Styles, StyleError> {
    let names = crate::layer::config::source_layer_names(defs);
    let ids: Vec<&str> = names.iter().map(String::as_str).collect();
    load_dir(dir, &ids)
}

/// Loads every `*.json` in `dir` (not recursive), checking sources against
/// the configured `layer_ids`, which also name the label layers there are
/// (`layer::config::source_layer_names`).
pub fn load_dir(dir: &Path, layer_ids: &[&str]) -> Result<Styles, StyleError> {
    let read_dir = |source| StyleError::ReadDir {
        path: dir.to_path_buf(),
        source,
    };
    let known: BTreeSet<&str> = layer_ids.iter().copied().collect();
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_dir)? {
        let path = entry.map_err(read_dir)?.path();
        if path.extension().is_some_and(|e| e == "json") && path.is_file() {
            paths.push(path);
        }
    }
    paths.sort();
    let mut map = BTreeMap::new();
    for path in paths {
        let style = load_file(&path, &known)?;
        map.insert(style.name.clone(), style);
    }
    Ok(Styles { map })
}

fn load_file(path: &Path, known: &BTreeSet<&str>) -> Result<Style, StyleError> {
    let text = std::fs::read_to_string(path).map_err(|source| StyleError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let doc: Value = serde_json::from_str(&text).map_err(|source| StyleError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    let invalid = |problems| StyleError::Invalid {
        path: path.to_path_buf(),
        problems,
    };
    let name = path
        .file_stem()
        .and_then(|s| s.to_str())
        .filter(|s| valid_name(s))
        .ok_or_else(|| {
            invalid(vec![
                "file name must be [a-z0-9_-]+.json (it becomes the URL)".into(),
            ])
        })?
        .to_string();
    let problems = check(&doc, known);
    if !problems.is_empty() {
        return Err(invalid(problems));
    }
    let title = doc
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or(&name)
        .to_string();
    Ok(Style { name, title, doc })
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// Every problem with the sources and layers of `doc`.
fn check(doc: &Value, known: &BTreeSet<&str>) -> Vec<String> {
    let mut problems = Vec::new();
    if doc.get("version").and_then(Value::as_u64) != Some(8) {
        problems.push("`version` must be 8".to_string());
    }
    if let Some(g) = doc.get("glyphs").and_then(Value::as_str)
        && g.starts_with(SCHEME)
        && g != "tudi://fonts/{fontstack}/{range}.pbf"
    {
        problems.push(format!(
            "glyphs `{g}`: use `tudi://fonts/{{fontstack}}/{{range}}.pbf`"
        ));
    }
    // Source name -> the layers it offers (None: not a tudi tiles source).
    let mut offered: BTreeMap<&str, Option<Vec<&str>>> = BTreeMap::new();
    match doc.get("sources").and_then(Value::as_object) {
        None => problems.push("`sources` must be an object".to_string()),
        Some(sources) => {
            for (sname, src) in sources {
                let url = src.get("url").and_then(Value::as_str);
                let ids = match url.and_then(|u| u.strip_prefix(TILES_PREFIX)) {
                    Some(list) => {
                        let ids: Vec<&str> = list.split(',').collect();
                        for id in &ids {
                            if id.is_empty() {
                                problems.push(format!("source `{sname}`: empty layer id"));
                            } else if !known.contains(id) || id.ends_with(LABEL_SUFFIX) {
                                problems.push(format!("source `{sname}`: unknown layer `{id}`"));
                            }
                        }
                        Some(ids)
                    }
                    None => {
                        if let Some(u) = url.filter(|u| u.starts_with(SCHEME)) {
                            problems.push(format!(
                                "source `{sname}`: url `{u}` must start with `{TILES_PREFIX}`"
                            ));
                        }
                        None
                    }
                };
                offered.insert(sname.as_str(), ids);
            }
        }
    }
    let Some(layers) = doc.get("layers").and_then(Value::as_array) else {
        problems.push("`layers` must be an array".to_string());
        return problems;
    };
    for (i, layer) in layers.iter().enumerate() {
        let id = layer.get("id").and_then(Value::as_str).unwrap_or("?");
        let Some(src) = layer.get("source").and_then(Value::as_str) else {
            continue;
        };
        match offered.get(src) {
            None => problems.push(format!("layer {i} `{id}`: unknown source `{src}`")),
            Some(Some(ids)) => match layer.get("source-layer").and_then(Value::as_str) {
                Some(sl) if ids.contains(&sl) => {}
                // A label layer comes with its layer's tiles.
                Some(sl)
                    if known.contains(sl)
                        && sl
                            .strip_suffix(LABEL_SUFFIX)
                            .is_some_and(|base| ids.contains(&base)) => {}
                Some(sl) => problems.push(format!(
                    "layer {i} `{id}`: source-layer `{sl}` is not in source `{src}`"
                )),
                None => problems.push(format!("layer {i} `{id}`: missing `source-layer`")),
            },
            Some(None) => {}
        }
    }
    problems
}

/// A copy of `style` without what the caller may not see: layer ids for
/// which `visible` is false are cut from each `tudi://tiles/a,b` source URL;
/// a source left empty is removed with every style layer that draws it, and
/// a style layer whose `source-layer` is hidden is removed.
pub fn visible_only(style: &Value, visible: &dyn Fn(&str) -> bool) -> Value {
    let mut out = style.clone();
    let mut gone_sources: Vec<String> = Vec::new();
    let mut hidden_layers: Vec<String> = Vec::new();
    if let Some(sources) = out.get_mut("sources").and_then(Value::as_object_mut) {
        for (name, src) in sources.iter_mut() {
            let Some(url) = src.get("url").and_then(Value::as_str) else {
                continue;
            };
            let Some(ids) = url
                .strip_prefix(SCHEME)
                .and_then(|r| r.strip_prefix("tiles/"))
            else {
                continue;
            };
            let (keep, hide): (Vec<&str>, Vec<&str>) = ids.split(',').partition(|id| visible(id));
            hidden_layers.extend(hide.iter().map(|s| s.to_string()));
            if keep.is_empty() {
                gone_sources.push(name.clone());
            } else if !hide.is_empty() {
                src["url"] = Value::String(format!("{SCHEME}tiles/{}", keep.join(",")));
            }
        }
        for name in &gone_sources {
            sources.remove(name);
        }
    }
    if let Some(layers) = out.get_mut("layers").and_then(Value::as_array_mut) {
        layers.retain(|l| {
            let src = l.get("source").and_then(Value::as_str);
            let sl = l.get("source-layer").and_then(Value::as_str);
            !(src.is_some_and(|s| gone_sources.iter().any(|g| g == s))
                || sl.is_some_and(|s| {
                    let layer = s.strip_suffix(LABEL_SUFFIX).unwrap_or(s);
                    hidden_layers.iter().any(|h| h == layer)
                }))
        });
    }
    out
}

/// A copy of `style` with every `tudi://` URL pointing at `base_url`
/// (e.g. `https://gis.example.cn/tudi`; a trailing `/` is ignored).
pub fn resolve(style: &Value, base_url: &str) -> Value {
    let base = base_url.trim_end_matches('/');
    let fix = |v: &mut Value| {
        if let Some(rest) = v.as_str().and_then(|s| s.strip_prefix(SCHEME)) {
            *v = Value::String(format!("{base}/{rest}"));
        }
    };
    let mut out = style.clone();
    if let Some(sources) = out.get_mut("sources").and_then(Value::as_object_mut) {
        for src in sources.values_mut() {
            if let Some(u) = src.get_mut("url") {
                fix(u);
            }
            if let Some(tiles) = src.get_mut("tiles").and_then(Value::as_array_mut) {
                tiles.iter_mut().for_each(fix);
            }
        }
    }
    if let Some(g) = out.get_mut("glyphs") {
        fix(g);
    }
    match out.get_mut("sprite") {
        Some(Value::Array(sprites)) => {
            for s in sprites {
                if let Some(u) = s.get_mut("url") {
                    fix(u);
                }
            }
        }
        Some(s) => fix(s),
        None => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const IDS: &[&str] = &["roads", "towns", "zoning"];

    fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, body) in files {
            std::fs::write(dir.path().join(name), body).expect("write");
        }
        dir
    }

    fn err_of(files: &[(&str, &str)]) -> String {
        let dir = dir_with(files);
        load_dir(dir.path(), IDS)
            .expect_err("must fail")
            .to_string()
    }

    const GOOD: &str = r#"{"version": 8, "name": "好", "glyphs": "tudi://fonts/{fontstack}/{range}.pbf",
        "sources": {"s": {"type": "vector", "url": "tudi://tiles/roads,towns"}},
        "layers": [{"id": "bg", "type": "background"},
                   {"id": "r", "type": "line", "source": "s", "source-layer": "roads"}]}"#;

    #[test]
    fn loads_good_styles_with_titles() {
        let dir = dir_with(&[("a-1.json", GOOD), ("notes.txt", "ignored")]);
        let styles = load_dir(dir.path(), IDS).expect("loads");
        assert_eq!(styles.len(), 1);
        let s = styles.get("a-1").expect("a-1");
        assert_eq!(s.title, "好");
    }

    #[test]
    fn bad_json_names_the_file() {
        let e = err_of(&[("ok.json", GOOD), ("broken.json", "{\"version\": 8,")]);
        assert!(
            e.contains("broken.json") && e.contains("invalid JSON"),
            "{e}"
        );
    }

    #[test]
    fn unknown_layer_and_source_layer_are_all_reported() {
        let bad = GOOD.replace("roads,towns", "roads,nope").replace(
            "\"source-layer\": \"roads\"",
            "\"source-layer\": \"zoning\"",
        );
        let e = err_of(&[("bad.json", &bad)]);
        assert!(e.contains("bad.json"), "{e}");
        assert!(e.contains("unknown layer `nope`"), "{e}");
        assert!(
            e.contains("source-layer `zoning` is not in source `s`"),
            "{e}"
        );
    }

    #[test]
    fn a_label_layer_is_offered_with_its_layer_only() {
        // `towns` has label points; `roads` has none.
        let ids = ["roads", "towns", "towns.label"];
        let style = |url: &str, sl: &str| {
            GOOD.replace("roads,towns", url).replace(
                "\"source-layer\": \"roads\"",
                &format!("\"source-layer\": \"{sl}\""),
            )
        };
        let dir = dir_with(&[("ok.json", &style("roads,towns", "towns.label"))]);
        assert!(load_dir(dir.path(), &ids).is_ok());
        for (url, sl, problem) in [
            (
                "roads",
                "towns.label",
                "source-layer `towns.label` is not in source `s`",
            ),
            (
                "roads,towns",
                "roads.label",
                "source-layer `roads.label` is not in source `s`",
            ),
            ("towns.label", "towns.label", "unknown layer `towns.label`"),
        ] {
            let dir = dir_with(&[("bad.json", &style(url, sl))]);
            let e = load_dir(dir.path(), &ids).expect_err(url).to_string();
            assert!(e.contains(problem), "{url} {sl}: {e}");
        }
        // Hiding a layer removes the style layers drawing its labels.
        let doc: Value = serde_json::from_str(&style("roads,towns", "towns.label")).unwrap();
        let out = visible_only(&doc, &|id| id != "towns");
        let kept: Vec<&str> = out["layers"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|l| l["id"].as_str())
            .collect();
        assert_eq!(kept, vec!["bg"]);
    }

    #[test]
    fn unknown_source_bad_version_and_bad_name() {
        let bad = GOOD
            .replace("\"version\": 8", "\"version\": 7")
            .replace("\"source\": \"s\"", "\"source\": \"t\"");
        let e = err_of(&[("x.json", &bad)]);
        assert!(e.contains("`version` must be 8"), "{e}");
        assert!(e.contains("unknown source `t`"), "{e}");
        let e = err_of(&[("Bad Name.json", GOOD)]);
        assert!(e.contains("Bad Name.json"), "{e}");
    }

    #[test]
    fn missing_dir_is_an_error() {
        let e = load_dir(Path::new("/nonexistent/styles"), IDS).expect_err("fails");
        assert!(matches!(e, StyleError::ReadDir { .. }));
    }

    #[test]
    fn resolve_rewrites_sources_glyphs_and_sprite() {
        let style = json!({
            "version": 8,
            "glyphs": "tudi://fonts/{fontstack}/{range}.pbf",
            "sprite": "tudi://sprites/base",
            "sources": {
                "a": {"type": "vector", "url": "tudi://tiles/roads,towns"},
                "b": {"type": "vector", "tiles": ["tudi://tiles/x/{z}/{x}/{y}"]},
                "c": {"type": "vector", "url": "https://elsewhere.example/t.json"}
            },
            "layers": []
        });
        let r = resolve(&style, "https://gis.example.cn/tudi/");
        assert_eq!(
            r["sources"]["a"]["url"],
            "https://gis.example.cn/tudi/tiles/roads,towns"
        );
        assert_eq!(
            r["sources"]["b"]["tiles"][0],
            "https://gis.example.cn/tudi/tiles/x/{z}/{x}/{y}"
        );
        assert_eq!(r["sources"]["c"]["url"], "https://elsewhere.example/t.json");
        assert_eq!(
            r["glyphs"],
            "https://gis.example.cn/tudi/fonts/{fontstack}/{range}.pbf"
        );
        assert_eq!(r["sprite"], "https://gis.example.cn/tudi/sprites/base");
        // The stored style is untouched.
        assert_eq!(style["sources"]["a"]["url"], "tudi://tiles/roads,towns");
    }

    #[test]
    fn bundled_styles_load_against_bundled_layers() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let defs = crate::layer::config::read_dir(&root.join("layers")).expect("layers");
        let styles = load_dir_for(&root.join("styles"), &defs).expect("bundled styles load");
        assert!(styles.get("land-review").is_some());
        assert!(styles.get("parcels").is_some());
    }
}
