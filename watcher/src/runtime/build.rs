//! A build's life: cargo spawned at low priority in its own process group, its output
//! read on a thread, reaped, and its outcome reported (finished with its artifacts,
//! failed with its diagnostics, or superseded by newer changes).

use std::path::PathBuf;
use std::process::Child;
use std::sync::PoisonError;
use std::thread::JoinHandle;
use std::time::Instant;

use super::Control;
use crate::cargo::{self, BuildOutput, BuildSpec, Stop};
use crate::schedule::Verdict;
use crate::{Artifact, Error, Event};

/// What the thread reading cargo's output reports about a build.
pub(super) enum BuildNews {
    /// Cargo said the build succeeded (`build-finished`); it exits a few milliseconds
    /// later. The plugin libraries it reported, as in [`BuildOutput::artifacts`].
    Succeeded(Vec<(PathBuf, PathBuf, bool)>),
    /// Cargo's output ended (it exited, or closed its pipes): everything it printed.
    Ended(BuildOutput),
}

pub(super) struct RunningBuild {
    pub(super) id: u64,
    pub(super) child: Child,
    pub(super) plugins: Vec<usize>,
    pub(super) started: Instant,
    pub(super) reader: JoinHandle<()>,
    /// When to escalate to SIGKILL, after a SIGTERM.
    pub(super) kill_deadline: Option<Instant>,
    /// Whether we stopped it (then stragglers in its group are killed before reaping).
    pub(super) stopped: bool,
    /// Whether it was reported finished when cargo said it succeeded, before it exited.
    pub(super) reported: bool,
}

impl Control {
    pub(super) fn package_names(&self, plugins: &[usize]) -> Vec<String> {
        plugins
            .iter()
            .map(|&p| self.plan.plugins[p].name.clone())
            .collect()
    }

    pub(super) fn start_build(&mut self, id: u64, plugins: Vec<usize>, cause: Vec<PathBuf>) {
        let packages = self.package_names(&plugins);
        let workspace = self.plan.plugins[plugins[0]].workspace;
        let spec = BuildSpec {
            cargo: self.config.cargo.clone(),
            envs: self.config.envs.clone(),
            extra_args: self.config.extra_args.clone(),
            release: self.config.release,
            color: self.config.color,
            workspace_root: self.plan.workspaces[workspace].clone(),
            plugins: plugins
                .iter()
                .map(|&p| {
                    (
                        self.plan.plugins[p].name.clone(),
                        self.plan.plugins[p].manifest_path.clone(),
                    )
                })
                .collect(),
            companions: {
                let mut c: Vec<String> = plugins
                    .iter()
                    .flat_map(|&p| self.plan.plugins[p].companions.clone())
                    .collect();
                c.sort();
                c.dedup();
                c
            },
            bin: self.config.bin.clone(),
            low_priority: self.config.low_priority_builds,
        };
        let started = Instant::now();
        let _span = tracing::info_span!("build", id, ?packages).entered();
        let spawned = spec.spawn().map_err(|source| Error::CargoSpawn {
            cargo: spec.cargo.clone(),
            source,
        });
        let mut child = match spawned {
            Ok(child) => child,
            Err(error) => {
                tracing::error!(%error, "could not start cargo");
                self.build_did_not_start(id, packages, cause, started, &error);
                return;
            }
        };
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            unreachable!("cargo is spawned with piped stdout and stderr");
        };
        let wanted = cargo::wanted(&spec);
        let tx = self.build_tx.clone();
        let reader = std::thread::Builder::new()
            .name("hotdev-cargo".into())
            .spawn(move || {
                let output = cargo::read_output(stdout, stderr, &wanted, |output| {
                    let _ = tx.send((id, BuildNews::Succeeded(output.artifacts.clone())));
                });
                let _ = tx.send((id, BuildNews::Ended(output)));
            });
        let reader = match reader {
            Ok(reader) => reader,
            Err(source) => {
                cargo::signal_group(&mut child, Stop::Kill);
                let _ = child.wait();
                let error = Error::Thread {
                    name: "hotdev-cargo",
                    source,
                };
                self.build_did_not_start(id, packages, cause, started, &error);
                return;
            }
        };
        tracing::info!(pid = child.id(), ?cause, "cargo started");
        *self
            .build_pid
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(child.id());
        self.build = Some(RunningBuild {
            id,
            child,
            plugins,
            started,
            reader,
            kill_deadline: None,
            stopped: false,
            reported: false,
        });
        self.emit(Event::BuildStarted { packages, cause });
    }

    /// Reaps the build, sweeping its process group first if we stopped it.
    pub(super) fn reap(
        &self,
        mut build: RunningBuild,
    ) -> (RunningBuild, Option<std::process::ExitStatus>) {
        if build.stopped {
            // Cargo is gone but a build script's children may linger in its group. The
            // group id is still cargo's: cargo is not reaped yet.
            cargo::signal_group(&mut build.child, Stop::Kill);
        }
        let status = build.child.wait().ok();
        *self
            .build_pid
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
        (build, status)
    }

    /// Reports a build that could not run (cargo or its reader thread failed to start)
    /// as a build that started and failed, with the error as its diagnostics.
    pub(super) fn build_did_not_start(
        &mut self,
        id: u64,
        packages: Vec<String>,
        cause: Vec<PathBuf>,
        started: Instant,
        error: &dyn std::error::Error,
    ) {
        self.scheduler.finished(id);
        self.emit(Event::BuildStarted {
            packages: packages.clone(),
            cause,
        });
        self.emit(Event::BuildFailed {
            packages,
            duration: started.elapsed(),
            diagnostics: format!("{}\n", error_chain(error)),
            messages: Vec::new(),
        });
    }

    /// Cargo said build `id` succeeded and will exit in a moment: unless the build was
    /// stopped or newer changes superseded it, it is reported finished now, with its
    /// artifacts, rather than when cargo has exited (3–5 ms later on a small crate: cargo's
    /// teardown). The exit is still waited for before the next build starts.
    pub(super) fn on_build_succeeded(&mut self, id: u64, artifacts: Vec<(PathBuf, PathBuf, bool)>) {
        let Some(build) = self.build.as_mut().filter(|b| b.id == id) else {
            return;
        };
        if build.stopped || !self.scheduler.reported(id) {
            return;
        }
        build.reported = true;
        let duration = build.started.elapsed();
        let plugins = build.plugins.clone();
        let packages = self.package_names(&plugins);
        let _span = tracing::info_span!("build", id, ?packages).entered();
        tracing::info!(?duration, "build finished (cargo is exiting)");
        self.report_finished(&plugins, packages, duration, &artifacts);
    }

    pub(super) fn on_build_output(&mut self, id: u64, output: BuildOutput) {
        let Some(build) = self.build.take_if(|b| b.id == id) else {
            tracing::error!(id, "output of an unknown build");
            return;
        };
        let (build, status) = self.reap(build);
        let _ = build.reader.join();
        let duration = build.started.elapsed();
        let packages = self.package_names(&build.plugins);
        let verdict = self.scheduler.finished(id);
        let _span = tracing::info_span!("build", id, ?packages).entered();
        if build.reported {
            // Reported when cargo said it succeeded; a change since then is built next
            // (the scheduler keeps it pending).
            if !status.is_some_and(|s| s.success()) {
                let status = status.map_or("an unknown status".into(), |s| s.to_string());
                let message = format!(
                    "cargo reported the build of {} finished, then exited with {status}",
                    packages.join(", ")
                );
                tracing::warn!(%message);
                self.emit(Event::Warning(message));
            }
            return;
        }
        if verdict == Verdict::Superseded {
            tracing::info!(?duration, "build superseded by newer changes");
            self.emit(Event::BuildSuperseded { packages, duration });
            return;
        }
        let succeeded = status.is_some_and(|s| s.success()) && output.finished != Some(false);
        if !succeeded {
            tracing::info!(?duration, ?status, "build failed");
            let mut diagnostics = output.rendered();
            if diagnostics.trim().is_empty() {
                let status = status.map_or("an unknown status".into(), |s| s.to_string());
                diagnostics = format!("cargo exited with {status} and printed nothing\n");
            }
            self.emit(Event::BuildFailed {
                packages,
                duration,
                diagnostics,
                messages: output.messages,
            });
            return;
        }
        tracing::info!(?duration, "build finished");
        self.report_finished(&build.plugins, packages, duration, &output.artifacts);
    }

    /// Reports a build that succeeded: [`Event::BuildFinished`], then each plugin's
    /// library (or a warning when cargo reported none, or a missing file).
    fn report_finished(
        &self,
        plugins: &[usize],
        packages: Vec<String>,
        duration: std::time::Duration,
        artifacts: &[(PathBuf, PathBuf, bool)],
    ) {
        self.emit(Event::BuildFinished { packages, duration });
        for &plugin in plugins {
            let spec = &self.plan.plugins[plugin];
            let library = artifacts
                .iter()
                .find(|(manifest, _, _)| manifest == &spec.manifest_path)
                .map(|(_, path, fresh)| (path.clone(), *fresh));
            match library {
                Some((path, fresh)) if cargo::is_complete_file(&path) => {
                    self.emit(Event::ArtifactReady(Artifact {
                        package: spec.name.clone(),
                        crate_dir: spec.crate_dir.clone(),
                        path,
                        fresh,
                    }))
                }
                Some((path, _)) => self.emit(Event::Warning(format!(
                    "cargo reported {} for {} but the file is missing or empty",
                    path.display(),
                    spec.name
                ))),
                None if self.config.bin.is_some() => self.emit(Event::Warning(format!(
                    "cargo built {} but reported no executable named {}",
                    spec.name,
                    self.config.bin.as_deref().unwrap_or_default()
                ))),
                None => self.emit(Event::Warning(format!(
                    "cargo built {} but reported no cdylib or dylib for it; add `crate-type = \
                     [\"dylib\"]` (a Rust-typed plugin) or `[\"cdylib\"]` to the [lib] section of {}",
                    spec.name,
                    spec.manifest_path.display()
                ))),
            }
        }
    }
}

/// An error and its sources, joined with ": ".
pub(super) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}
