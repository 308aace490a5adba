// A story page: title, byline, reading time, the body, "Rate article" and
// "Read next".
import { type Api, type RelatedLink, type Story, explain } from "./api";
import { byline, date, h, minutes, show, storyHref } from "./dom";
import { ratingWidget } from "./rating";

export async function storyPage(api: Api, main: HTMLElement, slug: string): Promise<void> {
  const r = await api.GET("/v1/stories/slug/{slug}", { params: { path: { slug } } });
  if (!r.data) {
    const missing = r.response.status === 404;
    document.title = missing ? "Story not found" : "Story unavailable";
    show(
      main,
      h("h1", {}, missing ? "Story not found" : "This story could not be loaded"),
      h("p", {}, missing ? "It may have been unpublished or moved." : explain(r.error, r.response)),
      h("p", {}, h("a", { href: location.pathname }, "← All stories")),
    );
    return;
  }
  const story = r.data;
  document.title = story.title;
  document.documentElement.lang = story.locale;

  // body_html is rendered from Markdown and sanitized by the API ("safe to
  // inject into a page"); index.html's Content-Security-Policy allows no
  // inline or foreign script even so.
  const body = h("div", { class: "body" });
  body.innerHTML = story.body_html;

  show(
    main,
    h(
      "article",
      { class: "story", lang: story.locale },
      h(
        "header",
        {},
        h("h1", {}, story.title),
        story.subtitle ? h("p", { class: "subtitle" }, story.subtitle) : null,
        h(
          "p",
          { class: "byline" },
          byline(`By ${story.author.name}`, minutes(story.reading_time_minutes), date(story.published_at, story.locale)),
        ),
      ),
      cover(story),
      body,
    ),
    ratingWidget(api, story.id),
    readNext(api, story.id),
  );
}

function cover(story: Story): HTMLElement | null {
  const img = story.cover_image;
  if (!img || !/^https?:\/\//.test(img.url)) return null;
  return h("figure", { class: "cover" }, h("img", { src: img.url, alt: img.alt ?? "" }));
}

/** The editor's links first, then suggestions; internal ones open here. */
function readNext(api: Api, storyId: number): HTMLElement {
  const list = h("ol", { class: "links" });
  const section = h("section", { class: "read-next", "aria-labelledby": "next-heading", hidden: true },
    h("h2", { id: "next-heading" }, "Read next"), list);
  api
    .GET("/v1/stories/{id}/related", { params: { path: { id: storyId }, query: { suggest: 3 } } })
    .then((r) => {
      const links = [...(r.data?.data ?? [])].sort((a, b) => a.position - b.position).map(linkItem).filter((li) => li !== null);
      show(list, ...links);
      section.hidden = links.length === 0;
    })
    .catch(() => {
      // "Read next" is a bonus: without it the story still reads.
    });
  return section;
}

function linkItem(link: RelatedLink): HTMLElement | null {
  if (link.kind === "external") {
    let url: URL;
    try {
      url = new URL(link.url ?? "");
    } catch {
      return null;
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") return null;
    return h(
      "li",
      { class: "external" },
      h("a", { href: url.href, target: "_blank", rel: "noopener noreferrer" }, link.title),
      h("span", { class: "where" }, `${url.hostname.replace(/^www\./, "")} ↗`),
    );
  }
  if (!link.story) return null;
  return h(
    "li",
    { class: link.kind },
    h("a", { href: storyHref(link.story.slug) }, link.title),
    link.kind === "suggested" ? h("span", { class: "where" }, "You might also like") : null,
    link.story.excerpt ? h("p", {}, link.story.excerpt) : null,
  );
}
