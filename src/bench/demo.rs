//! The demo database: schema from `migrations/`, data from a seeded generator, loaded with COPY.
//!
//! Why generated and not shipped: 2.6 million rows would weigh hundreds of megabytes in the
//! repository, while a seeded generator makes the same rows every time in a few seconds. The
//! data is skewed the way real lead platforms are (a few states and insurance types dominate,
//! recent rows outnumber old ones, most leads end up lost), because index advice on uniform
//! data teaches nothing.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use futures_util::SinkExt;
use rand::distributions::{Distribution, WeightedIndex};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::advisor::report::IndexRecommendation;
use crate::pg::{self, ConnParams, PgError, SessionOptions};
use crate::sql::ddl::Build;

pub const SCHEMA_SQL: &str = include_str!("../../migrations/0001_demo_schema.sql");
pub const FOREIGN_KEYS_SQL: &str = include_str!("../../migrations/0002_demo_foreign_keys.sql");

/// Table sizes at `--scale 1`.
const BASE: [(&str, f64); 5] = [
    ("carriers", 50.0),
    ("agents", 5_000.0),
    ("leads", 200_000.0),
    ("lead_assignments", 400_000.0),
    ("events", 2_000_000.0),
];

pub const STATES: [(&str, u32); 20] = [
    ("CA", 120),
    ("TX", 95),
    ("FL", 80),
    ("NY", 70),
    ("PA", 40),
    ("IL", 38),
    ("OH", 35),
    ("GA", 33),
    ("NC", 30),
    ("MI", 28),
    ("NJ", 26),
    ("VA", 24),
    ("WA", 22),
    ("AZ", 21),
    ("MA", 20),
    ("TN", 18),
    ("IN", 15),
    ("MO", 12),
    ("MD", 10),
    ("WI", 8),
];
pub const CITIES: [&str; 10] = [
    "Springfield",
    "Riverside",
    "Franklin",
    "Greenville",
    "Clinton",
    "Fairview",
    "Salem",
    "Madison",
    "Georgetown",
    "Arlington",
];
pub const INSURANCE_TYPES: [(&str, u32); 5] = [
    ("auto", 45),
    ("home", 25),
    ("life", 15),
    ("health", 10),
    ("commercial", 5),
];
pub const LEAD_STATUSES: [(&str, u32); 6] = [
    ("new", 6),
    ("contacted", 20),
    ("qualified", 12),
    ("converted", 10),
    ("lost", 47),
    ("duplicate", 5),
];
pub const ASSIGNMENT_STATUSES: [(&str, u32); 5] = [
    ("pending", 10),
    ("accepted", 35),
    ("rejected", 20),
    ("expired", 25),
    ("closed", 10),
];
pub const SOURCES: [(&str, u32); 5] = [
    ("web", 50),
    ("referral", 10),
    ("partner_api", 25),
    ("phone", 10),
    ("ads", 5),
];
pub const ENTITY_TYPES: [(&str, u32); 3] = [("lead", 70), ("agent", 20), ("assignment", 10)];
pub const EVENT_TYPES: [(&str, u32); 6] = [
    ("viewed", 40),
    ("updated", 20),
    ("emailed", 15),
    ("called", 10),
    ("status_changed", 10),
    ("created", 5),
];
const FIRST: [&str; 16] = [
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "Maria",
    "Jose",
    "Wei",
    "Aisha",
    "Omar",
    "Sofia",
];
const LAST: [&str; 16] = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Nguyen",
    "Chen",
    "Patel",
    "Kim",
    "Okafor",
    "Silva",
];
const TIERS: [(&str, u32); 4] = [("platinum", 1), ("gold", 3), ("silver", 5), ("bronze", 6)];
const PARTNERSHIP: [(&str, u32); 4] = [
    ("active", 8),
    ("pending", 2),
    ("paused", 1),
    ("terminated", 1),
];

/// Rows per table for a scale factor.
pub fn sizes(scale: f64) -> Vec<(&'static str, u64)> {
    BASE.iter()
        .map(|(t, n)| {
            let rows = (n * scale)
                .round()
                .max(if *t == "carriers" { 5.0 } else { 10.0 });
            // Bounded, non-negative by the max above.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            (*t, rows as u64)
        })
        .collect()
}

/// A weighted pick list that samples in O(log n).
pub struct Pick<T: Copy> {
    items: Vec<T>,
    index: WeightedIndex<u32>,
}

impl<T: Copy> Pick<T> {
    pub fn new(weighted: &[(T, u32)]) -> Self {
        Pick {
            items: weighted.iter().map(|x| x.0).collect(),
            index: WeightedIndex::new(weighted.iter().map(|x| x.1)).expect("weights"),
        }
    }
    pub fn sample(&self, rng: &mut impl Rng) -> T {
        self.items[self.index.sample(rng)]
    }
}

/// Zipf-like pick of 0..n (item k has weight 1/(k+1)).
pub fn zipf(n: u64) -> WeightedIndex<f64> {
    WeightedIndex::new((0..n.max(1)).map(|k| 1.0 / (k as f64 + 1.0))).expect("weights")
}

/// A time in the last two years, recent times more likely (quadratic skew).
pub fn recent(rng: &mut impl Rng, anchor: DateTime<Utc>) -> DateTime<Utc> {
    let u: f64 = rng.gen();
    let days_ago = 730.0 * u * u;
    // At most 730 days of seconds, fits i64.
    #[allow(clippy::cast_possible_truncation)]
    let secs = (days_ago * 86_400.0) as i64;
    anchor - ChronoDuration::seconds(secs)
}

/// Zip codes: 100 per state, the first few per state most common.
pub fn zip_code(state_idx: usize, k: u64) -> String {
    format!(
        "{:05}",
        10_000 + state_idx * 1_000 + usize::try_from(k).unwrap_or(0) * 7
    )
}

fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S%z").to_string()
}

/// Generates one table's rows as COPY text, in chunks that can be made independently.
struct Gen {
    table: &'static str,
    sizes: Vec<(&'static str, u64)>,
    anchor: DateTime<Utc>,
    seed: u64,
}

impl Gen {
    fn count(&self, table: &str) -> u64 {
        self.sizes
            .iter()
            .find(|(t, _)| *t == table)
            .map_or(0, |x| x.1)
    }

    /// Rows `from..to` (ids from+1..=to) as COPY text.
    fn chunk(&self, from: u64, to: u64) -> String {
        let mut c = Chunk {
            rng: ChaCha8Rng::seed_from_u64(
                self.seed ^ from.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ self.table.len() as u64,
            ),
            out: String::with_capacity(usize::try_from(to - from).unwrap_or(0) * 160),
            from,
            to,
            states: Pick::new(
                &STATES
                    .iter()
                    .enumerate()
                    .map(|(i, (_, w))| (i, *w))
                    .collect::<Vec<_>>(),
            ),
            zip_k: zipf(100),
            city_k: zipf(CITIES.len() as u64),
            anchor: self.anchor,
        };
        match self.table {
            "carriers" => self.carriers(&mut c),
            "agents" => self.agents(&mut c),
            "leads" => self.leads(&mut c),
            "lead_assignments" => self.lead_assignments(&mut c),
            "events" => self.events(&mut c),
            other => unreachable!("BUG: no generator for {other}"),
        }
        c.out
    }

    /// Insurance carriers.
    fn carriers(&self, c: &mut Chunk) {
        let anchor = c.anchor;
        let Chunk {
            rng, out, from, to, ..
        } = c;
        let tiers = Pick::new(&TIERS);
        let ps = Pick::new(&PARTNERSHIP);
        for id in *from + 1..=*to {
            let status = ps.sample(rng);
            let _ = writeln!(
                out,
                "{id}\t{} Insurance Co {id}\t{}\t{status}\t{}\t{:.2}\t{}",
                LAST[rng.gen_range(0..LAST.len())],
                if status == "terminated" { "f" } else { "t" },
                tiers.sample(rng),
                rng.gen_range(40.0..99.0),
                ts(recent(rng, anchor) - ChronoDuration::days(730)),
            );
        }
    }

    /// Agents, each with one to three specializations and a carrier (Zipf: a few carriers have most agents).
    fn agents(&self, c: &mut Chunk) {
        let anchor = c.anchor;
        let Chunk {
            rng,
            out,
            from,
            to,
            states,
            city_k,
            ..
        } = c;
        let carriers = zipf(self.count("carriers"));
        let types = Pick::new(&INSURANCE_TYPES);
        for id in *from + 1..=*to {
            let s = states.sample(rng);
            let (f, l) = (
                FIRST[rng.gen_range(0..FIRST.len())],
                LAST[rng.gen_range(0..LAST.len())],
            );
            let mut specs: Vec<&str> = (0..rng.gen_range(1..=3))
                .map(|_| types.sample(rng))
                .collect();
            specs.sort_unstable();
            specs.dedup();
            let _ = writeln!(
                out,
                "{id}\t{f} {l}\t{}.{}{id}@agents.example\t{}\t{}\t{{{}}}\t{:.2}\t{}\t{}\t{}\t{}",
                f.to_lowercase(),
                l.to_lowercase(),
                STATES[s].0,
                CITIES[city_k.sample(rng)],
                specs.join(","),
                rng.gen_range(1.0..5.0),
                if rng.gen_bool(0.85) { "t" } else { "f" },
                rng.gen_range(0..40),
                carriers.sample(rng) + 1,
                ts(recent(rng, anchor)),
            );
        }
    }

    /// Leads: the last three days' are all still `new`.
    fn leads(&self, c: &mut Chunk) {
        let anchor = c.anchor;
        let Chunk {
            rng,
            out,
            from,
            to,
            states,
            zip_k,
            ..
        } = c;
        let types = Pick::new(&INSURANCE_TYPES);
        let statuses = Pick::new(&LEAD_STATUSES);
        let sources = Pick::new(&SOURCES);
        for id in *from + 1..=*to {
            let s = states.sample(rng);
            let (f, l) = (
                FIRST[rng.gen_range(0..FIRST.len())],
                LAST[rng.gen_range(0..LAST.len())],
            );
            let created = recent(rng, anchor);
            let updated = created + ChronoDuration::seconds(rng.gen_range(0..30 * 86_400));
            let updated = updated.min(anchor);
            let status = if created > anchor - ChronoDuration::days(3) {
                "new"
            } else {
                statuses.sample(rng)
            };
            let _ = writeln!(
                out,
                "{id}\t{f}\t{l}\t{}.{}{id}@mail.example\t+1-555-{:04}\t{}\t{}\t{}\t{status}\t{}\t{}\t{}\t{}",
                f.to_lowercase(),
                l.to_lowercase(),
                rng.gen_range(0..10_000),
                zip_code(s, zip_k.sample(rng) as u64),
                STATES[s].0,
                types.sample(rng),
                sources.sample(rng),
                rng.gen_range(1..=100),
                ts(created),
                ts(updated),
            );
        }
    }

    /// Assignments of leads to agents (Zipf over agents); pending ones have no response yet.
    fn lead_assignments(&self, c: &mut Chunk) {
        let anchor = c.anchor;
        let Chunk {
            rng, out, from, to, ..
        } = c;
        let leads = self.count("leads");
        let agents = zipf(self.count("agents"));
        let statuses = Pick::new(&ASSIGNMENT_STATUSES);
        for id in *from + 1..=*to {
            let assigned = recent(rng, anchor);
            let status = statuses.sample(rng);
            let responded = if status == "pending" {
                "\\N".to_string()
            } else {
                ts((assigned + ChronoDuration::seconds(rng.gen_range(60..172_800))).min(anchor))
            };
            let _ = writeln!(
                out,
                "{id}\t{}\t{}\t{status}\t{}\t{responded}",
                rng.gen_range(1..=leads),
                agents.sample(rng) + 1,
                ts(assigned),
            );
        }
    }

    /// Events on leads, agents and assignments, with a small JSON payload.
    fn events(&self, c: &mut Chunk) {
        let anchor = c.anchor;
        let Chunk {
            rng, out, from, to, ..
        } = c;
        let etypes = Pick::new(&ENTITY_TYPES);
        let kinds = Pick::new(&EVENT_TYPES);
        let sources = Pick::new(&SOURCES);
        let (leads, agents, assigns) = (
            self.count("leads"),
            self.count("agents"),
            self.count("lead_assignments"),
        );
        for id in *from + 1..=*to {
            let et = etypes.sample(rng);
            let max = match et {
                "lead" => leads,
                "agent" => agents,
                _ => assigns,
            };
            let _ = writeln!(
                out,
                "{id}\t{et}\t{}\t{}\t{}\t{{\"ip\": \"10.{}.{}.{}\", \"v\": {}, \"ok\": {}}}\t{}",
                rng.gen_range(1..=max),
                kinds.sample(rng),
                sources.sample(rng),
                rng.gen_range(0..255),
                rng.gen_range(0..255),
                rng.gen_range(1..255),
                rng.gen_range(1..5),
                rng.gen_bool(0.9),
                ts(recent(rng, anchor)),
            );
        }
    }
}

/// One chunk being generated: its random stream, its text, its id range and the
/// distributions every table draws from.
struct Chunk {
    rng: ChaCha8Rng,
    out: String,
    from: u64,
    to: u64,
    states: Pick<usize>,
    zip_k: WeightedIndex<f64>,
    city_k: WeightedIndex<f64>,
    anchor: DateTime<Utc>,
}

fn columns(table: &str) -> &'static str {
    match table {
        "carriers" => "id, name, is_active, partnership_status, partnership_tier, performance_score, created_at",
        "agents" => "id, name, email, state, city, specializations, rating, is_active, current_lead_count, carrier_id, created_at",
        "leads" => "id, first_name, last_name, email, phone, zip_code, state, insurance_type, status, source, quality_score, created_at, updated_at",
        "lead_assignments" => "id, lead_id, agent_id, status, assigned_at, responded_at",
        _ => "id, entity_type, entity_id, type, source, payload, \"timestamp\"",
    }
}

/// How to build the demo data.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub scale: f64,
    pub seed: u64,
    /// "Now" for the generated timestamps (rows span the two years before it).
    pub anchor: DateTime<Utc>,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            scale: 1.0,
            seed: 42,
            anchor: Utc::now(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct LoadStats {
    pub tables: Vec<(String, u64)>,
    pub rows: u64,
    pub seconds: f64,
}

const CHUNK: u64 = 20_000;

/// Create the schema in the (empty) database `p` points at and load it. `progress` is called
/// with rows loaded so far and the total.
pub async fn load(
    p: &ConnParams,
    opts: &DemoOptions,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> pg::Result<LoadStats> {
    let t0 = Instant::now();
    let write = SessionOptions::unrestricted();
    let c = pg::connect(p, &write).await?;
    c.batch_execute(SCHEMA_SQL)
        .await
        .map_err(|e| PgError::query("creating the demo schema", e))?;
    let sizes = sizes(opts.scale);
    let total: u64 = sizes.iter().map(|x| x.1).sum();
    let done = std::sync::atomic::AtomicU64::new(0);
    // Work units: (table, from, to). Big tables are split so two sessions share the load.
    let mut units: Vec<(&'static str, u64, u64)> = Vec::new();
    for (t, n) in &sizes {
        let parts = if *n > 200_000 { 2 } else { 1 };
        let step = n.div_ceil(parts);
        let mut from = 0;
        while from < *n {
            units.push((t, from, (from + step).min(*n)));
            from += step;
        }
    }
    units.sort_by_key(|u| std::cmp::Reverse(u.2 - u.1));
    let queue = std::sync::Mutex::new(units);
    let worker = || async {
        let c = pg::connect(p, &write).await?;
        loop {
            let unit = queue.lock().expect("queue").pop();
            let Some((table, from, to)) = unit else { break };
            let gen = Gen {
                table,
                sizes: sizes.clone(),
                anchor: opts.anchor,
                seed: opts.seed,
            };
            let sink = c
                .copy_in(&format!("COPY {table} ({}) FROM STDIN", columns(table)))
                .await
                .map_err(|e| PgError::query(format!("starting COPY into {table}"), e))?;
            futures_util::pin_mut!(sink);
            let mut at = from;
            while at < to {
                let end = (at + CHUNK).min(to);
                let text = gen.chunk(at, end);
                sink.send(Bytes::from(text))
                    .await
                    .map_err(|e| PgError::query(format!("loading {table}"), e))?;
                let now =
                    done.fetch_add(end - at, std::sync::atomic::Ordering::Relaxed) + (end - at);
                progress(now, total);
                at = end;
            }
            sink.finish()
                .await
                .map_err(|e| PgError::query(format!("finishing COPY into {table}"), e))?;
        }
        Ok::<(), PgError>(())
    };
    let results = futures_util::future::join_all((0..3).map(|_| worker())).await;
    results.into_iter().collect::<pg::Result<Vec<()>>>()?;
    let mut finish = String::from(FOREIGN_KEYS_SQL);
    for (t, _) in &sizes {
        finish.push_str(&format!("SELECT setval(pg_get_serial_sequence('{t}', 'id'), (SELECT coalesce(max(id), 1) FROM {t}));\n"));
    }
    c.batch_execute(&finish)
        .await
        .map_err(|e| PgError::query("adding foreign keys", e))?;
    // Its own message: VACUUM cannot run inside the implicit transaction of a multi-statement query.
    c.batch_execute("VACUUM ANALYZE")
        .await
        .map_err(|e| PgError::query("analyzing the demo tables", e))?;
    Ok(LoadStats {
        tables: sizes.iter().map(|(t, n)| ((*t).to_string(), *n)).collect(),
        rows: total,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// The demo database's name on its throwaway server.
pub const DEMO_DB: &str = "dbopt_demo";

/// Create the (empty) demo database on a throwaway server and return where to connect to it.
pub async fn create_database(server: &pg::throwaway::Throwaway) -> pg::Result<ConnParams> {
    let c = pg::connect(&server.params("postgres"), &SessionOptions::unrestricted()).await?;
    c.batch_execute(&format!(
        "CREATE DATABASE {}",
        crate::sql::quote_ident(DEMO_DB)
    ))
    .await
    .map_err(|e| PgError::query("creating the demo database", e))?;
    Ok(server.params(DEMO_DB))
}

/// A short human duration ("1.4 s", "230 ms").
pub fn human(d: Duration) -> String {
    if d.as_secs_f64() >= 1.0 {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// Build indexes for real (plain CREATE INDEX: the throwaway server has no other users) and
/// return each one's name and size. Used by `advise --demo --verify`.
pub async fn build_indexes(
    p: &ConnParams,
    recs: &[IndexRecommendation],
) -> pg::Result<Vec<(String, i64)>> {
    let c = pg::connect(p, &SessionOptions::unrestricted()).await?;
    let mut out = Vec::new();
    for rec in recs {
        let name = &rec.name;
        let plain = crate::emit::plan::index_def(rec).render(Build::InTransaction);
        c.batch_execute(&plain)
            .await
            .map_err(|e| PgError::query(format!("building {name}"), e))?;
        let size: i64 = c
            .query_one("SELECT coalesce(sum(pg_relation_size(c.oid)), 0)::int8 FROM pg_class c WHERE c.relname = $1 AND c.relkind IN ('i', 'I')", &[name])
            .await
            .map_err(|e| PgError::query("sizing a built index", e))?
            .get(0);
        out.push((name.clone(), size));
    }
    c.batch_execute("ANALYZE")
        .await
        .map_err(|e| PgError::query("analyzing after building indexes", e))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gen(table: &'static str) -> Gen {
        Gen {
            table,
            sizes: sizes(0.01),
            anchor: DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
                .unwrap()
                .into(),
            seed: 7,
        }
    }

    #[test]
    fn generator_is_deterministic_and_well_formed() {
        for (t, _) in BASE {
            let a = gen(t).chunk(0, 50);
            assert_eq!(a, gen(t).chunk(0, 50), "{t} must be deterministic");
            let cols = columns(t).split(',').count();
            for line in a.lines() {
                assert_eq!(line.split('\t').count(), cols, "{t}: {line}");
            }
            assert_eq!(a.lines().count(), 50);
        }
    }

    #[test]
    fn chunks_are_independent_of_how_the_load_is_split() {
        let g = gen("leads");
        assert_eq!(g.chunk(100, 110), g.chunk(100, 110));
        assert!(g.chunk(100, 110).starts_with("101\t"));
    }

    #[test]
    fn data_is_skewed() {
        let text = gen("leads").chunk(0, 5000);
        let ca = text
            .lines()
            .filter(|l| l.split('\t').nth(6) == Some("CA"))
            .count();
        let wi = text
            .lines()
            .filter(|l| l.split('\t').nth(6) == Some("WI"))
            .count();
        assert!(ca > 5 * wi, "CA {ca} vs WI {wi}");
    }
}
