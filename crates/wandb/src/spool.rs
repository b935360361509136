//! The on-disk queue of records wandb does not have yet: one file per record,
//! `pending/{seq:020}.json`, written atomically (temp file, fsync, rename) and deleted once
//! wandb took it. The sequence number orders delivery across restarts. Records wandb will never
//! take are moved to `rejected/` with the reason beside them, never deleted.

use crate::step_log::StepLog;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

pub struct Spool {
    pending: PathBuf,
    rejected: PathBuf,
}

impl Spool {
    /// Opens (creating) the spool under `dir`; returns it with the next free sequence number.
    pub fn open(dir: &Path) -> io::Result<(Spool, u64)> {
        let spool = Spool { pending: dir.join("pending"), rejected: dir.join("rejected") };
        fs::create_dir_all(&spool.pending)?;
        fs::create_dir_all(&spool.rejected)?;
        let next = spool.pending()?.last().map_or(0, |(seq, _)| seq + 1);
        Ok((spool, next))
    }

    /// Stores `log` as record `seq`, durably.
    pub fn write(&self, seq: u64, log: &StepLog) -> io::Result<()> {
        let mut temp = tempfile::Builder::new().prefix(".writing-").tempfile_in(&self.pending)?;
        serde_json::to_writer(&mut temp, log)?;
        temp.write_all(b"\n")?;
        temp.as_file().sync_all()?;
        temp.persist(self.pending.join(format!("{seq:020}.json"))).map_err(|e| e.error)?;
        fs::File::open(&self.pending)?.sync_all()
    }

    /// The waiting records, oldest first.
    pub fn pending(&self) -> io::Result<Vec<(u64, PathBuf)>> {
        let mut records = Vec::new();
        for entry in fs::read_dir(&self.pending)? {
            let path = entry?.path();
            let seq = path
                .file_name()
                .and_then(|name| name.to_str())
                .and_then(|name| name.strip_suffix(".json"))
                .and_then(|stem| stem.parse::<u64>().ok());
            if let Some(seq) = seq {
                records.push((seq, path));
            }
        }
        records.sort_unstable_by_key(|(seq, _)| *seq);
        Ok(records)
    }

    pub fn read(&self, path: &Path) -> Result<StepLog, String> {
        let text = fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{} is not a step record: {e}", path.display()))
    }

    /// Forgets a delivered record.
    pub fn remove(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    /// Moves a record wandb will never take to `rejected/`, with `reason` in a `.reason` file.
    pub fn set_aside(&self, path: &Path, reason: &str) -> io::Result<PathBuf> {
        let name = path.file_name().ok_or_else(|| io::Error::other("a spool path without a file name"))?;
        let target = self.rejected.join(name);
        fs::write(target.with_extension("reason"), format!("{reason}\n"))?;
        fs::rename(path, &target)?;
        Ok(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_come_back_in_order_and_numbering_resumes_after_the_last() {
        let dir = tempfile::tempdir().unwrap();
        let (spool, next) = Spool::open(dir.path()).unwrap();
        assert_eq!(next, 0);
        for seq in [0u64, 1, 2, 10] {
            spool.write(seq, &StepLog { step: seq * 100, time: f64::INFINITY, ..Default::default() }).unwrap();
        }
        fs::write(dir.path().join("pending/.writing-half"), "{").unwrap();
        let pending = spool.pending().unwrap();
        assert_eq!(pending.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(), [0, 1, 2, 10]);
        let log = spool.read(&pending[3].1).unwrap();
        assert_eq!((log.step, log.time), (1000, f64::INFINITY));

        spool.remove(&pending[0].1).unwrap();
        let aside = spool.set_aside(&pending[1].1, "400 bad row").unwrap();
        assert!(aside.exists());
        assert_eq!(fs::read_to_string(aside.with_extension("reason")).unwrap(), "400 bad row\n");
        let (reopened, next) = Spool::open(dir.path()).unwrap();
        assert_eq!(next, 11);
        assert_eq!(reopened.pending().unwrap().len(), 2);
    }

    #[test]
    fn a_damaged_record_is_reported_by_path() {
        let dir = tempfile::tempdir().unwrap();
        let (spool, _) = Spool::open(dir.path()).unwrap();
        let path = dir.path().join("pending/00000000000000000003.json");
        fs::write(&path, "{\"_step\": ").unwrap();
        let error = spool.read(&path).unwrap_err();
        assert!(error.contains("00000000000000000003.json") && error.contains("not a step record"), "{error}");
    }
}
