//! Wire types of the story endpoints.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use super::Status;

/// The byline.
#[derive(Debug, Clone, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Author {
    #[validate(length(min = 1, max = 200), custom(function = "crate::validation::plain_text"))]
    pub name: String,
}

/// The image shown above the story.
#[derive(Debug, Clone, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CoverImage {
    /// An absolute http(s) URL.
    #[validate(custom(function = "crate::validation::http_url"))]
    pub url: String,
    /// Alternative text for readers who cannot see the image.
    #[validate(length(max = 500), custom(function = "crate::validation::plain_text"))]
    pub alt: String,
}

/// Search-engine metadata; each field falls back to the story's own when null.
#[derive(Debug, Clone, Default, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Seo {
    #[validate(length(max = 300), custom(function = "crate::validation::plain_text"))]
    pub meta_title: Option<String>,
    #[validate(length(max = 500), custom(function = "crate::validation::plain_text"))]
    pub meta_description: Option<String>,
    #[validate(custom(function = "crate::validation::http_url"))]
    pub canonical_url: Option<String>,
}

/// Readers' ratings in brief.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RatingSummary {
    /// The mean score, 1 to 5; null while nobody has rated.
    pub average: Option<f64>,
    pub count: i64,
}

/// A story as readers and editors see it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": 42, "slug": "mum-s-moving-in", "title": "Mum’s moving in",
    "subtitle": "Three generations, one kitchen — and a lot of tea",
    "excerpt": "When my mother turned eighty-four, we said the words we’d avoided for years: “Come and live with us.”",
    "body": "When my mother turned eighty-four, we said the words we’d avoided for years: “Come and live with us.”",
    "body_html": "<p>When my mother turned eighty-four, we said the words we’d avoided for years: “Come and live with us.”</p>\n",
    "status": "published", "locale": "en-GB", "tags": ["family", "ageing"],
    "author": {"name": "Ruth Ellis"}, "cover_image": null,
    "seo": {"meta_title": null, "meta_description": null, "canonical_url": null},
    "word_count": 19, "reading_time_minutes": 1,
    "published_at": "2026-11-23T19:48:00Z", "created_at": "2026-11-20T09:12:00Z", "updated_at": "2026-11-23T19:48:00Z",
    "version": 3, "rating": {"average": 4.6, "count": 212}
}))]
pub struct Story {
    pub id: i64,
    pub slug: String,
    pub title: String,
    pub subtitle: Option<String>,
    /// Given by the editor, or derived from the body's first paragraphs.
    pub excerpt: String,
    /// Markdown source, exactly as stored.
    pub body: String,
    /// `body` rendered to HTML and sanitized: safe to inject into a page.
    pub body_html: String,
    pub status: Status,
    /// A BCP 47 language tag.
    pub locale: String,
    /// Tag slugs, in the editor's order.
    pub tags: Vec<String>,
    pub author: Author,
    pub cover_image: Option<CoverImage>,
    pub seo: Seo,
    pub word_count: i32,
    /// At about 230 words a minute, at least 1.
    pub reading_time_minutes: i32,
    pub published_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Goes up by one with every change.
    pub version: i64,
    pub rating: RatingSummary,
}

/// A new story. It starts as a draft; `slug` is derived from the title when
/// not given, and `excerpt` from the body.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "title": "Mum’s moving in",
    "body": "When my mother turned eighty-four, we said the words we’d avoided for years: “Come and live with us.”",
    "tags": ["family", "ageing"], "author": {"name": "Ruth Ellis"}
}))]
pub struct NewStory {
    #[validate(length(min = 1, max = 300), custom(function = "crate::validation::plain_text"))]
    pub title: String,
    #[validate(custom(function = "crate::validation::slug"))]
    pub slug: Option<String>,
    #[validate(length(max = 300), custom(function = "crate::validation::plain_text"))]
    pub subtitle: Option<String>,
    #[validate(length(max = 1000), custom(function = "crate::validation::plain_text"))]
    pub excerpt: Option<String>,
    /// Markdown.
    #[serde(default)]
    #[validate(length(max = 500000), custom(function = "crate::validation::plain_text"))]
    pub body: String,
    /// Defaults to `en-GB`.
    #[validate(custom(function = "crate::validation::locale"))]
    pub locale: Option<String>,
    /// At most 20 tag slugs.
    #[serde(default)]
    #[validate(custom(function = "crate::validation::tag_list"))]
    pub tags: Vec<String>,
    /// Defaults to the creating editor's display name.
    #[validate(nested)]
    pub author: Option<Author>,
    #[validate(nested)]
    pub cover_image: Option<CoverImage>,
    #[validate(nested)]
    pub seo: Option<Seo>,
}
