//! What is derived from a story's Markdown body: safe HTML, a plain-text
//! excerpt, the word count and reading time, and slugs from titles.

use std::collections::HashSet;

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

/// Words a reader gets through in a minute, for `reading_time_minutes`.
const WORDS_PER_MINUTE: usize = 230;
/// A derived excerpt stops at the first paragraph break past this many characters…
const EXCERPT_MIN_CHARS: usize = 160;
/// …and is cut on a word boundary at this many.
const EXCERPT_MAX_CHARS: usize = 300;

fn parser(markdown: &str) -> Parser<'_> {
    Parser::new_ext(markdown, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_FOOTNOTES)
}

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

pub fn derive(body: &str) -> Derived {
    let blocks = text_blocks(body);
    let word_count = blocks.iter().map(|b| b.split_whitespace().count()).sum::<usize>();
    Derived {
        body_html: render_html(body),
        excerpt: excerpt_from(&blocks),
        word_count: i32::try_from(word_count).unwrap_or(i32::MAX),
        reading_time_minutes: i32::try_from(word_count.div_ceil(WORDS_PER_MINUTE).max(1)).unwrap_or(i32::MAX),
    }
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

/// A slug from a title: transliterated to ASCII, lower-case, hyphenated, at
/// most 80 characters cut on a hyphen; `story` if nothing is left.
pub fn slug_from_title(title: &str) -> String {
    let slug = slug::slugify(title);
    let slug = if slug.len() > 80 {
        slug[..80].rsplit_once('-').map_or(&slug[..80], |(head, _)| head).to_owned()
    } else {
        slug
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
        assert!(slug_from_title(&"word ".repeat(50)).len() <= 80);
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
        let derived = derive(&body);
        assert!(derived.excerpt.starts_with("Title First paragraph, with emphasis."), "{}", derived.excerpt);
        assert!(derived.excerpt.ends_with('…') && derived.excerpt.chars().count() <= EXCERPT_MAX_CHARS + 1);
        assert_eq!(derived.word_count, 465);
        assert_eq!(derived.reading_time_minutes, 3);
        assert_eq!(derive("").reading_time_minutes, 1);
    }
}
