//! The session store: every PFCP session as a [`Record`] in an embedded
//! SQLite database (`<pfcp.state_dir>/sessions.db`, WAL), so that a
//! restarted daemon re-adopts its sessions together with the pinned maps
//! (docs/operations.md).
//!
//! The daemon saves the sessions a PFCP request changed before the
//! response leaves (one transaction per request), so a session the SMF was
//! told about survives a crash or `kill -9` of the daemon. WAL with
//! `synchronous=OFF`: a committed transaction is in the kernel's page
//! cache and survives the process, without an fsync per request. Only a
//! power cut or a host crash can lose (or corrupt) what was written, and
//! those also lose the pinned maps (bpffs does not survive a reboot): the
//! sessions are gone anyway, the daemon starts afresh with a new Recovery
//! Time Stamp and replaces the file ([`SessionStore::recreate`]) without
//! reading it.
//! The store also remembers the datapath it belongs to (the map sizes and
//! ABI fingerprint, [`StoreMeta`]): records made for other tables are
//! never re-adopted.

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};

use upf_pfcp::node::SavedAssociation;
use upf_session::manager::Persistence;
use upf_session::sessions::Record;

/// The file name inside `pfcp.state_dir`.
pub const FILE_NAME: &str = "sessions.db";

/// Schema version; a store of another version is refused (reset it).
const SCHEMA: i64 = 2;

/// What the records were made for: restoring them into other tables would
/// point entries at slots that mean something else.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreMeta {
    /// A fingerprint of the datapath: map sizes and ABI layout.
    pub datapath: String,
}

/// An error of the session store, with the file it concerns.
#[derive(Debug, thiserror::Error)]
#[error("session store {path}: {reason}")]
pub struct StoreError {
    /// The database file.
    pub path: PathBuf,
    /// What went wrong.
    pub reason: String,
}

/// The open store.
pub struct SessionStore {
    conn: Connection,
    path: PathBuf,
}

impl SessionStore {
    /// A new, empty `dir/sessions.db` in place of whatever was there (the
    /// sessions it held went with a datapath that is gone; after a host
    /// crash the file may not even be readable).
    pub fn recreate(dir: &Path) -> Result<Self, StoreError> {
        Self::remove(dir)?;
        Self::open(dir)
    }

    /// Deletes `dir/sessions.db` with its WAL and shared-memory files;
    /// returns the files that were there (a full reset).
    pub fn remove(dir: &Path) -> Result<Vec<PathBuf>, StoreError> {
        let path = dir.join(FILE_NAME);
        let mut removed = Vec::new();
        for f in [
            path.clone(),
            path.with_extension("db-wal"),
            path.with_extension("db-shm"),
        ] {
            match std::fs::remove_file(&f) {
                Ok(()) => removed.push(f),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(StoreError {
                        path: f,
                        reason: format!("removing it: {e}"),
                    })
                }
            }
        }
        Ok(removed)
    }

    /// Opens (creating if needed) `dir/sessions.db`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let path = dir.join(FILE_NAME);
        let err = |e: &dyn std::fmt::Display| StoreError {
            path: path.clone(),
            reason: e.to_string(),
        };
        std::fs::create_dir_all(dir).map_err(|e| err(&e))?;
        let conn = Connection::open(&path).map_err(|e| err(&e))?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             PRAGMA synchronous=OFF;
             CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS sessions (up_seid INTEGER PRIMARY KEY, record BLOB NOT NULL);",
        )
        .map_err(|e| err(&e))?;
        let store = SessionStore { conn, path };
        match store.get_meta("schema")? {
            None => store.set_meta("schema", &SCHEMA.to_string())?,
            Some(v) if v == SCHEMA.to_string() => {}
            Some(v) => {
                return Err(store.error(format!(
                    "schema version {v}, this daemon writes {SCHEMA}: reset it (upfd --reset)"
                )))
            }
        }
        Ok(store)
    }

    fn error(&self, reason: impl std::fmt::Display) -> StoreError {
        StoreError {
            path: self.path.clone(),
            reason: reason.to_string(),
        }
    }

    fn get_meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(|e| self.error(e))
    }

    fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map(|_| ())
            .map_err(|e| self.error(e))
    }

    /// The datapath the records were made for, if any was recorded.
    pub fn meta(&self) -> Result<Option<StoreMeta>, StoreError> {
        Ok(self
            .get_meta("datapath")?
            .map(|datapath| StoreMeta { datapath }))
    }

    /// Records the datapath the records are made for.
    pub fn set_datapath(&self, m: &StoreMeta) -> Result<(), StoreError> {
        self.set_meta("datapath", &m.datapath)
    }

    /// Saves the PFCP associations (replacing what was saved).
    pub fn save_associations(&self, a: &[SavedAssociation]) -> Result<(), StoreError> {
        let json = serde_json::to_string(a).map_err(|e| self.error(e))?;
        self.set_meta("associations", &json)
    }

    /// The saved PFCP associations.
    pub fn associations(&self) -> Result<Vec<SavedAssociation>, StoreError> {
        match self.get_meta("associations")? {
            None => Ok(Vec::new()),
            Some(j) => serde_json::from_str(&j)
                .map_err(|e| self.error(format!("unreadable associations: {e}"))),
        }
    }

    /// Saves and deletes in one transaction: `Some(record)` is written
    /// (inserted or replaced), `None` deletes the session.
    pub fn save(&mut self, changes: &[(u64, Option<Record>)]) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let path = self.path.clone();
        let err = move |e: &dyn std::fmt::Display| StoreError {
            path: path.clone(),
            reason: e.to_string(),
        };
        let tx = self.conn.transaction().map_err(|e| err(&e))?;
        {
            let mut put = tx
                .prepare_cached("INSERT OR REPLACE INTO sessions (up_seid, record) VALUES (?1, ?2)")
                .map_err(|e| err(&e))?;
            let mut del = tx
                .prepare_cached("DELETE FROM sessions WHERE up_seid = ?1")
                .map_err(|e| err(&e))?;
            for (seid, rec) in changes {
                // SQLite integers are signed: the SEID's bits as i64.
                let key = *seid as i64;
                match rec {
                    Some(r) => {
                        let bytes = r.encode().map_err(|e| err(&e))?;
                        put.execute(params![key, bytes]).map_err(|e| err(&e))?;
                    }
                    None => {
                        del.execute([key]).map_err(|e| err(&e))?;
                    }
                }
            }
        }
        tx.commit().map_err(|e| err(&e))
    }

    /// Every record, in SEID order; a record that does not parse is an
    /// error naming its SEID (never silently dropped: its SMF believes in it).
    pub fn load(&self) -> Result<Vec<Record>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT up_seid, record FROM sessions ORDER BY up_seid")
            .map_err(|e| self.error(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))
            .map_err(|e| self.error(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (seid, bytes) = row.map_err(|e| self.error(e))?;
            let rec = Record::decode(&bytes).map_err(|e| {
                self.error(format!(
                    "session {:#x}: unreadable record: {e}",
                    seid as u64
                ))
            })?;
            out.push(rec);
        }
        Ok(out)
    }

    /// Sessions stored.
    pub fn len(&self) -> Result<usize, StoreError> {
        self.conn
            .query_row("SELECT COUNT(*) FROM sessions", [], |r| r.get::<_, i64>(0))
            .map(|n| n as usize)
            .map_err(|e| self.error(e))
    }

    /// True when no session is stored.
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        self.len().map(|n| n == 0)
    }

    /// Forgets every session (a full reset, or a datapath that was not
    /// re-adopted: its sessions are gone with it).
    pub fn clear(&mut self) -> Result<(), StoreError> {
        self.conn
            .execute_batch("DELETE FROM sessions; DELETE FROM meta WHERE key = 'associations';")
            .map_err(|e| self.error(e))
    }
}

/// The session core saves through this (before each PFCP response leaves).
impl Persistence for SessionStore {
    fn save(&mut self, changes: &[(u64, Option<Record>)]) -> Result<(), String> {
        SessionStore::save(self, changes).map_err(|e| e.to_string())
    }

    fn save_associations(&mut self, a: &[SavedAssociation]) -> Result<(), String> {
        SessionStore::save_associations(self, a).map_err(|e| e.to_string())
    }

    fn associations(&self) -> Result<Vec<SavedAssociation>, String> {
        SessionStore::associations(self).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use upf_pfcp::message::SessionEstablishmentRequest;
    use upf_session::datapath::fake::FakeDatapath;
    use upf_session::sessions::{Sessions, SessionsConfig};

    fn records() -> Vec<Record> {
        use upf_pfcp::ie::*;
        let mut m = Sessions::new(
            FakeDatapath::new(10),
            SessionsConfig {
                qos: Default::default(),
                n3: "10.100.0.1".parse().unwrap(),
                teid_range: (0x1000, 0x1fff),
                ue_pools: Vec::new(),
            },
        );
        m.track_dirty();
        for seid in [1u64, 2] {
            let req = SessionEstablishmentRequest {
                node_id: NodeId::Ipv4("10.0.0.9".parse().unwrap()),
                cp_f_seid: Fseid {
                    seid,
                    ipv4: Some("10.0.0.9".parse().unwrap()),
                    ipv6: None,
                },
                create_pdr: Vec::new(),
                create_far: Vec::new(),
                create_urr: Vec::new(),
                create_qer: Vec::new(),
                pdn_type: None,
                unknown: Vec::new(),
            };
            m.establish("smf", &req, 0).unwrap();
        }
        m.take_dirty().into_iter().filter_map(|(_, r)| r).collect()
    }

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("mupf-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn saves_loads_deletes_and_clears_across_reopen() {
        let dir = scratch("roundtrip");
        let r = records();
        let (a, b) = (r[0].up_seid(), r[1].up_seid());
        let mut s = SessionStore::open(&dir).unwrap();
        assert!(s.is_empty().unwrap() && s.meta().unwrap().is_none());
        s.save(&[(a, Some(r[0].clone())), (b, Some(r[1].clone()))])
            .unwrap();
        s.set_datapath(&StoreMeta {
            datapath: "x".into(),
        })
        .unwrap();
        let assoc = vec![SavedAssociation {
            addr: "10.0.0.9".parse().unwrap(),
            node_id: upf_pfcp::ie::NodeId::Fqdn("smf.example".into()),
            recovery: 7,
        }];
        s.save_associations(&assoc).unwrap();
        drop(s);
        let mut s = SessionStore::open(&dir).unwrap();
        let got: Vec<u64> = s.load().unwrap().iter().map(Record::up_seid).collect();
        assert_eq!(got, vec![a, b]);
        assert_eq!(s.meta().unwrap().unwrap().datapath, "x");
        assert_eq!(s.associations().unwrap(), assoc);
        s.save(&[(a, None)]).unwrap();
        assert_eq!(s.len().unwrap(), 1);
        s.clear().unwrap();
        assert!(s.is_empty().unwrap() && s.associations().unwrap().is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_unreadable_record_or_another_schema_is_an_error_naming_it() {
        let dir = scratch("bad");
        let s = SessionStore::open(&dir).unwrap();
        s.conn
            .execute(
                "INSERT INTO sessions (up_seid, record) VALUES (42, x'ffff')",
                [],
            )
            .unwrap();
        let e = s.load().unwrap_err().to_string();
        assert!(
            e.contains("sessions.db") && e.contains("session 0x2a"),
            "{e}"
        );
        s.set_meta("schema", "99").unwrap();
        drop(s);
        let e = SessionStore::open(&dir).err().unwrap().to_string();
        assert!(
            e.contains("schema version 99") && e.contains("--reset"),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
