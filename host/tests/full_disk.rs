//! A shadow copy that cannot be written whole (the disk is full) leaves nothing behind.
//!
//! Alone in its test binary: it lowers this process's file-size limit (`RLIMIT_FSIZE`),
//! which would fail any other test's writes.

mod support;

use fixture_api::counter::{Calls, Interface as CounterApi};
use hotdev_host::{Options, Plugin};
use support::{fixture, shadow_root};

#[cfg(target_os = "linux")]
#[test]
fn a_copy_that_fills_the_disk_leaves_no_partial_file_behind() {
    // Built before the limit is lowered: cargo inherits it. The new build is copied out
    // of its target directory first: a cargo output there would be linked into the
    // shadow directory, not written, and a link cannot fill the disk.
    let (v1, built) = (fixture(""), fixture("v2"));
    let outside = tempfile::tempdir().unwrap();
    let v2 = outside.path().join(built.file_name().unwrap());
    std::fs::copy(&built, &v2).unwrap();
    let root = shadow_root();
    let plugin = Plugin::<CounterApi>::load_with(
        &v1,
        Options {
            shadow_dir: Some(root.path().to_path_buf()),
            ..Options::default()
        },
    )
    .unwrap();
    let size = std::fs::metadata(&v2).unwrap().len();
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain libc calls on this process; SIGXFSZ is ignored so that a write past
    // the limit fails with EFBIG instead of ending the process.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        assert_eq!(libc::getrlimit(libc::RLIMIT_FSIZE, &mut old), 0);
        let low = libc::rlimit {
            rlim_cur: size / 2,
            rlim_max: old.rlim_max,
        };
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &low), 0);
    }
    let err = plugin.reload(&v2).unwrap_err();
    // SAFETY: restores the limit read above.
    unsafe { assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &old), 0) };
    assert_eq!(err.code(), "HD030", "{err}");
    assert_eq!(plugin.version().unwrap(), 1, "still serving");
    let entries: Vec<String> = std::fs::read_dir(plugin.shadow_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !entries.iter().any(|n| n.starts_with(".tmp-")),
        "a partial copy stayed: {entries:?}"
    );
    assert_eq!(plugin.shadow_copies().len(), 1, "{entries:?}");
    assert_eq!(plugin.reload(&v2).unwrap().generation, 2);
}
