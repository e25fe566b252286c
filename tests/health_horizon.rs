//! The xmin horizon, replication and blocking chains on real servers: each problem is made
//! real (an old snapshot, a prepared transaction, a paused standby, a forgotten slot, three
//! sessions queued on two tables) and checked beside its healthy twin. The prepared
//! transactions and the standby need servers of their own (max_prepared_transactions > 0;
//! a primary whose WAL only these tests write), started here and dropped at the end.

mod common;

use std::time::{Duration, Instant};

use dbopt::findings::{Finding, Severity};
use dbopt::health::horizon::HolderKind;
use dbopt::health::Health;
use dbopt::pg::throwaway::{Throwaway, ThrowawayOptions};
use dbopt::pg::{self, ConnParams, SessionOptions};
use dbopt::rules::{self, Ctx, Scope};

fn read_only() -> SessionOptions {
    SessionOptions {
        read_only: true,
        statement_timeout: None,
        quiet: true,
    }
}

/// What dbopt reads, through a read-only session as `p`'s role.
async fn health(p: &ConnParams) -> Health {
    let c = pg::connect(p, &read_only())
        .await
        .expect("read-only connect");
    pg::health::read(&c).await.expect("reading health")
}

/// The findings of `rule` over `h`, with `config` (dbopt.toml text) for its thresholds.
fn findings(h: &Health, rule: &str, config: &str) -> Vec<Finding> {
    let cfg = rules::Config::parse(config, "test dbopt.toml").expect("test config");
    let ctx = Ctx {
        health: Some(h),
        ..Default::default()
    };
    rules::run(Scope::Health, &ctx, &cfg)
        .expect("rules run")
        .into_iter()
        .filter(|f| f.rule == rule)
        .collect()
}

fn objects(f: &[Finding]) -> Vec<(&str, Severity)> {
    f.iter().map(|f| (f.object.as_str(), f.severity)).collect()
}

fn start(settings: &[(&str, &str)]) -> Throwaway {
    Throwaway::start(&ThrowawayOptions {
        settings: settings
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect(),
        ..Default::default()
    })
    .expect("start a dedicated throwaway server")
}

/// Poll `probe` every 100 ms until it returns Some, for at most 60 s.
async fn wait_for<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    mut probe: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(x) = probe().await {
            return x;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Commit `n` transactions that each take an XID, so that held horizons age.
async fn burn_xids(c: &pg::Conn, n: usize) {
    for _ in 0..n {
        c.batch_execute("SELECT txid_current()").await.unwrap();
    }
}

const HORIZON_LOW: &str =
    "[rules.xmin-horizon-held]\nxid_levels = { warning = 5.0, critical = 1000000000.0 }\n";

#[tokio::test]
async fn an_old_snapshot_and_a_prepared_transaction_hold_the_horizon_until_they_end() {
    let s = start(&[("max_prepared_transactions", "5")]);
    let admin = s.params("postgres");
    let setup = common::setup_conn(&admin).await;
    setup
        .batch_execute(
            "CREATE TABLE h (id int PRIMARY KEY); INSERT INTO h VALUES (1);
             CREATE ROLE plain LOGIN PASSWORD 'pw-plain';
             CREATE ROLE mon LOGIN PASSWORD 'pw-mon'; GRANT pg_monitor TO mon;",
        )
        .await
        .unwrap();
    let snap = common::setup_conn(&admin).await;
    let snap_pid: i32 = common::scalar(&snap, "SELECT pg_backend_pid()").await;
    snap.batch_execute(
        "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM h /* holds the snapshot */;",
    )
    .await
    .unwrap();
    let prep = common::setup_conn(&admin).await;
    prep.batch_execute("BEGIN; INSERT INTO h VALUES (2); PREPARE TRANSACTION 'pay''ment-7';")
        .await
        .unwrap();
    burn_xids(&setup, 20).await;

    let h = health(&admin).await;
    let session = h
        .horizon
        .holders
        .iter()
        .find(|x| x.pid == Some(snap_pid))
        .unwrap_or_else(|| panic!("session {snap_pid} not among {:?}", h.horizon.holders));
    assert_eq!(session.kind, HolderKind::Session);
    assert!(session.xid_age >= 20, "{session:?}");
    assert_eq!(session.state.as_deref(), Some("idle in transaction"));
    assert!(session.age_s.is_some_and(|s| s >= 0.0));
    assert!(
        session
            .query
            .as_deref()
            .is_some_and(|q| q.contains("holds the snapshot")),
        "{session:?}"
    );
    let prepared = h
        .horizon
        .holders
        .iter()
        .find(|x| x.kind == HolderKind::Prepared)
        .expect("the prepared transaction is a holder");
    assert_eq!(prepared.name, "pay'ment-7");
    assert!(prepared.xid_age >= 20 && prepared.xid_age > session.xid_age - 2);
    assert_eq!(
        h.horizon.holders[0].xid_age,
        h.horizon.holders.iter().map(|x| x.xid_age).max().unwrap()
    );

    let f = findings(&h, "xmin-horizon-held", HORIZON_LOW);
    let mut got = objects(&f);
    got.sort();
    assert_eq!(
        got,
        vec![
            ("prepared transaction pay'ment-7", Severity::Warning),
            (
                format!("session pid {snap_pid}").as_str(),
                Severity::Warning
            ),
        ]
    );
    let sqls: Vec<_> = f.iter().filter_map(|f| f.sql()).collect();
    assert!(
        sqls.contains(&"ROLLBACK PREPARED 'pay''ment-7'".to_string()),
        "{sqls:?}"
    );
    assert!(sqls.contains(&format!("SELECT pg_terminate_backend({snap_pid})")));
    assert!(f
        .iter()
        .any(|f| f.evidence[0].contains("this is the horizon")));
    // Default thresholds (a million XIDs, 15 minutes): a young holder is no problem yet.
    assert!(findings(&h, "xmin-horizon-held", "").is_empty());

    // pg_monitor sees everything; a role without it sees the holders but not their state.
    let as_role = |role: &str| {
        let mut p = admin.clone();
        p.set("user", role);
        p.set("password", format!("pw-{role}"));
        p
    };
    let mon = health(&as_role("mon")).await;
    assert_eq!(mon.horizon.hidden_sessions, 0, "{:?}", mon.horizon.notes);
    assert!(mon
        .horizon
        .holders
        .iter()
        .any(|x| x.pid == Some(snap_pid) && x.state.is_some()));
    let plain = health(&as_role("plain")).await;
    assert!(
        !plain
            .horizon
            .holders
            .iter()
            .any(|x| x.pid == Some(snap_pid)),
        "another role's session is hidden without pg_read_all_stats"
    );
    assert!(plain.horizon.hidden_sessions >= 1);
    assert!(
        plain
            .horizon
            .notes
            .iter()
            .any(|n| n.contains("GRANT pg_read_all_stats")),
        "{:?}",
        plain.horizon.notes
    );
    assert!(plain
        .horizon
        .holders
        .iter()
        .any(|x| x.kind == HolderKind::Prepared));

    // The healthy twin: the snapshot ends, the prepared transaction is rolled back.
    snap.batch_execute("COMMIT").await.unwrap();
    setup
        .batch_execute("ROLLBACK PREPARED 'pay''ment-7'")
        .await
        .unwrap();
    let h = health(&admin).await;
    assert!(
        !h.horizon
            .holders
            .iter()
            .any(|x| x.pid == Some(snap_pid) || x.kind == HolderKind::Prepared),
        "{:?}",
        h.horizon.holders
    );
    assert!(findings(&h, "xmin-horizon-held", HORIZON_LOW).is_empty());
}

/// The primary's position when the standby `name` has replayed it (Some(()) when caught up).
async fn caught_up(c: &pg::Conn) -> Option<()> {
    let done: bool = common::scalar(
        c,
        "SELECT coalesce(bool_and(replay_lsn = pg_current_wal_lsn()) AND count(*) = 1, false) \
         FROM pg_stat_replication WHERE state = 'streaming'",
    )
    .await;
    done.then_some(())
}

/// On the primary: a lag of 1 MiB is a warning (the time thresholds stay at their defaults:
/// a caught-up standby still reports a replay_lag of a few milliseconds).
const LAG_LOW: &str = "[rules.replication-lag]\nbytes = { warning = 1048576.0, critical = 1e12 }\n";
/// On the standby: any replay delay while WAL waits is a warning.
const DELAY_LOW: &str = "[rules.replication-lag]\nseconds = { warning = 0.001, critical = 1e9 }\n";

#[tokio::test]
async fn a_paused_standby_lags_a_forgotten_slot_retains_wal_a_caught_up_one_is_fine() {
    let primary = start(&[]);
    let standby = Throwaway::replica(
        &primary,
        Some("standby1"),
        &[
            ("cluster_name".to_string(), "replica1".to_string()),
            ("hot_standby_feedback".to_string(), "on".to_string()),
        ],
    )
    .expect("start a streaming standby");
    let p = primary.params("postgres");
    let r = standby.params("postgres");
    let pc = common::setup_conn(&p).await;
    let rc = common::setup_conn(&r).await;
    pc.batch_execute("CREATE TABLE w (id int, pad text); INSERT INTO w VALUES (1, 'x');")
        .await
        .unwrap();
    wait_for("the standby to stream and catch up", || caught_up(&pc)).await;

    // Healthy: a caught-up standby streaming through an active slot.
    let h = health(&p).await;
    assert!(!h.replication.in_recovery && h.replication.replay.is_none());
    let sb = &h.replication.standbys;
    assert_eq!(sb.len(), 1, "{sb:?}");
    assert_eq!(sb[0].name, "replica1");
    assert_eq!(sb[0].state.as_deref(), Some("streaming"));
    assert_eq!(sb[0].replay_lag_bytes, Some(0));
    let slot = h
        .horizon
        .slots
        .iter()
        .find(|s| s.name == "standby1")
        .expect("slot");
    assert!(slot.active && slot.slot_type == "physical");
    assert!(findings(&h, "replication-lag", LAG_LOW).is_empty());
    assert!(findings(&h, "inactive-replication-slot", "").is_empty());
    let hr = health(&r).await;
    assert!(hr.replication.in_recovery);
    let replay = hr.replication.replay.clone().expect("standby replay facts");
    assert_eq!(replay.pending_bytes, Some(0));
    assert!(!replay.paused && replay.last_replay_age_s.is_some());
    assert!(findings(&hr, "replication-lag", DELAY_LOW).is_empty());

    // pg_monitor sees the lag; a role without it sees the standby but not its positions.
    pc.batch_execute(
        "CREATE ROLE plain LOGIN PASSWORD 'pw-plain'; \
         CREATE ROLE mon LOGIN PASSWORD 'pw-mon'; GRANT pg_monitor TO mon;",
    )
    .await
    .unwrap();
    let as_role = |role: &str| {
        let mut q = p.clone();
        q.set("user", role);
        q.set("password", format!("pw-{role}"));
        q
    };
    let mon = health(&as_role("mon")).await.replication;
    assert!(mon.standbys[0].replay_lag_bytes.is_some());
    assert!(mon.notes.is_empty(), "{:?}", mon.notes);
    let plain = health(&as_role("plain")).await.replication;
    assert_eq!(plain.standbys.len(), 1);
    assert!(plain.standbys[0].state.is_none() && plain.standbys[0].replay_lag_bytes.is_none());
    assert!(
        plain.notes.iter().any(|n| n.contains("GRANT pg_monitor")),
        "{:?}",
        plain.notes
    );

    // Hot-standby feedback holds the primary's horizon: through a slot, as the slot's xmin.
    let fb = wait_for("hot-standby feedback", || async {
        health(&p)
            .await
            .horizon
            .holders
            .into_iter()
            .find(|x| x.kind == HolderKind::StandbyFeedback)
    })
    .await;
    assert_eq!(fb.name, "standby1");
    assert_eq!(fb.pid, Some(sb[0].pid), "the walsender to end");

    // Lag made real: replay paused on the standby, WAL written on the primary.
    rc.batch_execute("SELECT pg_wal_replay_pause()")
        .await
        .unwrap();
    pc.batch_execute("INSERT INTO w SELECT g, repeat('y', 200) FROM generate_series(1, 50000) g")
        .await
        .unwrap();
    let h = wait_for("the standby to receive what it does not replay", || async {
        let h = health(&p).await;
        let s = h.replication.standbys.first()?;
        (s.flush_lag_bytes == Some(0) && s.replay_lag_bytes.unwrap_or(0) > 1 << 20).then_some(h)
    })
    .await;
    let lagging = &h.replication.standbys[0];
    let f = findings(&h, "replication-lag", LAG_LOW);
    assert_eq!(
        objects(&f),
        vec![("standby replica1", Severity::Warning)],
        "{lagging:?}"
    );
    assert!(f[0].evidence[0].contains("replay"), "{:?}", f[0].evidence);
    assert!(
        findings(&h, "replication-lag", "").is_empty(),
        "a few MB is under the defaults"
    );
    let hr = health(&r).await;
    let replay = hr.replication.replay.clone().unwrap();
    assert!(
        replay.paused && replay.pending_bytes.unwrap() > 1 << 20,
        "{replay:?}"
    );
    let f = findings(&hr, "replication-lag", DELAY_LOW);
    assert_eq!(objects(&f), vec![("this standby", Severity::Warning)]);
    assert_eq!(f[0].sql().as_deref(), Some("SELECT pg_wal_replay_resume()"));
    rc.batch_execute("SELECT pg_wal_replay_resume()")
        .await
        .unwrap();

    // A slot nobody uses keeps the WAL written after it, and the amount grows.
    pc.batch_execute("SELECT pg_create_physical_replication_slot('forgotten', true)")
        .await
        .unwrap();
    let retained = |h: &Health| {
        h.horizon
            .slots
            .iter()
            .find(|s| s.name == "forgotten")
            .and_then(|s| s.retained_bytes)
            .expect("forgotten slot retains WAL")
    };
    let before = retained(&health(&p).await);
    pc.batch_execute("INSERT INTO w SELECT g, repeat('z', 200) FROM generate_series(1, 20000) g")
        .await
        .unwrap();
    let h = health(&p).await;
    assert!(
        retained(&h) > before + (1 << 20),
        "{before} -> {}",
        retained(&h)
    );
    let f = findings(&h, "inactive-replication-slot", "");
    assert_eq!(objects(&f), vec![("slot forgotten", Severity::Info)]);
    assert_eq!(
        f[0].sql().as_deref(),
        Some("SELECT pg_drop_replication_slot('forgotten')")
    );
    let f = findings(
        &h,
        "inactive-replication-slot",
        "[rules.inactive-replication-slot]\nlevels = { warning = 1048576.0, critical = 1e12 }\n",
    );
    assert_eq!(objects(&f), vec![("slot forgotten", Severity::Warning)]);
    wait_for("the standby to catch up again", || caught_up(&pc)).await;
    drop(standby);
}

const CHAIN_LOW: &str = "[rules.blocking-chain]\nlevels = { warning = 0.0, critical = 3600.0 }\n";

fn connections(url: &str, config: &std::path::Path, format: &str) -> std::process::Output {
    common::dbopt()
        .args(["connections", "--format", format, "--database-url", url])
        .args(["--config", config.to_str().unwrap()])
        .output()
        .unwrap()
}

#[tokio::test]
async fn three_sessions_queued_on_two_tables_are_one_tree_three_levels_deep() {
    let p = common::fresh_db("chain").await;
    let url = p.url_with_password();
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("dbopt.toml");
    std::fs::write(&cfg, CHAIN_LOW).unwrap();
    let setup = common::setup_conn(&p).await;
    setup
        .batch_execute(
            "CREATE TABLE accounts (id int PRIMARY KEY, v int); INSERT INTO accounts VALUES (1, 0);
             CREATE TABLE ledger (id int PRIMARY KEY, v int); INSERT INTO ledger VALUES (1, 0);",
        )
        .await
        .unwrap();
    let a = common::setup_conn(&p).await;
    let b = common::setup_conn(&p).await;
    let c = common::setup_conn(&p).await;
    let mut pids = Vec::new();
    for x in [&a, &b, &c] {
        pids.push(common::scalar::<i32>(x, "SELECT pg_backend_pid()").await);
    }
    let (pa, pb, pc) = (pids[0], pids[1], pids[2]);
    a.batch_execute("BEGIN; UPDATE accounts SET v = v + 1 WHERE id = 1;")
        .await
        .unwrap();
    b.batch_execute("BEGIN; UPDATE ledger SET v = v + 1 WHERE id = 1;")
        .await
        .unwrap();

    // Healthy twin: A holds a row lock, B another, nobody waits: no chain, no new section.
    let calm = connections(&url, &cfg, "table");
    common::assert_success(&calm);
    let text = String::from_utf8_lossy(&calm.stdout);
    assert!(!text.contains("blocking chains:"), "{text}");
    let v: serde_json::Value =
        serde_json::from_slice(&connections(&url, &cfg, "json").stdout).unwrap();
    assert!(v.get("blocking_chains").is_none(), "{v}");
    assert!(!v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["rule"] == "blocking-chain"));

    let wait_b = tokio::spawn(async move {
        b.batch_execute("UPDATE accounts SET v = v + 1 WHERE id = 1")
            .await
            .map(|()| b)
    });
    let wait_c = tokio::spawn(async move {
        c.batch_execute("BEGIN; UPDATE ledger SET v = v + 1 WHERE id = 1;")
            .await
            .map(|()| c)
    });
    let probe = common::setup_conn(&p).await;
    wait_for("C to wait on B and B on A", || async {
        let n: i64 = common::scalar(
            &probe,
            &format!(
                "SELECT count(*) FROM pg_stat_activity WHERE (pid = {pb} AND {pa} = ANY(pg_blocking_pids(pid))) \
                 OR (pid = {pc} AND {pb} = ANY(pg_blocking_pids(pid)))"
            ),
        )
        .await;
        (n == 2).then_some(())
    })
    .await;
    let xid_a: String = common::scalar(
        &probe,
        &format!("SELECT backend_xid::text FROM pg_stat_activity WHERE pid = {pa}"),
    )
    .await;
    let xid_b: String = common::scalar(
        &probe,
        &format!("SELECT backend_xid::text FROM pg_stat_activity WHERE pid = {pb}"),
    )
    .await;

    let out = connections(&url, &cfg, "json");
    common::assert_success(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let chains = v["blocking_chains"].as_array().expect("blocking_chains");
    assert_eq!(chains.len(), 1, "{v}");
    let nodes: Vec<(i64, i64, Option<&str>)> = chains[0]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["pid"].as_i64().unwrap(),
                n["depth"].as_i64().unwrap(),
                n["lock_wanted"].as_str(),
            )
        })
        .collect();
    let want_a = format!("ShareLock on transaction {xid_a}");
    let want_b = format!("ShareLock on transaction {xid_b}");
    assert_eq!(
        nodes,
        vec![
            (i64::from(pa), 0, None),
            (i64::from(pb), 1, Some(want_a.as_str())),
            (i64::from(pc), 2, Some(want_b.as_str())),
        ]
    );
    let f: Vec<&serde_json::Value> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "blocking-chain")
        .collect();
    assert_eq!(f.len(), 1, "{v}");
    assert_eq!(f[0]["object"], format!("pid {pa}"));
    assert_eq!(f[0]["severity"], "warning");
    assert!(f[0]["message"]
        .as_str()
        .unwrap()
        .contains("blocks 2 sessions, 2 levels deep"));
    let ev: Vec<&str> = f[0]["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert!(ev[1].starts_with(&format!("└ pid {pb} waits ")), "{ev:?}");
    assert!(
        ev[2].starts_with(&format!("  └ pid {pc} waits ")) && ev[2].contains(&want_b),
        "{ev:?}"
    );
    assert_eq!(f[0]["sql"], format!("SELECT pg_terminate_backend({pa})"));

    let text = connections(&url, &cfg, "table");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("blocking chains:"), "{text}");
    assert!(text.contains(&format!("  └ {pc}")), "{text}");

    a.batch_execute("COMMIT").await.unwrap();
    let b = wait_b.await.unwrap().unwrap();
    b.batch_execute("COMMIT").await.unwrap();
    let c = wait_c.await.unwrap().unwrap();
    c.batch_execute("COMMIT").await.unwrap();
}
