//! The `dbopt` binary: parse arguments, run, map the outcome to an exit code (0/1/2).

use std::process::ExitCode;

use clap::Parser;

/// A panic is a bug: one line, exit 2, no stack trace for the user. (`dbopt ... | head`
/// closing stdout early is no panic: all output goes through `report::print_text`, whose
/// error `cli::report_error` treats as success.)
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("error: internal error (a bug in dbopt{place}): {msg}; hint: please report it with the command you ran");
        std::process::exit(2);
    }));
}

fn main() -> ExitCode {
    install_panic_hook();
    let cli = match dbopt::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version are not errors; usage errors exit 2 (clap prints them,
            // a refused flag value as one line with a hint).
            let code = if e.use_stderr() { 2 } else { 0 };
            match dbopt::cli::clap_value_error(&e) {
                Some(line) => eprintln!("{line}"),
                None => {
                    let _ = e.print();
                }
            }
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
    let role = dbopt::cli::role_of(&cli);
    let status = match runtime.block_on(dbopt::cli::run(cli)) {
        Ok(status) => status,
        Err(err) => dbopt::cli::report_error(&err, role.as_deref()),
    };
    // Let background connection tasks end without waiting on them.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    status.into()
}
