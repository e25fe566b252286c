//! ## What it does
//! Reviews the settings that most often need changing, each against evidence from this
//! server, and says nothing where there is none:
//! - `work_mem`: statements that wrote temp files (pg_stat_statements `temp_blks_written`)
//!   and the database's temp files (pg_stat_database `temp_files`, `temp_bytes`);
//! - `pg_stat_statements.max`: statements evicted to make room (`pg_stat_statements_info.dealloc`,
//!   PG 14+), which makes every workload report incomplete;
//! - `shared_buffers` and `effective_cache_size`: against the machine's memory, only when it is
//!   known (the server runs on this machine and /proc/meminfo says so, or `memory` is set
//!   below); never guessed;
//! - `random_page_cost`: on SSD, known only from /sys/block/*/queue/rotational of the machine the
//!   server runs on (as its kernel reports it; virtual disks often claim to rotate) or from
//!   `storage` below; when unknown, the finding says so;
//! - `max_connections`: against the client connections open now;
//! - `track_io_timing`: off means no I/O times in pg_stat_statements or EXPLAIN.
//!
//! ## Why is this bad?
//! A sort or hash that does not fit in `work_mem` writes to disk and runs many times slower;
//! evicted statements vanish from the workload dbopt advises on; a planner told the wrong cache
//! size or page costs picks the wrong plans; unused connection slots cost memory; without I/O
//! timing a slow read cannot be told from a slow CPU.
//!
//! ## Thresholds
//! `min_temp_bytes` (default 1 MiB) of temp files before work_mem is judged;
//! `shared_buffers_low`/`shared_buffers_high` (0.1/0.5 of memory; under the low share only
//! when the database misses the cache for `cache_miss` (0.05) of at least `min_blocks`
//! (10000) block reads); `connections_low` (0.1:
//! fewer open than that share of max_connections, with max_connections above 100);
//! `memory` ("16GB") and `storage` ("ssd" or "hdd") tell what dbopt cannot see.
//!
//! ## Fix
//! Each finding names the setting, its value, the evidence and the change; `ALTER SYSTEM SET`
//! then `SELECT pg_reload_conf()` (shared_buffers, max_connections and pg_stat_statements.max
//! need a restart). work_mem can be raised only for the role or session that spills.

use crate::health::server::Server;
use crate::rules::prelude::*;
use crate::units::bytes;

#[derive(Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub min_temp_bytes: i64,
    pub shared_buffers_low: f64,
    /// With shared_buffers under `shared_buffers_low`: the database's cache-miss share and
    /// block reads that make it a finding.
    pub cache_miss: f64,
    pub min_blocks: i64,
    pub shared_buffers_high: f64,
    pub connections_low: f64,
    /// The machine's memory when dbopt cannot read it ("16GB").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// "ssd" or "hdd" when dbopt cannot read it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage: Option<String>,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            min_temp_bytes: 1 << 20,
            shared_buffers_low: 0.1,
            cache_miss: 0.05,
            min_blocks: 10_000,
            shared_buffers_high: 0.5,
            connections_low: 0.1,
            memory: None,
            storage: None,
        }
    }
}

pub static RULE: Rule = Rule {
    id: "settings-review",
    scope: Scope::Health,
    summary: "a setting the server's own evidence says to change",
    check,
};

/// A finding about one setting.
fn finding(
    setting: &str,
    severity: Severity,
    message: String,
    evidence: Vec<String>,
    remedy: String,
) -> Finding {
    Finding {
        rule: RULE.id.into(),
        severity,
        object: setting.into(),
        message,
        evidence,
        remedy,
        fix: None,
    }
}

fn bad(message: String) -> RuleError {
    RuleError::BadParams {
        rule: RULE.id.into(),
        message,
    }
}

/// The machine's memory and how it is known: told, else read, else unknown.
fn memory(p: &Params, s: &Server) -> Result<Option<(i64, String)>, RuleError> {
    if let Some(text) = &p.memory {
        let b = crate::units::parse_size(text).map_err(|e| bad(format!("memory: {e}")))?;
        return Ok(Some((
            i64::try_from(b).unwrap_or(i64::MAX),
            "memory set in dbopt.toml".into(),
        )));
    }
    Ok(s.machine.memory_bytes.zip(s.machine.memory_source.clone()))
}

/// Whether the storage is solid-state and how it is known.
fn solid_state(p: &Params, s: &Server) -> Result<Option<(bool, String)>, RuleError> {
    match p.storage.as_deref() {
        Some("ssd") => Ok(Some((true, "storage set in dbopt.toml".into()))),
        Some("hdd") => Ok(Some((false, "storage set in dbopt.toml".into()))),
        Some(other) => Err(bad(format!(
            "storage must be \"ssd\" or \"hdd\", not {other:?}"
        ))),
        None => Ok(s
            .machine
            .rotational
            .map(|r| !r)
            .zip(s.machine.storage_source.clone())),
    }
}

fn work_mem(p: &Params, s: &Server, block: i64) -> Option<Finding> {
    let d = &s.database;
    let spilled: Vec<_> = s.statements.spills.iter().filter(|x| x.calls > 0).collect();
    if d.temp_bytes < p.min_temp_bytes && spilled.is_empty() {
        return None;
    }
    let per_call = |x: &crate::health::server::Spill| x.temp_blks_written * block / x.calls;
    let mut evidence = vec![
        format!("work_mem = {}", bytes(s.settings.work_mem_bytes)),
        format!(
            "pg_stat_database: {} temp files, {} written in this database",
            d.temp_files,
            bytes(d.temp_bytes)
        ),
    ];
    evidence.extend(spilled.iter().take(3).map(|x| {
        format!(
            "{} per call over {} calls wrote temp files: {}",
            bytes(per_call(x)),
            x.calls,
            crate::sql::one_line(&x.query, 80)
        )
    }));
    let largest = spilled.iter().map(|x| per_call(x)).max();
    let (severity, remedy) = match largest {
        Some(b) => (
            Severity::Warning,
            format!(
                "raise work_mem above {} (the largest spill per call; in memory a sort needs more than on disk) for the role or session running these, or globally if max_connections × work_mem fits in memory",
                bytes(b)
            ),
        ),
        None => (
            Severity::Info,
            "the temp files come from statements pg_stat_statements does not show (maintenance, CREATE INDEX, or it is not installed); check log_temp_files".into(),
        ),
    };
    Some(finding(
        "work_mem",
        severity,
        format!(
            "sorts and hashes spill to disk with work_mem = {}",
            bytes(s.settings.work_mem_bytes)
        ),
        evidence,
        remedy,
    ))
}

fn statements_max(s: &Server) -> Option<Finding> {
    let max = s.settings.pg_stat_statements_max?;
    let st = &s.statements;
    let dealloc = st.dealloc.filter(|d| *d > 0)?;
    Some(finding(
        "pg_stat_statements.max",
        Severity::Warning,
        format!("pg_stat_statements evicted statements {dealloc} times: its max of {max} is too small"),
        vec![
            format!("pg_stat_statements_info.dealloc = {dealloc}"),
            format!("pg_stat_statements.max = {max}, {} entries kept now", st.entries),
        ],
        "raise pg_stat_statements.max above the number of distinct statements the workload runs (restart needed); until then the workload dbopt reads is incomplete".into(),
    ))
}

fn memory_settings(p: &Params, s: &Server, mem: Option<(i64, String)>) -> Vec<Finding> {
    let Some((mem, how)) = mem else {
        return vec![];
    };
    let st = &s.settings;
    let mut out = Vec::new();
    #[allow(clippy::cast_precision_loss)]
    let share = |b: i64| b as f64 / mem.max(1) as f64;
    let sb = share(st.shared_buffers_bytes);
    let known = format!("machine memory {} ({how})", bytes(mem));
    let d = &s.database;
    let blocks = d.blks_hit + d.blks_read;
    #[allow(clippy::cast_precision_loss)]
    let miss = d.blks_read as f64 / blocks.max(1) as f64;
    let hit = format!(
        "database cache: {} hits, {} misses ({:.1} % missed)",
        d.blks_hit,
        d.blks_read,
        miss * 100.0
    );
    // Small shared_buffers is a finding only when the database misses the cache for it.
    let starved = sb < p.shared_buffers_low && blocks >= p.min_blocks && miss >= p.cache_miss;
    if starved || sb > p.shared_buffers_high {
        let (severity, what) = if sb > p.shared_buffers_high {
            (
                Severity::Warning,
                "and leaves little memory for work_mem, connections and the OS cache",
            )
        } else {
            (
                Severity::Info,
                "and the database often misses it, reading from the slower OS cache or disk",
            )
        };
        out.push(finding(
            "shared_buffers",
            severity,
            format!("shared_buffers = {} is {:.1} % of the machine's memory {what}", bytes(st.shared_buffers_bytes), sb * 100.0),
            vec![known.clone(), hit],
            "about a quarter of memory is where most servers start; weigh it against the cache hit ratio (restart needed)".into(),
        ));
    }
    let ecs = share(st.effective_cache_size_bytes);
    if ecs > 1.0 {
        out.push(finding(
            "effective_cache_size",
            Severity::Warning,
            format!("effective_cache_size = {} is more than the machine's memory: the planner counts on a cache that does not exist", bytes(st.effective_cache_size_bytes)),
            vec![known],
            "set it to the memory left to shared_buffers and the OS cache, at most the machine's memory".into(),
        ));
    } else if ecs < 0.25 {
        out.push(finding(
            "effective_cache_size",
            Severity::Info,
            format!("effective_cache_size = {} is {:.0} % of the machine's memory: the planner prices index scans as if little were cached", bytes(st.effective_cache_size_bytes), ecs * 100.0),
            vec![known],
            "set it to shared_buffers plus the OS cache the server may use (often half to three quarters of memory)".into(),
        ));
    }
    out
}

fn random_page_cost(s: &Server, ssd: Option<(bool, String)>) -> Option<Finding> {
    let rpc = s.settings.random_page_cost;
    match ssd {
        Some((true, how)) if rpc >= 2.0 => Some(finding(
            "random_page_cost",
            Severity::Info,
            format!("random_page_cost = {rpc} prices random reads as on spinning disks, but the storage is solid-state"),
            vec![format!("solid-state storage ({how})")],
            "set random_page_cost to about 1.1 on SSD so the planner uses indexes where they pay".into(),
        )),
        None if rpc >= 4.0 => Some(finding(
            "random_page_cost",
            Severity::Info,
            format!("random_page_cost = {rpc} assumes spinning disks; whether this server's storage is solid-state is unknown"),
            vec!["the server is not on this machine, or its disks disagree".into()],
            "set storage = \"ssd\" or \"hdd\" under [rules.settings-review] in dbopt.toml to have it judged".into(),
        )),
        _ => None,
    }
}

fn connections(p: &Params, s: &Server) -> Option<Finding> {
    let max = s.settings.max_connections;
    let peak = s
        .connections_earlier
        .iter()
        .copied()
        .fold(s.connections_now, i64::max);
    #[allow(clippy::cast_precision_loss)]
    let used = peak as f64 / max.max(1) as f64;
    let seen = if s.connections_earlier.is_empty() {
        "seen once now: snapshots over a day (`check --baseline`) show the peak".to_string()
    } else {
        format!(
            "the peak of {} readings (now {}, earlier {:?})",
            s.connections_earlier.len() + 1,
            s.connections_now,
            s.connections_earlier
        )
    };
    let message = if s.connections_earlier.is_empty() {
        format!(
            "max_connections = {max}, client connections open now: {}",
            s.connections_now
        )
    } else {
        format!("max_connections = {max}, client connections at most {peak} over the readings")
    };
    (max > 100 && used < p.connections_low).then(|| finding(
        "max_connections",
        Severity::Info,
        message,
        vec![format!("{peak} of {max} connection slots in use ({:.0} %), {seen}", used * 100.0)],
        "lower max_connections toward the observed peak plus headroom (restart needed), or keep it and pool; connection-utilization watches the high side".into(),
    ))
}

fn io_timing(s: &Server) -> Option<Finding> {
    (!s.settings.track_io_timing).then(|| finding(
        "track_io_timing",
        Severity::Info,
        "track_io_timing is off: statements' time reading and writing blocks is not measured".into(),
        vec!["track_io_timing = off; blk_read_time/blk_write_time in pg_stat_statements stay 0".into()],
        "measure the clock's cost with pg_test_timing; with a fast clock (tsc), turn it on (reload)".into(),
    ))
}

fn check(ctx: &Ctx<'_>, cfg: &RuleConfig) -> Result<Vec<Finding>, RuleError> {
    let p: Params = cfg.params()?;
    let Some(h) = ctx.health else {
        return Ok(vec![]);
    };
    let s = &h.server;
    if !s.read {
        return Ok(vec![]);
    }
    let block = ctx.catalog.map_or(8192, |c| c.settings.block_size);
    let mut out: Vec<Finding> = work_mem(&p, s, block).into_iter().collect();
    out.extend(statements_max(s));
    out.extend(memory_settings(&p, s, memory(&p, s)?));
    out.extend(random_page_cost(s, solid_state(&p, s)?));
    out.extend(connections(&p, s));
    out.extend(io_timing(s));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::server::Spill;
    use crate::health::Health;
    use crate::rules::{check_with_defaults, Config};

    fn run(h: &Health) -> Vec<Finding> {
        check_with_defaults(
            &RULE,
            &Ctx {
                health: Some(h),
                ..Default::default()
            },
        )
    }

    fn objects(f: &[Finding]) -> Vec<(&str, Severity)> {
        f.iter().map(|f| (f.object.as_str(), f.severity)).collect()
    }

    fn healthy() -> Health {
        let mut h = Health::default();
        let s = &mut h.server;
        s.read = true;
        s.settings.track_io_timing = true;
        s.settings.random_page_cost = 1.1;
        s.connections_now = 20;
        h
    }

    #[test]
    fn nothing_without_evidence() {
        assert!(run(&healthy()).is_empty(), "{:?}", run(&healthy()));
    }

    #[test]
    fn each_setting_with_its_evidence() {
        let mut h = healthy();
        let s = &mut h.server;
        s.settings.work_mem_bytes = 64 << 10;
        s.database.temp_files = 3;
        s.database.temp_bytes = 30 << 20;
        s.statements.spills.push(Spill {
            query: "SELECT * FROM t ORDER BY x".into(),
            calls: 2,
            temp_blks_written: 2560,
        });
        s.settings.pg_stat_statements_max = Some(100);
        s.statements.dealloc = Some(7);
        s.machine.memory_bytes = Some(8 << 30);
        s.machine.memory_source = Some("/proc/meminfo".into());
        s.database.blks_hit = 60_000;
        s.database.blks_read = 40_000;
        s.settings.effective_cache_size_bytes = 16 << 30;
        s.machine.rotational = Some(false);
        s.machine.storage_source = Some("/sys/block".into());
        s.settings.random_page_cost = 4.0;
        s.settings.max_connections = 1000;
        s.settings.track_io_timing = false;
        let f = run(&h);
        assert_eq!(
            objects(&f),
            vec![
                ("work_mem", Severity::Warning),
                ("pg_stat_statements.max", Severity::Warning),
                ("shared_buffers", Severity::Info),
                ("effective_cache_size", Severity::Warning),
                ("random_page_cost", Severity::Info),
                ("max_connections", Severity::Info),
                ("track_io_timing", Severity::Info),
            ]
        );
        assert!(f[0].remedy.contains("above 10.0 MB"), "{}", f[0].remedy);
        assert!(f[1].evidence[0].contains("dealloc = 7"));
        assert!(
            f[2].evidence[0].contains("8.0 GB (/proc/meminfo)"),
            "{:?}",
            f[2].evidence
        );
        assert!(
            f[2].evidence[1].contains("40.0 % missed"),
            "{:?}",
            f[2].evidence
        );
        // The same small shared_buffers with a database that finds its blocks: no finding.
        h.server.database.blks_read = 100;
        assert!(run(&h).iter().all(|f| f.object != "shared_buffers"));
    }

    #[test]
    fn max_connections_is_judged_on_the_peak_of_the_readings() {
        let mut h = healthy();
        h.server.settings.max_connections = 200;
        h.server.connections_now = 4;
        let once = run(&h);
        assert!(once[0].evidence[0].contains("seen once now"), "{once:?}");
        // An earlier reading (check --baseline) with 5 open: still far below, now from two.
        h.server.connections_earlier = vec![5];
        let two = run(&h);
        assert!(
            two[0].evidence[0].starts_with("5 of 200") && two[0].evidence[0].contains("2 readings"),
            "{two:?}"
        );
        // One with 60 open: the peak uses 30 % of the slots, no suggestion.
        h.server.connections_earlier = vec![60];
        assert!(run(&h).iter().all(|f| f.object != "max_connections"));
    }

    #[test]
    fn memory_and_storage_when_told_and_unknown() {
        let mut h = healthy();
        h.server.settings.random_page_cost = 4.0;
        let unknown = run(&h);
        assert_eq!(
            objects(&unknown),
            vec![("random_page_cost", Severity::Info)]
        );
        assert!(unknown[0].message.contains("unknown"));
        let told = Config::parse(
            "[rules.settings-review]\nstorage = \"hdd\"\nmemory = \"1GB\"\n",
            "t",
        )
        .unwrap();
        let f = (RULE.check)(
            &Ctx {
                health: Some(&h),
                ..Default::default()
            },
            &told.for_rule(RULE.id),
        )
        .unwrap();
        // 128 MB of 1 GB shared_buffers is 12.5 %: fine; 4 GB effective_cache_size is not.
        assert_eq!(
            objects(&f),
            vec![("effective_cache_size", Severity::Warning)]
        );
        assert!(f[0].evidence[0].contains("memory set in dbopt.toml"));
        let wrong = Config::parse("[rules.settings-review]\nstorage = \"tape\"\n", "t").unwrap();
        assert!((RULE.check)(
            &Ctx {
                health: Some(&h),
                ..Default::default()
            },
            &wrong.for_rule(RULE.id),
        )
        .is_err());
    }
}
