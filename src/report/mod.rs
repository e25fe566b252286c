//! Rendering: tables for people (comfy-table, colour only on a terminal), JSON for machines,
//! an HTML page for a browser ([`html`]).
//!
//! Why one place: every command prints through the same few helpers, so `--format json` is
//! available everywhere and the human output looks alike from command to command.

pub mod advise;
pub mod archive;
pub mod bench;
pub mod bench_queries;
pub mod check;
pub mod demo;
pub mod doctor;
pub mod explain;
pub mod html;
pub mod inspect;
pub mod migrations;
pub mod nplusone;
pub mod rules;
pub mod vacuum;

use std::io::IsTerminal;

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, Color, ContentArrangement, Table};
use serde::Serialize;

use crate::findings::Severity;

/// `--format`
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Format {
    /// Tables and text for a person.
    #[default]
    Table,
    /// One JSON document with a stable schema.
    Json,
    /// Markdown, for a pull request or a ticket.
    Markdown,
    /// JUnit XML, for CI systems (commands that check budgets).
    Junit,
    /// One self-contained HTML page for a browser (`advise`, `check`).
    Html,
}

/// Whether colour and progress bars should be used on stdout/stderr.
pub fn stdout_is_terminal() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// A table with dbopt's look. Markdown output gets the markdown preset.
pub fn table(format: Format, headers: &[&str]) -> Table {
    let mut t = Table::new();
    if format == Format::Markdown {
        t.load_preset(comfy_table::presets::ASCII_MARKDOWN);
    } else {
        t.load_preset(UTF8_FULL_CONDENSED);
        t.set_content_arrangement(ContentArrangement::Dynamic);
    }
    if !stdout_is_terminal() {
        t.force_no_tty();
    }
    t.set_header(headers.iter().map(Cell::new));
    t
}

/// A cell coloured by status (colour is dropped when stdout is not a terminal).
pub fn status_cell(text: &str, level: Option<Severity>) -> Cell {
    let c = Cell::new(text);
    match level {
        Some(Severity::Critical) => c.fg(Color::Red),
        Some(Severity::Warning) => c.fg(Color::Yellow),
        Some(Severity::Info) => c.fg(Color::Cyan),
        None => c.fg(Color::Green),
    }
}

/// A report on stdout: JSON for `--format json`, else the human rendering `text` makes for
/// the format. Every command prints its report through here.
pub fn print<T: Serialize>(
    format: Format,
    value: &T,
    text: impl FnOnce(Format) -> String,
) -> std::io::Result<()> {
    match format {
        Format::Json => print_json(value),
        f => print_text(&text(f)),
    }
}

/// A note for the user on stderr (`note: ...`), beside the report.
pub fn note(text: &str) {
    eprintln!("note: {text}");
}

/// Print a value as pretty JSON on stdout.
pub fn print_json<T: Serialize>(value: &T) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(std::io::Error::other)?;
    print_text(&format!("{text}\n"))
}

/// Write text to stdout, returning the error (a closed pipe) instead of panicking like `print!`:
/// the one writer of dbopt's stdout, so `dbopt ... | head` ends quietly (`cli::report_error`
/// treats a broken pipe as success).
pub fn print_text(text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// `println!` through [`print_text`]: a line on stdout, the error (a closed pipe) returned.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::report::print_text(&format!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` through [`print_text`].
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::report::print_text(&format!($($arg)*))
    };
}

/// A progress bar on stderr when it is a terminal, hidden otherwise.
pub fn progress(len: u64, what: &str) -> indicatif::ProgressBar {
    let pb = if stderr_is_terminal() {
        indicatif::ProgressBar::new(len)
    } else {
        indicatif::ProgressBar::hidden()
    };
    pb.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {msg:<24} [{bar:30}] {pos}/{len} ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    pb.set_message(what.to_string());
    pb
}

/// An index build's progress ([`crate::pg::apply`]) as a [`progress`] bar.
pub fn build_progress(index: &str) -> Box<dyn crate::pg::apply::BuildProgress> {
    Box::new(progress(0, index))
}

impl crate::pg::apply::BuildProgress for indicatif::ProgressBar {
    fn show(&self, done: u64, total: u64, message: String) {
        self.set_length(total);
        self.set_position(done);
        self.set_message(message);
    }

    fn finish(&self) {
        self.finish_and_clear();
    }
}

/// XML text and attribute escaping, for the JUnit writers.
pub(crate) fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
