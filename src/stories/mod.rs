//! Stories: the published pieces, their lifecycle and their derived fields.
//!
//! Routes: `handlers.rs`. SQL: `queries.rs`. Wire types: `dto.rs`.
//! Derivations from the Markdown body (HTML, excerpt, counts, slugs): `content.rs`.

pub mod content;
pub mod dto;
pub mod handlers;
pub mod queries;

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where a story is in its life. `scheduled` is not stored: it is a
/// `published` story whose `published_at` is still in the future, so it
/// turns public by itself when that moment passes, with no job to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Draft,
    Scheduled,
    Published,
    Archived,
}

impl Status {
    /// The status a reader sees, from the stored one and the publication time.
    pub fn at(stored: &str, published_at: Option<NaiveDateTime>, now: NaiveDateTime) -> Status {
        match stored {
            "published" if published_at.is_some_and(|at| at > now) => Status::Scheduled,
            "published" => Status::Published,
            "archived" => Status::Archived,
            _ => Status::Draft,
        }
    }
}
