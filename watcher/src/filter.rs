//! Deciding which file-system events are source changes, and for which plugins.
//!
//! The [`WatchPlan`] knows every watched package, the plugins that depend on it, the
//! target directories to stay out of and the `.gitignore` rules that apply. It turns one
//! notify event into zero or more [`Change`]s, each naming the package whose sources
//! changed. It does no I/O, so it is tested with made-up paths and events.
//!
//! What is not a source change:
//!
//! - access and open events, metadata-only changes (permissions, timestamps), and notify's
//!   `Other` meta events;
//! - anything under a target directory: the workspace's `target_directory` from
//!   `cargo metadata` (or a `--target-dir` among the extra cargo arguments), and any
//!   directory named `target` under a package root. The
//!   project's own build output therefore never triggers a build;
//! - anything under `.git`;
//! - `Cargo.lock`, which cargo itself rewrites during builds (a dependency change also
//!   changes a `Cargo.toml`, which is watched);
//! - paths ignored by `.gitignore` files: the package's own, those in its subdirectories,
//!   and those of its ancestors up to the root of the git repository holding it, with the
//!   deeper file taking precedence as in git (global excludes and `.git/info/exclude`
//!   are not read);
//! - editor droppings: `*.swp`, `*.swx` and the other vim swap names (`*.sw?`), `*~`,
//!   `#*#`, `.#*`, vim's write test file `4913`, `*.kate-swp`, `.DS_Store`;
//! - creating an empty directory (the files later created in it are changes).

use std::path::{Component, Path, PathBuf};

use ignore::Match;
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use notify::EventKind;
use notify::event::{CreateKind, ModifyKind, RenameMode};

/// How a path changed, as far as the scheduler cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChangeKind {
    /// The path appeared (created, or renamed onto).
    Created,
    /// Its contents changed.
    Modified,
    /// It was deleted.
    Removed,
    /// It was renamed to another name; the other name is a separate change.
    RenamedAway,
}

/// One source change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Change {
    pub(crate) path: PathBuf,
    /// Index into [`WatchPlan::packages`].
    pub(crate) package: usize,
    pub(crate) kind: ChangeKind,
}

/// A plugin crate to build.
#[derive(Debug, Clone)]
pub(crate) struct PluginSpec {
    /// The package name, passed to `cargo build -p`.
    pub(crate) name: String,
    /// The directory the caller named.
    pub(crate) crate_dir: PathBuf,
    pub(crate) manifest_path: PathBuf,
    /// Index into [`WatchPlan::workspaces`]: plugins of one workspace build together.
    pub(crate) workspace: usize,
}

/// A local package whose sources are watched.
#[derive(Debug, Clone)]
pub(crate) struct WatchedPackage {
    pub(crate) name: String,
    /// The package root first, then target source directories outside it.
    pub(crate) dirs: Vec<PathBuf>,
    /// Indices into [`WatchPlan::plugins`] of the plugins that compile this package.
    pub(crate) plugins: Vec<usize>,
}

/// What is watched and how paths map to packages and plugins.
#[derive(Debug, Default)]
pub(crate) struct WatchPlan {
    pub(crate) plugins: Vec<PluginSpec>,
    pub(crate) packages: Vec<WatchedPackage>,
    /// Workspace roots.
    pub(crate) workspaces: Vec<PathBuf>,
    /// Target directories (from `cargo metadata`, and a `--target-dir` in the extra args).
    pub(crate) target_dirs: Vec<PathBuf>,
    /// Every `.gitignore` that applies, each rooted at its own directory.
    ignores: Vec<Gitignore>,
}

impl WatchPlan {
    /// Adds a plugin; its packages follow with [`add_packages`](Self::add_packages).
    /// Returns the plugin's index.
    pub(crate) fn add_plugin(&mut self, plugin: PluginSpec) -> usize {
        self.plugins.push(plugin);
        self.plugins.len() - 1
    }

    /// Records that plugin `plugin` compiles these packages (name, directories with the
    /// package root first), merging packages already known by root, and that it builds
    /// into `target_dir`. Existing package indices never change, so it can be called
    /// again when a manifest changes.
    pub(crate) fn add_packages(
        &mut self,
        plugin: usize,
        packages: impl IntoIterator<Item = (String, Vec<PathBuf>)>,
        target_dir: PathBuf,
    ) {
        for (name, dirs) in packages {
            let index = match self.packages.iter().position(|p| p.dirs[0] == dirs[0]) {
                Some(index) => index,
                None => {
                    self.packages.push(WatchedPackage {
                        name,
                        dirs,
                        plugins: Vec::new(),
                    });
                    self.packages.len() - 1
                }
            };
            if !self.packages[index].plugins.contains(&plugin) {
                self.packages[index].plugins.push(plugin);
            }
        }
        if !self.target_dirs.contains(&target_dir) {
            self.target_dirs.push(target_dir);
        }
    }

    /// Index of the workspace rooted at `root`, adding it if new.
    pub(crate) fn workspace_index(&mut self, root: &Path) -> usize {
        match self.workspaces.iter().position(|w| w == root) {
            Some(index) => index,
            None => {
                self.workspaces.push(root.to_owned());
                self.workspaces.len() - 1
            }
        }
    }

    /// Adds the rules of a `.gitignore` whose directory is `dir`, from its text.
    pub(crate) fn add_gitignore_lines(&mut self, dir: &Path, text: &str) {
        if self.ignores.iter().any(|g| g.path() == dir) {
            return;
        }
        let mut builder = GitignoreBuilder::new(dir);
        for line in text.lines() {
            // A malformed pattern is skipped, as git skips it.
            let _ = builder.add_line(None, line);
        }
        match builder.build() {
            Ok(gitignore) if !gitignore.is_empty() => self.ignores.push(gitignore),
            Ok(_) => {}
            Err(error) => tracing::debug!(dir = %dir.display(), %error, "unusable .gitignore"),
        }
    }

    /// Every directory watched as a tree: package roots and outside source directories.
    pub(crate) fn roots(&self) -> Vec<PathBuf> {
        let mut roots: Vec<PathBuf> = self.packages.iter().flat_map(|p| p.dirs.clone()).collect();
        roots.sort();
        roots.dedup();
        roots
    }

    /// The package owning `path` (its deepest watched directory containing it), if any.
    fn owner(&self, path: &Path) -> Option<(usize, &Path)> {
        self.packages
            .iter()
            .enumerate()
            .flat_map(|(index, p)| p.dirs.iter().map(move |d| (index, d.as_path())))
            .filter(|(_, dir)| path.starts_with(dir))
            .max_by_key(|(_, dir)| dir.components().count())
    }

    /// Whether the walker should watch directory `dir` (inside some watched tree).
    pub(crate) fn should_watch_dir(&self, dir: &Path) -> bool {
        match self.owner(dir) {
            Some((_, root)) => !self.excluded(dir, root, true),
            None => false,
        }
    }

    /// The package whose sources include `path`, or `None` when changes to `path` are not
    /// source changes.
    pub(crate) fn source_package(&self, path: &Path, is_dir: bool) -> Option<usize> {
        let (package, root) = self.owner(path)?;
        if self.excluded(path, root, is_dir) {
            return None;
        }
        if !is_dir {
            let name = path.file_name()?.to_str().unwrap_or_default();
            if is_editor_dropping(name) || name == "Cargo.lock" {
                return None;
            }
        }
        Some(package)
    }

    fn excluded(&self, path: &Path, root: &Path, is_dir: bool) -> bool {
        if self.target_dirs.iter().any(|t| path.starts_with(t)) {
            return true;
        }
        let relative = path.strip_prefix(root).unwrap_or(path);
        let special_dir = relative
            .components()
            .any(|c| matches!(c, Component::Normal(name) if name == "target" || name == ".git"));
        special_dir || self.ignored(path, is_dir)
    }

    /// Whether `.gitignore` rules ignore `path`; the deepest file with an opinion decides.
    fn ignored(&self, path: &Path, is_dir: bool) -> bool {
        let mut applicable: Vec<&Gitignore> = self
            .ignores
            .iter()
            .filter(|g| path.starts_with(g.path()) && path != g.path())
            .collect();
        applicable.sort_by_key(|g| std::cmp::Reverse(g.path().components().count()));
        for gitignore in applicable {
            match gitignore.matched_path_or_any_parents(path, is_dir) {
                Match::Ignore(_) => return true,
                Match::Whitelist(_) => return false,
                Match::None => {}
            }
        }
        false
    }

    /// The source changes that `event` stands for.
    ///
    /// Directories are told from files by the event kind alone, or by `is_dir` for the
    /// kinds that do not say (the caller stats the path; tests pass a closure).
    pub(crate) fn classify(
        &self,
        event: &notify::Event,
        is_dir: impl Fn(&Path) -> bool,
    ) -> Vec<Change> {
        let kinds: Vec<(&PathBuf, ChangeKind)> = match event.kind {
            EventKind::Access(_) | EventKind::Other => Vec::new(),
            EventKind::Modify(ModifyKind::Metadata(_)) => Vec::new(),
            EventKind::Create(CreateKind::Folder) => Vec::new(),
            EventKind::Create(_) => first(event, ChangeKind::Created),
            EventKind::Remove(_) => first(event, ChangeKind::Removed),
            EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => {
                let mut kinds = first(event, ChangeKind::RenamedAway);
                kinds.extend(event.paths.get(1).map(|p| (p, ChangeKind::Created)));
                kinds
            }
            EventKind::Modify(ModifyKind::Name(RenameMode::From)) => {
                first(event, ChangeKind::RenamedAway)
            }
            EventKind::Modify(ModifyKind::Name(RenameMode::To)) => {
                first(event, ChangeKind::Created)
            }
            EventKind::Modify(_) | EventKind::Any => first(event, ChangeKind::Modified),
        };
        kinds
            .into_iter()
            .filter(|(path, kind)| {
                // A directory that appears is not itself a change; its files are.
                !(*kind == ChangeKind::Created && is_dir(path))
            })
            .filter_map(|(path, kind)| {
                let dir =
                    kind != ChangeKind::Removed && kind != ChangeKind::RenamedAway && is_dir(path);
                let package = self.source_package(path, dir)?;
                Some(Change {
                    path: path.clone(),
                    package,
                    kind,
                })
            })
            .collect()
    }
}

fn first(event: &notify::Event, kind: ChangeKind) -> Vec<(&PathBuf, ChangeKind)> {
    event.paths.first().map(|p| (p, kind)).into_iter().collect()
}

/// Whether a file name is one that editors write next to the file being edited.
pub(crate) fn is_editor_dropping(name: &str) -> bool {
    let vim_swap = name
        .rsplit_once('.')
        .is_some_and(|(stem, ext)| !stem.is_empty() && ext.len() == 3 && ext.starts_with("sw"));
    vim_swap
        || name.ends_with('~')
        || (name.len() > 1 && name.starts_with('#') && name.ends_with('#'))
        || name.starts_with(".#")
        || name == "4913"
        || name.ends_with(".kate-swp")
        || name == ".DS_Store"
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use notify::event::{AccessKind, AccessMode, DataChange, MetadataKind, RemoveKind};

    /// A plan with plugin `/w/plugin` (workspace `/w/plugin`, target `/w/plugin/target`)
    /// depending on `/w/dep`, and a second plugin `/w/other` with no dependencies.
    pub(crate) fn plan() -> WatchPlan {
        let mut plan = WatchPlan::default();
        let ws = plan.workspace_index(Path::new("/w/plugin"));
        let plugin = plan.add_plugin(PluginSpec {
            name: "plugin".into(),
            crate_dir: "/w/plugin".into(),
            manifest_path: "/w/plugin/Cargo.toml".into(),
            workspace: ws,
        });
        plan.add_packages(
            plugin,
            [
                ("plugin".to_string(), vec![PathBuf::from("/w/plugin")]),
                ("dep".to_string(), vec![PathBuf::from("/w/dep")]),
            ],
            "/w/plugin/target".into(),
        );
        let ws = plan.workspace_index(Path::new("/w/other"));
        let other = plan.add_plugin(PluginSpec {
            name: "other".into(),
            crate_dir: "/w/other".into(),
            manifest_path: "/w/other/Cargo.toml".into(),
            workspace: ws,
        });
        plan.add_packages(
            other,
            [("other".to_string(), vec![PathBuf::from("/w/other")])],
            "/w/shared-target".into(),
        );
        plan.add_gitignore_lines(Path::new("/w/plugin"), "*.log\ngenerated/\n!keep.log\n");
        plan.add_gitignore_lines(Path::new("/w/plugin/src"), "scratch.rs\n");
        plan
    }

    fn ev(kind: EventKind, paths: &[&str]) -> notify::Event {
        paths.iter().fold(notify::Event::new(kind), |e, p| {
            e.add_path(PathBuf::from(p))
        })
    }

    const DATA: EventKind = EventKind::Modify(ModifyKind::Data(DataChange::Content));
    const CREATE: EventKind = EventKind::Create(CreateKind::File);
    const REMOVE: EventKind = EventKind::Remove(RemoveKind::File);
    const RENAME: EventKind = EventKind::Modify(ModifyKind::Name(RenameMode::Both));

    /// (path, package index, kind)
    type Expected = (&'static str, usize, ChangeKind);

    #[test]
    fn classification_table() {
        use ChangeKind::*;
        let plan = plan();
        let no_dirs = |p: &Path| p.ends_with("newdir");
        #[rustfmt::skip]
        let cases: Vec<(&str, notify::Event, Vec<Expected>)> = vec![
            ("a write to a source file", ev(DATA, &["/w/plugin/src/lib.rs"]),
                vec![("/w/plugin/src/lib.rs", 0, Modified)]),
            ("a write to the dependency", ev(DATA, &["/w/dep/src/lib.rs"]),
                vec![("/w/dep/src/lib.rs", 1, Modified)]),
            ("a manifest edit", ev(DATA, &["/w/dep/Cargo.toml"]),
                vec![("/w/dep/Cargo.toml", 1, Modified)]),
            ("a file outside every package", ev(DATA, &["/w/elsewhere/x.rs"]), vec![]),
            ("a read", ev(EventKind::Access(AccessKind::Read), &["/w/plugin/src/lib.rs"]), vec![]),
            ("an open", ev(EventKind::Access(AccessKind::Open(AccessMode::Any)), &["/w/plugin/src/lib.rs"]), vec![]),
            ("a close after writing", ev(EventKind::Access(AccessKind::Close(AccessMode::Write)), &["/w/plugin/src/lib.rs"]), vec![]),
            ("a chmod", ev(EventKind::Modify(ModifyKind::Metadata(MetadataKind::Permissions)), &["/w/plugin/src/lib.rs"]), vec![]),
            ("a touch", ev(EventKind::Modify(ModifyKind::Metadata(MetadataKind::WriteTime)), &["/w/plugin/src/lib.rs"]), vec![]),
            ("an Other meta event", ev(EventKind::Other, &["/w/plugin/src/lib.rs"]), vec![]),
            ("build output in the metadata target dir", ev(CREATE, &["/w/plugin/target/debug/libplugin.so"]), vec![]),
            ("the target dir itself appearing", ev(EventKind::Create(CreateKind::Any), &["/w/plugin/target"]), vec![]),
            ("a nested dir named target", ev(DATA, &["/w/dep/target/debug/x"]), vec![]),
            ("a target dir that is not under a package", ev(DATA, &["/w/shared-target/debug/x"]), vec![]),
            ("git's own files", ev(DATA, &["/w/plugin/.git/index"]), vec![]),
            ("Cargo.lock written by cargo", ev(DATA, &["/w/plugin/Cargo.lock"]), vec![]),
            ("a gitignored file", ev(DATA, &["/w/plugin/debug.log"]), vec![]),
            ("a file in a gitignored dir", ev(CREATE, &["/w/plugin/generated/out.rs"]), vec![]),
            ("a negated gitignore pattern", ev(DATA, &["/w/plugin/keep.log"]),
                vec![("/w/plugin/keep.log", 0, Modified)]),
            ("a nested .gitignore", ev(DATA, &["/w/plugin/src/scratch.rs"]), vec![]),
            ("another package's gitignore does not apply", ev(DATA, &["/w/dep/debug.log"]),
                vec![("/w/dep/debug.log", 1, Modified)]),
            ("vim swap", ev(CREATE, &["/w/plugin/src/.lib.rs.swp"]), vec![]),
            ("vim swx", ev(CREATE, &["/w/plugin/src/.lib.rs.swx"]), vec![]),
            ("vim backup", ev(CREATE, &["/w/plugin/src/lib.rs~"]), vec![]),
            ("vim write test", ev(CREATE, &["/w/plugin/src/4913"]), vec![]),
            ("vim write test removed", ev(REMOVE, &["/w/plugin/src/4913"]), vec![]),
            ("emacs autosave", ev(CREATE, &["/w/plugin/src/#lib.rs#"]), vec![]),
            ("emacs lock", ev(CREATE, &["/w/plugin/src/.#lib.rs"]), vec![]),
            ("kate swap", ev(CREATE, &["/w/plugin/src/lib.rs.kate-swp"]), vec![]),
            ("finder droppings", ev(CREATE, &["/w/plugin/.DS_Store"]), vec![]),
            ("a swift file is not a swap file", ev(DATA, &["/w/plugin/src/a.swift"]),
                vec![("/w/plugin/src/a.swift", 0, Modified)]),
            ("an empty new directory", ev(EventKind::Create(CreateKind::Folder), &["/w/plugin/src/m"]), vec![]),
            ("a new directory reported without its kind", ev(EventKind::Create(CreateKind::Any), &["/w/plugin/src/newdir"]), vec![]),
            ("a deleted file", ev(REMOVE, &["/w/plugin/src/a.rs"]),
                vec![("/w/plugin/src/a.rs", 0, Removed)]),
            ("a re-created file", ev(CREATE, &["/w/plugin/src/a.rs"]),
                vec![("/w/plugin/src/a.rs", 0, Created)]),
            ("save by rename from a temp name", ev(RENAME, &["/w/plugin/src/.lib.rs.tmp", "/w/plugin/src/lib.rs"]),
                vec![("/w/plugin/src/.lib.rs.tmp", 0, RenamedAway), ("/w/plugin/src/lib.rs", 0, Created)]),
            ("vim moving the original to its backup", ev(RENAME, &["/w/plugin/src/lib.rs", "/w/plugin/src/lib.rs~"]),
                vec![("/w/plugin/src/lib.rs", 0, RenamedAway)]),
            ("moved out of the tree", ev(EventKind::Modify(ModifyKind::Name(RenameMode::From)), &["/w/plugin/src/a.rs"]),
                vec![("/w/plugin/src/a.rs", 0, RenamedAway)]),
            ("moved into the tree", ev(EventKind::Modify(ModifyKind::Name(RenameMode::To)), &["/w/plugin/src/a.rs"]),
                vec![("/w/plugin/src/a.rs", 0, Created)]),
            ("an unknown event kind", ev(EventKind::Any, &["/w/other/src/lib.rs"]),
                vec![("/w/other/src/lib.rs", 2, Modified)]),
        ];
        for (name, event, expected) in cases {
            let got = plan.classify(&event, no_dirs);
            let expected: Vec<Change> = expected
                .into_iter()
                .map(|(path, package, kind)| Change {
                    path: path.into(),
                    package,
                    kind,
                })
                .collect();
            assert_eq!(got, expected, "case: {name}");
        }
    }

    #[test]
    fn directories_to_watch() {
        let plan = plan();
        assert!(plan.should_watch_dir(Path::new("/w/plugin/src")));
        assert!(plan.should_watch_dir(Path::new("/w/dep")));
        assert!(!plan.should_watch_dir(Path::new("/w/plugin/target")));
        assert!(!plan.should_watch_dir(Path::new("/w/plugin/examples/x/target")));
        assert!(!plan.should_watch_dir(Path::new("/w/plugin/.git")));
        assert!(!plan.should_watch_dir(Path::new("/w/plugin/generated")));
        assert!(!plan.should_watch_dir(Path::new("/w/elsewhere")));
        assert_eq!(
            plan.roots(),
            [
                Path::new("/w/dep"),
                Path::new("/w/other"),
                Path::new("/w/plugin")
            ]
        );
    }

    #[test]
    fn a_package_under_a_dir_named_target_is_still_watched() {
        let mut plan = WatchPlan::default();
        let p = plan.add_plugin(PluginSpec {
            name: "p".into(),
            crate_dir: "/home/target/p".into(),
            manifest_path: "/home/target/p/Cargo.toml".into(),
            workspace: 0,
        });
        plan.add_packages(
            p,
            [("p".to_string(), vec![PathBuf::from("/home/target/p")])],
            "/home/target/p/target".into(),
        );
        assert_eq!(
            plan.source_package(Path::new("/home/target/p/src/lib.rs"), false),
            Some(0)
        );
        assert_eq!(
            plan.source_package(Path::new("/home/target/p/target/x"), false),
            None
        );
    }
}
