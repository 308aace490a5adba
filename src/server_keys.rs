//! Secrets the server generates for itself and keeps in the database
//! (`server_keys`), so every process and every restart agrees on them: the
//! token signing keys ([`crate::auth::keys`]) and the voter-hash key
//! ([`crate::ratings::VoterHasher`]). This module owns that table.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::{DbConnection, Internal, Tx, now, stored_as_text};
use crate::schema::server_keys;

/// What a key is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPurpose {
    Jwt,
    VoterHash,
    Preview,
    /// Encrypts list cursors ([`crate::pagination::CursorKey`]).
    Cursor,
}

stored_as_text!(KeyPurpose { Jwt => "jwt", VoterHash => "voter-hash", Preview => "preview", Cursor => "cursor" });

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = server_keys)]
pub struct StoredKey {
    pub kid: String,
    #[diesel(deserialize_as = String)]
    pub secret: Secret,
    pub created_at: NaiveDateTime,
    /// When a newer key took over (signing keys only; `None` while it signs).
    pub retired_at: Option<NaiveDateTime>,
}

/// A key's secret bytes (stored as base64 text, used as bytes).
#[derive(Debug, Clone)]
pub struct Secret(pub Vec<u8>);

impl From<String> for Secret {
    fn from(stored: String) -> Self {
        Secret(stored.into_bytes())
    }
}

/// The keys for `purpose`, oldest first.
pub fn load(conn: &mut DbConnection, purpose: KeyPurpose) -> QueryResult<Vec<StoredKey>> {
    server_keys::table
        .filter(server_keys::purpose.eq(purpose.as_str()))
        .order((server_keys::created_at, server_keys::kid))
        .select(StoredKey::as_select())
        .load(conn)
}

/// The keys for `purpose`, oldest first, creating the first one when there
/// is none. Processes starting together all try to insert the same row; one
/// wins and the others read it.
pub fn ensure(tx: &mut Tx<'_, Internal>, purpose: KeyPurpose) -> QueryResult<Vec<StoredKey>> {
    let keys = load(tx, purpose)?;
    if !keys.is_empty() {
        return Ok(keys);
    }
    let inserted = tx.savepoint(|tx| insert(tx, purpose, &format!("{}-1", purpose.as_str())));
    match inserted {
        Ok(()) | Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {}
        Err(e) => return Err(e),
    }
    load(tx, purpose)
}

/// Adds a new random key for `purpose`; it is the newest.
pub fn add(tx: &mut Tx<'_, Internal>, purpose: KeyPurpose) -> QueryResult<()> {
    insert(tx, purpose, &format!("{}-{}", purpose.as_str(), uuid::Uuid::new_v4().simple()))
}

fn insert(tx: &mut Tx<'_, Internal>, purpose: KeyPurpose, kid: &str) -> QueryResult<()> {
    let secret = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    diesel::insert_into(server_keys::table)
        .values((
            server_keys::kid.eq(kid),
            server_keys::purpose.eq(purpose.as_str()),
            server_keys::secret.eq(&secret),
            server_keys::created_at.eq(now()),
        ))
        .execute(&mut **tx)
        .map(drop)
}

/// Records that the keys of `purpose` that have not retired yet (the one
/// in use) retire `at`: a newer key is about to take over.
pub fn retire(tx: &mut Tx<'_, Internal>, purpose: KeyPurpose, at: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(
        server_keys::table.filter(server_keys::purpose.eq(purpose.as_str())).filter(server_keys::retired_at.is_null()),
    )
    .set(server_keys::retired_at.eq(at))
    .execute(&mut **tx)
}

/// Deletes the keys named `kids`.
pub fn delete(tx: &mut Tx<'_, Internal>, kids: &[String]) -> QueryResult<usize> {
    diesel::delete(server_keys::table.filter(server_keys::kid.eq_any(kids))).execute(&mut **tx)
}
