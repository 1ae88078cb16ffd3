//! `export-repair demo`: a damaged sample export, repaired from its mirror.

use crate::demo::scenario;

use super::args::{DemoArgs, RepairArgs, ReportFlags};
use super::{CliError, ExitStatus, repair, rerun};

pub async fn run(args: DemoArgs) -> Result<ExitStatus, CliError> {
    let root = match args.dir {
        Some(dir) => dir,
        None => std::env::temp_dir().join(format!(
            "export-repair-demo-{}",
            time::OffsetDateTime::now_utc().unix_timestamp()
        )),
    };
    if root.join("drive").exists() {
        return Err(CliError::Usage(format!(
            "{} already holds a demo; choose another --dir or remove it",
            root.display()
        )));
    }
    let paths = scenario::build(&root).map_err(|error| {
        CliError::Usage(format!(
            "cannot build the demo in {}: {error}",
            root.display()
        ))
    })?;
    say!(
        "demo export in {}\n  drive     {}\n  mirror    {}\n  manifest  {}\n  copy log  {}\n",
        paths.root.display(),
        paths.drive.display(),
        paths.mirror.display(),
        paths.manifest.display(),
        paths.copy_log.display()
    );
    if super::session::console_wanted(args.headless, args.json) {
        // The console covers the screen: let the paths be read (and copied) first.
        say!("press Enter to open the repair console (Ctrl-C leaves)");
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
    }
    let repair_args = RepairArgs {
        repair_file: paths.repair_file.clone(),
        target: paths.drive.clone(),
        account: None,
        account_key: None,
        sas: None,
        auth: None,
        dry_run: false,
        copy_log: Some(paths.copy_log.clone()),
        verbose_log: None,
        manifest: Some(paths.manifest.clone()),
        log_dir: Some(paths.root.clone()),
        blob_endpoint: None,
        source_dir: Some(paths.mirror.clone()),
        reports: ReportFlags {
            report: vec![paths.report.clone(), paths.root.join("report.html")],
            report_format: None,
        },
        bitlocker_key: None,
        json: args.json,
        headless: args.headless,
        // Paced, two downloads at a time show on the map one after the other.
        concurrency: if args.pace.is_some() { 2 } else { 8 },
        read_timeout: None,
        fetch_logs: false,
        drive_id: None,
        logs_container: None,
        pace: args.pace,
    };
    let status = repair::run(repair_args).await?;
    say!(
        "\nreports: {} and report.html beside it",
        paths.report.display()
    );
    let rerun_finds = match status {
        ExitStatus::Verified => "it resumes, and finds nothing left to do",
        _ => "it resumes from the repair file and goes on with what is left",
    };
    say!(
        "rerun the same repair ({rerun_finds}):\n  \
         {} repair --repair-file {} --target {} --manifest {} --copy-log {} --source-dir {}",
        rerun::program(),
        rerun::path(&paths.repair_file),
        rerun::path(&paths.drive),
        rerun::path(&paths.manifest),
        rerun::path(&paths.copy_log),
        rerun::path(&paths.mirror)
    );
    Ok(status)
}
