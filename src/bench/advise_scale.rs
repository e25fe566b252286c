//! `dbopt bench advise-scale`: how `dbopt advise`'s time and memory grow with the workload.
//!
//! A synthetic schema (by default 500 tables of 20,000 rows, five integer columns of different
//! selectivity and a text column) and workloads of distinct statements over it: equality
//! lookups and equality + range filters, spread over the tables, 20 shapes a table.
//!
//! Why a child `dbopt advise --queries FILE` per size: the figure that matters is what a user's
//! run costs end to end (reading and parsing the file, candidates, what-if calls, the report),
//! and peak memory belongs to a whole process. The peak is the children's peak RSS
//! (`getrusage(RUSAGE_CHILDREN)`) when this run raised it (sizes run in ascending order, so
//! the large ones always do); a run below an earlier child's peak (the throwaway server's
//! initdb) reports its own high-water mark (`VmHWM`), read every 10 ms while it runs.

use std::io::Write;
use std::process::Command;
use std::time::Instant;

use serde::Serialize;

use super::error::{BenchError, Result};
use crate::pg::{self, ConnParams, PgError, SessionOptions};

/// The schema the synthetic tables live in.
pub const SCHEMA: &str = "dbopt_scale";

/// Statement shapes per table: 5 equality lookups and 15 equality + range filters.
pub const SHAPES: usize = 20;

const COLUMNS: [&str; 5] = ["c1", "c2", "c3", "c4", "id"];

#[derive(Debug, Clone)]
pub struct ScaleOptions {
    pub tables: usize,
    pub rows: u64,
    /// Workload sizes (distinct statements), run in ascending order.
    pub statements: Vec<usize>,
    /// `--costing` of the advise runs (auto, hypopg, model).
    pub costing: String,
    pub jobs: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScaleRun {
    pub statements: usize,
    pub tables_touched: usize,
    pub seconds: f64,
    /// Peak resident memory of the advise process.
    pub peak_mb: f64,
    pub costing: String,
    pub whatif_calls: u64,
    pub indexes: usize,
    /// Workload cost with the recommended set, % of the cost before.
    pub cost_pct: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScaleReport {
    pub tables: usize,
    pub rows_per_table: u64,
    /// None when an earlier run left the same schema in place (its statistics are kept).
    pub load_seconds: Option<f64>,
    pub runs: Vec<ScaleRun>,
}

/// Statement `k` of every workload: table `k % tables`, and a shape that differs for each
/// of the first `SHAPES` statements on one table, so the first `tables * SHAPES` are distinct.
pub fn statement(k: usize, tables: usize) -> String {
    let t = k % tables;
    let shape = (k / tables + t) % SHAPES;
    let v = k * 37 % 90 + 1;
    let w = k * 11 % 9 + 1;
    if shape < COLUMNS.len() {
        format!(
            "SELECT * FROM {SCHEMA}.s{t} WHERE {} = {v};",
            COLUMNS[shape]
        )
    } else {
        let pairs: Vec<(&str, &str)> = COLUMNS
            .iter()
            .flat_map(|a| {
                COLUMNS
                    .iter()
                    .filter(move |b| *b != a)
                    .map(move |b| (*a, *b))
            })
            .collect();
        let (a, b) = pairs[shape - COLUMNS.len()];
        format!("SELECT id, c5 FROM {SCHEMA}.s{t} WHERE {a} = {v} AND {b} > {w};")
    }
}

/// Create the schema's tables and ANALYZE them, unless an earlier run left the same ones.
pub async fn load(
    p: &ConnParams,
    tables: usize,
    rows: u64,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Option<f64>> {
    let c = pg::connect(p, &SessionOptions::unrestricted()).await?;
    let marker = format!("dbopt advise-scale: {tables} tables of {rows} rows");
    let present: Option<String> = c
        .query_opt(
            "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = $1",
            &[&SCHEMA],
        )
        .await
        .map_err(|e| PgError::query("looking for the scale schema", e))?
        .and_then(|r| r.get(0));
    if present.as_deref() == Some(marker.as_str()) {
        return Ok(None);
    }
    let t0 = Instant::now();
    let schema = crate::sql::quote_ident(SCHEMA);
    c.batch_execute(&format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};"
    ))
    .await
    .map_err(|e| PgError::query("creating the scale schema", e))?;
    for chunk in (0..tables).collect::<Vec<_>>().chunks(25) {
        progress(&format!(
            "creating tables {}..{} of {tables}",
            chunk[0],
            chunk[chunk.len() - 1]
        ));
        let sql: String = chunk
            .iter()
            .map(|t| {
                format!(
                    "CREATE TABLE {schema}.s{t} AS SELECT g AS id, g % 1000 AS c1, g % 97 AS c2, g % 13 AS c3, g % 5 AS c4, md5(g::text) AS c5 FROM generate_series(1, {rows}) g; ANALYZE {schema}.s{t};"
                )
            })
            .collect();
        c.batch_execute(&sql)
            .await
            .map_err(|e| PgError::query("creating the scale tables", e))?;
    }
    c.batch_execute(&format!(
        "COMMENT ON SCHEMA {schema} IS {}",
        crate::sql::quote_literal(&marker)
    ))
    .await
    .map_err(|e| PgError::query("marking the scale schema", e))?;
    Ok(Some(t0.elapsed().as_secs_f64()))
}

/// Peak RSS of the largest child process so far, in MB.
fn children_peak_mb() -> f64 {
    nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .map_or(0.0, |u| u.max_rss() as f64 / 1024.0)
}

/// A process's high-water mark of resident memory so far, in MB.
fn vm_hwm_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

/// Run `cmd` to its end: its output, wall seconds and peak resident memory (MB).
fn measure(mut cmd: Command) -> std::io::Result<(std::process::Output, f64, f64)> {
    use std::io::Read;
    use std::process::Stdio;
    let before = children_peak_mb();
    let t0 = Instant::now();
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    let drain = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let mut hwm: f64 = 0.0;
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        hwm = hwm.max(vm_hwm_mb(child.id()).unwrap_or(0.0));
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    let seconds = t0.elapsed().as_secs_f64();
    let after = children_peak_mb();
    let output = std::process::Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    };
    Ok((output, seconds, if after > before { after } else { hwm }))
}

/// Load (or reuse) the schema, then run `dbopt advise` on each workload size.
pub async fn run(
    p: &ConnParams,
    o: &ScaleOptions,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<ScaleReport> {
    if o.tables == 0 || o.rows == 0 || o.statements.contains(&0) {
        return Err(BenchError::Options(
            "--tables, --rows and --statements must be positive".into(),
        ));
    }
    let max = o.tables * SHAPES;
    if let Some(n) = o.statements.iter().find(|n| **n > max) {
        return Err(BenchError::Options(format!(
            "{n} statements are more than {max} distinct ones ({} tables x {SHAPES} shapes); add --tables",
            o.tables
        )));
    }
    progress("loading the tables");
    let load_seconds = load(p, o.tables, o.rows, progress).await?;
    let exe = std::env::current_exe()
        .map_err(|e| BenchError::Options(format!("finding dbopt's own executable: {e}")))?;
    let dir = tempfile::tempdir().map_err(|e| BenchError::WriteFile {
        path: std::env::temp_dir(),
        reason: e.to_string(),
    })?;
    let mut sizes = o.statements.clone();
    sizes.sort_unstable();
    sizes.dedup();
    let mut runs = Vec::new();
    for n in sizes {
        progress(&format!("advising on {n} statements"));
        let path = dir.path().join(format!("workload-{n}.sql"));
        let write = |path: &std::path::Path| -> std::io::Result<()> {
            let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
            for k in 0..n {
                writeln!(f, "{}", statement(k, o.tables))?;
            }
            f.flush()
        };
        write(&path).map_err(|e| BenchError::WriteFile {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        // The connection string (with its password) goes by environment, not argv.
        let mut cmd = Command::new(&exe);
        cmd.args(["advise", "--format", "json", "--costing", &o.costing])
            .arg("--jobs")
            .arg(o.jobs.to_string())
            .arg("--queries")
            .arg(&path)
            .env("DATABASE_URL", p.url_with_password());
        let (out, seconds, peak_mb) = tokio::task::spawn_blocking(move || measure(cmd))
            .await
            .map_err(|e| BenchError::Options(format!("BUG: measuring task: {e}")))?
            .map_err(|e| BenchError::Options(format!("running {}: {e}", exe.display())))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            return Err(BenchError::Options(format!(
                "dbopt advise on {n} statements failed: {}",
                err.lines().last().unwrap_or("no message")
            )));
        }
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| {
            BenchError::Options(format!("dbopt advise printed no JSON report: {e}"))
        })?;
        let before = doc["workload"]["cost_before"].as_f64().unwrap_or(0.0);
        let after = doc["workload"]["cost_after"].as_f64().unwrap_or(0.0);
        runs.push(ScaleRun {
            statements: n,
            tables_touched: n.min(o.tables),
            seconds,
            peak_mb,
            costing: doc["costing"].as_str().unwrap_or("").to_string(),
            whatif_calls: doc["whatif_calls"].as_u64().unwrap_or(0),
            indexes: doc["recommendations"].as_array().map_or(0, Vec::len),
            cost_pct: if before > 0.0 {
                100.0 * after / before
            } else {
                100.0
            },
        });
    }
    Ok(ScaleReport {
        tables: o.tables,
        rows_per_table: o.rows,
        load_seconds,
        runs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_tables_times_shapes_statements_are_distinct() {
        let all: std::collections::BTreeSet<String> = (0..3 * SHAPES)
            .map(|k| {
                // Constants aside: what advise sees after normalization.
                let s = statement(k, 3);
                s.split(" = ").next().unwrap().to_string()
                    + s.split(" AND ")
                        .nth(1)
                        .map_or("", |r| r.split(" > ").next().unwrap())
            })
            .collect();
        assert_eq!(all.len(), 3 * SHAPES);
        assert_eq!(
            statement(0, 3),
            "SELECT * FROM dbopt_scale.s0 WHERE c1 = 1;"
        );
        assert!(statement(11, 3).starts_with("SELECT id, c5 FROM dbopt_scale.s2 WHERE c1 = "));
    }
}
