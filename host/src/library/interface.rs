//! The last step: checking that a descriptor implements the host's interface, with the
//! host's fingerprint and, for Rust types, the same builds of every crossing type.

use std::path::Path;

use reloadable::{Descriptor, InterfaceDecl};

use crate::LoadError;
use crate::fingerprint::{self, Build, Part};

/// The fingerprint parts of the interface a descriptor declares, with the plugin's build
/// facts.
pub fn plugin_parts(desc: &Descriptor) -> Vec<Part> {
    fingerprint::parts(desc.interface, plugin_build(desc))
}

/// The build facts a descriptor records.
fn plugin_build(desc: &Descriptor) -> Build<'_> {
    Build {
        abi_version: desc.abi_version,
        rustc: desc.rustc.as_str(),
        target: desc.target.as_str(),
        panic: desc.panic.as_str(),
        table_size: desc.table_size,
    }
}

/// Checks that a descriptor implements interface `I` with the host's fingerprint.
pub fn check_interface<I: reloadable::PluginInterface>(
    desc: &Descriptor,
    path: &Path,
) -> Result<(), LoadError> {
    let expected = I::DECL.name.as_str();
    let found = desc.interface.name.as_str();
    if expected != found {
        return Err(LoadError::WrongInterface {
            path: path.to_path_buf(),
            expected: expected.into(),
            found: found.into(),
        });
    }
    let host_build = Build::current(std::mem::size_of::<I::Table>());
    if !fingerprint::same(I::DECL, host_build, desc.interface, plugin_build(desc)) {
        let host = fingerprint::parts(I::DECL, host_build);
        let diff = fingerprint::diff(&host, &plugin_parts(desc));
        if !diff.is_empty() {
            return Err(LoadError::FingerprintMismatch {
                path: path.to_path_buf(),
                diff,
            });
        }
    }
    if I::DECL.rust_types {
        let types = rust_type_diff(I::DECL, desc.interface);
        if !types.is_empty() {
            return Err(LoadError::TypeMismatch {
                path: path.to_path_buf(),
                types,
            });
        }
    }
    Ok(())
}

/// For a Rust-typed interface whose fingerprint matched (same compiler, target,
/// signatures, sizes): the types whose `TypeId` in the plugin differs from the host's,
/// one line each, by full name. A `TypeId` derives from the defining crate's build
/// (`-C metadata`: its version, source, features, profile and those of its dependencies),
/// so a difference means the two sides compiled that crate differently.
fn rust_type_diff(host: &InterfaceDecl, plugin: &InterfaceDecl) -> Vec<String> {
    let mut out = Vec::new();
    let fns = host
        .functions
        .as_slice()
        .iter()
        .zip(plugin.functions.as_slice());
    for (h, p) in fns {
        for (ht, pt) in h.types.as_slice().iter().zip(p.types.as_slice()) {
            let (Some(h_id), Some(h_name)) = (ht.type_id, ht.type_name) else {
                continue;
            };
            let (Some(p_id), Some(p_name)) = (pt.type_id, pt.type_name) else {
                out.push(format!("{}: no type identity in the plugin", h_name()));
                continue;
            };
            // The plugin's functions are called only now that its compiler and target are
            // known to be the host's (the fingerprint matched), so they share the host's
            // calling convention and `TypeId` layout. They only return constants.
            let (host_name, plugin_name) = (h_name(), p_name());
            let line = if host_name != plugin_name {
                format!("{host_name} -> {plugin_name}")
            } else if h_id() != p_id() {
                format!(
                    "{host_name}: the plugin's is another build of its crate (a different \
                     version, source, features or profile)"
                )
            } else {
                continue;
            };
            if !out.contains(&line) {
                out.push(line);
            }
        }
    }
    out
}
