//! Collect stage, Linux: opening a network namespace file without trusting what it is.
//! /run/netns entries, `--netns PATH` and /proc/PID/ns/net links are all opened here: an
//! O_PATH descriptor first (a FIFO cannot block, a device is never opened), checked to be
//! on nsfs and to be a network namespace before anything reads or enters it.

use crate::model::NetnsReason;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

/// nsfs's magic number (statfs f_type): the file system of namespace files.
const NSFS_MAGIC: i64 = 0x6e73_6673;

/// Why a path could not be opened as a network namespace.
#[derive(Debug)]
pub struct NsOpenError {
    pub reason: NetnsReason,
    pub detail: String,
}

impl NsOpenError {
    fn of_io(e: &io::Error) -> NsOpenError {
        let reason = match e.kind() {
            io::ErrorKind::NotFound => NetnsReason::Gone,
            io::ErrorKind::PermissionDenied => NetnsReason::PermissionDenied,
            _ if e.raw_os_error() == Some(libc::ESRCH) => NetnsReason::Gone,
            _ => NetnsReason::Unreadable,
        };
        NsOpenError {
            reason,
            detail: e.to_string(),
        }
    }

    fn not_a_namespace(what: &str) -> NsOpenError {
        NsOpenError {
            reason: NetnsReason::NotANamespace,
            detail: format!("{what}, not a network namespace"),
        }
    }
}

impl From<NsOpenError> for io::Error {
    fn from(e: NsOpenError) -> io::Error {
        let kind = match e.reason {
            NetnsReason::PermissionDenied => io::ErrorKind::PermissionDenied,
            NetnsReason::Gone => io::ErrorKind::NotFound,
            NetnsReason::NotANamespace => io::ErrorKind::InvalidInput,
            NetnsReason::Unreadable => io::ErrorKind::Other,
        };
        io::Error::new(kind, e.detail)
    }
}

/// What a file that is not nsfs is, for the message.
fn kind_of(meta: &std::fs::Metadata) -> &'static str {
    let t = meta.file_type();
    match () {
        _ if t.is_fifo() => "a FIFO",
        _ if t.is_socket() => "a socket",
        _ if t.is_char_device() => "a character device",
        _ if t.is_block_device() => "a block device",
        _ if t.is_dir() => "a directory",
        _ if t.is_file() => "a regular file",
        _ => "not an nsfs file",
    }
}

/// Opens a network namespace file without trusting what it is: an O_PATH descriptor
/// first (which opens nothing: a FIFO cannot block, a device is never opened), checked to
/// be on nsfs (fstatfs NSFS_MAGIC); only then reopened for reading through that very
/// descriptor and checked to be a network namespace (NS_GET_NSTYPE). Returns the readable
/// descriptor, for setns.
pub fn open_netns(path: &Path) -> Result<OwnedFd, NsOpenError> {
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| NsOpenError::not_a_namespace("a path with a NUL byte"))?;
    // SAFETY: open on a NUL-terminated path; the descriptor is owned right below.
    let raw = unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
    if raw < 0 {
        return Err(NsOpenError::of_io(&io::Error::last_os_error()));
    }
    // SAFETY: a descriptor just returned by open, owned by nobody else.
    let located = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: fstatfs into a zeroed statfs on our descriptor.
    let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above: our descriptor, a local statfs.
    if unsafe { libc::fstatfs(located.as_raw_fd(), &mut fs) } != 0 {
        return Err(NsOpenError::of_io(&io::Error::last_os_error()));
    }
    #[allow(clippy::unnecessary_cast)]
    if fs.f_type as i64 != NSFS_MAGIC {
        let what = std::fs::File::from(located)
            .metadata()
            .map_or("not an nsfs file", |m| kind_of(&m));
        return Err(NsOpenError::not_a_namespace(what));
    }
    // The same file, now known to be a namespace: opening it for reading has no effect.
    let file = std::fs::File::open(format!("/proc/self/fd/{}", located.as_raw_fd()))
        .map_err(|e| NsOpenError::of_io(&e))?;
    const NS_GET_NSTYPE: libc::c_ulong = 0xb703;
    // SAFETY: an ioctl without arguments on a descriptor we own.
    let t = unsafe { libc::ioctl(file.as_raw_fd(), NS_GET_NSTYPE as _) };
    if t != libc::CLONE_NEWNET {
        return Err(NsOpenError::not_a_namespace("a namespace of another kind"));
    }
    Ok(file.into())
}

/// The inode of the namespace `path` names, checked as [`open_netns`] does.
pub fn checked_inode(path: &Path) -> Result<u64, NsOpenError> {
    let fd = open_netns(path)?;
    std::fs::File::from(fd)
        .metadata()
        .map(|m| m.ino())
        .map_err(|e| NsOpenError::of_io(&e))
}
