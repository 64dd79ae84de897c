//! `labctl validate` end to end: the shipped topologies pass, every malformed
//! file of the corpus (`topology/tests/fixtures/invalid/`) fails with each of
//! its problems printed as `file:line:column: field: message`.
#![allow(clippy::unwrap_used)]
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn validate(file: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_labctl"))
        .arg("validate")
        .arg(file)
        .output()
        .unwrap()
}

#[test]
fn shipped_topologies_are_valid() {
    for name in ["hawk.yaml", "hawkv6-8.yaml", "line.yaml"] {
        let out = validate(&repo().join("topologies").join(name));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("ok"), "{name}: {stdout}");
    }
}

#[test]
fn every_malformed_file_fails_with_located_problems() {
    let dir = repo().join("topology/tests/fixtures/invalid");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 20, "only {} fixtures", files.len());
    for file in files {
        let out = validate(&file);
        assert!(!out.status.success(), "{} was accepted", file.display());
        let stderr = String::from_utf8_lossy(&out.stderr);
        let expected = topology::load(&file).unwrap_err();
        for p in expected.problems() {
            let place = format!("{}:{}:{}: ", file.display(), p.line, p.column);
            assert!(stderr.contains(&place), "{place} missing from:\n{stderr}");
            assert!(
                stderr.contains(&p.message),
                "{} missing from:\n{stderr}",
                p.message
            );
        }
    }
}

#[test]
fn a_missing_file_is_reported() {
    let out = validate(Path::new("/nonexistent/topology.yaml"));
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("/nonexistent/topology.yaml: cannot read")
    );
}

#[test]
fn graph_draws_hawk_and_refuses_invalid_files() {
    let hawk = repo().join("topologies/hawk.yaml");
    for (format, start) in [("mermaid", "---\ntitle: hawk"), ("dot", "graph \"hawk\" {")] {
        let out = Command::new(env!("CARGO_BIN_EXE_labctl"))
            .args(["graph", "--format", format])
            .arg(&hawk)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.starts_with(start), "{stdout}");
        assert!(stdout.contains("vpp6"), "{stdout}");
    }
    let bad = repo().join("topology/tests/fixtures/invalid/duplicate-sid.yaml");
    let out = Command::new(env!("CARGO_BIN_EXE_labctl"))
        .arg("graph")
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is used twice"));
}

/// `labctl up --name` and the file's `name` follow one rule: a name the file
/// refuses is refused on the command line with the same words, before
/// anything is built (so this runs without root).
#[test]
fn up_name_follows_the_file_name_rule() {
    let file = repo().join("topologies/line.yaml");
    for bad in ["Bad_Name", "t-123_4.x", "-x", "a/b"] {
        let out = Command::new(env!("CARGO_BIN_EXE_labctl"))
            .args(["up", "-q"])
            .arg(&file)
            .arg(format!("--name={bad}"))
            .output()
            .unwrap();
        assert!(!out.status.success(), "{bad}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let rule = topology::names::check_name(topology::names::NameKind::Lab, bad)
            .unwrap_err()
            .to_string();
        assert!(stderr.contains(&rule), "{bad}: {stderr}");
        let yaml = std::fs::read_to_string(&file).unwrap().replacen(
            "name: line",
            &format!("name: {bad:?}"),
            1,
        );
        let err = topology::parse_str(&yaml, "line.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.contains(&rule), "{bad}: {err}");
    }
}

/// A FIFO (or any non-regular file) is refused at once by `validate` and by
/// `up`, never read until it blocks or fills memory (issue 11 item 7).
#[test]
fn odd_files_are_refused_not_read() {
    let dir = std::env::temp_dir().join(format!("labctl-fifo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("topology.yaml");
    let _ = std::fs::remove_file(&fifo);
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo(3) with a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    for (verb, file) in [
        ("validate", fifo.as_path()),
        ("up", fifo.as_path()),
        ("up", Path::new("/dev/zero")),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_labctl"))
            .arg(verb)
            .arg(file)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{verb} {}", file.display());
        assert!(stderr.contains("not a regular file"), "{verb}: {stderr}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
