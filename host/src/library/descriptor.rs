//! Finding a loaded library's descriptor and walking its pointers, each checked against
//! the library's mapped image before it is followed.

use std::path::Path;

use reloadable::descriptor::{DESCRIPTOR_VERSION, ENTRY_SYMBOL, MAGIC};
use reloadable::{Descriptor, FnDecl, InterfaceDecl, StateDecl, StaticStr, TypeLayout};

use super::Opened;
use crate::LoadError;
use crate::image::Image;
use crate::world::World;

/// Finds the descriptor and checks it before anything else reads it: its header (magic,
/// version, size) first, then, where the library's loaded image can be read (Linux), that
/// every pointer it holds lies inside that image (data in readable segments, functions in
/// executable ones), that every string is UTF-8, and that type layouts do not nest without
/// end. A descriptor with null or wild pointers is refused (HD011) instead of crashing
/// the host.
///
/// A plugin in the host's one world ([`World`]) may point into the world libraries it
/// links and this process loaded (its `init` function lives with reloadable, in the
/// interface crate's library); the descriptor itself must lie in the plugin.
pub fn descriptor<'lib>(
    opened: &'lib Opened,
    path: &Path,
    world: &World,
) -> Result<&'lib Descriptor, LoadError> {
    let symbol = format!("{ENTRY_SYMBOL}\0");
    // SAFETY: the symbol is looked up as a data address; nothing is called.
    let found = unsafe { opened.lib.get::<*const u8>(symbol.as_bytes()) };
    let addr: *const u8 = match found {
        Ok(sym) => *sym,
        Err(_) => {
            return Err(LoadError::NoEntrySymbol {
                path: path.to_path_buf(),
                symbol: ENTRY_SYMBOL,
            });
        }
    };
    let image = opened.image();
    if image.is_none() && cfg!(target_os = "linux") {
        return Err(LoadError::BadDescriptor {
            path: path.to_path_buf(),
            reason: format!(
                "the loader does not list {} among the loaded libraries",
                opened.path.display()
            ),
        });
    }
    // SAFETY:
    // - `image` is the mapped image of the library `opened` holds open, and the world's
    //   images are those of libraries this process loaded and never unloads: their
    //   readable segments stay readable while `opened` lives;
    // - where no image is known (not Linux), `addr` is the address of the library's entry
    //   symbol: data the loader mapped, as the descriptor's header is.
    let d = unsafe { check_at(addr, path, image.as_ref(), world.images()) }?;
    // SAFETY: magic and version match, so the static is a `Descriptor` of this layout,
    // living as long as the library (`'lib`); every reference and string in it was checked
    // to point into the library's own image (where it can be read; see above).
    Ok(unsafe { &*d })
}

/// The checks of [`descriptor`] on the descriptor at `addr`: its header, then, when
/// `image` (the plugin's mapped image) is known, every pointer it holds against that image
/// and the `world` images. Returns the descriptor's address once it passed.
///
/// # Safety
///
/// - every readable segment of `image` and of the `world` images is memory this process
///   may read, and nothing writes it during the call;
/// - when `image` is `None`, `addr` points at readable memory holding at least a
///   `Descriptor` (nothing is checked then but the header's values).
pub(crate) unsafe fn check_at<'i>(
    addr: *const u8,
    path: &Path,
    image: Option<&'i Image>,
    world: impl Iterator<Item = &'i Image>,
) -> Result<*const Descriptor, LoadError> {
    let bad = |reason: String| LoadError::BadDescriptor {
        path: path.to_path_buf(),
        reason,
    };
    let header = 16;
    let in_image = |len: usize| image.is_none_or(|i| i.holds_data(addr as usize, len));
    if addr.is_null()
        || addr.align_offset(std::mem::align_of::<Descriptor>()) != 0
        || !in_image(header)
    {
        return Err(bad(format!(
            "the `{ENTRY_SYMBOL}` symbol is at an unusable address {addr:p}, outside the library's data"
        )));
    }
    // SAFETY: `addr` is aligned, and its first 16 bytes are readable data of the library
    // (checked above where the image is known; the caller's promise where it is not);
    // every descriptor version starts with a u64 magic and a u32 version, which are read
    // before anything whose layout depends on the version.
    let (magic, version) = unsafe { (addr.cast::<u64>().read(), addr.add(8).cast::<u32>().read()) };
    if magic != MAGIC {
        return Err(bad(format!(
            "wrong magic number {magic:#018x} (expected {MAGIC:#018x})"
        )));
    }
    if version != DESCRIPTOR_VERSION {
        return Err(bad(format!(
            "descriptor version {version}, this host reads version {DESCRIPTOR_VERSION}: \
             rebuild the plugin against the host's reloadable"
        )));
    }
    let size = std::mem::size_of::<Descriptor>();
    if !in_image(size) {
        return Err(bad(format!(
            "the descriptor's {size} bytes at {addr:p} run past the library's data"
        )));
    }
    let d = addr.cast::<Descriptor>();
    // SAFETY: `size` readable bytes at `d` (checked above, or the caller's promise); a
    // usize has no invalid values.
    let descriptor_size = unsafe { std::ptr::addr_of!((*d).descriptor_size).read() };
    if descriptor_size != size {
        return Err(bad(format!(
            "descriptor size {descriptor_size} bytes, expected {size}"
        )));
    }
    if let Some(image) = image {
        let images = std::iter::once(image).chain(world).collect();
        Walk { images, nodes: 0 }.descriptor(d).map_err(bad)?;
    }
    Ok(d)
}

/// Follows a descriptor's pointers as raw addresses, checking each against the image
/// before reading through it.
struct Walk<'a> {
    /// The plugin's image, then those of the world libraries it links.
    images: Vec<&'a Image>,
    nodes: usize,
}

/// How deep type layouts may nest, and how many the walk visits at most: far more than any
/// interface needs, few enough that a cyclic or exploding descriptor is refused quickly.
const MAX_DEPTH: usize = 64;
const MAX_NODES: usize = 100_000;
const MAX_ENTRIES: usize = 1 << 16;

/// Reads a field of the struct at raw pointer `$p` as a value of type `$as` (a raw pointer,
/// `usize` or a `#[repr(C)]` struct of them), without forming a reference to the struct.
macro_rules! field {
    ($p:expr, $field:ident as $as:ty) => {
        // SAFETY: the struct's bytes were checked to lie in the library's readable data,
        // and `$as` has the field's size and no invalid values (addresses are read as
        // integers or raw pointers, never as references).
        unsafe { std::ptr::addr_of!((*$p).$field).cast::<$as>().read() }
    };
}

impl Walk<'_> {
    fn data(&self, addr: usize, len: usize, align: usize, what: &str) -> Result<(), String> {
        if !addr.is_multiple_of(align.max(1))
            || !self.images.iter().any(|i| i.holds_data(addr, len.max(1)))
        {
            return Err(format!(
                "{what} at {addr:#x} lies outside the library's data"
            ));
        }
        Ok(())
    }

    fn code(&self, addr: usize, what: &str) -> Result<(), String> {
        if !self.images.iter().any(|i| i.holds_code(addr)) {
            return Err(format!(
                "{what} at {addr:#x} lies outside the library's code"
            ));
        }
        Ok(())
    }

    fn optional_code(&self, addr: usize, what: &str) -> Result<(), String> {
        if addr == 0 {
            Ok(())
        } else {
            self.code(addr, what)
        }
    }

    fn text(&self, s: StaticStr, what: &str) -> Result<(), String> {
        let (ptr, len) = s.raw_parts();
        if len == 0 {
            return if ptr.is_null() {
                Err(format!("{what} is a null string"))
            } else {
                Ok(())
            };
        }
        if len > MAX_ENTRIES {
            return Err(format!("{what} is {len} bytes long"));
        }
        self.data(ptr as usize, len, 1, what)?;
        // SAFETY: `len` readable bytes of the library at `ptr` (checked above).
        let bytes = unsafe { std::slice::from_raw_parts(ptr, len) };
        std::str::from_utf8(bytes).map_err(|_| format!("{what} is not UTF-8"))?;
        Ok(())
    }

    fn slice<T>(&self, (ptr, len): (*const T, usize), what: &str) -> Result<(), String> {
        if len == 0 {
            return Ok(());
        }
        if len > MAX_ENTRIES {
            return Err(format!("{what} has {len} entries"));
        }
        let bytes = len * std::mem::size_of::<T>();
        self.data(ptr as usize, bytes, std::mem::align_of::<T>(), what)
    }

    fn descriptor(&mut self, d: *const Descriptor) -> Result<(), String> {
        let interface = field!(d, interface as usize);
        self.interface(interface)?;
        for (s, what) in [
            (field!(d, plugin_name as StaticStr), "the plugin name"),
            (field!(d, build_id as StaticStr), "the build id"),
            (field!(d, rustc as StaticStr), "the compiler version"),
            (field!(d, target as StaticStr), "the target"),
            (field!(d, panic as StaticStr), "the panic strategy"),
        ] {
            self.text(s, what)?;
        }
        let (table, table_size) = (field!(d, table as usize), field!(d, table_size as usize));
        let word = std::mem::size_of::<usize>();
        if table_size % word != 0 || table_size / word > MAX_ENTRIES {
            return Err(format!("a function table of {table_size} bytes"));
        }
        self.data(table, table_size, word, "the function table")?;
        for i in 0..table_size / word {
            // SAFETY: inside the table, whose bytes lie in the library's data (checked).
            let f = unsafe { (table as *const usize).add(i).read() };
            self.code(f, &format!("function {} of the table", i + 1))?;
        }
        self.code(field!(d, init as usize), "the init function")?;
        self.code(field!(d, fini as usize), "the fini function")?;
        self.optional_code(field!(d, on_load as usize), "the load hook")?;
        self.optional_code(field!(d, on_unload as usize), "the unload hook")?;
        let state = field!(d, state as usize);
        if state != 0 {
            self.data(
                state,
                std::mem::size_of::<StateDecl>(),
                std::mem::align_of::<StateDecl>(),
                "the state declaration",
            )?;
            let st = state as *const StateDecl;
            self.layout(field!(st, layout as usize), 0)?;
            self.code(field!(st, init as usize), "the state's init hook")?;
            self.code(field!(st, drop as usize), "the state's drop hook")?;
            self.optional_code(field!(st, save as usize), "the state's save hook")?;
            self.optional_code(field!(st, restore as usize), "the state's restore hook")?;
        }
        Ok(())
    }

    fn interface(&mut self, addr: usize) -> Result<(), String> {
        self.data(
            addr,
            std::mem::size_of::<InterfaceDecl>(),
            std::mem::align_of::<InterfaceDecl>(),
            "the interface declaration",
        )?;
        let i = addr as *const InterfaceDecl;
        self.text(field!(i, name as StaticStr), "the interface name")?;
        let functions = field!(i, functions as reloadable::StaticSlice<FnDecl>).raw_parts();
        self.slice(functions, "the interface's functions")?;
        for n in 0..functions.1 {
            let f = functions.0.wrapping_add(n);
            self.text(field!(f, name as StaticStr), "a function's name")?;
            self.text(field!(f, signature as StaticStr), "a function's signature")?;
            let (types, len) = field!(f, types as reloadable::StaticSlice<usize>).raw_parts();
            self.slice((types, len), "a function's types")?;
            for t in 0..len {
                // SAFETY: inside the slice, whose bytes lie in the library's data (checked).
                let ty = unsafe { types.add(t).read() };
                self.layout(ty, 0)?;
            }
        }
        Ok(())
    }

    fn layout(&mut self, addr: usize, depth: usize) -> Result<(), String> {
        self.nodes += 1;
        if depth > MAX_DEPTH || self.nodes > MAX_NODES {
            return Err("its type layouts nest without end".into());
        }
        self.data(
            addr,
            std::mem::size_of::<TypeLayout>(),
            std::mem::align_of::<TypeLayout>(),
            "a type layout",
        )?;
        let t = addr as *const TypeLayout;
        self.text(field!(t, name as StaticStr), "a type's name")?;
        self.text(field!(t, path as StaticStr), "a type's module path")?;
        let fields = field!(t, fields as reloadable::StaticSlice<reloadable::Field>).raw_parts();
        self.slice(fields, "a struct's fields")?;
        for n in 0..fields.1 {
            let f = fields.0.wrapping_add(n);
            self.text(field!(f, name as StaticStr), "a field's name")?;
            self.layout(field!(f, ty as usize), depth + 1)?;
        }
        let element = field!(t, element as usize);
        if element != 0 {
            self.layout(element, depth + 1)?;
        }
        self.optional_code(field!(t, type_id as usize), "a type's TypeId function")?;
        self.optional_code(field!(t, type_name as usize), "a type's name function")?;
        Ok(())
    }
}
