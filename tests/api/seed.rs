//! `anthology seed` builds a site the app could have written, on both
//! backends: every derived figure agrees with the rows it derives from, the
//! full-text index finds the seeded words, and the schema afterwards is the
//! migrations' own (on SQLite the seed sets the full-text triggers aside
//! for the load and puts them back), so later writes are indexed too.

use std::process::Command;

use anthology::db::{Db, DbConnection};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use serde_json::json;

use crate::common::{Backend, TestApp, TestDb, test_config};

const BIN: &str = env!("CARGO_BIN_EXE_anthology");

/// Each counts the rows whose derived data disagrees with its source: all
/// must be 0. The same SQL on both backends.
const DISAGREEMENTS: [(&str, &str); 4] = [
    (
        "tag counters",
        "SELECT COUNT(*) AS n FROM tags WHERE published_count <> \
           (SELECT COUNT(*) FROM story_tags WHERE story_tags.tag_id = tags.id)",
    ),
    (
        "the tag index's publication times",
        "SELECT COUNT(*) AS n FROM story_tags JOIN stories ON stories.id = story_tags.story_id \
         WHERE story_tags.published_at IS NULL OR story_tags.published_at <> stories.published_at",
    ),
    (
        "the site's totals",
        "SELECT COUNT(*) AS n FROM (SELECT SUM(vote_count) AS votes, SUM(vote_sum) AS score FROM rating_totals) t \
         WHERE votes <> (SELECT COUNT(*) FROM ratings) OR score <> (SELECT SUM(score) FROM ratings)",
    ),
    (
        "suggestion computations queued",
        "SELECT COUNT(*) AS n FROM stories WHERE status = 'published' \
           AND NOT EXISTS (SELECT 1 FROM suggestion_queue q WHERE q.story_id = stories.id)",
    ),
];

/// The same for every story's ratings row, whatever the stories' states:
/// one per story, its counters those of its votes, its copy of the
/// publication time the story's while it is published.
pub(crate) const RATINGS_ROWS_DISAGREE: [(&str, &str); 2] = [
    (
        "rating counters",
        "SELECT COUNT(*) AS n FROM stories LEFT JOIN story_ratings r ON r.story_id = stories.id WHERE \
           r.story_id IS NULL \
           OR r.rating_count <> (SELECT COUNT(*) FROM ratings WHERE story_id = stories.id) \
           OR r.rating_sum <> (SELECT COALESCE(SUM(score), 0) FROM ratings WHERE story_id = stories.id) \
           OR r.rating_1 <> (SELECT COUNT(*) FROM ratings WHERE story_id = stories.id AND score = 1) \
           OR r.rating_2 <> (SELECT COUNT(*) FROM ratings WHERE story_id = stories.id AND score = 2) \
           OR r.rating_3 <> (SELECT COUNT(*) FROM ratings WHERE story_id = stories.id AND score = 3) \
           OR r.rating_4 <> (SELECT COUNT(*) FROM ratings WHERE story_id = stories.id AND score = 4) \
           OR r.rating_5 <> (SELECT COUNT(*) FROM ratings WHERE story_id = stories.id AND score = 5)",
    ),
    (
        "the ratings rows' publication times",
        "SELECT COUNT(*) AS n FROM stories JOIN story_ratings r ON r.story_id = stories.id \
         WHERE (stories.status = 'published') <> (r.published_at IS NOT NULL) \
           OR r.published_at <> stories.published_at",
    ),
];

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord, QueryableByName)]
struct SchemaObject {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    sql: String,
}

pub(crate) fn count(conn: &mut DbConnection, sql: &str) -> i64 {
    diesel::sql_query(sql).get_result::<Count>(conn).unwrap().n
}

pub(crate) fn migrated(test_db: &TestDb) -> Db {
    let config = test_config(&test_db.url, &[]);
    let db = Db::connect(&config.database_url, 1, config.database_statement_timeout).unwrap();
    db.migrate().unwrap();
    db
}

/// SQLite's schema as stored: every table, index, trigger and view with
/// its SQL, which is the migrations' text.
fn sqlite_schema(conn: &mut DbConnection) -> Vec<SchemaObject> {
    let mut objects: Vec<SchemaObject> = diesel::sql_query(
        "SELECT type AS kind, name, COALESCE(sql, '') AS sql FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_stat%' ESCAPE '\\'",
    )
    .load(conn)
    .unwrap();
    objects.sort();
    objects
}

async fn a_seeded_site_is_consistent_and_indexed(backend: Backend) {
    let test_db = TestDb::new(backend);
    let out = Command::new(BIN)
        .args(["seed", "--stories", "3000", "--votes", "20000"])
        .env_clear()
        .env("DATABASE_URL", &test_db.url)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let db = migrated(&test_db);
    let mut conn = db.conn().unwrap();
    assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM stories"), 3000);
    assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM ratings"), 20000);
    for (what, sql) in DISAGREEMENTS.iter().chain(&RATINGS_ROWS_DISAGREE) {
        assert_eq!(count(&mut conn, sql), 0, "{what} disagree with the rows");
    }
    // The full-text index holds exactly the stories that have the word.
    let (indexed, having) = match &*conn {
        DbConnection::Sqlite(_) => (
            "SELECT COUNT(*) AS n FROM stories_fts WHERE stories_fts MATCH 'harbour'",
            "SELECT COUNT(*) AS n FROM stories WHERE title LIKE '%harbour%' OR body LIKE '%harbour%'",
        ),
        DbConnection::Pg(_) => (
            "SELECT COUNT(*) AS n FROM stories WHERE search_vector @@ to_tsquery('english', 'harbour')",
            "SELECT COUNT(*) AS n FROM stories WHERE title ILIKE '%harbour%' OR body ILIKE '%harbour%'",
        ),
    };
    let found = count(&mut conn, indexed);
    assert!(found > 0);
    assert_eq!(found, count(&mut conn, having));
    if let DbConnection::Sqlite(_) = &*conn {
        let fresh = TestDb::new(Backend::Sqlite);
        let fresh_db = migrated(&fresh);
        assert_eq!(sqlite_schema(&mut conn), sqlite_schema(&mut fresh_db.conn().unwrap()));
    }
    drop((conn, db));

    // A story written after the seed is found by search: the index is kept again.
    let app = TestApp::start_on(test_db, &[]).await;
    let editor = app.editor().await;
    let story = editor.create_story(json!({"title": "Zebrafish at dusk", "body": "A quiet tank."})).await;
    editor.publish(&story["id"], None).await;
    let found = app.anon().get("/v1/stories?q=zebrafish").await.ok(200);
    assert_eq!(found["data"][0]["id"], story["id"]);
    assert_eq!(found["data"].as_array().unwrap().len(), 1);
}

crate::on_both_backends!(a_seeded_site_is_consistent_and_indexed);
