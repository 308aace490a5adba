//! Full-text search, the one place where the backends differ in SQL: SQLite's
//! FTS5 index (`stories_fts`, kept by triggers) and PostgreSQL's generated
//! `search_vector` (GIN-indexed). Both weight title over excerpt over body,
//! stem English words, and AND the terms a reader types.

use diesel::dsl::sql;
use diesel::expression::AsExpression;
use diesel::expression::{SqlLiteral, UncheckedBind};
use diesel::sql_types::{Bool, Double, Nullable, Text};

use crate::db::DbConnection;

/// SQL of type `T` around one bound text: the same Rust type on both backends.
pub type WithText<T> = SqlLiteral<T, UncheckedBind<SqlLiteral<T>, <String as AsExpression<Text>>::Expression>>;

/// Whether a `stories` row matches `q`, answered from the full-text index.
pub fn matches(conn: &DbConnection, q: &str) -> WithText<Bool> {
    match conn {
        DbConnection::Sqlite(_) => sql::<Bool>("stories.id IN (SELECT rowid FROM stories_fts WHERE stories_fts MATCH ")
            .bind::<Text, _>(fts5_query(q))
            .sql(")"),
        DbConnection::Pg(_) => sql::<Bool>("stories.search_vector @@ websearch_to_tsquery('english', ")
            .bind::<Text, _>(q.to_owned())
            .sql(")"),
    }
}

/// The relevance of a matching `stories` row to `q`: lower is better.
pub fn score(conn: &DbConnection, q: &str) -> WithText<Nullable<Double>> {
    match conn {
        DbConnection::Sqlite(_) => sql::<Nullable<Double>>(
            "(SELECT bm25(stories_fts, 10.0, 4.0, 1.0) FROM stories_fts \
              WHERE stories_fts.rowid = stories.id AND stories_fts MATCH ",
        )
        .bind::<Text, _>(fts5_query(q))
        .sql(")"),
        DbConnection::Pg(_) => sql::<Nullable<Double>>(
            "(SELECT -ts_rank(stories.search_vector, query)::float8 \
              FROM websearch_to_tsquery('english', ",
        )
        .bind::<Text, _>(q.to_owned())
        .sql(") AS query WHERE stories.search_vector @@ query)"),
    }
}

/// No score at all (NULL), in the same Rust type as [`score`], for lists
/// that are not searching.
pub fn no_score() -> WithText<Nullable<Double>> {
    sql::<Nullable<Double>>("CAST(NULLIF(").bind::<Text, _>(String::new()).sql(", '') AS DOUBLE PRECISION)")
}

/// A reader's words as an FTS5 query: each word quoted (so `"`, `*`, `-`,
/// `NEAR` and friends are plain text, never syntax), all required.
fn fts5_query(q: &str) -> String {
    let words: Vec<String> =
        q.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(|w| format!("\"{w}\"")).collect();
    if words.is_empty() { "\"\"".to_owned() } else { words.join(" ") }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reader_input_is_never_fts5_syntax() {
        assert_eq!(super::fts5_query(r#"mother "NEAR(x" -moving* OR"#), r#""mother" "NEAR" "x" "moving" "OR""#);
        assert_eq!(super::fts5_query("—"), r#""""#);
    }
}
