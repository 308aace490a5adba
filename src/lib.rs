//! Anthology: a headless content API for story publishing.
//!
//! Where things are:
//! - every route is mounted in `routes`; each resource module (`auth`,
//!   `editors`, `stories`, `ratings`, `related`, `service`) keeps its
//!   handlers in `handlers.rs` (thin: read parameters, call one domain
//!   function, answer), its wire types in `dto.rs`, its SQL in `queries.rs`
//!   (`auth` keeps its throttle's and keys' SQL beside them), and its rules
//!   in domain functions in its `mod.rs`, which the CLI calls too;
//! - request field types, each stating its rule and schema once: `fields`;
//!   response conventions and the header and path extractors: `http`;
//!   pagination: `pagination`; the JSON body extractor: `json`;
//! - the server, middleware and the 404/405 fallback: [`server`]; the
//!   short-lived cache of public responses: `cache`; content codings
//!   (gzip, br) and their negotiation: `encoding`;
//! - the one error type and its problem+json rendering: [`error`];
//! - the database (SQLite or PostgreSQL, pool, migrations, typed write
//!   transactions): [`db`], with the tables in `schema` and the SQL under
//!   `migrations/<backend>/`; the server's own secrets: `server_keys`;
//! - webhooks (endpoints, the outbox written with each story change, and
//!   the dispatcher that sends it): `webhooks`;
//! - configuration: [`config`]; the command line: [`cli`], with a big
//!   site to benchmark from `seed`;
//! - the OpenAPI document and its committed copy: [`openapi`], with the
//!   schema pieces wire types borrow in `schemas`.

pub mod auth;
mod cache;
pub mod cli;
pub mod config;
pub mod db;
pub mod editors;
mod encoding;
pub mod error;
mod feeds;
mod fields;
mod http;
mod json;
mod markdown;
mod metrics;
pub mod openapi;
mod pagination;
mod preview;
mod ratings;
mod related;
mod routes;
mod schema;
mod schemas;
mod scores;
mod seed;
pub mod server;
mod server_keys;
mod service;
pub mod state;
mod stories;
mod transfer;
mod webhooks;
