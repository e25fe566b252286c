//! `bench pool --compare-pgbench`: dbopt's select-only throughput as a ratio to
//! `pgbench -S -M prepared`, same server, same rows, same client counts, same run.
//!
//! Why: a load generator that is itself the bottleneck reports the client's ceiling as the
//! server's. pgbench is the reference every DBA trusts; being close to it (the goal is 0.9 or
//! better) shows dbopt's numbers are the server's, and the ratio is rerunnable by anyone.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::error::{BenchError, Result};
use super::histogram::median;
use super::pool::{self, RampOptions};
use super::workload::Workload;
use crate::pg::{self, ConnParams};

/// dbopt against `pgbench -S -M prepared` on the same server.
#[derive(Debug, Clone, Serialize)]
pub struct Compared {
    pub workload: &'static str,
    pub target: String,
    pub seconds_per_point: f64,
    pub rounds: u32,
    /// Client threads of both sides (dbopt's `--threads`, pgbench's `-j`).
    pub threads: usize,
    /// Whether dbopt's client threads ran bound to a CPU each (pgbench's are not).
    pub pinned: bool,
    pub rows: Vec<CompareRow>,
    pub min_ratio: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CompareRow {
    pub clients: usize,
    pub dbopt_tps: f64,
    pub pgbench_tps: f64,
    /// Median over the rounds of dbopt's throughput over pgbench's run next to it.
    pub ratio: f64,
    /// The lowest and highest of those per-round ratios, `[low, high]`: how much the machine
    /// moved the figure (the report's `min_ratio` is the lowest median over the points).
    pub ratio_range: (f64, f64),
    pub dbopt_p95_ms: f64,
    /// Executions the server counted (pg_stat_statements) per second of each run's wall time,
    /// warm-up and connection set-up included: a cross-check of both clients' own counts.
    pub server_dbopt_per_s: Option<f64>,
    pub server_pgbench_per_s: Option<f64>,
    /// Measurements per side (medians are shown).
    pub rounds: usize,
}

/// Executions of the select-only query so far, when pg_stat_statements is there.
async fn server_calls(c: &pg::Conn) -> Option<i64> {
    c.query_one(
        "SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements WHERE query LIKE 'SELECT abalance FROM pgbench_accounts WHERE aid = $1%'",
        &[],
    )
    .await
    .ok()
    .map(|r| r.get(0))
}

/// `pgbench` next to the server binaries, else on PATH.
pub fn find_pgbench() -> Result<PathBuf> {
    if let Ok(dir) = crate::pg::throwaway::find_bindir(None) {
        let p = dir.join("pgbench");
        if p.is_file() {
            return Ok(p);
        }
    }
    std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|d| d.join("pgbench"))
                .find(|p| p.is_file())
        })
        .ok_or_else(|| BenchError::Pgbench("no pgbench binary found".into()))
}

/// Run `pgbench -S -M prepared` and return its tps (without initial connection time).
pub fn run_pgbench(
    bin: &Path,
    p: &ConnParams,
    clients: usize,
    seconds: u64,
    threads: usize,
) -> Result<f64> {
    let mut cmd = Command::new(bin);
    cmd.args(["-n", "-S", "-M", "prepared"])
        .arg("-c")
        .arg(clients.to_string())
        .arg("-j")
        .arg(threads.clamp(1, clients.max(1)).to_string())
        .arg("-T")
        .arg(seconds.max(1).to_string())
        .arg("-h")
        .arg(
            p.hosts()
                .first()
                .cloned()
                .unwrap_or_else(|| "localhost".into()),
        )
        .arg("-p")
        .arg(p.ports().first().copied().unwrap_or(5432).to_string())
        .arg("-U")
        .arg(p.user())
        .arg(p.dbname());
    if let Some(pw) = p.password() {
        cmd.env("PGPASSWORD", pw);
    }
    for (key, var) in [("sslmode", "PGSSLMODE"), ("sslrootcert", "PGSSLROOTCERT")] {
        if let Some(v) = p.get(key) {
            cmd.env(var, v);
        }
    }
    let out = cmd
        .output()
        .map_err(|e| BenchError::Pgbench(format!("starting {}: {e}", bin.display())))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().last().unwrap_or("").to_string();
        return Err(BenchError::Pgbench(format!("exit {}: {last}", out.status)));
    }
    parse_tps(&text).ok_or_else(|| BenchError::Pgbench("no \"tps =\" line in its output".into()))
}

/// The tps of pgbench's summary.
pub fn parse_tps(text: &str) -> Option<f64> {
    text.lines()
        .filter(|l| l.trim_start().starts_with("tps = "))
        .find(|l| !l.contains("including"))
        .or_else(|| text.lines().find(|l| l.trim_start().starts_with("tps = ")))
        .and_then(|l| l.trim_start()["tps = ".len()..].split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// One measurement of one side.
struct Sample {
    tps: f64,
    server_per_s: Option<f64>,
    p95_ms: f64,
}

/// For each client count, `rounds` times: a dbopt step (pool size = clients, `threads` client
/// threads) and a pgbench run with as many threads (`-j`) of the same length, back to back in
/// alternating order so drift on a shared machine hits both alike. Each row holds the medians
/// over the rounds; its ratio is the median of the rounds' ratios.
pub async fn compare(
    p: &ConnParams,
    workload: Workload,
    clients: &[usize],
    rounds: u32,
    o: &RampOptions,
    on_row: &(dyn Fn(&CompareRow) + Sync),
) -> Result<(Vec<CompareRow>, bool)> {
    let bin = find_pgbench()?;
    let workload = Arc::new(workload);
    let seconds = o.duration.as_secs_f64().ceil().max(1.0) as u64;
    let opts = RampOptions {
        duration: Duration::from_secs(seconds),
        ..o.clone()
    };
    let workers = pool::Workers::start(o.threads, o.pin).map_err(pool::client_threads)?;
    let threads = o.threads;
    let observer = pg::connect(p, &pg::SessionOptions::default()).await?;
    let mut samples: Vec<(Vec<Sample>, Vec<Sample>)> =
        clients.iter().map(|_| Default::default()).collect();
    for round in 0..rounds.max(1) {
        for (k, &c) in clients.iter().enumerate() {
            for side in 0..2 {
                let dbopt_side = (side + round) % 2 == 0;
                let (before, t0) = (server_calls(&observer).await, std::time::Instant::now());
                let (tps, p95_ms) = if dbopt_side {
                    let pool = pool::pool(p, &o.session, c, &workers)?;
                    pool::fill(p, &pool, c).await?;
                    let rep = pool::step(&pool, &workload, c, &opts, None).await;
                    if rep.ok == 0 {
                        return Err(BenchError::AllFailed(rep.first_error.unwrap_or_default()));
                    }
                    (rep.throughput, rep.latency.p95_ms)
                } else {
                    let (bin2, p2) = (bin.clone(), p.clone());
                    let tps = tokio::task::spawn_blocking(move || {
                        run_pgbench(&bin2, &p2, c, seconds, threads)
                    })
                    .await
                    .map_err(|e| BenchError::Pgbench(e.to_string()))??;
                    (tps, 0.0)
                };
                let after = server_calls(&observer).await;
                let server_per_s = before
                    .zip(after)
                    .map(|(a, b)| (b - a) as f64 / t0.elapsed().as_secs_f64());
                let sample = Sample {
                    tps,
                    server_per_s,
                    p95_ms,
                };
                if dbopt_side {
                    samples[k].0.push(sample);
                } else {
                    samples[k].1.push(sample);
                }
            }
            if round + 1 == rounds.max(1) {
                on_row(&row(c, &samples[k]));
            }
        }
    }
    let rows = clients
        .iter()
        .zip(&samples)
        .map(|(&c, s)| row(c, s))
        .collect();
    Ok((rows, workers.pinned()))
}

fn row(clients: usize, (dbopt, pgbench): &(Vec<Sample>, Vec<Sample>)) -> CompareRow {
    let med = |v: &[Sample], f: fn(&Sample) -> f64| median(&v.iter().map(f).collect::<Vec<_>>());
    let server = |v: &[Sample]| {
        v.iter()
            .map(|s| s.server_per_s)
            .collect::<Option<Vec<f64>>>()
            .map(|x| median(&x))
    };
    // Each round's two runs are back to back: their ratio cancels the drift of a shared
    // machine that a ratio of the two medians (taken from different minutes) keeps.
    let ratios: Vec<f64> = dbopt
        .iter()
        .zip(pgbench)
        .map(|(d, b)| if b.tps > 0.0 { d.tps / b.tps } else { 0.0 })
        .collect();
    CompareRow {
        clients,
        dbopt_tps: med(dbopt, |s| s.tps),
        pgbench_tps: med(pgbench, |s| s.tps),
        ratio: median(&ratios),
        ratio_range: ratios
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &r| {
                (lo.min(r), hi.max(r))
            }),
        dbopt_p95_ms: med(dbopt, |s| s.p95_ms),
        server_dbopt_per_s: server(dbopt),
        server_pgbench_per_s: server(pgbench),
        rounds: dbopt.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::Sample;

    /// The machine slows down and speeds up between rounds; each round's pair sees the same
    /// machine, the medians of each side do not.
    #[test]
    fn ratio_pairs_the_runs_of_a_round() {
        let side = |tps: &[f64]| -> Vec<Sample> {
            tps.iter()
                .map(|&tps| Sample {
                    tps,
                    server_per_s: None,
                    p95_ms: 0.1,
                })
                .collect()
        };
        let r = super::row(
            8,
            &(side(&[60.0, 100.0, 160.0]), side(&[50.0, 200.0, 150.0])),
        );
        assert_eq!((r.dbopt_tps, r.pgbench_tps, r.rounds), (100.0, 150.0, 3));
        assert!((r.ratio - 160.0 / 150.0).abs() < 1e-9, "{r:?}");
        assert_eq!(r.ratio_range, (0.5, 1.2));
    }

    #[test]
    fn tps_line() {
        let out = "number of transactions actually processed: 52000\nlatency average = 0.038 ms\ninitial connection time = 2.1 ms\ntps = 26123.456789 (without initial connection time)\n";
        assert_eq!(super::parse_tps(out), Some(26123.456789));
        assert_eq!(super::parse_tps("nothing"), None);
    }
}
