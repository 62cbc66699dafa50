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
use std::process::{Command, Stdio};

use serde::Deserialize;

use crate::Error;

/// The part of `cargo metadata`'s output the watcher reads.
#[derive(Debug, Deserialize)]
pub(crate) struct Metadata {
    pub(crate) packages: Vec<Package>,
    pub(crate) resolve: Option<Resolve>,
    pub(crate) target_directory: PathBuf,
    pub(crate) workspace_root: PathBuf,
    #[serde(default)]
    pub(crate) workspace_members: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Package {
    pub(crate) name: String,
    pub(crate) id: String,
    pub(crate) source: Option<String>,
    pub(crate) manifest_path: PathBuf,
    #[serde(default)]
    pub(crate) targets: Vec<Target>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Target {
    #[serde(default)]
    pub(crate) kind: Vec<String>,
    pub(crate) src_path: PathBuf,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Resolve {
    pub(crate) nodes: Vec<Node>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Node {
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) deps: Vec<NodeDep>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct NodeDep {
    pub(crate) pkg: String,
    #[serde(default)]
    pub(crate) dep_kinds: Vec<DepKind>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct DepKind {
    /// `null` for a normal dependency, `"build"` or `"dev"`.
    pub(crate) kind: Option<String>,
}

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
    let json = match run(cargo, envs, manifest, false) {
        Ok(json) => json,
        Err(Error::Metadata { stderr, .. }) if looks_offline(&stderr) => {
            tracing::info!("cargo metadata could not reach the registry; retrying with --offline");
            run(cargo, envs, manifest, true)?
        }
        Err(error) => return Err(error),
    };
    let metadata: Metadata =
        serde_json::from_slice(&json).map_err(|source| Error::MetadataParse {
            manifest: manifest.to_owned(),
            source,
        })?;
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
) -> Result<Vec<u8>, Error> {
    let mut command = Command::new(cargo);
    command
        .arg("metadata")
        .arg("--format-version")
        .arg("1")
        .arg("--manifest-path")
        .arg(manifest)
        .envs(envs.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null());
    if offline {
        command.arg("--offline");
    }
    if let Some(dir) = manifest.parent() {
        command.current_dir(dir);
    }
    let output = command.output().map_err(|source| Error::CargoSpawn {
        cargo: cargo.to_owned(),
        source,
    })?;
    if !output.status.success() {
        return Err(Error::Metadata {
            manifest: manifest.to_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    Ok(output.stdout)
}

/// Picks the plugin package and its local library dependencies out of `metadata`.
pub(crate) fn from_metadata(metadata: &Metadata, manifest: &Path) -> Result<Resolved, Error> {
    let by_id: HashMap<&str, &Package> = metadata
        .packages
        .iter()
        .map(|p| (p.id.as_str(), p))
        .collect();
    let plugin = metadata
        .packages
        .iter()
        .find(|p| same_file(&p.manifest_path, manifest))
        .ok_or_else(|| Error::NotAPackage {
            manifest: manifest.to_owned(),
        })?;

    let mut seen = BTreeSet::new();
    let mut local_deps = Vec::new();
    if let Some(resolve) = &metadata.resolve {
        let nodes: HashMap<&str, &Node> =
            resolve.nodes.iter().map(|n| (n.id.as_str(), n)).collect();
        let mut queue = VecDeque::from([plugin.id.as_str()]);
        seen.insert(plugin.id.as_str());
        while let Some(id) = queue.pop_front() {
            let Some(node) = nodes.get(id) else { continue };
            for dep in &node.deps {
                // An empty `dep_kinds` comes from cargo older than 1.41; count it as normal.
                let library_dep = dep.dep_kinds.is_empty()
                    || dep
                        .dep_kinds
                        .iter()
                        .any(|k| k.kind.as_deref() != Some("dev"));
                if library_dep && seen.insert(dep.pkg.as_str()) {
                    queue.push_back(dep.pkg.as_str());
                    match by_id.get(dep.pkg.as_str()) {
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
        workspace_root: metadata.workspace_root.clone(),
        target_directory: metadata.target_directory.clone(),
        plugin: local_package(plugin),
        deps: local_deps,
        members: metadata
            .workspace_members
            .iter()
            .filter_map(|id| by_id.get(id.as_str()).map(|p| p.name.clone()))
            .collect(),
    })
}

fn local_package(package: &Package) -> LocalPackage {
    let root = package
        .manifest_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let mut outside_dirs: Vec<PathBuf> = package
        .targets
        .iter()
        // The library and the build script are what a plugin build compiles; examples,
        // tests and benches that live outside the package root do not go into it.
        .filter(|t| {
            t.kind
                .iter()
                .any(|k| k.ends_with("lib") || k == "custom-build")
        })
        .filter(|t| !t.src_path.starts_with(&root))
        .filter_map(|t| t.src_path.parent().map(Path::to_path_buf))
        .collect();
    outside_dirs.sort();
    outside_dirs.dedup();
    LocalPackage {
        name: package.name.clone(),
        manifest_path: package.manifest_path.clone(),
        root,
        outside_dirs,
    }
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

    const METADATA: &str = r#"{
      "packages": [
        {"name": "plugin", "id": "path+file:///w/plugin#0.1.0", "source": null,
         "manifest_path": "/w/plugin/Cargo.toml",
         "targets": [{"kind": ["cdylib"], "src_path": "/w/plugin/src/lib.rs"},
                     {"kind": ["custom-build"], "src_path": "/w/shared/build.rs"}]},
        {"name": "dep", "id": "path+file:///w/dep#0.1.0", "source": null,
         "manifest_path": "/w/dep/Cargo.toml",
         "targets": [{"kind": ["lib"], "src_path": "/w/dep/src/lib.rs"}]},
        {"name": "deeper", "id": "path+file:///w/deeper#0.1.0", "source": null,
         "manifest_path": "/w/deeper/Cargo.toml",
         "targets": [{"kind": ["lib"], "src_path": "/w/deeper/src/lib.rs"}]},
        {"name": "builder", "id": "path+file:///w/builder#0.1.0", "source": null,
         "manifest_path": "/w/builder/Cargo.toml", "targets": []},
        {"name": "testhelp", "id": "path+file:///w/testhelp#0.1.0", "source": null,
         "manifest_path": "/w/testhelp/Cargo.toml", "targets": []},
        {"name": "serde", "id": "registry+https://github.com/rust-lang/crates.io-index#serde@1.0.0",
         "source": "registry+https://github.com/rust-lang/crates.io-index",
         "manifest_path": "/home/.cargo/registry/src/serde-1.0.0/Cargo.toml", "targets": []}
      ],
      "resolve": {"nodes": [
        {"id": "path+file:///w/plugin#0.1.0", "deps": [
          {"pkg": "path+file:///w/dep#0.1.0", "dep_kinds": [{"kind": null}]},
          {"pkg": "path+file:///w/builder#0.1.0", "dep_kinds": [{"kind": "build"}]},
          {"pkg": "path+file:///w/testhelp#0.1.0", "dep_kinds": [{"kind": "dev"}]},
          {"pkg": "registry+https://github.com/rust-lang/crates.io-index#serde@1.0.0", "dep_kinds": [{"kind": null}]}
        ]},
        {"id": "path+file:///w/dep#0.1.0", "deps": [
          {"pkg": "path+file:///w/deeper#0.1.0", "dep_kinds": [{"kind": null}]}
        ]},
        {"id": "path+file:///w/deeper#0.1.0", "deps": []},
        {"id": "path+file:///w/builder#0.1.0", "deps": []},
        {"id": "path+file:///w/testhelp#0.1.0", "deps": []},
        {"id": "registry+https://github.com/rust-lang/crates.io-index#serde@1.0.0", "deps": []}
      ]},
      "target_directory": "/w/plugin/target",
      "workspace_root": "/w/plugin",
      "version": 1
    }"#;

    #[test]
    fn follows_normal_and_build_path_dependencies_transitively_but_not_dev_or_registry() {
        let metadata: Metadata = serde_json::from_str(METADATA).unwrap();
        let resolved = from_metadata(&metadata, Path::new("/w/plugin/Cargo.toml")).unwrap();
        assert_eq!(resolved.plugin.name, "plugin");
        assert_eq!(resolved.plugin.root, Path::new("/w/plugin"));
        assert_eq!(
            resolved.plugin.outside_dirs,
            vec![PathBuf::from("/w/shared")]
        );
        let names: Vec<&str> = resolved.deps.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["builder", "deeper", "dep"]);
        assert_eq!(resolved.target_directory, Path::new("/w/plugin/target"));
    }

    #[test]
    fn a_manifest_without_a_package_is_an_error_naming_it() {
        let metadata: Metadata = serde_json::from_str(METADATA).unwrap();
        let error = from_metadata(&metadata, Path::new("/w/other/Cargo.toml")).unwrap_err();
        assert!(error.to_string().contains("/w/other/Cargo.toml"), "{error}");
    }
}
