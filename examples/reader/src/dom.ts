// A few lines instead of a framework: build elements, with text always set
// as text (never parsed as HTML). The one place HTML is injected is the
// story body, which the API sanitizes (see story.ts).

type Child = Node | string | null | undefined | false;
type Attrs = Record<string, string | boolean | null | undefined>;

/** `h("a", { href }, "text", child, …)`: attributes set as attributes, children as text or nodes. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === true) el.setAttribute(name, "");
    else if (typeof value === "string") el.setAttribute(name, value);
  }
  el.append(...children.filter((c): c is Node | string => c !== null && c !== undefined && c !== false));
  return el;
}

/** Replaces what `parent` shows. */
export function show(parent: Element, ...children: Child[]): void {
  parent.replaceChildren(...children.filter((c): c is Node | string => c !== null && c !== undefined && c !== false));
}

/** The reader-facing page of a story in this front-end. */
export function storyHref(slug: string): string {
  return `?story=${encodeURIComponent(slug)}`;
}

export function minutes(n: number | undefined): string | null {
  return n === undefined ? null : `${n} min read`;
}

export function date(iso: string | null | undefined, locale: string | undefined): string | null {
  if (!iso) return null;
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return null;
  try {
    return new Intl.DateTimeFormat(locale || "en-GB", { dateStyle: "long" }).format(d);
  } catch {
    return new Intl.DateTimeFormat("en-GB", { dateStyle: "long" }).format(d);
  }
}

/** "Ruth Ellis · 4 min read · 23 November 2026", leaving out what is missing. */
export function byline(...parts: (string | null | undefined)[]): string {
  return parts.filter((p): p is string => !!p).join(" · ");
}
