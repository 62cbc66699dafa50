//! Which package of the workspace is the host program, and which of its binaries runs.

use std::path::{Path, PathBuf};

use anyhow::Context;
use cargo_metadata::{Metadata, MetadataCommand, Package};

use super::RunOptions;

/// The host program to build and run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct HostPackage {
    /// The package's name.
    pub(super) name: String,
    /// The binary target that runs.
    pub(super) bin: String,
    /// The package's directory (what the watcher follows).
    pub(super) dir: PathBuf,
    /// The workspace's root (changed files are shown relative to it).
    pub(super) workspace_root: PathBuf,
    /// Cargo's target directory (the private copies of the binary go in it).
    pub(super) target_directory: PathBuf,
}

/// The names of a package's binary targets.
fn bins(package: &Package) -> Vec<&str> {
    package
        .targets
        .iter()
        .filter(|t| t.is_bin())
        .map(|t| t.name.as_str())
        .collect()
}

/// Picks the host package and its binary out of the workspace's metadata.
fn pick_host(
    metadata: &Metadata,
    package: Option<&str>,
    dir: &Path,
) -> anyhow::Result<HostPackage> {
    let members: Vec<&Package> = metadata.workspace_packages();
    let with_bins: Vec<&str> = members
        .iter()
        .filter(|p| !bins(p).is_empty())
        .map(|p| p.name.as_str())
        .collect();
    let chosen = match package {
        Some(name) => members
            .iter()
            .find(|p| p.name.as_str() == name)
            .copied()
            .with_context(|| {
                format!(
                    "[HD085] no package named {name} in the workspace at {} (packages with a \
                     binary: {})",
                    metadata.workspace_root,
                    with_bins.join(", ")
                )
            })?,
        None => {
            let here = members.iter().find(|p| {
                p.manifest_path.parent().map(|d| d.as_std_path()) == Some(dir)
                    && !bins(p).is_empty()
            });
            match (here, with_bins.as_slice()) {
                (Some(p), _) => p,
                (None, [only]) => members
                    .iter()
                    .find(|p| p.name.as_str() == *only)
                    .copied()
                    .expect("the name was taken from the members"),
                (None, []) => anyhow::bail!(
                    "[HD085] no package with a binary in the workspace at {}",
                    metadata.workspace_root
                ),
                (None, several) => anyhow::bail!(
                    "[HD085] several packages have a binary ({}); name the host with -p",
                    several.join(", ")
                ),
            }
        }
    };
    let bins = bins(chosen);
    let bin = match bins.as_slice() {
        [only] => only.to_string(),
        [] => anyhow::bail!(
            "[HD086] package {} has no binary target to run",
            chosen.name
        ),
        several => match several.iter().find(|b| **b == chosen.name.as_str()) {
            Some(b) => b.to_string(),
            None => anyhow::bail!(
                "[HD086] package {} has several binaries ({}) and none named after it",
                chosen.name,
                several.join(", ")
            ),
        },
    };
    Ok(HostPackage {
        name: chosen.name.to_string(),
        bin,
        dir: chosen
            .manifest_path
            .parent()
            .map(|d| d.as_std_path().to_path_buf())
            .unwrap_or_default(),
        workspace_root: metadata.workspace_root.clone().into_std_path_buf(),
        target_directory: metadata.target_directory.clone().into_std_path_buf(),
    })
}

/// Reads the workspace around `opts.dir` and picks the host package in it.
pub(super) fn find_host(opts: &RunOptions) -> anyhow::Result<HostPackage> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let metadata = MetadataCommand::new()
        .cargo_path(&cargo)
        .no_deps()
        .current_dir(&opts.dir)
        .exec()
        .map_err(|error| match error {
            cargo_metadata::Error::Io(source) => anyhow::Error::new(source).context(format!(
                "[HD072] could not run cargo at {}",
                cargo.to_string_lossy()
            )),
            cargo_metadata::Error::CargoMetadata { stderr } => anyhow::anyhow!(
                "[HD073] cargo metadata failed in {}: {}",
                opts.dir.display(),
                stderr.trim()
            ),
            other => anyhow::Error::new(other).context(format!(
                "[HD074] could not read the output of cargo metadata in {}",
                opts.dir.display()
            )),
        })?;
    let dir = opts.dir.canonicalize().unwrap_or_else(|_| opts.dir.clone());
    pick_host(&metadata, opts.package.as_deref(), &dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A workspace with a host (`app`: a binary and a library), a package with two
    /// binaries and a plugin, as `cargo metadata` describes it; and its root.
    fn workspace() -> (tempfile::TempDir, PathBuf, Metadata) {
        let dir = tempfile::tempdir().unwrap();
        let w = dir.path().canonicalize().unwrap();
        let write = |path: &str, text: &str| {
            let path = w.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write(
            "Cargo.toml",
            "[workspace]\nmembers = [\"app\", \"tools\", \"plugin\"]\nresolver = \"2\"\n",
        );
        let package = |name: &str| {
            format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n")
        };
        write("app/Cargo.toml", &package("app"));
        write("app/src/main.rs", "fn main() {}");
        write("app/src/lib.rs", "");
        write("tools/Cargo.toml", &package("tools"));
        write("tools/src/bin/a.rs", "fn main() {}");
        write("tools/src/bin/b.rs", "fn main() {}");
        write(
            "plugin/Cargo.toml",
            &format!("{}[lib]\ncrate-type = [\"cdylib\"]\n", package("plugin")),
        );
        write("plugin/src/lib.rs", "");
        let metadata = MetadataCommand::new()
            .no_deps()
            .current_dir(&w)
            .exec()
            .unwrap();
        (dir, w, metadata)
    }

    #[test]
    fn the_named_package_or_the_one_in_the_directory_is_the_host() {
        let (_dir, w, m) = workspace();
        let host = pick_host(&m, Some("app"), &w).unwrap();
        assert_eq!((host.name.as_str(), host.bin.as_str()), ("app", "app"));
        assert_eq!(host.dir, w.join("app"));
        assert_eq!(host.workspace_root, w);
        assert_eq!(host.target_directory, w.join("target"));
        let host = pick_host(&m, None, &w.join("app")).unwrap();
        assert_eq!(host.name, "app");
    }

    #[test]
    fn an_unclear_choice_is_an_error_with_its_code() {
        let (_dir, w, m) = workspace();
        let e = pick_host(&m, None, &w).unwrap_err().to_string();
        assert!(e.contains("[HD085]") && e.contains("app, tools"), "{e}");
        let e = pick_host(&m, Some("nope"), &w).unwrap_err().to_string();
        assert!(e.contains("[HD085]") && e.contains("nope"), "{e}");
        let e = pick_host(&m, Some("tools"), &w).unwrap_err().to_string();
        assert!(e.contains("[HD086]") && e.contains("a, b"), "{e}");
        let e = pick_host(&m, Some("plugin"), &w).unwrap_err().to_string();
        assert!(e.contains("[HD086]") && e.contains("no binary"), "{e}");
    }

    #[test]
    fn a_directory_without_a_workspace_is_an_error_with_its_code() {
        let dir = tempfile::tempdir().unwrap();
        let opts = RunOptions::new(dir.path());
        let e = format!("{:#}", find_host(&opts).unwrap_err());
        assert!(e.contains("[HD073]") && e.contains("Cargo.toml"), "{e}");
    }
}
