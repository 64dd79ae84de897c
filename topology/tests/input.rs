//! Input files (issue 11 item 7): only regular files are read, never more
//! than the limit. A FIFO refused here would otherwise block the test
//! forever; `/dev/zero` would be read until memory runs out.
#![allow(clippy::unwrap_used)]
use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use topology::{read_input_file, FileKind, LoadError, ReadFileError, MAX_INPUT_FILE_BYTES};

fn mkfifo(path: &Path) {
    let c_path = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo only creates a node.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
}

/// The error of `topology::load`, which must be a read error.
fn load_refusal(path: &Path) -> ReadFileError {
    match topology::load(path) {
        Err(LoadError::Read(e)) => e,
        other => panic!("{}: expected a read error, got {other:?}", path.display()),
    }
}

fn assert_not_regular(err: &ReadFileError, path: &Path, want: FileKind) {
    match err {
        ReadFileError::NotRegularFile { path: p, kind } => {
            assert_eq!((p.as_path(), *kind), (path, want), "{err}");
        }
        other => panic!("expected NotRegularFile({want:?}), got {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("{}: cannot read: it is a {want}", path.display())),
        "{text}"
    );
}

#[test]
fn a_fifo_is_refused_without_waiting_for_a_writer() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("topology.yaml");
    mkfifo(&fifo);
    assert_not_regular(&load_refusal(&fifo), &fifo, FileKind::Fifo);
    assert_eq!(FileKind::Fifo.to_string(), "FIFO (named pipe)");

    // Through a symbolic link, too.
    let link = dir.path().join("link.yaml");
    std::os::unix::fs::symlink(&fifo, &link).unwrap();
    assert_not_regular(&load_refusal(&link), &link, FileKind::Fifo);
}

#[test]
fn a_device_is_refused_unread() {
    let zero = Path::new("/dev/zero");
    assert_not_regular(&load_refusal(zero), zero, FileKind::CharDevice);
}

#[test]
fn a_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    assert_not_regular(&load_refusal(dir.path()), dir.path(), FileKind::Directory);
}

#[test]
fn a_file_over_the_limit_is_refused_by_its_size() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.yaml");
    // Sparse: no disk space used, the size alone is over the limit.
    let file = fs::File::create(&big).unwrap();
    file.set_len(MAX_INPUT_FILE_BYTES + 1).unwrap();
    let err = load_refusal(&big);
    match &err {
        ReadFileError::TooLarge { path, size, limit } => assert_eq!(
            (path.as_path(), *size, *limit),
            (big.as_path(), MAX_INPUT_FILE_BYTES + 1, 16 * 1024 * 1024)
        ),
        other => panic!("expected TooLarge, got {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        format!(
            "{}: cannot read: 16777217 bytes is more than the limit of 16777216 bytes",
            big.display()
        )
    );
}

#[test]
fn the_limit_is_inclusive() {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("five.yaml");
    fs::write(&path, "abcde").unwrap();
    assert_eq!(read_input_file(&path, 5).unwrap(), "abcde");
    assert!(matches!(
        read_input_file(&path, 4),
        Err(ReadFileError::TooLarge {
            size: 5,
            limit: 4,
            ..
        })
    ));
}

/// `/proc` files are regular but claim size 0: the limit holds while
/// reading, not only by the size on disk.
#[test]
fn a_file_larger_than_its_stated_size_is_cut_at_the_limit() {
    let status = Path::new("/proc/self/status");
    assert_eq!(fs::metadata(status).unwrap().len(), 0);
    match read_input_file(status, 16) {
        Err(ReadFileError::TooLarge { size, limit, .. }) => assert_eq!((size, limit), (17, 16)),
        other => panic!("expected TooLarge, got {other:?}"),
    }
    let whole = read_input_file(status, MAX_INPUT_FILE_BYTES).unwrap();
    assert!(whole.starts_with("Name:"), "{whole}");
}

#[test]
fn binary_files_are_refused_with_the_offset() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("image.yaml");
    fs::write(&path, b"name: x\n\xff\xfe").unwrap();
    let err = load_refusal(&path);
    assert!(
        matches!(err, ReadFileError::NotUtf8 { offset: 8, .. }),
        "{err:?}"
    );
    assert_eq!(err.path(), path);
}
