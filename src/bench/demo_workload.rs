//! The demo application's workload, replayed so `pg_stat_statements` holds something real.
//!
//! It is the traffic of a lead platform's web app: lead lists per status ordered by recency,
//! lookups by zip code and insurance type, agent matching, per-agent assignment lists, the
//! event history of one entity, dashboards, a trickle of writes, and one classic N+1 loop (load
//! 20 leads, then their assignments one query per lead). Every statement is sent as a prepared
//! statement with parameters, as an ORM would, so pg_stat_statements groups them by shape.

use std::time::Instant;

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use rand::distributions::Distribution;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::demo::{sizes, zip_code, zipf, Pick, CITIES, INSURANCE_TYPES, LEAD_STATUSES, STATES};
use crate::pg::{self, ConnParams, PgError, SessionOptions};

/// The statements of the demo application, by name. Kept public so tests and `advise
/// --verify` can refer to them.
pub const LEAD_LIST: &str = "SELECT id, first_name, last_name, email, status, created_at FROM leads WHERE status = $1 ORDER BY created_at DESC LIMIT 50";
pub const LEADS_BY_ZIP: &str = "SELECT id, first_name, last_name, phone FROM leads WHERE zip_code = $1 AND insurance_type = $2";
pub const AGENT_MATCH: &str = "SELECT id, name, rating, current_lead_count FROM agents WHERE state = $1 AND city = $2 AND is_active = true ORDER BY rating DESC LIMIT 10";
pub const AGENT_ASSIGNMENTS: &str = "SELECT id, lead_id, status, assigned_at FROM lead_assignments WHERE agent_id = $1 AND status = $2 ORDER BY assigned_at DESC LIMIT 50";
pub const ENTITY_HISTORY: &str = "SELECT id, type, source, payload, \"timestamp\" FROM events WHERE entity_type = $1 AND entity_id = $2 ORDER BY \"timestamp\" DESC LIMIT 100";
pub const NPLUS1_PARENT: &str = "SELECT id, first_name, last_name, status FROM leads WHERE state = $1 AND status = $2 ORDER BY created_at DESC LIMIT 20";
pub const NPLUS1_CHILD: &str =
    "SELECT id, agent_id, status, assigned_at FROM lead_assignments WHERE lead_id = $1";
pub const DASH_STATUS: &str =
    "SELECT status, count(*) FROM leads WHERE created_at >= $1 GROUP BY status";
pub const DASH_CARRIERS: &str = "SELECT c.name, count(*) AS assignments FROM lead_assignments la JOIN agents a ON a.id = la.agent_id JOIN carriers c ON c.id = a.carrier_id WHERE la.assigned_at >= $1 GROUP BY c.name ORDER BY assignments DESC LIMIT 10";
pub const DASH_QUALITY: &str =
    "SELECT insurance_type, avg(quality_score) FROM leads WHERE state = $1 GROUP BY insurance_type";
pub const UPDATE_LEAD: &str = "UPDATE leads SET status = $1, updated_at = now() WHERE id = $2";
pub const BUMP_AGENT: &str =
    "UPDATE agents SET current_lead_count = current_lead_count + 1 WHERE id = $1";
pub const INSERT_EVENT: &str = "INSERT INTO events (entity_type, entity_id, type, source, payload, \"timestamp\") VALUES ('lead', $1, 'viewed', 'web', '{}', now())";

#[derive(Debug, Clone)]
pub struct WorkloadOptions {
    /// Rounds of the application mix; each round is about 60 statements.
    pub rounds: u32,
    /// Concurrent sessions.
    pub sessions: u32,
    pub seed: u64,
    /// The scale the database was loaded with (to pick ids that exist).
    pub scale: f64,
    pub anchor: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WorkloadStats {
    pub statements: u64,
    pub seconds: f64,
    /// Server execution time of the workload's statements (pg_stat_statements).
    pub exec_ms: f64,
}

/// Reset pg_stat_statements, then replay the mix.
pub async fn run(
    p: &ConnParams,
    opts: &WorkloadOptions,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> pg::Result<WorkloadStats> {
    let t0 = Instant::now();
    let write = SessionOptions::unrestricted();
    let c = pg::connect(p, &write).await?;
    pg::pgss::reset_database(&c).await?;
    let done = std::sync::atomic::AtomicU64::new(0);
    let total = u64::from(opts.rounds);
    let session = |k: u32| {
        let done = &done;
        let write = &write;
        async move {
            let c = pg::connect(p, write).await?;
            let mut n = 0u64;
            let mut round = k;
            while round < opts.rounds {
                n += one_round(&c, opts, u64::from(round)).await?;
                round += opts.sessions;
                progress(
                    done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1,
                    total,
                );
            }
            Ok::<u64, PgError>(n)
        }
    };
    let results = futures_util::future::join_all((0..opts.sessions.max(1)).map(session)).await;
    let statements = results
        .into_iter()
        .collect::<pg::Result<Vec<u64>>>()?
        .into_iter()
        .sum();
    let seconds = t0.elapsed().as_secs_f64();
    let exec_ms: f64 = c
        .query_one(
            "SELECT coalesce(sum(total_exec_time), 0)::float8 FROM pg_stat_statements \
             WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
             AND query NOT LIKE '%pg_stat_statements%'",
            &[],
        )
        .await
        .map_err(|e| PgError::query("measuring the workload", e))?
        .get(0);
    Ok(WorkloadStats {
        statements,
        seconds,
        exec_ms,
    })
}

async fn one_round(c: &pg::Conn, o: &WorkloadOptions, round: u64) -> pg::Result<u64> {
    let mut rng = ChaCha8Rng::seed_from_u64(o.seed.wrapping_add(round.wrapping_mul(7919)));
    let n = |t: &str| {
        sizes(o.scale)
            .into_iter()
            .find(|x| x.0 == t)
            .map_or(1, |x| x.1)
    };
    let (leads, agents) = (n("leads"), n("agents"));
    let types = Pick::new(&INSURANCE_TYPES);
    let statuses = Pick::new(&LEAD_STATUSES);
    let states = Pick::new(
        &STATES
            .iter()
            .enumerate()
            .map(|(i, (_, w))| (i, *w))
            .collect::<Vec<_>>(),
    );
    let agent_zipf = zipf(agents);
    let zip_k = zipf(100);
    let mut count = 0u64;
    let q = |sql: &'static str| {
        move |e| {
            PgError::query(
                format!("running the demo workload ({})", &sql[..sql.len().min(40)]),
                e,
            )
        }
    };
    macro_rules! run {
        ($sql:expr, $($p:expr),*) => {{
            count += 1;
            c.query($sql, &[$(&$p),*]).await.map_err(q($sql))?
        }};
    }
    for _ in 0..5 {
        let s = if rng.gen_bool(0.6) {
            "new"
        } else {
            statuses.sample(&mut rng)
        };
        run!(LEAD_LIST, s);
    }
    for _ in 0..10 {
        let st = states.sample(&mut rng);
        let zip = zip_code(st, zip_k.sample(&mut rng) as u64);
        run!(LEADS_BY_ZIP, zip, types.sample(&mut rng));
    }
    for _ in 0..5 {
        let st = STATES[states.sample(&mut rng)].0;
        run!(AGENT_MATCH, st, CITIES[rng.gen_range(0..CITIES.len())]);
    }
    for _ in 0..8 {
        let a = i64::try_from(agent_zipf.sample(&mut rng) as u64 + 1).unwrap_or(1);
        let s = ["pending", "accepted", "expired"][rng.gen_range(0..3)];
        run!(AGENT_ASSIGNMENTS, a, s);
    }
    for _ in 0..2 {
        let id = i64::try_from(rng.gen_range(1..=leads)).unwrap_or(1);
        run!(ENTITY_HISTORY, "lead", id);
    }
    // The N+1 loop: a list of leads, then the assignments of each, one query per lead.
    let st = STATES[states.sample(&mut rng)].0;
    let parents = run!(NPLUS1_PARENT, st, "contacted");
    for row in parents {
        let id: i64 = row.get(0);
        run!(NPLUS1_CHILD, id);
    }
    if round % 3 == 0 {
        let since = o.anchor - ChronoDuration::days(30);
        run!(DASH_STATUS, since);
        run!(DASH_CARRIERS, since);
        run!(DASH_QUALITY, STATES[states.sample(&mut rng)].0);
    }
    for _ in 0..3 {
        let id = i64::try_from(rng.gen_range(1..=leads)).unwrap_or(1);
        let s = statuses.sample(&mut rng);
        count += 1;
        c.execute(UPDATE_LEAD, &[&s, &id])
            .await
            .map_err(q(UPDATE_LEAD))?;
        count += 1;
        c.execute(INSERT_EVENT, &[&id])
            .await
            .map_err(q(INSERT_EVENT))?;
    }
    let a = i64::try_from(agent_zipf.sample(&mut rng) as u64 + 1).unwrap_or(1);
    count += 1;
    c.execute(BUMP_AGENT, &[&a]).await.map_err(q(BUMP_AGENT))?;
    Ok(count)
}
