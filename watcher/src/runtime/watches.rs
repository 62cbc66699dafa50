//! The notify watcher and the directories it watches.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use notify::{RecursiveMode, Watcher as _};

use crate::Error;
use crate::filter::WatchPlan;

/// The notify watcher and the directories it watches (each non-recursively, so that
/// target directories and `.git` are never watched).
pub(super) struct Watches {
    pub(super) watcher: notify::RecommendedWatcher,
    pub(super) dirs: HashSet<PathBuf>,
}

impl Watches {
    /// Watches `top` and every directory under it that the plan wants, collecting the
    /// files found on the way (used for directories that appear while running).
    pub(super) fn watch_tree(
        &mut self,
        plan: &mut WatchPlan,
        top: &Path,
        files: &mut Vec<PathBuf>,
    ) -> Result<(), Error> {
        let mut stack = vec![top.to_path_buf()];
        while let Some(dir) = stack.pop() {
            if self.dirs.contains(&dir) {
                continue;
            }
            if let Ok(text) = std::fs::read_to_string(dir.join(".gitignore")) {
                plan.add_gitignore_lines(&dir, &text);
            }
            // Watch before listing, so a file created meanwhile is seen one way or the other.
            self.watcher
                .watch(&dir, RecursiveMode::NonRecursive)
                .map_err(|source| Error::from_notify(dir.clone(), source))?;
            self.dirs.insert(dir.clone());
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(error) => {
                    tracing::warn!(dir = %dir.display(), %error, "could not list directory");
                    continue;
                }
            };
            for entry in entries.flatten() {
                let Ok(file_type) = entry.file_type() else {
                    continue;
                };
                let path = entry.path();
                if file_type.is_dir() {
                    if plan.should_watch_dir(&path) {
                        stack.push(path);
                    }
                } else if file_type.is_file() {
                    files.push(path);
                }
            }
        }
        Ok(())
    }

    /// Forgets `path` and the directories under it (they were removed or moved away).
    pub(super) fn forget(&mut self, path: &Path) {
        let gone: Vec<PathBuf> = self
            .dirs
            .iter()
            .filter(|d| d.starts_with(path))
            .cloned()
            .collect();
        for dir in gone {
            let _ = self.watcher.unwatch(&dir);
            self.dirs.remove(&dir);
        }
    }
}
