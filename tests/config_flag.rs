//! `--config FILE` is the rule settings file of every command that runs rules: `advise` and
//! `explain` read it (and not `./dbopt.toml`) when it is given, against a real server.

mod common;

/// A database with one table and the URL to reach it.
async fn db(tag: &str) -> String {
    let p = common::fresh_db(tag).await;
    common::setup_conn(&p)
        .await
        .batch_execute(
            "CREATE TABLE orders (id int PRIMARY KEY, customer int, total numeric);
             INSERT INTO orders SELECT g, g % 500, g FROM generate_series(1, 5000) g;
             ANALYZE orders;",
        )
        .await
        .unwrap();
    p.url_with_password()
}

/// A working directory whose `./dbopt.toml` is broken, with a broken and a valid other file.
struct Dir {
    dir: tempfile::TempDir,
}

impl Dir {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let broken = "[rules.no-such-rule]\nenabled = true\n";
        std::fs::write(dir.path().join("dbopt.toml"), broken).unwrap();
        std::fs::write(dir.path().join("broken.toml"), broken).unwrap();
        std::fs::write(
            dir.path().join("good.toml"),
            "[rules.slow-query]\nenabled = false\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("q.sql"),
            "SELECT * FROM orders WHERE customer = 7;\n",
        )
        .unwrap();
        Dir { dir }
    }

    fn run(&self, url: &str, args: &[&str], config: &str) -> std::process::Output {
        common::dbopt()
            .current_dir(self.dir.path())
            .args(["--database-url", url])
            .args(args)
            .args(["--config", config])
            .output()
            .unwrap()
    }
}

#[tokio::test]
async fn advise_reads_the_config_it_is_given() {
    let url = db("config_advise").await;
    let d = Dir::new();
    let advise = ["advise", "--queries", "q.sql"];
    // The valid file wins over the broken ./dbopt.toml ...
    common::assert_success(&d.run(&url, &advise, "good.toml"));
    // ... and a broken file given is reported, naming the rule.
    let out = d.run(&url, &advise, "broken.toml");
    common::assert_clean_error(&out, &["no-such-rule", "hint:"]);
}

#[tokio::test]
async fn explain_reads_the_config_it_is_given() {
    let url = db("config_explain").await;
    let d = Dir::new();
    let explain = ["explain", "SELECT * FROM orders WHERE customer = 7"];
    common::assert_success(&d.run(&url, &explain, "good.toml"));
    let out = d.run(&url, &explain, "broken.toml");
    common::assert_clean_error(&out, &["no-such-rule", "hint:"]);
}
