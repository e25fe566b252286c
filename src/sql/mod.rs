//! The ground floor of SQL text, with no I/O: quoting of names and literals ([`ident`]), typed
//! index keys ([`index_key`]), index definitions and their DDL ([`ddl`]), and statements shown
//! on one line ([`one_line`]).
//!
//! Why one module below everything: every layer writes SQL or shows it (the rules suggest
//! indexes, the advisor names them, `emit` writes migrations, `pg` sends statements), and a
//! name must be quoted the same way wherever it ends up.

pub mod ddl;
pub mod ident;
pub mod index_key;

pub use ident::{quote_ident, quote_literal, sql_name};

/// A statement on one line, whitespace collapsed, cut to `max` characters with `…`.
pub fn one_line(text: &str, max: usize) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        flat
    } else {
        let cut: String = flat.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}
