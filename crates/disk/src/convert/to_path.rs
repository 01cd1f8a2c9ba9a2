//! The CLI's output: a conversion into a new file that appears under its name only
//! when complete (O_TMPFILE, then link and rename), with the permission bits asked for.

use super::{convert, io, ConvertOptions, ConvertStats, ConvertTarget};
use crate::image::VirtualDisk;
use crate::{Error, Result};
use std::fs::File;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

impl ConvertTarget for File {
    fn reserve(&mut self, len: u64) -> std::io::Result<()> {
        self.set_len(len)
    }
    fn finish_len(&mut self, len: u64) -> std::io::Result<()> {
        self.set_len(len)
    }
}

/// Convert to the file `dst` atomically: the data goes to an unnamed temporary file in
/// the same directory (O_TMPFILE, or a hidden `.NAME.imgport-partial-PID` where the
/// filesystem lacks it) that is linked/renamed to `dst` only when complete, so an
/// interrupted conversion never leaves a file under the final name. Refuses to replace
/// an existing `dst` unless `overwrite`. A `dst` that is a symbolic link is refused
/// even with `overwrite`: neither written through nor replaced. The output gets the
/// permission bits `opts.mode`, whatever the umask.
pub fn convert_to_path(
    src: &dyn VirtualDisk,
    dst: &Path,
    opts: &ConvertOptions,
    overwrite: bool,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<ConvertStats> {
    let existing = dst.symlink_metadata();
    if existing.as_ref().is_ok_and(|m| m.file_type().is_symlink()) {
        let target = std::fs::read_link(dst)
            .map(|t| format!(" (to {})", t.display()))
            .unwrap_or_default();
        return Err(io(
            &dst.display().to_string(),
            std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!(
                    "destination is a symbolic link{target}: refusing to write through it or to replace it, also with --force; remove the link or name a path that is not one"
                ),
            ),
        ));
    }
    if !overwrite && existing.is_ok() {
        return Err(io(
            &dst.display().to_string(),
            std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "destination exists (use --force to replace it)",
            ),
        ));
    }
    let dir = match dst.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = dst.file_name().ok_or_else(|| {
        io(
            &dst.display().to_string(),
            std::io::Error::other("no file name"),
        )
    })?;
    let partial = dir.join(format!(
        ".{}.imgport-partial-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let (file, named) = match open_unnamed(&dir) {
        Some(f) => (f, false),
        None => (
            File::options()
                .write(true)
                .read(true)
                .create_new(true)
                .mode(0o600)
                .open(&partial)
                .map_err(|e| io(&partial.display().to_string(), e))?,
            true,
        ),
    };
    let cleanup = |e: Error| {
        if named {
            let _ = std::fs::remove_file(&partial);
        }
        e
    };
    // Created 0600 (less under a strict umask); now exactly the mode asked for.
    rustix::fs::fchmod(&file, rustix::fs::Mode::from_raw_mode(opts.mode & 0o777))
        .map_err(|e| cleanup(io(&partial.display().to_string(), e.into())))?;
    let (file, stats) = convert(src, file, opts, progress).map_err(cleanup)?;
    if opts.sync {
        file.sync_all().map_err(|e| cleanup(io("output", e)))?;
    }
    if !named {
        // Give the unnamed file the hidden name, then rename over the destination.
        let fd_path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&file));
        rustix::fs::linkat(
            rustix::fs::CWD,
            fd_path.as_str(),
            rustix::fs::CWD,
            &partial,
            rustix::fs::AtFlags::SYMLINK_FOLLOW,
        )
        .map_err(|e| io(&partial.display().to_string(), e.into()))?;
    }
    let renamed = if overwrite {
        std::fs::rename(&partial, dst)
    } else {
        rustix::fs::renameat_with(
            rustix::fs::CWD,
            &partial,
            rustix::fs::CWD,
            dst,
            rustix::fs::RenameFlags::NOREPLACE,
        )
        .map_err(Into::into)
    };
    renamed.map_err(|e| {
        let _ = std::fs::remove_file(&partial);
        io(&dst.display().to_string(), e)
    })?;
    Ok(stats)
}

/// An unnamed file in `dir` (Linux O_TMPFILE), or `None` where unsupported.
fn open_unnamed(dir: &Path) -> Option<File> {
    use rustix::fs::{Mode, OFlags};
    let fd = rustix::fs::open(
        dir,
        OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )
    .ok()?;
    Some(File::from(fd))
}
