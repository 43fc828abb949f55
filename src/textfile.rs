//! Output helper after the render stage: writes a user-named file the way a careful
//! operator expects. A regular file is replaced atomically, so a reader (node exporter's
//! textfile collector, Ansible's facts.d) sees the old file or the new one, never a partial
//! one; a FIFO or a character device (`/dev/null`, a terminal, `/dev/stdout`) is written to
//! directly, as a shell redirection would, and is never replaced; anything else is refused.
//!
//! The atomic steps are the classic ones: a temporary file in the same directory (rename is
//! atomic only within one file system), created with O_EXCL|O_NOFOLLOW (never through a
//! planted link), write, fsync the file (so the rename cannot reach the disk before the
//! data), rename over the target, fsync the directory (so the rename itself survives a
//! crash).

use crate::error::Error;
#[cfg(not(unix))]
use std::fs::FileType;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
#[cfg(unix)]
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Where a user-named output goes, decided from what the path is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// Our own standard output (`-`, or a path naming the same file: `/dev/stdout`).
    Stdout,
    /// A regular file (or a new one) replaced atomically: the path itself, or the target
    /// a symlink resolves to (the link stays a link).
    Replace(PathBuf),
    /// A FIFO or character device, opened for writing as a shell redirection does.
    Direct(PathBuf),
}

/// Decides where output for `path` goes. Err: a directory, socket, block device, or a
/// symlink to nothing: bad input (exit 2), with the path named.
pub fn destination(path: &Path) -> Result<Destination, Error> {
    if path.as_os_str() == "-" {
        return Ok(Destination::Stdout);
    }
    let refuse = |why: &str| Error::invalid("output file", path.display().to_string(), why);
    let link = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(Destination::Replace(path.to_path_buf()))
        }
        Err(e) => return Err(refuse(&e.to_string())),
    };
    // A link someone else planted (in a directory they may write, such as a textfile
    // directory another user owns) would aim a root cron job anywhere: /etc/shadow
    // replaced, /dev/port written. Followed only when this user or root owns it.
    if link.file_type().is_symlink() {
        if let Some(why) = foreign_link(&link) {
            return Err(refuse(&why));
        }
    }
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if link.file_type().is_symlink() && e.kind() == io::ErrorKind::NotFound => {
            return Err(refuse("a symlink to a file that does not exist"))
        }
        Err(e) => return Err(refuse(&e.to_string())),
    };
    if is_our_stdout(&meta) {
        return Ok(Destination::Stdout);
    }
    let t = meta.file_type();
    if t.is_file() {
        if !link.file_type().is_symlink() {
            return Ok(Destination::Replace(path.to_path_buf()));
        }
        return match std::fs::canonicalize(path) {
            Ok(real) => Ok(Destination::Replace(real)),
            Err(e) => Err(refuse(&format!("cannot resolve the symlink: {e}"))),
        };
    }
    if is_stream(&t) {
        return Ok(Destination::Direct(path.to_path_buf()));
    }
    Err(refuse(refusal(&t)))
}

/// Why a symlink is not followed: it belongs to neither this user nor root.
#[cfg(unix)]
fn foreign_link(link: &std::fs::Metadata) -> Option<String> {
    let me = rustix::process::geteuid().as_raw();
    (link.uid() != me && link.uid() != 0).then(|| {
        format!(
            "a symlink owned by uid {} (neither this user nor root): not followed",
            link.uid()
        )
    })
}

#[cfg(not(unix))]
fn foreign_link(_: &std::fs::Metadata) -> Option<String> {
    None
}

/// A FIFO or a character device: written to in place, never replaced.
#[cfg(unix)]
fn is_stream(t: &std::fs::FileType) -> bool {
    t.is_fifo() || t.is_char_device()
}

#[cfg(not(unix))]
fn is_stream(_: &FileType) -> bool {
    false
}

#[cfg(unix)]
fn refusal(t: &std::fs::FileType) -> &'static str {
    match () {
        _ if t.is_dir() => "a directory, not a file",
        _ if t.is_socket() => "a socket, not a file",
        _ if t.is_block_device() => "a block device, not a file",
        _ => "not a regular file, FIFO or character device",
    }
}

#[cfg(not(unix))]
fn refusal(t: &FileType) -> &'static str {
    if t.is_dir() {
        "a directory, not a file"
    } else {
        "not a regular file"
    }
}

/// Whether `meta` is the file our standard output already writes to.
#[cfg(unix)]
fn is_our_stdout(meta: &std::fs::Metadata) -> bool {
    std::fs::metadata("/proc/self/fd/1")
        .or_else(|_| std::fs::metadata("/dev/fd/1"))
        .is_ok_and(|o| o.dev() == meta.dev() && o.ino() == meta.ino() && o.rdev() == meta.rdev())
}

#[cfg(not(unix))]
fn is_our_stdout(_: &std::fs::Metadata) -> bool {
    false
}

/// Writes through `fill` to where `path` says (see [`destination`]); `stdout` serves
/// `Destination::Stdout`. Refusals are [`Error`]s; write failures name the file.
pub fn write_output<F>(path: &Path, stdout: &mut dyn Write, fill: F) -> anyhow::Result<()>
where
    F: FnOnce(&mut dyn Write) -> io::Result<()>,
{
    use anyhow::Context as _;
    match destination(path)? {
        Destination::Stdout => {
            fill(stdout)?;
            stdout.flush()?;
            Ok(())
        }
        Destination::Replace(target) => {
            replace(&target, fill).with_context(|| format!("cannot write '{}'", target.display()))
        }
        Destination::Direct(target) => write_direct(&target, fill)
            .with_context(|| format!("cannot write '{}'", target.display())),
    }
}

/// Opens a FIFO or character device for writing (no O_CREAT, no O_TRUNC: nothing is
/// created or truncated) and checks, on the descriptor, that it still is one: a path
/// swapped for a regular file between the check and the open is refused, not overwritten.
fn write_direct<F>(target: &Path, fill: F) -> io::Result<()>
where
    F: FnOnce(&mut dyn Write) -> io::Result<()>,
{
    let mut options = OpenOptions::new();
    options.write(true);
    // O_NONBLOCK: a FIFO nobody reads fails at once (ENXIO) instead of blocking the
    // open for ever (a cron job that never ends); blocking writes are restored below.
    #[cfg(unix)]
    options.custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK);
    let file = options.open(target).map_err(|e| {
        #[cfg(unix)]
        let no_reader = e.raw_os_error() == Some(libc::ENXIO);
        #[cfg(not(unix))]
        let no_reader = false;
        if no_reader {
            io::Error::other("a FIFO that nothing reads (no reader: nothing was written)")
        } else {
            e
        }
    })?;
    if !is_stream(&file.metadata()?.file_type()) {
        return Err(io::Error::other(
            "changed into something other than a FIFO or character device",
        ));
    }
    #[cfg(unix)]
    {
        use rustix::fs::{fcntl_getfl, fcntl_setfl, OFlags};
        fcntl_setfl(&file, fcntl_getfl(&file)? - OFlags::NONBLOCK)?;
    }
    let mut w = BufWriter::with_capacity(64 * 1024, file);
    fill(&mut w)?;
    w.flush()
}

/// The temporary file's name: hidden and not ending in `.prom`, so the textfile collector
/// (which reads `*.prom`) never picks it up; the PID keeps two concurrent runs apart.
fn temp_path(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

fn parent_dir(target: &Path) -> &Path {
    match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Writes `target` through `fill`, atomically. On any error the temporary file is removed
/// and `target` is left as it was. The new file is mode 0644 (less the umask).
pub fn replace<F>(target: &Path, fill: F) -> io::Result<()>
where
    F: FnOnce(&mut dyn Write) -> io::Result<()>,
{
    let tmp = temp_path(target);
    // A leftover from a killed run with the same PID: ours to remove.
    let _ = std::fs::remove_file(&tmp);
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    // Readable by the collector, whatever the umask of a root cron job; O_EXCL (create_new)
    // and O_NOFOLLOW: a link planted at the temporary name is never followed.
    #[cfg(unix)]
    options
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC);
    let file = options.open(&tmp)?;
    let result = write_and_sync(file, fill).and_then(|()| std::fs::rename(&tmp, target));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    File::open(parent_dir(target))?.sync_all()
}

fn write_and_sync<F>(file: File, fill: F) -> io::Result<()>
where
    F: FnOnce(&mut dyn Write) -> io::Result<()>,
{
    let mut w = BufWriter::with_capacity(64 * 1024, file);
    fill(&mut w)?;
    let file = w.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("portscope-textfile-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir(&d).unwrap();
        d
    }

    #[test]
    fn replaces_content_and_leaves_no_temporary_file() {
        let d = scratch("replace");
        let target = d.join("portscope.prom");
        replace(&target, |w| w.write_all(b"one\n")).unwrap();
        replace(&target, |w| w.write_all(b"two\n")).unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "two\n");
        let names: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["portscope.prom"]);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn failed_fill_keeps_the_old_file_and_removes_the_temporary() {
        let d = scratch("fail");
        let target = d.join("portscope.prom");
        replace(&target, |w| w.write_all(b"old\n")).unwrap();
        let err = replace(&target, |w| {
            w.write_all(b"half")?;
            Err(io::Error::other("renderer failed"))
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "renderer failed");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "old\n");
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 1);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn destination_follows_what_the_path_is() {
        let d = scratch("dest");
        let file = d.join("a.prom");
        assert_eq!(
            destination(&file).unwrap(),
            Destination::Replace(file.clone())
        );
        std::fs::write(&file, "x").unwrap();
        assert_eq!(
            destination(&file).unwrap(),
            Destination::Replace(file.clone())
        );
        let link = d.join("link");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        let real = std::fs::canonicalize(&file).unwrap();
        assert_eq!(destination(&link).unwrap(), Destination::Replace(real));
        assert_eq!(destination(Path::new("-")).unwrap(), Destination::Stdout);
        assert_eq!(
            destination(&d).unwrap_err().to_string(),
            format!(
                "invalid output file '{}': a directory, not a file",
                d.display()
            )
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn missing_directory_is_an_error_not_a_file() {
        let target = Path::new("/nonexistent-portscope-dir/portscope.prom");
        let err = replace(target, |w| w.write_all(b"x")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}
