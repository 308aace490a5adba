//! Wire types of the related-links endpoints.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::fields::{self, HttpUrl, Title};
use crate::stories::Status;

/// What a "read next" entry points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LinkKind {
    /// Another story in this API, chosen by an editor.
    Story,
    /// An external page, chosen by an editor.
    External,
    /// A story the server suggests (only with `?suggest=N`; computed in the background, no `id`).
    Suggested,
}

/// The story a link points at.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StoryRef {
    pub id: i64,
    pub slug: String,
    pub title: String,
    pub excerpt: String,
    /// Always `published` for readers; editors also see links to stories that are not public.
    pub status: Status,
}

/// One entry of a story's "read next" list.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": 7, "position": 1, "kind": "story", "title": "Mum’s moving in", "url": null,
    "story": {"id": 42, "slug": "mum-s-moving-in", "title": "Mum’s moving in",
              "excerpt": "When my mother turned eighty-four…", "status": "published"}
}))]
pub struct RelatedLink {
    /// The link's id, for `DELETE`; null for suggestions.
    pub id: Option<i64>,
    /// 1-based place in the list: the editor's order, suggestions after,
    /// numbered 1 to n among the links the reader may see.
    pub position: i32,
    pub kind: LinkKind,
    /// The target story's title, or the external page's title.
    pub title: String,
    /// The external page's URL; null for stories (link to them by `story.slug`).
    pub url: Option<String>,
    /// The target story; null for external links.
    pub story: Option<StoryRef>,
}

/// A story's "read next" list.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RelatedList {
    pub data: Vec<RelatedLink>,
}

/// A link to another story in this API.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StoryLinkInput {
    /// Another story's id (it must exist, and not be this story).
    #[serde(deserialize_with = "crate::json::whole_number")]
    #[schema(minimum = 1)]
    pub story_id: i64,
}

/// A link to an external page. The server never fetches it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExternalLinkInput {
    #[schema(schema_with = external_link_url)]
    pub url: HttpUrl,
    #[schema(schema_with = external_link_title)]
    pub title: Title,
}

fn external_link_url() -> utoipa::openapi::ObjectBuilder {
    fields::schema::<HttpUrl>()
        .description(Some("An absolute http(s) URL without credentials, at most 2,048 characters."))
}

fn external_link_title() -> utoipa::openapi::ObjectBuilder {
    fields::schema::<Title>().description(Some("1 to 300 characters."))
}

/// A link to add: to a story (`{story_id}`) or to an external page (`{url, title}`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
#[schema(example = json!({"story_id": 42}))]
pub enum RelatedLinkInput {
    Story(StoryLinkInput),
    External(ExternalLinkInput),
}

impl Validate for RelatedLinkInput {
    /// The rules need the database (does the target exist?): `related::check` applies them.
    fn validate(&self) -> Result<(), validator::ValidationErrors> {
        Ok(())
    }
}

/// The whole ordered list, replacing the current one: at most 50 links.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(transparent)]
#[schema(example = json!([{"story_id": 42}, {"url": "https://www.ageuk.org.uk/", "title": "Age UK: support and advice"}]))]
pub struct RelatedLinkList(pub Vec<RelatedLinkInput>);

impl Validate for RelatedLinkList {
    /// The rules need the database: `related::check` applies them.
    fn validate(&self) -> Result<(), validator::ValidationErrors> {
        Ok(())
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SuggestParams {
    /// Append up to this many automatic suggestions (kind `suggested`), 0 to 10.
    #[param(minimum = 0, maximum = 10)]
    pub suggest: Option<u8>,
}

impl SuggestParams {
    /// How many suggestions to append: 0 unless asked, at most 10.
    pub fn count(&self) -> Result<u8, crate::error::ApiError> {
        match self.suggest.unwrap_or(0) {
            n @ 0..=10 => Ok(n),
            n => Err(crate::error::ApiError::BadRequest(format!("suggest must be from 0 to 10, got {n}"))),
        }
    }
}
