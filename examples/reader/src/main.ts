// Anthology reader: a story page for `?story=<slug>`, otherwise the list of
// stories. Every call goes through the generated client (api.ts).
import { type Api, type StoryListItem, connect, explain } from "./api";
import { byline, date, h, minutes, show, storyHref } from "./dom";
import { storyPage } from "./story";

const PAGE_SIZE = 10;

async function listPage(api: Api, main: HTMLElement, limit: number): Promise<void> {
  document.title = "Anthology — stories";
  const list = h("ol", { class: "stories" });
  const more = h("button", { type: "button", class: "more", hidden: true }, "More stories");
  const status = h("p", { class: "status", role: "status", "aria-live": "polite" });
  show(main, h("h1", { class: "visually-hidden" }, "Stories"), list, more, status);

  let cursor: string | undefined;
  const load = async () => {
    more.disabled = true;
    const r = await api.GET("/v1/stories", {
      params: {
        query: {
          limit,
          cursor,
          fields: ["slug", "title", "excerpt", "author", "reading_time_minutes", "published_at", "locale"],
        },
      },
    });
    more.disabled = false;
    if (!r.data) {
      status.textContent = `Stories could not be loaded. ${explain(r.error, r.response)}.`;
      return;
    }
    list.append(...r.data.data.map(teaser));
    if (list.childElementCount === 0) status.textContent = "No stories yet.";
    cursor = r.data.page.next_cursor ?? undefined;
    more.hidden = !(r.data.page.has_more && cursor);
  };
  more.addEventListener("click", () => void load().catch(() => (status.textContent = "More stories could not be loaded.")));
  await load();
}

function teaser(story: StoryListItem): HTMLElement {
  return h(
    "li",
    { class: "teaser", lang: story.locale },
    h("h2", {}, h("a", { href: storyHref(story.slug ?? "") }, story.title ?? "")),
    h("p", { class: "byline" }, byline(story.author?.name, minutes(story.reading_time_minutes), date(story.published_at, story.locale))),
    story.excerpt ? h("p", { class: "excerpt" }, story.excerpt) : null,
  );
}

async function start(): Promise<void> {
  const main = document.querySelector("main");
  if (!main) return;
  try {
    const api = connect();
    const query = new URLSearchParams(location.search);
    const slug = query.get("story");
    if (slug) {
      await storyPage(api, main, slug);
    } else {
      const limit = Number(query.get("limit"));
      await listPage(api, main, Number.isInteger(limit) && limit >= 1 && limit <= 100 ? limit : PAGE_SIZE);
    }
  } catch (e) {
    // fetch rejects on network errors and CORS refusals: say so, plainly.
    show(main, h("h1", {}, "The magazine could not be reached"), h("p", {}, e instanceof Error ? e.message : String(e)));
  }
  main.setAttribute("aria-busy", "false");
}

void start();
