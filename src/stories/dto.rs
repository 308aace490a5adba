//! Wire types of the story endpoints.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::openapi::{RefOr, Response};
use utoipa::{IntoParams, IntoResponses, ToSchema};
use validator::Validate;

use super::{RevisionChange, Status, StoredStatus};
use crate::error::ApiError;
use crate::fields::{
    self, Description, Excerpt, HttpUrl, Locale, Markdown, Name, ParamText, Rfc3339Time, SearchText, ShortText, Slug,
    Tags, Title,
};
use crate::schemas::{header, json_response, problem_response, problems};

/// How a list is ordered.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
pub enum SortParam {
    /// Newest publication first (the default).
    #[serde(rename = "-published_at")]
    PublishedDesc,
    /// Oldest publication first.
    #[serde(rename = "published_at")]
    PublishedAsc,
    /// By title, A to Z (by code point).
    #[serde(rename = "title")]
    Title,
    /// Best rated first, by the Bayesian score of `GET /v1/stories/{id}/rating`.
    #[serde(rename = "-rating")]
    RatingDesc,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Only stories with this tag slug.
    #[param(inline)]
    pub tag: Option<ParamText>,
    /// Only stories in this locale (BCP 47, e.g. `en-GB`).
    #[param(inline)]
    pub locale: Option<ParamText>,
    /// Only stories with this byline, exactly.
    #[param(inline)]
    pub author: Option<ParamText>,
    /// Full-text search over title, excerpt and body, at most 200 characters
    /// and 8 distinct words; best match first unless `sort` is given.
    #[param(inline)]
    pub q: Option<SearchText>,
    /// Only stories published after this time (RFC 3339).
    #[param(value_type = Option<DateTime<Utc>>)]
    pub published_after: Option<Rfc3339Time>,
    /// Only stories published before this time (RFC 3339).
    #[param(value_type = Option<DateTime<Utc>>)]
    pub published_before: Option<Rfc3339Time>,
    /// Order of the list; `-published_at` by default, best match first with `q`.
    pub sort: Option<SortParam>,
    /// Story fields to return (sparse fieldset), comma-separated, e.g.
    /// `id,slug,title`. By default every field except `body` and `body_html`.
    #[serde(default, deserialize_with = "comma_separated")]
    #[param(style = Form, explode = false)]
    pub fields: Option<Vec<StoryField>>,
    /// Editors only: only stories in this status (by default, editors see every status).
    pub status: Option<Status>,
}

/// `/v1/stories/slug/{slug}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct SlugPath {
    /// The story's slug
    #[param(inline)]
    pub slug: ParamText,
}

/// Declares [`StoryField`] with each variant's JSON name written once.
macro_rules! story_fields {
    ($($variant:ident => $name:tt),+ $(,)?) => {
        /// A story field, for sparse fieldsets (`fields=id,slug,title`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
        pub enum StoryField {
            $(#[serde(rename = $name)] $variant),+
        }

        impl StoryField {
            pub const ALL: &[StoryField] = &[$(StoryField::$variant),+];

            /// The field's key in a story's JSON.
            pub fn name(self) -> &'static str {
                match self {
                    $(StoryField::$variant => $name),+
                }
            }
        }
    };
}

story_fields! {
    Id => "id", Slug => "slug", Title => "title", Subtitle => "subtitle", Excerpt => "excerpt", Body => "body",
    BodyHtml => "body_html", Status => "status", Locale => "locale", Tags => "tags", Author => "author",
    CoverImage => "cover_image", Seo => "seo", WordCount => "word_count",
    ReadingTimeMinutes => "reading_time_minutes", PublishedAt => "published_at", CreatedAt => "created_at",
    UpdatedAt => "updated_at", Version => "version", Rating => "rating",
}

/// `a,b,c` as a list, the way OpenAPI's `style: form, explode: false` sends
/// arrays; an empty value is no list.
fn comma_separated<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Vec<StoryField>>, D::Error> {
    use serde::de::IntoDeserializer;
    let Some(raw) = Option::<String>::deserialize(deserializer)? else { return Ok(None) };
    let fields = raw
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(|name| StoryField::deserialize(name.into_deserializer()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((!fields.is_empty()).then_some(fields))
}

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
        crate::schemas::all_optional(
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
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub at: Option<Rfc3339Time>,
}

/// A page of stories. Items carry every story field except `body` and
/// `body_html`, unless `fields` chose others.
#[derive(Debug, Serialize, ToSchema)]
pub struct StoryList {
    #[schema(schema_with = story_list_items)]
    pub data: Vec<ListItem>,
    pub page: crate::pagination::Page,
}

/// Which story fields a list item carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSet(u32);

impl FieldSet {
    /// Every field but the bodies: a list's default.
    pub fn default_for_lists() -> Self {
        Self::of(StoryField::ALL.iter().copied().filter(|f| !matches!(f, StoryField::Body | StoryField::BodyHtml)))
    }

    pub fn of(fields: impl IntoIterator<Item = StoryField>) -> Self {
        Self(fields.into_iter().fold(0, |bits, field| bits | 1 << field as u32))
    }

    pub fn contains(self, field: StoryField) -> bool {
        self.0 & 1 << field as u32 != 0
    }
}

/// A story in a list: the chosen fields only, written straight to the
/// response. Keys are in alphabetical order, nested objects' too, as lists
/// have always sent them (items used to be `serde_json::Map`s, which sort).
#[derive(Debug)]
pub struct ListItem {
    pub story: Story,
    pub fields: FieldSet,
}

/// [`StoryField::ALL`] in the alphabetical order of their names.
fn fields_by_name() -> &'static [StoryField] {
    static SORTED: std::sync::LazyLock<Vec<StoryField>> = std::sync::LazyLock::new(|| {
        let mut all = StoryField::ALL.to_vec();
        all.sort_by_key(|field| field.name());
        all
    });
    &SORTED
}

impl Serialize for ListItem {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let chosen = fields_by_name().iter().filter(|field| self.fields.contains(**field));
        let mut map = serializer.serialize_map(Some(chosen.clone().count()))?;
        let story = &self.story;
        for &field in chosen {
            let key = field.name();
            match field {
                StoryField::Id => map.serialize_entry(key, &story.id),
                StoryField::Slug => map.serialize_entry(key, &story.slug),
                StoryField::Title => map.serialize_entry(key, &story.title),
                StoryField::Subtitle => map.serialize_entry(key, &story.subtitle),
                StoryField::Excerpt => map.serialize_entry(key, &story.excerpt),
                StoryField::Body => map.serialize_entry(key, &story.body),
                StoryField::BodyHtml => map.serialize_entry(key, &story.body_html),
                StoryField::Status => map.serialize_entry(key, &story.status),
                StoryField::Locale => map.serialize_entry(key, &story.locale),
                StoryField::Tags => map.serialize_entry(key, &story.tags),
                StoryField::Author => map.serialize_entry(key, &story.author),
                StoryField::CoverImage => map.serialize_entry(key, &story.cover_image.as_ref().map(sorted_cover_image)),
                StoryField::Seo => map.serialize_entry(key, &sorted_seo(&story.seo)),
                StoryField::WordCount => map.serialize_entry(key, &story.word_count),
                StoryField::ReadingTimeMinutes => map.serialize_entry(key, &story.reading_time_minutes),
                StoryField::PublishedAt => map.serialize_entry(key, &story.published_at),
                StoryField::CreatedAt => map.serialize_entry(key, &story.created_at),
                StoryField::UpdatedAt => map.serialize_entry(key, &story.updated_at),
                StoryField::Version => map.serialize_entry(key, &story.version),
                // `average`, `count`: already alphabetical.
                StoryField::Rating => map.serialize_entry(key, &story.rating),
            }?;
        }
        map.end()
    }
}

/// An object of text fields (null when absent), keys written in the order
/// given: how a list writes its nested objects, alphabetically.
struct TextObject<'a, const N: usize>([(&'static str, Option<&'a str>); N]);

impl<const N: usize> Serialize for TextObject<'_, N> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().copied())
    }
}

fn sorted_cover_image(cover: &CoverImage) -> TextObject<'_, 2> {
    TextObject([("alt", Some(&*cover.alt)), ("url", Some(&*cover.url))])
}

fn sorted_seo(seo: &Seo) -> TextObject<'_, 3> {
    TextObject([
        ("canonical_url", seo.canonical_url.as_deref()),
        ("meta_description", seo.meta_description.as_deref()),
        ("meta_title", seo.meta_title.as_deref()),
    ])
}

/// The items of a story list: any subset of a story's fields.
fn story_list_items() -> utoipa::openapi::schema::Array {
    utoipa::openapi::schema::Array::new(crate::schemas::all_optional(
        <Story as utoipa::PartialSchema>::schema(),
        "A story in a list: the fields of `Story` that `fields` chose; by default all but `body` and `body_html`.",
    ))
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
    /// What made it.
    pub change: RevisionChange,
    /// The story's stored status then (`published` includes scheduled).
    pub status: StoredStatus,
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

/// The answers to reading one story, by id or by slug.
pub struct StoryRead;

impl IntoResponses for StoryRead {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let etag = ("ETag", "Readers: a strong validator for If-None-Match. Editors: the version, for If-Match");
        let modified = ("Last-Modified", "Readers: when the story last changed or was published");
        let mut responses = PublicReadFailures::responses();
        responses.insert("200".to_owned(), json_response("The story", "Story", &[etag, modified]).into());
        responses
    }
}

/// The failures of a change to an existing story, beside its 200.
pub struct StoryChangeFailures;

impl IntoResponses for StoryChangeFailures {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let mut responses = StoryNotFound::responses();
        responses.extend(StaleVersion::responses());
        responses
    }
}

problems! {
    /// The failure of reading something of a story that readers may see only
    /// while it is public, beside its 200 (and the 304 of every `If-None-Match`
    /// read, which the document's post-processing adds).
    PublicReadFailures { "404" => "No such story, or not public" }
}

/// The 503 of a read that may be costly ([`crate::db::Cost::High`]): said
/// here so that its description names the rationing.
pub struct CostlyReadFailures;

impl IntoResponses for CostlyReadFailures {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let mut response = problem_response(
            "Readers' searches, rankings by rating or tag counts are running at capacity (try again after \
             Retry-After), a query ran too long, or the database is unreachable",
        );
        response.headers.insert("Retry-After".to_owned(), header("Seconds to wait before trying again").into());
        if let Some(RefOr::T(content)) = response.content.get_mut(crate::error::PROBLEM_CONTENT_TYPE) {
            content.example = serde_json::to_value(ApiError::Overloaded(crate::db::NO_TURN).to_problem()).ok();
        }
        BTreeMap::from([("503".to_owned(), response.into())])
    }
}

problems! {
    /// 404 for a story that does not exist.
    StoryNotFound { "404" => "No such story" }
}

problems! {
    /// 404 for a story, or a version of it, that does not exist.
    RevisionNotFound { "404" => "No such story or version" }
}

problems! {
    /// 412 for a change based on a version of the story that is no longer its latest.
    StaleVersion { "412" => "The story changed since the ETag in If-Match" }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A list item is the story as a JSON object (whose keys sort, nested
    /// ones too) cut to the chosen fields, byte for byte.
    #[test]
    fn list_items_are_the_story_object_cut_to_the_chosen_fields() {
        let mut story: Story = serde_json::from_value(serde_json::json!({
            "id": 7, "slug": "s", "title": "T", "subtitle": "S", "excerpt": "E", "body": "B", "body_html": "<p>B</p>",
            "status": "published", "locale": "en-GB", "tags": ["z", "a"], "author": {"name": "A"},
            "cover_image": {"url": "https://example.com/c.jpg", "alt": "Alt"},
            "seo": {"meta_title": "M", "meta_description": "D", "canonical_url": "https://example.com/"},
            "word_count": 1, "reading_time_minutes": 1, "published_at": "2026-01-01T00:00:00.123456Z",
            "created_at": "2025-12-31T00:00:00Z", "updated_at": "2026-01-02T00:00:00Z", "version": 3,
            "rating": {"average": 4.333333333333333, "count": 3},
        }))
        .unwrap();
        let mut all_sets: Vec<FieldSet> = StoryField::ALL.iter().map(|f| FieldSet::of([*f])).collect();
        all_sets.extend([FieldSet::of(StoryField::ALL.iter().copied()), FieldSet::default_for_lists()]);
        for _ in 0..2 {
            for fields in &all_sets {
                let serde_json::Value::Object(mut object) = serde_json::to_value(&story).unwrap() else { panic!() };
                object.retain(|key, _| StoryField::ALL.iter().any(|f| f.name() == key && fields.contains(*f)));
                let item = ListItem { story: story.clone(), fields: *fields };
                assert_eq!(serde_json::to_string(&item).unwrap(), serde_json::to_string(&object).unwrap());
            }
            // And with every optional field empty.
            (story.subtitle, story.cover_image, story.published_at) = (None, None, None);
            (story.seo, story.rating.average) = (Seo::default(), None);
        }
    }
}
