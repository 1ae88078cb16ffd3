//! export-repair: parse → run → exit code. Everything else lives in the library.

fn main() -> std::process::ExitCode {
    export_repair::cli::main().into()
}
