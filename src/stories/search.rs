//! Full-text search, the one place where the backends differ in SQL: SQLite's
//! FTS5 index (`stories_fts`, kept by triggers) and PostgreSQL's generated
//! `search_vector` (GIN-indexed). Both weight title over excerpt over body,
//! and stem English words; a reader's terms are all required, while
//! "similar stories" ([`Combine::Any`]) rank by however many match.

use diesel::dsl::{EqAny, sql};
use diesel::expression::AsExpression;
use diesel::expression::{SqlLiteral, UncheckedBind};
use diesel::sql_types::{Bool, Double, Nullable, Text};

use diesel::prelude::*;
use diesel::query_builder::QueryFragment;
use diesel::query_dsl::methods::LoadQuery;

use super::queries::{plan_of, public_at};
use crate::db::{DbConnection, MultiBackend};
use crate::schema::{stories, stories_fts};

/// SQL of type `T` around one bound text: the same Rust type on both backends.
pub type WithText<T> = SqlLiteral<T, UncheckedBind<SqlLiteral<T>, <String as AsExpression<Text>>::Expression>>;

/// How the words of a query combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Combine {
    /// Every word must match (a reader's search).
    All,
    /// Any word may match; more and rarer matches rank higher (similar stories).
    Any,
}

/// Whether a `stories` row matches `q`, answered from the full-text index.
pub fn matches(conn: &DbConnection, q: &str, combine: Combine) -> WithText<Bool> {
    match conn {
        DbConnection::Sqlite(_) => sql::<Bool>("stories.id IN (SELECT rowid FROM stories_fts WHERE stories_fts MATCH ")
            .bind::<Text, _>(fts5_query(q, combine))
            .sql(")"),
        DbConnection::Pg(_) => sql::<Bool>("stories.search_vector @@ websearch_to_tsquery('english', ")
            .bind::<Text, _>(websearch_query(q, combine))
            .sql(")"),
    }
}

/// SQLite only: the condition for a query that joins `stories_fts`; its
/// `rank` column is then the relevance.
pub fn fts5_match(q: &str, combine: Combine) -> WithText<Bool> {
    sql::<Bool>("stories_fts MATCH ").bind::<Text, _>(fts5_query(q, combine)).sql("")
}

/// How many of the newest stories matching a search are ranked. Ranking is
/// per match (bm25, `ts_rank`), so a common word would rank a fifth of a
/// big site on every request; instead the newest this many matches are
/// ranked, best first. Both indexes find them without ranking: FTS5 walks
/// its doclists in rowid order, PostgreSQL the primary key (or the GIN
/// index when the words are rare).
pub const CANDIDATES: i64 = 1_000;

/// The newest [`CANDIDATES`] stories that match `q` (of any status), newest
/// first: the stories a bounded search ranks. PostgreSQL's first page ranks
/// these ids ([`ranked_among`]): finding them reads each story's vector (a
/// common word's walk) or heap row (a rare word's), and a page that found
/// them again from their [`floor`] read it all twice. SQLite's page finds
/// them again from the floor, which costs FTS5 no more than the ids would.
pub fn candidates(conn: &mut DbConnection, q: &str, combine: Combine) -> QueryResult<Vec<i64>> {
    match conn {
        DbConnection::Sqlite(_) => fts5_candidates(q, combine).load(conn),
        DbConnection::Pg(_) => {
            let query = pg_candidates(conn, q, combine);
            query.load(conn)
        }
    }
}

/// The lowest id among a search's [`candidates`], from which a later page
/// ranks the matches again (the same stories as the first, kept in its
/// cursor); 0 when fewer than [`CANDIDATES`] matched, so all are ranked.
pub fn floor(candidates: &[i64]) -> i64 {
    match candidates.last() {
        Some(lowest) if candidates.len() as i64 == CANDIDATES => *lowest,
        _ => 0,
    }
}

/// PostgreSQL: the condition that a `stories` row is one of `candidates`,
/// each found by its key; they match, so `@@` is not tested again.
pub fn ranked_among(candidates: &[i64]) -> EqAny<stories::id, Vec<i64>> {
    stories::id.eq_any(candidates.to_vec())
}

/// How the database finds a reader's [`candidates`].
pub fn candidates_plan(conn: &mut DbConnection, q: &str) -> QueryResult<Vec<String>> {
    match conn {
        DbConnection::Sqlite(_) => plan_of(conn, fts5_candidates(q, Combine::All)),
        DbConnection::Pg(_) => {
            let query = pg_candidates(conn, q, Combine::All);
            plan_of(conn, query)
        }
    }
}

/// A query for story ids, on either backend.
trait IdQuery: QueryFragment<MultiBackend> + RunQueryDsl<DbConnection> + LoadQuery<'static, DbConnection, i64> {}

impl<Q> IdQuery for Q where
    Q: QueryFragment<MultiBackend> + RunQueryDsl<DbConnection> + LoadQuery<'static, DbConnection, i64>
{
}

/// FTS5 walks the words' doclists from the newest rowid down.
fn fts5_candidates(q: &str, combine: Combine) -> impl IdQuery + use<> {
    stories_fts::table
        .filter(fts5_match(q, combine))
        .select(stories_fts::rowid)
        .order(stories_fts::rowid.desc())
        .limit(CANDIDATES)
}

/// PostgreSQL's planner chooses by how common it expects the words to be
/// (the lexeme frequencies `ANALYZE` keeps for `search_vector`, which
/// migration `000009` makes cover a site's vocabulary): a common word's
/// newest matches come soon on a walk of the primary key from the newest
/// story, testing each story's vector; a rare word's would take most of
/// the site, so its few matches are read from the GIN index and the
/// newest taken.
fn pg_candidates(conn: &DbConnection, q: &str, combine: Combine) -> impl IdQuery + use<> {
    stories::table.filter(matches(conn, q, combine)).select(stories::id).order(stories::id.desc()).limit(CANDIDATES)
}

/// The ids of the `limit` public stories (other than `except`) most relevant
/// to `q` among the newest [`CANDIDATES`] matches, best first, with their
/// relevance (lower is better).
pub fn best_public_matches(
    conn: &mut DbConnection,
    q: &str,
    combine: Combine,
    except: i64,
    limit: i64,
) -> QueryResult<Vec<(i64, f64)>> {
    let at = crate::db::now();
    let candidates = candidates(conn, q, combine)?;
    match conn {
        DbConnection::Sqlite(_) => stories::table
            .inner_join(stories_fts::table.on(stories_fts::rowid.eq(stories::id)))
            .filter(fts5_match(q, combine))
            .filter(stories_fts::rowid.ge(floor(&candidates)))
            .filter(stories::id.ne(except))
            .filter(public_at(at))
            .select((stories::id, stories_fts::rank))
            .order(stories_fts::rank.asc())
            .limit(limit)
            .load(conn),
        DbConnection::Pg(_) => {
            let score = pg_score(q, combine);
            let rows: Vec<(i64, Option<f64>)> = stories::table
                .filter(ranked_among(&candidates))
                .filter(stories::id.ne(except))
                .filter(public_at(at))
                .select((stories::id, score.clone()))
                .order(score.asc())
                .limit(limit)
                .load(conn)?;
            Ok(rows.into_iter().map(|(id, score)| (id, score.unwrap_or(0.0))).collect())
        }
    }
}

/// The relevance of a matching `stories` row to `q` on PostgreSQL, lower is
/// better. (On SQLite the FTS5 table's `rank` is the relevance: join it, as
/// [`fts5_match`] says.) A plain call, evaluated on the rows the query
/// keeps (matches, or [`ranked_among`] the candidates): the query is parsed
/// once, when planned, and each vector read once more (a subquery
/// re-testing `@@` per row read it twice).
pub fn pg_score(q: &str, combine: Combine) -> WithText<Nullable<Double>> {
    sql::<Nullable<Double>>("-ts_rank(stories.search_vector, websearch_to_tsquery('english', ")
        .bind::<Text, _>(websearch_query(q, combine))
        .sql("))::float8")
}

/// The words of a query, as both backends' indexes see them: runs of letters
/// and digits.
pub fn words(q: &str) -> impl Iterator<Item = &str> {
    q.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty())
}

/// Words as an FTS5 query: each once (a repeated word adds cost, not
/// meaning) and quoted (so `"`, `*`, `-`, `NEAR` and friends are plain text,
/// never syntax), joined by AND or OR.
fn fts5_query(q: &str, combine: Combine) -> String {
    let mut seen = std::collections::HashSet::new();
    let quoted: Vec<String> = words(q).filter(|w| seen.insert(w.to_lowercase())).map(|w| format!("\"{w}\"")).collect();
    match (quoted.is_empty(), combine) {
        (true, _) => "\"\"".to_owned(),
        (false, Combine::All) => quoted.join(" "),
        (false, Combine::Any) => quoted.join(" OR "),
    }
}

/// A reader's query goes to `websearch_to_tsquery` as typed (it never fails
/// on syntax); for `Any`, the words joined by its `or`.
fn websearch_query(q: &str, combine: Combine) -> String {
    match combine {
        Combine::All => q.to_owned(),
        Combine::Any => words(q).collect::<Vec<_>>().join(" or "),
    }
}

#[cfg(test)]
mod tests {
    use super::{Combine, fts5_query, websearch_query};

    #[test]
    fn reader_input_is_never_fts5_syntax() {
        assert_eq!(fts5_query(r#"mother "NEAR(x" -moving* OR"#, Combine::All), r#""mother" "NEAR" "x" "moving" "OR""#);
        assert_eq!(fts5_query("—", Combine::All), r#""""#);
        assert_eq!(fts5_query("new mother", Combine::Any), r#""new" OR "mother""#);
        assert_eq!(fts5_query("Mother mother MOTHER day", Combine::All), r#""Mother" "day""#);
        assert_eq!(websearch_query("new, mother!", Combine::Any), "new or mother");
    }
}
