//! Interface fingerprints, kept as parts so that a mismatch can be explained item by item.
//!
//! The fingerprint of a build of an interface covers reloadable's ABI version, the
//! compiler, the target, the interface's name, each function's signature and its slot in
//! the function table, the size of the table, and the size, alignment and field offsets
//! of every type reachable from the signatures. Types are named by their defining module
//! and name (`my_api::shapes::Cfg`), so two structs called `Cfg` in different modules are
//! two subjects. Host and plugin each make theirs from their own copy of the interface
//! crate; [`diff`] lists what differs, host side first.

use std::collections::{BTreeMap, BTreeSet};

use reloadable::{InterfaceDecl, TypeLayout};

/// One item of a fingerprint: `subject` (`CounterState`, `fn step`, `rustc`), `aspect`
/// (`size`, `field count`, `signature`, or empty), and its value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Part {
    /// What the item is about.
    pub subject: String,
    /// Which property of it.
    pub aspect: String,
    /// Its value.
    pub value: String,
}

impl Part {
    fn new(subject: impl Into<String>, aspect: impl Into<String>, value: impl ToString) -> Self {
        Part {
            subject: subject.into(),
            aspect: aspect.into(),
            value: value.to_string(),
        }
    }
}

/// The build facts that go into a fingerprint besides the declaration.
#[derive(Debug, Clone, Copy)]
pub struct Build<'a> {
    /// reloadable's ABI version.
    pub abi_version: u32,
    /// `rustc --version`.
    pub rustc: &'a str,
    /// The target triple.
    pub target: &'a str,
    /// The panic strategy (`unwind` or `abort`).
    pub panic: &'a str,
    /// `size_of` the function table.
    pub table_size: usize,
}

impl Build<'static> {
    /// This process's build facts for an interface with `table_size`.
    pub fn current(table_size: usize) -> Self {
        Build {
            abi_version: reloadable::descriptor::ABI_VERSION,
            rustc: reloadable::descriptor::RUSTC_VERSION,
            target: reloadable::descriptor::TARGET,
            panic: reloadable::__panic_strategy!(),
            table_size,
        }
    }
}

/// The parts of an interface's fingerprint.
pub fn parts(decl: &InterfaceDecl, build: Build<'_>) -> Vec<Part> {
    let mut out = vec![
        Part::new("reloadable ABI version", "", build.abi_version),
        Part::new("rustc", "", build.rustc.trim_start_matches("rustc ")),
        Part::new("target", "", build.target),
        Part::new("panic strategy", "", build.panic),
        Part::new("interface", "", decl.name.as_str()),
        Part::new(
            "interface",
            "boundary",
            if decl.rust_types {
                "Rust types"
            } else {
                "FFI types"
            },
        ),
        Part::new("function table", "size", build.table_size),
    ];
    let mut seen = BTreeSet::new();
    for (slot, f) in decl.functions.as_slice().iter().enumerate() {
        let subject = format!("fn {}", f.name.as_str());
        out.push(Part::new(&subject, "signature", tidy(f.signature.as_str())));
        // The table is called by position: two functions of one signature in the other
        // order would each run the other's code.
        out.push(Part::new(subject, "slot", slot + 1));
        for ty in f.types.as_slice() {
            type_parts(ty, &mut seen, &mut out);
        }
    }
    out
}

/// The parts describing one type and every type it contains, each named by its
/// [qualified name](TypeLayout::qualified_name).
pub fn type_parts(ty: &TypeLayout, seen: &mut BTreeSet<String>, out: &mut Vec<Part>) {
    let name = ty.qualified_name();
    if !seen.insert(name.clone()) {
        return;
    }
    out.push(Part::new(&name, "size", ty.size));
    out.push(Part::new(&name, "align", ty.align));
    let fields = ty.fields.as_slice();
    if !fields.is_empty() {
        out.push(Part::new(&name, "field count", fields.len()));
    }
    for f in fields {
        out.push(Part::new(
            format!("{name}.{}", f.name.as_str()),
            "",
            format!(
                "{}: {} at offset {}",
                f.name.as_str(),
                f.ty.qualified_name(),
                f.offset
            ),
        ));
        type_parts(f.ty, seen, out);
    }
    if let Some(e) = ty.element {
        type_parts(e, seen, out);
    }
}

/// Undoes `stringify!`'s token spacing: `fn step (c : & mut T)` -> `fn step(c: &mut T)`.
fn tidy(signature: &str) -> String {
    let mut s = signature.replace(" :: ", "::");
    for (from, to) in [
        (" (", "("),
        ("( ", "("),
        (" )", ")"),
        (" ,", ","),
        (" : ", ": "),
        (" <", "<"),
        ("< ", "<"),
        (" >", ">"),
        ("& ", "&"),
    ] {
        s = s.replace(from, to);
    }
    s
}

/// A 64-bit FNV-1a hash of the parts, to show or compare fingerprints in one number.
pub fn hash(parts: &[Part]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p
            .subject
            .bytes()
            .chain([0])
            .chain(p.aspect.bytes())
            .chain([0])
            .chain(p.value.bytes())
            .chain([1])
        {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// Whether two builds of an interface are the same, item for item: every fact [`parts`]
/// records, compared field by field in declaration order, without making the parts.
///
/// It is at least as strict as an empty [`diff`] of their parts (raw signatures rather
/// than tidied ones, fields in order rather than by name, every occurrence of a type
/// rather than the first of its name), so `true` means the parts agree; `false` means
/// the parts must be made and compared to say what differs, or to find that nothing does.
/// It allocates nothing: a load whose interface matches, as nearly every one does, skips
/// formatting and sorting the parts of both sides (a few hundred microseconds for a web
/// plugin's interface).
pub fn same(
    host: &InterfaceDecl,
    host_build: Build<'_>,
    plugin: &InterfaceDecl,
    plugin_build: Build<'_>,
) -> bool {
    let builds = host_build.abi_version == plugin_build.abi_version
        && host_build.rustc == plugin_build.rustc
        && host_build.target == plugin_build.target
        && host_build.panic == plugin_build.panic
        && host_build.table_size == plugin_build.table_size;
    let (hf, pf) = (host.functions.as_slice(), plugin.functions.as_slice());
    let mut pairs = Vec::new();
    builds
        && host.name.as_str() == plugin.name.as_str()
        && host.rust_types == plugin.rust_types
        && hf.len() == pf.len()
        && hf.iter().zip(pf).all(|(h, p)| {
            h.name.as_str() == p.name.as_str()
                && h.signature.as_str() == p.signature.as_str()
                && h.types.as_slice().len() == p.types.as_slice().len()
                && h.types
                    .as_slice()
                    .iter()
                    .zip(p.types.as_slice())
                    .all(|(a, b)| same_layout(a, b, &mut pairs))
        })
}

/// Two type layouts with the same facts, recursively. A pair already under comparison
/// counts as equal (a type that contains itself through a pointer or a vector): if no
/// finite path through the two tells them apart, neither do their parts.
fn same_layout<'a>(
    a: &'a TypeLayout,
    b: &'a TypeLayout,
    pairs: &mut Vec<(*const TypeLayout, *const TypeLayout)>,
) -> bool {
    let pair = (a as *const TypeLayout, b as *const TypeLayout);
    if pairs.contains(&pair) {
        return true;
    }
    pairs.push(pair);
    let (af, bf) = (a.fields.as_slice(), b.fields.as_slice());
    a.name.as_str() == b.name.as_str()
        && a.path.as_str() == b.path.as_str()
        && a.size == b.size
        && a.align == b.align
        && af.len() == bf.len()
        && af.iter().zip(bf).all(|(x, y)| {
            x.name.as_str() == y.name.as_str()
                && x.offset == y.offset
                && same_layout(x.ty, y.ty, pairs)
        })
        && match (a.element, b.element) {
            (None, None) => true,
            (Some(x), Some(y)) => same_layout(x, y, pairs),
            _ => false,
        }
}

/// What differs between the `host`'s parts and the `plugin`'s, one line per item, host
/// side first: `CounterState: size 16 -> 24`, `rustc 1.95.0 -> 1.94.1`,
/// `fn step: signature changed: fn step(by: u64) -> u64 -> fn step(by: u32) -> u64`.
pub fn diff(host: &[Part], plugin: &[Part]) -> Vec<String> {
    let index = |parts: &[Part]| -> BTreeMap<(String, String), String> {
        parts
            .iter()
            .map(|p| ((p.subject.clone(), p.aspect.clone()), p.value.clone()))
            .collect()
    };
    let (h, p) = (index(host), index(plugin));
    let mut out = Vec::new();
    // Keep the host's order so that the most basic differences (compiler, ABI) come first.
    for part in host {
        let key = (part.subject.clone(), part.aspect.clone());
        match p.get(&key) {
            Some(v) if *v == part.value => {}
            Some(v) => out.push(changed(&part.subject, &part.aspect, &part.value, v)),
            None if part.aspect.is_empty() || part.aspect == "signature" => {
                out.push(format!("{}: missing in the plugin", part.subject))
            }
            None => {}
        }
    }
    for part in plugin {
        let key = (part.subject.clone(), part.aspect.clone());
        if !h.contains_key(&key) && (part.aspect.is_empty() || part.aspect == "signature") {
            out.push(format!("{}: only in the plugin", part.subject));
        }
    }
    if out.is_empty() {
        // The per-item comparison above reads each side through an index; should one side
        // ever hold two parts under one key, compare the whole lists as well, so that no
        // difference can hide behind another.
        let (mut a, mut b) = (host.to_vec(), plugin.to_vec());
        a.sort();
        b.sort();
        if let Some((x, y)) = a.iter().zip(&b).find(|(x, y)| x != y) {
            out.push(format!(
                "{} {}: {} -> {} {}: {}",
                x.subject, x.aspect, x.value, y.subject, y.aspect, y.value
            ));
        } else if a.len() != b.len() {
            out.push(format!("{} items -> {} items", a.len(), b.len()));
        }
    }
    out
}

fn changed(subject: &str, aspect: &str, old: &str, new: &str) -> String {
    match aspect {
        "" if subject.contains('.') => format!("{subject}: `{old}` -> `{new}`"),
        "" => format!("{subject} {old} -> {new}"),
        "signature" => format!("{subject}: signature changed: `{old}` -> `{new}`"),
        _ => format!("{subject}: {aspect} {old} -> {new}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    mod v1 {
        reloadable::abi_struct! {
            pub struct Counter {
                pub count: u64,
                pub step: u64,
            }
        }
        reloadable::ffi_interface! {
            pub mod counter {
                fn step(c: &mut Counter, by: u64) -> u64;
            }
        }
    }

    mod v2 {
        reloadable::abi_struct! {
            pub struct Counter {
                pub count: u64,
                pub step: u64,
                pub label: u64,
            }
        }
        reloadable::ffi_interface! {
            pub mod counter {
                fn step(c: &mut Counter, by: u32) -> u64;
            }
        }
    }

    /// The parts of `I`, as if its module were the interface crate `api` (the `v1` and `v2`
    /// modules here stand for two versions of one crate).
    fn of<I: reloadable::PluginInterface>(rustc: &'static str) -> Vec<Part> {
        let unify = |s: &str| {
            s.replace("hotdev_host::fingerprint::tests::v1::", "api::")
                .replace("hotdev_host::fingerprint::tests::v2::", "api::")
        };
        parts(
            I::DECL,
            Build {
                rustc,
                ..Build::current(std::mem::size_of::<I::Table>())
            },
        )
        .into_iter()
        .map(|p| Part {
            subject: unify(&p.subject),
            aspect: p.aspect,
            value: unify(&p.value),
        })
        .collect()
    }

    #[test]
    fn identical_declarations_have_no_diff_and_equal_hashes() {
        let a = of::<v1::counter::Interface>("rustc 1.95.0");
        let b = of::<v1::counter::Interface>("rustc 1.95.0");
        assert!(diff(&a, &b).is_empty());
        assert_eq!(hash(&a), hash(&b));
    }

    #[test]
    fn the_diff_names_each_differing_item() {
        let host = of::<v1::counter::Interface>("rustc 1.95.0 (59807616e 2026-04-14)");
        let plugin = of::<v2::counter::Interface>("rustc 1.94.1 (e408947bf 2026-03-25)");
        let d = diff(&host, &plugin);
        assert!(
            d.contains(
                &"rustc 1.95.0 (59807616e 2026-04-14) -> 1.94.1 (e408947bf 2026-03-25)".to_string()
            ),
            "{d:#?}"
        );
        assert!(
            d.contains(&"api::Counter: size 16 -> 24".to_string()),
            "{d:#?}"
        );
        assert!(
            d.contains(&"api::Counter: field count 2 -> 3".to_string()),
            "{d:#?}"
        );
        assert!(
            d.contains(&"api::Counter.label: only in the plugin".to_string()),
            "{d:#?}"
        );
        assert!(
            d.iter().any(|l| l.starts_with(
                "fn step: signature changed: `fn step(c: &mut Counter, by: u64) -> u64`"
            )),
            "{d:#?}"
        );
        assert_ne!(hash(&host), hash(&plugin));
    }

    fn build(rustc: &'static str, table_size: usize) -> Build<'static> {
        Build {
            rustc,
            ..Build::current(table_size)
        }
    }

    /// `same` says yes only where the parts have no diff, and no wherever they differ.
    #[test]
    fn same_agrees_with_an_empty_diff() {
        use reloadable::PluginInterface;
        let (d1, d2) = (v1::counter::Interface::DECL, v2::counter::Interface::DECL);
        let t1 = std::mem::size_of::<<v1::counter::Interface as PluginInterface>::Table>();
        let t2 = std::mem::size_of::<<v2::counter::Interface as PluginInterface>::Table>();
        let rustc = "rustc 1.95.0";
        assert!(same(d1, build(rustc, t1), d1, build(rustc, t1)));
        assert!(diff(&parts(d1, build(rustc, t1)), &parts(d1, build(rustc, t1))).is_empty());
        for (plugin, b) in [
            (d1, build("rustc 1.94.1", t1)),
            (d1, build(rustc, t1 + 8)),
            (d2, build(rustc, t2)),
        ] {
            assert!(!same(d1, build(rustc, t1), plugin, b));
            assert!(!diff(&parts(d1, build(rustc, t1)), &parts(plugin, b)).is_empty());
        }
        // One field's offset alone.
        static U64: TypeLayout = TypeLayout::scalar("u64", 8, 8);
        static FIELDS_A: [reloadable::Field; 1] = [reloadable::Field::new("x", 0, &U64)];
        static FIELDS_B: [reloadable::Field; 1] = [reloadable::Field::new("x", 8, &U64)];
        let s = |fields: &'static [reloadable::Field]| TypeLayout {
            path: reloadable::StaticStr::new("api"),
            fields: reloadable::StaticSlice::new(fields),
            ..TypeLayout::scalar("S", 16, 8)
        };
        let (a, b) = (s(&FIELDS_A), s(&FIELDS_B));
        assert!(!same_layout(&a, &b, &mut Vec::new()));
        assert!(same_layout(&a, &s(&FIELDS_A), &mut Vec::new()));
    }

    #[test]
    fn parts_cover_nested_types_once() {
        let p = of::<v1::counter::Interface>("rustc 1.95.0");
        let subjects: Vec<_> = p
            .iter()
            .filter(|p| p.aspect == "size")
            .map(|p| p.subject.as_str())
            .collect();
        assert_eq!(
            subjects,
            ["function table", "&mut api::Counter", "api::Counter", "u64"]
        );
    }

    #[test]
    fn parts_with_one_key_twice_still_differ() {
        let part = |v: &str| Part::new("T", "size", v);
        // Read through an index, the plugin's `T` is 16 like the host's: only the whole
        // lists tell the 8 apart.
        let host = vec![part("16"), part("16")];
        let plugin = vec![part("8"), part("16")];
        assert_eq!(diff(&host, &plugin), ["T size: 16 -> T size: 8"]);
    }
}
