//! Fuzz target `copy_log_2021`: see `export_repair_fuzz::copy_log_2021`. Under `cargo fuzz` a libFuzzer
//! target; built plainly (`cargo run --release --bin copy_log_2021 -- [iterations]`), a fixed number
//! of iterations over the seed corpus and mutations of it.
#![cfg_attr(fuzzing, no_main)]

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| export_repair_fuzz::copy_log_2021(data));

#[cfg(not(fuzzing))]
fn main() {
    export_repair_fuzz::standalone::run("copy_log_2021", export_repair_fuzz::copy_log_2021);
}
