//! Persisted validator state: one JSON file per part, each with its own schema version.
//!
//! Upstream kept one version number for all its state, so a release that changed one part wiped
//! the others (and a wiped tracker re-evaluated every model and dipped vtrust). Here each part
//! carries its own version: a part whose version is not the current one is set aside (renamed,
//! never deleted) and starts empty, while the other parts load. Files are replaced atomically
//! (temporary file in the same folder, fsync, rename, fsync of the folder), so a kill at any
//! moment leaves either the old or the new content. Configuration is never stored in state.

use anyhow::{Context, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A piece of state that lives in its own file.
pub trait StatePart: Serialize + DeserializeOwned + Default {
    /// File name inside the state folder.
    const FILE: &'static str;
    /// Bump when the serialised shape changes incompatibly.
    const VERSION: u32;
}

#[derive(Serialize, Deserialize)]
struct Envelope<T> {
    version: u32,
    data: T,
}

/// What loading a part found, for the startup log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loaded {
    Fresh,
    Restored,
    /// The file was unreadable or of another version; it was moved aside to this path.
    SetAside(PathBuf),
}

#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

/// Writes `bytes` to `path` so that readers see either the old or the new content.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().context("state path has no parent folder")?;
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let name = path.file_name().context("state path has no file name")?.to_string_lossy();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| -> Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.with_context(|| format!("cannot write {}", path.display()))
}

impl StateDir {
    pub fn new(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        fs::create_dir_all(&root).with_context(|| format!("cannot create state folder {}", root.display()))?;
        Ok(StateDir { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn path_of<T: StatePart>(&self) -> PathBuf {
        self.root.join(T::FILE)
    }

    /// Loads a part, or its default when absent; a part that cannot be used is set aside.
    pub fn load<T: StatePart>(&self) -> (T, Loaded) {
        let path = self.path_of::<T>();
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (T::default(), Loaded::Fresh),
            Err(_) => return (T::default(), self.set_aside(&path, "unreadable")),
        };
        match serde_json::from_slice::<Envelope<serde_json::Value>>(&bytes) {
            Ok(env) if env.version == T::VERSION => match serde_json::from_value::<T>(env.data) {
                Ok(data) => (data, Loaded::Restored),
                Err(_) => (T::default(), self.set_aside(&path, "corrupt")),
            },
            Ok(env) => (T::default(), self.set_aside(&path, &format!("v{}", env.version))),
            Err(_) => (T::default(), self.set_aside(&path, "corrupt")),
        }
    }

    fn set_aside(&self, path: &Path, why: &str) -> Loaded {
        let stamp =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let aside = path.with_extension(format!("{why}-{stamp}.json"));
        match fs::rename(path, &aside) {
            Ok(()) => Loaded::SetAside(aside),
            Err(_) => Loaded::Fresh,
        }
    }

    pub fn save<T: StatePart>(&self, part: &T) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(&Envelope { version: T::VERSION, data: part })?;
        write_atomically(&self.path_of::<T>(), &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, Deserialize, Default, Debug, PartialEq)]
    struct Counter {
        n: u64,
    }
    impl StatePart for Counter {
        const FILE: &'static str = "counter.json";
        const VERSION: u32 = 2;
    }

    #[derive(Serialize, Deserialize, Default, Debug, PartialEq)]
    struct Other {
        s: String,
    }
    impl StatePart for Other {
        const FILE: &'static str = "other.json";
        const VERSION: u32 = 1;
    }

    #[test]
    fn round_trip_and_independent_versions() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path()).unwrap();
        assert_eq!(state.load::<Counter>().1, Loaded::Fresh);
        state.save(&Counter { n: 7 }).unwrap();
        state.save(&Other { s: "kept".into() }).unwrap();
        assert_eq!(state.load::<Counter>(), (Counter { n: 7 }, Loaded::Restored));
        // An older version of one part is set aside; the other part still loads.
        fs::write(state.path_of::<Counter>(), br#"{"version":1,"data":{"n":3}}"#).unwrap();
        let (c, loaded) = state.load::<Counter>();
        assert_eq!(c, Counter::default());
        assert!(matches!(loaded, Loaded::SetAside(ref p) if p.exists()));
        assert_eq!(state.load::<Other>().0, Other { s: "kept".into() });
    }

    #[test]
    fn corrupt_file_is_set_aside_not_lost() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path()).unwrap();
        fs::write(state.path_of::<Counter>(), b"{not json").unwrap();
        let (_, loaded) = state.load::<Counter>();
        let Loaded::SetAside(p) = loaded else { panic!("{loaded:?}") };
        assert_eq!(fs::read(p).unwrap(), b"{not json");
    }

    #[test]
    fn no_temporary_files_left() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path()).unwrap();
        for n in 0..5 {
            state.save(&Counter { n }).unwrap();
        }
        let names: Vec<String> =
            fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
        assert_eq!(names, vec!["counter.json".to_string()]);
    }
}
