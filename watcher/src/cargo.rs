//! Running `cargo build` and reading what it says.
//!
//! A build is `cargo build -p <plugin>... --lib --message-format=json-diagnostic-rendered-ansi`.
//! Cargo prints one JSON message per line on stdout (read with `cargo_metadata`'s
//! types), its own progress and errors on stderr. The artifact of a plugin is the file,
//! ending in the platform's dynamic library suffix, of the `compiler-artifact` message
//! whose `manifest_path` is the plugin's and whose target kinds include `cdylib` or `dylib`. Each
//! `compiler-message` becomes a [`Diagnostic`] (data, with rustc's rendering kept).
//! Reading stops at `build-finished`, whose success is handed on at once (cargo exits a
//! few milliseconds later). The stderr text is kept byte for byte (lossily
//! decoded) for the failure report.
//!
//! Cargo runs in a process group of its own (on unix) so that it can be stopped together
//! with everything it started: rustc, linkers, build scripts and their children.
//!
//! Unless told otherwise (`Config::low_priority_builds`), cargo also runs at a lower
//! priority than the program that started it, so that the program being developed keeps
//! its latency while a build takes the cores: its nice value is raised by
//! [`NICE_INCREMENT`] (unix), and its I/O priority is set to the best-effort class's
//! lowest level (Linux, `ioprio_set`). Everything cargo starts inherits both. Nice values
//! compare within one scheduling autogroup (one session); cargo stays in the session of
//! the program that starts it, so the lower priority counts against that program. On
//! Windows nothing is changed.

use std::ffi::OsString;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, ChildStdout, Command, Stdio};

use cargo_metadata::{Message, TargetKind};

use crate::diagnostic::Diagnostic;

/// What to build.
#[derive(Debug, Clone)]
pub(crate) struct BuildSpec {
    pub(crate) cargo: PathBuf,
    pub(crate) envs: Vec<(OsString, OsString)>,
    pub(crate) extra_args: Vec<OsString>,
    pub(crate) release: bool,
    pub(crate) color: bool,
    /// The directory cargo runs in (the workspace root).
    pub(crate) workspace_root: PathBuf,
    /// Package names and manifest paths of the plugins to build.
    pub(crate) plugins: Vec<(String, PathBuf)>,
    /// Packages selected too, for feature resolution (see `Config::companions`).
    pub(crate) companions: Vec<String>,
    /// Build this binary target instead of the library.
    pub(crate) bin: Option<String>,
    /// Run cargo at a lower CPU and I/O priority (see the module docs).
    pub(crate) low_priority: bool,
}

/// How much a low-priority build's nice value is raised above its parent's.
pub(crate) const NICE_INCREMENT: i32 = 10;

impl BuildSpec {
    /// The cargo command line, without the program.
    pub(crate) fn args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec!["build".into()];
        if let Some((_, manifest)) = self.plugins.first() {
            args.push("--manifest-path".into());
            args.push(manifest.into());
        }
        for name in self
            .plugins
            .iter()
            .map(|(name, _)| name)
            .chain(&self.companions)
        {
            args.push("-p".into());
            args.push(name.into());
        }
        match &self.bin {
            Some(bin) => {
                args.push("--bin".into());
                args.push(bin.into());
            }
            None => args.push("--lib".into()),
        }
        args.push("--message-format=json-diagnostic-rendered-ansi".into());
        args.push(
            if self.color {
                "--color=always"
            } else {
                "--color=never"
            }
            .into(),
        );
        if self.release {
            args.push("--release".into());
        }
        args.extend(self.extra_args.iter().cloned());
        args
    }

    /// Starts cargo with piped stdout and stderr, in its own process group on unix.
    pub(crate) fn spawn(&self) -> io::Result<Child> {
        let mut command = Command::new(&self.cargo);
        command
            .args(self.args())
            .current_dir(&self.workspace_root)
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt;
            command.process_group(0);
            if self.low_priority {
                lower_priority(&mut command);
            }
        }
        tracing::debug!(?command, "spawning cargo");
        command.spawn()
    }
}

/// Makes `command`'s process (cargo) run at a lower CPU and I/O priority than ours.
#[cfg(unix)]
fn lower_priority(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // Our own nice value, read here: in the child only async-signal-safe calls may run.
    // getpriority returns -1 both for nice -1 and for an error; errno tells them apart,
    // and an error (which cannot happen for our own process) is taken as nice 0.
    // SAFETY: getpriority takes plain integers and reads no memory of ours.
    let ours = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
    let ours = if ours == -1 && io::Error::last_os_error().raw_os_error().unwrap_or(0) != 0 {
        0
    } else {
        ours
    };
    let target = (ours + NICE_INCREMENT).min(19);
    // SAFETY:
    // - The closure runs in the forked child before exec, where only async-signal-safe
    //   work is allowed: it makes two system calls with integer arguments, allocates
    //   nothing and takes no lock.
    // - It changes only the child's own priorities (who = 0), which exec keeps and
    //   cargo's children inherit.
    // - Failures are ignored: a build at normal priority is still a correct build.
    unsafe {
        command.pre_exec(move || {
            libc::setpriority(libc::PRIO_PROCESS, 0, target);
            #[cfg(target_os = "linux")]
            {
                // ioprio_set(IOPRIO_WHO_PROCESS, self, best-effort class, level 7 of 0-7).
                const IOPRIO_WHO_PROCESS: libc::c_long = 1;
                const IOPRIO_CLASS_BE: libc::c_long = 2;
                const IOPRIO_CLASS_SHIFT: libc::c_long = 13;
                const LOWEST_LEVEL: libc::c_long = 7;
                libc::syscall(
                    libc::SYS_ioprio_set,
                    IOPRIO_WHO_PROCESS,
                    0 as libc::c_long,
                    (IOPRIO_CLASS_BE << IOPRIO_CLASS_SHIFT) | LOWEST_LEVEL,
                );
            }
            Ok(())
        });
    }
}

/// What one cargo run produced.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct BuildOutput {
    /// (manifest path, artifact path, fresh) of each plugin library (or wanted
    /// executable) cargo reported.
    pub(crate) artifacts: Vec<(PathBuf, PathBuf, bool)>,
    /// `build-finished`'s `success`, if cargo got that far.
    pub(crate) finished: Option<bool>,
    /// The compiler's errors and warnings, in the order cargo reported them.
    pub(crate) messages: Vec<Diagnostic>,
    /// Everything cargo wrote to stderr.
    pub(crate) stderr: String,
}

impl BuildOutput {
    /// What a terminal shows for this build: each message as rustc renders it, then
    /// cargo's own lines (`error: could not compile ...`).
    pub(crate) fn rendered(&self) -> String {
        let mut text: String = self.messages.iter().map(|m| m.rendered.as_str()).collect();
        text.push_str(&self.stderr);
        text
    }
}

/// What a build is for: the plugins' libraries, or one binary target.
#[derive(Debug, Clone)]
pub(crate) struct Wanted {
    pub(crate) manifests: Vec<PathBuf>,
    pub(crate) bin: Option<String>,
    /// Where cargo runs: rustc names files relative to it.
    pub(crate) workspace_root: PathBuf,
    /// Keep the colour codes of rustc's renderings.
    pub(crate) color: bool,
}

/// Reads one line of cargo's JSON output into `output`; returns `false` at `build-finished`.
pub(crate) fn read_message(line: &str, wanted: &Wanted, output: &mut BuildOutput) -> bool {
    let message = match serde_json::from_str::<Message>(line) {
        Ok(message) => message,
        Err(error) => {
            // Build scripts and rustc wrappers may print other lines; they are not ours.
            tracing::trace!(%error, line, "not a cargo message");
            return true;
        }
    };
    match message {
        Message::CompilerArtifact(artifact) => {
            let manifest_path = artifact.manifest_path.into_std_path_buf();
            if !wanted.manifests.contains(&manifest_path) {
                return true;
            }
            let kinds = &artifact.target.kind;
            let file = match &wanted.bin {
                Some(bin) => artifact
                    .executable
                    .filter(|_| artifact.target.name == *bin && kinds.contains(&TargetKind::Bin))
                    .map(|f| f.into_std_path_buf()),
                // A `cdylib` (an FFI plugin, or a Rust-typed one with its own std) or a Rust
                // `dylib` (a Rust-typed plugin in its host's one world).
                None if kinds.contains(&TargetKind::CDyLib)
                    || kinds.contains(&TargetKind::DyLib) =>
                {
                    artifact
                        .filenames
                        .into_iter()
                        .find(|f| f.as_str().ends_with(std::env::consts::DLL_SUFFIX))
                        .map(|f| f.into_std_path_buf())
                }
                None => None,
            };
            if let Some(file) = file {
                output.artifacts.retain(|(m, _, _)| m != &manifest_path);
                output.artifacts.push((manifest_path, file, artifact.fresh));
            }
            true
        }
        Message::CompilerMessage(message) => {
            if let Some(diagnostic) = Diagnostic::from_rustc(
                &message.message,
                &message.target.name,
                &wanted.workspace_root,
                wanted.color,
            ) {
                output.messages.push(diagnostic);
            }
            true
        }
        Message::BuildFinished(finished) => {
            output.finished = Some(finished.success);
            false
        }
        _ => true,
    }
}

/// Reads cargo's stdout and stderr to their ends. Runs on the build thread.
/// Reads cargo's output to its end. `on_success` is called once, as soon as cargo reports
/// that the build succeeded (`build-finished`), with what was read so far: cargo exits a
/// few milliseconds later (its own teardown), and nothing it prints after it changes the
/// artifacts.
pub(crate) fn read_output(
    stdout: ChildStdout,
    stderr: ChildStderr,
    wanted: &Wanted,
    on_success: impl FnOnce(&BuildOutput),
) -> BuildOutput {
    let stderr_reader = std::thread::Builder::new()
        .name("hotdev-cargo-stderr".into())
        .spawn(move || {
            let mut bytes = Vec::new();
            let mut stderr = stderr;
            let _ = stderr.read_to_end(&mut bytes);
            String::from_utf8_lossy(&bytes).into_owned()
        });
    let mut output = BuildOutput::default();
    let mut reading = true;
    let mut on_success = Some(on_success);
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        if reading {
            reading = read_message(&line, wanted, &mut output);
            if output.finished == Some(true)
                && let Some(on_success) = on_success.take()
            {
                on_success(&output);
            }
        }
        // After build-finished, keep draining so that cargo never blocks on a full pipe.
    }
    output.stderr = match stderr_reader {
        Ok(handle) => handle.join().unwrap_or_default(),
        Err(error) => format!("hotdev: could not read cargo's stderr: {error}\n"),
    };
    output
}

/// A signal for [`signal_group`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// Ask politely (SIGTERM).
    Terminate,
    /// Insist (SIGKILL).
    Kill,
}

/// Sends `stop` to cargo's process group, so rustc, build scripts and their children get
/// it too.
///
/// The caller must not have reaped `child` yet (it has not called `wait` successfully).
/// An unreaped child, even a zombie, keeps its pid, and so the id of the group it leads,
/// from being reused: the signal cannot reach an unrelated group.
#[cfg(unix)]
pub(crate) fn signal_group(child: &mut Child, stop: Stop) {
    let Ok(pgid) = libc::pid_t::try_from(child.id()) else {
        return;
    };
    let signal = match stop {
        Stop::Terminate => libc::SIGTERM,
        Stop::Kill => libc::SIGKILL,
    };
    // SAFETY:
    // - killpg takes plain integers and touches no memory of ours.
    // - `pgid` is the pid of a child spawned with `process_group(0)`, so it names the group
    //   that child leads; the caller has not reaped the child (see above), so the id has
    //   not been recycled for another group.
    let result = unsafe { libc::killpg(pgid, signal) };
    if result != 0 {
        let error = io::Error::last_os_error();
        tracing::debug!(pgid, %error, ?stop, "killpg failed (the group may be gone)");
    }
}

/// Without process groups, only cargo itself can be stopped.
#[cfg(not(unix))]
pub(crate) fn signal_group(child: &mut Child, _stop: Stop) {
    let _ = child.kill();
}

/// What `spec` builds, for [`read_message`].
pub(crate) fn wanted(spec: &BuildSpec) -> Wanted {
    Wanted {
        manifests: spec.plugins.iter().map(|(_, m)| m.clone()).collect(),
        bin: spec.bin.clone(),
        workspace_root: spec.workspace_root.clone(),
        color: spec.color,
    }
}

/// Whether `path` names an existing, non-empty file.
pub(crate) fn is_complete_file(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dylib(stem: &str) -> String {
        format!(
            "/w/target/debug/{}{stem}{}",
            std::env::consts::DLL_PREFIX,
            std::env::consts::DLL_SUFFIX
        )
    }

    fn libraries_of(manifests: &[PathBuf]) -> Wanted {
        Wanted {
            manifests: manifests.to_vec(),
            bin: None,
            workspace_root: PathBuf::from("/w"),
            color: false,
        }
    }

    /// A `compiler-artifact` line as cargo writes it.
    fn artifact(
        manifest: &str,
        kinds: &[&str],
        name: &str,
        filenames: &[&str],
        executable: Option<&str>,
        fresh: bool,
    ) -> String {
        let dir = manifest.trim_end_matches("/Cargo.toml");
        serde_json::json!({
            "reason": "compiler-artifact",
            "package_id": format!("path+file://{dir}#0.1.0"),
            "manifest_path": manifest,
            "target": {
                "kind": kinds, "crate_types": kinds, "name": name,
                "src_path": format!("{dir}/src/lib.rs"), "edition": "2021",
                "doc": true, "doctest": true, "test": true
            },
            "profile": {
                "opt_level": "0", "debuginfo": 2, "debug_assertions": true,
                "overflow_checks": true, "test": false
            },
            "features": [],
            "filenames": filenames,
            "executable": executable,
            "fresh": fresh
        })
        .to_string()
    }

    const FINISHED_OK: &str = r#"{"reason":"build-finished","success":true}"#;
    const FINISHED_FAILED: &str = r#"{"reason":"build-finished","success":false}"#;

    #[test]
    fn picks_the_named_executable_and_whether_it_was_fresh() {
        let wanted = Wanted {
            bin: Some("host".into()),
            ..libraries_of(&[PathBuf::from("/w/host/Cargo.toml")])
        };
        let mut output = BuildOutput::default();
        let m = "/w/host/Cargo.toml";
        for line in [
            artifact(
                m,
                &["lib"],
                "host",
                &["/w/target/debug/libhost.rlib"],
                None,
                false,
            ),
            artifact(
                m,
                &["bin"],
                "tool",
                &["/w/target/debug/tool"],
                Some("/w/target/debug/tool"),
                false,
            ),
            artifact(
                m,
                &["bin"],
                "host",
                &["/w/target/debug/host"],
                Some("/w/target/debug/host"),
                true,
            ),
        ] {
            read_message(&line, &wanted, &mut output);
        }
        assert_eq!(
            output.artifacts,
            vec![(
                PathBuf::from("/w/host/Cargo.toml"),
                PathBuf::from("/w/target/debug/host"),
                true
            )]
        );
    }

    #[test]
    fn picks_the_plugins_cdylib_and_stops_at_build_finished() {
        let manifests = libraries_of(&[PathBuf::from("/w/plugin/Cargo.toml")]);
        let lib = dylib("plugin");
        let lines = [
            artifact(
                "/w/dep/Cargo.toml",
                &["lib"],
                "dep",
                &["/w/target/debug/deps/libdep.rlib"],
                None,
                false,
            ),
            r#"{"reason":"build-script-executed","package_id":"x"}"#.to_string(),
            "a line printed by something else".to_string(),
            artifact(
                "/w/plugin/Cargo.toml",
                &["cdylib", "rlib"],
                "plugin",
                &["/w/target/debug/libplugin.rlib", &lib],
                None,
                false,
            ),
            FINISHED_OK.to_string(),
        ];
        let mut output = BuildOutput::default();
        let mut more = Vec::new();
        for line in &lines {
            more.push(read_message(line, &manifests, &mut output));
        }
        assert_eq!(more, [true, true, true, true, false]);
        assert_eq!(
            output.artifacts,
            vec![(manifests.manifests[0].clone(), PathBuf::from(lib), false)]
        );
        assert_eq!(output.finished, Some(true));
    }

    #[test]
    fn picks_a_rust_dylib_plugin_of_the_one_world_form() {
        let manifests = libraries_of(&[PathBuf::from("/w/plugin/Cargo.toml")]);
        let lib = dylib("plugin");
        let mut output = BuildOutput::default();
        for line in [
            artifact(
                "/w/plugin/Cargo.toml",
                &["dylib"],
                "plugin",
                &[&lib],
                None,
                false,
            ),
            FINISHED_OK.to_string(),
        ] {
            read_message(&line, &manifests, &mut output);
        }
        assert_eq!(
            output.artifacts,
            vec![(manifests.manifests[0].clone(), PathBuf::from(lib), false)]
        );
    }

    #[test]
    fn ignores_a_cdylib_of_another_package_and_a_plugin_without_cdylib() {
        let manifests = libraries_of(&[PathBuf::from("/w/plugin/Cargo.toml")]);
        let other = dylib("other");
        let mut output = BuildOutput::default();
        for line in [
            artifact(
                "/w/other/Cargo.toml",
                &["cdylib"],
                "other",
                &[&other],
                None,
                false,
            ),
            artifact(
                "/w/plugin/Cargo.toml",
                &["lib"],
                "plugin",
                &["/w/target/debug/libplugin.rlib"],
                None,
                false,
            ),
            FINISHED_FAILED.to_string(),
        ] {
            read_message(&line, &manifests, &mut output);
        }
        assert!(output.artifacts.is_empty());
        assert_eq!(output.finished, Some(false));
    }

    #[test]
    fn compiler_messages_become_diagnostics_in_order_and_render_before_cargos_lines() {
        let wanted = libraries_of(&[PathBuf::from("/w/plugin/Cargo.toml")]);
        let message = |level: &str, text: &str, line: u32| {
            serde_json::json!({
                "reason": "compiler-message",
                "package_id": "path+file:///w/plugin#0.1.0",
                "manifest_path": "/w/plugin/Cargo.toml",
                "target": {
                    "kind": ["cdylib"], "crate_types": ["cdylib"], "name": "plugin",
                    "src_path": "/w/plugin/src/lib.rs", "edition": "2021",
                    "doc": true, "doctest": true, "test": true
                },
                "message": {
                    "$message_type": "diagnostic", "message": text, "code": null,
                    "level": level, "children": [],
                    "spans": [{
                        "file_name": "plugin/src/lib.rs", "byte_start": 0, "byte_end": 1,
                        "line_start": line, "line_end": line, "column_start": 1,
                        "column_end": 2, "is_primary": true, "text": [], "label": null,
                        "suggested_replacement": null, "suggestion_applicability": null,
                        "expansion": null
                    }],
                    "rendered": format!("\u{1b}[1m{level}\u{1b}[0m: {text}\n")
                }
            })
            .to_string()
        };
        let mut output = BuildOutput::default();
        for line in [
            message("warning", "unused variable: `x`", 2),
            message("error", "cannot find value `y` in this scope", 7),
            FINISHED_FAILED.to_string(),
        ] {
            read_message(&line, &wanted, &mut output);
        }
        output.stderr = "error: could not compile `plugin` (lib) due to 1 previous error\n".into();
        let levels: Vec<_> = output
            .messages
            .iter()
            .map(|m| (m.level, m.spans[0].line))
            .collect();
        assert_eq!(
            levels,
            [
                (crate::diagnostic::Level::Warning, 2),
                (crate::diagnostic::Level::Error, 7)
            ]
        );
        assert_eq!(
            output.messages[1].spans[0].file,
            Path::new("/w/plugin/src/lib.rs")
        );
        assert_eq!(
            output.rendered(),
            "warning: unused variable: `x`\n\
             error: cannot find value `y` in this scope\n\
             error: could not compile `plugin` (lib) due to 1 previous error\n"
        );
    }

    #[test]
    fn command_line() {
        let spec = BuildSpec {
            cargo: "cargo".into(),
            envs: vec![],
            extra_args: vec!["--features".into(), "hot".into()],
            release: true,
            color: true,
            workspace_root: "/w".into(),
            plugins: vec![
                ("a".into(), "/w/a/Cargo.toml".into()),
                ("b".into(), "/w/b/Cargo.toml".into()),
            ],
            companions: vec!["host".into()],
            bin: None,
            low_priority: true,
        };
        let args: Vec<String> = spec
            .args()
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        assert_eq!(
            args,
            [
                "build",
                "--manifest-path",
                "/w/a/Cargo.toml",
                "-p",
                "a",
                "-p",
                "b",
                "-p",
                "host",
                "--lib",
                "--message-format=json-diagnostic-rendered-ansi",
                "--color=always",
                "--release",
                "--features",
                "hot"
            ]
        );
    }
}
