//! The ratatui example end to end, in its one world: a copy of the workspace is built, its
//! headless host (`tui-headless`, this package's second program) loads the copy's plugin
//! and draws on ratatui's `TestBackend`, the plugin's source is edited while it runs, and
//! the next frame shows the new text while the host's `App` (a `Vec<String>` and a
//! `HashMap`) keeps the tasks marked done.
//!
//! The copy and the host are the harness both rich examples share (`examples/support`).

#[path = "../../../support/live_edit.rs"]
mod support;

use support::{ANSWER, BUILD, Copy, Example, Host};

const EXAMPLE: Example = Example {
    name: "tui",
    crates: &["api", "plugin", "host"],
};

impl Host {
    /// Draws a frame: the generation that drew it, and the screen, one string per row.
    fn draw(&mut self) -> (u64, Vec<String>) {
        self.send("draw");
        let header = self.expect("a frame", ANSWER, |l| l.starts_with("frame "));
        let mut words = header.split(' ').skip(1).map(|n| n.parse::<u64>().unwrap());
        let (generation, rows) = (words.next().unwrap(), words.next().unwrap());
        let screen = (0..rows)
            .map(|_| {
                let row = self.expect("a row", ANSWER, |l| l.starts_with("row "));
                row["row ".len()..].to_owned()
            })
            .collect();
        (generation, screen)
    }
}

#[test]
fn editing_the_plugin_changes_the_next_frame_and_keeps_the_app() {
    let copy = Copy::new(&EXAMPLE);
    let mut host = Host::start(&copy);
    host.send("tasks write,run,edit");

    // Move down, mark "run" done; move down, mark "edit" done and undone again.
    host.send("keys j j  ");
    assert_eq!(host.state(), "selected=2 done=run");
    host.send("status gen 1");
    assert_eq!(
        host.draw(),
        (
            1,
            [
                "┌Tasks─────────────────────────────────┐",
                "│  [ ] write                           │",
                "│  [x] run                             │",
                "│> [ ] edit                            │",
                "│                                      │",
                "│                                      │",
                "└─────────────────────────────────gen 1┘",
                "j/k: move   space: done   q: quit       ",
            ]
            .map(String::from)
            .to_vec()
        )
    );

    // One write of the plugin's source, while the host holds its terminal and app.
    copy.edit(
        "plugin/src/lib.rs",
        "const TITLE: &str = \"Tasks\";",
        "const TITLE: &str = \"Edited while running\";",
    );
    let reloaded = host.expect("the reload", BUILD, |l| l.starts_with("reloaded "));
    assert_eq!(reloaded, "reloaded 2");

    host.send("status gen 2");
    let (generation, screen) = host.draw();
    assert_eq!(generation, 2);
    assert_eq!(
        screen[0], "┌Edited while running──────────────────┐",
        "{screen:#?}"
    );
    // The tasks done before the edit are still done, and the new code adds to them.
    assert_eq!(
        screen[2], "│  [x] run                             │",
        "{screen:#?}"
    );
    host.send("keys kk ");
    assert_eq!(host.state(), "selected=0 done=run,write");
    let (generation, screen) = host.draw();
    assert_eq!(generation, 2);
    assert_eq!(
        screen[1], "│> [x] write                           │",
        "{screen:#?}"
    );
    assert_eq!(
        screen[2], "│  [x] run                             │",
        "{screen:#?}"
    );
}

/// An edit of `tui-api`, which the host compiled too, changes what the host's `App` means
/// to a rebuilt plugin without changing its identity, and rebuilds the world library the
/// host has mapped: the dev loop refuses the rebuilt plugin (HD016, a change outside the
/// plugin crate; HD018, the world rebuilt) instead of loading code that disagrees with the
/// host, and the running generation keeps drawing and handling keys.
#[test]
fn an_edit_of_the_api_crate_the_host_compiled_is_refused_not_loaded() {
    let copy = Copy::new(&EXAMPLE);
    let mut host = Host::start(&copy);
    host.send("tasks write,run");
    let before = host.draw();
    assert_eq!(before.0, 1);

    // The same size, another meaning: `selected` moves behind a field of the same size.
    copy.edit(
        "api/src/lib.rs",
        "    /// The index of the selected task.\n    pub selected: usize,",
        "    /// Scroll offset (new), in front of the selection.\n    pub offset: usize,\n    /// The index of the selected task.\n    pub selected: usize,",
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
        refused.contains("tui-api") || refused.contains("libtui_api.so"),
        "names the crate: {refused}"
    );
    // The running generation serves: it draws as before and handles keys.
    assert_eq!(host.draw(), before);
    host.send("keys j ");
    assert_eq!(host.state(), "selected=1 done=run");
}
