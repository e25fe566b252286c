//! Rails: `db/migrate`-style `<timestamp>_<name>.rb`, one per index. Active Record sends each
//! call on its own, so `disable_ddl_transaction!` plus `add_index ... algorithm: :concurrently`
//! works with timeouts set just before; steps Rails has no helper for (`ON ONLY`, `ATTACH
//! PARTITION`, dropping a partitioned index) go through `execute` with dbopt's SQL.

use super::header::{block, Direction};
use super::plan::{StepKind, Unit};
use super::writer::{EmitContext, FileOut, Version, LOCK_TIMEOUT};
use crate::sql::ddl::split_table;

/// A Ruby double-quoted string literal (no interpolation).
fn rb(s: &str) -> String {
    let mut out = String::from("\"");
    for ch in s.chars() {
        match ch {
            '"' | '\\' | '#' => {
                out.push('\\');
                out.push(ch);
            }
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn camel(slug: &str) -> String {
    slug.split('_')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The table argument Rails quotes itself: `schema.table` as given.
fn table_arg(table: &str) -> String {
    let (s, t) = split_table(table);
    rb(&format!("{s}.{t}"))
}

fn add_index(unit: &Unit, table: &str, name: &str) -> String {
    let rec = unit.rec;
    // A String column list is used verbatim by Rails, so quoting and directions are dbopt's.
    let cols: Vec<String> = rec.columns.iter().map(|c| c.sql()).collect();
    let mut s = format!(
        "    add_index {}, {}, name: {}, algorithm: :concurrently, if_not_exists: true",
        table_arg(table),
        rb(&cols.join(", ")),
        rb(name)
    );
    if rec.method != "btree" {
        s.push_str(&format!(", using: :{}", rec.method));
    }
    if !rec.include.is_empty() {
        let inc: Vec<String> = rec.include.iter().map(|c| rb(c)).collect();
        s.push_str(&format!(", include: [{}]", inc.join(", ")));
    }
    if let Some(p) = &rec.predicate {
        s.push_str(&format!(", where: {}", rb(p)));
    }
    s
}

pub fn files(ctx: &EmitContext, unit: &Unit, v: Version) -> Vec<FileOut> {
    let mut up = vec![
        format!("    execute \"SET lock_timeout = '{LOCK_TIMEOUT}'\""),
        "    execute \"SET statement_timeout = 0\"".to_string(),
    ];
    for step in &unit.steps {
        match step.kind {
            StepKind::Build | StepKind::Partition => {
                up.push(add_index(unit, &step.table, &step.name));
            }
            StepKind::Parent | StepKind::Attach => {
                up.extend(step.up.iter().map(|s| format!("    execute {}", rb(s))));
            }
        }
    }
    let mut down: Vec<String> = Vec::new();
    for step in unit.steps.iter().rev() {
        for d in &step.down {
            let line = match step.kind {
                StepKind::Build | StepKind::Partition => format!(
                    "    remove_index {}, name: {}, algorithm: :concurrently, if_exists: true",
                    table_arg(&step.table),
                    rb(&step.name)
                ),
                StepKind::Parent | StepKind::Attach => format!("    execute {}", rb(d)),
            };
            if !down.contains(&line) {
                down.push(line);
            }
        }
    }
    let timeouts = format!(
        "Timeouts: Active Record sends each statement on its own, so `up` sets lock_timeout to\n\
         {LOCK_TIMEOUT} and statement_timeout to 0 for this migration and resets them afterwards."
    );
    let text = format!(
        "{}class {} < ActiveRecord::Migration[7.1]\n  disable_ddl_transaction!\n\n  def up\n{}\n  ensure\n    execute \"RESET lock_timeout\"\n    execute \"RESET statement_timeout\"\n  end\n\n  def down\n{}\n  end\nend\n",
        block(ctx, unit, Direction::Both, &timeouts, "#"),
        camel(&unit.slug),
        up.join("\n"),
        down.join("\n"),
    );
    vec![FileOut {
        rel: format!("{}_{}.rb", v.digits(), unit.slug).into(),
        text,
    }]
}
