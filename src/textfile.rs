//! Output helper after the render stage: replaces a file atomically, so a reader (node
//! exporter's textfile collector, Ansible's facts.d) sees the old file or the new one,
//! never a partial one.
//!
//! The steps are the classic ones: a temporary file in the same directory (rename is atomic
//! only within one file system), write, fsync the file (so the rename cannot reach the disk
//! before the data), rename over the target, fsync the directory (so the rename itself
//! survives a crash).

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
#[cfg(unix)]
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

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
    // Readable by the collector, whatever the umask of a root cron job.
    #[cfg(unix)]
    options.mode(0o644);
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

    #[test]
    fn missing_directory_is_an_error_not_a_file() {
        let target = Path::new("/nonexistent-portscope-dir/portscope.prom");
        let err = replace(target, |w| w.write_all(b"x")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}
