import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join, posix, relative } from "node:path";

/** One page of the built site: its clean URL path (`/guide/concepts`), its element ids and its links. */
export interface BuiltPage {
  /** Clean URL path, e.g. `/`, `/guide/concepts`, `/reference/io/`. */
  readonly path: string;
  /** The built file, relative to the site root (`guide/concepts.html`). */
  readonly file: string;
  readonly ids: ReadonlySet<string>;
  /** Every `href` of an `<a>` element, as written. */
  readonly hrefs: readonly string[];
}

/** A link that does not resolve: the page it is on, the href, and why. */
export interface BrokenLink {
  readonly page: string;
  readonly href: string;
  readonly problem: string;
}

const decode = (text: string) =>
  text.replaceAll("&amp;", "&").replaceAll("&quot;", '"').replaceAll("&#39;", "'").replaceAll("&lt;", "<");

/** The ids and `<a href>`s of an HTML document (the built pages are well-formed, attribute values quoted). */
export function parsePage(path: string, file: string, html: string): BuiltPage {
  const ids = new Set([...html.matchAll(/\sid="([^"]+)"/g)].map((match) => decode(match[1]!)));
  const hrefs = [...html.matchAll(/<a\s[^>]*?href="([^"]*)"/g)].map((match) => decode(match[1]!));
  return { path, file, ids, hrefs };
}

/** The clean URL path of a built file: `guide/x.html` → `/guide/x`, `reference/io/index.html` → `/reference/io/`. */
export function cleanPath(file: string): string {
  return `/${file.replace(/(^|\/)index\.html$/, "$1").replace(/\.html$/, "")}`;
}

/** Every `.html` page under `root` but the 404 page. */
export async function readBuiltPages(root: string): Promise<BuiltPage[]> {
  const files = (await readdir(root, { recursive: true }))
    .map((entry) => relative(root, join(root, entry)).replaceAll("\\", "/"))
    .filter((file) => file.endsWith(".html") && file !== "404.html")
    .sort();
  return Promise.all(
    files.map(async (file) => parsePage(cleanPath(file), file, await readFile(join(root, file), "utf8"))),
  );
}

/**
 * Checks every internal link of every page: the target must be a page of the site (clean URL, with or without
 * `.html`) or a file in it, and an `#anchor` must be an id on the target page. External links (a scheme such
 * as `https:` or `mailto:`) are not followed here.
 */
export function brokenLinks(root: string, pages: readonly BuiltPage[], base = "/"): BrokenLink[] {
  const byPath = new Map(pages.map((page) => [page.path, page]));
  const broken: BrokenLink[] = [];
  for (const page of pages) {
    for (const href of page.hrefs) {
      if (href === "" || /^[a-z][a-z0-9+.-]*:/i.test(href)) continue;
      const [pathPart, anchor] = href.split("#", 2) as [string, string | undefined];
      const withoutQuery = pathPart.split("?")[0]!;
      let target: BuiltPage | undefined = page;
      if (withoutQuery !== "") {
        const absolute = withoutQuery.startsWith("/")
          ? withoutQuery
          : posix.join(posix.dirname(page.path.endsWith("/") ? `${page.path}x` : page.path), withoutQuery);
        const path = absolute.startsWith(base) ? `/${absolute.slice(base.length)}` : absolute;
        const clean = path.replace(/\.html$/, "").replace(/\/index$/, "/");
        target = byPath.get(clean) ?? byPath.get(`${clean}/`);
        if (target === undefined) {
          if (!existsSync(join(root, decodeURIComponent(path))))
            broken.push({ page: page.path, href, problem: "no such page or file" });
          continue;
        }
      }
      if (anchor !== undefined && anchor !== "" && !target.ids.has(decodeURIComponent(anchor)))
        broken.push({ page: page.path, href, problem: `no id "${anchor}" on ${target.path}` });
    }
  }
  return broken;
}
