//! Fuzz target `side_files`: see `export_repair_fuzz::side_files`. Under `cargo fuzz` a libFuzzer target;
//! built plainly (`cargo run --release --bin side_files -- [iterations]`), a fixed number of
//! iterations over the seed corpus and mutations of it.
#![cfg_attr(fuzzing, no_main)]

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| export_repair_fuzz::side_files(data));

#[cfg(not(fuzzing))]
fn main() {
    export_repair_fuzz::standalone::run("side_files", export_repair_fuzz::side_files);
}
