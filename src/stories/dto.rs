//! Wire types of the story endpoints.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use super::Status;
use crate::fields::{self, Description, Excerpt, HttpUrl, Locale, Markdown, Name, ShortText, Slug, Tags, Title};

/// The byline.
#[derive(Debug, Clone, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Author {
    #[validate(custom(function = "crate::fields::check"))]
    #[schema(inline)]
    pub name: Name,
}

/// The image shown above the story.
#[derive(Debug, Clone, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CoverImage {
    #[validate(custom(function = "crate::fields::check"))]
    #[schema(schema_with = cover_image_url)]
    pub url: HttpUrl,
    #[validate(custom(function = "crate::fields::check"))]
    #[schema(schema_with = cover_image_alt)]
    pub alt: Description,
}

fn cover_image_url() -> utoipa::openapi::ObjectBuilder {
    fields::schema::<HttpUrl>().description(Some("An absolute http(s) URL."))
}

fn cover_image_alt() -> utoipa::openapi::ObjectBuilder {
    fields::schema::<Description>().description(Some("Alternative text for readers who cannot see the image."))
}

/// Search-engine metadata; each field falls back to the story's own when null.
#[derive(Debug, Clone, Default, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Seo {
    #[validate(custom(function = "crate::fields::check"))]
    #[schema(schema_with = fields::nullable::<ShortText>)]
    pub meta_title: Option<ShortText>,
    #[validate(custom(function = "crate::fields::check"))]
    #[schema(schema_with = fields::nullable::<Description>)]
    pub meta_description: Option<Description>,
    #[validate(custom(function = "crate::fields::check"))]
    #[schema(schema_with = fields::nullable::<HttpUrl>)]
    pub canonical_url: Option<HttpUrl>,
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

/// A story's editable content: the body of `POST /v1/stories`, what a
/// revision keeps, and what a JSON Merge Patch is applied to.
///
/// `slug` is derived from the title when absent or null (and made unique);
/// `excerpt` is derived from the body when absent or null.
#[derive(Debug, Clone, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "title": "Mum’s moving in",
    "body": "When my mother turned eighty-four, we said the words we’d avoided for years: “Come and live with us.”",
    "tags": ["family", "ageing"], "author": {"name": "Ruth Ellis"}
}))]
pub struct StoryInput {
    #[validate(custom(function = "crate::fields::check"))]
    #[schema(inline)]
    pub title: Title,
    #[serde(default)]
    #[validate(custom(function = "crate::fields::check"))]
    #[schema(schema_with = fields::nullable::<Slug>)]
    pub slug: Option<Slug>,
    #[serde(default)]
    #[validate(custom(function = "crate::fields::check"))]
    #[schema(schema_with = fields::nullable::<ShortText>)]
    pub subtitle: Option<ShortText>,
    #[serde(default)]
    #[validate(custom(function = "crate::fields::check"))]
    #[schema(schema_with = fields::nullable::<Excerpt>)]
    pub excerpt: Option<Excerpt>,
    #[serde(default)]
    #[validate(custom(function = "crate::fields::check"))]
    #[schema(schema_with = body_schema)]
    pub body: Markdown,
    #[serde(default)]
    #[validate(custom(function = "crate::fields::check"))]
    #[schema(schema_with = locale_schema)]
    pub locale: Option<Locale>,
    // No doc comment: the description is the type's.
    #[serde(default)]
    #[validate(custom(function = "crate::fields::check"))]
    #[schema(inline)]
    pub tags: Tags,
    /// Defaults to the creating editor's display name.
    #[serde(default)]
    #[validate(nested)]
    pub author: Option<Author>,
    #[serde(default)]
    #[validate(nested)]
    pub cover_image: Option<CoverImage>,
    #[serde(default)]
    #[validate(nested)]
    pub seo: Option<Seo>,
}

fn body_schema() -> utoipa::openapi::ObjectBuilder {
    fields::schema::<Markdown>().description(Some("Markdown, at most 500,000 characters."))
}

fn locale_schema() -> utoipa::openapi::ObjectBuilder {
    fields::nullable::<Locale>().description(Some("A BCP 47 language tag; defaults to `en-GB`."))
}

/// Changes to a story's content as a JSON Merge Patch (RFC 7396): the fields
/// of `StoryInput`, each optional; a field set to null returns to its default.
/// The merged result is validated as a whole, like a new story.
#[derive(Debug, Deserialize)]
pub struct StoryPatch(pub serde_json::Map<String, serde_json::Value>);

impl Validate for StoryPatch {
    /// Nothing to check before merging: `stories::edit` validates the result.
    fn validate(&self) -> Result<(), validator::ValidationErrors> {
        Ok(())
    }
}

impl utoipa::PartialSchema for StoryPatch {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::openapi::all_optional(
            <StoryInput as utoipa::PartialSchema>::schema(),
            "Changes to a story's content as a JSON Merge Patch (RFC 7396): any fields of `StoryInput`; \
             null returns a field to its default (`slug` and `excerpt` are derived again).",
        )
    }
}

impl ToSchema for StoryPatch {}

/// `POST /v1/stories/{id}/publish`: publish now, or schedule for `at`.
#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"at": "2026-12-01T08:00:00Z"}))]
pub struct PublishRequest {
    /// When the story becomes public; now when absent. A future time
    /// schedules it; a past one backdates it.
    pub at: Option<DateTime<Utc>>,
}

/// A page of stories. Items carry every story field except `body` and
/// `body_html`, unless `fields` chose others.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StoryList {
    #[schema(schema_with = crate::openapi::story_list_items)]
    pub data: Vec<serde_json::Map<String, serde_json::Value>>,
    pub page: crate::pagination::Page,
}

/// A tag in use by published stories.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TagCount {
    pub slug: String,
    /// How many published stories carry it.
    pub count: i64,
}

/// A page of tags, in slug order.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TagList {
    pub data: Vec<TagCount>,
    pub page: crate::pagination::Page,
}

/// Who made a revision.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RevisionEditor {
    pub id: i64,
    pub display_name: String,
}

/// One saved state of a story: every change makes one.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Revision {
    /// The story's version this revision recorded.
    pub version: i64,
    /// What made it: `created`, `edited`, `published`, `scheduled`, `unpublished`, `archived` or `restored`.
    pub change: String,
    /// The story's stored status then: `draft`, `published` (possibly scheduled) or `archived`.
    pub status: String,
    pub published_at: Option<DateTime<Utc>>,
    /// Null when the editor has since been deleted.
    pub editor: Option<RevisionEditor>,
    pub created_at: DateTime<Utc>,
    /// The editable content at this version.
    pub content: StoryInput,
}

/// A page of revisions, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RevisionList {
    pub data: Vec<Revision>,
    pub page: crate::pagination::Page,
}
