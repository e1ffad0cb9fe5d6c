//! Tests of rule files: the shipped `rules/homestead.toml`, and bad files
//! refused with the file, the rule and the reason.

use std::path::Path;

use super::RuleSet;
use super::tests_support::*;

fn try_load(text: &str) -> Result<RuleSet, String> {
    let snap = world();
    let cat = catalog(&snap);
    RuleSet::from_str(Path::new("rules/test.toml"), text, &|id: &str| {
        cat.get(id).cloned()
    })
    .map_err(|e| e.to_string())
}

const HEAD: &str = "id = \"t\"\nversion = \"1\"\ntitle = \"t\"\n";

fn rule(body: &str) -> String {
    format!("{HEAD}[[rule]]\nid = \"r1\"\ntitle = \"T\"\nbasis = \"B\"\n{body}\n")
}

#[test]
fn rule_file_loads_and_hashes() {
    let snap = world();
    let rules = homestead_rules(&snap);
    assert_eq!(rules.rules.len(), 13);
    let bytes = std::fs::read("rules/homestead.toml").expect("rule file");
    use sha2::Digest;
    assert_eq!(rules.hash, hex::encode(sha2::Sha256::digest(&bytes)));
    assert!(
        rules
            .rules
            .iter()
            .all(|r| !r.basis.is_empty() && r.title.contains(' '))
    );
    assert_eq!(rules.layers().len(), 13);
}

#[test]
fn bad_rule_files_are_refused_with_file_rule_and_reason() {
    let cases = [
        (
            rule("predicate = \"no_overlap\"\nlayer = \"farmlnd\""),
            "layer `farmlnd` is not configured",
        ),
        (
            rule(
                "predicate = \"min_distance\"\nlayer = \"roads\"\nclass_field = \"kind\"\ndistances = { national = 20 }",
            ),
            "attribute `kind`",
        ),
        (
            rule("predicate = \"no_overlap\"\nlayer = \"farmland\"\ntolerance_m2 = -1"),
            "must be a finite number >= 0",
        ),
        (
            rule("predicate = \"no_overlap\"\nlayer = \"farmland\"\ntolerance_m2 = nan"),
            "must be a finite number >= 0",
        ),
        (
            rule("predicate = \"area_cap\"\ncaps = { plain = inf }"),
            "must be a finite number >= 0",
        ),
        (
            rule("predicate = \"near\"\nlayer = \"farmland\""),
            "unknown predicate `near`",
        ),
        (
            rule("predicate = \"no_overlap\"\nlayer = \"farmland\"\ntolerence_m2 = 1"),
            "unknown key `tolerence_m2`",
        ),
        (
            rule("predicate = \"area_cap\"\ncaps = { plain = 80 }\nlayer = \"farmland\""),
            "does not apply",
        ),
        (
            rule(
                "predicate = \"min_distance\"\nlayer = \"power_lines\"\nband_field = \"kv\"\nbands = [{ min = 1, max = 10, distance_m = 5 }, { min = 10, max = 20, distance_m = 7 }]",
            ),
            "overlaps band",
        ),
        (
            rule("predicate = \"attribute_limits\"\nlimits = [{ field = \"height\", max = 4 }]"),
            "no such field",
        ),
        (
            format!(
                "{}[[rule]]\nid = \"r1\"\ntitle = \"T\"\nbasis = \"B\"\npredicate = \"area_cap\"\ncaps = {{ plain = 80 }}\n",
                rule("predicate = \"area_cap\"\ncaps = { plain = 80 }")
            ),
            "duplicate rule id",
        ),
        (format!("{HEAD}colour = 1\n"), "unknown field `colour`"),
        (
            rule(
                "predicate = \"zone_class\"\nlayer = \"zoning\"\nfield = \"zone_class\"\nclasses = { a = \"ok\" }",
            ),
            "expected pass, manual or fail",
        ),
    ];
    for (text, want) in cases {
        let err = try_load(&text).expect_err(&text);
        assert!(err.contains(want), "{err}\n  does not say: {want}");
        assert!(err.starts_with("rules/test.toml"), "{err}");
        if err.contains("rule `") {
            assert!(err.contains("rule `r1`"), "{err}");
        }
    }
    assert!(try_load(&rule("predicate = \"area_cap\"\ncaps = { plain = 80 }")).is_ok());
}
