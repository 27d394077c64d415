//! Atomic output: write to a temporary file beside the target, then rename; refuse to
//! replace an existing file unless forced.

use crate::IoError;
use std::path::Path;

/// Writes `path` through `write(tmp_path)`; the target appears whole or not at all. Any
/// path the OS takes (not only UTF-8 ones); `write`'s error is reported with the path.
pub fn write_atomic<E: std::fmt::Display>(
    path: impl AsRef<Path>,
    force: bool,
    write: impl FnOnce(&Path) -> Result<(), E>,
) -> Result<(), IoError> {
    let target = path.as_ref();
    let path = target.display().to_string();
    if target.exists() && !force {
        return Err(IoError::Exists { path });
    }
    let dir = target
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !dir.is_dir() {
        return Err(IoError::Write {
            path,
            reason: format!("folder {} does not exist", dir.display()),
        });
    }
    let name = target.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    let ext = target.extension().and_then(|e| e.to_str()).unwrap_or("tmp");
    let tmp = dir.join(format!(".{name}.{}.partial.{ext}", std::process::id()));
    let result = write(&tmp)
        .map_err(|e| e.to_string())
        .and_then(|_| std::fs::rename(&tmp, target).map_err(|e| e.to_string()));
    if let Err(reason) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(IoError::Write { path, reason });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_overwrite_and_cleans_up_failures() {
        let dir = std::env::temp_dir().join(format!("vmlmap-atomic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("a.txt");
        let ps = p.to_str().unwrap();
        write_atomic(ps, false, |t| {
            std::fs::write(t, "one").map_err(|e| e.to_string())
        })
        .unwrap();
        assert!(matches!(
            write_atomic(ps, false, |_| Ok::<(), String>(())),
            Err(IoError::Exists { .. })
        ));
        assert!(write_atomic(ps, true, |_| Err("boom")).is_err());
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "one");
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "no partial file left"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
