//! Every public list is an index walk, on both backends: the query plans of
//! `anthology plans` (the queries the app runs, built by the same code) over
//! a site from `anthology seed` with fresh statistics. Plans, not timings:
//! a change that makes a list scan or sort all the stories fails here,
//! whatever the machine.

use std::process::Command;

use crate::common::{Backend, TestDb};

const BIN: &str = env!("CARGO_BIN_EXE_anthology");

fn anthology(db: &TestDb, args: &[&str]) -> String {
    let out =
        Command::new(BIN).args(args).env_clear().env("DATABASE_URL", &db.url).env("RUST_LOG", "warn").output().unwrap();
    assert!(out.status.success(), "anthology {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// `anthology plans`' output: each path with its plan's lines.
fn plans(output: &str) -> Vec<(String, Vec<String>)> {
    let mut plans: Vec<(String, Vec<String>)> = Vec::new();
    for line in output.lines() {
        match (line.strip_prefix("    "), plans.last_mut()) {
            (Some(step), Some((_, steps))) => steps.push(step.trim().to_owned()),
            _ => plans.push((line.to_owned(), Vec::new())),
        }
    }
    plans
}

/// A whole-table scan of `stories` (SQLite, PostgreSQL).
fn scans_stories(step: &str) -> bool {
    step == "SCAN stories" || step.starts_with("SCAN stories ") || step.starts_with("Seq Scan on stories")
}

/// A sort of what was found, rather than a walk in the list's order.
fn sorts(step: &str) -> bool {
    step.contains("TEMP B-TREE FOR ORDER BY") || step.starts_with("Sort") || step.starts_with("Incremental Sort")
}

async fn no_public_list_scans_or_sorts_the_stories(backend: Backend) {
    let db = TestDb::new(backend);
    anthology(&db, &["seed", "--stories", "8000", "--votes", "16000"]);
    let plans = plans(&anthology(&db, &["plans"]));
    assert_eq!(plans.len(), 12, "{plans:#?}");
    for (path, steps) in &plans {
        assert!(!steps.is_empty(), "{path} has no plan");
        assert!(!steps.iter().any(|s| scans_stories(s)), "{path} scans the stories: {steps:#?}");
        // A search ranks what the full-text index found: sorted, not walked.
        // And PostgreSQL may sort one author's stories, rather than walk
        // the author's index, when it expects few: a sort of those, never
        // of the table (it walks the index when the author has many).
        if !path.contains("?q=") && !path.contains("?author=") {
            assert!(!steps.iter().any(|s| sorts(s)), "{path} sorts: {steps:#?}");
        }
    }
}

crate::on_both_backends!(no_public_list_scans_or_sorts_the_stories);
