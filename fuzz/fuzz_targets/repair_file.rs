//! Fuzz target `repair_file`: see `export_repair_fuzz::repair_file`. Under `cargo fuzz` a libFuzzer target;
//! built plainly (`cargo run --release --bin repair_file -- [iterations]`), a fixed number of
//! iterations over the seed corpus and mutations of it.
#![cfg_attr(fuzzing, no_main)]

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(
    init: export_repair_fuzz::standalone::write_repair_file_seed(),
    |data: &[u8]| export_repair_fuzz::repair_file(data)
);

#[cfg(not(fuzzing))]
fn main() {
    export_repair_fuzz::standalone::run("repair_file", export_repair_fuzz::repair_file);
}
