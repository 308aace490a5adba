// "Rate article": five stars, the reader's own score, and the aggregate
// (average, count, 1–5 distribution). A reader is a voter id, a UUID made
// once and kept in localStorage; voting again sends the same id, so the
// API replaces the earlier score and the count does not grow.
import { type Api, type RatingAggregate, explain } from "./api";
import { h, show } from "./dom";

const VOTER_KEY = "anthology.voter";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

let memoVoter: string | undefined; // when localStorage is unavailable: this page view only

function readStore(key: string): string | null {
  try {
    return localStorage.getItem(key);
  } catch {
    return null; // storage disabled (privacy settings, sandboxed frame)
  }
}

function writeStore(key: string, value: string): void {
  try {
    localStorage.setItem(key, value);
  } catch {
    // as above: the vote still counts, it is just not remembered here
  }
}

function newUuid(): string {
  // randomUUID exists only in secure contexts (https, localhost).
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = ((b[6] ?? 0) & 0x0f) | 0x40; // version 4
  b[8] = ((b[8] ?? 0) & 0x3f) | 0x80; // RFC 4122 variant
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** This reader's voter id, made on first use. */
export function voterId(): string {
  const stored = readStore(VOTER_KEY);
  if (stored && UUID.test(stored)) return stored;
  memoVoter ??= newUuid();
  writeStore(VOTER_KEY, memoVoter);
  return memoVoter;
}

const ownKey = (storyId: number) => `anthology.vote.${storyId}`;

function ownScore(storyId: number): number | null {
  const n = Number(readStore(ownKey(storyId)));
  return Number.isInteger(n) && n >= 1 && n <= 5 ? n : null;
}

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

export function ratingWidget(api: Api, storyId: number): HTMLElement {
  const stars = [1, 2, 3, 4, 5].map((n) =>
    h("button", { type: "button", class: "star", "data-score": String(n), "aria-label": plural(n, "star", "stars") }, "★"),
  );
  const you = h("p", { class: "you" });
  const summary = h("p", { class: "summary" }, "Loading ratings…");
  const bars = h("ol", { class: "distribution", reversed: true });
  const status = h("p", { class: "status", role: "status", "aria-live": "polite" });
  const section = h(
    "section",
    { class: "rating", "aria-labelledby": "rate-heading" },
    h("h2", { id: "rate-heading" }, "Rate article"),
    h("div", { class: "stars", role: "group", "aria-label": "Your rating, 1 to 5 stars" }, ...stars),
    you,
    summary,
    bars,
    status,
  );

  const showOwn = (score: number | null) => {
    for (const star of stars) {
      const n = Number(star.dataset.score);
      star.classList.toggle("on", score !== null && n <= score);
      star.setAttribute("aria-pressed", String(score === n));
    }
    you.textContent = score === null ? "Tap a star to rate this story." : `You rated it ${plural(score, "star", "stars")}.`;
  };

  const showAggregate = (agg: RatingAggregate) => {
    if (agg.count === 0 || agg.average === null || agg.average === undefined) {
      show(summary, "No ratings yet.");
    } else {
      show(
        summary,
        h("span", { class: "average" }, agg.average.toFixed(1)),
        " out of 5 · ",
        h("span", { class: "count" }, plural(agg.count, "rating", "ratings")),
      );
    }
    show(
      bars,
      ...[5, 4, 3, 2, 1].map((n) => {
        const votes = agg.distribution[String(n)] ?? 0;
        const fill = h("span", { class: "fill" });
        fill.style.width = agg.count > 0 ? `${(100 * votes) / agg.count}%` : "0";
        return h(
          "li",
          { "data-score": String(n) },
          h("span", { class: "label" }, `${n} ★`),
          h("span", { class: "bar", "aria-hidden": "true" }, fill),
          h("span", { class: "votes" }, String(votes)),
        );
      }),
    );
  };

  const say = (text: string, isError = false) => {
    status.textContent = text;
    status.classList.toggle("error", isError);
  };

  const vote = async (score: number) => {
    stars.forEach((s) => (s.disabled = true));
    say("Sending your rating…");
    try {
      const r = await api.PUT("/v1/stories/{id}/ratings/{voter}", {
        params: { path: { id: storyId, voter: voterId() } },
        body: { score },
      });
      if (r.data) {
        writeStore(ownKey(storyId), String(score));
        showOwn(score);
        showAggregate(r.data);
        say(r.response.status === 201 ? "Thank you for rating." : "Your rating is updated.");
      } else if (r.response.status === 429) {
        const wait = r.response.headers.get("Retry-After");
        say(`Too many ratings from your network just now${wait ? `; try again in ${wait} s` : ""}.`, true);
      } else {
        say(`Your rating was not saved. ${explain(r.error, r.response)}.`, true);
      }
    } catch {
      // A network error, or the browser refusing the request (CORS).
      say("Your rating could not be sent: the magazine could not be reached.", true);
    } finally {
      stars.forEach((s) => (s.disabled = false));
    }
  };
  stars.forEach((star) => star.addEventListener("click", () => void vote(Number(star.dataset.score))));

  showOwn(ownScore(storyId));
  // no-cache: revalidate (ETag) rather than show a count from before this
  // reader's own vote, which the HTTP cache may still hold for a minute.
  api
    .GET("/v1/stories/{id}/rating", { params: { path: { id: storyId } }, cache: "no-cache" })
    .then((r) => (r.data ? showAggregate(r.data) : show(summary, explain(r.error, r.response))))
    .catch(() => show(summary, "Ratings could not be loaded."));

  return section;
}
