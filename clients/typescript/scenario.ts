// End-to-end scenario against a running Anthology server, through a client
// generated from its OpenAPI document (openapi-typescript + openapi-fetch).
//
//   tsx scenario.ts BASE_URL EMAIL PASSWORD   (see run.sh)
//
// One line per step; the last line is `typescript client: N passed, M failed`.
// Any mismatch fails the step, stops the scenario and exits non-zero.
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./generated/schema";

// Only what this script uses of Node's globals (no @types/node needed).
declare const process: { argv: string[]; exit(code: number): never };

type Story = components["schemas"]["Story"];

const [baseUrlArg, email, password] = process.argv.slice(2);
if (!baseUrlArg || !email || !password) {
  console.error("usage: scenario.ts BASE_URL EMAIL PASSWORD");
  process.exit(2);
}
const baseUrl = baseUrlArg.replace(/\/+$/, "");

// ---------------------------------------------------------------- harness

class Mismatch extends Error {}

function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Mismatch(message);
}

function show(value: unknown): string {
  return JSON.stringify(value) ?? String(value);
}

function eq<T>(actual: T, expected: T, what: string): void {
  if (show(actual) !== show(expected)) {
    throw new Mismatch(`${what}: expected ${show(expected)}, got ${show(actual)}`);
  }
}

/** The answer must have this status; returns its typed body. */
function expectStatus<D>(
  result: { data?: D; error?: unknown; response: Response },
  status: number,
  what: string,
): D {
  if (result.response.status !== status) {
    throw new Mismatch(
      `${what}: expected HTTP ${status}, got ${result.response.status} ${show(result.error ?? result.data)}`,
    );
  }
  check(result.data !== undefined, `${what}: HTTP ${status} without a body`);
  return result.data;
}

let passed = 0;
let failed = 0;

async function step(name: string, run: () => Promise<string | void>): Promise<void> {
  try {
    const note = await run();
    passed += 1;
    console.log(`ok   ${String(passed + failed).padStart(2)} ${name}${note ? ` — ${note}` : ""}`);
  } catch (e) {
    failed += 1;
    console.log(`FAIL ${String(passed + failed).padStart(2)} ${name}`);
    console.log(`     ${e instanceof Mismatch ? e.message : e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    finish();
  }
}

function finish(): never {
  console.log(`typescript client: ${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
}

// ---------------------------------------------------------------- clients

/** Keeps the raw bytes of the last response, to check UTF-8 on the wire. */
let lastRawBody = new Uint8Array();
const keepRawBody: Middleware = {
  async onResponse({ response }) {
    lastRawBody = new Uint8Array(await response.clone().arrayBuffer());
  },
};

const anonymous = createClient<paths>({ baseUrl });
anonymous.use(keepRawBody);
let editor = createClient<paths>({ baseUrl }); // replaced once logged in

const utf8 = new TextEncoder();
function containsBytes(haystack: Uint8Array, text: string): boolean {
  const needle = utf8.encode(text);
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function etagOf(response: Response, what: string): string {
  const etag = response.headers.get("ETag");
  check(etag && /^"[^"]*"$/.test(etag), `${what}: expected a strong ETag, got ${show(etag)}`);
  return etag;
}

// ---------------------------------------------------------------- the data

const run = crypto.randomUUID().slice(0, 8);
const tag = `e2e-ts-${run}`;
const first = {
  title: `“Mum’s moving in” — a TypeScript test ${run}`,
  body: `When my mother turned eighty-four, we said the words we’d avoided for years: “Come and live with us.” — and then the tea ☕.\n\nSecond paragraph ${run}.`,
  tags: [tag, "family"],
};
const firstPatched = {
  title: `“Mum’s moved in” — a TypeScript test ${run}`,
  body: `She’s here now — “for good”, she says. ${run}\n\nThe kettle hasn’t stopped.`,
  subtitle: "Three generations, one kitchen — and a lot of tea",
};
const second = {
  title: `A second story — “read next” ${run}`,
  body: `Another story’s body — with “quotes”. ${run}`,
  tags: [tag],
};
const external = { url: `https://example.org/read-next/${run}`, title: "An “external” read — next" };
const voter = crypto.randomUUID();

let token = "";
let story1: Story | undefined;
let story2: Story | undefined;
let etag1 = "";
let byIdRaw = new Uint8Array();
const s1 = (): Story => (check(story1, "story 1 was not created"), story1);
const s2 = (): Story => (check(story2, "story 2 was not created"), story2);

// ---------------------------------------------------------------- the steps

await step("POST /v1/auth/token logs the admin in", async () => {
  const r = await anonymous.POST("/v1/auth/token", { body: { email, password } });
  const body = expectStatus(r, 200, "createToken");
  eq(body.token_type, "Bearer", "token_type");
  check(body.access_token.split(".").length === 3, "access_token is not a JWT");
  check(body.expires_in > 0, `expires_in ${body.expires_in} is not positive`);
  token = body.access_token;
  editor = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${token}` } });
  return `expires in ${body.expires_in}s`;
});

await step("GET /v1/auth/me is that admin", async () => {
  const r = await editor.GET("/v1/auth/me");
  const me = expectStatus(r, 200, "getCurrentEditor");
  eq(me.email, email.toLowerCase(), "email");
  eq(me.role, "admin", "role");
  eq(me.disabled, false, "disabled");
  eq(r.response.headers.get("Cache-Control"), "private, no-store", "Cache-Control");
  return `editor ${me.id}`;
});

await step("POST /v1/stories creates story 1 (curly quotes, em dash)", async () => {
  const r = await editor.POST("/v1/stories", { body: first });
  const story = expectStatus(r, 201, "createStory");
  eq(story.title, first.title, "title");
  eq(story.body, first.body, "body");
  eq(story.tags, first.tags, "tags");
  eq(story.status, "draft", "status");
  eq(story.version, 1, "version");
  eq(story.published_at ?? null, null, "published_at");
  eq(r.response.headers.get("Location"), `/v1/stories/${story.id}`, "Location");
  etag1 = etagOf(r.response, "createStory");
  story1 = story;
  return `id ${story.id}, slug ${story.slug}`;
});

await step("POST /v1/stories/{id}/publish publishes story 1", async () => {
  const r = await editor.POST("/v1/stories/{id}/publish", { params: { path: { id: s1().id } } });
  const story = expectStatus(r, 200, "publishStory");
  eq(story.status, "published", "status");
  check(story.published_at, "published_at is null");
  check(Date.parse(story.published_at) <= Date.now() + 5000, `published_at ${story.published_at} is in the future`);
  const etag = etagOf(r.response, "publishStory");
  check(etag !== etag1, `ETag did not change on publish (${etag})`);
  etag1 = etag;
  story1 = story;
  return `published_at ${story.published_at}`;
});

await step("POST /v1/stories + publish creates story 2", async () => {
  const created = expectStatus(await editor.POST("/v1/stories", { body: second }), 201, "createStory");
  eq(created.title, second.title, "title");
  const r = await editor.POST("/v1/stories/{id}/publish", {
    params: { path: { id: created.id } },
    body: { at: null },
  });
  const story = expectStatus(r, 200, "publishStory");
  eq(story.status, "published", "status");
  story2 = story;
  return `id ${story.id}`;
});

await step("PATCH /v1/stories/{id} (merge patch, If-Match) changes story 1", async () => {
  const r = await editor.PATCH("/v1/stories/{id}", {
    params: { path: { id: s1().id }, header: { "If-Match": etag1 } },
    headers: { "Content-Type": "application/merge-patch+json" },
    body: firstPatched,
  });
  const story = expectStatus(r, 200, "updateStory");
  eq(story.title, firstPatched.title, "title");
  eq(story.body, firstPatched.body, "body");
  eq(story.subtitle, firstPatched.subtitle, "subtitle");
  eq(story.tags, first.tags, "tags (untouched by the patch)");
  eq(story.status, "published", "status");
  eq(story.version, s1().version + 1, "version");
  const previous = etag1;
  etag1 = etagOf(r.response, "updateStory");
  check(etag1 !== previous, "ETag did not change on PATCH");
  story1 = story;
  return `version ${story.version}, ETag ${etag1}`;
});

await step("PATCH with the stale ETag is refused with 412", async () => {
  const r = await editor.PATCH("/v1/stories/{id}", {
    params: { path: { id: s1().id }, header: { "If-Match": `"v${s1().version - 1}"` } },
    headers: { "Content-Type": "application/merge-patch+json" },
    body: { title: "must not be stored" },
  });
  eq(r.response.status, 412, "status");
  eq(r.response.headers.get("Content-Type"), "application/problem+json", "Content-Type");
  check(r.error && typeof r.error === "object" && "status" in r.error, `no Problem body: ${show(r.error)}`);
  eq(r.error.status, 412, "problem.status");
});

await step("PUT /v1/stories/{id}/ratings/{voter} first vote: 201, count 1", async () => {
  const r = await anonymous.PUT("/v1/stories/{id}/ratings/{voter}", {
    params: { path: { id: s1().id, voter } },
    body: { score: 5 },
  });
  const agg = expectStatus(r, 201, "putStoryVote");
  eq(agg.story_id, s1().id, "story_id");
  eq(agg.count, 1, "count");
  eq(agg.average, 5, "average");
  eq(agg.distribution, { "1": 0, "2": 0, "3": 0, "4": 0, "5": 1 }, "distribution");
  return `score ${agg.score}`;
});

await step("PUT the same voter again (score 4): 200, count still 1", async () => {
  const r = await anonymous.PUT("/v1/stories/{id}/ratings/{voter}", {
    params: { path: { id: s1().id, voter } },
    body: { score: 4 },
  });
  const agg = expectStatus(r, 200, "putStoryVote");
  eq(agg.count, 1, "count");
  eq(agg.average, 4, "average (the score was replaced)");
  eq(agg.distribution, { "1": 0, "2": 0, "3": 0, "4": 1, "5": 0 }, "distribution");
  return `score ${agg.score}`;
});

await step("PUT /v1/stories/{id}/related sets a story link and an external link", async () => {
  const r = await editor.PUT("/v1/stories/{id}/related", {
    params: { path: { id: s1().id } },
    body: [{ story_id: s2().id }, external],
  });
  const list = expectStatus(r, 200, "replaceRelatedLinks");
  eq(
    list.data.map((l) => l.kind),
    ["story", "external"],
    "kinds",
  );
});

await step("GET /v1/stories/{id} anonymously: text byte for byte", async () => {
  const r = await anonymous.GET("/v1/stories/{id}", { params: { path: { id: s1().id } } });
  const story = expectStatus(r, 200, "getStory");
  const raw = lastRawBody;
  eq(story.title, firstPatched.title, "title");
  eq(story.body, firstPatched.body, "body");
  eq(story.subtitle, firstPatched.subtitle, "subtitle");
  eq(story.rating, { average: 4, count: 1 }, "rating");
  check(containsBytes(raw, firstPatched.title), "the title is not in the response as raw UTF-8");
  eq(r.response.headers.get("Content-Type"), "application/json; charset=utf-8", "Content-Type");
  eq(r.response.headers.get("Cache-Control"), "public, max-age=60, stale-while-revalidate=300", "Cache-Control");
  etagOf(r.response, "getStory");
  byIdRaw = raw;
  return `${raw.length} bytes`;
});

await step("GET /v1/stories/slug/{slug} anonymously: the same bytes", async () => {
  const r = await anonymous.GET("/v1/stories/slug/{slug}", { params: { path: { slug: s1().slug } } });
  const story = expectStatus(r, 200, "getStoryBySlug");
  eq(story.id, s1().id, "id");
  eq(story.title, firstPatched.title, "title");
  eq(story.body, firstPatched.body, "body");
  check(sameBytes(lastRawBody, byIdRaw), "the body by slug differs from the body by id");
});

await step("GET /v1/stories anonymously lists story 1 (without body)", async () => {
  let cursor: string | undefined;
  for (let page = 1; page <= 50; page++) {
    const r = await anonymous.GET("/v1/stories", { params: { query: { limit: 100, cursor } } });
    const list = expectStatus(r, 200, "listStories");
    const item = list.data.find((s) => s.id === s1().id);
    if (item) {
      eq(item.title, firstPatched.title, "title");
      eq(item.slug, s1().slug, "slug");
      eq(item.status, "published", "status");
      check(!("body" in item) && !("body_html" in item), "list items carry body/body_html");
      check(list.data.some((s) => s.id === s2().id), "story 2 is not on the same page");
      return `found on page ${page}`;
    }
    if (!list.page.has_more || !list.page.next_cursor) break;
    cursor = list.page.next_cursor;
  }
  throw new Mismatch(`story ${s1().id} is not in the public list`);
});

await step("GET /v1/stories/{id}/rating anonymously", async () => {
  const r = await anonymous.GET("/v1/stories/{id}/rating", { params: { path: { id: s1().id } } });
  const agg = expectStatus(r, 200, "getStoryRating");
  eq(agg.story_id, s1().id, "story_id");
  eq(agg.count, 1, "count");
  eq(agg.average, 4, "average");
  eq(agg.distribution, { "1": 0, "2": 0, "3": 0, "4": 1, "5": 0 }, "distribution");
  check(agg.score >= 1 && agg.score <= 5, `score ${agg.score} is not within 1..5`);
});

await step("GET /v1/stories/{id}/related anonymously: story then external", async () => {
  const r = await anonymous.GET("/v1/stories/{id}/related", { params: { path: { id: s1().id } } });
  const list = expectStatus(r, 200, "listRelatedLinks");
  eq(list.data.length, 2, "number of links");
  const [a, b] = list.data;
  check(a && b, "two links");
  eq([a.kind, a.position, a.title, a.url ?? null], ["story", 1, second.title, null], "link 1");
  eq(a.story?.id, s2().id, "link 1 story.id");
  eq(a.story?.slug, s2().slug, "link 1 story.slug");
  eq(a.story?.status, "published", "link 1 story.status");
  eq([b.kind, b.position, b.title, b.url, b.story ?? null], ["external", 2, external.title, external.url, null], "link 2");
});

await step("GET /v1/tags anonymously counts both stories", async () => {
  let cursor: string | undefined;
  for (let page = 1; page <= 50; page++) {
    const r = await anonymous.GET("/v1/tags", { params: { query: { limit: 100, cursor } } });
    const list = expectStatus(r, 200, "listTags");
    const found = list.data.find((t) => t.slug === tag);
    if (found) {
      eq(found.count, 2, `count of tag ${tag}`);
      return `${tag}: ${found.count}`;
    }
    if (!list.page.has_more || !list.page.next_cursor) break;
    cursor = list.page.next_cursor;
  }
  throw new Mismatch(`tag ${tag} is not in /v1/tags`);
});

await step("POST /v1/stories/{id}/preview, then GET /v1/preview/{token} shows a draft", async () => {
  const draft = expectStatus(await editor.POST("/v1/stories", { body: { title: `Preview ${tag}` } }), 201, "createStory");
  const r = await editor.POST("/v1/stories/{id}/preview", { params: { path: { id: draft.id } }, body: { expires_in: 600 } });
  const link = expectStatus(r, 201, "createPreview");
  const read = await anonymous.GET("/v1/preview/{token}", { params: { path: { token: link.token } } });
  const story = expectStatus(read, 200, "readPreview");
  eq(story.status, "draft", "status");
  eq(read.response.headers.get("X-Robots-Tag"), "noindex", "X-Robots-Tag");
  eq(read.response.headers.get("Cache-Control"), "private, no-store", "Cache-Control");
  return `expires ${link.expires_at}`;
});

await step("POST /v1/webhooks registers an endpoint (its secret shown once), then ping", async () => {
  const r = await editor.POST("/v1/webhooks", {
    body: { url: `https://hooks.example.com/${tag}`, events: ["story.published"], description: "typescript scenario" },
  });
  const created = expectStatus(r, 201, "createWebhook");
  check(created.secret.startsWith("whsec_"), `secret ${created.secret} is not whsec_…`);
  const listed = expectStatus(await editor.GET("/v1/webhooks/{id}", { params: { path: { id: created.id } } }), 200, "getWebhook");
  check(!("secret" in listed), "the secret is shown again");
  const ping = await editor.POST("/v1/webhooks/{id}/ping", { params: { path: { id: created.id } } });
  check(ping.response.status === 202, `ping: expected HTTP 202, got ${ping.response.status}`);
  return `webhook ${created.id}`;
});

finish();
