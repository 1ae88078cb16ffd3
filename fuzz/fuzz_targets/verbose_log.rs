//! Fuzz target `verbose_log`: see `export_repair_fuzz::verbose_log`. Under `cargo fuzz` a libFuzzer
//! target; built plainly (`cargo run --release --bin verbose_log -- [iterations]`), a fixed number
//! of iterations over the seed corpus and mutations of it.
#![cfg_attr(fuzzing, no_main)]

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| export_repair_fuzz::verbose_log(data));

#[cfg(not(fuzzing))]
fn main() {
    export_repair_fuzz::standalone::run("verbose_log", export_repair_fuzz::verbose_log);
}
