//! Atomic file replacement: write a temporary file beside the target, sync it, rename it over the target.
//!
//! Readers see either the old file or the new one, never a half-written one, and a crash or an error mid-write
//! leaves the old file as it was. Model files, checkpoints, PNG images and IDX files all save through it.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// Tells apart the temporary files of saves running at once in one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// How many names to try when a temporary file of the same name exists already (left by a crashed process).
const TEMP_NAME_ATTEMPTS: usize = 64;

/// Replaces the file at `path` with `bytes`, atomically.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomically_with(path, |file| file.write_all(bytes))
}

/// Replaces the file at `path` with what `write` writes into a fresh temporary file, atomically. On any error the
/// temporary file is removed and the file at `path` is left untouched.
pub(crate) fn write_atomically_with(path: &Path, write: impl FnOnce(&mut File) -> io::Result<()>) -> Result<()> {
    let file_name = path
        .file_name()
        .ok_or_else(|| Error::InvalidArgument(format!("cannot save to {:?}: the path names no file", path)))?;
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let (temp_path, mut file) = create_temp_file(folder, file_name).map_err(|e| Error::io(path, e))?;

    let written = write(&mut file)
        .and_then(|()| file.flush())
        .and_then(|()| keep_permissions(path, &file))
        .and_then(|()| file.sync_all());
    drop(file);
    let replaced = written.and_then(|()| fs::rename(&temp_path, path));
    if let Err(error) = replaced {
        // Best effort: the error that matters is the one above.
        let _ = fs::remove_file(&temp_path);
        return Err(Error::io(path, error));
    }
    sync_folder(folder);
    Ok(())
}

/// Creates `.{name}.tmp-{pid}-{n}` in `folder`, a name no other save uses at the same time.
fn create_temp_file(folder: &Path, name: &std::ffi::OsStr) -> io::Result<(PathBuf, File)> {
    let mut last_error = None;
    for _ in 0..TEMP_NAME_ATTEMPTS {
        let counter = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut temp_name = OsString::from(".");
        temp_name.push(name);
        temp_name.push(format!(".tmp-{}-{counter}", std::process::id()));
        let temp_path = folder.join(temp_name);
        match OpenOptions::new().write(true).create_new(true).open(&temp_path) {
            Ok(file) => return Ok((temp_path, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last_error = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_error.unwrap_or_else(|| io::Error::other("no free temporary file name")))
}

/// Gives the new file the permissions of the file it replaces (a private checkpoint stays private).
fn keep_permissions(path: &Path, file: &File) -> io::Result<()> {
    match fs::metadata(path) {
        Ok(old) if old.is_file() => file.set_permissions(old.permissions()),
        _ => Ok(()),
    }
}

/// Syncs the folder so that the rename itself survives a power cut (Unix; elsewhere a no-op). Best effort: the
/// file is complete and in place either way.
fn sync_folder(folder: &Path) {
    #[cfg(unix)]
    if let Ok(dir) = File::open(folder) {
        let _ = dir.sync_all();
    }
    #[cfg(not(unix))]
    let _ = folder;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh empty folder under the system's temporary folder.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("autoencoder-atomic-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn replaces_the_file_and_leaves_no_temporary_file() {
        let dir = scratch("replace");
        let path = dir.join("model.safetensors");
        write_atomically(&path, b"old").unwrap();
        write_atomically(&path, b"new contents").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new contents");
        assert_eq!(entries(&dir), ["model.safetensors"]);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_failure_mid_write_keeps_the_old_file_and_removes_the_temporary_one() {
        let dir = scratch("midwrite");
        let path = dir.join("model.safetensors");
        fs::write(&path, b"the previous model").unwrap();
        let err = write_atomically_with(&path, |file| {
            file.write_all(b"half a mod")?;
            Err(io::Error::other("disk full (simulated)"))
        })
        .unwrap_err();
        assert!(err.to_string().contains("disk full (simulated)"), "{err}");
        assert!(err.to_string().contains("model.safetensors"), "{err}");
        assert_eq!(fs::read(&path).unwrap(), b"the previous model");
        assert_eq!(entries(&dir), ["model.safetensors"]);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_stale_temporary_file_of_the_same_name_is_skipped() {
        let dir = scratch("stale");
        let path = dir.join("m.safetensors");
        let next = TEMP_COUNTER.load(Ordering::Relaxed);
        // Block the next few names as a crashed earlier process with our pid might have.
        let blocked: Vec<PathBuf> = (next..next + 3)
            .map(|n| dir.join(format!(".m.safetensors.tmp-{}-{n}", std::process::id())))
            .collect();
        for b in &blocked {
            fs::write(b, b"stale").unwrap();
        }
        write_atomically(&path, b"fresh").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"fresh");
        for b in &blocked {
            assert_eq!(fs::read(b).unwrap(), b"stale", "a stale file was overwritten");
        }
        fs::remove_dir_all(dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn keeps_the_permissions_of_the_file_it_replaces() {
        use std::os::unix::fs::PermissionsExt;
        let dir = scratch("perms");
        let path = dir.join("private.safetensors");
        fs::write(&path, b"old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        write_atomically(&path, b"new").unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_path_without_a_file_name_is_an_error() {
        assert!(write_atomically(Path::new("/"), b"x").is_err());
        assert!(write_atomically(Path::new(".."), b"x").is_err());
    }
}
