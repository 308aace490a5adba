//! Every public list is an index walk, on both backends: the query plans of
//! `anthology plans` (the queries the app runs, built by the same code) over
//! a site from `anthology seed` with fresh statistics. Plans, not timings:
//! a change that makes a list scan or sort all the stories fails here,
//! whatever the machine.

use std::process::Command;

use diesel::sql_types::Text;
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl};

use crate::common::{Backend, TestDb};

const BIN: &str = env!("CARGO_BIN_EXE_anthology");

pub(crate) fn anthology(db: &TestDb, args: &[&str]) -> String {
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

/// The seed's commonest word (in 27 % of stories) and a rare one (0.2 %).
pub(crate) const COMMON: &str = "mother";
const RARE: &str = "quinquindora";

async fn no_public_list_scans_or_sorts_the_stories(backend: Backend) {
    let db = TestDb::new(backend);
    anthology(&db, &["seed", "--stories", "8000", "--votes", "16000"]);
    let plans = plans(&anthology(&db, &["plans", "--search", COMMON, "--search", RARE]));
    // 13 lists, then each search's first page, later page and candidates: a
    // title word's, and the two here.
    assert_eq!(plans.len(), 13 + 3 * 3, "{plans:#?}");
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
    search_candidates_take_the_path_that_suits_the_word(backend, &plans);
    // By rating: down the ratings rows' index of published stories, each
    // row's story then found by its key.
    for path in ["/v1/stories?sort=-rating", "/v1/stories?sort=-rating&cursor=(a later page)"] {
        let steps = &plans.iter().find(|(p, _)| p == path).unwrap_or_else(|| panic!("no plan of {path}")).1;
        assert!(steps.iter().any(|s| s.contains("story_ratings_by_rank")), "{path}: {steps:#?}");
    }
}

/// A search's newest matches: on SQLite a walk of the word's doclist from
/// the newest story (FTS5 keeps it in rowid order). On PostgreSQL, for a
/// common word, the primary key from the newest story (its thousand matches
/// come soon) and never the GIN index, whose posting list for the word
/// holds a quarter of the site; for a rare word, the GIN index, since the
/// walk would cross most of the site. Its first page then ranks those
/// stories by their ids, through the primary key, and never finds them
/// again (neither the GIN index nor a test of each story's vector); a later
/// page finds them again from the lowest of them, by the path that suits
/// the word: a common word's by the key's range, a rare word's from the GIN
/// index alone (the key's range would be most of the site). On this small
/// seed a common word's range may also be ANDed with the GIN bitmap (with
/// the vectors in the rows the two cost within a tenth of each other here;
/// at 100,000 and 1,000,000 stories the key is walked alone), but never
/// the GIN index alone, which would read every match.
fn search_candidates_take_the_path_that_suits_the_word(backend: Backend, plans: &[(String, Vec<String>)]) {
    let plan = |path: String| {
        plans.iter().find(|(p, _)| *p == path).map(|(_, steps)| steps).unwrap_or_else(|| panic!("no plan of {path}"))
    };
    let candidates = |word: &str| plan(format!("/v1/stories?q={word} (its newest matches)"));
    let first = |word: &str| plan(format!("/v1/stories?q={word}"));
    let later = |word: &str| plan(format!("/v1/stories?q={word}&cursor=(a later page)"));
    let (common, rare) = (candidates(COMMON), candidates(RARE));
    match backend {
        Backend::Sqlite => {
            for steps in [common, rare] {
                assert!(steps.iter().any(|s| s.starts_with("SCAN stories_fts VIRTUAL TABLE")), "{steps:#?}");
                assert!(!steps.iter().any(|s| sorts(s)), "{steps:#?}");
            }
        }
        Backend::Postgres => {
            assert!(common.iter().any(|s| s == "Index Scan Backward using stories_pkey on stories"), "{common:#?}");
            assert!(!common.iter().any(|s| s.contains("stories_search")), "{common:#?}");
            assert!(rare.iter().any(|s| s == "Bitmap Index Scan using stories_search"), "{rare:#?}");
            assert!(!rare.iter().any(|s| s.contains("stories_pkey")), "{rare:#?}");
            for word in [COMMON, RARE] {
                let steps = first(word);
                assert!(steps.iter().any(|s| s.contains("using stories_pkey")), "{word}: {steps:#?}");
                assert!(!steps.iter().any(|s| s.contains("stories_search")), "{word}: {steps:#?}");
                assert!(!steps.iter().any(|s| s.contains("Backward")), "{word}: {steps:#?}");
            }
            let (common, rare) = (later(COMMON), later(RARE));
            assert!(common.iter().any(|s| s.contains("using stories_pkey")), "{common:#?}");
            assert!(rare.iter().any(|s| s == "Bitmap Index Scan using stories_search"), "{rare:#?}");
            assert!(!rare.iter().any(|s| s.contains("stories_pkey")), "{rare:#?}");
        }
    }
}

crate::on_both_backends!(no_public_list_scans_or_sorts_the_stories);

/// PostgreSQL stores each story's `search_vector` in the story's row
/// (`MAIN`, migration `000012`), not out of line as a value of its size
/// would be by default: the walks and ranking above test and read it
/// without the TOAST table.
#[test]
fn postgres_keeps_the_search_vector_in_the_row() {
    #[derive(QueryableByName)]
    struct Storage {
        #[diesel(sql_type = Text)]
        attstorage: String,
    }
    let db = TestDb::new(Backend::Postgres);
    anthology(&db, &["migrate"]);
    let storage: Storage = diesel::sql_query(
        "SELECT attstorage::text AS attstorage FROM pg_attribute
         WHERE attrelid = 'stories'::regclass AND attname = 'search_vector'",
    )
    .get_result(&mut PgConnection::establish(&db.url).unwrap())
    .unwrap();
    assert_eq!(storage.attstorage, "m");
}
