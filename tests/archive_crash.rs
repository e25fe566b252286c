//! Crash safety of `dbopt archive`, with the real binary as a child process: kill -9 at random
//! (seeded) points during move, copy, delete and cross-database move runs, then resume; a
//! server restart mid-run; a concurrent writer inserting and updating during a run with --verify. After
//! every interruption and at the end, source + archive hold exactly the original rows (compared
//! as multisets, so order-independent), none twice.

mod archive_support;
mod common;

use std::collections::{BTreeMap, HashMap};
use std::process::Stdio;
use std::time::{Duration, Instant};

use archive_support::{
    archive_cmd, assert_same, make_table, rows, rows_pair, run, union, wait_idle,
};
use common::{fresh_db, setup_conn};
use dbopt::pg::throwaway::{Throwaway, ThrowawayOptions};
use dbopt::pg::{Conn, ConnParams};
use rand::{Rng, SeedableRng};

const ROWS: i64 = 4000;
const KILLS: usize = 6;

fn no_duplicates(m: &BTreeMap<String, u32>, what: &str) {
    if let Some((row, n)) = m.iter().find(|(_, n)| **n > 1) {
        panic!("{what}: row {row} is there {n} times");
    }
}

fn subset(a: &BTreeMap<String, u32>, of: &BTreeMap<String, u32>, what: &str) {
    for k in a.keys() {
        assert!(of.contains_key(k), "{what}: row {k} is not an original row");
    }
}

/// Check what must hold after any interruption.
async fn check_partial(
    c: &Conn,
    dst: &Conn,
    strategy: &str,
    original: &BTreeMap<String, u32>,
    young: &BTreeMap<String, u32>,
) {
    wait_idle(c).await;
    wait_idle(dst).await;
    // One snapshot in one database; source before archive across two (the archive commits first).
    let (src, arc) = if strategy == "cross" {
        (rows(c, "events").await, rows(dst, "events_archive").await)
    } else {
        rows_pair(c, "events", "events_archive").await
    };
    no_duplicates(&src, "source");
    no_duplicates(&arc, "archive");
    subset(&src, original, "source");
    subset(&arc, original, "archive");
    for k in young.keys() {
        assert!(
            src.contains_key(k),
            "a row newer than the cutoff left the source: {k}"
        );
    }
    match strategy {
        "move" => assert_eq!(
            &union(&src, &arc),
            original,
            "same-database move lost or doubled rows"
        ),
        "copy" => assert_eq!(&src, original, "copy changed the source"),
        "delete" => assert!(arc.is_empty()),
        _ => {
            // cross-database: a duplicate across the two databases is allowed mid-run, a loss is not
            let all = union(&src, &arc);
            for k in original.keys() {
                assert!(all.contains_key(k), "cross-database move lost row {k}");
            }
        }
    }
}

async fn kill_and_resume(strategy: &str, cross: bool, seed: u64) -> usize {
    let p = fresh_db(&format!("kill_{strategy}_{cross}")).await;
    let c = setup_conn(&p).await;
    let (dst_params, dst) = if cross {
        let dp = fresh_db("kill_dst").await;
        let d = setup_conn(&dp).await;
        (Some(dp), Some(d))
    } else {
        (None, None)
    };
    let dst_conn: &Conn = dst.as_ref().unwrap_or(&c);
    make_table(&c, "events", ROWS).await;
    let original = rows(&c, "events").await;
    let young: BTreeMap<String, u32> = c
        .query(
            "SELECT t::text FROM events t WHERE created_at >= now() - interval '365 days'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get::<_, String>(0), 1))
        .collect();
    let url = dst_params.as_ref().map(ConnParams::url_with_password);
    let mut args = vec![
        "--table",
        "events",
        "--older-than",
        "365d",
        "--strategy",
        strategy,
        "--execute",
        "--create",
        "--batch-size",
        "20",
        "--fixed-batch-size",
        "--sleep",
        "20",
    ];
    if let Some(u) = &url {
        args.extend(["--to-database", u.as_str()]);
    }
    let label = if cross { "cross-db move" } else { strategy };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut kills = 0;
    for _ in 0..KILLS * 3 {
        let mut child = archive_cmd(&p, &args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn dbopt");
        let delay = Duration::from_millis(rng.gen_range(60..400));
        tokio::time::sleep(delay).await;
        if child.try_wait().unwrap().is_some() {
            break; // the job finished before this kill
        }
        child.kill().expect("kill -9"); // SIGKILL
        child.wait().unwrap();
        kills += 1;
        check_partial(
            &c,
            dst_conn,
            if cross { "cross" } else { strategy },
            &original,
            &young,
        )
        .await;
        if kills == KILLS {
            break;
        }
    }
    assert!(kills >= KILLS, "{label}: only {kills} kills landed mid-run");
    // Resume to the end.
    let (code, _, err) = run(&p, &args);
    assert_eq!(code, 0, "{label} resume: {err}");
    let src = rows(&c, "events").await;
    let arc = rows(dst_conn, "events_archive").await;
    no_duplicates(&src, label);
    no_duplicates(&arc, label);
    let old: BTreeMap<String, u32> = original
        .iter()
        .filter(|(k, _)| !young.contains_key(*k))
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    match strategy {
        "move" => {
            assert_eq!(
                src, young,
                "{label}: source must hold exactly the young rows"
            );
            assert_eq!(arc, old, "{label}: archive must hold exactly the old rows");
        }
        "copy" => {
            assert_eq!(src, original);
            assert_eq!(arc, old);
        }
        _ => {
            assert_eq!(src, young);
            assert!(arc.is_empty());
        }
    }
    kills
}

#[tokio::test]
async fn kill_9_during_move_then_resume() {
    kill_and_resume("move", false, 1).await;
}

#[tokio::test]
async fn kill_9_during_copy_then_resume() {
    kill_and_resume("copy", false, 2).await;
}

#[tokio::test]
async fn kill_9_during_delete_then_resume() {
    kill_and_resume("delete", false, 3).await;
}

#[tokio::test]
async fn kill_9_during_cross_database_move_then_resume() {
    kill_and_resume("move", true, 4).await;
}

#[tokio::test]
async fn server_restart_mid_run_then_resume() {
    let server = tokio::task::spawn_blocking(|| Throwaway::start(&ThrowawayOptions::default()))
        .await
        .unwrap()
        .expect("start a private server for the restart test");
    let admin = setup_conn(&server.params("postgres")).await;
    admin
        .batch_execute("CREATE DATABASE restart_db")
        .await
        .unwrap();
    drop(admin);
    let p = server.params("restart_db");
    let c = setup_conn(&p).await;
    make_table(&c, "events", ROWS).await;
    let original = rows(&c, "events").await;
    drop(c);
    let args = [
        "--table",
        "events",
        "--older-than",
        "365d",
        "--execute",
        "--create",
        "--batch-size",
        "20",
        "--fixed-batch-size",
        "--sleep",
        "20",
    ];
    let child = archive_cmd(&p, &args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut server = tokio::task::spawn_blocking(move || {
        let mut s = server;
        s.restart().expect("restart the server");
        s
    })
    .await
    .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "the run should fail when the server goes away: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains("run the same command again to resume"),
        "{stderr}"
    );
    assert!(server.is_running());
    let c = setup_conn(&p).await;
    let (s, a) = rows_pair(&c, "events", "events_archive").await;
    assert_same(
        &union(&s, &a),
        &original,
        "rows lost or doubled by the restart",
    );
    let (code, _, err) = run(&p, &args);
    assert_eq!(code, 0, "resume after restart: {err}");
    let left: i64 = common::scalar(
        &c,
        "SELECT count(*) FROM events WHERE created_at < now() - interval '365 days'",
    )
    .await;
    assert_eq!(left, 0);
    assert_eq!(
        union(&rows(&c, "events").await, &rows(&c, "events_archive").await),
        original
    );
    drop(c);
    tokio::task::spawn_blocking(move || server.stop())
        .await
        .unwrap();
}

#[tokio::test]
async fn concurrent_writer_inserting_and_updating() {
    let p = fresh_db("arch_writer").await;
    let c = setup_conn(&p).await;
    make_table(&c, "events", ROWS).await;
    let original_ids: Vec<i64> = c
        .query("SELECT id FROM events", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut child = archive_cmd(
        &p,
        &[
            "--table",
            "events",
            "--older-than",
            "365d",
            "--execute",
            "--create",
            "--batch-size",
            "25",
            "--sleep",
            "10",
            "--verify",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let w = setup_conn(&p).await;
    // Start writing once the archiver has fixed its plan (it creates the archive right after).
    let t0 = Instant::now();
    while !w
        .query_one("SELECT to_regclass('events_archive') IS NOT NULL", &[])
        .await
        .unwrap()
        .get::<_, bool>(0)
    {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the archiver never started"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut inserted: Vec<i64> = Vec::new();
    let mut last_update: HashMap<i64, String> = HashMap::new();
    let t0 = Instant::now();
    let mut n = 0;
    while child.try_wait().unwrap().is_none() && t0.elapsed() < Duration::from_secs(60) {
        n += 1;
        // new rows, half of them already "old": they arrived after the start, so they stay
        let age = if n % 2 == 0 { "800 days" } else { "1 minute" };
        let id: i64 = w
            .query_one(
                "INSERT INTO events (kind, payload, created_at) VALUES ('new', 'ins', now() - $1::text::interval) RETURNING id",
                &[&age],
            )
            .await
            .unwrap()
            .get(0);
        inserted.push(id);
        let target = original_ids[rng.gen_range(0..original_ids.len())];
        let val = format!("upd-{n}");
        let hit = w
            .execute(
                "UPDATE events SET payload = $1 WHERE id = $2",
                &[&val, &target],
            )
            .await
            .unwrap();
        if hit == 1 {
            last_update.insert(target, val);
        }
    }
    let out = child.wait_with_output().unwrap();
    // --verify checks keys, so the writer's updates of rows in scope are no mismatch
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("ok: "), "{stdout}");
    assert!(n > 10, "the writer ran only {n} rounds");
    let mut seen: HashMap<i64, (String, &str)> = HashMap::new();
    for (table, label) in [("events", "source"), ("events_archive", "archive")] {
        for r in c
            .query(&format!("SELECT id, payload FROM {table}"), &[])
            .await
            .unwrap()
        {
            let id: i64 = r.get(0);
            let payload: Option<String> = r.get(1);
            assert!(
                seen.insert(id, (payload.unwrap_or_default(), label))
                    .is_none(),
                "row {id} is in both tables"
            );
        }
    }
    for id in original_ids.iter().chain(&inserted) {
        assert!(seen.contains_key(id), "row {id} was lost");
    }
    assert_eq!(seen.len(), original_ids.len() + inserted.len());
    for id in &inserted {
        assert_eq!(
            seen[id].1, "source",
            "row {id} arrived during the run but was archived"
        );
    }
    for (id, val) in &last_update {
        assert_eq!(&seen[id].0, val, "row {id} lost its last committed update");
    }
    let left: i64 = common::scalar(&c, &format!("SELECT count(*) FROM events WHERE created_at < now() - interval '365 days' AND id <= {ROWS}")).await;
    assert_eq!(
        left, 0,
        "old rows that existed at the start were left behind"
    );
}

#[tokio::test]
async fn ctrl_c_finishes_the_batch_and_stops_cleanly() {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let p = fresh_db("arch_sigint").await;
    let c = setup_conn(&p).await;
    make_table(&c, "events", ROWS).await;
    let original = rows(&c, "events").await;
    let args = [
        "--table",
        "events",
        "--older-than",
        "365d",
        "--execute",
        "--create",
        "--batch-size",
        "20",
        "--fixed-batch-size",
        "--sleep",
        "20",
        "--format",
        "json",
    ];
    let child = archive_cmd(&p, &args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // 130, as a shell reports a command Ctrl-C stopped: a script must not take it for done.
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("stopping after the current batch"),
        "{stderr}"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["stats"]["stopped"], "interrupted");
    let moved = v["stats"]["rows_archived"].as_i64().unwrap();
    assert!(moved > 0 && moved < v["stats"]["rows_in_scope"].as_i64().unwrap());
    // every batch it reported is complete: exactly that many rows are in the archive
    let (s, a) = rows_pair(&c, "events", "events_archive").await;
    assert_eq!(a.len() as i64, moved);
    assert_same(&union(&s, &a), &original, "after Ctrl-C");
    // --max-runtime stops the same way
    let (code, out, err) = run(
        &p,
        &[
            "--table",
            "events",
            "--older-than",
            "365d",
            "--execute",
            "--batch-size",
            "20",
            "--fixed-batch-size",
            "--sleep",
            "50",
            "--max-runtime",
            "300ms",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["stats"]["stopped"], "max-runtime");
}
