//! The egui example end to end, headless, in its one world: a copy of the workspace is
//! built, its scripted host (`egui-headless`, this package's second program) runs frames
//! drawn by the copy's plugin in an `egui::Context`, the plugin's source is edited while it
//! runs, and the next frame shows the new text while the host's `App` (a `Vec<String>` and
//! a `HashMap`) keeps what was clicked before the edit.
//!
//! The copy and the host are the harness both rich examples share (`examples/support`).

#[path = "../../../support/live_edit.rs"]
mod support;

use support::{ANSWER, BUILD, Copy, Example, Host};

const EXAMPLE: Example = Example {
    name: "egui",
    crates: &["api", "plugin", "host", "window"],
};

impl Host {
    /// Runs a frame: the generation that drew it, and the texts it drew, in paint order.
    fn frame(&mut self) -> (u64, Vec<String>) {
        self.send("frame");
        let header = self.expect("a frame", ANSWER, |l| l.starts_with("frame "));
        let mut words = header.split(' ').skip(1).map(|n| n.parse::<u64>().unwrap());
        let (generation, texts) = (words.next().unwrap(), words.next().unwrap());
        let texts = (0..texts)
            .map(|_| {
                let text = self.expect("a text", ANSWER, |l| l.starts_with("text "));
                text["text ".len()..].to_owned()
            })
            .collect();
        (generation, texts)
    }
}

#[test]
fn editing_the_plugin_changes_the_next_frame_and_keeps_the_app() {
    let copy = Copy::new(&EXAMPLE);
    let mut host = Host::start(&copy);
    host.send("fruit apple,banana,cherry");

    let (generation, texts) = host.frame();
    assert_eq!(generation, 1);
    assert!(texts.contains(&"Pick a fruit".to_owned()), "{texts:?}");
    assert!(
        texts.contains(&"Nothing picked yet".to_owned()),
        "{texts:?}"
    );
    host.send("click banana");
    host.send("click apple");
    host.send("click banana");
    assert_eq!(
        host.state(),
        "picked=banana,apple,banana clicks=apple:1,banana:2"
    );
    let (_, texts) = host.frame();
    assert!(
        texts.contains(&"Picked: banana, apple, banana".to_owned()),
        "{texts:?}"
    );

    // One write of the plugin's source, while the host holds its context and app.
    copy.edit(
        "plugin/src/lib.rs",
        "const GREETING: &str = \"Pick a fruit\";",
        "const GREETING: &str = \"Pick another fruit\";",
    );
    let reloaded = host.expect("the reload", BUILD, |l| l.starts_with("reloaded "));
    assert_eq!(reloaded, "reloaded 2");

    let (generation, texts) = host.frame();
    assert_eq!(generation, 2);
    assert!(
        texts.contains(&"Pick another fruit".to_owned()),
        "{texts:?}"
    );
    assert!(!texts.contains(&"Pick a fruit".to_owned()), "{texts:?}");
    // What was picked before the edit is still there, and the new code adds to it.
    assert!(
        texts.contains(&"Picked: banana, apple, banana".to_owned()),
        "{texts:?}"
    );
    host.send("click cherry");
    assert_eq!(
        host.state(),
        "picked=banana,apple,banana,cherry clicks=apple:1,banana:2,cherry:1"
    );
}

/// An edit of `egui-api`, which the host compiled too, changes what the host's `App` means
/// to a rebuilt plugin without changing its identity, and rebuilds the world library the
/// host has mapped: the dev loop refuses the rebuilt plugin (HD016, a change outside the
/// plugin crate; HD018, the world rebuilt) instead of loading code that disagrees with the
/// host, and the running generation keeps drawing and taking clicks.
#[test]
fn an_edit_of_the_api_crate_the_host_compiled_is_refused_not_loaded() {
    let copy = Copy::new(&EXAMPLE);
    let mut host = Host::start(&copy);
    host.send("fruit apple,banana");
    let before = host.frame();
    assert_eq!(before.0, 1);

    // The same size, another meaning: `picked` moves behind a field of the same type.
    copy.edit(
        "api/src/lib.rs",
        "    /// The fruit clicked, in order.\n    pub picked: Vec<String>,",
        "    /// The fruit offered before (new), in front of the picks.\n    pub offered: Vec<String>,\n    /// The fruit clicked, in order.\n    pub picked: Vec<String>,",
    );
    let news = host.expect("the refusal", BUILD, |l| {
        l.starts_with("refused ") || l.starts_with("reloaded ")
    });
    let refused = news
        .strip_prefix("refused ")
        .unwrap_or_else(|| panic!("a generation was loaded from an edited API crate: {news}"));
    let code = &refused[..5];
    assert!(code == "HD016" || code == "HD018", "{refused}");
    assert!(
        refused.contains("egui-api") || refused.contains("libegui_api.so"),
        "names the crate: {refused}"
    );
    // The running generation serves: it draws as before and takes clicks.
    assert_eq!(host.frame(), before);
    host.send("click apple");
    assert_eq!(host.state(), "picked=apple clicks=apple:1");
}
