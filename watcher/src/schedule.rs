//! When to build: batching changes and the policy for changes during a build.
//!
//! The [`Scheduler`] is a pure state machine. Every input carries the current time
//! (`now`), so tests drive it with made-up instants and no sleeps; the runtime passes
//! [`Instant::now`]. It never touches files or processes: it answers with [`Action`]s.
//!
//! # Batching: complete saves and changes still being written
//!
//! The runtime feeds every file event as it happens (no debouncer in front). A change is
//! *complete* when nothing can still be writing it: the writer closed the file after
//! writing ([`ChangeKind::Closed`], inotify's `IN_CLOSE_WRITE`) or a finished file was
//! renamed onto the path ([`ChangeKind::RenamedInto`], an editor's save by rename). Any
//! other change (a write without a close yet, a creation, a deletion, a rename away) is
//! *open*: its writer may still be at work, so it waits out the debounce window.
//!
//! The scheduler collects changes into a batch, one entry per path; the latest event of a
//! path decides whether the entry is complete (a write after a close opens it again). The
//! batch is flushed when every entry is ready: a complete entry once the short
//! `complete_settle` window has passed since its last event (so that an editor's "save
//! all" becomes one batch), or the `settle` window if the file is new in this batch (it
//! may be a temporary file about to be renamed over the real one); an open one once no
//! event has touched it for the `debounce` window and then the `settle` window. So an editor's finished save starts a build at
//! once, and a half-written file is never built while its writer keeps writing or holds
//! it open (within the debounce window). A flush reports the changed paths
//! ([`Action::Changed`]) and marks the plugins that compile the changed packages as
//! pending.
//!
//! A file that appears and goes again within one batch was a temporary file (an
//! editor's save by rename, JetBrains' `___jb_tmp___` and `___jb_old___`): when it is
//! renamed away or deleted, it is forgotten (rename stitching); only the real file is
//! reported. Asset files are batched the same way, apart from source changes, and
//! reported with [`Action::Assets`].
//!
//! # Builds
//!
//! At most one build runs and one is pending. A pending build starts when no build is
//! running and the batch is empty (files have stopped changing). It builds every pending
//! plugin of one workspace in one cargo invocation; plugins of other workspaces wait for
//! the next one.
//!
//! # Changes during a build
//!
//! A build is *superseded* when a change to anything it compiles is recorded after the
//! build started; since events reach us after the write, the build may or may not have
//! read the new sources, so its output is treated as stale either way. When a superseded
//! build ends, successfully or not, its result is **not** reported as final: the runtime
//! reports `BuildSuperseded` (no artifact, no diagnostics) and the pending build, which
//! covers the newer sources, starts at once. So a burst of saves produces a bounded number
//! of builds (the one running when the burst began and one more per build that a
//! continuing burst outlasts), and once files stop changing the last reported artifact
//! was built from the last saved sources.
//!
//! With `restart` set, a superseded build is not waited for: once the batch that
//! superseded it settles, the scheduler asks for it to be killed ([`Action::Kill`]), and
//! its end is handled like any superseded build's.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::filter::{Change, ChangeKind};

/// What the runtime must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// Report these changed paths.
    Changed(Vec<PathBuf>),
    /// Report these changed asset files (they may have been deleted since).
    Assets(Vec<PathBuf>),
    /// Start build `id` of these plugins (indices) because of these paths.
    Start {
        id: u64,
        plugins: Vec<usize>,
        cause: Vec<PathBuf>,
    },
    /// Kill the running build `id`: it is superseded.
    Kill { id: u64 },
}

/// How a finished build's result must be treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Nothing it compiles changed since it started: report its result.
    Current,
    /// Its sources changed while it ran: drop its result; a newer build is pending.
    Superseded,
}

/// The windows that decide when a batch is flushed; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Windows {
    /// How long an open change must be left alone before it counts.
    pub(crate) debounce: Duration,
    /// How long after an open change's debounce window the batch stays open.
    pub(crate) settle: Duration,
    /// How long after a complete change the batch stays open.
    pub(crate) complete_settle: Duration,
}

#[derive(Debug)]
struct Running {
    id: u64,
    plugins: Vec<usize>,
    started: Instant,
    superseded: bool,
    kill_requested: bool,
    /// Reported finished while cargo exits ([`Scheduler::reported`]): later changes are
    /// for the next build.
    reported: bool,
}

/// One path in a batch.
#[derive(Debug, Clone, Copy)]
struct Entry {
    /// What happened to it, as reported: `Created`, `Modified`, `Removed` or
    /// `RenamedAway` (a rename onto it counts as `Created`).
    kind: ChangeKind,
    /// Index into the plan's packages (unused for assets).
    package: usize,
    /// Its last event.
    last: Instant,
    /// Nothing can still be writing it (see the module docs).
    complete: bool,
    /// It did not exist when the batch began: it was created in it.
    born: bool,
}

/// Changes per path, waiting to be flushed.
#[derive(Debug, Default)]
struct Batch {
    entries: BTreeMap<PathBuf, Entry>,
    /// Temporary files forgotten in this batch: the same rename is reported more than
    /// once (inotify's rename gives notify a `From`, a `To` and a `Both` event), and its
    /// repeats are no change either.
    stitched: std::collections::BTreeSet<PathBuf>,
}

impl Batch {
    /// Records one change; says whether it counts as a change (a close without a change
    /// before it, or a temporary file going away again, does not).
    fn record(&mut self, now: Instant, path: PathBuf, package: usize, kind: ChangeKind) -> bool {
        let existing = self.entries.get(&path).copied();
        match kind {
            ChangeKind::Closed => match existing {
                Some(entry) if matches!(entry.kind, ChangeKind::Created | ChangeKind::Modified) => {
                    self.entries.insert(
                        path,
                        Entry {
                            last: now,
                            complete: true,
                            ..entry
                        },
                    );
                    true
                }
                _ => false,
            },
            ChangeKind::RenamedAway | ChangeKind::Removed
                if existing.is_some_and(|entry| entry.born) =>
            {
                // A file that appeared in this batch and went again was a temporary file
                // (an editor's save by rename); the rename's target is the change.
                self.entries.remove(&path);
                self.stitched.insert(path);
                false
            }
            ChangeKind::RenamedAway | ChangeKind::Removed
                if existing.is_none() && self.stitched.contains(&path) =>
            {
                false
            }
            _ => {
                self.stitched.remove(&path);
                // A rename onto a path usually replaces the file there (a save by rename),
                // so only a creation makes a file new to the batch.
                let appears = kind == ChangeKind::Created;
                // Only a finished file renamed onto the path is complete at once.
                let complete = kind == ChangeKind::RenamedInto;
                let kind = match (existing.map(|e| e.kind), kind) {
                    (Some(ChangeKind::Created), ChangeKind::Modified)
                    | (_, ChangeKind::RenamedInto) => ChangeKind::Created,
                    (_, kind) => kind,
                };
                self.entries.insert(
                    path,
                    Entry {
                        kind,
                        package,
                        last: now,
                        complete,
                        born: existing.map_or(appears, |e| e.born),
                    },
                );
                true
            }
        }
    }

    /// When every entry is ready (see the module docs).
    fn ready_at(&self, windows: &Windows) -> Option<Instant> {
        self.entries
            .values()
            .map(|entry| {
                if entry.complete && !entry.born {
                    entry.last + windows.complete_settle
                } else if entry.complete {
                    // A new file, complete: perhaps an editor's temporary file about to
                    // be renamed over the real one; give the rename the settle window.
                    entry.last + windows.settle
                } else {
                    entry.last + windows.debounce + windows.settle
                }
            })
            .max()
    }
}

/// The build decision state machine; see the module docs.
#[derive(Debug)]
pub(crate) struct Scheduler {
    windows: Windows,
    restart: bool,
    /// Package index -> plugins that compile it.
    plugins_of_package: Vec<Vec<usize>>,
    /// Plugin index -> workspace index.
    workspace_of_plugin: Vec<usize>,
    batch: Batch,
    assets: Batch,
    /// Plugin index -> the paths that made it pending.
    pending: BTreeMap<usize, Vec<PathBuf>>,
    running: Option<Running>,
    next_id: u64,
}

impl Scheduler {
    pub(crate) fn new(
        windows: Windows,
        restart: bool,
        plugins_of_package: Vec<Vec<usize>>,
        workspace_of_plugin: Vec<usize>,
    ) -> Self {
        Scheduler {
            windows,
            restart,
            plugins_of_package,
            workspace_of_plugin,
            batch: Batch::default(),
            assets: Batch::default(),
            pending: BTreeMap::new(),
            running: None,
            next_id: 1,
        }
    }

    /// Replaces the package -> plugins map after the package graph was re-read. Package
    /// indices already in use must keep their meaning.
    pub(crate) fn set_packages(&mut self, plugins_of_package: Vec<Vec<usize>>) {
        self.plugins_of_package = plugins_of_package;
    }

    /// Records source changes seen at `now`.
    pub(crate) fn record(&mut self, now: Instant, changes: impl IntoIterator<Item = Change>) {
        for change in changes {
            let package = change.package;
            if !self.batch.record(now, change.path, package, change.kind) {
                continue;
            }
            if let Some(running) = self.running.as_mut().filter(|r| !r.reported) {
                let affected = &self.plugins_of_package[package];
                if running.plugins.iter().any(|p| affected.contains(p)) {
                    running.superseded = true;
                }
            }
        }
    }

    /// Records asset file changes seen at `now`.
    pub(crate) fn record_assets(
        &mut self,
        now: Instant,
        changes: impl IntoIterator<Item = (PathBuf, ChangeKind)>,
    ) {
        for (path, kind) in changes {
            self.assets.record(now, path, 0, kind);
        }
    }

    /// Requests a build of every plugin now, as if each had changed.
    pub(crate) fn request_all(&mut self) {
        for plugin in 0..self.workspace_of_plugin.len() {
            self.pending.entry(plugin).or_default();
        }
        if let Some(running) = self.running.as_mut().filter(|r| !r.reported) {
            running.superseded = true;
        }
    }

    /// When [`poll`](Self::poll) has something to do without further input.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        let assets = self.assets.ready_at(&self.windows);
        [self.batch.ready_at(&self.windows), assets]
            .into_iter()
            .flatten()
            .min()
    }

    /// Whether a build is running.
    #[cfg(test)]
    pub(crate) fn is_building(&self) -> bool {
        self.running.is_some()
    }

    /// Flushes a settled batch and starts or kills builds as the policy says.
    pub(crate) fn poll(&mut self, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        if self
            .assets
            .ready_at(&self.windows)
            .is_some_and(|at| now >= at)
        {
            self.assets.stitched.clear();
            let assets = std::mem::take(&mut self.assets.entries);
            actions.push(Action::Assets(assets.into_keys().collect()));
        }
        let settled = self
            .batch
            .ready_at(&self.windows)
            .is_some_and(|deadline| now >= deadline);
        if settled {
            self.batch.stitched.clear();
            let batch = std::mem::take(&mut self.batch.entries);
            let mut paths = Vec::with_capacity(batch.len());
            for (path, entry) in batch {
                for &plugin in &self.plugins_of_package[entry.package] {
                    let cause = self.pending.entry(plugin).or_default();
                    if !cause.contains(&path) {
                        cause.push(path.clone());
                    }
                }
                paths.push(path);
            }
            actions.push(Action::Changed(paths));
        }
        match &mut self.running {
            Some(running) => {
                let pending_for_it = running.plugins.iter().any(|p| self.pending.contains_key(p));
                if self.restart
                    && running.superseded
                    && !running.reported
                    && !running.kill_requested
                    && pending_for_it
                {
                    running.kill_requested = true;
                    actions.push(Action::Kill { id: running.id });
                }
            }
            None if self.batch.entries.is_empty() && !self.pending.is_empty() => {
                actions.push(self.start(now));
            }
            None => {}
        }
        actions
    }

    fn start(&mut self, now: Instant) -> Action {
        let first = *self.pending.keys().next().expect("pending is not empty");
        let workspace = self.workspace_of_plugin[first];
        let plugins: Vec<usize> = self
            .pending
            .keys()
            .copied()
            .filter(|&p| self.workspace_of_plugin[p] == workspace)
            .collect();
        let mut cause = Vec::new();
        for plugin in &plugins {
            cause.extend(self.pending.remove(plugin).unwrap_or_default());
        }
        cause.sort();
        cause.dedup();
        let id = self.next_id;
        self.next_id += 1;
        self.running = Some(Running {
            id,
            plugins: plugins.clone(),
            started: now,
            superseded: false,
            kill_requested: false,
            reported: false,
        });
        Action::Start { id, plugins, cause }
    }

    /// Build `id` was reported finished before its cargo exited (it said the build
    /// succeeded): from now on changes are for the next build, which still starts only
    /// once [`finished`](Self::finished) is told that this one ended. Returns false (and
    /// does nothing) when `id` is not running or was superseded already: then its result is
    /// not to be reported.
    pub(crate) fn reported(&mut self, id: u64) -> bool {
        match self.running.as_mut() {
            Some(running) if running.id == id && !running.superseded => {
                running.reported = true;
                true
            }
            _ => false,
        }
    }

    /// Records the end of build `id` (however it ended) and says what its result is worth.
    pub(crate) fn finished(&mut self, id: u64) -> Verdict {
        match self.running.take() {
            Some(running) if running.id == id => {
                tracing::trace!(id, elapsed = ?running.started.elapsed(), "build ended");
                if running.superseded {
                    // Whatever superseded it is pending or still in the batch; make sure a
                    // build follows even if that change was stitched away.
                    for plugin in running.plugins {
                        self.pending.entry(plugin).or_default();
                    }
                    Verdict::Superseded
                } else {
                    Verdict::Current
                }
            }
            other => {
                self.running = other;
                Verdict::Superseded
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Package 0 (plugin A's own) and 1 (a dependency) go into plugin 0; package 2 into
    /// plugin 1, which lives in another workspace; package 3 into both.
    /// No debounce window (the settle window alone holds open changes), 20 ms settle,
    /// 1 ms after a complete change.
    fn scheduler(restart: bool) -> Scheduler {
        with_windows(restart, 0, 20)
    }

    fn with_windows(restart: bool, debounce_ms: u64, settle_ms: u64) -> Scheduler {
        Scheduler::new(
            Windows {
                debounce: Duration::from_millis(debounce_ms),
                settle: Duration::from_millis(settle_ms),
                complete_settle: Duration::from_millis(1),
            },
            restart,
            vec![vec![0], vec![0], vec![1], vec![0, 1]],
            vec![0, 1],
        )
    }

    fn change(path: &str, package: usize, kind: ChangeKind) -> Change {
        Change {
            path: PathBuf::from(path),
            package,
            kind,
        }
    }

    fn modified(path: &str, package: usize) -> Change {
        change(path, package, ChangeKind::Modified)
    }

    fn paths(list: &[&str]) -> Vec<PathBuf> {
        list.iter().map(PathBuf::from).collect()
    }

    /// One step of a scripted run: at `ms`, feed the input, then poll and compare.
    enum Input {
        Changes(Vec<Change>),
        Finished(u64, Verdict),
        Rebuild,
        Nothing,
    }

    fn run(mut scheduler: Scheduler, script: Vec<(u64, Input, Vec<Action>)>) {
        let t0 = Instant::now();
        for (step, (ms, input, expected)) in script.into_iter().enumerate() {
            let now = t0 + Duration::from_millis(ms);
            match input {
                Input::Changes(changes) => scheduler.record(now, changes),
                Input::Finished(id, verdict) => {
                    assert_eq!(scheduler.finished(id), verdict, "step {step} at {ms} ms")
                }
                Input::Rebuild => scheduler.request_all(),
                Input::Nothing => {}
            }
            assert_eq!(scheduler.poll(now), expected, "step {step} at {ms} ms");
        }
    }

    fn start(id: u64, plugins: &[usize], cause: &[&str]) -> Action {
        Action::Start {
            id,
            plugins: plugins.to_vec(),
            cause: paths(cause),
        }
    }

    fn changed(list: &[&str]) -> Action {
        Action::Changed(paths(list))
    }

    #[test]
    fn a_burst_of_changes_coalesces_into_one_build() {
        use Input::*;
        run(
            scheduler(false),
            vec![
                (0, Changes(vec![modified("/a/src/lib.rs", 0)]), vec![]),
                (10, Changes(vec![modified("/a/src/m.rs", 0)]), vec![]),
                (25, Changes(vec![modified("/dep/src/lib.rs", 1)]), vec![]),
                (40, Changes(vec![modified("/a/src/lib.rs", 0)]), vec![]),
                (59, Nothing, vec![]),
                (
                    60,
                    Nothing,
                    vec![
                        changed(&["/a/src/lib.rs", "/a/src/m.rs", "/dep/src/lib.rs"]),
                        start(
                            1,
                            &[0],
                            &["/a/src/lib.rs", "/a/src/m.rs", "/dep/src/lib.rs"],
                        ),
                    ],
                ),
                (61, Nothing, vec![]),
                (900, Finished(1, Verdict::Current), vec![]),
            ],
        );
    }

    #[test]
    fn a_change_during_a_build_supersedes_it_and_the_pending_build_follows() {
        use Input::*;
        run(
            scheduler(false),
            vec![
                (0, Changes(vec![modified("/a/src/lib.rs", 0)]), vec![]),
                (
                    20,
                    Nothing,
                    vec![
                        changed(&["/a/src/lib.rs"]),
                        start(1, &[0], &["/a/src/lib.rs"]),
                    ],
                ),
                (100, Changes(vec![modified("/a/src/lib.rs", 0)]), vec![]),
                // Flushed, but the first build is still running: it is not killed.
                (120, Nothing, vec![changed(&["/a/src/lib.rs"])]),
                (130, Changes(vec![modified("/a/src/m.rs", 0)]), vec![]),
                (150, Nothing, vec![changed(&["/a/src/m.rs"])]),
                // Build 1 ends: superseded; build 2 starts with every change since.
                (
                    500,
                    Finished(1, Verdict::Superseded),
                    vec![start(2, &[0], &["/a/src/lib.rs", "/a/src/m.rs"])],
                ),
                (900, Finished(2, Verdict::Current), vec![]),
            ],
        );
    }

    #[test]
    fn a_build_ending_while_changes_still_arrive_waits_for_them_to_settle() {
        use Input::*;
        run(
            scheduler(false),
            vec![
                (0, Rebuild, vec![start(1, &[0], &[])]),
                (100, Changes(vec![modified("/a/src/lib.rs", 0)]), vec![]),
                (110, Finished(1, Verdict::Superseded), vec![]),
                (115, Changes(vec![modified("/a/src/lib.rs", 0)]), vec![]),
                (
                    135,
                    Nothing,
                    vec![
                        changed(&["/a/src/lib.rs"]),
                        start(2, &[0], &["/a/src/lib.rs"]),
                    ],
                ),
            ],
        );
    }

    #[test]
    fn a_change_to_something_the_build_does_not_compile_does_not_supersede_it() {
        use Input::*;
        run(
            scheduler(false),
            vec![
                (0, Changes(vec![modified("/a/src/lib.rs", 0)]), vec![]),
                (
                    20,
                    Nothing,
                    vec![
                        changed(&["/a/src/lib.rs"]),
                        start(1, &[0], &["/a/src/lib.rs"]),
                    ],
                ),
                (30, Changes(vec![modified("/b/src/lib.rs", 2)]), vec![]),
                (50, Nothing, vec![changed(&["/b/src/lib.rs"])]),
                // Plugin 1 is in another workspace: it waits, and build 1 stays current.
                (
                    400,
                    Finished(1, Verdict::Current),
                    vec![start(2, &[1], &["/b/src/lib.rs"])],
                ),
            ],
        );
    }

    #[test]
    fn plugins_of_one_workspace_build_together_others_follow() {
        let mut s = Scheduler::new(
            Windows {
                debounce: Duration::ZERO,
                settle: Duration::from_millis(20),
                complete_settle: Duration::from_millis(1),
            },
            false,
            vec![vec![0], vec![1], vec![2]],
            vec![0, 1, 0],
        );
        let t0 = Instant::now();
        s.record(
            t0,
            [
                modified("/p0/a.rs", 0),
                modified("/p1/a.rs", 1),
                modified("/p2/a.rs", 2),
            ],
        );
        let actions = s.poll(t0 + Duration::from_millis(20));
        assert_eq!(actions[1], start(1, &[0, 2], &["/p0/a.rs", "/p2/a.rs"]));
        assert_eq!(s.finished(1), Verdict::Current);
        assert_eq!(
            s.poll(t0 + Duration::from_millis(30)),
            [start(2, &[1], &["/p1/a.rs"])]
        );
    }

    /// A build reported finished while its cargo exits is no longer superseded by later
    /// changes: they are for the next build, which starts once the reported one ended. A
    /// build superseded before it is reported is not reported.
    #[test]
    fn changes_after_a_report_are_for_the_next_build() {
        let mut s = Scheduler::new(
            Windows {
                debounce: Duration::ZERO,
                settle: Duration::from_millis(20),
                complete_settle: Duration::from_millis(1),
            },
            true,
            vec![vec![0]],
            vec![0],
        );
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        s.record(t0, [modified("/p0/a.rs", 0)]);
        assert_eq!(
            s.poll(at(20)),
            [
                Action::Changed(vec![PathBuf::from("/p0/a.rs")]),
                start(1, &[0], &["/p0/a.rs"])
            ]
        );
        assert!(!s.reported(2), "not the running build");
        assert!(s.reported(1));
        s.record(at(30), [modified("/p0/b.rs", 0)]);
        assert_eq!(
            s.poll(at(60)),
            [Action::Changed(vec![PathBuf::from("/p0/b.rs")])],
            "neither killed nor a second build while it exits"
        );
        assert_eq!(s.finished(1), Verdict::Current);
        assert_eq!(s.poll(at(61)), [start(2, &[0], &["/p0/b.rs"])]);

        s.record(at(70), [modified("/p0/c.rs", 0)]);
        assert!(!s.reported(2), "superseded before its report");
    }

    #[test]
    fn restart_kills_a_superseded_build_once_the_change_settles() {
        use Input::*;
        run(
            scheduler(true),
            vec![
                (0, Rebuild, vec![start(1, &[0], &[])]),
                (100, Changes(vec![modified("/dep/src/lib.rs", 1)]), vec![]),
                (110, Changes(vec![modified("/dep/src/lib.rs", 1)]), vec![]),
                (
                    130,
                    Nothing,
                    vec![changed(&["/dep/src/lib.rs"]), Action::Kill { id: 1 }],
                ),
                // Asked once only.
                (140, Nothing, vec![]),
                (
                    150,
                    Finished(1, Verdict::Superseded),
                    vec![start(2, &[0], &["/dep/src/lib.rs"])],
                ),
            ],
        );
    }

    #[test]
    fn save_by_rename_is_stitched_to_the_real_file() {
        use ChangeKind::*;
        use Input::*;
        run(
            scheduler(false),
            vec![
                (
                    0,
                    Changes(vec![change("/a/src/.lib.rs.tmp", 0, Created)]),
                    vec![],
                ),
                (
                    1,
                    Changes(vec![change("/a/src/.lib.rs.tmp", 0, Modified)]),
                    vec![],
                ),
                (
                    2,
                    Changes(vec![
                        change("/a/src/.lib.rs.tmp", 0, RenamedAway),
                        change("/a/src/lib.rs", 0, Created),
                    ]),
                    vec![],
                ),
                (
                    22,
                    Nothing,
                    vec![
                        changed(&["/a/src/lib.rs"]),
                        start(1, &[0], &["/a/src/lib.rs"]),
                    ],
                ),
            ],
        );
    }

    #[test]
    fn delete_and_recreate_is_a_change() {
        use ChangeKind::*;
        use Input::*;
        run(
            scheduler(false),
            vec![
                (
                    0,
                    Changes(vec![change("/a/src/lib.rs", 0, Removed)]),
                    vec![],
                ),
                (
                    5,
                    Changes(vec![change("/a/src/lib.rs", 0, Created)]),
                    vec![],
                ),
                (
                    25,
                    Nothing,
                    vec![
                        changed(&["/a/src/lib.rs"]),
                        start(1, &[0], &["/a/src/lib.rs"]),
                    ],
                ),
            ],
        );
    }

    #[test]
    fn a_superseding_change_that_vanishes_still_leads_to_a_build() {
        use ChangeKind::*;
        use Input::*;
        run(
            scheduler(false),
            vec![
                (0, Rebuild, vec![start(1, &[0], &[])]),
                (10, Changes(vec![change("/a/src/x.rs", 0, Created)]), vec![]),
                (
                    11,
                    Changes(vec![change("/a/src/x.rs", 0, RenamedAway)]),
                    vec![],
                ),
                (31, Nothing, vec![]),
                (
                    50,
                    Finished(1, Verdict::Superseded),
                    vec![start(2, &[0], &[])],
                ),
            ],
        );
    }

    #[test]
    fn a_package_shared_by_two_plugins_makes_both_pending() {
        let mut s = scheduler(false);
        let t0 = Instant::now();
        s.record(t0, [modified("/shared/lib.rs", 3)]);
        assert_eq!(s.deadline(), Some(t0 + Duration::from_millis(20)));
        let actions = s.poll(t0 + Duration::from_millis(20));
        assert_eq!(actions[1], start(1, &[0], &["/shared/lib.rs"]));
        assert!(s.is_building());
        assert_eq!(s.finished(1), Verdict::Current);
        let actions = s.poll(t0 + Duration::from_millis(500));
        assert_eq!(actions, [start(2, &[1], &["/shared/lib.rs"])]);
        assert!(Path::new("/shared/lib.rs").is_absolute());
    }

    /// A simulated editing session: 30 saves 15 ms apart while builds take 300 ms each.
    /// The mock clock advances in 1 ms steps; no real time passes.
    #[test]
    fn a_burst_of_saves_during_builds_costs_a_bounded_number_of_builds() {
        let mut s = scheduler(false);
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let build_time = 300;
        let saves: Vec<u64> = (0..30).map(|i| 100 + i * 15).collect();
        let last_save = *saves.last().unwrap();
        let mut running: Option<(u64, u64)> = None; // (id, started at)
        let mut builds = Vec::new(); // (id, started at, verdict)
        s.request_all();
        for now in 0..5_000 {
            if saves.contains(&now) {
                s.record(ms(now), [modified("/a/src/lib.rs", 0)]);
            }
            if let Some((id, started)) = running
                && now >= started + build_time
            {
                builds.push((id, started, s.finished(id)));
                running = None;
            }
            for action in s.poll(ms(now)) {
                if let Action::Start { id, plugins, .. } = action {
                    if plugins.contains(&0) {
                        running = Some((id, now));
                    } else {
                        // Plugin 1 (the other workspace) builds instantly here.
                        assert_eq!(s.finished(id), Verdict::Current);
                    }
                }
            }
        }
        let reported: Vec<_> = builds.iter().filter(|b| b.2 == Verdict::Current).collect();
        assert!(builds.len() <= 4, "{builds:?}");
        // The only reported build started after the last save had settled.
        assert_eq!(reported.len(), 1, "{builds:?}");
        assert!(reported[0].1 > last_save, "{builds:?}");
    }

    /// An editor that writes in place and closes (VS Code: truncate, write, close): the
    /// close completes the save and the build starts 1 ms later, not after the hour-long
    /// debounce window.
    #[test]
    fn a_write_closed_by_its_writer_builds_without_waiting_for_the_debounce() {
        use ChangeKind::*;
        use Input::*;
        let hour = 3_600_000;
        run(
            with_windows(false, hour, 10),
            vec![
                (0, Changes(vec![modified("/a/src/lib.rs", 0)]), vec![]),
                (1, Changes(vec![modified("/a/src/lib.rs", 0)]), vec![]),
                (2, Changes(vec![change("/a/src/lib.rs", 0, Closed)]), vec![]),
                (
                    3,
                    Nothing,
                    vec![
                        changed(&["/a/src/lib.rs"]),
                        start(1, &[0], &["/a/src/lib.rs"]),
                    ],
                ),
            ],
        );
    }

    /// A write whose writer has not closed the file waits out the debounce window, and
    /// a write after a close opens the change again.
    #[test]
    fn a_write_not_yet_closed_waits_for_the_debounce_window() {
        use ChangeKind::*;
        use Input::*;
        run(
            with_windows(false, 50, 10),
            vec![
                (0, Changes(vec![modified("/a/src/lib.rs", 0)]), vec![]),
                (30, Nothing, vec![]),
                (59, Nothing, vec![]),
                (
                    60,
                    Nothing,
                    vec![
                        changed(&["/a/src/lib.rs"]),
                        start(1, &[0], &["/a/src/lib.rs"]),
                    ],
                ),
                (500, Finished(1, Verdict::Current), vec![]),
                (1000, Changes(vec![modified("/a/src/lib.rs", 0)]), vec![]),
                (
                    1001,
                    Changes(vec![change("/a/src/lib.rs", 0, Closed)]),
                    vec![],
                ),
                (1002, Changes(vec![modified("/a/src/lib.rs", 0)]), vec![]),
                (1003, Nothing, vec![]),
                (1061, Nothing, vec![]),
                (
                    1062,
                    Nothing,
                    vec![
                        changed(&["/a/src/lib.rs"]),
                        start(2, &[0], &["/a/src/lib.rs"]),
                    ],
                ),
            ],
        );
    }

    /// One complete file and one still being written: the batch waits for the second.
    #[test]
    fn a_complete_save_waits_for_another_file_still_being_written() {
        use ChangeKind::*;
        use Input::*;
        run(
            with_windows(false, 50, 10),
            vec![
                (0, Changes(vec![modified("/a/src/m.rs", 0)]), vec![]),
                (
                    5,
                    Changes(vec![
                        modified("/a/src/lib.rs", 0),
                        change("/a/src/lib.rs", 0, Closed),
                    ]),
                    vec![],
                ),
                (59, Nothing, vec![]),
                (
                    60,
                    Nothing,
                    vec![
                        changed(&["/a/src/lib.rs", "/a/src/m.rs"]),
                        start(1, &[0], &["/a/src/lib.rs", "/a/src/m.rs"]),
                    ],
                ),
            ],
        );
    }

    /// A new file written and closed waits for the settle window (it may be a temporary
    /// file about to be renamed); when the rename follows, only the real file builds.
    #[test]
    fn a_new_file_closed_waits_for_the_settle_window() {
        use ChangeKind::*;
        use Input::*;
        let hour = 3_600_000;
        run(
            with_windows(false, hour, 10),
            vec![
                (
                    0,
                    Changes(vec![
                        change("/a/src/.lib.rs.tmp", 0, Created),
                        modified("/a/src/.lib.rs.tmp", 0),
                        change("/a/src/.lib.rs.tmp", 0, Closed),
                    ]),
                    vec![],
                ),
                (5, Nothing, vec![]),
                (
                    6,
                    Changes(vec![
                        change("/a/src/.lib.rs.tmp", 0, RenamedAway),
                        change("/a/src/lib.rs", 0, RenamedInto),
                    ]),
                    vec![],
                ),
                (
                    7,
                    Nothing,
                    vec![
                        changed(&["/a/src/lib.rs"]),
                        start(1, &[0], &["/a/src/lib.rs"]),
                    ],
                ),
                (500, Finished(1, Verdict::Current), vec![]),
                (
                    1000,
                    Changes(vec![change("/a/src/new.rs", 0, Created)]),
                    vec![],
                ),
                (
                    1000,
                    Changes(vec![change("/a/src/new.rs", 0, Closed)]),
                    vec![],
                ),
                (1009, Nothing, vec![]),
                (
                    1010,
                    Nothing,
                    vec![
                        changed(&["/a/src/new.rs"]),
                        start(2, &[0], &["/a/src/new.rs"]),
                    ],
                ),
            ],
        );
    }

    /// A close without a change before it (a file opened for writing and closed
    /// untouched) is not a change.
    #[test]
    fn a_close_alone_is_not_a_change() {
        use ChangeKind::*;
        use Input::*;
        run(
            with_windows(false, 50, 10),
            vec![
                (0, Changes(vec![change("/a/src/lib.rs", 0, Closed)]), vec![]),
                (1000, Nothing, vec![]),
            ],
        );
    }

    /// Save patterns of real editors, as inotify reports them, with an hour-long
    /// debounce: each must build exactly once, at once, for the real file only.
    #[test]
    fn editor_save_patterns_build_once_from_the_completion_event() {
        use ChangeKind::*;
        let lib = "/a/src/lib.rs";
        #[rustfmt::skip]
        let patterns: Vec<(&str, Vec<Change>)> = vec![
            ("vim (rename to a backup, write a new file, close)", vec![
                change(lib, 0, RenamedAway),
                change(lib, 0, Created),
                modified(lib, 0),
                change(lib, 0, Closed),
            ]),
            ("VS Code (truncate, write, close)", vec![
                modified(lib, 0),
                modified(lib, 0),
                change(lib, 0, Closed),
            ]),
            // Its `___jb_tmp___` and `___jb_old___` files are editor droppings, left out
            // by the filter; what reaches the scheduler is lib.rs moved away and back.
            ("JetBrains safe write (lib.rs renamed away, the new one renamed in)", vec![
                change(lib, 0, RenamedAway),
                change(lib, 0, RenamedInto),
            ]),
            // inotify's rename comes as three events (from, to, both), so each side twice.
            ("a save by rename (write a temp file, rename it over)", vec![
                change("/a/src/.lib.rs.tmp", 0, Created),
                modified("/a/src/.lib.rs.tmp", 0),
                change("/a/src/.lib.rs.tmp", 0, Closed),
                change("/a/src/.lib.rs.tmp", 0, RenamedAway),
                change(lib, 0, RenamedInto),
                change("/a/src/.lib.rs.tmp", 0, RenamedAway),
                change(lib, 0, RenamedInto),
            ]),
        ];
        for (name, changes) in patterns {
            let mut s = with_windows(false, 3_600_000, 10);
            let t0 = Instant::now();
            for (i, change) in changes.into_iter().enumerate() {
                s.record(t0 + Duration::from_micros(i as u64 * 100), [change]);
            }
            let at = t0 + Duration::from_millis(2);
            assert_eq!(
                s.poll(at),
                vec![changed(&[lib]), start(1, &[0], &[lib])],
                "{name}"
            );
            assert_eq!(s.finished(1), Verdict::Current, "{name}");
            assert_eq!(s.poll(at + Duration::from_secs(7200)), vec![], "{name}");
        }
    }

    /// A deleted file that existed before the batch stays a change, even when it was
    /// re-created and deleted again in between.
    #[test]
    fn deleting_a_file_that_existed_before_the_batch_is_a_change() {
        use ChangeKind::*;
        let mut s = scheduler(false);
        let t0 = Instant::now();
        s.record(
            t0,
            [
                change("/a/src/m.rs", 0, Removed),
                change("/a/src/m.rs", 0, Created),
                change("/a/src/m.rs", 0, Removed),
            ],
        );
        assert_eq!(
            s.poll(t0 + Duration::from_millis(20)),
            vec![changed(&["/a/src/m.rs"]), start(1, &[0], &["/a/src/m.rs"])]
        );
    }

    /// Assets are batched like sources (a complete save at once, an open write after
    /// the debounce and settle windows) and never start a build.
    #[test]
    fn assets_are_reported_when_complete_and_never_build() {
        use ChangeKind::*;
        let mut s = with_windows(false, 50, 10);
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let css = PathBuf::from("/a/static/style.css");
        s.record_assets(ms(0), [(css.clone(), Modified), (css.clone(), Closed)]);
        assert_eq!(s.poll(ms(1)), vec![Action::Assets(vec![css.clone()])]);
        s.record_assets(ms(100), [(css.clone(), Modified)]);
        assert_eq!(s.poll(ms(159)), vec![]);
        assert_eq!(s.poll(ms(160)), vec![Action::Assets(vec![css.clone()])]);
        // A stylesheet saved by rename: its temporary file, new and complete, waits for
        // the settle window, so the rename arrives and only the real file is reported.
        let tmp = PathBuf::from("/a/static/.style.css.tmp");
        s.record_assets(
            ms(200),
            [
                (tmp.clone(), Created),
                (tmp.clone(), Modified),
                (tmp.clone(), Closed),
            ],
        );
        assert_eq!(s.poll(ms(205)), vec![]);
        s.record_assets(ms(206), [(tmp, RenamedAway), (css.clone(), RenamedInto)]);
        assert_eq!(s.poll(ms(207)), vec![Action::Assets(vec![css])]);
        assert!(!s.is_building());
    }
}
