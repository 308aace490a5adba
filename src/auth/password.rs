//! Argon2id password hashing. Both operations cost tens of milliseconds of
//! CPU and about 19 MiB of memory by design, so callers run them on the
//! blocking pool, and logins take a turn from [`CheckSlots`] first.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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

/// Bounds how many password checks run at once (about one per core: more
/// only queue for the CPU while each holds its memory). A login waits a
/// little for a turn; past that it is refused with 503 and `Retry-After`
/// rather than queued without bound, so a burst of logins costs at most
/// `slots` checks' memory.
pub struct CheckSlots {
    slots: Arc<Semaphore>,
    wait: Duration,
}

/// How long a login waits for a turn before it is refused.
pub const CHECK_WAIT: Duration = Duration::from_secs(2);

impl CheckSlots {
    pub fn new(slots: usize, wait: Duration) -> Self {
        Self { slots: Arc::new(Semaphore::new(slots.max(1))), wait }
    }

    /// A turn to check a password. Hold it until the check is done, also
    /// when the request goes away meanwhile: move it into the blocking task.
    pub async fn turn(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        match actix_web::rt::time::timeout(self.wait, self.slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            // Timed out (or, never, closed): busy.
            _ => Err(ApiError::Busy { retry_after_secs: self.wait.as_secs().max(1) }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_web::test]
    async fn turns_beyond_the_slots_are_refused_after_a_short_wait() {
        let slots = CheckSlots::new(2, Duration::from_millis(50));
        let first = slots.turn().await.unwrap();
        let _second = slots.turn().await.unwrap();
        let started = std::time::Instant::now();
        let refused = slots.turn().await.unwrap_err();
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert!(matches!(refused, ApiError::Busy { retry_after_secs: 1 }), "{refused:?}");
        use actix_web::ResponseError;
        let response = refused.error_response();
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers().get("retry-after").unwrap(), "1");
        // A turn given back is taken by the next waiter.
        drop(first);
        drop(slots.turn().await.unwrap());
    }

    #[actix_web::test]
    async fn a_burst_runs_at_most_slots_checks_at_once() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let slots = Arc::new(CheckSlots::new(2, Duration::from_millis(300)));
        let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let attempts = (0..40).map(|_| {
            let (slots, running, most) = (slots.clone(), running.clone(), most.clone());
            async move {
                let turn = slots.turn().await?;
                actix_web::web::block(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(40));
                    running.fetch_sub(1, Ordering::SeqCst);
                    drop(turn);
                })
                .await
                .unwrap();
                Ok::<_, ApiError>(())
            }
        });
        let outcomes = futures_util::future::join_all(attempts).await;
        let busy = outcomes.iter().filter(|o| matches!(o, Err(ApiError::Busy { .. }))).count();
        assert_eq!(most.load(Ordering::SeqCst), 2);
        // 40 checks of 40 ms on 2 slots take 800 ms; a 300 ms wait refuses some.
        assert!(busy > 0 && busy < 40, "{busy} refused");
        assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count() + busy, 40);
    }
}
