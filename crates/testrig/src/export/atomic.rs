//! Writing report files so that a reader never sees half a file: write a temporary file
//! beside the target, then rename it over the target.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

/// Writes `path` through `write`; on any error the target is left untouched.
pub fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent)?;
    }
    let file_name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = path.with_file_name(format!(".{file_name}.{}.partial", std::process::id()));
    let result = (|| {
        let mut writer = BufWriter::new(File::create(&temporary)?);
        write(&mut writer)?;
        writer
            .into_inner()
            .map_err(|error| error.into_error())?
            .sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_failed_write_leaves_no_file_behind() {
        let dir = std::env::temp_dir().join(format!("testrig-atomic-{}", std::process::id()));
        let target = dir.join("report.json");
        let failed = write_atomically(&target, |_| Err(std::io::Error::other("disk full")));
        assert!(failed.is_err());
        assert!(!target.exists());
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        write_atomically(&target, |w| w.write_all(b"{}")).unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "{}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
