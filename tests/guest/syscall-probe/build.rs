//! Links with every PT_LOAD segment starting on a page boundary in memory and in the
//! file, so the kernel's loader maps whole pages and no page mixes two segments' rights.
fn main() {
    println!("cargo:rustc-link-arg-bins=-zseparate-loadable-segments");
}
