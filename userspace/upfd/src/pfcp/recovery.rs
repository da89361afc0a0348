//! The Recovery Time Stamp (TS 29.244 §8.2.65), kept stable across restarts
//! of the daemon.
//!
//! A CP function that sees our Recovery Time Stamp change concludes that we
//! restarted and lost every session (§6.2.2, §6.2.6.2). With
//! `gateway.pin_dir` the daemon keeps its sessions across restarts (the
//! BPF maps and XDP links are pinned, the sessions saved in the session
//! store), so the stamp is written once to `dir/recovery-time-stamp` and
//! read back at every start that re-adopts them.
//!
//! A start that re-adopts nothing (no pinning, a host reboot, or the
//! datapath was reset) lost the sessions and must change the stamp so that
//! the SMFs re-establish them: the daemon calls [`RecoveryStore::reset`]
//! then, and `upfd --reset` does for a full reset.

use std::fs;
use std::io::{self, Write as _};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use upf_pfcp::ie::RecoveryTimeStamp;

use upf_session::types::NTP_UNIX_OFFSET;

/// The file name inside the state directory.
pub const FILE_NAME: &str = "recovery-time-stamp";

/// The Recovery Time Stamp for the Unix time `t`: NTP seconds, wrapping at
/// the NTP era boundary (2036) as NTP timestamps do.
pub fn ntp_seconds(t: SystemTime) -> RecoveryTimeStamp {
    let unix = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    // Truncation to 32 bits is the NTP era wrap (RFC 5905 §6).
    RecoveryTimeStamp(((unix + NTP_UNIX_OFFSET) & 0xffff_ffff) as u32)
}

/// The persistent Recovery Time Stamp.
#[derive(Debug)]
pub struct RecoveryStore;

impl RecoveryStore {
    /// Reads the stamp from `dir/recovery-time-stamp`; if the file does not
    /// exist, creates `dir` if needed and writes the current time there.
    /// A file that does not hold a number is an error (not silently
    /// replaced: that would tell every SMF we restarted).
    pub fn open(dir: &Path) -> io::Result<RecoveryTimeStamp> {
        Self::open_at(dir, SystemTime::now())
    }

    /// [`RecoveryStore::open`] with "now" given.
    pub fn open_at(dir: &Path, now: SystemTime) -> io::Result<RecoveryTimeStamp> {
        let path = dir.join(FILE_NAME);
        match fs::read_to_string(&path) {
            Ok(text) => text
                .trim()
                .parse::<u32>()
                .map(RecoveryTimeStamp)
                .map_err(|e| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "{}: not a Recovery Time Stamp ({e}); remove it for a full reset",
                            path.display()
                        ),
                    )
                }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Self::reset_at(dir, now),
            Err(e) => Err(e),
        }
    }

    /// Replaces the stamp with the current time: a documented full reset,
    /// after which the SMFs consider every session of this UPF lost.
    pub fn reset(dir: &Path) -> io::Result<RecoveryTimeStamp> {
        Self::reset_at(dir, SystemTime::now())
    }

    /// [`RecoveryStore::reset`] with "now" given.
    pub fn reset_at(dir: &Path, now: SystemTime) -> io::Result<RecoveryTimeStamp> {
        let ts = ntp_seconds(now);
        write_atomically(dir, FILE_NAME, format!("{}\n", ts.0).as_bytes())?;
        Ok(ts)
    }
}

/// Writes `dir/name` through a temporary file and a rename, so a crash
/// leaves either the old content or the new, never a torn file.
fn write_atomically(dir: &Path, name: &str, content: &[u8]) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    let tmp: PathBuf = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .open(&tmp)?;
        // The umask may have taken bits away.
        f.set_permissions(fs::Permissions::from_mode(0o644))?;
        f.write_all(content)?;
        f.sync_all()?;
        fs::rename(&tmp, dir.join(name))?;
        // Make the rename durable.
        fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            let p = std::env::temp_dir().join(format!(
                "upfd-recovery-{tag}-{}-{nanos}",
                std::process::id()
            ));
            TempDir(p)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn ntp_offset() {
        assert_eq!(ntp_seconds(UNIX_EPOCH), RecoveryTimeStamp(2_208_988_800));
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            ntp_seconds(t),
            RecoveryTimeStamp((1_700_000_000u64 + 2_208_988_800) as u32)
        );
    }

    #[test]
    fn created_once_then_stable() {
        let dir = TempDir::new("stable");
        let sub = dir.0.join("state");
        let t0 = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let first = RecoveryStore::open_at(&sub, t0).unwrap();
        assert_eq!(first, ntp_seconds(t0));
        let path = sub.join(FILE_NAME);
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        // A later start reads the same stamp.
        let later = RecoveryStore::open_at(&sub, t0 + Duration::from_secs(3600)).unwrap();
        assert_eq!(later, first);
        assert_eq!(RecoveryStore::open(&sub).unwrap(), first);
        // No temporary file left behind.
        assert_eq!(fs::read_dir(&sub).unwrap().count(), 1);
    }

    #[test]
    fn reset_replaces() {
        let dir = TempDir::new("reset");
        let t0 = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let first = RecoveryStore::open_at(&dir.0, t0).unwrap();
        let t1 = t0 + Duration::from_secs(60);
        let reset = RecoveryStore::reset_at(&dir.0, t1).unwrap();
        assert_ne!(reset, first);
        assert_eq!(RecoveryStore::open_at(&dir.0, t0).unwrap(), reset);
    }

    #[test]
    fn garbage_is_an_error() {
        let dir = TempDir::new("garbage");
        fs::create_dir_all(&dir.0).unwrap();
        fs::write(dir.0.join(FILE_NAME), "yesterday\n").unwrap();
        let e = RecoveryStore::open(&dir.0).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        // The file is left alone.
        assert_eq!(
            fs::read_to_string(dir.0.join(FILE_NAME)).unwrap(),
            "yesterday\n"
        );
    }
}
