//! Related links: a story's "read next" list, curated by editors, with
//! optional automatic suggestions.
//!
//! Routes: `handlers.rs`. SQL: `queries.rs`. Wire types: `dto.rs`. The task
//! that computes suggestions in the background: `suggester.rs`. Below: the
//! rules a list must keep, what readers and editors see, how suggestions
//! are ranked, and when they are computed.
//!
//! Suggestions are computed when a story is published or its title, excerpt
//! or tags change — queued in that write's transaction, computed by any
//! process's suggester moments later — and stored ([`STORED`] per story);
//! a read only walks what is stored, keeping the targets public now.

pub(crate) mod dto;
pub(crate) mod handlers;
mod queries;
mod suggester;

use std::collections::{HashMap, HashSet};

use chrono::NaiveDateTime;

use crate::db::{Content, DbConnection, Internal, Tx, now, stored_as_text};
use crate::error::{ApiError, FieldError};
use crate::http::Audience;
use crate::stories::{Combine, Status, StoredStatus, best_public_matches, is_public, visible_to};
use crate::webhooks::EventType;
use dto::{LinkKind, RelatedLink, RelatedLinkInput, StoryRef};
use queries::{LinkRow, NewLink, TargetRow};
pub(crate) use suggester::Suggester;

/// The most links one story may have.
pub const MAX_LINKS: usize = 50;
/// Suggestions stored per story: twice the most a reader may ask for
/// (`?suggest=10`), so that the targets left out when read (linked since,
/// or no longer public) still leave enough.
const STORED: usize = 20;
/// How long computed suggestions stand before they are computed again, so
/// that they come to include stories published since that share tags or
/// words but did not suggest this one (those that did queued it at once).
const REFRESH_AFTER: chrono::Duration = chrono::Duration::days(30);
/// How many candidates each similarity signal contributes before combining.
const CANDIDATES: i64 = 50;
/// How many of each shared tag's newest public stories are candidates: a
/// walk of the tag's index, so a tag on half the site costs no more.
const PER_TAG: i64 = 500;
/// Shared words count a little less than shared tags, which editors chose.
const WORDS_WEIGHT: f64 = 0.75;

/// Checks `items` as links of story `story_id`, after the `existing` ones,
/// and returns them ready to store. Every broken rule is a 422 entry naming
/// the item: `field_of(i)` gives its path (`[3]`, or `` for a single item).
fn check(
    tx: &mut Tx<'_, Content>,
    story_id: i64,
    items: &[RelatedLinkInput],
    existing: &[LinkRow],
    field_of: impl Fn(usize) -> String,
) -> Result<Vec<NewLink>, ApiError> {
    let mut errors = Vec::new();
    if existing.len() + items.len() > MAX_LINKS {
        errors.push(FieldError::new("body", "length", format!("a story has at most {MAX_LINKS} related links")));
    }
    let wanted: Vec<i64> = items
        .iter()
        .filter_map(|item| match item {
            RelatedLinkInput::Story(link) => Some(link.story_id),
            RelatedLinkInput::External(_) => None,
        })
        .collect();
    let found: HashSet<i64> = queries::hold_stories(tx, &wanted)?.into_iter().collect();
    let mut seen_stories: HashSet<i64> = existing.iter().filter_map(|l| l.target_story_id).collect();
    let mut seen_urls: HashSet<String> = existing.iter().filter_map(|l| l.url.clone()).collect();
    let join = |prefix: &str, name: &str| if prefix.is_empty() { name.to_owned() } else { format!("{prefix}.{name}") };

    let mut links = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = field_of(i);
        match item {
            RelatedLinkInput::Story(link) => {
                let field = join(&at, "story_id");
                if link.story_id == story_id {
                    errors.push(FieldError::new(field, "self_link", "a story cannot link to itself"));
                } else if !found.contains(&link.story_id) {
                    errors.push(FieldError::new(field, "not_found", "no story has this id"));
                } else if !seen_stories.insert(link.story_id) {
                    errors.push(FieldError::new(field, "duplicate", "this story is already in the list"));
                } else {
                    links.push(NewLink::Story(link.story_id));
                }
            }
            RelatedLinkInput::External(link) => {
                let mut ok = true;
                if let Err(e) = crate::fields::check(&link.url) {
                    errors.push(FieldError::new(join(&at, "url"), e.code.to_string(), e.to_string()));
                    ok = false;
                }
                // The title is stored trimmed, so the trimmed title must be a `Title`; and none of
                // what was sent may be a control character.
                let title = crate::fields::Title::from(link.title.trim());
                if let Err(e) = crate::fields::check(&title).and_then(|()| crate::fields::plain_text(&link.title)) {
                    errors.push(FieldError::new(join(&at, "title"), e.code.to_string(), e.to_string()));
                    ok = false;
                }
                if !ok {
                    continue;
                }
                // Stored normalised (`HTTPS://Example.com` is `https://example.com/`), so duplicates are found.
                let url = url::Url::parse(&link.url).map_err(ApiError::internal)?.to_string();
                if !seen_urls.insert(url.clone()) {
                    errors.push(FieldError::new(join(&at, "url"), "duplicate", "this URL is already in the list"));
                } else {
                    links.push(NewLink::External { url, title: title.into_inner() });
                }
            }
        }
    }
    if errors.is_empty() { Ok(links) } else { Err(ApiError::Validation(errors)) }
}

fn story_ref(target: TargetRow, at: chrono::NaiveDateTime) -> StoryRef {
    StoryRef {
        status: Status::at(target.status, target.published_at, at),
        id: target.id,
        slug: target.slug,
        title: target.title,
        excerpt: target.excerpt,
    }
}

/// Story `story_id`'s list as `audience` may see it, with up to `suggest`
/// suggestions. Readers see only public stories' lists, and links to
/// stories that are not public are left out for them.
pub fn list_for(
    conn: &mut DbConnection,
    story_id: i64,
    audience: Audience,
    suggest: u8,
) -> Result<Vec<RelatedLink>, ApiError> {
    let story = crate::stories::find(conn, story_id)?.ok_or(ApiError::NotFound)?;
    visible_to(audience, story.status, story.published_at)?;
    list(conn, story_id, audience, suggest)
}

/// Replaces story `story_id`'s whole list; a list that breaks any rule
/// changes nothing. Returns the new list as editors see it.
pub fn replace(
    tx: &mut Tx<'_, Content>,
    story_id: i64,
    items: &[RelatedLinkInput],
) -> Result<Vec<RelatedLink>, ApiError> {
    if !crate::stories::lock(tx, story_id)? {
        return Err(ApiError::NotFound);
    }
    let links = check(tx, story_id, items, &[], |i| format!("[{i}]"))?;
    queries::delete_all(tx, story_id)?;
    for (i, link) in links.iter().enumerate() {
        queries::insert(tx, story_id, i as i32 + 1, link)?;
    }
    links_changed(tx, story_id)?;
    crate::stories::announce_if_public(tx, EventType::RelatedUpdated, story_id)?;
    list(tx, story_id, Audience::Editors, 0)
}

/// Appends one link to story `story_id`'s list, under the same rules.
pub fn add(tx: &mut Tx<'_, Content>, story_id: i64, item: RelatedLinkInput) -> Result<RelatedLink, ApiError> {
    if !crate::stories::lock(tx, story_id)? {
        return Err(ApiError::NotFound);
    }
    let existing: Vec<_> = queries::links_of(tx, story_id)?.into_iter().map(|(link, _)| link).collect();
    let new = check(tx, story_id, std::slice::from_ref(&item), &existing, |_| String::new())?;
    let position = existing.iter().map(|l| l.position).max().unwrap_or(0) + 1;
    let link_id = queries::insert(tx, story_id, position, &new[0])?;
    links_changed(tx, story_id)?;
    crate::stories::announce_if_public(tx, EventType::RelatedUpdated, story_id)?;
    list(tx, story_id, Audience::Editors, 0)?.into_iter().find(|l| l.id == Some(link_id)).ok_or(ApiError::NotFound)
}

/// Removes one link; the links after it move up one place ([`list`]).
pub fn remove(tx: &mut Tx<'_, Content>, story_id: i64, link_id: i64) -> Result<(), ApiError> {
    if !crate::stories::lock(tx, story_id)? || !queries::delete(tx, story_id, link_id)? {
        return Err(ApiError::NotFound);
    }
    links_changed(tx, story_id)?;
    crate::stories::announce_if_public(tx, EventType::RelatedUpdated, story_id)
}

/// The list as `audience` sees it, numbered 1 to n in the stored order:
/// readers see the links they may see, so the gaps left by hidden ones do
/// not reveal that those exist; editors see every link. Stored positions
/// only order the links: a deleted target takes its links with it (a
/// foreign key's cascade), leaving a gap no one sees. Suggestions continue
/// after the last link shown: the stored ones, the targets that are public
/// now and not linked.
fn list(conn: &mut DbConnection, story_id: i64, audience: Audience, suggest: u8) -> Result<Vec<RelatedLink>, ApiError> {
    let at = now();
    let rows = queries::links_of(conn, story_id)?;
    let linked: HashSet<i64> = rows.iter().filter_map(|(link, _)| link.target_story_id).collect();
    let mut data = Vec::with_capacity(rows.len() + usize::from(suggest));
    for (link, target) in rows {
        let position = data.len() as i32 + 1;
        let entry = match (target, link.url) {
            (Some(target), _) if audience == Audience::Editors || is_public(target.status, target.published_at, at) => {
                RelatedLink {
                    id: Some(link.id),
                    position,
                    kind: LinkKind::Story,
                    title: target.title.clone(),
                    url: None,
                    story: Some(story_ref(target, at)),
                }
            }
            (None, Some(url)) => RelatedLink {
                id: Some(link.id),
                position,
                kind: LinkKind::External,
                title: link.title.unwrap_or_default(),
                url: Some(url),
                story: None,
            },
            _ => continue,
        };
        data.push(entry);
    }
    if suggest > 0 {
        let next = data.iter().map(|l| l.position).max().unwrap_or(0);
        let linked: Vec<i64> = linked.into_iter().collect();
        for (i, target) in
            queries::stored_public(conn, story_id, &linked, i64::from(suggest), at)?.into_iter().enumerate()
        {
            data.push(RelatedLink {
                id: None,
                position: next + 1 + i as i32,
                kind: LinkKind::Suggested,
                title: target.title.clone(),
                url: None,
                story: Some(story_ref(target, at)),
            });
        }
    }
    Ok(data)
}

/// Words common to nearly every English text say nothing about what a story
/// is about, and would make the similar-words query match everything.
const STOP_WORDS: [&str; 48] = [
    "about", "after", "again", "also", "always", "because", "been", "before", "being", "could", "didn't", "does",
    "doing", "down", "each", "even", "every", "from", "have", "having", "into", "just", "like", "more", "most", "much",
    "never", "only", "other", "over", "said", "same", "should", "some", "such", "than", "that", "their", "them",
    "then", "there", "these", "they", "this", "very", "were", "what", "when",
];

/// The distinctive words of a text: at least four letters, not stop words,
/// each once, at most 30.
fn distinctive_words(text: &str) -> String {
    let mut words: Vec<String> = Vec::new();
    for word in text.split(|c: char| !c.is_alphanumeric()).map(str::to_lowercase) {
        if word.chars().count() >= 4
            && !STOP_WORDS.contains(&word.as_str())
            && !words.contains(&word)
            && words.len() < 30
        {
            words.push(word);
        }
    }
    words.join(" ")
}

/// Up to `n` public stories most like story `story_id`, whose title and
/// excerpt are `text`, never itself nor one in `exclude`. Two signals, each
/// scaled to its best candidate and added: shared tags, weighted by rarity
/// (`ln(1 + stories / stories with the tag)`), and shared words of the
/// title and excerpt, ranked by the full-text index and weighted
/// [`WORDS_WEIGHT`]. Ties go to the more recent story. Candidates are
/// recent, so that the cost does not grow with the site: the newest
/// [`PER_TAG`] public stories of each shared tag, and the best matches
/// among the newest stories that share words
/// (`stories::best_public_matches`). Only the suggester runs it.
fn suggestions(
    conn: &mut DbConnection,
    story_id: i64,
    text: &str,
    exclude: &HashSet<i64>,
    n: usize,
) -> Result<Vec<TargetRow>, ApiError> {
    let (frequencies, stories) = queries::tag_frequencies(conn, story_id)?;
    let weights: Vec<(i64, f64)> = frequencies
        .iter()
        .map(|(tag, with_tag)| (*tag, (1.0 + stories as f64 / (*with_tag).max(1) as f64).ln()))
        .collect();
    // More tag candidates than needed: some may be linked already.
    let by_tags = queries::stories_sharing_tags(conn, story_id, &weights, PER_TAG, 4 * CANDIDATES as usize)?;
    // Relevance is lower-is-better; flip it so that both signals grow with similarity.
    let words = distinctive_words(text);
    let by_words: Vec<(i64, f64)> = if words.is_empty() {
        Vec::new()
    } else {
        best_public_matches(conn, &words, Combine::Any, story_id, CANDIDATES)?
            .into_iter()
            .map(|(id, rank)| (id, -rank))
            .collect()
    };

    let candidates: Vec<i64> = by_tags.iter().chain(&by_words).map(|(id, _)| *id).collect();
    let mut targets = queries::public_targets(conn, &candidates)?;
    targets.retain(|t| !exclude.contains(&t.id));
    let eligible: HashSet<i64> = targets.iter().map(|t| t.id).collect();

    let mut combined: HashMap<i64, f64> = HashMap::new();
    for (signal, weight) in [(by_tags, 1.0), (by_words, WORDS_WEIGHT)] {
        let signal: Vec<(i64, f64)> = signal.into_iter().filter(|(id, _)| eligible.contains(id)).collect();
        let best = signal.iter().map(|(_, s)| *s).fold(0.0_f64, f64::max);
        if best <= 0.0 {
            continue;
        }
        for (id, score) in signal {
            *combined.entry(id).or_default() += weight * score / best;
        }
    }
    let score = |id: &i64| combined.get(id).copied().unwrap_or(0.0);
    targets.sort_by(|a, b| {
        score(&b.id).total_cmp(&score(&a.id)).then(b.published_at.cmp(&a.published_at)).then(b.id.cmp(&a.id))
    });
    targets.truncate(n);
    Ok(targets)
}

/// Why a story's suggestions are to be computed, strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The story was published, or what its suggestions are drawn from (its
    /// title, excerpt, tags) changed: once computed, the stories it
    /// suggests are queued too ([`Reason::Neighbour`]).
    Changed,
    /// A story this one may want to suggest back was published or changed,
    /// or this one's links changed (linked stories are left out before the
    /// signals are scaled): computed as soon, without queueing others.
    Neighbour,
    /// Suggestions standing for [`REFRESH_AFTER`], or never computed (a
    /// site from before they were stored): computed a few at a time, after
    /// the others.
    Refresh,
}

stored_as_text!(Reason { Changed => "changed", Neighbour => "neighbour", Refresh => "refresh" });

/// Story `story_id` was published, or its title, excerpt or tags changed:
/// its suggestions are to be computed again, queued in the change's
/// transaction (so a change that commits is never forgotten, and one that
/// rolls back queues nothing).
pub(crate) fn suggestions_changed(tx: &mut Tx<'_, Content>, story_id: i64) -> Result<(), ApiError> {
    Ok(queries::enqueue(tx, story_id, Reason::Changed, now())?)
}

/// Story `story_id`'s links changed: its suggestions are computed again
/// without the stories it now links to, in the change's transaction.
fn links_changed(tx: &mut Tx<'_, Content>, story_id: i64) -> Result<(), ApiError> {
    Ok(queries::enqueue(tx, story_id, Reason::Neighbour, now())?)
}

/// Queues the computation of every published story's suggestions that has
/// none queued: at once where none are stored, a refresh later where some
/// are (an import carries them). What a site loaded in bulk runs (an
/// import; `anthology seed` may too), so its suggestions fill in over time.
pub(crate) fn queue_published(tx: &mut Tx<'_, Content>) -> Result<usize, ApiError> {
    let at = now();
    Ok(queries::queue_published(tx, at + REFRESH_AFTER, at)?)
}

/// One story's suggestions as the suggester computed them, to be stored.
struct Computed {
    story_id: i64,
    /// The best [`STORED`] targets, best first.
    targets: Vec<i64>,
    /// Whether they differ from the stored ones: only then are they written.
    changed: bool,
    /// When the stories it suggests are to be computed again (so that they
    /// may suggest it back): from when it is public, if it is published and
    /// was computed because it changed.
    neighbours_due: Option<NaiveDateTime>,
}

/// Computes story `story_id`'s suggestions, queued for `reason`: the costly
/// part, on a read connection, outside any write transaction.
fn compute(conn: &mut DbConnection, story_id: i64, reason: Reason) -> Result<Computed, ApiError> {
    let Some(story) = crate::stories::find(conn, story_id)? else {
        // Deleted since: its queue row went with it, so nothing is stored.
        return Ok(Computed { story_id, targets: Vec::new(), changed: false, neighbours_due: None });
    };
    let text = format!("{} {}", story.content.title, story.content.excerpt);
    // Linked stories are left out before scaling, as they are when read.
    let linked: HashSet<i64> = queries::linked_stories(conn, story_id)?.into_iter().collect();
    let targets: Vec<i64> = suggestions(conn, story_id, &text, &linked, STORED)?.into_iter().map(|t| t.id).collect();
    let changed = targets != queries::stored_targets(conn, story_id)?;
    let neighbours_due = match (reason, story.status) {
        (Reason::Changed, StoredStatus::Published) => story.published_at.map(|at| at.max(now())),
        _ => None,
    };
    Ok(Computed { story_id, targets, changed, neighbours_due })
}

/// Ends `worker`'s leases of the `computed` stories, storing the
/// suggestions that changed and queueing each story's refresh and, where
/// due, its neighbours. A story whose lease is no longer `worker`'s was
/// queued again meanwhile (or taken over): what was computed for it is
/// dropped.
fn store(tx: &mut Tx<'_, Internal>, worker: &str, computed: Vec<Computed>) -> Result<(), ApiError> {
    let next = now() + REFRESH_AFTER;
    for story in computed {
        if !queries::finish(tx, story.story_id, worker, next)? {
            continue;
        }
        if story.changed {
            queries::replace_suggestions(tx, story.story_id, &story.targets)?;
        }
        if let Some(due) = story.neighbours_due {
            for target in &story.targets {
                queries::enqueue(tx, *target, Reason::Neighbour, due)?;
            }
        }
    }
    Ok(())
}
