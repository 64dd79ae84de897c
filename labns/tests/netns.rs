//! Privileged tests (run as root): every test makes its own namespaces,
//! named `lns<pid>-<n>`, removed by a guard even when the test panics.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use labns::netns;
use labns::{run_in, spawn_command_in, NetNsGuard, ProcState, SpawnOptions, Wait};

/// A namespace that exists for one test (and its `/etc/netns` directory,
/// should the test make one).
struct TestNs(netns::Scoped);

impl TestNs {
    fn new() -> TestNs {
        TestNs(netns::Scoped::create(&netns::unique_name("lns")).unwrap())
    }

    fn name(&self) -> &str {
        self.0.name()
    }
}

impl Drop for TestNs {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(Path::new("/etc/netns").join(self.name()));
    }
}

/// The network namespace inode of the calling thread.
fn thread_ns() -> u64 {
    fs::metadata("/proc/thread-self/ns/net").unwrap().ino()
}

#[test]
fn create_is_exclusive_and_delete_is_idempotent() {
    let ns = TestNs::new();
    assert!(netns::exists(ns.name()));
    let ino = netns::inode(ns.name()).unwrap();
    assert_ne!(ino, thread_ns(), "a new namespace, not ours");
    match netns::create(ns.name()) {
        Err(labns::Error::Exists { name }) => assert_eq!(name, ns.name()),
        other => panic!("second create: {other:?}"),
    }
    assert_eq!(
        netns::inode(ns.name()),
        Some(ino),
        "the first one is untouched"
    );
    netns::delete(ns.name()).unwrap();
    assert!(!netns::exists(ns.name()));
    netns::delete(ns.name()).unwrap();
    // A placeholder left by a crash between claim and mount is removed too.
    fs::write(netns::path(ns.name()).unwrap(), b"").unwrap();
    netns::delete(ns.name()).unwrap();
    assert!(!netns::exists(ns.name()));
}

#[test]
fn a_scoped_namespace_is_removed_on_drop_even_by_a_panic() {
    let name = netns::unique_name("lns");
    let n = name.clone();
    let r = std::panic::catch_unwind(move || {
        let _ns = netns::Scoped::create(&n).unwrap();
        assert!(netns::exists(&n));
        panic!("test failed");
    });
    assert!(r.is_err());
    assert!(!netns::exists(&name));
}

#[test]
fn the_guard_enters_and_restores_even_on_panic() {
    let ns = TestNs::new();
    let inside = netns::inode(ns.name()).unwrap();
    let name = ns.name().to_string();
    std::thread::spawn(move || {
        let before = thread_ns();
        {
            let guard = NetNsGuard::enter(&name).unwrap();
            assert_eq!(guard.name(), name);
            assert_eq!(thread_ns(), inside);
        }
        assert_eq!(thread_ns(), before);
        let r = std::panic::catch_unwind(|| {
            let _guard = NetNsGuard::enter(&name).unwrap();
            panic!("inside");
        });
        assert!(r.is_err());
        assert_eq!(thread_ns(), before, "restored while unwinding");
        assert!(NetNsGuard::enter("lns-no-such-namespace").is_err());
        assert_eq!(thread_ns(), before);
    })
    .join()
    .unwrap();
}

#[test]
fn run_in_runs_on_its_own_thread_inside_the_namespace() {
    let ns = TestNs::new();
    let inside = netns::inode(ns.name()).unwrap();
    let caller = thread_ns();
    let (ino, forwarding) = run_in(ns.name(), || {
        netns::sysctl("net/ipv6/conf/all/forwarding", "1").unwrap();
        let f = fs::read_to_string("/proc/sys/net/ipv6/conf/all/forwarding").unwrap();
        (thread_ns(), f.trim().to_string())
    })
    .unwrap();
    assert_eq!(ino, inside);
    assert_eq!(forwarding, "1");
    assert_eq!(thread_ns(), caller, "the caller never moved");
    // The sysctl belonged to the namespace: a fresh one starts at 0.
    let other = TestNs::new();
    let f = run_in(other.name(), || {
        fs::read_to_string("/proc/sys/net/ipv6/conf/all/forwarding").unwrap()
    })
    .unwrap();
    assert_eq!(f.trim(), "0");
    assert!(matches!(
        run_in("lns-no-such-namespace", || ()),
        Err(labns::Error::NetnsRs { .. })
    ));
}

#[test]
#[should_panic(expected = "closure panicked inside")]
fn a_panic_in_run_in_reaches_the_caller() {
    let ns = TestNs::new();
    run_in(ns.name(), || panic!("closure panicked inside")).unwrap();
}

#[test]
fn a_spawned_command_is_inside_from_the_start_and_found_by_namespace() {
    let ns = TestNs::new();
    let ino = netns::inode(ns.name()).unwrap();
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "readlink /proc/self/ns/net; exec sleep 30"])
        .stdout(Stdio::piped());
    let mut s = spawn_command_in(ns.name(), &mut cmd, &SpawnOptions::new().new_session()).unwrap();
    let line = Wait::new("readlink output", Duration::from_secs(10))
        .for_line(s.child.stdout.take().unwrap(), |_| true)
        .unwrap();
    assert_eq!(line, format!("net:[{ino}]"));
    assert_eq!(s.id.pid, s.child.id() as i32);
    assert_eq!(s.id.state(), ProcState::Running);
    assert!(labns::proc::pids_in_netns(&[ino]).contains(&s.id.pid));
    // Its own session: the session id (field 6 of stat) is its pid.
    let stat = fs::read_to_string(format!("/proc/{}/stat", s.id.pid)).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 1..];
    let sid: i32 = after.split_whitespace().nth(3).unwrap().parse().unwrap();
    assert_eq!(sid, s.id.pid);
    assert!(s.id.signal(labns::Signal::SIGKILL).unwrap());
    s.child.wait().unwrap();
    assert_eq!(s.id.state(), ProcState::Gone);
}

#[test]
fn the_etc_overlay_shows_the_namespace_files_and_leaves_the_host_alone() {
    let ns = TestNs::new();
    let dir = Path::new("/etc/netns").join(ns.name());
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("resolv.conf"), "nameserver fcbb:cc00:4::f\n").unwrap();
    fs::write(dir.join("no-such-file-in-etc"), "x").unwrap();
    let host = fs::read("/etc/resolv.conf").unwrap();
    let mut cmd = Command::new("cat");
    cmd.arg("/etc/resolv.conf").stdout(Stdio::piped());
    let s = spawn_command_in(ns.name(), &mut cmd, &SpawnOptions::new().etc_overlay()).unwrap();
    let out = s.child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout, b"nameserver fcbb:cc00:4::f\n");
    assert_eq!(
        fs::read("/etc/resolv.conf").unwrap(),
        host,
        "host untouched"
    );
    assert!(!Path::new("/etc/no-such-file-in-etc").exists());
    // Without the overlay the command sees the host's file.
    let mut cmd = Command::new("cat");
    cmd.arg("/etc/resolv.conf").stdout(Stdio::piped());
    let s = spawn_command_in(ns.name(), &mut cmd, &SpawnOptions::new()).unwrap();
    assert_eq!(s.child.wait_with_output().unwrap().stdout, host);
}

/// A caller that holds its interrupts (`signals::Deferred` blocks them)
/// must not hand that mask to its children: they would never see the
/// SIGTERM that stops them.
#[test]
fn a_spawned_command_starts_with_no_signal_blocked() {
    let ns = TestNs::new();
    let name = ns.name().to_string();
    let line = std::thread::spawn(move || {
        let mut held = nix::sys::signal::SigSet::empty();
        for s in labns::signals::INTERRUPTS {
            held.add(s);
        }
        held.thread_block().unwrap();
        let mut cmd = Command::new("grep");
        cmd.args(["^SigBlk:", "/proc/self/status"])
            .stdout(Stdio::piped());
        let s = spawn_command_in(&name, &mut cmd, &SpawnOptions::new()).unwrap();
        String::from_utf8(s.child.wait_with_output().unwrap().stdout).unwrap()
    })
    .join()
    .unwrap();
    assert_eq!(
        line.split_whitespace().collect::<Vec<_>>(),
        ["SigBlk:", "0000000000000000"]
    );
}

#[test]
fn spawning_into_a_missing_namespace_fails_before_forking() {
    let mut cmd = Command::new("true");
    let err =
        spawn_command_in("lns-no-such-namespace", &mut cmd, &SpawnOptions::new()).unwrap_err();
    assert!(err.to_string().contains("lns-no-such-namespace"), "{err}");
}

/// `hostname(NAME)`: the command runs in a UTS namespace of its own named
/// NAME (`uname -n` says so); the host's name is untouched, and a command
/// spawned without it sees the host's.
#[test]
fn a_hostname_names_the_commands_own_uts_namespace() {
    let ns = TestNs::new();
    let host = nix::sys::utsname::uname().unwrap().nodename().to_owned();
    let uname = |opts: &SpawnOptions| {
        let mut cmd = Command::new("uname");
        cmd.arg("-n").stdout(Stdio::piped());
        let s = spawn_command_in(ns.name(), &mut cmd, opts).unwrap();
        String::from_utf8(s.child.wait_with_output().unwrap().stdout).unwrap()
    };
    assert_eq!(uname(&SpawnOptions::new().hostname("vpp1")), "vpp1\n");
    assert_eq!(
        nix::sys::utsname::uname().unwrap().nodename(),
        host.as_os_str(),
        "host untouched"
    );
    assert_eq!(
        uname(&SpawnOptions::new()),
        format!("{}\n", host.to_string_lossy())
    );
}
