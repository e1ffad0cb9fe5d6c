//! Fuzzing in the ordinary test run: the committed corpora replayed through
//! the same entry points the cargo-fuzz targets call (`fuzz/src/lib.rs`,
//! included below), and one named regression test per crash the fuzzers
//! found. The replay is `#[ignore]`d in plain `cargo test` and run by its
//! own `.ci/run` step: `cargo test --test fuzz -- --ignored`.

#![allow(clippy::unwrap_used)]

#[path = "../fuzz/src/lib.rs"]
mod entries;

use std::path::PathBuf;

fn corpus_files(target: &str) -> Vec<PathBuf> {
    let dir = entries::repo().join("fuzz/corpus").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Every corpus file of every target through its entry point; fails
/// naming each file that panics.
#[test]
#[ignore = "replays fuzz/corpus (~15 s in debug): run by .ci/run, or with -- --ignored"]
fn corpus_replay() {
    let mut failures = Vec::new();
    let mut total = 0;
    for (name, entry) in entries::TARGETS {
        let files = corpus_files(name);
        assert!(!files.is_empty(), "no corpus for target {name}");
        let start = std::time::Instant::now();
        for file in &files {
            let data = std::fs::read(file).unwrap();
            if std::panic::catch_unwind(|| entry(&data)).is_err() {
                failures.push(file.display().to_string());
            }
        }
        total += files.len();
        eprintln!(
            "{name}: {} inputs in {:.1} s",
            files.len(),
            start.elapsed().as_secs_f64()
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {total} corpus inputs panicked:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// One seed per target runs in the plain test suite, so a broken harness
/// (fixture moved, API changed) shows up without the replay.
#[test]
fn every_target_runs_its_first_seed() {
    for (name, entry) in entries::TARGETS {
        let files = corpus_files(name);
        let first = files
            .first()
            .unwrap_or_else(|| panic!("no corpus for {name}"));
        entry(&std::fs::read(first).unwrap());
    }
}

// ------------------------------------------------------------ regressions
// One test per crash the fuzzers found, named after what broke; the inputs
// are in fuzz/regressions/ (and in the target's corpus).

/// `flatgeobuf`: a 1.9 KB file whose feature size prefix declares 3.5 GB
/// made the `flatgeobuf` crate allocate (and zero) 3.5 GB before reading:
/// libFuzzer's out-of-memory. Now refused naming the feature and sizes.
#[test]
fn flatgeobuf_feature_size_past_the_end_is_refused() {
    let data = include_bytes!("../fuzz/regressions/flatgeobuf_feature_size_past_end.fgb");
    let err = tudi::layer::read::read(
        std::io::Cursor::new(&data[..]),
        tudi::layer::SourceFormat::FlatGeobuf,
        &[],
        None,
    )
    .unwrap_err();
    assert!(err.to_string().contains("declares"), "{err}");
    entries::flatgeobuf(data);
}

/// `flatgeobuf`: a feature whose string attribute declares more bytes than
/// its properties hold made the `flatgeobuf` crate panic slicing them
/// (`properties_reader.rs`: range end index out of range). Now refused.
#[test]
fn flatgeobuf_truncated_property_is_refused() {
    let data = include_bytes!("../fuzz/regressions/flatgeobuf_truncated_property.fgb");
    let err = tudi::layer::read::read(
        std::io::Cursor::new(&data[..]),
        tudi::layer::SourceFormat::FlatGeobuf,
        &["name".to_string()],
        None,
    )
    .unwrap_err();
    assert!(err.to_string().contains("truncated attribute"), "{err}");
    entries::flatgeobuf(data);
}

/// Same class as the truncated attribute (the `flatgeobuf` crate's geometry
/// reader indexes `xy` with asserting `get`s): the village fixture with its
/// first feature's `xy` vector one value short (odd) panicked reading the
/// last coordinate. Now refused as inconsistent geometry arrays.
#[test]
fn flatgeobuf_odd_coordinate_array_is_refused() {
    let mut data = std::fs::read(entries::repo().join("fixtures/uploads/village.fgb")).unwrap();
    // Header, then the packed R-tree (if any), then the features.
    let header_len = u32::from_le_bytes(data[8..12].try_into().unwrap()) as usize;
    let fgb = flatgeobuf::FgbReader::open(std::io::Cursor::new(&data[..])).unwrap();
    let (count, node) = (
        fgb.header().features_count() as usize,
        fgb.header().index_node_size(),
    );
    let index = if node >= 2 && count > 0 {
        flatgeobuf::packed_r_tree::PackedRTree::index_size(count, node)
    } else {
        0
    };
    let start = 12 + header_len + index;
    let size = u32::from_le_bytes(data[start..start + 4].try_into().unwrap()) as usize;
    let feature = &data[start..start + 4 + size];
    let f = flatgeobuf::size_prefixed_root_as_feature(feature).unwrap();
    let g = f.geometry().unwrap();
    // A multipolygon keeps its coordinates in its parts.
    let g = match g.parts() {
        Some(parts) => parts.get(0),
        None => g,
    };
    let xy = g.xy().unwrap();
    let at = xy.bytes().as_ptr() as usize - data.as_ptr() as usize - 4;
    let len = u32::from_le_bytes(data[at..at + 4].try_into().unwrap());
    assert_eq!(len as usize, xy.len());
    data[at..at + 4].copy_from_slice(&(len - 1).to_le_bytes());
    let err = tudi::layer::read::read(
        std::io::Cursor::new(&data[..]),
        tudi::layer::SourceFormat::FlatGeobuf,
        &[],
        None,
    )
    .unwrap_err();
    assert!(err.to_string().contains("inconsistent geometry"), "{err}");
    entries::flatgeobuf(&data);
}
