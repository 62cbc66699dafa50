//! `hotdev new <DIR>`: creates a plugin crate that `hotdev serve` runs at once.
//!
//! Its page links `static/style.css`, which `hotdev serve` serves under `/static/` and
//! swaps into open pages on every save, without a build.
//!
//! The crate is a `cdylib` with a `[workspace]` table of its own (so it builds on its own
//! wherever it is created, even inside another workspace). It depends on the `reloadable`
//! this `hotdev` was built with: by exact version when `hotdev` was installed from a
//! release (`cargo install hotdev`), by absolute path when it runs from a source checkout
//! (whose `reloadable` may be ahead of any release). A plugin built against another
//! `reloadable` would be refused at load, so the version is pinned with `=`.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// How the new crate depends on `reloadable`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Reloadable {
    /// `reloadable = "=VERSION"`: from crates.io.
    Version(&'static str),
    /// `reloadable = { path = "..." }`: this source checkout's crate.
    Path(PathBuf),
}

impl Reloadable {
    /// The dependency for a `hotdev` built from `source` (its package directory): the
    /// checkout's `reloadable` while it is there, else the release's version. A package
    /// downloaded from crates.io holds no `reloadable/` (it is published on its own), and a
    /// checkout that was moved or deleted after `cargo install --path` no longer has one.
    fn for_source(source: &Path) -> Reloadable {
        let checkout = source.join("reloadable");
        if checkout.join("Cargo.toml").is_file() {
            Reloadable::Path(checkout)
        } else {
            // hotdev and reloadable are released together, with one version.
            Reloadable::Version(env!("CARGO_PKG_VERSION"))
        }
    }

    /// The dependency of this `hotdev`.
    fn of_this_build() -> Reloadable {
        Reloadable::for_source(Path::new(env!("CARGO_MANIFEST_DIR")))
    }

    /// The value of the `reloadable` key in `[dependencies]`.
    fn toml(&self) -> String {
        match self {
            Reloadable::Version(version) => format!("\"={version}\""),
            Reloadable::Path(path) => {
                // A TOML basic string: escape backslashes and quotes (Windows paths).
                let path = path
                    .display()
                    .to_string()
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"");
                format!("{{ path = \"{path}\" }}")
            }
        }
    }
}

/// What `hotdev new` creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Template {
    /// A plugin crate that `hotdev serve` runs (FFI types, the web interface).
    #[default]
    Web,
    /// An axum app whose routes hot-reload: a workspace with a host, an api crate and a
    /// plugin in one world, run with `hotdev run`.
    Axum,
}

/// Creates the project at `dir` (missing or empty), and prints the command that runs it.
pub fn run(dir: &Path, template: Template) -> anyhow::Result<()> {
    match template {
        Template::Web => {
            create(dir)?;
            println!("created the plugin crate {}", dir.display());
            println!("serve it with:\n\n    hotdev serve {}\n", dir.display());
        }
        Template::Axum => {
            create_axum(dir)?;
            println!(
                "created the axum workspace {} (host, api, plugin)",
                dir.display()
            );
            println!(
                "run it with:\n\n    cd {} && hotdev run --listen 127.0.0.1:3000\n\n\
                 then edit plugin/src/lib.rs: the open page reloads with the new routes",
                dir.display()
            );
        }
    }
    Ok(())
}

/// The files of the axum template: `examples/axum` of this checkout, as a test checks.
/// Manifests are stored as `Cargo.toml.in`, so that cargo does not take the template for
/// packages of hotdev's.
const AXUM: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("axum/Cargo.toml.in")),
    (".cargo/config.toml", include_str!("axum/cargo/config.toml")),
    (".gitignore", include_str!("axum/gitignore")),
    ("api/Cargo.toml", include_str!("axum/api/Cargo.toml.in")),
    ("api/src/lib.rs", include_str!("axum/api/src/lib.rs")),
    (
        "plugin/Cargo.toml",
        include_str!("axum/plugin/Cargo.toml.in"),
    ),
    ("plugin/src/lib.rs", include_str!("axum/plugin/src/lib.rs")),
    (
        "plugin/static/style.css",
        include_str!("axum/plugin/static/style.css"),
    ),
    ("host/Cargo.toml", include_str!("axum/host/Cargo.toml.in")),
    ("host/src/main.rs", include_str!("axum/host/src/main.rs")),
];

/// How the axum template's manifests name reloadable and hotdev (as `examples/axum` does,
/// from inside this checkout).
const EXAMPLE_RELOADABLE: &str = r#"{ path = "../../../reloadable" }"#;
const EXAMPLE_HOTDEV: &str = r#"path = "../../..""#;

/// The `hotdev` dependency's source of this build, as for `reloadable`.
fn hotdev_source(reloadable: &Reloadable) -> String {
    match reloadable {
        Reloadable::Version(version) => format!("version = \"={version}\""),
        Reloadable::Path(path) => {
            let root = path.parent().unwrap_or(path).display().to_string();
            format!(
                "path = \"{}\"",
                root.replace('\\', "\\\\").replace('"', "\\\"")
            )
        }
    }
}

/// Creates the axum workspace at `dir` without printing anything.
pub fn create_axum(dir: &Path) -> anyhow::Result<()> {
    empty_or_missing(dir)?;
    let reloadable = Reloadable::of_this_build();
    for (file, text) in AXUM {
        let text = text
            .replace(EXAMPLE_RELOADABLE, &reloadable.toml())
            .replace(EXAMPLE_HOTDEV, &hotdev_source(&reloadable));
        let path = dir.join(file);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).with_context(|| {
                format!(
                    "[HD081] could not create the directory {}",
                    parent.display()
                )
            })?;
        }
        fs::write(&path, text)
            .with_context(|| format!("[HD081] could not write {}", path.display()))?;
    }
    Ok(())
}

/// Refuses a `dir` that is a file or a directory with something in it.
fn empty_or_missing(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        if !dir.is_dir() {
            bail!("[HD080] {} exists and is not a directory", dir.display());
        }
        let mut entries = fs::read_dir(dir)
            .with_context(|| format!("[HD081] could not read the directory {}", dir.display()))?;
        if entries.next().is_some() {
            bail!(
                "[HD080] refusing to create a plugin in {}: the directory is not empty",
                dir.display()
            );
        }
    }
    Ok(())
}

/// Creates the plugin crate at `dir` without printing anything.
pub fn create(dir: &Path) -> anyhow::Result<()> {
    empty_or_missing(dir)?;
    let name = crate_name(dir)?;
    for sub in ["src", "static"] {
        fs::create_dir_all(dir.join(sub))
            .with_context(|| format!("[HD081] could not create the directory {}", dir.display()))?;
    }
    let files = [
        ("Cargo.toml", manifest(&name, &Reloadable::of_this_build())),
        ("src/lib.rs", LIB_RS.to_string()),
        ("static/style.css", STYLE_CSS.to_string()),
        (".gitignore", "/target\n".to_string()),
    ];
    for (file, contents) in files {
        let path = dir.join(file);
        fs::write(&path, contents)
            .with_context(|| format!("[HD081] could not write {}", path.display()))?;
    }
    Ok(())
}

/// The package name for a directory: its last component made into a valid crate name.
fn crate_name(dir: &Path) -> anyhow::Result<String> {
    let absolute = if dir.is_absolute() {
        dir.to_path_buf()
    } else {
        std::env::current_dir()
            .context("could not read the current directory")?
            .join(dir)
    };
    let base = absolute
        .components()
        .rev()
        .find_map(|c| match c {
            std::path::Component::Normal(name) => Some(name.to_string_lossy().into_owned()),
            _ => None,
        })
        .unwrap_or_default();
    Ok(sanitize(&base))
}

/// Makes a valid, lowercase crate name: letters, digits, `_` and `-`, starting with a
/// letter, and not a name cargo refuses.
fn sanitize(base: &str) -> String {
    let mut name: String = base
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '_' | '-' => c,
            'A'..='Z' => c.to_ascii_lowercase(),
            _ => '-',
        })
        .collect();
    name = name.trim_matches('-').to_string();
    if name.is_empty() {
        name = "plugin".into();
    }
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        name = format!("plugin-{name}");
    }
    const RESERVED: &[&str] = &[
        "test",
        "core",
        "std",
        "alloc",
        "proc_macro",
        "proc-macro",
        "self",
        "super",
        "crate",
        "reloadable",
    ];
    if RESERVED.contains(&name.as_str()) {
        name = format!("{name}-plugin");
    }
    name
}

fn manifest(name: &str, reloadable: &Reloadable) -> String {
    let reloadable = reloadable.toml();
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
crate-type = ["cdylib"]

[dependencies]
reloadable = {reloadable}

# A workspace of its own, so that this crate builds wherever it was created.
[workspace]
"#
    )
}

const LIB_RS: &str = r#"//! A hotdev plugin: `hotdev serve .` builds it, serves it, and reloads it on every save.

use reloadable::State;
use reloadable::web::{Request, Response, app};

struct App;

impl app::Implementation for App {
    fn handle(request: &Request, _state: &State) -> Response {
        match (request.method.as_str(), request.path.as_str()) {
            ("GET", "/") => Response::html(
                "<!doctype html>\n<html>\n<head><meta charset=\"utf-8\"><title>hotdev</title>\n\
                 <link rel=\"stylesheet\" href=\"/static/style.css\"></head>\n\
                 <body>\n<h1>Hello from hotdev</h1>\n\
                 <p>Edit <code>src/lib.rs</code> and save: this page reloads by itself.</p>\n\
                 <p>Edit <code>static/style.css</code> and save: the page restyles in place, \
                 without a build or a reload.</p>\n\
                 </body>\n</html>\n",
            ),
            _ => Response::text("not found\n").with_status(404),
        }
    }
}

reloadable::export_plugin!(interface: reloadable::web::app, implementation: App);
"#;

const STYLE_CSS: &str =
    "/* Served at /static/style.css. Save a change here and open pages restyle at once,
   without a build or a reload. */
body {
  font: 17px/1.5 system-ui, sans-serif;
  max-width: 40em;
  margin: 4em auto;
  padding: 0 1em;
}
h1 {
  color: #1d4ed8;
}
code {
  background: #f4f4f5;
  padding: 0 0.3em;
  border-radius: 4px;
}
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_made_valid() {
        assert_eq!(sanitize("my-app"), "my-app");
        assert_eq!(sanitize("My App!"), "my-app");
        assert_eq!(sanitize("1st"), "plugin-1st");
        assert_eq!(sanitize(""), "plugin");
        assert_eq!(sanitize("test"), "test-plugin");
        assert_eq!(sanitize("ÜÏ"), "plugin");
    }

    #[test]
    fn refuses_a_non_empty_directory() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("keep.txt"), "mine").unwrap();
        let error = create(dir.path()).unwrap_err().to_string();
        assert!(error.contains("not empty"), "{error}");
        assert!(error.contains(&dir.path().display().to_string()), "{error}");
        assert_eq!(
            fs::read_to_string(dir.path().join("keep.txt")).unwrap(),
            "mine"
        );
    }

    #[test]
    fn the_axum_template_is_the_axum_example() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/axum");
        for (file, text) in AXUM {
            let on_disk = fs::read_to_string(example.join(file)).unwrap();
            assert_eq!(
                *text, on_disk,
                "examples/axum/{file} and the template differ"
            );
        }
        assert!(AXUM.iter().any(|(_, t)| t.contains(EXAMPLE_RELOADABLE)));
        assert!(AXUM.iter().any(|(_, t)| t.contains(EXAMPLE_HOTDEV)));
    }

    #[test]
    fn the_axum_template_names_this_checkout_and_refuses_a_full_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("app");
        create_axum(&dir).unwrap();
        let host = fs::read_to_string(dir.join("host/Cargo.toml")).unwrap();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).display().to_string();
        assert!(host.contains(&format!("path = \"{root}\"")), "{host}");
        let api = fs::read_to_string(dir.join("api/Cargo.toml")).unwrap();
        assert!(api.contains(&format!("{root}/reloadable")), "{api}");
        assert!(dir.join(".cargo/config.toml").is_file());
        let err = create_axum(&dir).unwrap_err().to_string();
        assert!(err.contains("HD080"), "{err}");
    }

    #[test]
    fn creates_a_standalone_cdylib_crate() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("Shop Front");
        create(&target).unwrap();
        let manifest = fs::read_to_string(target.join("Cargo.toml")).unwrap();
        assert!(manifest.contains("name = \"shop-front\""), "{manifest}");
        assert!(manifest.contains("crate-type = [\"cdylib\"]"));
        assert!(manifest.contains("[workspace]"));
        // The tests run from the checkout: its `reloadable`, by path.
        let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("reloadable");
        assert!(
            manifest.contains(&format!(
                "reloadable = {{ path = \"{}\" }}",
                checkout.display()
            )),
            "{manifest}"
        );
        let lib = fs::read_to_string(target.join("src/lib.rs")).unwrap();
        assert!(lib.contains("Hello from hotdev"));
        assert!(lib.contains(r#"<link rel=\"stylesheet\" href=\"/static/style.css\">"#));
        let style = fs::read_to_string(target.join("static/style.css")).unwrap();
        assert!(style.contains("h1 {"), "{style}");
    }

    #[test]
    fn a_release_depends_on_its_own_reloadable_version() {
        // A package directory as crates.io unpacks it: no `reloadable/` inside.
        let unpacked = tempfile::tempdir().unwrap();
        fs::write(
            unpacked.path().join("Cargo.toml"),
            "[package]\nname = \"hotdev\"\n",
        )
        .unwrap();
        let dependency = Reloadable::for_source(unpacked.path());
        assert_eq!(dependency, Reloadable::Version(env!("CARGO_PKG_VERSION")));
        let manifest = manifest("shop", &dependency);
        let expected = format!("reloadable = \"={}\"", env!("CARGO_PKG_VERSION"));
        assert!(manifest.contains(&expected), "{manifest}");
        assert!(!manifest.contains("path ="), "{manifest}");
    }

    #[test]
    fn a_checkout_depends_on_its_reloadable_by_path() {
        let checkout = tempfile::tempdir().unwrap();
        let crate_dir = checkout.path().join("reloadable");
        fs::create_dir(&crate_dir).unwrap();
        fs::write(
            crate_dir.join("Cargo.toml"),
            "[package]\nname = \"reloadable\"\n",
        )
        .unwrap();
        let dependency = Reloadable::for_source(checkout.path());
        assert_eq!(dependency, Reloadable::Path(crate_dir.clone()));
        let manifest = manifest("shop", &dependency);
        assert!(
            manifest.contains(&format!("path = \"{}\"", crate_dir.display())),
            "{manifest}"
        );
        // The manifest parses as TOML with the dependency where cargo looks for it.
        assert!(
            manifest.contains("[dependencies]\nreloadable = {"),
            "{manifest}"
        );
    }
}
