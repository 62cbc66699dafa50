//! Loads of one build output at the same time, by threads of one host and by two host
//! processes, never refuse each other: the hard links hotdev makes to the output (shadow
//! links) move the inode's change time, and that is not a change of the file.
//!
//! Regression test for `ChangedWhileCopying` (HD031) on a fixture library that nothing
//! was rewriting, while other tests of the same binary loaded it (issue 22, item 5).

mod support;

use std::path::Path;
use std::process::{Child, Command};
use std::sync::{Arc, Barrier};

use fixture_api::counter::{Calls, Interface as CounterApi};
use hotdev_host::{Options, Plugin};
use support::{fixture, shadow_root};

/// Loads per thread or process. Each load links the output into its shadow directory
/// and each unload removes that link, so every load moves the inode's change time twice.
const LOADS: usize = 40;
const THREADS: usize = 4;

const CHILD: &str = "HOTDEV_CONCURRENT_LOADS_CHILD";

/// Loads `lib` `LOADS` times, one generation at a time, each in a shadow directory of
/// its own, calling it once; returns the first refusal.
fn load_in_a_loop(lib: &Path) -> Result<(), String> {
    for n in 0..LOADS {
        let root = shadow_root();
        let opts = Options {
            shadow_dir: Some(root.path().to_path_buf()),
            ..Options::default()
        };
        let plugin = Plugin::<CounterApi>::load_with(lib, opts)
            .map_err(|e| format!("load {n} of {}: {e}", lib.display()))?;
        assert_eq!(plugin.version().unwrap(), 1);
    }
    Ok(())
}

#[test]
fn threads_loading_one_output_never_refuse_each_other() {
    let lib = fixture("");
    let start = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let (lib, start) = (lib.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                load_in_a_loop(&lib)
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap().unwrap();
    }
}

/// Runs this binary's test `test` in a child that loads `lib` in a loop.
fn spawn_child(test: &str, lib: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, lib)
        .spawn()
        .unwrap()
}

#[test]
fn two_processes_loading_one_output_never_refuse_each_other() {
    if let Some(lib) = std::env::var_os(CHILD) {
        load_in_a_loop(Path::new(&lib)).unwrap();
        return;
    }
    let lib = fixture("");
    let test = "two_processes_loading_one_output_never_refuse_each_other";
    let children = [spawn_child(test, &lib), spawn_child(test, &lib)];
    let here = load_in_a_loop(&lib);
    for mut child in children {
        let status = child.wait().unwrap();
        assert!(status.success(), "a child's loads were refused: {status}");
    }
    here.unwrap();
}
