"""End-to-end scenario against a running Anthology server, through the client
that openapi-python-client generated from its OpenAPI document.

    python scenario.py BASE_URL EMAIL PASSWORD   (see run.sh)

One line per step; the last line is `python client: N passed, M failed`.
Any mismatch fails the step, stops the scenario and exits non-zero.
"""

from __future__ import annotations

import datetime
import json
import sys
import traceback
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from anthology_client import AuthenticatedClient, Client
from anthology_client.api.auth import create_token, get_current_editor
from anthology_client.api.preview import create_preview, read_preview
from anthology_client.api.ratings import get_story_rating, put_story_vote
from anthology_client.api.related import list_related_links, replace_related_links
from anthology_client.api.stories import (
    create_story,
    get_story,
    get_story_by_slug,
    list_stories,
    list_tags,
    publish_story,
    update_story,
)
from anthology_client.api.webhooks import create_webhook, get_webhook, ping_webhook
from anthology_client.models import (
    CreatedWebhook,
    ExternalLinkInput,
    LinkKind,
    NewWebhook,
    PreviewLink,
    PreviewRequest,
    Problem,
    PublishRequest,
    RatingAggregate,
    RelatedList,
    Status,
    Story,
    StoryInput,
    StoryLinkInput,
    StoryList,
    StoryPatch,
    StoryRef,
    TagList,
    TokenRequest,
    TokenResponse,
    VoteRequest,
)
from anthology_client.models import Editor as EditorModel
from anthology_client.types import UNSET, Response, Unset

T = TypeVar("T")


class Mismatch(Exception):
    pass


def check(condition: object, message: str) -> None:
    if not condition:
        raise Mismatch(message)


def show(value: object) -> str:
    if hasattr(value, "to_dict"):
        value = value.to_dict()
    try:
        return json.dumps(value, ensure_ascii=False)
    except TypeError:
        return repr(value)


def eq(actual: object, expected: object, what: str) -> None:
    if actual != expected:
        raise Mismatch(f"{what}: expected {show(expected)}, got {show(actual)}")


def expect(response: Response[Any], status: int, model: type[T], what: str) -> T:
    """The answer must have this status and parse as `model`."""
    if response.status_code != status:
        body = response.content.decode("utf-8", "replace")[:500]
        raise Mismatch(f"{what}: expected HTTP {status}, got {int(response.status_code)} {body}")
    check(isinstance(response.parsed, model), f"{what}: body is {type(response.parsed).__name__}, not {model.__name__}")
    return response.parsed  # type: ignore[return-value]


def etag_of(response: Response[Any], what: str) -> str:
    etag = response.headers.get("ETag")
    check(etag and etag.startswith('"') and etag.endswith('"'), f"{what}: expected a strong ETag, got {etag!r}")
    return etag


passed = 0
failed = 0


def finish() -> None:
    print(f"python client: {passed} passed, {failed} failed", flush=True)
    sys.exit(0 if failed == 0 else 1)


def step(name: str) -> Callable[[Callable[[], str | None]], None]:
    """Runs the decorated function at once as one numbered step."""

    def run(fn: Callable[[], str | None]) -> None:
        global passed, failed
        try:
            note = fn()
        except Exception as e:
            failed += 1
            print(f"FAIL {passed + failed:2} {name}")
            if isinstance(e, Mismatch):
                print(f"     {e}")
            else:
                print("     " + "".join(traceback.format_exception(e)).replace("\n", "\n     "))
            finish()
        passed += 1
        print(f"ok   {passed + failed:2} {name}" + (f" — {note}" if note else ""), flush=True)

    return run


# ---------------------------------------------------------------- set-up

if len(sys.argv) != 4:
    print("usage: scenario.py BASE_URL EMAIL PASSWORD", file=sys.stderr)
    sys.exit(2)
base_url = sys.argv[1].rstrip("/")
email, password = sys.argv[2], sys.argv[3]

# Readers' calls go through a plain Client. The reads whose answer widens
# with a token (stories, rating, related links: `security: [{}, {bearer: []}]`)
# are generated with `client: AuthenticatedClient` in their signature; a
# Client works with them at run time (see the report).
anonymous = Client(base_url=base_url, raise_on_unexpected_status=True)
editor: AuthenticatedClient  # once logged in

run_id = uuid.uuid4().hex[:8]
tag = f"e2e-py-{run_id}"
first = StoryInput(
    title=f"“Mum’s moving in” — a Python test {run_id}",
    body=(
        "When my mother turned eighty-four, we said the words we’d avoided for years: "
        f"“Come and live with us.” — and then the tea ☕.\n\nSecond paragraph {run_id}."
    ),
    tags=[tag, "family"],
)
first_patched = StoryPatch(
    title=f"“Mum’s moved in” — a Python test {run_id}",
    body=f"She’s here now — “for good”, she says. {run_id}\n\nThe kettle hasn’t stopped.",
    subtitle="Three generations, one kitchen — and a lot of tea",
)
second = StoryInput(
    title=f"A second story — “read next” {run_id}",
    body=f"Another story’s body — with “quotes”. {run_id}",
    tags=[tag],
)
external = ExternalLinkInput(url=f"https://example.org/read-next/{run_id}", title="An “external” read — next")
voter = uuid.uuid4()

state: dict[str, Any] = {}


def story1() -> Story:
    check("story1" in state, "story 1 was not created")
    return state["story1"]


def story2() -> Story:
    check("story2" in state, "story 2 was not created")
    return state["story2"]


# ---------------------------------------------------------------- the steps


@step("create_token logs the admin in")
def _() -> str:
    r = create_token.sync_detailed(client=anonymous, body=TokenRequest(email=email, password=password))
    token = expect(r, 200, TokenResponse, "createToken")
    eq(token.token_type, "Bearer", "token_type")
    check(token.access_token.count(".") == 2, "access_token is not a JWT")
    check(token.expires_in > 0, f"expires_in {token.expires_in} is not positive")
    global editor
    editor = AuthenticatedClient(base_url=base_url, token=token.access_token, raise_on_unexpected_status=True)
    return f"expires in {token.expires_in}s"


@step("get_current_editor is that admin")
def _() -> str:
    r = get_current_editor.sync_detailed(client=editor)
    me = expect(r, 200, EditorModel, "getCurrentEditor")
    eq(me.email, email.lower(), "email")
    eq(me.role.value, "admin", "role")
    eq(me.disabled, False, "disabled")
    eq(r.headers.get("Cache-Control"), "private, no-store", "Cache-Control")
    return f"editor {me.id}"


@step("create_story creates story 1 (curly quotes, em dash)")
def _() -> str:
    r = create_story.sync_detailed(client=editor, body=first)
    story = expect(r, 201, Story, "createStory")
    eq(story.title, first.title, "title")
    eq(story.body, first.body, "body")
    eq(story.tags, first.tags, "tags")
    eq(story.status, Status.DRAFT, "status")
    eq(story.version, 1, "version")
    check(story.published_at is None or isinstance(story.published_at, Unset), "published_at is set")
    eq(r.headers.get("Location"), f"/v1/stories/{story.id}", "Location")
    state["etag1"] = etag_of(r, "createStory")
    state["story1"] = story
    return f"id {story.id}, slug {story.slug}"


@step("publish_story publishes story 1")
def _() -> str:
    # No body: publish now.
    r = publish_story.sync_detailed(story1().id, client=editor)
    story = expect(r, 200, Story, "publishStory")
    eq(story.status, Status.PUBLISHED, "status")
    check(isinstance(story.published_at, datetime.datetime), f"published_at is {story.published_at!r}")
    now = datetime.datetime.now(datetime.UTC)
    check(story.published_at <= now + datetime.timedelta(seconds=5), f"published_at {story.published_at} is ahead")
    etag = etag_of(r, "publishStory")
    check(etag != state["etag1"], f"ETag did not change on publish ({etag})")
    state["etag1"] = etag
    state["story1"] = story
    return f"published_at {story.published_at.isoformat()}"


@step("create_story + publish_story create story 2")
def _() -> str:
    created = expect(create_story.sync_detailed(client=editor, body=second), 201, Story, "createStory")
    eq(created.title, second.title, "title")
    r = publish_story.sync_detailed(created.id, client=editor, body=PublishRequest(at=None))
    story = expect(r, 200, Story, "publishStory")
    eq(story.status, Status.PUBLISHED, "status")
    state["story2"] = story
    return f"id {story.id}"


@step("update_story (merge patch, If-Match) changes story 1")
def _() -> str:
    r = update_story.sync_detailed(story1().id, client=editor, body=first_patched, if_match=state["etag1"])
    story = expect(r, 200, Story, "updateStory")
    eq(story.title, first_patched.title, "title")
    eq(story.body, first_patched.body, "body")
    eq(story.subtitle, first_patched.subtitle, "subtitle")
    eq(story.tags, first.tags, "tags (untouched by the patch)")
    eq(story.status, Status.PUBLISHED, "status")
    eq(story.version, story1().version + 1, "version")
    etag = etag_of(r, "updateStory")
    check(etag != state["etag1"], "ETag did not change on PATCH")
    state["etag1"] = etag
    state["story1"] = story
    return f"version {story.version}, ETag {etag}"


@step("update_story with the stale ETag is refused with 412")
def _() -> None:
    stale = f'"v{story1().version - 1}"'
    r = update_story.sync_detailed(
        story1().id, client=editor, body=StoryPatch(title="must not be stored"), if_match=stale
    )
    problem = expect(r, 412, Problem, "updateStory")
    eq(problem.status, 412, "problem.status")
    eq(r.headers.get("Content-Type"), "application/problem+json", "Content-Type")


@step("put_story_vote first vote: 201, count 1")
def _() -> str:
    r = put_story_vote.sync_detailed(story1().id, voter, client=anonymous, body=VoteRequest(score=5))
    agg = expect(r, 201, RatingAggregate, "putStoryVote")
    eq(agg.story_id, story1().id, "story_id")
    eq(agg.count, 1, "count")
    eq(agg.average, 5.0, "average")
    eq(agg.distribution.to_dict(), {"1": 0, "2": 0, "3": 0, "4": 0, "5": 1}, "distribution")
    return f"score {agg.score}"


@step("put_story_vote again, same voter (score 4): 200, count still 1")
def _() -> str:
    r = put_story_vote.sync_detailed(story1().id, voter, client=anonymous, body=VoteRequest(score=4))
    agg = expect(r, 200, RatingAggregate, "putStoryVote")
    eq(agg.count, 1, "count")
    eq(agg.average, 4.0, "average (the score was replaced)")
    eq(agg.distribution.to_dict(), {"1": 0, "2": 0, "3": 0, "4": 1, "5": 0}, "distribution")
    return f"score {agg.score}"


@step("replace_related_links sets a story link and an external link")
def _() -> None:
    r = replace_related_links.sync_detailed(
        story1().id, client=editor, body=[StoryLinkInput(story_id=story2().id), external]
    )
    links = expect(r, 200, RelatedList, "replaceRelatedLinks")
    eq([link.kind for link in links.data], [LinkKind.STORY, LinkKind.EXTERNAL], "kinds")


@step("get_story anonymously: text byte for byte")
def _() -> str:
    r = get_story.sync_detailed(story1().id, client=anonymous)
    story = expect(r, 200, Story, "getStory")
    eq(story.title, first_patched.title, "title")
    eq(story.body, first_patched.body, "body")
    eq(story.subtitle, first_patched.subtitle, "subtitle")
    eq((story.rating.average, story.rating.count), (4.0, 1), "rating")
    check(first_patched.title.encode() in r.content, "the title is not in the response as raw UTF-8")
    eq(r.headers.get("Content-Type"), "application/json; charset=utf-8", "Content-Type")
    eq(r.headers.get("Cache-Control"), "public, max-age=60, stale-while-revalidate=300", "Cache-Control")
    etag_of(r, "getStory")
    state["by_id_raw"] = r.content
    return f"{len(r.content)} bytes"


@step("get_story_by_slug anonymously: the same bytes")
def _() -> None:
    r = get_story_by_slug.sync_detailed(story1().slug, client=anonymous)
    story = expect(r, 200, Story, "getStoryBySlug")
    eq(story.id, story1().id, "id")
    eq(story.title, first_patched.title, "title")
    eq(story.body, first_patched.body, "body")
    check(r.content == state["by_id_raw"], "the body by slug differs from the body by id")


@step("list_stories anonymously lists story 1 (without body)")
def _() -> str:
    cursor: str | Unset = UNSET
    for page in range(1, 51):
        r = list_stories.sync_detailed(client=anonymous, limit=100, cursor=cursor)
        stories = expect(r, 200, StoryList, "listStories")
        ids = [item.id for item in stories.data]
        if story1().id in ids:
            item = stories.data[ids.index(story1().id)]
            eq(item.title, first_patched.title, "title")
            eq(item.slug, story1().slug, "slug")
            eq(item.status, Status.PUBLISHED, "status")
            check(isinstance(item.body, Unset) and isinstance(item.body_html, Unset), "list items carry body")
            check(story2().id in ids, "story 2 is not on the same page")
            return f"found on page {page}"
        if not stories.page.has_more or not stories.page.next_cursor:
            break
        cursor = stories.page.next_cursor
    raise Mismatch(f"story {story1().id} is not in the public list")


@step("get_story_rating anonymously")
def _() -> None:
    r = get_story_rating.sync_detailed(story1().id, client=anonymous)
    agg = expect(r, 200, RatingAggregate, "getStoryRating")
    eq(agg.story_id, story1().id, "story_id")
    eq(agg.count, 1, "count")
    eq(agg.average, 4.0, "average")
    eq(agg.distribution.to_dict(), {"1": 0, "2": 0, "3": 0, "4": 1, "5": 0}, "distribution")
    check(1 <= agg.score <= 5, f"score {agg.score} is not within 1..5")


@step("list_related_links anonymously: story then external")
def _() -> None:
    r = list_related_links.sync_detailed(story1().id, client=anonymous)
    links = expect(r, 200, RelatedList, "listRelatedLinks")
    eq(len(links.data), 2, "number of links")
    a, b = links.data
    eq((a.kind, a.position, a.title, a.url), (LinkKind.STORY, 1, second.title, None), "link 1")
    check(isinstance(a.story, StoryRef), f"link 1 story is {a.story!r}")
    eq((a.story.id, a.story.slug, a.story.status), (story2().id, story2().slug, Status.PUBLISHED), "link 1 story")
    eq(
        (b.kind, b.position, b.title, b.url, b.story),
        (LinkKind.EXTERNAL, 2, external.title, external.url, None),
        "link 2",
    )


@step("list_tags anonymously counts both stories")
def _() -> str:
    cursor: str | Unset = UNSET
    for _page in range(1, 51):
        r = list_tags.sync_detailed(client=anonymous, limit=100, cursor=cursor)
        tags = expect(r, 200, TagList, "listTags")
        for t in tags.data:
            if t.slug == tag:
                eq(t.count, 2, f"count of tag {tag}")
                return f"{tag}: {t.count}"
        if not tags.page.has_more or not tags.page.next_cursor:
            break
        cursor = tags.page.next_cursor
    raise Mismatch(f"tag {tag} is not in list_tags")


@step("create_preview, then read_preview anonymously shows a draft")
def _() -> str:
    draft = expect(
        create_story.sync_detailed(client=editor, body=StoryInput.from_dict({"title": f"Preview {tag}"})),
        201,
        Story,
        "createStory",
    )
    r = create_preview.sync_detailed(draft.id, client=editor, body=PreviewRequest.from_dict({"expires_in": 600}))
    link = expect(r, 201, PreviewLink, "createPreview")
    read = read_preview.sync_detailed(link.token, client=anonymous)
    story = expect(read, 200, Story, "readPreview")
    eq(story.status, Status.DRAFT, "status")
    eq(read.headers.get("X-Robots-Tag"), "noindex", "X-Robots-Tag")
    eq(read.headers.get("Cache-Control"), "private, no-store", "Cache-Control")
    return f"expires {link.expires_at.isoformat()}"


@step("create_webhook shows its secret once, then ping_webhook")
def _() -> str:
    new = NewWebhook.from_dict(
        {"url": f"https://hooks.example.com/{tag}", "events": ["story.published"], "description": "python scenario"}
    )
    created = expect(create_webhook.sync_detailed(client=editor, body=new), 201, CreatedWebhook, "createWebhook")
    check(created.secret.startswith("whsec_"), f"secret {created.secret} is not whsec_…")
    read = get_webhook.sync_detailed(created.id, client=editor)
    check(b"secret" not in read.content, "the secret is shown again")
    eq(int(ping_webhook.sync_detailed(created.id, client=editor).status_code), 202, "ping status")
    return f"webhook {created.id}"


finish()
