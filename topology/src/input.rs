//! Reading an input file a user names: only a regular file, only up to a
//! size limit, only UTF-8 text.
//!
//! A path may name a FIFO (opening it waits for a writer, forever), a
//! device (`/dev/zero` never ends; opening some devices has effects) or a
//! file larger than memory. Every file the lab tools read on a user's word
//! (topologies, agent configurations, scenarios) goes through
//! [`read_input_file`], so they all refuse the same things the same way.
//!
//! # Public API
//! - [`read_input_file`]`(path, limit) -> Result<String, ReadFileError>`
//! - [`MAX_INPUT_FILE_BYTES`]: the limit [`crate::load`] uses (16 MiB).
//! - [`ReadFileError`], [`FileKind`]

use std::fmt;
use std::fs::{self, File, Metadata, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Largest input file read: 16 MiB. A topology of 10,000 routers in a
/// chain is about 1 MB, so this leaves room for any lab a machine can run
/// while a mistaken path (an image, a disk file) is refused at once.
pub const MAX_INPUT_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Why an input file was not read.
#[derive(Debug, thiserror::Error)]
pub enum ReadFileError {
    /// The operating system refused (missing file, no permission, I/O error).
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A directory, FIFO, socket or device: only regular files are read.
    #[error("{}: cannot read: it is a {kind}, not a regular file (only regular files are read)", path.display())]
    NotRegularFile { path: PathBuf, kind: FileKind },
    /// Larger than the limit.
    #[error("{}: cannot read: {size} bytes is more than the limit of {limit} bytes", path.display())]
    TooLarge {
        path: PathBuf,
        /// The size seen: the file's size, or `limit + 1` when it grew while being read.
        size: u64,
        limit: u64,
    },
    /// Not UTF-8 text.
    #[error("{}: cannot read: not UTF-8 text (invalid byte at offset {offset})", path.display())]
    NotUtf8 { path: PathBuf, offset: usize },
}

impl ReadFileError {
    /// The path that was not read.
    pub fn path(&self) -> &Path {
        match self {
            ReadFileError::Io { path, .. }
            | ReadFileError::NotRegularFile { path, .. }
            | ReadFileError::TooLarge { path, .. }
            | ReadFileError::NotUtf8 { path, .. } => path,
        }
    }
}

/// What a path names when it is not a regular file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Directory,
    /// A named pipe (`mkfifo`).
    Fifo,
    Socket,
    CharDevice,
    BlockDevice,
    /// Anything else that is not a regular file.
    Other,
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileKind::Directory => "directory",
            FileKind::Fifo => "FIFO (named pipe)",
            FileKind::Socket => "socket",
            FileKind::CharDevice => "character device",
            FileKind::BlockDevice => "block device",
            FileKind::Other => "special file",
        })
    }
}

impl FileKind {
    /// `None` for a regular file.
    fn of(meta: &Metadata) -> Option<FileKind> {
        let t = meta.file_type();
        if t.is_file() {
            None
        } else if t.is_dir() {
            Some(FileKind::Directory)
        } else if t.is_fifo() {
            Some(FileKind::Fifo)
        } else if t.is_socket() {
            Some(FileKind::Socket)
        } else if t.is_char_device() {
            Some(FileKind::CharDevice)
        } else if t.is_block_device() {
            Some(FileKind::BlockDevice)
        } else {
            Some(FileKind::Other)
        }
    }
}

/// The text of the regular file at `path` (symbolic links followed), at
/// most `limit` bytes of UTF-8.
///
/// Nothing else is opened for reading: the path is checked before it is
/// opened, and the opened file again (the path may have changed between).
/// The open itself never waits: should a FIFO appear in between, it is
/// opened non-blocking and refused. A file that grows past `limit` while
/// read is refused after `limit + 1` bytes, so memory stays bounded even
/// where the size on disk says nothing (`/proc` files say 0).
pub fn read_input_file(path: &Path, limit: u64) -> Result<String, ReadFileError> {
    let io_error = |source| ReadFileError::Io {
        path: path.to_owned(),
        source,
    };
    check(path, &fs::metadata(path).map_err(io_error)?, limit)?;
    let file = open_nonblocking(path).map_err(io_error)?;
    let meta = file.metadata().map_err(io_error)?;
    check(path, &meta, limit)?;
    let mut bytes = Vec::with_capacity(meta.len().min(limit) as usize);
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io_error)?;
    let read = bytes.len() as u64;
    if read > limit {
        return Err(ReadFileError::TooLarge {
            path: path.to_owned(),
            size: read,
            limit,
        });
    }
    String::from_utf8(bytes).map_err(|e| ReadFileError::NotUtf8 {
        path: path.to_owned(),
        offset: e.utf8_error().valid_up_to(),
    })
}

/// A regular file no larger than `limit`.
fn check(path: &Path, meta: &Metadata, limit: u64) -> Result<(), ReadFileError> {
    if let Some(kind) = FileKind::of(meta) {
        return Err(ReadFileError::NotRegularFile {
            path: path.to_owned(),
            kind,
        });
    }
    if meta.len() > limit {
        return Err(ReadFileError::TooLarge {
            path: path.to_owned(),
            size: meta.len(),
            limit,
        });
    }
    Ok(())
}

/// Open for reading without waiting for a FIFO's writer (`O_NONBLOCK`)
/// and without making a terminal ours (`O_NOCTTY`). On a regular file
/// `O_NONBLOCK` changes nothing.
fn open_nonblocking(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;

    /// The second check (of the opened file) on its own: a FIFO is opened
    /// at once, without a writer, and refused.
    #[test]
    fn a_fifo_opens_without_waiting_and_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        let c_path = CString::new(fifo.as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path; mkfifo only creates a node.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        let file = open_nonblocking(&fifo).unwrap();
        let err = check(&fifo, &file.metadata().unwrap(), MAX_INPUT_FILE_BYTES).unwrap_err();
        assert!(
            matches!(
                err,
                ReadFileError::NotRegularFile {
                    kind: FileKind::Fifo,
                    ..
                }
            ),
            "{err}"
        );
    }
}
