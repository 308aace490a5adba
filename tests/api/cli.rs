//! The binary itself: configuration errors and the editors commands.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use anthology::config::Config;
use clap::CommandFactory;

use crate::common::{Backend, TestDb};

const BIN: &str = env!("CARGO_BIN_EXE_anthology");

fn anthology(db: &TestDb, args: &[&str], env: &[(&str, &str)], stdin: &str) -> (bool, String, String) {
    anthology_in(&std::env::temp_dir(), db, args, env, stdin)
}

fn anthology_in(dir: &Path, db: &TestDb, args: &[&str], env: &[(&str, &str)], stdin: &str) -> (bool, String, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .env_clear()
        .env("DATABASE_URL", &db.url)
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

#[test]
fn a_bad_configuration_value_stops_start_up_naming_the_variable() {
    let db = TestDb::new(Backend::Sqlite);
    for (variable, value) in [
        ("JWT_SECRET", "short"),
        ("ANTHOLOGY_ADDR", "nowhere"),
        ("JWT_TTL_SECONDS", "-5"),
        ("DATABASE_URL", "mysql://x"),
    ] {
        let (ok, _, stderr) = anthology(&db, &["serve"], &[(variable, value)], "");
        assert!(!ok, "{variable}={value} started");
        assert!(stderr.contains(variable), "{variable}: {stderr}");
    }
}

/// `--help`, for the program and for a command, lists every variable with
/// its default: one block per option, from `--option` to the next.
#[test]
fn help_lists_every_variable_with_its_default() {
    let db = TestDb::new(Backend::Sqlite);
    for args in [&["--help"][..], &["serve", "--help"], &["migrate", "--help"]] {
        let (ok, help, stderr) = anthology(&db, args, &[], "");
        assert!(ok, "{stderr}");
        let command = Config::command();
        for arg in command.get_arguments().filter(|arg| arg.get_id() != "help") {
            let variable = arg.get_env().unwrap().to_str().unwrap();
            let start = format!("--{} <{variable}>", arg.get_long().unwrap());
            let block = help.split_once(&start).unwrap_or_else(|| panic!("{args:?}: no {start} in {help}")).1;
            let block = block.split("\n      --").next().unwrap();
            assert!(block.contains(&format!("[env: {variable}")), "{args:?}: {start}{block}");
            for default in arg.get_default_values() {
                let default = format!("[default: {}]", default.to_str().unwrap());
                assert!(block.contains(&default), "{args:?}: {start}{block} lacks {default}");
            }
        }
    }
}

/// Options win over variables, even over a bad one; a blank variable is unset.
#[test]
fn options_override_variables_and_blank_variables_are_unset() {
    let db = TestDb::new(Backend::Sqlite);
    let (ok, _, stderr) = anthology(&db, &["migrate"], &[("JWT_TTL_SECONDS", "0")], "");
    assert!(!ok && stderr.contains("JWT_TTL_SECONDS"), "{stderr}");
    for args in [&["migrate", "--jwt-ttl-seconds", "60"][..], &["--jwt-ttl-seconds=60", "migrate"]] {
        let (ok, _, stderr) = anthology(&db, args, &[("JWT_TTL_SECONDS", "0")], "");
        assert!(ok, "{args:?}: {stderr}");
    }
    let (ok, _, stderr) = anthology(&db, &["migrate", "--database-pool-size", "0"], &[], "");
    assert!(!ok && stderr.contains("DATABASE_POOL_SIZE"), "{stderr}");

    let command = Config::command();
    let blank: Vec<(&str, &str)> = command
        .get_arguments()
        .filter_map(|arg| arg.get_env()?.to_str())
        .filter(|variable| !["DATABASE_URL", "RUST_LOG"].contains(variable))
        .map(|variable| (variable, " "))
        .collect();
    assert!(blank.len() >= 12);
    let (ok, _, stderr) = anthology(&db, &["migrate"], &blank, "");
    assert!(ok, "{stderr}");
}

/// `./.env` is read, and only the working directory's, not a parent's.
#[test]
fn dot_env_is_read_from_the_working_directory_only() {
    let db = TestDb::new(Backend::Sqlite);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".env"), "JWT_TTL_SECONDS=0\n").unwrap();
    std::fs::create_dir(dir.path().join("below")).unwrap();
    let (ok, _, stderr) = anthology_in(dir.path(), &db, &["migrate"], &[], "");
    assert!(!ok && stderr.contains("JWT_TTL_SECONDS"), "{stderr}");
    let (ok, _, stderr) = anthology_in(&dir.path().join("below"), &db, &["migrate"], &[], "");
    assert!(ok, "{stderr}");
    // The environment wins over .env.
    let (ok, _, stderr) = anthology_in(dir.path(), &db, &["migrate"], &[("JWT_TTL_SECONDS", "60")], "");
    assert!(ok, "{stderr}");

    std::fs::write(dir.path().join(".env"), "NOT A LINE = \"\n").unwrap();
    let (ok, _, stderr) = anthology_in(dir.path(), &db, &["migrate"], &[], "");
    assert!(!ok && stderr.contains(".env"), "{stderr}");
}

/// `openapi` needs no configuration: neither a bad variable nor a broken
/// `.env` stops it.
#[test]
fn openapi_ignores_the_configuration() {
    let db = TestDb::new(Backend::Sqlite);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".env"), "NOT A LINE = \"\n").unwrap();
    let env = [("DATABASE_URL", "mysql://x"), ("DATABASE_POOL_SIZE", "0"), ("JWT_SECRET", "short")];
    let (ok, stdout, stderr) = anthology_in(dir.path(), &db, &["openapi"], &env, "");
    assert!(ok, "{stderr}");
    assert_eq!(stdout, anthology::openapi::DOCUMENT_JSON.as_str());
}

#[test]
fn an_unreachable_postgres_is_reported_not_replaced_by_a_sqlite_file() {
    let db = TestDb::new(Backend::Sqlite);
    let (ok, _, stderr) = anthology(&db, &["migrate"], &[("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")], "");
    assert!(!ok);
    assert!(stderr.contains("cannot connect"), "{stderr}");
}

fn editors_commands_work(backend: Backend) {
    let db = TestDb::new(backend);
    let (ok, stdout, stderr) = anthology(
        &db,
        &["editors", "create", "--email", "Root@Example.com", "--role", "admin"],
        &[],
        "a long passphrase\n",
    );
    assert!(ok, "{stderr}");
    assert!(stdout.contains("created admin editor root@example.com"), "{stdout}");
    // From the environment too, and a short password is refused.
    let (ok, _, stderr) = anthology(
        &db,
        &["editors", "create", "--email", "ed@example.com"],
        &[("ANTHOLOGY_PASSWORD", "another long one")],
        "",
    );
    assert!(ok, "{stderr}");
    let (ok, _, stderr) = anthology(&db, &["editors", "create", "--email", "x@example.com"], &[], "short\n");
    assert!(!ok && stderr.contains("password"), "{stderr}");
    let (ok, _, stderr) =
        anthology(&db, &["editors", "create", "--email", "ROOT@example.com"], &[], "a long passphrase\n");
    assert!(!ok && stderr.contains("already exists"), "{stderr}");

    let (ok, stdout, _) = anthology(&db, &["editors", "disable", "--email", "ed@example.com"], &[], "");
    assert!(ok && stdout.contains("disabled ed@example.com"), "{stdout}");
    let (ok, stdout, _) = anthology(&db, &["editors", "list"], &[], "");
    assert!(ok);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines[0].contains("root@example.com\tadmin\tactive"), "{stdout}");
    assert!(lines[1].contains("ed@example.com\teditor\tdisabled"), "{stdout}");
}

/// The CLI goes through the same rules as the API: the last active admin
/// can be neither disabled nor demoted, until another admin exists.
fn the_cli_keeps_the_last_admin(backend: Backend) {
    let db = TestDb::new(backend);
    let create = |email: &str, role: &str| {
        let (ok, _, stderr) =
            anthology(&db, &["editors", "create", "--email", email, "--role", role], &[], "a long passphrase\n");
        assert!(ok, "{stderr}");
    };
    create("root@example.com", "admin");
    create("ed@example.com", "editor");
    for args in [
        ["editors", "disable", "--email", "root@example.com", "", ""],
        ["editors", "set-role", "--email", "root@example.com", "--role", "editor"],
    ] {
        let args: Vec<&str> = args.into_iter().filter(|a| !a.is_empty()).collect();
        let (ok, _, stderr) = anthology(&db, &args, &[], "");
        assert!(!ok && stderr.contains("last active admin"), "{args:?}: {stderr}");
    }
    let (ok, stdout, _) = anthology(&db, &["editors", "list"], &[], "");
    assert!(ok && stdout.contains("root@example.com\tadmin\tactive"), "{stdout}");

    let (ok, _, stderr) =
        anthology(&db, &["editors", "set-role", "--email", "ed@example.com", "--role", "admin"], &[], "");
    assert!(ok, "{stderr}");
    let (ok, stdout, stderr) = anthology(&db, &["editors", "disable", "--email", "root@example.com"], &[], "");
    assert!(ok && stdout.contains("disabled root@example.com"), "{stderr}");
    let (ok, _, stderr) = anthology(&db, &["editors", "disable", "--email", "nobody@example.com"], &[], "");
    assert!(!ok && stderr.contains("no editor has the email"), "{stderr}");
}

#[test]
fn the_cli_keeps_the_last_admin_on_sqlite() {
    the_cli_keeps_the_last_admin(Backend::Sqlite);
}

#[test]
fn the_cli_keeps_the_last_admin_on_postgres() {
    the_cli_keeps_the_last_admin(Backend::Postgres);
}

#[test]
fn keys_rotate_adds_a_key_or_explains_configured_secrets() {
    let db = TestDb::new(Backend::Sqlite);
    let (ok, stdout, stderr) = anthology(&db, &["keys", "rotate"], &[], "");
    assert!(ok && stdout.contains("new signing key"), "{stdout}{stderr}");
    let (ok, _, stderr) =
        anthology(&db, &["keys", "rotate"], &[("JWT_SECRET", "0123456789abcdef0123456789abcdef")], "");
    assert!(!ok && stderr.contains("JWT_PREVIOUS_SECRETS"), "{stderr}");
}

/// `keys revoke` drops a retired key at once: tokens it signed stop working
/// (here in a process that reads the keys afresh; running ones re-read them
/// within a minute), while `keys rotate` alone would keep them valid until
/// they expire. The key that signs now cannot be revoked.
async fn keys_revoke_shuts_out_the_old_keys_tokens(backend: Backend) {
    use anthology::editors::Role;
    let app = crate::common::TestApp::start(backend).await;
    app.create_editor("ada@example.com", Role::Editor);
    let old_token = app.login("ada@example.com").await;
    let old_kid = anthology::auth::keys::kid_of(&old_token).unwrap();
    let db = &app.test_db;

    let (ok, stdout, stderr) = anthology(db, &["keys", "rotate"], &[], "");
    assert!(ok, "{stderr}");
    let new_kid = stdout.split_whitespace().nth(3).unwrap().trim_end_matches(';').to_owned();
    let (ok, stdout, stderr) = anthology(db, &["keys", "list"], &[], "");
    assert!(ok, "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines[0].starts_with(&format!("{old_kid}\tcreated ")) && lines[0].contains("\tretired "), "{stdout}");
    assert!(lines[1].starts_with(&format!("{new_kid}\tcreated ")) && lines[1].ends_with("\tsigning"), "{stdout}");
    // After a rotation alone the old key's tokens still work.
    app.another_process(&[]).await.with_token(&old_token).get("/v1/auth/me").await.ok(200);

    let (ok, _, stderr) = anthology(db, &["keys", "revoke", &new_kid], &[], "");
    assert!(!ok && stderr.contains("rotate"), "{stderr}");
    let (ok, _, stderr) = anthology(db, &["keys", "revoke", "no-such-key"], &[], "");
    assert!(!ok && stderr.contains("no signing key"), "{stderr}");
    // Key ids are base64url: one beginning with `-` is an id, not an option.
    let (ok, _, stderr) = anthology(db, &["keys", "revoke", "-Yno-such-key"], &[], "");
    assert!(!ok && stderr.contains("no signing key"), "{stderr}");
    let (ok, stdout, stderr) = anthology(db, &["keys", "revoke", &old_kid], &[], "");
    assert!(ok && stdout.contains(&format!("revoked {old_kid}")), "{stdout}{stderr}");

    let later = app.another_process(&[]).await;
    later.with_token(&old_token).get("/v1/auth/me").await.problem(401);
    later.login("ada@example.com").await;
    let (ok, stdout, stderr) = anthology(db, &["keys", "revoke", "--all-but-current"], &[], "");
    assert!(ok && stdout.contains("no retired keys"), "{stdout}{stderr}");
    let (ok, _, stderr) = anthology(db, &["keys", "revoke"], &[], "");
    assert!(!ok, "{stderr}");
}

#[actix_web::test]
async fn keys_revoke_shuts_out_the_old_keys_tokens_on_sqlite() {
    keys_revoke_shuts_out_the_old_keys_tokens(Backend::Sqlite).await;
}

#[actix_web::test]
async fn keys_revoke_shuts_out_the_old_keys_tokens_on_postgres() {
    keys_revoke_shuts_out_the_old_keys_tokens(Backend::Postgres).await;
}

#[test]
fn editors_commands_work_on_sqlite() {
    editors_commands_work(Backend::Sqlite);
}

#[test]
fn editors_commands_work_on_postgres() {
    editors_commands_work(Backend::Postgres);
}

/// `anthology serve` stops cleanly on SIGTERM (exit status 0), as a process
/// manager or orchestrator expects.
#[test]
fn the_server_shuts_down_gracefully_on_sigterm() {
    use std::io::{BufRead, BufReader};
    let db = TestDb::new(Backend::Sqlite);
    let mut child = Command::new(BIN)
        .arg("serve")
        .env_clear()
        .env("DATABASE_URL", &db.url)
        .env("ANTHOLOGY_ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "info")
        .current_dir(std::env::temp_dir())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let listening =
        lines.by_ref().map_while(Result::ok).find(|line| line.contains("listening")).expect("the server did not start");
    // The log line is JSON: {"fields":{"addr":"127.0.0.1:PORT","message":"listening"},…}
    let log: serde_json::Value = serde_json::from_str(&listening).unwrap();
    let addr = log["fields"]["addr"].as_str().unwrap().to_owned();
    // Wait until it answers a request, not merely accepts a connection (the
    // socket listens before the server runs): then its signal handling is
    // installed, and the signal finds the server running.
    let answers = || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(&addr).ok()?;
        stream.set_read_timeout(Some(std::time::Duration::from_secs(2))).ok()?;
        stream.write_all(b"GET /health HTTP/1.0\r\n\r\n").ok()?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).ok()?;
        (answer.split_whitespace().nth(1) == Some("200")).then_some(())
    };
    let answered = (0..200).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        answers().is_some()
    });
    assert!(answered, "nothing answers on {addr}");
    std::thread::sleep(std::time::Duration::from_millis(200));
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status after SIGTERM: {status}");
}
