//! The corpus of malformed topology files: each must be refused, and its
//! message (every problem, with line, column and field) is pinned by an insta
//! snapshot. Add a file to `fixtures/invalid/` and run
//! `cargo insta test -p topology --accept` (or `INSTA_UPDATE=always cargo test`)
//! to record its message; review the diff.
#![allow(clippy::unwrap_used)]

#[test]
fn every_invalid_file_is_refused_with_located_problems() {
    let mut count = 0;
    insta::glob!("fixtures/invalid/*.yaml", |path| {
        count += 1;
        let text = std::fs::read_to_string(path).unwrap();
        let name = format!("invalid/{}", path.file_name().unwrap().to_string_lossy());
        let err = match topology::parse_str(&text, &name) {
            Ok(_) => panic!("{name} was accepted"),
            Err(e) => e,
        };
        let problems = err.problems();
        assert!(!problems.is_empty(), "{name}: no problems listed");
        for p in problems {
            assert!(
                p.line > 0 || text.trim().is_empty(),
                "{name}: problem without a line: {p:?}"
            );
        }
        insta::assert_snapshot!(err.to_string());
    });
    assert!(count >= 20, "only {count} invalid fixtures");
}

#[test]
fn many_problems_are_all_reported() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/invalid/many-problems.yaml"
    ))
    .unwrap();
    let err = topology::parse_str(&text, "many-problems.yaml").unwrap_err();
    let fields: Vec<&str> = err.problems().iter().map(|p| p.field.as_str()).collect();
    for expected in [
        "nodes.r2.sid",
        "nodes.h2.function",
        "links[1].bandwidth",
        "links[1].latency",
        "links[1].igp_metric",
        "links[3].endpoints[1]",
    ] {
        assert!(
            fields.contains(&expected),
            "{expected} missing from {fields:?}"
        );
    }
    // Sorted by position, one line each.
    assert_eq!(err.to_string().lines().count(), err.problems().len());
}

#[test]
fn read_errors_name_the_path() {
    let err = topology::load(std::path::Path::new("/nonexistent/topo.yaml")).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("/nonexistent/topo.yaml: cannot read"),
        "{err}"
    );
}
