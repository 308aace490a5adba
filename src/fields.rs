//! The types of request fields, each stating its rule once: the `validator`
//! check and the OpenAPI schema both come from it.
//!
//! A field of type [`Title`] is non-empty plain text no longer than a title
//! because the type says so; the request type only writes
//! `#[validate(custom(function = "crate::fields::check"))]` and how utoipa is
//! to take the type's schema:
//! - a required field without a doc comment: `#[schema(inline)]`;
//! - an `Option<T>` field: `#[schema(schema_with = fields::nullable::<T>)]`
//!   (inlined, utoipa would write `oneOf: [T, null]`, not `type: [string, null]`);
//! - a field with a description: `#[schema(schema_with = f)]`, `f` adding the
//!   description to [`schema`] or [`nullable`] (inlined, utoipa would wrap the
//!   type's schema in `allOf` to add the field's doc comment, which it ignores
//!   with `schema_with`).
//!
//! On the wire each type is the bare string (or list); serde is transparent.
//! A value is checked by `validate()`, not when it is made: the types name a
//! field's rule, they do not prove that a value keeps it.
//!
//! A leaf module: it uses no resource module.

use std::borrow::Cow;
use std::ops::Deref;

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{ArrayBuilder, KnownFormat, ObjectBuilder, Schema, SchemaFormat, SchemaType, Type};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};
use validator::{ValidateEmail, ValidationError};

use crate::markdown;

/// What [`plain_text`] accepts, as a JSON Schema pattern.
const PLAIN_TEXT_PATTERN: &str = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\uFFFE-\uFFFF]*$";
/// Roughly what [`HttpUrl`] accepts: its rule also parses the URL.
const HTTP_URL_PATTERN: &str = r"^https?://[A-Za-z][A-Za-z0-9-]*(\.[A-Za-z][A-Za-z0-9-]*)*(:[1-9][0-9]{0,3})?(/[A-Za-z0-9._~%!$&'()*+,;=:@/-]*)?(\?[A-Za-z0-9._~%!$&'()*+,;=:@/?-]*)?(#[A-Za-z0-9._~%!$&'()*+,;=:@/?-]*)?$";
/// What [`slug`] accepts.
const SLUG_PATTERN: &str = r"^[a-z0-9]+(-[a-z0-9]+)*$";
/// What [`Locale`] accepts, but for its length.
const LOCALE_PATTERN: &str = r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$";

const TITLE_MAX: usize = 300;
/// The longest email address: a 64-character local part, `@`, a 255-character domain.
const EMAIL_MAX: usize = 320;
const PASSWORD_MAX: usize = 1024;
const URL_MAX: usize = 2048;
/// The longest slug, explicit or derived from a title (Ghost's limit too).
pub const SLUG_MAX: usize = 190;
const LOCALE_MAX: usize = 35;
const TAG_MAX: usize = 50;
const TAGS_MAX: usize = 20;
/// A search longer than a long sentence is not a reader looking for a story.
const SEARCH_MAX: usize = 200;
const MARKDOWN_MAX: usize = 500_000;

/// A story's or an external link's title.
pub type Title = PlainText<1, TITLE_MAX>;
/// A subtitle or a title for search engines: as long as a title, and may be empty.
pub type ShortText = PlainText<0, TITLE_MAX>;
/// An image's alternative text or a description for search engines.
pub type Description = PlainText<0, 500>;
/// A story's excerpt.
pub type Excerpt = PlainText<0, 1000>;
/// A person's name as shown: a byline, an editor's display name.
pub type Name = PlainText<1, 200>;
/// A reader's search (`q`). Its words are bounded too, by the search itself.
pub type SearchText = PlainText<0, SEARCH_MAX>;
/// A new password.
pub type Password = Text<10, PASSWORD_MAX>;
/// An email address as typed at login: only its length is checked here,
/// the account lookup does the rest.
pub type LoginEmail = Text<1, EMAIL_MAX>;
/// A password as typed at login: only its length is checked here, the
/// stored hash does the rest.
pub type LoginPassword = Text<1, PASSWORD_MAX>;

/// A field type: its rule.
pub trait Field {
    /// `Ok` when the value keeps the rule; else the reason, with a code and
    /// a message for the 422 entry.
    fn check(&self) -> Result<(), ValidationError>;
}

/// `validator` passes an `Option<T>` field's value as `&&T`.
impl<T: Field + ?Sized> Field for &T {
    fn check(&self) -> Result<(), ValidationError> {
        (**self).check()
    }
}

/// What request types name in `#[validate(custom(function = "crate::fields::check"))]`.
pub fn check<T: Field>(value: &T) -> Result<(), ValidationError> {
    value.check()
}

/// A field type sent as a JSON string.
pub trait StringField: Field {
    /// The rule, for any text.
    fn rule(value: &str) -> Result<(), ValidationError>;
    /// The schema of a field of this type: a string with the rule's limits,
    /// pattern and format.
    fn string_schema() -> ObjectBuilder;
}

/// The schema of a `T` field, for a `schema_with` function to add to.
pub fn schema<T: StringField>() -> ObjectBuilder {
    T::string_schema()
}

/// The schema of an `Option<T>` field: `#[schema(schema_with = fields::nullable::<T>)]`.
pub fn nullable<T: StringField>() -> ObjectBuilder {
    T::string_schema().schema_type(SchemaType::from_iter([Type::String, Type::Null]))
}

/// Declares a string field type: the bare string on the wire, transparent
/// access to the text (and `Debug` as the bare string), and its schema and
/// check from [`StringField`].
macro_rules! string_field {
    ($(#[$doc:meta])* $name:ident $(<$($param:ident),+>)?) => {
        $(#[$doc])*
        #[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name$(<$(const $param: usize),+>)?(String);

        impl$(<$(const $param: usize),+>)? std::fmt::Debug for $name$(<$($param),+>)? {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl$(<$(const $param: usize),+>)? $name$(<$($param),+>)? {
            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl$(<$(const $param: usize),+>)? Deref for $name$(<$($param),+>)? {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl$(<$(const $param: usize),+>)? AsRef<str> for $name$(<$($param),+>)? {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl$(<$(const $param: usize),+>)? From<String> for $name$(<$($param),+>)? {
            fn from(value: String) -> Self {
                Self(value)
            }
        }

        impl$(<$(const $param: usize),+>)? From<&str> for $name$(<$($param),+>)? {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }

        impl$(<$(const $param: usize),+>)? From<$name$(<$($param),+>)?> for String {
            fn from(value: $name$(<$($param),+>)?) -> String {
                value.0
            }
        }

        impl$(<$(const $param: usize),+>)? Field for $name$(<$($param),+>)? {
            fn check(&self) -> Result<(), ValidationError> {
                <Self as StringField>::rule(&self.0)
            }
        }

        impl$(<$(const $param: usize),+>)? PartialSchema for $name$(<$($param),+>)? {
            fn schema() -> RefOr<Schema> {
                <Self as StringField>::string_schema().into()
            }
        }

        impl$(<$(const $param: usize),+>)? ToSchema for $name$(<$($param),+>)? {}
    };
}

string_field! {
    /// Text a person typed, `MIN` to `MAX` characters, that is [`plain_text`].
    PlainText<MIN, MAX>
}

impl<const MIN: usize, const MAX: usize> StringField for PlainText<MIN, MAX> {
    fn rule(value: &str) -> Result<(), ValidationError> {
        length(value, MIN, MAX)?;
        plain_text(value)
    }

    fn string_schema() -> ObjectBuilder {
        string_of_length(MIN, MAX).pattern(Some(PLAIN_TEXT_PATTERN))
    }
}

string_field! {
    /// A story's body: Markdown, [`plain_text`] of at most 500,000
    /// characters, nesting at most [`markdown::MAX_NESTING`] levels deep.
    Markdown
}

impl StringField for Markdown {
    fn rule(value: &str) -> Result<(), ValidationError> {
        PlainText::<0, MARKDOWN_MAX>::rule(value)?;
        if markdown::nesting(value) > markdown::MAX_NESTING {
            return Err(error(
                "nesting",
                format!(
                    "must not nest blockquotes, lists, emphasis, links or HTML elements more than {} levels deep",
                    markdown::MAX_NESTING
                ),
            ));
        }
        Ok(())
    }

    fn string_schema() -> ObjectBuilder {
        PlainText::<0, MARKDOWN_MAX>::string_schema()
    }
}

string_field! {
    /// Any text of `MIN` to `MAX` characters.
    Text<MIN, MAX>
}

impl<const MIN: usize, const MAX: usize> StringField for Text<MIN, MAX> {
    fn rule(value: &str) -> Result<(), ValidationError> {
        length(value, MIN, MAX)
    }

    fn string_schema() -> ObjectBuilder {
        string_of_length(MIN, MAX)
    }
}

string_field! {
    /// An email address.
    Email
}

impl StringField for Email {
    fn rule(value: &str) -> Result<(), ValidationError> {
        length(value, 0, EMAIL_MAX)?;
        if !value.validate_email() {
            return Err(error("email", "must be an email address"));
        }
        Ok(())
    }

    fn string_schema() -> ObjectBuilder {
        string_of_length(0, EMAIL_MAX).format(Some(SchemaFormat::KnownFormat(KnownFormat::Email)))
    }
}

string_field! {
    /// An absolute `http`/`https` URL with a host and no credentials: what may
    /// be linked from a public page.
    HttpUrl
}

impl StringField for HttpUrl {
    fn rule(value: &str) -> Result<(), ValidationError> {
        length(value, 0, URL_MAX)?;
        match url::Url::parse(value) {
            Ok(url) if !matches!(url.scheme(), "http" | "https") => {
                Err(error("scheme", "must be an http or https URL"))
            }
            Ok(url) if url.host_str().is_none_or(str::is_empty) => {
                Err(error("format", "must be an absolute URL with a host"))
            }
            Ok(url) if !url.username().is_empty() || url.password().is_some() => {
                Err(error("credentials", "must not contain a user name or password"))
            }
            Ok(_) => Ok(()),
            Err(_) => Err(error("format", "must be an absolute http or https URL")),
        }
    }

    fn string_schema() -> ObjectBuilder {
        string_of_length(0, URL_MAX).pattern(Some(HTTP_URL_PATTERN))
    }
}

/// A time as a client sends it: RFC 3339, whose years have four digits
/// (in UTC, as stored).
/// chrono also reads `+10000-01-01T00:00:00Z` and `-0044-03-15T00:00:00Z`,
/// which SQLite, comparing stored times as text, sorted before every real
/// date: a story scheduled for the year 10000 was public at once. In the
/// OpenAPI document a field of this type is a `date-time`
/// (`value_type = DateTime<Utc>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Rfc3339Time(DateTime<Utc>);

impl<'de> Deserialize<'de> for Rfc3339Time {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let time = DateTime::<Utc>::deserialize(deserializer)?;
        // In UTC, as stored: `9999-12-31T23:00:00-05:00` is in the year 10000.
        if (0..=9999).contains(&time.year()) {
            Ok(Self(time))
        } else {
            Err(serde::de::Error::custom("must be an RFC 3339 time from 0000-01-01T00:00:00Z to 9999-12-31T23:59:59Z"))
        }
    }
}

impl From<DateTime<Utc>> for Rfc3339Time {
    fn from(time: DateTime<Utc>) -> Self {
        Self(time)
    }
}

impl Deref for Rfc3339Time {
    type Target = DateTime<Utc>;

    fn deref(&self) -> &DateTime<Utc> {
        &self.0
    }
}

/// Declares a slug field type: lower-case ASCII letters and digits in
/// hyphen-separated words, at most `$max` characters; else a `format` error
/// saying `$message`.
macro_rules! slug_field {
    ($(#[doc = $doc:literal])* $name:ident, $max:ident, $message:literal) => {
        string_field! {
            $(#[doc = $doc])*
            $name
        }

        impl StringField for $name {
            fn rule(value: &str) -> Result<(), ValidationError> {
                slug(value, $max, || format!($message))
            }

            fn string_schema() -> ObjectBuilder {
                string_of_length(0, $max).pattern(Some(SLUG_PATTERN))
            }
        }
    };
}

slug_field! {
    /// A URL path segment we mint.
    Slug, SLUG_MAX, "must be lower-case letters and digits separated by single hyphens, at most {SLUG_MAX} characters"
}

slug_field! {
    /// One of a story's [`Tags`]: a short slug. Its schema is the component
    /// `TagSlug`.
    TagSlug, TAG_MAX, "each tag must be a slug (lower-case letters, digits, hyphens) of at most {TAG_MAX} characters"
}

string_field! {
    /// A BCP 47 language tag such as `en-GB` or `zh-Hant-TW` (its shape only).
    Locale
}

impl StringField for Locale {
    fn rule(value: &str) -> Result<(), ValidationError> {
        let mut parts = value.split('-');
        let language_ok =
            parts.next().is_some_and(|l| (2..=3).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_alphabetic()));
        let rest_ok = parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()));
        if language_ok && rest_ok && value.len() <= LOCALE_MAX {
            Ok(())
        } else {
            Err(error("format", "must be a BCP 47 language tag such as en-GB"))
        }
    }

    fn string_schema() -> ObjectBuilder {
        string_of_length(0, LOCALE_MAX).pattern(Some(LOCALE_PATTERN))
    }
}

string_field! {
    /// A string query or path parameter (a filter, a slug to look up): any
    /// length, but [`plain_text`].
    ParamText
}

impl StringField for ParamText {
    fn rule(value: &str) -> Result<(), ValidationError> {
        plain_text(value)
    }

    fn string_schema() -> ObjectBuilder {
        ObjectBuilder::new().schema_type(Type::String).pattern(Some(PLAIN_TEXT_PATTERN))
    }
}

/// A story's tags as sent: a few [`TagSlug`]s (kept as strings).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Tags(Vec<String>);

impl std::fmt::Debug for Tags {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl Deref for Tags {
    type Target = [String];

    fn deref(&self) -> &[String] {
        &self.0
    }
}

impl From<Vec<String>> for Tags {
    fn from(tags: Vec<String>) -> Self {
        Self(tags)
    }
}

impl Field for Tags {
    fn check(&self) -> Result<(), ValidationError> {
        if self.0.len() > TAGS_MAX {
            return Err(error("length", format!("at most {TAGS_MAX} tags")));
        }
        self.0.iter().try_for_each(|tag| TagSlug::rule(tag))
    }
}

/// The field's description is part of the type's schema: utoipa would wrap
/// an inlined schema in `allOf` to add a doc comment, and `schema_with`
/// would leave out the `TagSlug` component that the items refer to.
impl PartialSchema for Tags {
    fn schema() -> RefOr<Schema> {
        ArrayBuilder::new()
            .items(Ref::from_schema_name(TagSlug::name()))
            .description(Some(format!("At most {TAGS_MAX} tag slugs; repeats are dropped.")))
            .max_items(Some(TAGS_MAX))
            .into()
    }
}

impl ToSchema for Tags {
    /// The component `TagSlug`, described as one of these tags.
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        // The committed document has `example`, as utoipa's derive writes it.
        #[allow(deprecated)]
        let tag = TagSlug::string_schema()
            .description(Some(format!(
                "The schema of one tag in a story's `tags`: a slug of at most {TAG_MAX} characters."
            )))
            .example(Some("family".into()));
        schemas.push((TagSlug::name().into(), tag.into()));
    }
}

/// Text a person typed: any Unicode is kept byte for byte, but not NUL or
/// other control characters except tab and newlines (PostgreSQL rejects
/// NUL, and none of them belongs in a title or a name), nor U+FFFE and
/// U+FFFF, which XML forbids: one in a story made every reader's Atom and
/// RSS feed unreadable.
pub fn plain_text(value: &str) -> Result<(), ValidationError> {
    if value.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')) {
        return Err(error("control_character", "must not contain NUL or other control characters"));
    }
    if value.contains(['\u{FFFE}', '\u{FFFF}']) {
        return Err(error("noncharacter", "must not contain the noncharacters U+FFFE or U+FFFF"));
    }
    Ok(())
}

/// `min` to `max` characters, counted as `validator` counts them.
fn length(value: &str, min: usize, max: usize) -> Result<(), ValidationError> {
    if (min..=max).contains(&value.chars().count()) {
        Ok(())
    } else if min == 0 {
        Err(error("length", format!("must be at most {max} characters long")))
    } else {
        Err(error("length", format!("must be {min} to {max} characters long")))
    }
}

fn string_of_length(min: usize, max: usize) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String).min_length((min > 0).then_some(min)).max_length(Some(max))
}

/// Lower-case ASCII letters and digits in hyphen-separated words, at most
/// `max` characters; else a `format` error with `message`.
fn slug(value: &str, max: usize, message: impl FnOnce() -> String) -> Result<(), ValidationError> {
    let well_formed = !value.is_empty()
        && value.len() <= max
        && value
            .split('-')
            .all(|word| !word.is_empty() && word.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
    if well_formed { Ok(()) } else { Err(error("format", message())) }
}

fn error(code: &'static str, message: impl Into<Cow<'static, str>>) -> ValidationError {
    ValidationError::new(code).with_message(message.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The schema's limits are the rule's: a value as long as `maxLength`
    /// (and `minLength`) passes, one character more (or less) does not.
    fn limits_agree<T: StringField>(sample: impl Fn(usize) -> String) {
        let schema = T::string_schema().build();
        let max = schema.max_length.expect("every string field type has a maxLength");
        assert_eq!(T::rule(&sample(max)).map_err(|e| e.code), Ok(()), "{max}");
        assert!(T::rule(&sample(max + 1)).is_err(), "{}", max + 1);
        if let Some(min) = schema.min_length {
            assert_eq!(T::rule(&sample(min)).map_err(|e| e.code), Ok(()), "{min}");
            assert!(T::rule(&sample(min - 1)).is_err(), "{}", min - 1);
        }
    }

    #[test]
    fn each_schema_states_the_limits_its_rule_keeps() {
        // Not ASCII, to count characters rather than bytes.
        let text = |n: usize| "é".repeat(n);
        limits_agree::<Title>(text);
        limits_agree::<ShortText>(text);
        limits_agree::<Description>(text);
        limits_agree::<Excerpt>(text);
        limits_agree::<Markdown>(text);
        limits_agree::<Name>(text);
        limits_agree::<SearchText>(text);
        limits_agree::<Password>(text);
        limits_agree::<LoginEmail>(text);
        limits_agree::<LoginPassword>(text);
        limits_agree::<HttpUrl>(|n| format!("https://example.com/{}", "a".repeat(n - 20)));
        limits_agree::<Slug>(|n| "a".repeat(n));
        limits_agree::<TagSlug>(|n| "a".repeat(n));
        limits_agree::<Email>(|n| {
            // A 64-character local part, and a domain of labels of at most 63.
            let mut domain = String::new();
            while domain.len() < n - 65 {
                let label = (n - 65 - domain.len()).min(63);
                domain.push_str(&"b".repeat(label));
                if domain.len() < n - 65 - 1 {
                    domain.push('.');
                }
            }
            format!("{}@{domain}", "a".repeat(64))
        });
        limits_agree::<Locale>(|n| {
            let mut tag = String::from("ab");
            while tag.len() < n {
                let part = (n - tag.len() - 1).min(8);
                tag.push('-');
                tag.push_str(&"c".repeat(part));
            }
            tag
        });
    }

    #[test]
    fn tags_schema_states_the_limit_its_rule_keeps() {
        let RefOr::T(Schema::Array(array)) = Tags::schema() else { panic!("tags are an array") };
        let max = array.max_items.unwrap();
        let tags = |n: usize| Tags::from((0..n).map(|i| format!("t{i}")).collect::<Vec<_>>());
        assert!(tags(max).check().is_ok());
        assert_eq!(tags(max + 1).check().unwrap_err().code, "length");
        let bad = Tags::from(vec!["ok".to_owned(), "Not a slug".to_owned()]);
        assert_eq!(bad.check().unwrap_err().code, "format");
        let mut schemas = Vec::new();
        Tags::schemas(&mut schemas);
        assert_eq!(schemas.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>(), ["TagSlug"]);
    }

    #[test]
    fn the_plain_text_pattern_excludes_what_the_rule_rejects() {
        let class = PLAIN_TEXT_PATTERN.strip_prefix("^[^").and_then(|p| p.strip_suffix("]*$")).unwrap();
        let code = |s: &str| u32::from_str_radix(s.strip_prefix("\\u").unwrap(), 16).unwrap();
        // `\uXXXX` or `\uXXXX-\uXXXX`, one after another.
        let mut ranges = Vec::new();
        let mut rest = class;
        while !rest.is_empty() {
            let (low, after) = rest.split_at(6);
            let (high, after) = match after.strip_prefix('-') {
                Some(after) => after.split_at(6),
                None => (low, after),
            };
            ranges.push((code(low), code(high)));
            rest = after;
        }
        let mut buffer = [0; 4];
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            let excluded = ranges.iter().any(|(low, high)| (*low..=*high).contains(&u32::from(c)));
            let rejected = plain_text(c.encode_utf8(&mut buffer)).is_err();
            assert_eq!(excluded, rejected, "U+{:04X}", u32::from(c));
        }
    }

    #[test]
    fn plain_text_rejects_control_characters_and_keeps_the_rest_byte_for_byte() {
        for bad in ["NUL\0byte", "\u{1}", "\u{8}", "\u{b}", "\u{c}", "\u{e}", "\u{1f}", "\u{7f}", "\u{85}", "\u{9f}"] {
            let error = Title::from(bad).check().unwrap_err();
            assert_eq!(
                (error.code.as_ref(), error.to_string().as_str()),
                ("control_character", "must not contain NUL or other control characters"),
                "{bad:?}"
            );
        }
        let json = r#""Mum’s “tea” — one\ttab,\nlines\r\nand 😀""#;
        let title: Title = serde_json::from_str(json).unwrap();
        assert_eq!(title.check(), Ok(()));
        assert_eq!(serde_json::to_string(&title).unwrap(), json);
        assert_eq!(title.as_bytes(), serde_json::from_str::<String>(json).unwrap().as_bytes());
    }

    #[test]
    fn plain_text_rejects_the_noncharacters_xml_forbids() {
        for bad in ["\u{FFFE}", "a\u{FFFF}b"] {
            assert_eq!(Title::from(bad).check().unwrap_err().code, "noncharacter", "{bad:?}");
        }
        assert_eq!(Title::from("\u{FFFD} \u{FDD0} \u{10FFFF}").check(), Ok(()));
    }

    #[test]
    fn a_body_nests_at_most_max_nesting_levels() {
        // Each `>` is a blockquote; the text in the innermost one, a paragraph.
        let quoted = |levels: usize| Markdown::from(format!("{} deep", ">".repeat(levels)));
        assert_eq!(quoted(markdown::MAX_NESTING - 1).check(), Ok(()));
        assert_eq!(quoted(markdown::MAX_NESTING).check().unwrap_err().code, "nesting");
        let too_long = Markdown::from("x".repeat(MARKDOWN_MAX + 1));
        assert_eq!(too_long.check().unwrap_err().code, "length");
    }

    #[test]
    fn times_have_four_digit_years() {
        let read = |time: &str| serde_json::from_value::<Rfc3339Time>(serde_json::json!(time));
        assert_eq!(read("9999-12-31T23:59:59Z").unwrap().year(), 9999);
        assert_eq!(read("0001-01-01T00:00:00+01:00").unwrap().year(), 0);
        for bad in ["+10000-01-01T00:00:00Z", "-0044-03-15T00:00:00Z", "9999-12-31T23:00:00-05:00"] {
            assert!(read(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn errors_read_as_validator_would_write_them() {
        let error = |result: Result<(), ValidationError>| {
            let error = result.unwrap_err();
            (error.code.to_string(), error.to_string())
        };
        let length = |message: &str| ("length".to_owned(), message.to_owned());
        assert_eq!(error(Title::from("").check()), length("must be 1 to 300 characters long"));
        assert_eq!(error(ShortText::from("x".repeat(301)).check()), length("must be at most 300 characters long"));
        assert_eq!(error(Password::from("short").check()), length("must be 10 to 1024 characters long"));
        // The length is checked first, as `validator` checked it before a custom rule.
        assert_eq!(error(ShortText::from("\0".repeat(301)).check()), length("must be at most 300 characters long"));
        assert_eq!(
            error(Email::from("not an address").check()),
            ("email".to_owned(), "must be an email address".to_owned())
        );
        assert_eq!(error(HttpUrl::from("ftp://example.com/").check()).0, "scheme");
        assert_eq!(error(HttpUrl::from("https://user:pw@example.com/").check()).0, "credentials");
        assert_eq!(error(HttpUrl::from("/relative").check()).0, "format");
        assert_eq!(error(Slug::from("Not-a-slug").check()).0, "format");
        assert_eq!(error(Locale::from("english please").check()).0, "format");
        assert_eq!(Locale::from("zh-Hant-TW").check(), Ok(()));
    }

    #[test]
    fn an_option_field_is_checked_through_its_reference() {
        let value = Some(Title::from(""));
        let Some(title) = &value else { unreachable!() };
        assert_eq!(check(&title).unwrap_err().code, "length");
    }

    #[test]
    fn nullable_allows_null_and_keeps_the_limits() {
        let schema = serde_json::to_value(nullable::<Slug>().build()).unwrap();
        assert_eq!(schema, serde_json::json!({"type": ["string", "null"], "maxLength": 190, "pattern": SLUG_PATTERN}));
    }
}
