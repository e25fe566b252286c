//! The architecture test: every `crate::` path (and every `super::` chain that leaves its
//! top-level module) under `src/` and `rules/` must point at the same layer or a lower one,
//! and no two top-level modules may depend on each other, directly or through others.
//!
//! Why it reads text instead of asking the compiler: the layering is a rule about the source
//! people edit, and a plain scan of the files (comments and string literals blanked first)
//! finds every path, including the ones in `#[cfg(test)]` code. The allowed order is the
//! table in `src/lib.rs`'s module doc, read from there, so the documentation and this test
//! cannot drift apart.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, highest first, as `(layer name, its top-level modules)`.
type Table = Vec<(String, Vec<String>)>;

/// One use of a top-level module by another: where, and which.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Use {
    from: String,
    to: String,
    at: String,
}

/// The layer table of the `//!` doc: rows `//! | layer | `a`, `b` | why |` after the header
/// row and the `|---|` separator.
fn read_table(lib_rs: &str) -> Table {
    let rows: Vec<&str> = lib_rs
        .lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .map(str::trim)
        .filter(|l| l.starts_with('|'))
        .collect();
    rows.iter()
        .skip(2)
        .map(|row| {
            let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
            let modules = cells[1]
                .split(',')
                .map(|m| m.trim().trim_matches('`').to_string())
                .filter(|m| !m.is_empty())
                .collect();
            (cells[0].to_string(), modules)
        })
        .collect()
}

/// `text` with comments, string literals and character literals replaced by spaces (line
/// breaks kept, so line numbers still count).
fn blank_literals(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank = |out: &mut String, s: &[char]| {
        for &ch in s {
            out.push(if ch == '\n' { '\n' } else { ' ' });
        }
    };
    while i < c.len() {
        let rest = &c[i..];
        let ident_before = i > 0 && (c[i - 1].is_alphanumeric() || c[i - 1] == '_');
        let end = if rest.starts_with(&['/', '/']) {
            rest.iter().position(|&ch| ch == '\n').unwrap_or(rest.len())
        } else if rest.starts_with(&['/', '*']) {
            block_comment_len(rest)
        } else if !ident_before && raw_string_len(rest).is_some() {
            raw_string_len(rest).unwrap_or(1)
        } else if rest[0] == '"' || (!ident_before && rest.starts_with(&['b', '"'])) {
            let open = usize::from(rest[0] == 'b') + 1;
            string_len(rest, open)
        } else if rest[0] == '\'' {
            char_literal_len(rest).unwrap_or(0)
        } else {
            0
        };
        if end == 0 {
            out.push(c[i]);
            i += 1;
        } else {
            blank(&mut out, &rest[..end]);
            i += end;
        }
    }
    out
}

fn block_comment_len(s: &[char]) -> usize {
    let (mut depth, mut i) = (0, 0);
    while i < s.len() {
        if s[i..].starts_with(&['/', '*']) {
            depth += 1;
            i += 2;
        } else if s[i..].starts_with(&['*', '/']) {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    s.len()
}

/// `r"..."`, `r#"..."#`, `br"..."`: its length, or `None` when `s` does not start one.
fn raw_string_len(s: &[char]) -> Option<usize> {
    let mut i = usize::from(s.first() == Some(&'b'));
    if s.get(i) != Some(&'r') {
        return None;
    }
    i += 1;
    let hashes = s[i..].iter().take_while(|&&ch| ch == '#').count();
    i += hashes;
    if s.get(i) != Some(&'"') {
        return None;
    }
    i += 1;
    while i < s.len() {
        if s[i] == '"'
            && s[i + 1..]
                .iter()
                .take(hashes)
                .filter(|&&h| h == '#')
                .count()
                == hashes
        {
            return Some(i + 1 + hashes);
        }
        i += 1;
    }
    Some(s.len())
}

fn string_len(s: &[char], open: usize) -> usize {
    let mut i = open;
    while i < s.len() {
        match s[i] {
            '\\' => i += 2,
            '"' => return i + 1,
            _ => i += 1,
        }
    }
    s.len()
}

/// `'x'`, `'\n'`, `'\u{1F600}'`: its length; `None` for a lifetime (`'a`).
fn char_literal_len(s: &[char]) -> Option<usize> {
    if s.get(1) == Some(&'\\') {
        let close = s.iter().skip(2).position(|&ch| ch == '\'')?;
        return Some(close + 3);
    }
    (s.get(2) == Some(&'\'')).then_some(3)
}

/// The words and punctuation of blanked source, each with its line.
fn tokens(code: &str) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    for (n, line) in code.lines().enumerate() {
        let mut word = String::new();
        for ch in line.chars().chain([' ']) {
            if ch.is_alphanumeric() || ch == '_' {
                word.push(ch);
                continue;
            }
            if !word.is_empty() {
                out.push((std::mem::take(&mut word), n + 1));
            }
            if !ch.is_whitespace() {
                out.push((ch.to_string(), n + 1));
            }
        }
    }
    out
}

/// The top-level modules a file refers to, with their lines. `module` is the file's module
/// path (`["workload", "source"]`); inline `mod x { .. }` blocks extend it, so `super::`
/// resolves as the compiler does and only chains that leave the top-level module count.
fn references(code: &str, module: &[String]) -> Vec<(String, usize)> {
    let t = tokens(&blank_literals(code));
    let is = |i: usize, s: &str| t.get(i).is_some_and(|(w, _)| w == s);
    let path_sep = |i: usize| is(i, ":") && is(i + 1, ":");
    let mut out = Vec::new();
    // The module path inside inline `mod`s: (name, brace depth at which it closes).
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0;
    let mut i = 0;
    while i < t.len() {
        let w = t[i].0.as_str();
        match w {
            "{" => depth += 1,
            "}" => {
                depth -= 1;
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
            }
            "mod" if is(i + 2, "{") => inline.push((t[i + 1].0.clone(), depth)),
            "crate" | "super" if path_sep(i + 1) && (w == "crate" || i < 2 || !path_sep(i - 2)) => {
                let mut ups = 0;
                let mut j = i;
                while is(j, "super") && path_sep(j + 1) {
                    ups += 1;
                    j += 3;
                }
                let here = module.len() + inline.len();
                if w == "crate" {
                    j = i + 3;
                } else if ups < here {
                    i = j;
                    continue;
                }
                for name in first_segments(&t, j) {
                    out.push((name, t[i].1));
                }
                i = j;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// The first segment of the path at token `j`, or of every path of a `{a, b::c}` group.
fn first_segments(t: &[(String, usize)], j: usize) -> Vec<String> {
    if t.get(j).map(|(w, _)| w.as_str()) != Some("{") {
        return t.get(j).map(|(w, _)| vec![w.clone()]).unwrap_or_default();
    }
    let mut names = Vec::new();
    let mut depth = 0;
    let mut item_start = true;
    for (w, _) in &t[j..] {
        match w.as_str() {
            "{" => {
                depth += 1;
                item_start = depth == 1;
            }
            "}" => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            "," => item_start = depth == 1,
            _ if item_start => {
                names.push(w.clone());
                item_start = false;
            }
            _ => {}
        }
    }
    names
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("readable source directory") {
            let p = e.expect("directory entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The module path of a file: `src/workload/source.rs` → `workload::source`,
/// `src/pg/mod.rs` → `pg`, `rules/x.rs` → `rules::registry::x` (how build.rs includes it).
fn module_of(rel: &Path) -> Vec<String> {
    let parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    match parts[0].as_str() {
        "rules" => vec!["rules".into(), "registry".into(), parts[1].clone()],
        _ => parts[1..]
            .iter()
            .filter(|p| p.as_str() != "mod")
            .cloned()
            .collect(),
    }
}

/// `#[macro_export]` macros by name, with the top-level module whose file defines them.
fn exported_macros(root: &Path, files: &[PathBuf]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for path in files {
        let rel = path.strip_prefix(root).expect("file under the root");
        let Some(top) = module_of(rel).first().cloned() else {
            continue;
        };
        let text = std::fs::read_to_string(path).expect("readable source file");
        for (at, _) in text.match_indices("#[macro_export]") {
            let rest = &text[at..];
            let Some(m) = rest.find("macro_rules!") else {
                continue;
            };
            let name: String = rest[m + "macro_rules!".len()..]
                .trim_start()
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            out.insert(name, top.clone());
        }
    }
    out
}

/// Every use of one top-level module by another, in the crate rooted at `root`.
fn crate_uses(root: &Path) -> Vec<Use> {
    let mut files = rust_files(&root.join("src"));
    files.extend(rust_files(&root.join("rules")));
    let macros = exported_macros(root, &files);
    let mut uses = BTreeSet::new();
    for path in files {
        let rel = path.strip_prefix(root).expect("file under the root");
        let module = module_of(rel);
        // lib.rs and main.rs are the crate roots: they declare the modules, they are no layer.
        let Some(top) = module.first() else { continue };
        if top == "lib" || top == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("readable source file");
        for (to, line) in references(&text, &module) {
            // `crate::name!`: a `#[macro_export]` macro lives at the root but belongs to the
            // module that defines it.
            let to = macros.get(&to).cloned().unwrap_or(to);
            if &to != top {
                uses.insert(Use {
                    from: top.clone(),
                    to,
                    at: format!("{}:{line}", rel.display()),
                });
            }
        }
    }
    uses.into_iter().collect()
}

/// What breaks the table: unknown modules, uses of a higher layer, and cycles.
fn violations(table: &Table, uses: &[Use]) -> Vec<String> {
    let rank: BTreeMap<&str, (usize, &str)> = table
        .iter()
        .enumerate()
        .flat_map(|(r, (layer, mods))| mods.iter().map(move |m| (m.as_str(), (r, layer.as_str()))))
        .collect();
    let mut out = Vec::new();
    for u in uses {
        match (rank.get(u.from.as_str()), rank.get(u.to.as_str())) {
            (Some(&(rf, lf)), Some(&(rt, lt))) if rt < rf => out.push(format!(
                "{}: {} (layer {lf}) uses {} of the higher layer {lt}",
                u.at, u.from, u.to
            )),
            (None, _) => out.push(format!("{}: module {} is in no layer", u.at, u.from)),
            (_, None) => out.push(format!(
                "{}: {} uses {}, which is in no layer",
                u.at, u.from, u.to
            )),
            _ => {}
        }
    }
    out.extend(cycles(uses));
    out
}

/// Every set of top-level modules that depend on each other (a strongly connected component
/// of more than one module), with one use of each of its edges.
fn cycles(uses: &[Use]) -> Vec<String> {
    let mut edges: BTreeMap<(&str, &str), &str> = BTreeMap::new();
    for u in uses {
        edges.entry((&u.from, &u.to)).or_insert(&u.at);
    }
    let reach = |a: &str, b: &str| {
        let mut seen = BTreeSet::from([a]);
        let mut todo = vec![a];
        while let Some(m) = todo.pop() {
            for &(_, to) in edges.keys().filter(|(f, _)| *f == m) {
                if to == b {
                    return true;
                }
                if seen.insert(to) {
                    todo.push(to);
                }
            }
        }
        false
    };
    let modules: BTreeSet<&str> = edges.keys().flat_map(|&(a, b)| [a, b]).collect();
    let mut done = BTreeSet::new();
    let mut out = Vec::new();
    for &m in &modules {
        if done.contains(m) {
            continue;
        }
        let scc: BTreeSet<&str> = modules
            .iter()
            .copied()
            .filter(|&o| o == m || (reach(m, o) && reach(o, m)))
            .collect();
        done.extend(scc.iter().copied());
        if scc.len() > 1 {
            let inside: Vec<String> = edges
                .iter()
                .filter(|((a, b), _)| scc.contains(a) && scc.contains(b))
                .map(|((a, b), at)| format!("{a} -> {b} ({at})"))
                .collect();
            out.push(format!(
                "cycle between {}: {}",
                scc.iter().copied().collect::<Vec<_>>().join(", "),
                inside.join("; ")
            ));
        }
    }
    out
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn dependencies_point_down_and_never_in_a_circle() {
    let lib = std::fs::read_to_string(root().join("src/lib.rs")).expect("src/lib.rs");
    let table = read_table(&lib);
    assert!(table.len() > 1, "no layer table in src/lib.rs's //! doc");
    let bad = violations(&table, &crate_uses(&root()));
    assert!(
        bad.is_empty(),
        "{} violation(s) of the layer table in src/lib.rs:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

#[test]
fn every_module_of_the_crate_is_in_exactly_one_layer() {
    let lib = std::fs::read_to_string(root().join("src/lib.rs")).expect("src/lib.rs");
    let mut listed: Vec<String> = read_table(&lib).into_iter().flat_map(|(_, m)| m).collect();
    listed.sort();
    let mut declared: Vec<String> = lib
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod "))
        .map(|m| m.trim_end_matches(';').to_string())
        .collect();
    declared.sort();
    assert_eq!(
        listed, declared,
        "the layer table and the `pub mod`s of src/lib.rs differ"
    );
}

#[test]
fn the_scanner_finds_paths_groups_and_super_chains_but_not_comments_or_strings() {
    let code = r##"
        use crate::{alpha, beta::{x, y}, gamma::Z as W};
        // crate::in_comment
        /* crate::in_block /* nested */ crate::still */
        const S: &str = "crate::in_string";
        const R: &str = r#"crate::in_raw "quoted""#;
        const C: char = '"';
        fn f<'a>(v: &'a str) -> u8 { crate::delta::run(); super::sibling::g(); 0 }
        mod tests {
            use super::*;
            use super::super::inside;
            use super::super::super::epsilon;
        }
    "##;
    let module = vec!["top".to_string(), "file".to_string()];
    let found: Vec<String> = references(code, &module)
        .into_iter()
        .map(|(m, _)| m)
        .collect();
    assert_eq!(found, ["alpha", "beta", "gamma", "delta", "epsilon"]);
    // One level up from a top-level file is the crate root.
    let found = references("fn f() { super::zeta::g() }", &["top".to_string()]);
    assert_eq!(found, [("zeta".to_string(), 1)]);
}

#[test]
fn a_use_of_a_higher_layer_and_a_cycle_are_both_reported() {
    let lib = "//! | layer | modules | why |\n//! |---|---|---|\n//! | top | `cli` | flags |\n\
               //! | low | `a`, `b` | data |\n";
    let table = read_table(lib);
    let u = |from: &str, to: &str| Use {
        from: from.into(),
        to: to.into(),
        at: format!("src/{from}.rs:1"),
    };
    assert!(violations(&table, &[u("cli", "a"), u("a", "b")]).is_empty());
    let bad = violations(
        &table,
        &[u("a", "cli"), u("a", "b"), u("b", "a"), u("c", "a")],
    );
    assert_eq!(
        bad,
        [
            "src/a.rs:1: a (layer low) uses cli of the higher layer top",
            "src/c.rs:1: module c is in no layer",
            "cycle between a, b: a -> b (src/a.rs:1); b -> a (src/b.rs:1)",
        ]
    );
}
