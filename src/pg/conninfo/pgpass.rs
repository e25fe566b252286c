//! The password from `~/.pgpass` (or `PGPASSFILE`), matched as libpq matches it.

use std::path::Path;

use super::ConnParams;

/// Look the password up in a `.pgpass` file, as libpq does (first match wins; `*` matches
/// anything; a socket directory matches `localhost`). Files readable by group or others are
/// ignored with a warning, like libpq.
pub(super) fn pgpass_lookup(file: &Path, p: &ConnParams) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(file).ok()?;
    if meta.permissions().mode() & 0o077 != 0 {
        eprintln!(
            "warning: password file \"{}\" has group or world access; permissions should be u=rw (0600) or less",
            file.display()
        );
        return None;
    }
    let text = std::fs::read_to_string(file).ok()?;
    let host = p.hosts().into_iter().next().unwrap_or_default();
    let host = if host.starts_with('/') || host.is_empty() {
        "localhost".to_string()
    } else {
        host
    };
    let port = p
        .get("port")
        .unwrap_or("5432")
        .split(',')
        .next()
        .unwrap_or("5432")
        .to_string();
    let want = [host.as_str(), port.as_str(), p.dbname(), p.user()];
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fields = split_pgpass(line);
        if fields.len() < 5 {
            continue;
        }
        if want.iter().zip(&fields).all(|(w, f)| f == "*" || f == w) {
            return Some(fields[4..].join(":"));
        }
    }
    None
}

pub(super) fn split_pgpass(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => fields.last_mut().unwrap().extend(chars.next()),
            ':' => fields.push(String::new()),
            c => fields.last_mut().unwrap().push(c),
        }
    }
    fields
}
