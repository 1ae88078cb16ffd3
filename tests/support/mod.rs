pub mod azurite;
pub mod engine_run;
pub mod export;
pub mod fault_proxy;
pub mod files;
pub mod hostile;
pub mod runs;
pub mod skip;
pub mod tmpfs;
pub mod tmux;

/// `'<binary>' repair …` of the demo drive from its mirror (manifest and copy log given, its
/// log in `log_dir`), for a shell: every path quoted. More flags may follow.
#[allow(dead_code)]
pub fn demo_repair_line(
    paths: &export_repair::demo::scenario::DemoPaths,
    log_dir: &std::path::Path,
) -> String {
    format!(
        "'{}' repair --repair-file '{}' --target '{}' --manifest '{}' --copy-log '{}' \
         --source-dir '{}' --log-dir '{}'",
        assert_cmd::cargo::cargo_bin("export-repair").display(),
        paths.repair_file.display(),
        paths.drive.display(),
        paths.manifest.display(),
        paths.copy_log.display(),
        paths.mirror.display(),
        log_dir.display(),
    )
}
