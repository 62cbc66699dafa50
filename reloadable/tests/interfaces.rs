//! What `ffi_interface!`, `rust_interface!` and `plugin_module!` generate: calls that go through
//! each kind's shims (panics caught), and the declaration the host checks (names,
//! signatures, one type layout per parameter plus the result's, the kind).

use std::any::TypeId;

use reloadable::{CallError, InterfaceDecl, Linkable, Linked, RString, RVec};

reloadable::abi_struct! {
    /// Kept by the caller.
    #[derive(Debug, Default)]
    pub struct Tally {
        pub total: u64,
    }
}

reloadable::ffi_interface! {
    /// FFI types.
    pub mod ffi_kind {
        fn add(tally: &mut Tally, n: u64) -> u64;
        fn greet(name: &str, times: &[u8]) -> RString;
        fn nothing();
        fn boom() -> RVec<u8>;
    }
}

reloadable::rust_interface! {
    /// Rust types.
    pub mod rust_kind {
        fn add(tally: &mut Tally, n: u64) -> u64;
        fn greet(name: String, times: Vec<u8>) -> String;
        fn nothing();
        fn boom() -> Vec<u8>;
    }
}

mod plugin {
    use super::Tally;

    reloadable::plugin_module! {
        pub mod exported {
            pub fn add(tally: &mut Tally, n: u64) -> u64 {
                tally.total += n;
                tally.total
            }
        }
    }
}

struct Ffi;
impl ffi_kind::Implementation for Ffi {
    fn add(tally: &mut Tally, n: u64) -> u64 {
        tally.total += n;
        tally.total
    }
    fn greet(name: &str, times: &[u8]) -> RString {
        format!("hello {name} {times:?}").into()
    }
    fn nothing() {}
    fn boom() -> RVec<u8> {
        panic!("ffi boom")
    }
}

struct Rusty;
impl rust_kind::Implementation for Rusty {
    fn add(tally: &mut Tally, n: u64) -> u64 {
        tally.total += n;
        tally.total
    }
    fn greet(name: String, times: Vec<u8>) -> String {
        format!("hello {name} {times:?}")
    }
    fn nothing() {}
    fn boom() -> Vec<u8> {
        panic!("rust boom")
    }
}

impl Linkable for ffi_kind::Interface {
    const TABLE: ffi_kind::Table = ffi_kind::table::<Ffi>();
}
impl Linkable for rust_kind::Interface {
    const TABLE: rust_kind::Table = rust_kind::table::<Rusty>();
}

fn panic_message(result: Result<impl std::fmt::Debug, CallError>) -> String {
    match result {
        Err(CallError::Panicked { message, .. }) => message,
        other => panic!("expected a caught panic, got {other:?}"),
    }
}

#[test]
fn ffi_kind_calls_convert_through_the_shims_and_catch_panics() {
    use ffi_kind::Calls;
    let plugin = Linked::<ffi_kind::Interface>::new();
    let mut tally = Tally::default();
    assert_eq!(plugin.add(&mut tally, 2), Ok(2));
    assert_eq!(plugin.add(&mut tally, 3), Ok(5));
    assert_eq!(plugin.greet("ann", &[1, 2]).unwrap(), "hello ann [1, 2]");
    assert_eq!(plugin.nothing(), Ok(()));
    assert_eq!(panic_message(plugin.boom()), "ffi boom");
}

#[test]
fn rust_kind_calls_pass_rust_types_through_the_shims_and_catch_panics() {
    use rust_kind::Calls;
    let plugin = Linked::<rust_kind::Interface>::new();
    let mut tally = Tally::default();
    assert_eq!(plugin.add(&mut tally, 2), Ok(2));
    assert_eq!(plugin.add(&mut tally, 3), Ok(5));
    assert_eq!(plugin.greet("bo".into(), vec![3]).unwrap(), "hello bo [3]");
    assert_eq!(plugin.nothing(), Ok(()));
    assert_eq!(panic_message(plugin.boom()), "rust boom");
}

#[test]
fn exported_functions_are_called_directly_and_through_the_table() {
    use plugin::exported::{self, Calls};
    let mut tally = Tally::default();
    assert_eq!(exported::add(&mut tally, 4), 4);
    assert_eq!(
        Linked::<exported::Interface>::new().add(&mut tally, 1),
        Ok(5)
    );
}

/// Each function's name, signature, and the sizes of its parameters' and result's types.
fn functions(decl: &InterfaceDecl) -> Vec<(&str, &str, Vec<usize>)> {
    decl.functions
        .as_slice()
        .iter()
        .map(|f| {
            let sizes = f.types.as_slice().iter().map(|t| t.size).collect();
            (f.name.as_str(), f.signature.as_str(), sizes)
        })
        .collect()
}

#[test]
fn the_ffi_kind_declares_its_signatures_with_ffi_layouts() {
    let decl = <ffi_kind::Interface as reloadable::PluginInterface>::DECL;
    assert_eq!(decl.name.as_str(), "ffi_kind");
    assert!(!decl.rust_types);
    let word = size_of::<usize>();
    assert_eq!(
        functions(decl),
        [
            (
                "add",
                "fn add (tally : &mut Tally, n : u64) -> u64",
                vec![word, 8, 8]
            ),
            (
                "greet",
                "fn greet (name : &str, times : &[u8]) -> RString",
                vec![2 * word, 2 * word, 3 * word]
            ),
            ("nothing", "fn nothing ()", vec![0]),
            ("boom", "fn boom () -> RVec<u8>", vec![3 * word]),
        ]
    );
    let add = &decl.functions.as_slice()[0];
    let names: Vec<_> = add
        .types
        .as_slice()
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(names, ["&mut", "u64", "u64"]);
    assert_eq!(
        add.types.as_slice()[0].element.unwrap().name.as_str(),
        "Tally"
    );
    assert!(add.types.as_slice().iter().all(|t| t.type_id.is_none()));
}

#[test]
fn the_rust_kind_declares_its_signatures_with_rust_layouts_and_type_ids() {
    let decl = <rust_kind::Interface as reloadable::PluginInterface>::DECL;
    assert_eq!(decl.name.as_str(), "rust_kind");
    assert!(decl.rust_types);
    let word = size_of::<usize>();
    assert_eq!(
        functions(decl),
        [
            (
                "add",
                "fn add (tally : &mut Tally, n : u64) -> u64",
                vec![word, 8, 8]
            ),
            (
                "greet",
                "fn greet (name : String, times : Vec<u8>) -> String",
                vec![3 * word, 3 * word, 3 * word]
            ),
            ("nothing", "fn nothing ()", vec![0]),
            ("boom", "fn boom () -> Vec<u8>", vec![3 * word]),
        ]
    );
    let greet = &decl.functions.as_slice()[1];
    let ids: Vec<_> = greet
        .types
        .as_slice()
        .iter()
        .map(|t| (t.type_id.unwrap())())
        .collect();
    assert_eq!(
        ids,
        [
            TypeId::of::<String>(),
            TypeId::of::<Vec<u8>>(),
            TypeId::of::<String>()
        ]
    );
    let add = &decl.functions.as_slice()[0];
    assert_eq!(add.types.as_slice()[0].name.as_str(), "&mut Tally");
    // Results are named as written (these names appear in the host's HD013 diff).
    let result_names: Vec<_> = decl
        .functions
        .as_slice()
        .iter()
        .map(|f| f.types.as_slice().last().unwrap().name.as_str())
        .collect();
    assert_eq!(result_names, ["u64", "String", "()", "Vec<u8>"]);
}

#[test]
fn plugin_module_declares_a_rust_interface_of_its_functions() {
    let decl = <plugin::exported::Interface as reloadable::PluginInterface>::DECL;
    assert_eq!(decl.name.as_str(), "exported");
    assert!(decl.rust_types);
    let word = size_of::<usize>();
    assert_eq!(
        functions(decl),
        [(
            "add",
            "fn add (tally : &mut Tally, n : u64) -> u64",
            vec![word, 8, 8]
        )]
    );
}
