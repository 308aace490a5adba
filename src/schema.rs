//! Diesel's view of the tables. Both migration trees (`migrations/sqlite`,
//! `migrations/postgres`) must produce exactly this shape; `tests/api/schema.rs`
//! checks that they do. Full-text search is the one deliberate difference: an
//! FTS5 table on SQLite (declared below as `stories_fts`, so queries can join
//! it), a generated `search_vector` column on PostgreSQL (not declared: only
//! SQL text names it); both are used only through `stories::search`.

diesel::table! {
    editors (id) {
        id -> BigInt,
        email -> Text,
        display_name -> Text,
        role -> Text,
        password_hash -> Text,
        disabled -> Bool,
        token_version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    related_links (id) {
        id -> BigInt,
        story_id -> BigInt,
        position -> Integer,
        target_story_id -> Nullable<BigInt>,
        url -> Nullable<Text>,
        title -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    server_keys (kid) {
        kid -> Text,
        purpose -> Text,
        secret -> Text,
        created_at -> Timestamp,
        retired_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    stories (id) {
        id -> BigInt,
        slug -> Text,
        title -> Text,
        subtitle -> Nullable<Text>,
        excerpt -> Text,
        excerpt_is_custom -> Bool,
        body -> Text,
        body_html -> Text,
        status -> Text,
        locale -> Text,
        author_name -> Text,
        cover_image_url -> Nullable<Text>,
        cover_image_alt -> Nullable<Text>,
        seo_meta_title -> Nullable<Text>,
        seo_meta_description -> Nullable<Text>,
        seo_canonical_url -> Nullable<Text>,
        word_count -> Integer,
        reading_time_minutes -> Integer,
        published_at -> Nullable<Timestamp>,
        version -> BigInt,
        created_by -> Nullable<BigInt>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        preview_generation -> BigInt,
    }
}

diesel::table! {
    /// A story's rating counters and rank, apart from its wide row, which
    /// votes then never rewrite; `published_at` is the story's while it is
    /// published, else NULL.
    story_ratings (story_id) {
        story_id -> BigInt,
        rating_count -> BigInt,
        rating_sum -> BigInt,
        rating_1 -> BigInt,
        rating_2 -> BigInt,
        rating_3 -> BigInt,
        rating_4 -> BigInt,
        rating_5 -> BigInt,
        rating_rank -> Double,
        published_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    login_attempts (throttle_key) {
        throttle_key -> Text,
        attempts -> Integer,
        window_start -> Timestamp,
        lockouts -> Integer,
        locked_until -> Nullable<Timestamp>,
    }
}

diesel::table! {
    login_known_clients (throttle_key) {
        throttle_key -> Text,
        last_success_at -> Timestamp,
    }
}

diesel::table! {
    /// One row: the prior that `story_ratings.rating_rank` is computed under.
    rating_prior (id) {
        id -> Integer,
        weight -> Double,
        mean -> Double,
        ranked -> Bool,
    }
}

diesel::table! {
    /// Shards 1 to 16 of the site-wide vote totals: sum them.
    rating_totals (id) {
        id -> Integer,
        vote_count -> BigInt,
        vote_sum -> BigInt,
    }
}

diesel::table! {
    ratings (id) {
        id -> BigInt,
        story_id -> BigInt,
        voter_hash -> Text,
        score -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    tags (id) {
        id -> BigInt,
        slug -> Text,
        published_count -> BigInt,
    }
}

diesel::table! {
    /// SQLite only: the FTS5 index of `stories` (migrations/sqlite), used by
    /// `stories::search` and nowhere else. `rank` is its bm25 relevance,
    /// lower is better, defined only in a query with `stories_fts MATCH …`.
    stories_fts (rowid) {
        rowid -> BigInt,
        rank -> Double,
    }
}

diesel::table! {
    vote_allowances (client_key) {
        client_key -> Text,
        window_start -> Timestamp,
        votes -> Integer,
    }
}

diesel::table! {
    vote_sources (story_id, client_key, day_start) {
        story_id -> BigInt,
        client_key -> Text,
        day_start -> Timestamp,
        new_voters -> Integer,
    }
}

diesel::table! {
    story_suggestions (story_id, position) {
        story_id -> BigInt,
        position -> Integer,
        target_id -> BigInt,
    }
}

diesel::table! {
    suggestion_queue (story_id) {
        story_id -> BigInt,
        reason -> Text,
        due_at -> Timestamp,
        claimed_by -> Nullable<Text>,
        locked_until -> Nullable<Timestamp>,
    }
}

diesel::table! {
    story_tags (story_id, tag_id) {
        story_id -> BigInt,
        tag_id -> BigInt,
        position -> Integer,
        published_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    story_revisions (id) {
        id -> BigInt,
        story_id -> BigInt,
        version -> BigInt,
        change -> Text,
        content -> Text,
        status -> Text,
        published_at -> Nullable<Timestamp>,
        editor_id -> Nullable<BigInt>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    webhook_endpoints (id) {
        id -> BigInt,
        url -> Text,
        events -> Text,
        description -> Text,
        disabled -> Bool,
        secret -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    webhook_events (id) {
        id -> BigInt,
        story_id -> Nullable<BigInt>,
        #[sql_name = "type"]
        event_type -> Text,
        payload -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> BigInt,
        event_id -> BigInt,
        endpoint_id -> BigInt,
        story_id -> Nullable<BigInt>,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        last_attempt_at -> Nullable<Timestamp>,
        last_status_code -> Nullable<Integer>,
        last_error -> Nullable<Text>,
        last_duration_ms -> Nullable<BigInt>,
        locked_until -> Nullable<Timestamp>,
        claimed_by -> Nullable<Text>,
        delivered_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    webhook_attempts (id) {
        id -> BigInt,
        delivery_id -> BigInt,
        attempted_at -> Timestamp,
        status_code -> Nullable<Integer>,
        duration_ms -> BigInt,
        error -> Nullable<Text>,
    }
}

diesel::table! {
    webhook_publications (story_id, published_at) {
        story_id -> BigInt,
        published_at -> Timestamp,
    }
}

diesel::joinable!(stories -> editors (created_by));
diesel::joinable!(story_revisions -> stories (story_id));
diesel::joinable!(ratings -> stories (story_id));
diesel::joinable!(story_revisions -> editors (editor_id));
diesel::joinable!(story_tags -> stories (story_id));
diesel::joinable!(story_ratings -> stories (story_id));
diesel::joinable!(story_tags -> tags (tag_id));
diesel::joinable!(webhook_attempts -> webhook_deliveries (delivery_id));
diesel::joinable!(webhook_deliveries -> webhook_events (event_id));
diesel::joinable!(webhook_deliveries -> webhook_endpoints (endpoint_id));
diesel::allow_tables_to_appear_in_same_query!(
    editors,
    login_attempts,
    login_known_clients,
    rating_prior,
    rating_totals,
    ratings,
    related_links,
    server_keys,
    stories,
    stories_fts,
    story_ratings,
    story_revisions,
    story_suggestions,
    suggestion_queue,
    tags,
    story_tags,
    webhook_attempts,
    webhook_deliveries,
    webhook_endpoints,
    webhook_events,
    webhook_publications
);
