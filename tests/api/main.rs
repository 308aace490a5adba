//! The integration suite: the real app over real HTTP, each test on a fresh
//! SQLite file and a fresh PostgreSQL database.

mod auth;
mod cli;
mod common;
mod editors;
mod encoding;
mod errors;
mod feeds;
mod live_votes;
mod metrics;
mod openapi;
mod plans;
mod preview;
mod ratings;
mod related;
mod schema;
mod seed;
mod service;
mod stories;
mod story_edits;
mod story_lifecycle;
mod story_reads;
mod transfer;
mod webhooks;
