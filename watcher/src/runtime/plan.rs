//! What to watch: the plugins' packages and their local dependencies (`cargo metadata`),
//! the target directories to stay out of, and the ignore rules that apply (`.gitignore`
//! files above a package, the repository's `.git/info/exclude`, the global excludes
//! file).

use std::path::{Path, PathBuf};

use crate::filter::{PluginSpec, WatchPlan};
use crate::{Config, Error, metadata};

/// Runs `cargo metadata` for every crate directory and merges the answers.
pub(super) fn resolve_plan(config: &Config) -> Result<WatchPlan, Error> {
    let mut plan = WatchPlan::default();
    plan.asset_dirs = config
        .asset_dirs
        .iter()
        .map(|dir| canonical_or_self(dir))
        .collect();
    for crate_dir in &config.crate_dirs {
        let resolved = resolve_crate(config, crate_dir)?;
        if plan
            .plugins
            .iter()
            .any(|p| p.manifest_path == resolved.plugin.manifest_path)
        {
            continue; // the same crate named twice
        }
        let workspace = plan.workspace_index(&resolved.workspace_root);
        let index = plan.add_plugin(PluginSpec {
            name: resolved.plugin.name.clone(),
            crate_dir: crate_dir.clone(),
            manifest_path: resolved.plugin.manifest_path.clone(),
            workspace,
            companions: {
                // `*`: every member, as a plain `cargo build` in the workspace selects.
                let every = config.companions.iter().any(|c| c == "*");
                resolved
                    .members
                    .iter()
                    .filter(|m| **m != resolved.plugin.name)
                    .filter(|m| every || config.companions.contains(m))
                    .cloned()
                    .collect()
            },
        });
        add_resolved_packages(&mut plan, index, &resolved);
        if let Some(dir) = target_dir_arg(&config.extra_args, &resolved.workspace_root) {
            plan.target_dirs.push(dir);
        }
    }
    Ok(plan)
}

pub(super) fn resolve_crate(
    config: &Config,
    crate_dir: &Path,
) -> Result<metadata::Resolved, Error> {
    let canonical = crate_dir.canonicalize().map_err(|source| Error::CrateDir {
        path: crate_dir.to_owned(),
        source,
    })?;
    metadata::resolve(&config.cargo, &config.envs, &canonical.join("Cargo.toml"))
}

/// Adds the packages of a resolved plugin crate (with canonical directories) to `plan`.
pub(super) fn add_resolved_packages(
    plan: &mut WatchPlan,
    plugin: usize,
    resolved: &metadata::Resolved,
) {
    let packages: Vec<(String, Vec<PathBuf>)> = std::iter::once(&resolved.plugin)
        .chain(&resolved.deps)
        .map(|p| {
            let dirs = std::iter::once(&p.root)
                .chain(&p.outside_dirs)
                .map(|d| canonical_or_self(d))
                .collect();
            (p.name.clone(), dirs)
        })
        .collect();
    for (_, dirs) in &packages {
        load_ancestor_gitignores(plan, &dirs[0]);
    }
    plan.add_packages(
        plugin,
        packages,
        canonical_or_self(&resolved.target_directory),
    );
}

/// The `--target-dir` among cargo arguments, resolved against `cwd` (where cargo runs).
/// Build output there must not count as a change either.
fn target_dir_arg(args: &[std::ffi::OsString], cwd: &Path) -> Option<PathBuf> {
    let mut args = args.iter();
    let mut found = None;
    while let Some(arg) = args.next() {
        let arg = arg.to_string_lossy();
        if arg == "--target-dir" {
            found = args.next().map(PathBuf::from);
        } else if let Some(dir) = arg.strip_prefix("--target-dir=") {
            found = Some(PathBuf::from(dir));
        }
    }
    found.map(|dir| canonical_or_self(&cwd.join(dir)))
}

/// `path` canonicalized, or its parent canonicalized and joined with its name (a target
/// directory may not exist yet), or `path` itself.
fn canonical_or_self(path: &Path) -> PathBuf {
    if let Ok(canonical) = path.canonicalize() {
        return canonical;
    }
    match (path.parent().map(Path::canonicalize), path.file_name()) {
        (Some(Ok(parent)), Some(name)) => parent.join(name),
        _ => path.to_owned(),
    }
}

/// Loads the `.gitignore` files that apply to `root` from above it: those of its
/// ancestors up to the git repository's root, then the repository's `.git/info/exclude`
/// and the user's global excludes file. Outside a repository, none apply.
pub(super) fn load_ancestor_gitignores(plan: &mut WatchPlan, root: &Path) {
    let Some(repo) = root.ancestors().find(|d| d.join(".git").exists()) else {
        return;
    };
    load_repo_excludes(
        plan,
        repo,
        root,
        ignore::gitignore::gitconfig_excludes_path(),
    );
    if repo == root {
        return;
    }
    for dir in root.ancestors().skip(1) {
        if let Ok(text) = std::fs::read_to_string(dir.join(".gitignore"))
            && !plan.add_gitignore_lines_unless_ignoring(dir, &text, Some(root))
        {
            tracing::warn!(
                package = %root.display(),
                gitignore = %dir.join(".gitignore").display(),
                "the package lies in a folder this .gitignore ignores; its rules are not applied to the package's files"
            );
        }
        if dir == repo {
            break;
        }
    }
}

/// Adds `repo`'s `.git/info/exclude` and the global excludes file `global` (git's
/// `core.excludesFile`) to the plan's rules for the package at `root`.
fn load_repo_excludes(plan: &mut WatchPlan, repo: &Path, root: &Path, global: Option<PathBuf>) {
    // In a worktree or submodule `.git` is a file naming the real git directory; its
    // `info/exclude` is then not read (git reads the common directory's).
    let files: Vec<(PathBuf, String)> = [Some(repo.join(".git/info/exclude")), global]
        .into_iter()
        .flatten()
        .filter_map(|file| {
            let text = std::fs::read_to_string(&file).ok()?;
            Some((file, text))
        })
        .collect();
    for file in plan.add_repo_excludes(repo, &files, root) {
        tracing::warn!(
            package = %root.display(),
            excludes = %file.display(),
            "the package lies in a folder these excludes ignore; they are not applied to the package's files"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_exclude_file_and_a_global_excludes_file_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(repo.join(".git/info")).unwrap();
        std::fs::write(repo.join(".git/info/exclude"), "*.bak\n").unwrap();
        let global = repo.join("global-ignore");
        std::fs::write(&global, "*.orig\n").unwrap();
        let root = repo.join("plugin");
        let mut plan = WatchPlan::default();
        load_repo_excludes(&mut plan, &repo, &root, Some(global));
        // A missing global file is no error.
        load_repo_excludes(&mut plan, &repo, &root, Some(repo.join("missing")));
        let plugin = plan.add_plugin(crate::filter::PluginSpec {
            name: "plugin".into(),
            crate_dir: root.clone(),
            manifest_path: root.join("Cargo.toml"),
            workspace: 0,
            companions: Vec::new(),
        });
        plan.add_packages(
            plugin,
            [("plugin".into(), vec![root.clone()])],
            repo.join("target"),
        );
        let event = |name: &str| {
            notify::Event::new(notify::EventKind::Modify(notify::event::ModifyKind::Data(
                notify::event::DataChange::Content,
            )))
            .add_path(root.join(name))
        };
        assert!(plan.classify(&event("lib.rs.bak"), |_| false).is_empty());
        assert!(plan.classify(&event("lib.rs.orig"), |_| false).is_empty());
        assert_eq!(plan.classify(&event("lib.rs"), |_| false).len(), 1);
    }

    #[test]
    fn a_target_dir_in_the_extra_cargo_args_is_excluded_too() {
        let args = |list: &[&str]| list.iter().map(Into::into).collect::<Vec<_>>();
        let cwd = Path::new("/nonexistent/ws");
        assert_eq!(target_dir_arg(&args(&["--release"]), cwd), None);
        assert_eq!(
            target_dir_arg(&args(&["--target-dir", "out"]), cwd),
            Some(PathBuf::from("/nonexistent/ws/out"))
        );
        assert_eq!(
            target_dir_arg(&args(&["--features", "x", "--target-dir=/abs/t"]), cwd),
            Some(PathBuf::from("/abs/t"))
        );
    }
}
