//! The `dbopt` binary: parse arguments, run, map the outcome to an exit code (0/1/2).

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match dbopt::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version are not errors; usage errors exit 2 (clap prints them).
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let status = match runtime.block_on(dbopt::cli::run(cli)) {
        Ok(status) => status,
        Err(err) => dbopt::cli::report_error(&err),
    };
    // Let background connection tasks end without waiting on them.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    status.into()
}
