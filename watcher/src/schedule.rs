//! When to build: batching changes and the policy for changes during a build.
//!
//! The [`Scheduler`] is a pure state machine. Every input carries the current time
//! (`now`), so tests drive it with made-up instants and no sleeps; the runtime passes
//! [`Instant::now`]. It never touches files or processes: it answers with [`Action`]s.
//!
//! # Batching
//!
//! notify's debouncer already merges the events of each path over the debounce window.
//! Changes to different files still arrive a few ticks apart, so the scheduler collects
//! them into a batch and flushes it once no change has arrived for the *settle* window.
//! A flush reports the changed paths ([`Action::Changed`]) and marks the plugins that
//! compile the changed packages as pending. A temporary file that is created and then
//! renamed over the real file within one batch is forgotten: only the real file is
//! reported (rename stitching).
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

#[derive(Debug)]
struct Running {
    id: u64,
    plugins: Vec<usize>,
    started: Instant,
    superseded: bool,
    kill_requested: bool,
}

/// The build decision state machine; see the module docs.
#[derive(Debug)]
pub(crate) struct Scheduler {
    settle: Duration,
    restart: bool,
    /// Package index -> plugins that compile it.
    plugins_of_package: Vec<Vec<usize>>,
    /// Plugin index -> workspace index.
    workspace_of_plugin: Vec<usize>,
    batch: BTreeMap<PathBuf, (ChangeKind, usize)>,
    last_change: Option<Instant>,
    /// Plugin index -> the paths that made it pending.
    pending: BTreeMap<usize, Vec<PathBuf>>,
    running: Option<Running>,
    next_id: u64,
}

impl Scheduler {
    pub(crate) fn new(
        settle: Duration,
        restart: bool,
        plugins_of_package: Vec<Vec<usize>>,
        workspace_of_plugin: Vec<usize>,
    ) -> Self {
        Scheduler {
            settle,
            restart,
            plugins_of_package,
            workspace_of_plugin,
            batch: BTreeMap::new(),
            last_change: None,
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
            if change.kind == ChangeKind::RenamedAway
                && matches!(self.batch.get(&change.path), Some((ChangeKind::Created, _)))
            {
                // A file created in this batch and renamed away again was a temporary
                // file (an editor's save by rename); the rename's target is the change.
                self.batch.remove(&change.path);
                continue;
            }
            let kind = match self.batch.get(&change.path) {
                Some((ChangeKind::Created, _)) if change.kind == ChangeKind::Modified => {
                    ChangeKind::Created
                }
                _ => change.kind,
            };
            if let Some(running) = &mut self.running {
                let affected = &self.plugins_of_package[change.package];
                if running.plugins.iter().any(|p| affected.contains(p)) {
                    running.superseded = true;
                }
            }
            self.batch.insert(change.path, (kind, change.package));
            self.last_change = Some(now);
        }
    }

    /// Requests a build of every plugin now, as if each had changed.
    pub(crate) fn request_all(&mut self, _now: Instant) {
        for plugin in 0..self.workspace_of_plugin.len() {
            self.pending.entry(plugin).or_default();
        }
        if let Some(running) = &mut self.running {
            running.superseded = true;
        }
    }

    /// When [`poll`](Self::poll) has something to do without further input.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        if self.batch.is_empty() {
            None
        } else {
            self.last_change.map(|t| t + self.settle)
        }
    }

    /// Whether a build is running.
    #[cfg(test)]
    pub(crate) fn is_building(&self) -> bool {
        self.running.is_some()
    }

    /// Flushes a settled batch and starts or kills builds as the policy says.
    pub(crate) fn poll(&mut self, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        let settled = self.deadline().is_some_and(|deadline| now >= deadline);
        if settled {
            let batch = std::mem::take(&mut self.batch);
            let mut paths = Vec::with_capacity(batch.len());
            for (path, (_, package)) in batch {
                for &plugin in &self.plugins_of_package[package] {
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
                if self.restart && running.superseded && !running.kill_requested && pending_for_it {
                    running.kill_requested = true;
                    actions.push(Action::Kill { id: running.id });
                }
            }
            None if self.batch.is_empty() && !self.pending.is_empty() => {
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
        });
        Action::Start { id, plugins, cause }
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
    fn scheduler(restart: bool) -> Scheduler {
        Scheduler::new(
            Duration::from_millis(20),
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
                Input::Rebuild => scheduler.request_all(now),
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
            Duration::from_millis(20),
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
        s.request_all(ms(0));
        for now in 0..5_000 {
            if saves.contains(&now) {
                s.record(ms(now), [modified("/a/src/lib.rs", 0)]);
            }
            if let Some((id, started)) = running {
                if now >= started + build_time {
                    builds.push((id, started, s.finished(id)));
                    running = None;
                }
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
}
