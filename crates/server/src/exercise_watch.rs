//! The teacher's exercises directory, read again when its files change: an exercise added or
//! edited takes effect at the next request, without a restart.
//!
//! Polled, not watched with inotify: a Kubernetes ConfigMap is updated by swapping a symlink
//! (which a watch on the old target misses), NFS and other network file systems send no
//! events, and reading the metadata of at most [`MAX_DIR_EXERCISES`] files every couple of
//! seconds costs nothing. A directory that reads badly after a change (a file half written, a
//! typo) keeps the exercises loaded before and says why in the log; the next change is read
//! again.
//!
//! [`MAX_DIR_EXERCISES`]: crate::exercise_spec::MAX_DIR_EXERCISES

use std::ffi::OsString;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use crate::exercise_spec::ExerciseDir;
use crate::AppState;

/// How often the directory is looked at.
pub const POLL: Duration = Duration::from_secs(2);

/// The exercises served now; replaced whole when the directory is read again.
#[derive(Debug, Default)]
pub struct LiveExercises(RwLock<Arc<ExerciseDir>>);

impl LiveExercises {
    pub fn new(dir: Arc<ExerciseDir>) -> LiveExercises {
        LiveExercises(RwLock::new(dir))
    }

    /// The exercises as they are now (a request keeps the set it started with).
    pub fn current(&self) -> Arc<ExerciseDir> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn replace(&self, dir: ExerciseDir) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(dir);
    }
}

/// What a change of the directory changes: each exercise file's name, size and modification
/// time (symlinks followed), sorted.
type Fingerprint = Vec<(OsString, u64, Option<SystemTime>)>;

fn fingerprint(dir: &Path) -> std::io::Result<Fingerprint> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "toml") {
            let meta = std::fs::metadata(&path).ok();
            files.push((
                path.file_name().unwrap_or_default().to_owned(),
                meta.as_ref().map_or(0, |m| m.len()),
                meta.and_then(|m| m.modified().ok()),
            ));
        }
        if files.len() > crate::exercise_spec::MAX_DIR_EXERCISES {
            break;
        }
    }
    files.sort();
    Ok(files)
}

/// Read the directory the served exercises came from again each time it changes, until the
/// task is dropped. Nothing to do when they came from no directory.
pub async fn watch(state: AppState, every: Duration) {
    let Some(dir) = state.exercises().path.clone() else {
        return;
    };
    let look = |dir: std::path::PathBuf| async move {
        tokio::task::spawn_blocking(move || fingerprint(&dir).ok())
            .await
            .ok()
            .flatten()
    };
    let mut seen = look(dir.clone()).await;
    loop {
        tokio::time::sleep(every).await;
        let now = look(dir.clone()).await;
        if now == seen {
            continue;
        }
        seen = now;
        let (reading, path) = (state.clone(), dir.clone());
        let loaded =
            tokio::task::spawn_blocking(move || ExerciseDir::load(&path, reading.runner().engine().catalog())).await;
        match loaded {
            Ok(Ok(exercises)) => {
                tracing::info!(dir = %dir.display(), count = exercises.exercises.len(), "exercises read again");
                state.live_exercises().replace(exercises);
            }
            Ok(Err(e)) => tracing::warn!(
                error = %e,
                "the exercises directory changed and does not read: the exercises loaded before are kept"
            ),
            Err(e) => tracing::error!(error = %e, "reading the exercises directory again failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_added_changed_or_removed_changes_the_fingerprint_and_other_files_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let first = fingerprint(dir.path()).unwrap();
        std::fs::write(dir.path().join("README.md"), "notes").unwrap();
        assert_eq!(fingerprint(dir.path()).unwrap(), first, "not an exercise file");
        std::fs::write(dir.path().join("a.toml"), "id = 'a'").unwrap();
        let added = fingerprint(dir.path()).unwrap();
        assert_ne!(added, first);
        std::fs::write(dir.path().join("a.toml"), "id = 'a' # longer").unwrap();
        let changed = fingerprint(dir.path()).unwrap();
        assert_ne!(changed, added);
        std::fs::remove_file(dir.path().join("a.toml")).unwrap();
        assert_eq!(fingerprint(dir.path()).unwrap(), first);
    }
}
