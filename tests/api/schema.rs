//! Both migration trees produce the same schema, and re-running is a no-op.
//! Full-text search is the one deliberate difference (`src/stories/search.rs`):
//! the FTS5 tables on SQLite and `stories.search_vector` on PostgreSQL are
//! left out of the comparison.

use anthology::db::{Db, DbConnection, run_migrations};
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};

use crate::common::{Backend, TestDb, test_config};

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord, QueryableByName)]
struct Column {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    data_type: String,
    #[diesel(sql_type = Bool)]
    nullable: bool,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord, QueryableByName)]
struct Index {
    #[diesel(sql_type = Text)]
    index_name: String,
}

/// Types reduced to what crosses both backends.
fn family(data_type: &str) -> &'static str {
    match data_type.to_ascii_lowercase().as_str() {
        "integer" | "bigint" | "smallint" => "integer",
        "text" | "character varying" => "text",
        "boolean" => "boolean",
        "timestamp" | "timestamp without time zone" => "timestamp",
        "double precision" | "real" | "double" => "float",
        other => panic!("unexpected column type {other}"),
    }
}

fn columns(conn: &mut DbConnection) -> Vec<Column> {
    let sql = match conn {
        DbConnection::Pg(_) => {
            "SELECT table_name::text AS table_name, column_name::text AS column_name, data_type::text AS data_type,
                    is_nullable = 'YES' AS nullable
             FROM information_schema.columns
             WHERE table_schema = 'public' AND table_name NOT LIKE '\\_\\_diesel%'
               AND NOT (table_name = 'stories' AND column_name = 'search_vector')"
        }
        DbConnection::Sqlite(_) => {
            "SELECT m.name AS table_name, p.name AS column_name, p.type AS data_type,
                    (p.\"notnull\" = 0 AND p.pk = 0) AS nullable
             FROM sqlite_master m JOIN pragma_table_info(m.name) p
             WHERE m.type = 'table' AND m.name NOT LIKE '\\_\\_diesel%' ESCAPE '\\' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
               AND m.name NOT LIKE 'stories\\_fts%' ESCAPE '\\'"
        }
    };
    let mut cols: Vec<Column> = diesel::sql_query(sql).load(conn).unwrap();
    for c in &mut cols {
        c.data_type = family(&c.data_type).to_owned();
    }
    cols.sort();
    cols
}

fn indexes(conn: &mut DbConnection) -> Vec<Index> {
    let sql = match conn {
        DbConnection::Pg(_) => {
            "SELECT indexname::text AS index_name FROM pg_indexes
             WHERE schemaname = 'public' AND indexname NOT LIKE '%\\_pkey' AND tablename NOT LIKE '\\_\\_diesel%'
               AND indexname <> 'stories_search'"
        }
        DbConnection::Sqlite(_) => {
            "SELECT name AS index_name FROM sqlite_master
             WHERE type = 'index' AND name NOT LIKE 'sqlite\\_autoindex%' ESCAPE '\\'"
        }
    };
    let mut idx: Vec<Index> = diesel::sql_query(sql).load(conn).unwrap();
    idx.sort();
    idx
}

fn migrated(backend: Backend) -> (TestDb, Db) {
    let test_db = TestDb::new(backend);
    let config = test_config(&test_db.url, &[]);
    let db = Db::connect(&config.database_url, 2, config.database_statement_timeout).unwrap();
    db.migrate().unwrap();
    (test_db, db)
}

#[test]
fn both_backends_end_up_with_the_same_schema() {
    let (_sqlite_db, sqlite) = migrated(Backend::Sqlite);
    let (_pg_db, pg) = migrated(Backend::Postgres);
    let (mut s, mut p) = (sqlite.conn().unwrap(), pg.conn().unwrap());
    let sqlite_columns = columns(&mut s);
    assert!(sqlite_columns.len() > 20, "{sqlite_columns:?}");
    assert_eq!(sqlite_columns, columns(&mut p));
    assert_eq!(indexes(&mut s), indexes(&mut p));
}

#[test]
fn migrations_rerun_as_no_ops_on_both_backends() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let (_test_db, db) = migrated(backend);
        let mut conn = db.conn().unwrap();
        run_migrations(&mut conn).unwrap();
        run_migrations(&mut conn).unwrap();
    }
}

#[test]
fn sqlite_runs_in_wal_mode_with_foreign_keys_and_a_busy_timeout() {
    #[derive(QueryableByName)]
    struct Pragma {
        #[diesel(sql_type = Text)]
        value: String,
    }
    let (_test_db, db) = migrated(Backend::Sqlite);
    let mut conn = db.conn().unwrap();
    let pragma = |conn: &mut DbConnection, name: &str| -> String {
        diesel::sql_query(format!("SELECT CAST({name} AS TEXT) AS value FROM pragma_{name}"))
            .get_result::<Pragma>(conn)
            .unwrap()
            .value
    };
    assert_eq!(pragma(&mut conn, "journal_mode"), "wal");
    assert_eq!(pragma(&mut conn, "foreign_keys"), "1");
    assert_eq!(
        diesel::sql_query("SELECT CAST(timeout AS TEXT) AS value FROM pragma_busy_timeout")
            .get_result::<Pragma>(&mut conn)
            .unwrap()
            .value,
        "10000"
    );
}
