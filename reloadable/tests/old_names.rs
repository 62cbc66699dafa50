//! The macros' names before 0.2 still expand to the renamed macros (with a deprecation
//! warning), so a crate written against them builds and makes the same interfaces.
#![allow(deprecated)]

use reloadable::PluginInterface;

reloadable::interface! {
    pub mod old_ffi {
        fn twice(n: u64) -> u64;
    }
}

reloadable::ffi_interface! {
    pub mod new_ffi {
        fn twice(n: u64) -> u64;
    }
}

reloadable::exports! {
    pub mod old_module {
        pub fn thrice(n: u64) -> u64 {
            n * 3
        }
    }
}

#[test]
fn interface_is_ffi_interface() {
    let (old, new) = (
        <old_ffi::Interface as PluginInterface>::DECL,
        <new_ffi::Interface as PluginInterface>::DECL,
    );
    assert_eq!(old.name.as_str(), "old_ffi");
    assert_eq!(old.functions.as_slice().len(), 1);
    assert_eq!(
        format!("{:?}", old.functions.as_slice()),
        format!("{:?}", new.functions.as_slice())
    );
}

#[test]
fn exports_is_plugin_module() {
    use old_module::Calls;
    let linked = reloadable::Linked::<old_module::Interface>::new();
    assert_eq!(linked.thrice(2), Ok(6));
}
