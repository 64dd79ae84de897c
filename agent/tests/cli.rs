//! The `srv6-agent` binary's commands that need no root: `check-config`
//! and `--help`.
#![allow(clippy::unwrap_used)]

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_srv6-agent");

fn example(name: &str) -> String {
    format!("{}/examples/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Run the binary with `args`: it exits with `code` and says `text` on stderr.
fn assert_refused(args: &[&str], code: i32, text: &str) {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert_eq!(out.status.code(), Some(code), "{out:?}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains(text), "{text} missing from:\n{stderr}");
}

#[test]
fn check_config_accepts_the_examples() {
    for (file, mode) in [
        (
            "controller.yaml",
            "controller mode (http://[fcbb:cc00:5::f]:5001), 1 services, 1 applications",
        ),
        (
            "standalone.yaml",
            "standalone mode, 2 services, 3 applications",
        ),
    ] {
        let out = Command::new(BIN)
            .args(["check-config", &example(file)])
            .output()
            .unwrap();
        assert!(out.status.success(), "{file}: {out:?}");
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert_eq!(stdout, format!("{}: ok: {mode}\n", example(file)));
    }
}

#[test]
fn check_config_prints_every_problem_and_fails() {
    let file = format!(
        "{}/tests/fixtures/invalid/bad-ports.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let out = Command::new(BIN)
        .args(["check-config", &file])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 3, "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "{file}:5:15: services.web.applications[0].port: 0 is not a port"
        )),
        "{stderr}"
    );
    assert_refused(
        &["check-config", "/nonexistent.yaml"],
        1,
        "/nonexistent.yaml: cannot read",
    );
}

/// Learning return paths from anyone is an explicit choice (issue 13
/// item 1): a server agent told neither whom to trust nor `--trust-any`
/// refuses to start, before it touches anything; the two do not combine.
#[test]
fn a_server_agent_must_be_told_whose_return_paths_to_learn() {
    let out = Command::new(BIN)
        .args(["server", "--interface", "eth0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "srv6-agent: say whose packets may set return paths: \
         --trusted-prefix PREFIX (repeatable) or --trust-any\n"
    );
    let out = Command::new(BIN)
        .args([
            "server",
            "--interface",
            "eth0",
            "--trust-any",
            "--trusted-prefix",
            "fc00::/16",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("cannot be used with"));
}

/// `client --help` explains both modes and the DNS table's capacity;
/// a table of no entries is refused as a usage error before anything runs.
#[test]
fn client_help_explains_the_modes_and_the_dns_capacity_is_checked() {
    let out = Command::new(BIN)
        .args(["client", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let help = String::from_utf8(out.stdout).unwrap();
    for text in ["Controller mode", "Standalone mode", "--dns-capacity <N>"] {
        assert!(help.contains(text), "{text} missing from:\n{help}");
    }
    assert!(help.contains("[default: 4096]"), "{help}");
    assert_refused(
        &[
            "client",
            "-i",
            "eth0",
            "-c",
            "x.yaml",
            "--dns-capacity",
            "0",
        ],
        2,
        "invalid value '0' for '--dns-capacity <N>'",
    );
}
