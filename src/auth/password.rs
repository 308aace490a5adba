//! Argon2id password hashing. Both operations cost tens of milliseconds of
//! CPU and about 19 MiB of memory by design, so callers run them on the
//! blocking pool, and logins take a turn from [`CheckSlots`] first.

use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use argon2::password_hash::PasswordHasher;
use argon2::password_hash::phc::{Output, PasswordHash};
use argon2::{Algorithm, Argon2, Block, Params, Version};

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
/// against a dummy so that both cases take the same time. The Argon2
/// working memory is the turn's, reused from check to check.
pub fn verify(turn: &mut Turn, password: &str, stored_hash: Option<&str>) -> bool {
    static DUMMY: LazyLock<String> =
        LazyLock::new(|| hash("not a real password, only spends the time").expect("hashing a constant works"));
    match stored_hash {
        Some(encoded) => matches(password.as_bytes(), encoded, &mut turn.memory),
        None => {
            matches(password.as_bytes(), &DUMMY, &mut turn.memory);
            false
        }
    }
}

/// Whether `encoded` is a password hash this server can check a password
/// against (an Argon2 PHC string with its parameters, salt and hash).
pub fn is_stored_hash(encoded: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(encoded) else { return false };
    let algorithm = Algorithm::try_from(parsed.algorithm.as_str());
    let version = parsed.version.map_or(Ok(Version::default()), Version::try_from);
    algorithm.is_ok()
        && version.is_ok()
        && Params::try_from(&parsed).is_ok()
        && parsed.salt.is_some()
        && parsed.hash.is_some()
}

/// What argon2's `verify_password` does, but in `memory` instead of a fresh
/// allocation: allocating ~19 MiB per check made the allocator keep a copy
/// in every arena a check ever ran in (hundreds of MiB after a burst, with
/// two checks at a time); a buffer per turn keeps the total at one per turn.
fn matches(password: &[u8], encoded: &str, memory: &mut Vec<Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(encoded) else { return false };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else { return false };
    let algorithm = Algorithm::try_from(parsed.algorithm.as_str());
    let version = parsed.version.map_or(Ok(Version::default()), Version::try_from);
    let (Ok(algorithm), Ok(version), Ok(params)) = (algorithm, version, Params::try_from(&parsed)) else {
        return false;
    };
    if memory.len() < params.block_count() {
        // Only for a hash made with more memory than any before it.
        memory.resize(params.block_count(), Block::default());
    }
    let mut computed = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password, salt, &mut computed, &mut memory[..])
        .is_ok()
        // `Output` compares in constant time.
        && Output::new(&computed).is_ok_and(|computed| computed == *expected)
}

/// Bounds how many password checks run at once (about one per core: more
/// only queue for the CPU while each holds its memory). A login waits a
/// little for a turn; past that it is refused with 503 and `Retry-After`
/// rather than queued without bound. Each turn lends the check a working
/// memory (about 19 MiB) that is kept for the next turn while a burst of
/// logins lasts, so a burst costs at most `slots` checks' memory, allocated
/// once; the last turn of a burst frees it all, so the process does not
/// carry it between logins. (Freed blocks this large go back to the system:
/// `main` fixes glibc's mmap threshold.)
pub struct CheckSlots {
    slots: Arc<Semaphore>,
    memories: Arc<Mutex<Memories>>,
    wait: Duration,
}

/// The working memories of the turns, and how many turns are out.
#[derive(Default)]
struct Memories {
    idle: Vec<Vec<Block>>,
    turns_out: usize,
}

/// How long a login waits for a turn before it is refused.
pub const CHECK_WAIT: Duration = Duration::from_secs(2);

/// A turn to check a password, with the memory to do it in; both go back
/// when it is dropped.
pub struct Turn {
    _permit: OwnedSemaphorePermit,
    memory: Vec<Block>,
    memories: Arc<Mutex<Memories>>,
}

impl Drop for Turn {
    fn drop(&mut self) {
        let memory = std::mem::take(&mut self.memory);
        let mut memories = self.memories.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        memories.turns_out -= 1;
        let freed = if memories.turns_out == 0 {
            std::mem::take(&mut memories.idle)
        } else {
            memories.idle.push(memory);
            Vec::new()
        };
        // Freed outside the lock.
        drop(memories);
        drop(freed);
    }
}

impl CheckSlots {
    pub fn new(slots: usize, wait: Duration) -> Self {
        Self { slots: Arc::new(Semaphore::new(slots.max(1))), memories: Arc::default(), wait }
    }

    /// A turn to check a password. Hold it until the check is done, also
    /// when the request goes away meanwhile: move it into the blocking task.
    pub async fn turn(&self) -> Result<Turn, ApiError> {
        match actix_web::rt::time::timeout(self.wait, self.slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => {
                let mut memories = self.memories.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                memories.turns_out += 1;
                // There are never more memories than slots: each is taken with a permit.
                let memory = memories.idle.pop().unwrap_or_default();
                Ok(Turn { _permit: permit, memory, memories: self.memories.clone() })
            }
            // Timed out (or, never, closed): busy.
            _ => Err(ApiError::Busy { retry_after_secs: self.wait.as_secs().max(1) }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_web::test]
    async fn verifies_in_the_turns_memory_which_is_kept_while_a_burst_lasts() {
        let slots = CheckSlots::new(2, Duration::from_secs(1));
        let stored = hash("correct horse").unwrap();
        let other = slots.turn().await.unwrap();
        let mut turn = slots.turn().await.unwrap();
        assert!(verify(&mut turn, "correct horse", Some(&stored)));
        assert!(!verify(&mut turn, "wrong horse", Some(&stored)));
        assert!(!verify(&mut turn, "correct horse", None));
        assert!(!verify(&mut turn, "correct horse", Some("not a PHC string")));
        let memory = turn.memory.as_ptr();
        assert_eq!(turn.memory.len(), Params::DEFAULT.block_count());
        drop(turn);
        // Another turn is still out: the memory waits for the next.
        let turn = slots.turn().await.unwrap();
        assert_eq!(turn.memory.as_ptr(), memory, "the same memory, not a new one");
        drop(turn);
        assert_eq!(slots.memories.lock().unwrap().idle.len(), 1);
        // The last turn out frees every memory kept.
        drop(other);
        let memories = slots.memories.lock().unwrap();
        assert_eq!((memories.idle.len(), memories.turns_out), (0, 0));
    }

    #[actix_web::test]
    async fn turns_beyond_the_slots_are_refused_after_a_short_wait() {
        let slots = CheckSlots::new(2, Duration::from_millis(50));
        let first = slots.turn().await.unwrap();
        let _second = slots.turn().await.unwrap();
        let started = std::time::Instant::now();
        let Err(refused) = slots.turn().await else { panic!("a third turn with two slots") };
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
