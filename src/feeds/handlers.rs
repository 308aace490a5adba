//! `/v1/feed.atom`, `/v1/feed.rss`, `/v1/feed.json`, `/v1/sitemap.xml` and
//! `/v1/sitemaps/stories-{n}.xml`.

use actix_web::http::header;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse, get};
use futures_util::{StreamExt, stream};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{FEED_LENGTH, Site, URLS_PER_SITEMAP};
use crate::error::{ApiError, Problem};
use crate::fields::ParamText;
use crate::http::{IfNoneMatch, PUBLIC_CACHE_CONTROL, Reply, public_bytes};
use crate::state::State;
use crate::stories::dto::Story;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(atom_feed).service(rss_feed).service(json_feed).service(sitemap_index).service(sitemap_file);
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedParams {
    /// Only stories with this tag slug.
    #[param(inline)]
    pub tag: Option<ParamText>,
}

fn site(req: &HttpRequest, state: &State, tag: Option<String>) -> Site {
    let api_base = state.config.api_base();
    // The feed's own URL (its Atom id): the path and the one parameter that
    // changes what it holds, whatever else the request carried.
    let query = tag.as_deref().map(|tag| {
        format!("?{}", url::form_urlencoded::Serializer::new(String::new()).append_pair("tag", tag).finish())
    });
    Site {
        self_url: format!("{api_base}{}{}", req.path(), query.unwrap_or_default()),
        story_url_template: state.config.story_url_template.clone(),
        api_base,
        tag,
    }
}

/// The newest public stories, and where they are.
async fn newest(req: &HttpRequest, state: &State, params: FeedParams) -> Result<(Vec<Story>, Site), ApiError> {
    let tag = params.tag.clone();
    let stories = state.db.read(move |conn| crate::stories::newest_public(conn, tag, FEED_LENGTH)).await?;
    Ok((stories, site(req, state, params.tag.map(String::from))))
}

/// Declares a feed's handler: the newest public stories in one format,
/// rendered by `$render` and sent as `$content_type`. The three feeds differ
/// in nothing else.
macro_rules! feed {
    (
        $(#[doc = $doc:literal])*
        $name:ident, $path:literal, $operation_id:literal, $description:literal, $content_type:literal,
        $body:ty, $render:path
    ) => {
        $(#[doc = $doc])*
        #[utoipa::path(
            tag = "feeds", operation_id = $operation_id, security(()),
            params(FeedParams, IfNoneMatch),
            responses(
                (status = 200, description = $description, content_type = $content_type, body = $body),
                (status = 404, description = "No tag with this slug", body = Problem),
            )
        )]
        #[get($path)]
        pub async fn $name(req: HttpRequest, state: State, params: web::Query<FeedParams>, _: IfNoneMatch) -> Reply {
            let (stories, site) = newest(&req, &state, params.into_inner()).await?;
            public_bytes(&req, concat!($content_type, "; charset=utf-8"), $render(&stories, &site)?)
        }
    };
}

feed! {
    /// Atom feed.
    ///
    /// The newest public stories as Atom 1.0, with their full `body_html`,
    /// byline, tags (as categories) and times; `?tag=` narrows it.
    atom_feed, "/feed.atom", "getAtomFeed", "An Atom 1.0 feed", "application/atom+xml", String, super::atom
}

feed! {
    /// RSS feed.
    ///
    /// The newest public stories as RSS 2.0, with their full `body_html` (in
    /// `content:encoded`), byline (`dc:creator`), tags and times; `?tag=` narrows it.
    rss_feed, "/feed.rss", "getRssFeed", "An RSS 2.0 feed", "application/rss+xml", String, super::rss
}

feed! {
    /// JSON Feed.
    ///
    /// The newest public stories as JSON Feed 1.1, with their full `body_html`,
    /// byline, tags and times; `?tag=` narrows it.
    json_feed, "/feed.json", "getJsonFeed", "A JSON Feed 1.1 document", "application/feed+json", serde_json::Value,
    super::json_feed
}

/// How many sitemap files cover ids up to `highest`: at least one.
fn sitemap_files(highest: i64) -> i64 {
    (highest.max(1) - 1) / URLS_PER_SITEMAP + 1
}

/// Sitemap index.
///
/// A sitemap index of files of at most 50,000 story URLs each
/// (`/v1/sitemaps/stories-{n}.xml`), so a site of millions is covered.
#[utoipa::path(
    tag = "feeds", operation_id = "getSitemapIndex", security(()),
    params(IfNoneMatch),
    responses(
        (status = 200, description = "A sitemap index", content_type = "application/xml", body = String),
    )
)]
#[get("/sitemap.xml")]
pub async fn sitemap_index(req: HttpRequest, state: State, _: IfNoneMatch) -> Reply {
    let files = sitemap_files(state.db.read(crate::stories::highest_id).await?);
    public_bytes(&req, "application/xml; charset=utf-8", super::sitemap_index(files, &site(&req, &state, None))?)
}

/// Sitemap file.
///
/// File `n` of the sitemap: the public stories with ids from
/// `(n-1)·50000 + 1` to `n·50000`, each with `lastmod`. Written as it is
/// read, a thousand stories at a time.
#[utoipa::path(
    tag = "feeds", operation_id = "getSitemapFile", security(()),
    params(("n" = i64, Path, description = "The file's number, from 1", minimum = 1)),
    responses(
        (status = 200, description = "A sitemap", content_type = "application/xml", body = String),
        (status = 404, description = "No such file", body = Problem),
    )
)]
#[get("/sitemaps/stories-{n:[1-9]\\d*}.xml")]
pub async fn sitemap_file(req: HttpRequest, state: State, n: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    const BATCH: i64 = 1000;
    let n = n.into_inner();
    let highest = state.db.read(crate::stories::highest_id).await?;
    if !(1..=sitemap_files(highest)).contains(&n) {
        return Err(ApiError::NotFound);
    }
    let ids = (n - 1) * URLS_PER_SITEMAP + 1..=n * URLS_PER_SITEMAP;
    let site = site(&req, &state, None);
    // Each step reads one batch by keyset on the primary key, holding a
    // connection only for that query.
    let start = Bytes::from(super::sitemap_start()?);
    let body = stream::unfold((state, Some(None::<i64>), site), move |(state, next, site)| {
        let ids = ids.clone();
        async move {
            let after = next?;
            let batch = state.db.read(move |conn| crate::stories::sitemap_entries(conn, ids, after, BATCH)).await;
            let chunk = batch.and_then(|entries| {
                let more = entries.len() as i64 == BATCH;
                let mut bytes = super::sitemap_urls(&entries, &site)?;
                if !more {
                    bytes.extend(super::sitemap_end()?);
                }
                Ok((Bytes::from(bytes), more.then(|| entries.last().map(|entry| entry.id))))
            });
            match chunk {
                Ok((bytes, next)) => Some((Ok::<_, ApiError>(bytes), (state, next, site))),
                Err(err) => Some((Err(err), (state, None, site))),
            }
        }
    });
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/xml; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, PUBLIC_CACHE_CONTROL))
        .streaming(stream::once(async move { Ok(start) }).chain(body)))
}
