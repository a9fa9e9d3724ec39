// The articles panel (a paged, searchable list) and the article reader.

import { $, el } from "./dom.js";
import { ApiError, describeError, fetchJson, getArticle, safeUrl, str } from "./api.js";
import { spinner } from "./render.js";

const PAGE_SIZE = 50;

const articles = { offset: 0, query: "", total: null, seq: 0, timer: 0 };

function showCount(total) {
  const words = total === 1 ? "1 article indexed" : `${total.toLocaleString()} articles indexed`;
  $("article-count").textContent = total.toLocaleString();
  $("empty-count").textContent = `${words}.`;
}

export async function loadCount(attempt = 0) {
  try {
    const page = await fetchJson("/api/articles?limit=1");
    showCount(page.total);
  } catch (error) {
    if (error instanceof ApiError && error.status === 503 && attempt < 60) {
      $("empty-count").textContent = "The service is starting up…";
      window.setTimeout(() => loadCount(attempt + 1), 2000);
    }
  }
}

async function loadArticlePage() {
  const seq = ++articles.seq;
  const list = $("articles-list");
  list.setAttribute("aria-busy", "true");
  const params = new URLSearchParams({ offset: String(articles.offset), limit: String(PAGE_SIZE) });
  if (articles.query) params.set("q", articles.query);
  try {
    const page = await fetchJson(`/api/articles?${params}`);
    if (seq !== articles.seq) return; // a newer search is on its way
    renderArticlePage(page);
  } catch (error) {
    if (seq !== articles.seq) return;
    list.replaceChildren(el("li", { class: "error-text" }, `Could not load the articles. ${describeError(error).message}`));
    $("articles-range").textContent = "";
  } finally {
    if (seq === articles.seq) list.removeAttribute("aria-busy");
  }
}

function renderArticlePage(page) {
  const total = Number(page.total) || 0;
  const items = Array.isArray(page.items) ? page.items : [];
  if (!articles.query) showCount(total);
  $("articles-total").textContent = articles.query
    ? `${total.toLocaleString()} matching “${articles.query}”`
    : `${total.toLocaleString()} articles indexed`;
  const list = $("articles-list");
  if (!items.length) {
    list.replaceChildren(el("li", { class: "muted empty-list" }, articles.query ? "No article matches that search." : "No articles are indexed yet."));
  } else {
    list.replaceChildren(...items.map(renderArticleItem));
  }
  list.scrollTop = 0;
  const first = items.length ? articles.offset + 1 : 0;
  const last = articles.offset + items.length;
  $("articles-range").textContent = total ? `${first}–${last} of ${total.toLocaleString()}` : "";
  $("articles-prev").disabled = articles.offset <= 0;
  $("articles-next").disabled = last >= total;
}

function renderArticleItem(item) {
  const id = str(item.id);
  const title = str(item.title) || id;
  const open = el("button", { type: "button", class: "link-button article-open" }, title);
  open.addEventListener("click", () => openReader(id));
  const href = safeUrl(item.url);
  const meta = [id];
  if (Number.isInteger(item.passages)) meta.push(item.passages === 1 ? "1 passage" : `${item.passages} passages`);
  return el(
    "li",
    { class: "article-item" },
    open,
    el(
      "span",
      { class: "article-meta muted" },
      meta.join(" · "),
      href ? " · " : null,
      href
        ? el(
            "a",
            { href, target: "_blank", rel: "noopener noreferrer" },
            "source",
            el("span", { class: "sr-only" }, ` of ${title} (opens in a new tab)`),
            el("span", { "aria-hidden": "true" }, " ↗"),
          )
        : null,
    ),
  );
}

export function openArticles() {
  const dialog = $("articles-dialog");
  if (!dialog.open) dialog.showModal();
  loadArticlePage();
}

async function openReader(id) {
  const dialog = $("reader-dialog");
  $("reader-title").textContent = "Loading…";
  $("reader-meta").replaceChildren();
  $("reader-text").replaceChildren(spinner("Loading the article…"));
  if (!dialog.open) dialog.showModal();
  try {
    const article = await getArticle(id);
    $("reader-title").textContent = str(article.title) || id;
    const href = safeUrl(article.url);
    // replaceChildren, unlike el(), would print a null as the text "null".
    $("reader-meta").replaceChildren(
      el("span", {}, str(article.id)),
      ...(href
        ? [" · ", el("a", { href, target: "_blank", rel: "noopener noreferrer" }, "open the source", el("span", { class: "sr-only" }, " (opens in a new tab)"), el("span", { "aria-hidden": "true" }, " ↗"))]
        : []),
    );
    $("reader-text").replaceChildren(
      ...str(article.text)
        .split("\n\n")
        .map((paragraph) => el("p", {}, paragraph)),
    );
  } catch (error) {
    $("reader-title").textContent = "Article";
    const text =
      error instanceof ApiError && error.status === 404
        ? "This article is no longer in the index."
        : `Could not load the article. ${describeError(error).message}`;
    $("reader-text").replaceChildren(el("p", { class: "error-text" }, text));
  }
}

function setUpDialog(dialog) {
  for (const button of dialog.querySelectorAll("[data-close]")) {
    button.addEventListener("click", () => dialog.close());
  }
  // A click on the backdrop (the dialog element itself, outside its body) closes it.
  dialog.addEventListener("click", (event) => {
    if (event.target === dialog) dialog.close();
  });
}

/** Wire the panel's search box, paging buttons and both dialogs. */
export function setUpArticles() {
  $("open-articles").addEventListener("click", openArticles);
  $("articles-search").addEventListener("input", (event) => {
    window.clearTimeout(articles.timer);
    articles.timer = window.setTimeout(() => {
      articles.query = event.target.value.trim();
      articles.offset = 0;
      loadArticlePage();
    }, 250);
  });
  $("articles-prev").addEventListener("click", () => {
    articles.offset = Math.max(0, articles.offset - PAGE_SIZE);
    loadArticlePage();
  });
  $("articles-next").addEventListener("click", () => {
    articles.offset += PAGE_SIZE;
    loadArticlePage();
  });
  setUpDialog($("articles-dialog"));
  setUpDialog($("reader-dialog"));
}
