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
#[ignore = "replays fuzz/corpus (a minute in debug): run by .ci/run, or with -- --ignored"]
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
