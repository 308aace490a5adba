//! Markdown as story bodies are written in it: the parser's options, and how
//! deeply a body may nest. A leaf module: [`crate::fields`] states the body's
//! rule with it, `stories::content` renders with it.

use pulldown_cmark::{Event, Options, Parser};

/// How many levels of elements a body may nest: Markdown's own
/// (blockquotes, lists and their items, emphasis, links…) and raw HTML
/// elements within them. Sanitizing HTML (html5ever's tree builder, inside
/// ammonia) costs each element time in proportion to the depth it sits at:
/// a 16 KB body of nothing but `>` took a second of CPU in a release build,
/// 64 KB twenty seconds, and a 500 KB one would take hours — while holding
/// the database's write lock. Real stories nest a handful of levels.
pub const MAX_NESTING: usize = 32;

/// Raw HTML elements that never nest: void elements, and those whose end
/// tag may be left out (an HTML parser closes an open `<p>` or `<li>` when
/// the next one starts, so a page of them is a row of siblings).
const NON_NESTING: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr", "p",
    "li", "dt", "dd", "rt", "rp", "optgroup", "option", "colgroup", "caption", "thead", "tbody", "tfoot", "tr", "td",
    "th", "html", "head", "body",
];

pub fn parser(markdown: &str) -> Parser<'_> {
    Parser::new_ext(markdown, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_FOOTNOTES)
}

/// The deepest nesting of elements `markdown` renders to (see
/// [`MAX_NESTING`]), in one pass of the parser. Raw HTML is read tag by
/// tag, without a full HTML parse: an element that closes elsewhere than
/// where it opened may be counted a level too deep or too shallow, which a
/// limit this far above real use absorbs.
pub fn nesting(markdown: &str) -> usize {
    let (mut markdown_depth, mut html_depth, mut deepest) = (0usize, 0usize, 0usize);
    for event in parser(markdown) {
        match event {
            Event::Start(_) => markdown_depth += 1,
            Event::End(_) => markdown_depth = markdown_depth.saturating_sub(1),
            Event::Html(html) | Event::InlineHtml(html) => {
                for opens in raw_tags(&html) {
                    html_depth = if opens { html_depth + 1 } else { html_depth.saturating_sub(1) };
                    deepest = deepest.max(markdown_depth + html_depth);
                }
            }
            _ => {}
        }
        deepest = deepest.max(markdown_depth + html_depth);
    }
    deepest
}

/// The tags in a piece of raw HTML that open (`true`) or close (`false`) a
/// nesting element, in order.
fn raw_tags(html: &str) -> impl Iterator<Item = bool> + '_ {
    html.match_indices('<').filter_map(|(at, _)| {
        let rest = &html[at + 1..];
        let (closes, rest) = match rest.strip_prefix('/') {
            Some(rest) => (true, rest),
            None => (false, rest),
        };
        let name_len = rest.find(|c: char| !c.is_ascii_alphanumeric() && c != '-').unwrap_or(rest.len());
        let name = &rest[..name_len];
        if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
            return None; // a comment, a declaration, or a bare `<`
        }
        if NON_NESTING.iter().any(|tag| tag.eq_ignore_ascii_case(name)) {
            return None;
        }
        let self_closing = rest[name_len..].split('>').next().is_some_and(|attrs| attrs.ends_with('/'));
        (!self_closing).then_some(!closes)
    })
}

#[cfg(test)]
mod tests {
    use super::nesting;

    #[test]
    fn nesting_counts_markdown_and_raw_html_elements() {
        assert_eq!(nesting("plain words"), 1);
        assert_eq!(nesting("> > quoted twice"), 3);
        assert_eq!(nesting("- a\n  - b\n    - c"), 6);
        assert_eq!(nesting(&">".repeat(1000)), 1000);
        assert_eq!(nesting(&format!("{}a", "- ".repeat(100))), 200);
        // An HTML block is one level, its elements the rest.
        assert_eq!(nesting(&format!("{}x", "<div>".repeat(50))), 51);
        assert_eq!(nesting(&format!("{}x", "<span><b>".repeat(25))), 51);
    }

    #[test]
    fn siblings_void_and_self_closing_elements_do_not_nest() {
        let siblings = "<div>a</div>\n".repeat(500);
        assert_eq!(nesting(&siblings), 2);
        assert_eq!(nesting(&"<p>x".repeat(500)), 1);
        assert_eq!(nesting(&"- - - -\n".repeat(100)), 0);
        assert_eq!(nesting(&"<br><img src=\"a.png\"><x-widget/>".repeat(100)), 1);
        assert_eq!(nesting(&"<!-- a --> 1 < 2 <3".repeat(100)), 1);
        assert_eq!(nesting(&"*a* **b** [c](https://example.com) ".repeat(200)), 2);
    }
}
