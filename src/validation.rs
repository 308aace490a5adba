//! Custom `validator` rules shared by request types.

use std::borrow::Cow;

use validator::ValidationError;

/// Text a person typed: any Unicode is kept byte for byte, but not NUL or
/// other C0 control characters except tab and newlines (PostgreSQL rejects
/// NUL, and none of them belongs in a title or a name).
pub fn plain_text(value: &str) -> Result<(), ValidationError> {
    if value.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')) {
        let mut error = ValidationError::new("control_character");
        error.message = Some(Cow::Borrowed("must not contain NUL or other control characters"));
        return Err(error);
    }
    Ok(())
}

/// An absolute `http`/`https` URL with a host and no credentials, at most
/// 2,048 characters: what may be linked from a public page.
pub fn http_url(value: &str) -> Result<(), ValidationError> {
    let fail = |code: &'static str, message: &'static str| {
        let mut error = ValidationError::new(code);
        error.message = Some(Cow::Borrowed(message));
        Err(error)
    };
    if value.chars().count() > 2048 {
        return fail("length", "must be at most 2048 characters long");
    }
    match url::Url::parse(value) {
        Ok(url) if !matches!(url.scheme(), "http" | "https") => fail("scheme", "must be an http or https URL"),
        Ok(url) if url.host_str().is_none_or(str::is_empty) => fail("format", "must be an absolute URL with a host"),
        Ok(url) if !url.username().is_empty() || url.password().is_some() => {
            fail("credentials", "must not contain a user name or password")
        }
        Ok(_) => Ok(()),
        Err(_) => fail("format", "must be an absolute http or https URL"),
    }
}

/// A URL path segment we mint: lower-case ASCII letters and digits in
/// hyphen-separated words, at most 100 characters.
pub fn slug(value: &str) -> Result<(), ValidationError> {
    let well_formed = !value.is_empty()
        && value.len() <= 100
        && value
            .split('-')
            .all(|word| !word.is_empty() && word.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
    if well_formed {
        Ok(())
    } else {
        let mut error = ValidationError::new("format");
        error.message = Some(Cow::Borrowed(
            "must be lower-case letters and digits separated by single hyphens, at most 100 characters",
        ));
        Err(error)
    }
}

/// A BCP 47 language tag such as `en-GB` or `zh-Hant-TW` (shape only).
pub fn locale(value: &str) -> Result<(), ValidationError> {
    let mut parts = value.split('-');
    let language_ok =
        parts.next().is_some_and(|l| (2..=3).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_alphabetic()));
    let rest_ok = parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()));
    if language_ok && rest_ok && value.len() <= 35 {
        Ok(())
    } else {
        let mut error = ValidationError::new("format");
        error.message = Some(Cow::Borrowed("must be a BCP 47 language tag such as en-GB"));
        Err(error)
    }
}

/// Story tags: at most 20 slugs, each a valid slug of at most 50 characters.
pub fn tag_list(tags: &[String]) -> Result<(), ValidationError> {
    let error = |code: &'static str, message: &'static str| {
        let mut e = ValidationError::new(code);
        e.message = Some(Cow::Borrowed(message));
        Err(e)
    };
    if tags.len() > 20 {
        return error("length", "at most 20 tags");
    }
    if tags.iter().any(|t| t.len() > 50 || slug(t).is_err()) {
        return error(
            "format",
            "each tag must be a slug (lower-case letters, digits, hyphens) of at most 50 characters",
        );
    }
    Ok(())
}

/// The schema of one tag in a story's `tags`: a slug of at most 50 characters.
#[derive(utoipa::ToSchema)]
#[schema(max_length = 50, pattern = r"^[a-z0-9]+(-[a-z0-9]+)*$", example = "family")]
#[expect(dead_code, reason = "only its schema is used; `tag_list` checks the values")]
pub struct TagSlug(String);
