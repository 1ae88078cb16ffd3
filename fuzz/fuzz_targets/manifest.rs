//! Fuzz target `manifest`: see `export_repair_fuzz::manifest`. Under `cargo fuzz` a libFuzzer target;
//! built plainly (`cargo run --release --bin manifest -- [iterations]`), a fixed number of
//! iterations over the seed corpus and mutations of it.
#![cfg_attr(fuzzing, no_main)]

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| export_repair_fuzz::manifest(data));

#[cfg(not(fuzzing))]
fn main() {
    export_repair_fuzz::standalone::run("manifest", export_repair_fuzz::manifest);
}
