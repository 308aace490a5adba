//! Feeds and sitemaps: the newest public stories as Atom 1.0, RSS 2.0 and
//! JSON Feed 1.1, and a sitemap index over files of at most 50,000 story
//! URLs. The formats are written by crates made for them (`atom_syndication`,
//! `rss`, `quick-xml`, serde for JSON Feed), which escape what they write.
//!
//! Routes: `handlers.rs`. Stories come from the public surface of
//! [`crate::stories`], so drafts, scheduled and archived stories never
//! appear.

pub(crate) mod handlers;

use chrono::{DateTime, FixedOffset, NaiveDateTime, Utc};
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use serde::Serialize;

use crate::error::ApiError;
use crate::stories::SitemapEntry;
use crate::stories::dto::Story;

/// How many stories a feed carries.
pub const FEED_LENGTH: i64 = 20;
/// The most URLs one sitemap file may list (sitemaps.org).
pub const URLS_PER_SITEMAP: i64 = 50_000;

/// Where things are on the web, for links in feeds and sitemaps.
pub struct Site {
    /// This API's own origin, e.g. `https://api.magazine.example`.
    pub api_base: String,
    /// `STORY_URL_TEMPLATE`, e.g. `https://magazine.example/stories/{slug}`.
    pub story_url_template: Option<String>,
    /// The feed's own URL, as requested.
    pub self_url: String,
    /// Only stories with this tag.
    pub tag: Option<String>,
}

impl Site {
    /// A story's public web page, or the API's own story URL without a template.
    pub fn story_url(&self, slug: &str) -> String {
        match &self.story_url_template {
            Some(template) => template.replace("{slug}", slug),
            None => format!("{}/v1/stories/slug/{slug}", self.api_base),
        }
    }

    /// A story's permanent id: its URL in this API, by id (slugs may change).
    fn story_id(&self, story: &Story) -> String {
        format!("{}/v1/stories/{}", self.api_base, story.id)
    }

    fn title(&self) -> String {
        match &self.tag {
            Some(tag) => format!("Stories tagged {tag}"),
            None => "Stories".to_owned(),
        }
    }
}

/// When a story last changed for a reader: edited, or published, whichever came later.
fn modified(story: &Story) -> DateTime<Utc> {
    story.published_at.map_or(story.updated_at, |published| published.max(story.updated_at))
}

/// The feed's own time: its newest story's, so the bytes (and the ETag) only
/// change when the stories do.
fn feed_updated(stories: &[Story]) -> DateTime<Utc> {
    stories.iter().map(modified).max().unwrap_or(DateTime::UNIX_EPOCH)
}

fn fixed(time: DateTime<Utc>) -> DateTime<FixedOffset> {
    time.fixed_offset()
}

/// Atom 1.0.
pub fn atom(stories: &[Story], site: &Site) -> Result<Vec<u8>, ApiError> {
    use atom_syndication::{Category, Content, Entry, Feed, Link, Person, Text};
    let link = |href: String, rel: &str| Link { href, rel: rel.to_owned(), ..Link::default() };
    let entries = stories
        .iter()
        .map(|story| Entry {
            id: site.story_id(story),
            title: Text::plain(story.title.clone()),
            updated: fixed(modified(story)),
            published: story.published_at.map(fixed),
            authors: vec![Person { name: story.author.name.to_string(), ..Person::default() }],
            categories: story.tags.iter().map(|tag| Category { term: tag.clone(), ..Category::default() }).collect(),
            links: vec![link(site.story_url(&story.slug), "alternate")],
            summary: Some(Text::plain(story.excerpt.clone())),
            content: Some(Content {
                value: Some(story.body_html.clone()),
                content_type: Some("html".to_owned()),
                lang: Some(story.locale.clone()),
                ..Content::default()
            }),
            ..Entry::default()
        })
        .collect();
    let feed = Feed {
        id: site.self_url.clone(),
        title: Text::plain(site.title()),
        updated: fixed(feed_updated(stories)),
        links: vec![link(site.self_url.clone(), "self")],
        entries,
        ..Feed::default()
    };
    feed.write_to(Vec::new()).map_err(ApiError::internal)
}

/// RSS 2.0.
pub fn rss(stories: &[Story], site: &Site) -> Result<Vec<u8>, ApiError> {
    use rss::{Category, Channel, Guid, Item};
    let items = stories
        .iter()
        .map(|story| Item {
            title: Some(story.title.clone()),
            link: Some(site.story_url(&story.slug)),
            description: Some(story.excerpt.clone()),
            // RSS's `author` is an email address; the byline goes in Dublin Core's creator.
            dublin_core_ext: Some(rss::extension::dublincore::DublinCoreExtension {
                creators: vec![story.author.name.to_string()],
                ..Default::default()
            }),
            categories: story.tags.iter().map(|tag| Category { name: tag.clone(), domain: None }).collect(),
            guid: Some(Guid { value: site.story_id(story), permalink: false }),
            pub_date: story.published_at.map(|at| at.to_rfc2822()),
            content: Some(story.body_html.clone()),
            ..Item::default()
        })
        .collect();
    let channel = Channel {
        title: site.title(),
        link: site.self_url.clone(),
        description: site.title(),
        last_build_date: Some(feed_updated(stories).to_rfc2822()),
        items,
        ..Channel::default()
    };
    channel.write_to(Vec::new()).map_err(ApiError::internal)
}

/// JSON Feed 1.1 (jsonfeed.org/version/1.1).
#[derive(Serialize)]
struct JsonFeed<'a> {
    version: &'static str,
    title: String,
    feed_url: &'a str,
    items: Vec<JsonFeedItem<'a>>,
}

#[derive(Serialize)]
struct JsonFeedItem<'a> {
    id: String,
    url: String,
    title: &'a str,
    content_html: &'a str,
    summary: &'a str,
    date_published: Option<DateTime<Utc>>,
    date_modified: DateTime<Utc>,
    authors: [JsonFeedAuthor<'a>; 1],
    tags: &'a [String],
    language: &'a str,
}

#[derive(Serialize)]
struct JsonFeedAuthor<'a> {
    name: &'a str,
}

pub fn json_feed(stories: &[Story], site: &Site) -> Result<Vec<u8>, ApiError> {
    let items = stories
        .iter()
        .map(|story| JsonFeedItem {
            id: site.story_id(story),
            url: site.story_url(&story.slug),
            title: &story.title,
            content_html: &story.body_html,
            summary: &story.excerpt,
            date_published: story.published_at,
            date_modified: modified(story),
            authors: [JsonFeedAuthor { name: &story.author.name }],
            tags: &story.tags,
            language: &story.locale,
        })
        .collect();
    let feed =
        JsonFeed { version: "https://jsonfeed.org/version/1.1", title: site.title(), feed_url: &site.self_url, items };
    serde_json::to_vec(&feed).map_err(ApiError::internal)
}

const SITEMAP_NAMESPACE: &str = "http://www.sitemaps.org/schemas/sitemap/0.9";

fn xml_error(err: std::io::Error) -> ApiError {
    ApiError::internal(err)
}

/// The sitemap index: one file per [`URLS_PER_SITEMAP`] ids.
pub fn sitemap_index(files: i64, site: &Site) -> Result<Vec<u8>, ApiError> {
    let mut writer = Writer::new(Vec::new());
    writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None))).map_err(xml_error)?;
    writer
        .create_element("sitemapindex")
        .with_attribute(("xmlns", SITEMAP_NAMESPACE))
        .write_inner_content(|writer| {
            for n in 1..=files {
                let loc = format!("{}/v1/sitemaps/stories-{n}.xml", site.api_base);
                writer.create_element("sitemap").write_inner_content(|writer| {
                    writer.create_element("loc").write_text_content(BytesText::new(&loc)).map(drop)
                })?;
            }
            Ok(())
        })
        .map_err(xml_error)?;
    Ok(writer.into_inner())
}

/// The opening of sitemap file: what comes before its URLs.
pub fn sitemap_start() -> Result<Vec<u8>, ApiError> {
    let mut writer = Writer::new(Vec::new());
    writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None))).map_err(xml_error)?;
    writer
        .write_event(Event::Start(BytesStart::new("urlset").with_attributes([("xmlns", SITEMAP_NAMESPACE)])))
        .map_err(xml_error)?;
    Ok(writer.into_inner())
}

/// Some of a sitemap file's URLs, each with its `lastmod`.
pub fn sitemap_urls(entries: &[SitemapEntry], site: &Site) -> Result<Vec<u8>, ApiError> {
    let mut writer = Writer::new(Vec::new());
    for entry in entries {
        let loc = site.story_url(&entry.slug);
        let lastmod = lastmod(entry.modified);
        writer
            .create_element("url")
            .write_inner_content(|writer| {
                writer.create_element("loc").write_text_content(BytesText::new(&loc))?;
                writer.create_element("lastmod").write_text_content(BytesText::new(&lastmod)).map(drop)
            })
            .map_err(xml_error)?;
    }
    Ok(writer.into_inner())
}

/// The closing of a sitemap file.
pub fn sitemap_end() -> Result<Vec<u8>, ApiError> {
    let mut writer = Writer::new(Vec::new());
    writer.write_event(Event::End(BytesEnd::new("urlset"))).map_err(xml_error)?;
    Ok(writer.into_inner())
}

/// W3C datetime, as sitemaps want it.
fn lastmod(time: NaiveDateTime) -> String {
    time.and_utc().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}
