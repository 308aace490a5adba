//! Argon2id password hashing. Both operations cost tens of milliseconds of
//! CPU by design, so callers run them on the blocking pool.

use std::sync::LazyLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash};

use crate::error::ApiError;

pub fn hash(password: &str) -> Result<String, ApiError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| ApiError::internal(anyhow::anyhow!("hashing a password: {e}")))
}

/// [`hash`] on the blocking pool, for request handlers.
pub async fn hash_off_thread(password: String) -> Result<String, ApiError> {
    actix_web::web::block(move || hash(&password)).await.map_err(ApiError::internal)?
}

/// Verifies against the stored hash; with no hash (unknown email) it verifies
/// against a dummy so that both cases take the same time.
pub fn verify(password: &str, stored_hash: Option<&str>) -> bool {
    static DUMMY: LazyLock<String> =
        LazyLock::new(|| hash("not a real password, only spends the time").expect("hashing a constant works"));
    let matches = |encoded: &str| {
        PasswordHash::new(encoded)
            .is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
    };
    match stored_hash {
        Some(encoded) => matches(encoded),
        None => {
            matches(&DUMMY);
            false
        }
    }
}
