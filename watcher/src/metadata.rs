//! Asking cargo what to watch.
//!
//! `cargo metadata --format-version 1` (with dependency resolution) names the plugin
//! package, every package it depends on, and where each one lives. The watcher keeps the
//! plugin and the local ones (`source == null`: path dependencies and workspace members)
//! that it reaches through normal or build dependencies; dev-dependencies do not go into
//! the library, so they are not followed.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use cargo_metadata::{DependencyKind, Metadata, MetadataCommand, Package, TargetKind};

use crate::Error;

/// A local package to watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LocalPackage {
    pub(crate) name: String,
    pub(crate) manifest_path: PathBuf,
    /// The directory holding the manifest.
    pub(crate) root: PathBuf,
    /// Directories of target sources (`[lib] path`, `build = ...`) that lie outside `root`.
    pub(crate) outside_dirs: Vec<PathBuf>,
}

/// What one plugin crate needs watched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resolved {
    pub(crate) workspace_root: PathBuf,
    pub(crate) target_directory: PathBuf,
    /// The plugin package itself.
    pub(crate) plugin: LocalPackage,
    /// Local packages the plugin's library depends on, not including the plugin.
    pub(crate) deps: Vec<LocalPackage>,
    /// The names of the workspace's member packages.
    pub(crate) members: Vec<String>,
}

/// Runs `cargo metadata` for the package whose manifest is `manifest` and resolves it.
pub(crate) fn resolve(
    cargo: &Path,
    envs: &[(OsString, OsString)],
    manifest: &Path,
) -> Result<Resolved, Error> {
    let _span = tracing::debug_span!("cargo_metadata", manifest = %manifest.display()).entered();
    let metadata = match run(cargo, envs, manifest, false) {
        Ok(metadata) => metadata,
        Err(Error::Metadata { stderr, .. }) if looks_offline(&stderr) => {
            tracing::info!("cargo metadata could not reach the registry; retrying with --offline");
            run(cargo, envs, manifest, true)?
        }
        Err(error) => return Err(error),
    };
    from_metadata(&metadata, manifest)
}

fn looks_offline(stderr: &str) -> bool {
    let stderr = stderr.to_ascii_lowercase();
    [
        "network",
        "failed to download",
        "failed to query replaced source",
        "spurious",
        "dns",
    ]
    .iter()
    .any(|needle| stderr.contains(needle))
}

fn run(
    cargo: &Path,
    envs: &[(OsString, OsString)],
    manifest: &Path,
    offline: bool,
) -> Result<Metadata, Error> {
    let mut command = MetadataCommand::new();
    command.cargo_path(cargo).manifest_path(manifest);
    for (key, value) in envs {
        command.env(key, value);
    }
    if offline {
        command.other_options(vec!["--offline".to_string()]);
    }
    if let Some(dir) = manifest.parent() {
        command.current_dir(dir);
    }
    command.exec().map_err(|error| match error {
        cargo_metadata::Error::CargoMetadata { stderr } => Error::Metadata {
            manifest: manifest.to_owned(),
            stderr,
        },
        cargo_metadata::Error::Io(source) => Error::CargoSpawn {
            cargo: cargo.to_owned(),
            source,
        },
        cargo_metadata::Error::Json(source) => Error::MetadataParse {
            manifest: manifest.to_owned(),
            source,
        },
        // Output that is not UTF-8, or not one JSON document.
        other => Error::Metadata {
            manifest: manifest.to_owned(),
            stderr: other.to_string(),
        },
    })
}

/// Picks the plugin package and its local library dependencies out of `metadata`.
pub(crate) fn from_metadata(metadata: &Metadata, manifest: &Path) -> Result<Resolved, Error> {
    let by_id: HashMap<&str, &Package> = metadata
        .packages
        .iter()
        .map(|p| (p.id.repr.as_str(), p))
        .collect();
    let plugin = metadata
        .packages
        .iter()
        .find(|p| same_file(p.manifest_path.as_std_path(), manifest))
        .ok_or_else(|| Error::NotAPackage {
            manifest: manifest.to_owned(),
        })?;

    let mut seen = BTreeSet::new();
    let mut local_deps = Vec::new();
    if let Some(resolve) = &metadata.resolve {
        let nodes: HashMap<&str, _> = resolve
            .nodes
            .iter()
            .map(|n| (n.id.repr.as_str(), n))
            .collect();
        let mut queue = VecDeque::from([plugin.id.repr.as_str()]);
        seen.insert(plugin.id.repr.as_str());
        while let Some(id) = queue.pop_front() {
            let Some(node) = nodes.get(id) else { continue };
            for dep in &node.deps {
                // An empty `dep_kinds` comes from cargo older than 1.41; count it as normal.
                let library_dep = dep.dep_kinds.is_empty()
                    || dep
                        .dep_kinds
                        .iter()
                        .any(|k| k.kind != DependencyKind::Development);
                if library_dep && seen.insert(dep.pkg.repr.as_str()) {
                    queue.push_back(dep.pkg.repr.as_str());
                    match by_id.get(dep.pkg.repr.as_str()) {
                        Some(package) if package.source.is_none() => {
                            local_deps.push(local_package(package));
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    local_deps.sort_by(|a, b| a.root.cmp(&b.root));

    Ok(Resolved {
        workspace_root: metadata.workspace_root.clone().into_std_path_buf(),
        target_directory: metadata.target_directory.clone().into_std_path_buf(),
        plugin: local_package(plugin),
        deps: local_deps,
        members: metadata
            .workspace_members
            .iter()
            .filter_map(|id| by_id.get(id.repr.as_str()).map(|p| p.name.to_string()))
            .collect(),
    })
}

fn local_package(package: &Package) -> LocalPackage {
    let manifest_path = package.manifest_path.clone().into_std_path_buf();
    let root = manifest_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let mut outside_dirs: Vec<PathBuf> = package
        .targets
        .iter()
        // The library and the build script are what a plugin build compiles; examples,
        // tests and benches that live outside the package root do not go into it.
        .filter(|t| {
            t.kind.iter().any(|k| {
                matches!(
                    k,
                    TargetKind::Lib
                        | TargetKind::RLib
                        | TargetKind::DyLib
                        | TargetKind::CDyLib
                        | TargetKind::StaticLib
                        | TargetKind::ProcMacro
                        | TargetKind::CustomBuild
                )
            })
        })
        // Cargo writes `build = "../shared/build.rs"` as `<root>/../shared/build.rs`,
        // which `starts_with(root)` would take for a path inside the package.
        .map(|t| normalize(t.src_path.as_std_path()))
        .filter(|src| !src.starts_with(&root))
        .filter_map(|src| src.parent().map(Path::to_path_buf))
        .collect();
    outside_dirs.sort();
    outside_dirs.dedup();
    LocalPackage {
        name: package.name.to_string(),
        manifest_path,
        root,
        outside_dirs,
    }
}

/// `path` with `.` and `..` resolved by its components alone (cargo's paths are
/// absolute; the file may not exist yet).
fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

fn same_file(a: &Path, b: &Path) -> bool {
    a == b
        || match (a.canonicalize(), b.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn write(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    fn package(dir: &Path, name: &str, extra: &str) {
        write(
            &dir.join(name).join("Cargo.toml"),
            &format!(
                "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n{extra}"
            ),
        );
        write(&dir.join(name).join("src/lib.rs"), "");
    }

    /// A plugin with a normal, a transitive, a build and a dev path dependency, and a
    /// build script outside its directory, as `cargo metadata` describes it.
    fn workspace() -> (tempfile::TempDir, Metadata) {
        let dir = tempfile::tempdir().unwrap();
        let w = dir.path();
        package(
            w,
            "plugin",
            "build = \"../shared/build.rs\"\n[lib]\ncrate-type = [\"cdylib\"]\n\
             [dependencies]\ndep = { path = \"../dep\" }\n\
             [build-dependencies]\nbuilder = { path = \"../builder\" }\n\
             [dev-dependencies]\ntesthelp = { path = \"../testhelp\" }\n[workspace]\n",
        );
        write(&w.join("shared/build.rs"), "fn main() {}");
        package(
            w,
            "dep",
            "[dependencies]\ndeeper = { path = \"../deeper\" }\n",
        );
        package(w, "deeper", "");
        package(w, "builder", "");
        package(w, "testhelp", "");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let metadata = run(Path::new(&cargo), &[], &w.join("plugin/Cargo.toml"), true).unwrap();
        (dir, metadata)
    }

    #[test]
    fn follows_normal_and_build_path_dependencies_transitively_but_not_dev() {
        let (dir, metadata) = workspace();
        let w = dir.path().canonicalize().unwrap();
        let resolved = from_metadata(&metadata, &w.join("plugin/Cargo.toml")).unwrap();
        assert_eq!(resolved.plugin.name, "plugin");
        assert_eq!(resolved.plugin.root, w.join("plugin"));
        assert_eq!(resolved.plugin.outside_dirs, vec![w.join("shared")]);
        let names: Vec<&str> = resolved.deps.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["builder", "deeper", "dep"]);
        assert_eq!(resolved.target_directory, w.join("plugin/target"));
        assert_eq!(resolved.members, ["plugin"]);
    }

    #[test]
    fn paths_are_normalized_by_their_components() {
        assert_eq!(
            normalize(Path::new("/w/plugin/../shared/./build.rs")),
            Path::new("/w/shared/build.rs")
        );
    }

    #[test]
    fn a_manifest_without_a_package_is_an_error_naming_it() {
        let (dir, metadata) = workspace();
        let other = dir.path().join("other/Cargo.toml");
        let error = from_metadata(&metadata, &other).unwrap_err();
        assert!(
            error.to_string().contains(&other.display().to_string()),
            "{error}"
        );
    }

    #[test]
    fn cargo_failing_is_reported_with_its_own_words() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("Cargo.toml");
        write(&manifest, "[package]\nname = \n");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let error = run(Path::new(&cargo), &[], &manifest, true).unwrap_err();
        assert_eq!(error.code(), "HD073", "{error}");
        assert!(error.to_string().contains("Cargo.toml"), "{error}");
    }
}
