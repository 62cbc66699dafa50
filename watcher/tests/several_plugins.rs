//! Several plugin crates in one loop: a change rebuilds exactly the plugins that depend on
//! the changed files, all in one cargo invocation.

mod support;

use std::fs;
use std::path::Path;

use hotdev_watcher::{Artifact, Config, Event};
use support::{Session, contains, marker};

/// A workspace with two cdylib plugins, `alpha` and `beta`, both using the library `shared`.
fn workspace(root: &Path) {
    let write = |path: &str, text: String| {
        let path = root.join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    };
    write(
        "Cargo.toml",
        "[workspace]\nmembers = [\"alpha\", \"beta\", \"shared\"]\nresolver = \"3\"\n".into(),
    );
    for plugin in ["alpha", "beta"] {
        write(
            &format!("{plugin}/Cargo.toml"),
            format!(
                "[package]\nname = \"{plugin}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n\
                 [lib]\ncrate-type = [\"cdylib\"]\n\n\
                 [dependencies]\nshared = {{ path = \"../shared\" }}\n"
            ),
        );
        write_plugin(root, plugin, &marker(&format!("{plugin}-v1")));
    }
    write(
        "shared/Cargo.toml",
        "[package]\nname = \"shared\"\nversion = \"0.1.0\"\nedition = \"2024\"\n".into(),
    );
    write_shared(root, &marker("shared-v1"));
}

fn write_plugin(root: &Path, plugin: &str, marker: &str) {
    fs::create_dir_all(root.join(plugin).join("src")).unwrap();
    fs::write(
        root.join(plugin).join("src/lib.rs"),
        format!(
            "#[unsafe(no_mangle)]\npub static MARKER: [u8; 32] = *b\"{marker}\";\n\
             #[unsafe(no_mangle)]\npub extern \"C\" fn shared() -> *const u8 {{ shared::MARKER.as_ptr() }}\n"
        ),
    )
    .unwrap();
}

fn write_shared(root: &Path, marker: &str) {
    let path = root.join("shared/src/lib.rs");
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(
        path,
        format!("pub static MARKER: [u8; 32] = *b\"{marker}\";\n"),
    )
    .unwrap();
}

/// The events of one build, from its start to its last artifact: the packages it built
/// and the artifacts it reported.
fn one_build(session: &mut Session, expected_artifacts: usize) -> (Vec<String>, Vec<Artifact>) {
    let started = session.until(|e| matches!(e, Event::BuildStarted { .. }));
    let Some(Event::BuildStarted { packages, .. }) = started.last() else {
        unreachable!()
    };
    let mut packages = packages.clone();
    packages.sort();
    let mut artifacts = Vec::new();
    while artifacts.len() < expected_artifacts {
        match session.next() {
            Event::ArtifactReady(a) => artifacts.push(a),
            Event::BuildFailed { .. }
            | Event::BuildSuperseded { .. }
            | Event::BuildStarted { .. } => {
                session.panic_with_log("the build did not finish with its artifacts")
            }
            _ => {}
        }
    }
    artifacts.sort_by(|a, b| a.package.cmp(&b.package));
    (packages, artifacts)
}

#[test]
fn a_change_rebuilds_exactly_the_plugins_that_use_it_in_one_invocation() {
    let tmp = tempfile::Builder::new()
        .prefix("hotdev-watcher-several-")
        .tempdir()
        .unwrap();
    let root = tmp.path().canonicalize().unwrap();
    workspace(&root);
    let mut config = Config::new([root.join("alpha"), root.join("beta")]);
    config
        .envs
        .push(("CARGO_TARGET_DIR".into(), root.join("target").into()));
    let mut session = Session::start(config);

    // The first build: both plugins, one cargo invocation.
    let (packages, artifacts) = one_build(&mut session, 2);
    assert_eq!(packages, ["alpha", "beta"]);
    assert_eq!(
        artifacts
            .iter()
            .map(|a| a.package.as_str())
            .collect::<Vec<_>>(),
        ["alpha", "beta"]
    );

    // The shared library changes: both rebuild, together, and both carry the change.
    write_shared(&root, &marker("shared-v2"));
    let (packages, artifacts) = one_build(&mut session, 2);
    assert_eq!(packages, ["alpha", "beta"], "{:#?}", session.log);
    for a in &artifacts {
        assert!(
            contains(&a.path, &marker("shared-v2")),
            "{} lacks the change",
            a.package
        );
    }

    // Only alpha changes: only alpha rebuilds.
    write_plugin(&root, "alpha", &marker("alpha-v2"));
    let (packages, artifacts) = one_build(&mut session, 1);
    assert_eq!(packages, ["alpha"], "{:#?}", session.log);
    assert_eq!(artifacts[0].package, "alpha");
    assert!(contains(&artifacts[0].path, &marker("alpha-v2")));

    // And the next build is beta's own, with no artifact of alpha in between.
    write_plugin(&root, "beta", &marker("beta-v2"));
    let (packages, artifacts) = one_build(&mut session, 1);
    assert_eq!(packages, ["beta"], "{:#?}", session.log);
    assert_eq!(artifacts[0].package, "beta");
    assert!(contains(&artifacts[0].path, &marker("beta-v2")));
}
