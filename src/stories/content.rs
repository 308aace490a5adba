//! What is derived from a story's Markdown body: safe HTML, a plain-text
//! excerpt, the word count and reading time, and slugs from titles.

use std::collections::HashSet;

use pulldown_cmark::{Event, Tag, TagEnd};

use crate::error::ApiError;
use crate::markdown::parser;

/// Words a reader gets through in a minute, for `reading_time_minutes`.
const WORDS_PER_MINUTE: usize = 230;
/// A derived excerpt stops at the first paragraph break past this many characters…
const EXCERPT_MIN_CHARS: usize = 160;
/// …and is cut on a word boundary at this many.
const EXCERPT_MAX_CHARS: usize = 300;

/// Renders Markdown to HTML that is safe to inject into a page: ammonia
/// drops scripts, event handlers, `javascript:`/`data:` URLs and anything
/// else outside its allow-list, and marks links `rel="noopener noreferrer"`.
pub fn render_html(markdown: &str) -> String {
    let mut html = String::with_capacity(markdown.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut html, parser(markdown));
    ammonia::Builder::default()
        .url_schemes(HashSet::from(["http", "https", "mailto"]))
        .link_rel(Some("noopener noreferrer"))
        .clean(&html)
        .to_string()
}

/// The body's text, one string per paragraph-like block.
fn text_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current = String::new();
    for event in parser(markdown) {
        match event {
            Event::Text(text) | Event::Code(text) => current.push_str(&text),
            Event::SoftBreak | Event::HardBreak => current.push(' '),
            Event::End(
                TagEnd::Paragraph | TagEnd::Heading(_) | TagEnd::Item | TagEnd::TableCell | TagEnd::CodeBlock,
            ) => {
                let block = current.split_whitespace().collect::<Vec<_>>().join(" ");
                if !block.is_empty() {
                    blocks.push(block);
                }
                current.clear();
            }
            Event::Start(Tag::Paragraph) => current.clear(),
            _ => {}
        }
    }
    blocks
}

pub struct Derived {
    pub body_html: String,
    pub excerpt: String,
    pub word_count: i32,
    pub reading_time_minutes: i32,
}

/// The most HTML a body may render to. Prose renders to about its own
/// size; Markdown made of nothing but links (`[a](b)` over and over, within
/// the body's 500,000 characters) rendered to 3.9 MB, and a feed or a page
/// of such stories to over 100 MB held in memory per request.
pub const BODY_HTML_MAX: usize = 2 * 1024 * 1024;

/// What is derived from `body`; a body that renders to more than
/// [`BODY_HTML_MAX`] bytes of HTML is a 422 on `body`.
pub fn derive(body: &str) -> Result<Derived, ApiError> {
    let body_html = render_html(body);
    if body_html.len() > BODY_HTML_MAX {
        return Err(ApiError::invalid(
            "body",
            "rendered_size",
            format!("renders to {} bytes of HTML, more than the {BODY_HTML_MAX} a story may have", body_html.len()),
        ));
    }
    let blocks = text_blocks(body);
    let word_count = blocks.iter().map(|b| b.split_whitespace().count()).sum::<usize>();
    Ok(Derived {
        body_html,
        excerpt: excerpt_from(&blocks),
        word_count: i32::try_from(word_count).unwrap_or(i32::MAX),
        reading_time_minutes: i32::try_from(word_count.div_ceil(WORDS_PER_MINUTE).max(1)).unwrap_or(i32::MAX),
    })
}

/// The first paragraph(s), plain text, cut on a word boundary with an ellipsis.
fn excerpt_from(blocks: &[String]) -> String {
    let mut excerpt = String::new();
    for block in blocks {
        if excerpt.chars().count() >= EXCERPT_MIN_CHARS {
            break;
        }
        if !excerpt.is_empty() {
            excerpt.push(' ');
        }
        excerpt.push_str(block);
    }
    if excerpt.chars().count() <= EXCERPT_MAX_CHARS {
        return excerpt;
    }
    let cut: String = excerpt.chars().take(EXCERPT_MAX_CHARS).collect();
    let at_word = cut.rfind(char::is_whitespace).map_or(cut.as_str(), |i| &cut[..i]);
    format!("{}…", at_word.trim_end_matches(|c: char| c.is_whitespace() || c.is_ascii_punctuation()))
}

/// The longest slug derived from a title: the explicit-slug limit
/// ([`crate::fields::SLUG_MAX`], 190, as in Ghost) less room for the `-2` …
/// `-9999` that makes a taken slug unique, so that a derived slug still
/// passes the explicit-slug rule when a later edit checks the whole story.
const DERIVED_SLUG_MAX: usize = crate::fields::SLUG_MAX - 5;

/// A slug from a title: transliterated to ASCII, lower-case, hyphenated, at
/// most [`DERIVED_SLUG_MAX`] characters cut between words (so a long title
/// keeps its words); `story` if nothing is left.
pub fn slug_from_title(title: &str) -> String {
    let max = DERIVED_SLUG_MAX;
    let slug = slug::slugify(title);
    // `slugify` yields ASCII, so byte indices are character indices. A cut
    // that falls just before a hyphen keeps the whole word.
    let slug = match slug.as_bytes().get(max) {
        None => slug,
        Some(b'-') => slug[..max].to_owned(),
        Some(_) => slug[..max].rsplit_once('-').map_or(&slug[..max], |(head, _)| head).to_owned(),
    };
    if slug.is_empty() { "story".to_owned() } else { slug }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_ascii_and_hyphenated() {
        assert_eq!(slug_from_title("“Mum’s moving in” — a story of Łódź"), "mum-s-moving-in-a-story-of-lodz");
        assert_eq!(slug_from_title("“…” — ?!"), "story");
        // Long titles keep every word up to 185 characters, and are cut between words.
        let long =
            "When my mother turned eighty-four, we said the words we had avoided for years: come and live with us";
        assert_eq!(
            slug_from_title(long),
            "when-my-mother-turned-eighty-four-we-said-the-words-we-had-avoided-for-years-come-and-live-with-us"
        );
        let cut = slug_from_title(&"word ".repeat(50));
        assert_eq!(cut, vec!["word"; 37].join("-"));
        assert_eq!(cut.len(), 184);
        // A cut that lands just before a hyphen keeps the last whole word.
        assert_eq!(slug_from_title(&format!("{} tail", "x".repeat(185))), "x".repeat(185));
        assert_eq!(slug_from_title(&"y".repeat(200)), "y".repeat(185));
    }

    #[test]
    fn html_is_sanitized_and_links_are_safe() {
        let html = render_html(
            "[x](javascript:alert(1)) <script>alert(1)</script> <img src=x onerror=alert(1)> [ok](https://a.example)",
        );
        assert!(!html.contains("<script") && !html.contains("onerror") && !html.contains("javascript:"), "{html}");
        assert!(html.contains(r#"<a href="https://a.example" rel="noopener noreferrer">ok</a>"#), "{html}");
    }

    #[test]
    fn excerpt_and_counts_come_from_the_text() {
        let body = format!("# Title\n\nFirst paragraph, with *emphasis*.\n\n{}", "word ".repeat(460));
        let derived = derive(&body).unwrap();
        assert!(derived.excerpt.starts_with("Title First paragraph, with emphasis."), "{}", derived.excerpt);
        assert!(derived.excerpt.ends_with('…') && derived.excerpt.chars().count() <= EXCERPT_MAX_CHARS + 1);
        assert_eq!(derived.word_count, 465);
        assert_eq!(derived.reading_time_minutes, 3);
        assert_eq!(derive("").unwrap().reading_time_minutes, 1);
    }
}
