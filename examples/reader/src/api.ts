// The one way this front-end talks to Anthology: an openapi-fetch client
// typed by `src/generated/schema.d.ts`, which build.sh generates with
// openapi-typescript from the API's served /openapi.json. A path, parameter
// or field the API does not have fails the type check, not a reader.
import createClient from "openapi-fetch";
import type { components, paths } from "./generated/schema";

export type Story = components["schemas"]["Story"];
export type StoryListItem = components["schemas"]["StoryList"]["data"][number];
export type RatingAggregate = components["schemas"]["RatingAggregate"];
export type RelatedLink = components["schemas"]["RelatedLink"];
export type Problem = components["schemas"]["Problem"];

export type Api = ReturnType<typeof createClient<paths>>;

/**
 * The API's base URL comes from `<meta name="anthology-api">` in index.html,
 * written there by build.sh. Deliberately not from the page's URL: the story
 * body is injected as HTML because *this* API sanitizes it, so a link must
 * not be able to point the page at another server.
 */
export function connect(): Api {
  const base = document.querySelector<HTMLMetaElement>('meta[name="anthology-api"]')?.content.trim() ?? "";
  if (!/^https?:\/\/[^/]/.test(base)) {
    throw new Error('index.html names no API: expected <meta name="anthology-api" content="http(s)://…">');
  }
  return createClient<paths>({
    baseUrl: base.replace(/\/+$/, ""),
    // `fields` is a comma list (style form, explode false), as the document says.
    querySerializer: { array: { style: "form", explode: false } },
  });
}

/** A line a reader can make sense of, from a problem document or a failed fetch. */
export function explain(error: unknown, response?: Response): string {
  if (error && typeof error === "object" && "title" in error) {
    const p = error as Problem;
    return p.detail ? `${p.title}: ${p.detail}` : p.title;
  }
  if (response) return `The server answered ${response.status} ${response.statusText}`.trim();
  // fetch rejects without a status on network errors and CORS refusals alike.
  return "The magazine could not be reached";
}
