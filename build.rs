//! The release binary keeps its line tables (backtraces name files and lines), compressed:
//! on Linux the linker stores the DWARF sections zlib-compressed (SHF_COMPRESSED), which the
//! standard library's backtraces read as they are. Uncompressed they made the binary 88 MiB.

fn main() {
    let release = std::env::var("PROFILE").is_ok_and(|profile| profile == "release");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    if release && linux {
        println!("cargo:rustc-link-arg-bins=-Wl,--compress-debug-sections=zlib");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
