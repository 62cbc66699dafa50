//! Memory that crosses the boundary is safe to free on the other side even when the host
//! uses its own global allocator: this test binary installs one that tags every block and
//! counts frees of blocks it did not hand out.

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use fixture_api::counter::{Calls, Interface as CounterApi};
use hotdev_host::{Options, Plugin};

/// Puts a tag in front of every block; a block without it was not made here.
struct Tagged;

const TAG: u64 = 0x7461_6767_6564_2121;
const HEADER: usize = 16;
static FOREIGN_FREES: AtomicUsize = AtomicUsize::new(0);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
/// The two tests share the counters: one runs at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The block actually allocated: the header padded to the alignment, then the value.
fn outer(layout: Layout) -> Layout {
    let pad = layout.align().max(HEADER);
    Layout::from_size_align(layout.size() + pad, pad).unwrap()
}

// SAFETY: blocks come from `System` with room for the header; `dealloc` recomputes the
// same layout. A block without the tag is leaked, never passed to `System` with a wrong
// layout.
unsafe impl GlobalAlloc for Tagged {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let outer = outer(layout);
        // SAFETY: `outer` has a non-zero size.
        let base = unsafe { System.alloc(outer) };
        if base.is_null() {
            return base;
        }
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: `base` has `outer.align() >= HEADER` alignment and room for the header.
        unsafe {
            let user = base.add(outer.align());
            user.sub(8).cast::<u64>().write(TAG);
            user
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let outer = outer(layout);
        // SAFETY: every block this allocator made has its tag 8 bytes before `ptr`; for a
        // foreign block the read stays inside the foreign allocation's header area.
        let tag = unsafe { ptr.sub(8).cast::<u64>().read() };
        if tag != TAG {
            FOREIGN_FREES.fetch_add(1, Ordering::Relaxed);
            return;
        }
        // SAFETY: clears the tag and frees the block with the layout it was made with.
        unsafe {
            ptr.sub(8).cast::<u64>().write(0);
            System.dealloc(ptr.sub(outer.align()), outer);
        }
    }
}

#[global_allocator]
static GLOBAL: Tagged = Tagged;

#[test]
fn values_made_by_the_plugin_are_freed_safely_by_a_host_with_its_own_allocator() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let foreign_before = FOREIGN_FREES.load(Ordering::Relaxed);
    let root = support::shadow_root();
    let opts = Options {
        shadow_dir: Some(root.path().to_path_buf()),
        ..Options::default()
    };
    let plugin = Plugin::<CounterApi>::load_with(support::fixture(""), opts).unwrap();
    assert!(
        ALLOCATIONS.load(Ordering::Relaxed) > 0,
        "the tagged allocator is in use"
    );

    for round in 0..100u32 {
        let bytes = plugin.bytes(1000 + round).unwrap();
        assert_eq!(bytes.len(), (1000 + round) as usize);
        assert_eq!(bytes[999], (999 % 256) as u8);
        let greeting = plugin.greet("alloc").unwrap();
        assert_eq!(greeting, "hello alloc from v1");
        // Into the host's own types: copies into blocks of the tagged allocator.
        let owned: Vec<u8> = bytes.into_vec();
        let text: String = greeting.into();
        assert_eq!(owned.len(), (1000 + round) as usize);
        assert!(text.ends_with("v1"));
        // A panic report crosses too, and is freed by the host.
        let err = plugin.fail("freed by the host").unwrap_err();
        assert!(err.to_string().contains("freed by the host"));
    }
    drop(plugin);
    assert_eq!(
        FOREIGN_FREES.load(Ordering::Relaxed),
        foreign_before,
        "no plugin-made block reached the host's allocator"
    );
}

#[test]
fn the_allocator_would_notice_a_foreign_free() {
    // The control: a block from the system allocator freed through the tagged one is
    // counted, so the test above could fail.
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let layout = Layout::from_size_align(64, 16).unwrap();
    // SAFETY: a plain system allocation, leaked by `Tagged::dealloc` after counting.
    let foreign = unsafe { System.alloc_zeroed(Layout::from_size_align(128, 16).unwrap()) };
    let before = FOREIGN_FREES.load(Ordering::Relaxed);
    // SAFETY: deliberately hands the tagged allocator a block it did not make; it only
    // reads the (zeroed) word before `ptr`, inside the same allocation.
    unsafe { GLOBAL.dealloc(foreign.add(32), layout) };
    assert_eq!(FOREIGN_FREES.load(Ordering::Relaxed), before + 1);
}

#[test]
fn rust_values_made_by_a_rust_typed_plugin_are_allocated_by_the_host_allocator() {
    use fixture_api::App;
    use fixture_api::rusty::{Calls as _, Interface as Rusty};

    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let foreign_before = FOREIGN_FREES.load(Ordering::Relaxed);
    let root = support::shadow_root();
    let opts = Options {
        shadow_dir: Some(root.path().to_path_buf()),
        ..Options::default()
    };
    let plugin = Plugin::<Rusty>::load_with(support::rusty_fixture(""), opts).unwrap();
    let mut app = App::default();
    for round in 0..100u32 {
        // The plugin clones the name into the host's HashMap and pushes the name (moved
        // in) into the host's Vec; the host drops them all below.
        let greeting = plugin.greet(&mut app, format!("name {round}")).unwrap();
        assert!(greeting.starts_with("hello name"));
        app.greeters.push(plugin.greeter("hi").unwrap());
        assert!((app.greeters.last().unwrap())("ann").starts_with("hi ann"));
    }
    assert_eq!(app.names.len(), 100);
    drop(app);
    drop(plugin);
    assert_eq!(
        FOREIGN_FREES.load(Ordering::Relaxed),
        foreign_before,
        "every block the plugin made came from the host's allocator"
    );
}
