//! `hotdev check`: walks the load path one step at a time and says where it breaks.
//!
//! Each step prints `ok` or the error's code, its message and what to do. The exit status
//! is 0 only when every step passes. Given a plugin crate's directory instead of a
//! library, the crate is built first and its library checked.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use hotdev_host::shadow::{self, ShadowDir};
use hotdev_host::{LoadError, fingerprint, library, pipeline};
use reloadable::PluginInterface;

/// What to check.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// A library file, or a plugin crate's directory.
    pub path: PathBuf,
    /// The interface the library must implement (default: whatever it declares; `app`,
    /// the interface `hotdev serve` runs, is checked against this build's fingerprint).
    pub interface: Option<String>,
    /// Build a crate directory with `--release`.
    pub release: bool,
}

/// Runs the checks, printing each step to `out`.
pub fn run(opts: &CheckOptions, out: &mut dyn Write) -> io::Result<ExitCode> {
    let mut report = Report { out, failed: false };
    let path = match library_path(opts, &mut report)? {
        Some(p) => p,
        None => return Ok(ExitCode::FAILURE),
    };
    writeln!(report.out, "checking {}", path.display())?;
    let ok = walk(&path, opts, &mut report)?;
    if ok {
        writeln!(report.out, "all checks passed")?;
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::FAILURE)
    }
}

struct Report<'a> {
    out: &'a mut dyn Write,
    failed: bool,
}

impl Report<'_> {
    fn ok(&mut self, step: &str) -> io::Result<()> {
        writeln!(self.out, "  ok    {step}")
    }

    fn fail(&mut self, step: &str, e: &LoadError) -> io::Result<bool> {
        self.failed = true;
        writeln!(
            self.out,
            "  FAIL  {step}\n        {e}\n        fix: {}",
            e.fix()
        )?;
        Ok(false)
    }
}

/// The library to check: the path itself, or the artifact of the crate it names.
fn library_path(opts: &CheckOptions, report: &mut Report<'_>) -> io::Result<Option<PathBuf>> {
    let path = &opts.path;
    if !(path.is_dir() && path.join("Cargo.toml").is_file()) {
        return Ok(Some(path.clone()));
    }
    writeln!(report.out, "building the plugin crate {}", path.display())?;
    let mut config = hotdev_watcher::Config::new([path.clone()]);
    config.release = opts.release;
    // Every member of its workspace selected, as `cargo build` there does: a plugin built
    // alone can resolve its shared crates' features otherwise, and for a plugin in a one
    // world that would rebuild the world library under a running host.
    config.companions.push("*".into());
    match crate::devloop::Core::build_once(config, |_| {}) {
        Ok(ready) => {
            report.ok("build")?;
            Ok(Some(ready.artifact))
        }
        Err(crate::devloop::BuildError::Failed { diagnostics, .. }) => {
            writeln!(report.out, "  FAIL  [HD060] build failed\n{diagnostics}")?;
            Ok(None)
        }
        Err(e) => {
            writeln!(report.out, "  FAIL  build\n        {e}")?;
            Ok(None)
        }
    }
}

/// The load path's steps ([`pipeline`]), as a host takes them, each reported.
fn walk(path: &Path, opts: &CheckOptions, r: &mut Report<'_>) -> io::Result<bool> {
    let steps = pipeline::Steps::new(path);
    let bytes = match steps.read() {
        Ok(b) => b,
        Err(e) => return r.fail("file exists and is readable", &e),
    };
    r.ok(&format!(
        "file exists and is readable ({} bytes)",
        bytes.len()
    ))?;
    if let Err(e) = steps.inspect(&bytes) {
        return r.fail("a complete shared library for this machine", &e);
    }
    r.ok(&format!(
        "a complete shared library for {}",
        std::env::consts::ARCH
    ))?;
    // A plugin in a host's one world links that host's std and world libraries: it loads
    // into such a host (which checks them, HD017/HD018), not into this process.
    let world = hotdev_host::world::linked_world(path, bytes.data());
    if world.is_empty() && hotdev_host::world::is_rust_dylib(bytes.data()) {
        writeln!(
            r.out,
            "  note  a Rust dylib that carries its own std: its workspace lacks the one world's \
             flags, so the futures and closures it returns cannot use the host's runtime; add \
             .cargo/config.toml with [build] rustflags = [\"-C\", \"prefer-dynamic\", \"-C\", \
             \"rpath\"] (docs/rust-types.md, \"One world\")"
        )?;
    }
    if !world.is_empty() {
        let mut missing = false;
        let names: Vec<String> = world
            .iter()
            .map(|(name, built)| match built {
                Some(p) => format!("{name} ({})", p.display()),
                None if name.starts_with("libstd-") => format!("{name} (the toolchain's)"),
                None => {
                    missing = true;
                    format!("{name} (missing)")
                }
            })
            .collect();
        r.ok(&format!(
            "a plugin of the one-world form (a Rust dylib) linking {}",
            names.join(", ")
        ))?;
        if missing {
            writeln!(
                r.out,
                "  FAIL  [HD018] the plugin links a world library its build no longer has (missing above)\n        fix: build host and plugin together (cargo build in their workspace), then check again"
            )?;
            return Ok(false);
        }
        writeln!(
            r.out,
            "  note  it loads into a host built in its world, which checks the rest (the world \
             libraries are the ones it loaded, every symbol is defined: HD017, HD018); \
             hotdev check does not load it into its own process"
        )?;
        return Ok(true);
    }
    // The shadow directory a host would use: a copy that cannot be made there fails a
    // real load (HD030), so it fails the check too. The copy is removed afterwards.
    let root = shadow::default_root(path);
    let shadow = match ShadowDir::create(&root) {
        Ok(shadow) => shadow,
        Err(source) => {
            let e = LoadError::Shadow {
                path: path.to_path_buf(),
                dir: root,
                source,
            };
            return r.fail("a private shadow copy", &e);
        }
    };
    let copy = match steps.copy(&bytes, &shadow, 1) {
        Ok(copy) => copy,
        Err(e) => return r.fail("a private shadow copy", &e),
    };
    r.ok(&format!(
        "a private shadow copy ({})",
        copy.path().display()
    ))?;
    // SAFETY: `hotdev check` is pointed at the user's own plugin, and the file passed the
    // object-header checks, so only its own initialisers run.
    let lib = match unsafe { steps.open(&copy) } {
        Ok(l) => l,
        Err(e) => return r.fail("the system loader accepts it", &e),
    };
    r.ok("the system loader accepts it")?;
    let desc = match steps.descriptor(&lib, &hotdev_host::world::World::default()) {
        Ok(d) => d,
        Err(e @ LoadError::NoEntrySymbol { .. }) => {
            return r.fail(
                &format!("entry symbol {}", reloadable::descriptor::ENTRY_SYMBOL),
                &e,
            );
        }
        Err(e) => {
            return r.fail(
                "descriptor (header, and every pointer inside the library)",
                &e,
            );
        }
    };
    r.ok(&format!(
        "entry symbol {}",
        reloadable::descriptor::ENTRY_SYMBOL
    ))?;
    r.ok(&format!(
        "descriptor v{} (plugin {} {}, built by {} for {}, panic = {})",
        desc.descriptor_version,
        desc.plugin_name.as_str(),
        desc.build_id.as_str(),
        desc.rustc.as_str(),
        desc.target.as_str(),
        desc.panic.as_str()
    ))?;
    let found = desc.interface.name.as_str();
    let wanted = opts.interface.as_deref().unwrap_or(found);
    if wanted != found {
        let e = LoadError::WrongInterface {
            path: path.to_path_buf(),
            expected: wanted.into(),
            found: found.into(),
        };
        return r.fail("interface", &e);
    }
    let app = reloadable::web::app::Interface::DECL.name.as_str();
    if found == app {
        if let Err(e) = steps.interface::<reloadable::web::app::Interface>(desc) {
            return r.fail(
                &format!("interface `{found}` matches this hotdev's fingerprint"),
                &e,
            );
        }
        r.ok(&format!(
            "interface `{found}` matches this hotdev's fingerprint"
        ))?;
    } else {
        let parts = library::plugin_parts(desc);
        let kind = if desc.interface.rust_types {
            "Rust types; its host compares the fingerprint and each type's identity on load"
        } else {
            "FFI types; its host compares the fingerprint on load"
        };
        r.ok(&format!(
            "interface `{found}` ({} functions, fingerprint {:016x}; {kind})",
            desc.interface.functions.as_slice().len(),
            fingerprint::hash(&parts)
        ))?;
    }
    Ok(!r.failed)
}
