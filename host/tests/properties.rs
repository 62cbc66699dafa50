//! Property tests of the two checks that read what a plugin file or a plugin's memory
//! claims before anything trusts it: the object-header inspection (`library::inspect`)
//! and the descriptor walk (`testing::check_descriptor`, the checks of
//! `library::descriptor`). Whatever they are fed, each input is accepted or refused with
//! its code (HD004/HD005 for a file, HD011 for a descriptor), and nothing panics, hangs
//! or reads outside the memory it was given (a wild read would end this test process).
//!
//! Inputs: random bytes, random bytes behind an object file's magic number, and a real
//! fixture library mutated (bytes flipped, words overwritten, cut short, headers spliced
//! from another library). The mutated files are only inspected, never opened: a mutated
//! ELF can crash the system's dynamic loader, which is not hotdev's code. The walk is fed
//! a copy of a real, loaded fixture's image, relocated into memory the test owns, whose
//! descriptor is then mutated, and descriptors made up from random words.
//!
//! Case counts are kept small (each property runs in seconds); `PROPTEST_CASES` raises
//! them for a longer search.
#![cfg(all(target_os = "linux", not(feature = "loom")))]

mod support;

use std::path::Path;
use std::sync::{Mutex, OnceLock};

use hotdev_host::LoadError;
use hotdev_host::image::{Image, Segment};
use hotdev_host::library;
use proptest::prelude::*;
use reloadable::{Descriptor, StaticStr, TypeLayout};

/// The cases each property runs unless `PROPTEST_CASES` says otherwise.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(cases),
        // The failures are printed; no regression files in the source tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Accepted, or refused with one of `codes`.
fn coded(result: Result<(), LoadError>, codes: &[&str]) -> Result<(), TestCaseError> {
    match result {
        Ok(()) => Ok(()),
        Err(e) if codes.contains(&e.code()) => Ok(()),
        Err(e) => Err(TestCaseError::fail(format!(
            "refused with {} instead of one of {codes:?}: {e}",
            e.code()
        ))),
    }
}

// ---------------------------------------------------------------------------------------
// The header inspection

/// The fixture plugin's library file, and another library to splice headers from (the C
/// library this test runs with).
struct Files {
    plugin: Vec<u8>,
    other: Vec<u8>,
}

fn files() -> &'static Files {
    static FILES: OnceLock<Files> = OnceLock::new();
    FILES.get_or_init(|| {
        let plugin = std::fs::read(support::fixture("")).unwrap();
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let libc = maps
            .lines()
            .filter_map(|l| l.split_whitespace().nth(5))
            .find(|p| p.contains("libc.so") || p.contains("libc-"))
            .expect("the C library is mapped");
        let other = std::fs::read(libc).unwrap();
        Files { plugin, other }
    })
}

/// One change to a library file's bytes.
#[derive(Debug, Clone)]
enum FileEdit {
    /// Flips bits of the byte at a position (a fraction of the part of the file edited).
    Flip { at: f64, bits: u8 },
    /// Writes a 4- or 8-byte value at a position: a size, an offset or an address made
    /// absurd.
    Word { at: f64, value: u64, wide: bool },
    /// Cuts the file at a position.
    Cut { at: f64 },
    /// Replaces bytes with the other library's bytes at the same place (headers of one
    /// build over another's, as a write in place over an older file leaves them).
    Splice { at: f64, len: usize },
}

fn file_edit() -> impl Strategy<Value = FileEdit> {
    let at = 0.0..1.0f64;
    let value = prop_oneof![
        Just(0u64),
        Just(1),
        Just(u64::MAX),
        Just(u64::from(u32::MAX)),
        Just(1 << 40),
        any::<u64>(),
        0..0x10_0000u64,
    ];
    prop_oneof![
        (at.clone(), 1..=255u8).prop_map(|(at, bits)| FileEdit::Flip { at, bits }),
        (at.clone(), value, any::<bool>()).prop_map(|(at, value, wide)| FileEdit::Word {
            at,
            value,
            wide
        }),
        at.clone().prop_map(|at| FileEdit::Cut { at }),
        (at, 1..4096usize).prop_map(|(at, len)| FileEdit::Splice { at, len }),
    ]
}

/// Applies `edits` to a copy of `base`, each inside its first `reach` bytes (the headers
/// and what they point at lie near the start, the section headers at the end: `reach`
/// is the whole file for some cases).
fn edited(base: &[u8], other: &[u8], reach: usize, edits: &[FileEdit]) -> Vec<u8> {
    let mut bytes = base.to_vec();
    for edit in edits {
        let span = reach.min(bytes.len()).max(1);
        let pos = |at: f64| ((at * span as f64) as usize).min(span - 1);
        match *edit {
            FileEdit::Flip { at, bits } => {
                if let Some(b) = bytes.get_mut(pos(at)) {
                    *b ^= bits;
                }
            }
            FileEdit::Word { at, value, wide } => {
                let p = pos(at);
                let word = if wide {
                    value.to_le_bytes().to_vec()
                } else {
                    (value as u32).to_le_bytes().to_vec()
                };
                let end = (p + word.len()).min(bytes.len());
                let n = end.saturating_sub(p);
                bytes[p..end].copy_from_slice(&word[..n]);
            }
            FileEdit::Cut { at } => bytes.truncate(pos(at)),
            FileEdit::Splice { at, len } => {
                let p = pos(at);
                let end = (p + len).min(bytes.len()).min(other.len());
                if p < end {
                    bytes[p..end].copy_from_slice(&other[p..end]);
                }
            }
        }
    }
    bytes
}

const FILE_CODES: &[&str] = &["HD004", "HD005"];

#[test]
fn the_real_files_pass_inspection() {
    let f = files();
    library::inspect(Path::new("libfixture_plugin.so"), &f.plugin[..]).unwrap();
    library::inspect(Path::new("libc.so.6"), &f.other[..]).unwrap();
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn random_bytes_are_refused_with_a_code(
        bytes in proptest::collection::vec(any::<u8>(), 0..2048)
    ) {
        let result = library::inspect(Path::new("libplugin.so"), &bytes[..]);
        prop_assert!(result.is_err(), "random bytes were accepted");
        coded(result, FILE_CODES)?;
    }

    #[test]
    fn random_bytes_behind_an_object_magic_are_refused_with_a_code(
        magic in prop_oneof![
            Just(&b"\x7fELF\x02\x01\x01\x00"[..]),
            Just(&b"\x7fELF\x01\x01\x01\x00"[..]),
            Just(&b"\x7fELF\x02\x02\x01\x00"[..]),
            Just(&b"MZ"[..]),
            Just(&[0xcf, 0xfa, 0xed, 0xfe][..]),
            Just(&[0xfe, 0xed, 0xfa, 0xce][..]),
            Just(&[0xca, 0xfe, 0xba, 0xbe][..]),
            Just(&[0xca, 0xfe, 0xba, 0xbf][..]),
        ],
        tail in proptest::collection::vec(any::<u8>(), 0..4096),
    ) {
        let mut bytes = magic.to_vec();
        bytes.extend_from_slice(&tail);
        coded(library::inspect(Path::new("libplugin.so"), &bytes[..]), FILE_CODES)?;
    }
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn a_mutated_real_library_is_accepted_or_refused_with_a_code(
        edits in proptest::collection::vec(file_edit(), 1..6),
        headers_only in any::<bool>(),
    ) {
        let f = files();
        let reach = if headers_only { 64 * 1024 } else { f.plugin.len() };
        let bytes = edited(&f.plugin, &f.other, reach, &edits);
        coded(library::inspect(Path::new("libfixture_plugin.so"), &bytes[..]), FILE_CODES)?;
    }

    /// The other library's start (its ELF and program headers) over the plugin's, and
    /// the reverse: one build's headers over another's contents.
    #[test]
    fn spliced_headers_are_accepted_or_refused_with_a_code(
        cut in 16..16 * 1024usize,
        plugin_first in any::<bool>(),
    ) {
        let f = files();
        let (head, body) = if plugin_first { (&f.plugin, &f.other) } else { (&f.other, &f.plugin) };
        let mut bytes = head[..cut.min(head.len())].to_vec();
        if cut < body.len() {
            bytes.extend_from_slice(&body[cut..]);
        }
        coded(library::inspect(Path::new("libfixture_plugin.so"), &bytes[..]), FILE_CODES)?;
    }
}

// ---------------------------------------------------------------------------------------
// The descriptor walk

/// A real fixture, loaded once (unmutated), whose mapped image is copied into memory this
/// test owns and relocated there: every word of the copy that held an address inside the
/// library now holds the same place in the copy. The walk then runs against an image made
/// of the copy's segments, so the descriptor can be mutated freely: whatever a mutated
/// pointer says, the walk may only read the copy.
struct Relocated {
    /// Keeps the fixture loaded (its image is the original of the copy).
    _opened: library::Opened,
    /// The copy's memory (`u64`s, for alignment); `base` is in it.
    mem: Vec<u64>,
    /// Where the library's lowest mapped address is in the copy.
    base: usize,
    /// How many bytes from `base` the copy spans.
    len: usize,
    /// The copy's image: the library's segments, moved by `base - original start`.
    image: Image,
    /// The copy's descriptor.
    descriptor: usize,
    /// Where the descriptor's pointers lead in the copy (the interface declaration, its
    /// functions, type layouts, fields, the table), as `(address, length)`.
    regions: Vec<(usize, usize)>,
    /// The strings they point at.
    strings: Vec<(usize, usize)>,
}

const PAGE: usize = 4096;

fn copy() -> &'static Mutex<Relocated> {
    static COPY: OnceLock<Mutex<Relocated>> = OnceLock::new();
    COPY.get_or_init(|| Mutex::new(Relocated::new(&support::fixture(""))))
}

impl Relocated {
    fn new(path: &Path) -> Relocated {
        // SAFETY: the fixture plugin, built from this repository's source by this test run;
        // its initialisers are the plugin's own (as every other test that loads it).
        let opened = unsafe { library::open(path) }.unwrap();
        let world = hotdev_host::world::World::default();
        let real = library::descriptor(&opened, path, &world).unwrap();
        let image = opened.image().expect("Linux lists the loaded library");
        let (lo, hi) = image.span();
        let len = hi - lo;
        let mut mem = vec![0u64; (len + 2 * PAGE) / 8];
        // The copy starts at the same offset within a page as the original, so every
        // alignment the original has, the copy has.
        let base = (mem.as_mut_ptr() as usize).next_multiple_of(PAGE) + lo % PAGE;
        let moved = |addr: usize| addr - lo + base;
        for s in image.segments.iter().filter(|s| s.read) {
            // SAFETY:
            // - the source is a readable segment of the library `opened` keeps loaded;
            // - the destination lies inside `mem` (`base + len <= end of mem`, by its size).
            unsafe {
                std::ptr::copy_nonoverlapping(
                    s.start as *const u8,
                    moved(s.start) as *mut u8,
                    s.end - s.start,
                );
            }
        }
        for s in image.segments.iter().filter(|s| s.read) {
            let mut at = moved(s.start).next_multiple_of(8);
            while at + 8 <= moved(s.end) {
                // SAFETY: inside the copy in `mem`, aligned to 8.
                let word = unsafe { &mut *(at as *mut usize) };
                if (lo..hi).contains(word) {
                    *word = moved(*word);
                }
                at += 8;
            }
        }
        let copy_image = Image {
            base: moved(image.base.max(lo)),
            segments: image
                .segments
                .iter()
                .map(|s| Segment {
                    start: moved(s.start),
                    end: moved(s.end),
                    ..*s
                })
                .collect(),
            relro: None,
        };
        let (regions, strings) = regions(real);
        let inside = |r: Vec<(usize, usize)>| -> Vec<(usize, usize)> {
            r.into_iter()
                .filter(|(a, _)| (lo..hi).contains(a))
                .map(|(a, n)| (moved(a), n))
                .collect()
        };
        let (regions, strings) = (inside(regions), inside(strings));
        Relocated {
            descriptor: moved(std::ptr::from_ref(real) as usize),
            _opened: opened,
            mem,
            base,
            len,
            image: copy_image,
            regions,
            strings,
        }
    }

    /// Whether `n` bytes at `addr` lie in the copy.
    fn holds(&self, addr: usize, n: usize) -> bool {
        let start = self.mem.as_ptr() as usize;
        addr >= start && addr + n <= start + self.mem.len() * 8
    }

    /// Writes `bytes` at `addr` in the copy, returning what was there.
    fn write(&mut self, addr: usize, bytes: &[u8]) -> Vec<u8> {
        assert!(self.holds(addr, bytes.len()));
        // SAFETY: inside `mem` (asserted), which this test owns; `&mut self` is the only
        // access.
        let slot = unsafe { std::slice::from_raw_parts_mut(addr as *mut u8, bytes.len()) };
        let old = slot.to_vec();
        slot.copy_from_slice(bytes);
        old
    }

    fn check(&self) -> Result<(), LoadError> {
        // SAFETY: the image's segments lie in `mem`, readable memory this test owns,
        // which nothing writes during the call (`&self`).
        unsafe {
            hotdev_host::testing::check_descriptor(
                self.descriptor as *const u8,
                Path::new("libfixture_plugin.so"),
                &self.image,
                &[],
            )
        }
    }
}

/// A place in memory: `(address, length)`.
type Region = (usize, usize);

/// Every place the real, validated `descriptor` leads to, as `(address, length)`: the
/// structures that hold pointers, and the strings.
fn regions(d: &Descriptor) -> (Vec<Region>, Vec<Region>) {
    #[derive(Default)]
    struct Out {
        structs: Vec<(usize, usize)>,
        strings: Vec<(usize, usize)>,
    }
    impl Out {
        fn add<T: ?Sized>(&mut self, x: &T) {
            let addr = std::ptr::from_ref(x).cast::<u8>() as usize;
            if size_of_val(x) > 0 && !self.structs.iter().any(|&(a, _)| a == addr) {
                self.structs.push((addr, size_of_val(x)));
            }
        }
        fn text(&mut self, s: &StaticStr) {
            let (p, n) = s.raw_parts();
            if n > 0 {
                self.strings.push((p as usize, n));
            }
        }
        fn layout(&mut self, t: &TypeLayout, depth: usize) {
            let addr = std::ptr::from_ref(t) as usize;
            if depth > 8 || self.structs.iter().any(|&(a, _)| a == addr) {
                return;
            }
            self.add(t);
            self.text(&t.name);
            self.text(&t.path);
            let fields = t.fields.as_slice();
            self.add(fields);
            for f in fields {
                self.text(&f.name);
                self.layout(f.ty, depth + 1);
            }
            if let Some(e) = t.element {
                self.layout(e, depth + 1);
            }
        }
    }
    let mut out = Out::default();
    out.add(d);
    let i = d.interface;
    out.add(i);
    out.text(&i.name);
    for s in [&d.plugin_name, &d.build_id, &d.rustc, &d.target, &d.panic] {
        out.text(s);
    }
    out.structs.push((d.table as usize, d.table_size));
    let fns = i.functions.as_slice();
    out.add(fns);
    for f in fns {
        out.text(&f.name);
        out.text(&f.signature);
        let types = f.types.as_slice();
        out.add(types);
        for t in types {
            out.layout(t, 0);
        }
    }
    if let Some(state) = d.state {
        out.add(state);
        out.layout(state.layout, 0);
    }
    (out.structs, out.strings)
}

/// What a mutated word of a descriptor says.
#[derive(Debug, Clone)]
enum Value {
    Int(u64),
    /// An address in the copy: `fraction` of its span, plus `skew` bytes (misaligned
    /// when `skew` is not a multiple of 8).
    Inside {
        fraction: f64,
        skew: u8,
    },
    /// The address of one of the regions (a cycle, when a layout points at itself or an
    /// ancestor).
    Region {
        index: usize,
        skew: u8,
    },
    /// Just outside the copy, below or above it.
    Edge {
        above: bool,
        by: u16,
    },
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop_oneof![
            Just(0u64),
            Just(1),
            Just(u64::MAX),
            Just(1 << 16),
            Just((1 << 16) + 1),
            any::<u64>(),
            0..256u64,
        ]
        .prop_map(Value::Int),
        (0.0..1.0f64, 0..16u8).prop_map(|(fraction, skew)| Value::Inside { fraction, skew }),
        (any::<usize>(), prop_oneof![Just(0u8), 0..16u8])
            .prop_map(|(index, skew)| Value::Region { index, skew }),
        (any::<bool>(), any::<u16>()).prop_map(|(above, by)| Value::Edge { above, by }),
    ]
}

/// One change to the copy: a word of one of the structures overwritten, or a byte of a
/// structure or a string flipped.
#[derive(Debug, Clone)]
enum MemEdit {
    Word {
        region: usize,
        word: usize,
        value: Value,
    },
    Flip {
        region: usize,
        string: bool,
        at: usize,
        bits: u8,
    },
}

fn mem_edit() -> impl Strategy<Value = MemEdit> {
    prop_oneof![
        3 => (any::<usize>(), 0..16usize, value())
            .prop_map(|(region, word, value)| MemEdit::Word { region, word, value }),
        1 => (any::<usize>(), any::<bool>(), any::<usize>(), 1..=255u8)
            .prop_map(|(region, string, at, bits)| MemEdit::Flip { region, string, at, bits }),
    ]
}

impl Relocated {
    fn resolve(&self, v: &Value) -> u64 {
        match *v {
            Value::Int(n) => n,
            Value::Inside { fraction, skew } => {
                (self.base + (fraction * self.len as f64) as usize + usize::from(skew)) as u64
            }
            Value::Region { index, skew } => {
                (self.regions[index % self.regions.len()].0 + usize::from(skew)) as u64
            }
            Value::Edge { above, by } => {
                let by = usize::from(by);
                if above {
                    (self.base + self.len + by) as u64
                } else {
                    self.base.saturating_sub(by + 1) as u64
                }
            }
        }
    }

    /// Applies `edits`, returning what undoes them (to apply in reverse order).
    fn apply(&mut self, edits: &[MemEdit]) -> Vec<(usize, Vec<u8>)> {
        let mut undo = Vec::new();
        for edit in edits {
            let (addr, bytes) = match edit {
                MemEdit::Word {
                    region,
                    word,
                    value,
                } => {
                    let (start, n) = self.regions[region % self.regions.len()];
                    let words = n.div_ceil(8).max(1);
                    let addr = (start + (word % words) * 8) & !7;
                    (addr, self.resolve(value).to_le_bytes().to_vec())
                }
                MemEdit::Flip {
                    region,
                    string,
                    at,
                    bits,
                } => {
                    let among = if *string {
                        &self.strings
                    } else {
                        &self.regions
                    };
                    let (start, n) = among[region % among.len()];
                    let addr = start + at % n.max(1);
                    assert!(self.holds(addr, 1));
                    // SAFETY: a region of the copy, inside `mem` (asserted).
                    let byte = unsafe { (addr as *const u8).read() };
                    (addr, vec![byte ^ bits])
                }
            };
            if self.holds(addr, bytes.len()) {
                undo.push((addr, self.write(addr, &bytes)));
            }
        }
        undo
    }

    /// Writes `bytes` at `addr` in the copy, returning what undoes it.
    fn apply_raw(&mut self, addr: usize, bytes: &[u8]) -> Vec<(usize, Vec<u8>)> {
        vec![(addr, self.write(addr, bytes))]
    }

    fn undo(&mut self, undo: Vec<(usize, Vec<u8>)>) {
        for (addr, bytes) in undo.into_iter().rev() {
            self.write(addr, &bytes);
        }
    }
}

#[test]
fn the_relocated_copy_of_a_real_descriptor_passes_the_walk() {
    let copy = copy().lock().unwrap_or_else(|e| e.into_inner());
    assert!(copy.regions.len() > 10, "{} regions", copy.regions.len());
    copy.check().unwrap();
}

/// Examples of what the properties search for, written out: a cycle among type layouts,
/// a misaligned declaration, a function in the library's data, a string running past its
/// segment.
#[test]
fn a_cycle_a_misaligned_pointer_code_in_data_and_a_string_past_its_segment_are_refused() {
    let mut copy = copy().lock().unwrap_or_else(|e| e.into_inner());
    // SAFETY: the copy passed the walk, so its descriptor and everything it points at lie
    // in the copy, as the types they are declared as; nothing else uses the copy now.
    let (descriptor, layout, interface) = unsafe {
        let d = &*(copy.descriptor as *const Descriptor);
        let layout = d
            .interface
            .functions
            .as_slice()
            .iter()
            .find_map(|f| f.types.as_slice().first())
            .expect("a function with a type");
        let interface = std::ptr::from_ref(d.interface) as usize;
        (d, std::ptr::from_ref(*layout) as usize, interface)
    };
    let descriptor = std::ptr::from_ref(descriptor) as usize;
    let data = copy.image.segments.iter().find(|s| !s.exec).unwrap();
    let last_byte = data.end - 1;
    let data = data.start;
    let name = descriptor + std::mem::offset_of!(Descriptor, plugin_name);
    let cases: [(&[(usize, usize)], &str); 4] = [
        (
            &[(layout + std::mem::offset_of!(TypeLayout, element), layout)],
            "nest without end",
        ),
        (
            &[(
                descriptor + std::mem::offset_of!(Descriptor, interface),
                interface + 1,
            )],
            "the interface declaration at",
        ),
        (
            &[(descriptor + std::mem::offset_of!(Descriptor, fini), data)],
            "the fini function at",
        ),
        // A `StaticStr` is a pointer, then a length.
        (&[(name, last_byte), (name + 8, 2)], "the plugin name at"),
    ];
    for (writes, why) in cases {
        let mut undo = Vec::new();
        for &(addr, value) in writes {
            undo.extend(copy.apply_raw(addr, &value.to_le_bytes()));
        }
        let result = copy.check();
        copy.undo(undo);
        let e = result.expect_err(why);
        assert_eq!(e.code(), "HD011", "{e}");
        assert!(e.to_string().contains(why), "{why}: {e}");
    }
    copy.check().expect("every change was undone");
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn a_mutated_descriptor_is_accepted_or_refused_with_a_code(
        edits in proptest::collection::vec(mem_edit(), 1..5)
    ) {
        let mut copy = copy().lock().unwrap_or_else(|e| e.into_inner());
        let undo = copy.apply(&edits);
        let result = copy.check();
        copy.undo(undo);
        coded(result, &["HD011"])?;
    }

}

proptest! {
    // Each case may walk the most nodes the walk allows (a cycle): fewer cases.
    #![proptest_config(config(64))]

    /// Descriptors made up from random words: a header that passes (magic, version and
    /// size right), then each field an integer or an address somewhere in the buffer.
    #[test]
    fn a_made_up_descriptor_is_accepted_or_refused_with_a_code(
        words in proptest::collection::vec(
            prop_oneof![
                any::<u64>().prop_map(Err),
                (0..4096usize).prop_map(Ok),
                Just(Err(0u64)),
                (0..64u64).prop_map(Err),
            ],
            64..512,
        ),
        executable_from in 0.0..1.0f64,
    ) {
        // Words are integers (`Err`) or byte offsets into the buffer itself (`Ok`).
        let mut buf = vec![0u64; 4096 / 8 + words.len()];
        let start = buf.as_ptr() as usize;
        let len = buf.len() * 8;
        for (slot, w) in buf.iter_mut().zip(&words) {
            *slot = match *w {
                Ok(offset) => (start + offset % len) as u64,
                Err(n) => n,
            };
        }
        // The header of the descriptor at the start of the buffer.
        buf[0] = reloadable::descriptor::MAGIC;
        buf[1] = u64::from(reloadable::descriptor::DESCRIPTOR_VERSION);
        buf[2] = size_of::<Descriptor>() as u64;
        // The buffer is data, and its end stands for code (compared with, never run).
        let split = start + ((executable_from * len as f64) as usize & !7);
        let image = Image {
            base: start,
            segments: vec![
                Segment { start, end: split, read: true, write: true, exec: false },
                Segment { start: split, end: start + len, read: true, write: false, exec: true },
            ],
            relro: None,
        };
        // SAFETY: both segments lie in `buf`, owned by this test and not written during the
        // call.
        let result = unsafe {
            hotdev_host::testing::check_descriptor(
                start as *const u8,
                Path::new("libmadeup.so"),
                &image,
                &[],
            )
        };
        coded(result, &["HD011"])?;
    }
}
