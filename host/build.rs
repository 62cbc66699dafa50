//! Compiles the crash-catching trampoline (`csrc/guard.c`, Unix only): `sigsetjmp` returns
//! twice, which Rust cannot express soundly, so it is called from C.

fn main() {
    println!("cargo::rerun-if-changed=csrc/guard.c");
    let unix = std::env::var_os("CARGO_CFG_UNIX").is_some();
    let loom = std::env::var("CARGO_CFG_LOOM").is_ok();
    if unix && !loom {
        cc::Build::new()
            .file("csrc/guard.c")
            .warnings(true)
            .compile("hotdev_guard");
    }
}
