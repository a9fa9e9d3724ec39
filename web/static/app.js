// The chat page: asks /api/ask, renders verbatim quotes, keeps the conversation in
// localStorage. No answer logic lives here, and nothing from the server or the user is ever
// parsed as HTML: every string goes in through textContent / text nodes.
//
// Offsets in the API are Python code-point offsets; JS strings are UTF-16. Every slice by
// an API offset goes through code points (Array.from), so emoji never shift a highlight.

const STORAGE_KEY = "article-qa.conversation.v1";
const MAX_TURNS = 200;
const K = 3;
const ASK_TIMEOUT_MS = 120_000;
const FETCH_TIMEOUT_MS = 30_000;
const PAGE_SIZE = 50;
const CONTEXT_CHARS = 700; // at most this many characters of context on each side of a quote

// ---- DOM helpers ------------------------------------------------------------------------

/** createElement with properties/attributes and children (strings become text nodes). */
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "hidden") node.hidden = Boolean(value);
    else if (key.startsWith("on") || key === "style" || key === "innerHTML") {
      throw new Error(`refusing to set ${key}`);
    } else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

const $ = (id) => document.getElementById(id);

let uid = 0;
const nextId = (prefix) => `${prefix}-${Date.now().toString(36)}-${(uid++).toString(36)}`;

// ---- offsets ----------------------------------------------------------------------------

/** The UTF-16 index of code point ``n`` in ``text`` (clamped to the string). */
function utf16Index(text, n) {
  let cp = 0;
  let i = 0;
  while (i < text.length && cp < n) {
    const code = text.charCodeAt(i);
    i += code >= 0xd800 && code <= 0xdbff && i + 1 < text.length ? 2 : 1;
    cp += 1;
  }
  return i;
}

/** Split ``text`` at code-point offsets [start, end) if that slice equals ``expected``;
 * else find ``expected`` in the text. Returns UTF-16 [start, end) or null. */
function locate(text, start, end, expected) {
  if (Number.isInteger(start) && Number.isInteger(end) && start >= 0 && start <= end) {
    const s = utf16Index(text, start);
    const e = utf16Index(text, end);
    if (e <= text.length && (expected === undefined || text.slice(s, e) === expected)) {
      return [s, e];
    }
  }
  if (expected) {
    const i = text.indexOf(expected);
    if (i >= 0) return [i, i + expected.length];
  }
  return null;
}

/** A fragment: ``text`` with [start, end) (UTF-16) wrapped in ``wrapper``. */
function wrapRange(text, range, makeWrapper) {
  const frag = document.createDocumentFragment();
  if (!range) {
    frag.append(text);
    return frag;
  }
  const [s, e] = range;
  frag.append(text.slice(0, s), makeWrapper(text.slice(s, e)), text.slice(e));
  return frag;
}

// ---- API --------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(kind, status = 0, detail = null) {
    super(detail || kind);
    this.kind = kind; // "network" | "timeout" | "http" | "bad-response"
    this.status = status;
    this.detail = detail;
  }
}

async function fetchJson(url, options = {}, timeoutMs = FETCH_TIMEOUT_MS) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    let response;
    try {
      response = await fetch(url, {
        ...options,
        signal: controller.signal,
        headers: { Accept: "application/json", ...(options.headers || {}) },
      });
    } catch (error) {
      throw new ApiError(error.name === "AbortError" ? "timeout" : "network");
    }
    let body = null;
    try {
      body = await response.json();
    } catch (error) {
      if (error.name === "AbortError") throw new ApiError("timeout");
    }
    if (!response.ok) {
      const detail = body && typeof body.detail === "string" ? body.detail : null;
      throw new ApiError("http", response.status, detail);
    }
    if (body === null || typeof body !== "object") throw new ApiError("bad-response", response.status);
    return body;
  } finally {
    clearTimeout(timer);
  }
}

const articlePath = (id) => `/api/articles/${encodeURIComponent(id)}`;

const articleCache = new Map();
function getArticle(id) {
  if (!articleCache.has(id)) {
    const promise = fetchJson(articlePath(id));
    articleCache.set(id, promise);
    promise.catch(() => articleCache.delete(id));
  }
  return articleCache.get(id);
}

/** The error as one polite sentence; ``retry`` says whether trying again may help. */
function describeError(error) {
  if (!(error instanceof ApiError)) {
    return { message: "Something went wrong in the page. Please try again.", retry: true };
  }
  if (error.kind === "network") {
    return {
      message: "Could not reach the server. Check your connection or that the service is running, then try again.",
      retry: true,
    };
  }
  if (error.kind === "timeout") {
    return { message: "The server took too long to answer. Please try again.", retry: true };
  }
  if (error.kind === "bad-response") {
    return { message: "The server sent a reply this page does not understand.", retry: true };
  }
  if (error.status === 503) {
    return {
      message: "The service is still starting up (loading the index). Try again in a few seconds.",
      retry: true,
    };
  }
  if (error.status === 413) {
    return { message: "That question is too long. Please shorten it.", retry: false };
  }
  if (error.status >= 400 && error.status < 500) {
    const why = error.detail ? `: ${error.detail}` : ` (error ${error.status})`;
    return { message: `The question could not be asked${why}.`, retry: false };
  }
  return {
    message: `The server had a problem answering (error ${error.status}). Please try again in a moment.`,
    retry: true,
  };
}

/** Only http(s) links are made clickable (never javascript:, data:, ...). */
function safeUrl(url) {
  if (typeof url !== "string" || !url) return null;
  try {
    const parsed = new URL(url, window.location.href);
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
  } catch {
    return null;
  }
}

const str = (value, fallback = "") => (typeof value === "string" ? value : fallback);

/** Keep only what the page renders, with the right types (stored data may be old or edited). */
function normalizeResult(data) {
  const answers = Array.isArray(data && data.answers) ? data.answers : [];
  const clean = answers
    .filter((a) => a && typeof a === "object" && typeof a.quote === "string")
    .map((a) => ({
      text: str(a.text),
      start: a.start,
      end: a.end,
      quote: a.quote,
      quote_start: a.quote_start,
      quote_end: a.quote_end,
      score: typeof a.score === "number" ? a.score : null,
      article: {
        id: str(a.article && a.article.id),
        title: str(a.article && a.article.title, "Untitled article"),
        url: a.article && typeof a.article.url === "string" ? a.article.url : null,
        published: a.article && typeof a.article.published === "string" ? a.article.published : null,
      },
      newer_than: Array.isArray(a.newer_than) ? a.newer_than.filter((id) => typeof id === "string") : [],
      link: typeof a.link === "string" ? a.link : null,
    }));
  return { found: Boolean(data && data.found) && clean.length > 0, answers: clean };
}

// ---- conversation state -----------------------------------------------------------------

/** turns: [{id, question, status: "pending"|"answered"|"not-found"|"error", result?, error?}] */
let turns = [];

function loadTurns() {
  try {
    const data = JSON.parse(window.localStorage.getItem(STORAGE_KEY) || "null");
    if (!data || !Array.isArray(data.turns)) return [];
    return data.turns
      .filter((t) => t && typeof t.question === "string" && typeof t.status === "string")
      .map((t) => ({
        id: nextId("turn"),
        question: t.question,
        status: ["answered", "not-found", "error"].includes(t.status) ? t.status : "error",
        result: t.result ? normalizeResult(t.result) : null,
        error: t.error && typeof t.error.message === "string" ? t.error : null,
      }));
  } catch {
    return [];
  }
}

const INTERRUPTED = {
  message: "The page was reloaded before the answer arrived. Ask again?",
  retry: true,
};

function saveTurns() {
  // A question still waiting for its answer is kept as interrupted, with a retry button.
  const stored = turns.slice(-MAX_TURNS).map(({ question, status, result, error }) =>
    status === "pending"
      ? { question, status: "error", result: null, error: INTERRUPTED }
      : { question, status, result, error },
  );
  const data = { turns: stored };
  try {
    window.localStorage.setItem(STORAGE_KEY, JSON.stringify(data));
  } catch {
    // Storage full or disabled: the conversation just won't survive a reload.
  }
}

// ---- rendering --------------------------------------------------------------------------

const log = $("log");
const empty = $("empty");
const statusLine = $("status");

function announce(message) {
  statusLine.textContent = "";
  // A fresh text node after a tick, so screen readers announce a repeated message too.
  window.setTimeout(() => {
    statusLine.textContent = message;
  }, 50);
}

/** The article's title, linked to ``link`` (the deep link to the quote) or else its URL. */
function articleLink(article, link = null) {
  const href = safeUrl(link) || safeUrl(article.url);
  const title = article.title || article.id || "Untitled article";
  if (!href) return el("span", { class: "article-title" }, title);
  return el(
    "a",
    { class: "article-title", href, target: "_blank", rel: "noopener noreferrer" },
    title,
    el("span", { class: "sr-only" }, " (opens in a new tab)"),
    el("span", { class: "external", "aria-hidden": "true" }, " ↗"),
  );
}

function renderQuote(answer) {
  // The answer span inside the quote: offsets relative to the quote, in code points.
  const range = locate(
    answer.quote,
    Number.isInteger(answer.start) && Number.isInteger(answer.quote_start)
      ? answer.start - answer.quote_start
      : NaN,
    Number.isInteger(answer.end) && Number.isInteger(answer.quote_start)
      ? answer.end - answer.quote_start
      : NaN,
    answer.text || undefined,
  );
  const url = safeUrl(answer.article.url);
  return el(
    "blockquote",
    { class: "quote", cite: url || undefined },
    el("p", {}, wrapRange(answer.quote, range, (s) => el("mark", { class: "answer-span" }, s))),
  );
}

/** The paragraph(s) around the quote, with the quote in <mark> and the answer in <strong>. */
function renderContext(article, answer) {
  const text = str(article.text);
  const quote = locate(text, answer.quote_start, answer.quote_end, answer.quote);
  if (!quote) {
    return el("p", { class: "muted" }, "The quote is no longer in this article (it may have been updated).");
  }
  const [qs, qe] = quote;
  // The paragraph(s) holding the quote: from the last "\n\n" ending at or before it to the
  // first one starting at or after its end.
  const breakBefore = qs >= 2 ? text.lastIndexOf("\n\n", qs - 2) : -1;
  let start = breakBefore < 0 ? 0 : breakBefore + 2;
  let end = text.indexOf("\n\n", qe);
  if (end < 0) end = text.length;

  let lead = "";
  let tail = "";
  if (qs - start > CONTEXT_CHARS) {
    const cut = text.indexOf(" ", qs - CONTEXT_CHARS);
    if (cut > start && cut < qs) {
      start = cut + 1;
      lead = "… ";
    }
  }
  if (end - qe > CONTEXT_CHARS) {
    const cut = text.lastIndexOf(" ", qe + CONTEXT_CHARS);
    if (cut > qe) {
      end = cut;
      tail = " …";
    }
  }

  const quoteText = text.slice(qs, qe);
  // The answer span inside the quote, from the article offsets.
  let inner = null;
  const answerRange = locate(text, answer.start, answer.end, answer.text || undefined);
  if (answerRange && answerRange[0] >= qs && answerRange[1] <= qe) {
    inner = [answerRange[0] - qs, answerRange[1] - qs];
  }
  const mark = el(
    "mark",
    { class: "context-quote" },
    wrapRange(quoteText, inner, (s) => el("strong", { class: "context-answer" }, s)),
  );
  const body = el("p", { class: "context-text" }, lead, text.slice(start, qs), mark, text.slice(qe, end), tail);
  const where = el("p", { class: "context-where muted" }, "From the article text");
  return el("div", {}, body, where);
}

/** "published 8 Sep 2016" as a <time>, or null when the date is unknown or unreadable. */
function renderPublished(published) {
  if (typeof published !== "string" || !published) return null;
  const date = new Date(published.length === 10 ? `${published}T00:00:00Z` : published);
  if (Number.isNaN(date.getTime())) return null;
  const options = { year: "numeric", month: "short", day: "numeric" };
  if (published.length === 10) options.timeZone = "UTC"; // a bare date has no time zone
  return el("span", { class: "published muted" }, " · published ", el("time", { datetime: published }, date.toLocaleDateString(undefined, options)));
}

/** "Newer than <title> (date)" when this answer's article postdates others that differ. */
function renderNewer(answer, peers) {
  const older = (answer.newer_than || [])
    .map((id) => peers.find((p) => p.article.id === id))
    .filter(Boolean);
  if (!older.length) return null;
  const names = older.map((p) => `${p.article.title}${p.article.published ? ` (${p.article.published.slice(0, 10)})` : ""}`);
  return el("p", { class: "newer" }, el("strong", {}, "Newer: "), `this article was published after ${names.join(", ")}, which answers differently.`);
}

/** Under the best answer: the other sources that are newer than it and answer differently. */
function renderNewerOthers(best, others) {
  const newer = others.filter((a) => (a.newer_than || []).includes(best.article.id));
  if (!newer.length) return null;
  const items = newer.map((a) => `“${a.text}” in ${a.article.title}${a.article.published ? ` (${a.article.published.slice(0, 10)})` : ""}`);
  return el("p", { class: "newer" }, el("strong", {}, "A newer article answers differently: "), `${items.join("; ")}. See the other sources below.`);
}

/** "Was this helpful?" buttons for one answer, then an optional comment; each choice is a
 * POST /api/feedback (the server keeps the latest per question and answer). */
function renderFeedback(answer, question) {
  const note = el("span", { class: "feedback-note muted", role: "status" });
  const yes = el("button", { type: "button", class: "link-button feedback-yes", "aria-pressed": "false" }, "Helpful");
  const no = el("button", { type: "button", class: "link-button feedback-no", "aria-pressed": "false" }, "Not helpful");
  const commentId = nextId("comment");
  const comment = el("textarea", { id: commentId, class: "feedback-comment", rows: "2", maxlength: "2000" });
  const form = el(
    "form",
    { class: "feedback-form", hidden: true },
    el("label", { for: commentId, class: "field-label" }, "What was wrong or right? (optional)"),
    comment,
    el("button", { type: "submit", class: "button button-quiet" }, "Send comment"),
  );
  let helpful = null;
  async function send(text) {
    note.textContent = "Sending…";
    try {
      const body = { question, answer_text: answer.text, article_id: answer.article.id, helpful, comment: text || null, channel: "web" };
      if (Number.isInteger(answer.start)) body.start = answer.start;
      await fetchJson("/api/feedback", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
      note.textContent = text ? "Thanks, your comment was sent." : "Thanks for your feedback.";
      return true;
    } catch (error) {
      const why = error instanceof ApiError && error.detail ? `: ${error.detail}.` : `. ${describeError(error).message}`;
      note.textContent = `Could not send the feedback${why}`;
      return false;
    }
  }
  for (const [button, value] of [[yes, true], [no, false]]) {
    button.addEventListener("click", async () => {
      helpful = value;
      yes.setAttribute("aria-pressed", String(value));
      no.setAttribute("aria-pressed", String(!value));
      if (await send(null)) form.hidden = false;
    });
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = comment.value.trim();
    if (text && (await send(text))) form.hidden = true;
  });
  return el("div", { class: "feedback" }, el("span", { class: "muted" }, "Was this helpful? "), yes, " ", no, " ", note, form);
}

function renderAnswer(answer, { primary, peers = [], question = "" }) {
  const contextId = nextId("context");
  const toggle = el(
    "button",
    { type: "button", class: "link-button context-toggle", "aria-expanded": "false", "aria-controls": contextId },
    "Show context",
  );
  const panel = el("div", { id: contextId, class: "context", hidden: true });
  toggle.addEventListener("click", () => toggleContext(toggle, panel, answer));

  const score = answer.score === null ? null : el("span", { class: "score" }, `confidence ${Math.round(answer.score * 100)}%`);
  return el(
    "div",
    { class: primary ? "answer answer-primary" : "answer" },
    renderQuote(answer),
    el("p", { class: "source" }, el("span", { class: "muted" }, "Source: "), articleLink(answer.article, answer.link), renderPublished(answer.article.published)),
    renderNewer(answer, peers),
    el("div", { class: "answer-tools" }, toggle, score),
    renderFeedback(answer, question),
    panel,
  );
}

async function toggleContext(button, panel, answer) {
  if (button.getAttribute("aria-expanded") === "true") {
    button.setAttribute("aria-expanded", "false");
    button.textContent = "Show context";
    panel.hidden = true;
    return;
  }
  button.setAttribute("aria-expanded", "true");
  button.textContent = "Hide context";
  panel.hidden = false;
  if (panel.dataset.loaded) return;
  panel.replaceChildren(spinner("Loading the article…"));
  try {
    const article = await getArticle(answer.article.id);
    panel.replaceChildren(renderContext(article, answer));
    panel.dataset.loaded = "1";
  } catch (error) {
    const text =
      error instanceof ApiError && error.status === 404
        ? "This article is no longer in the index."
        : `Could not load the article. ${describeError(error).message}`;
    panel.replaceChildren(el("p", { class: "error-text" }, text));
  }
}

function spinner(label) {
  return el("p", { class: "pending" }, el("span", { class: "spinner", "aria-hidden": "true" }), el("span", {}, label));
}

function renderReply(turn) {
  if (turn.status === "pending") {
    return el("div", { class: "bubble bubble-reply", "aria-busy": "true" }, spinner("Looking through the articles…"));
  }
  if (turn.status === "error") {
    const error = turn.error || { message: "Something went wrong.", retry: true };
    const retry = error.retry
      ? el("button", { type: "button", class: "button button-quiet retry" }, "Try again")
      : null;
    if (retry) retry.addEventListener("click", () => ask(turn));
    return el(
      "div",
      { class: "bubble bubble-reply bubble-error" },
      el("p", { class: "reply-title" }, el("span", { class: "sr-only" }, "Error: "), error.message),
      retry,
    );
  }
  const result = turn.result || { found: false, answers: [] };
  if (!result.found) {
    const browse = el("button", { type: "button", class: "link-button" }, "browse the articles");
    browse.addEventListener("click", () => openArticles());
    return el(
      "div",
      { class: "bubble bubble-reply bubble-not-found" },
      el("p", { class: "reply-title not-found" }, "No answer found in the articles."),
      el("p", { class: "hint" }, "Try other words, ask about one fact at a time, or ", browse, " to see what is indexed."),
    );
  }
  const [best, ...others] = result.answers;
  const reply = el(
    "div",
    { class: "bubble bubble-reply bubble-answer" },
    el("p", { class: "sr-only" }, `Answer: ${best.text}`),
    renderAnswer(best, { primary: true, peers: result.answers, question: turn.question }),
    renderNewerOthers(best, others),
  );
  if (others.length) {
    const label = others.length === 1 ? "1 other source" : `${others.length} other sources`;
    reply.append(
      el(
        "details",
        { class: "others" },
        el("summary", {}, label),
        el("ol", { class: "others-list" }, others.map((a) => el("li", {}, renderAnswer(a, { primary: false, peers: result.answers, question: turn.question })))),
      ),
    );
  }
  return reply;
}

function renderTurn(turn) {
  const node = el(
    "article",
    { class: "turn", id: turn.id, "aria-label": "Question and answer" },
    el("div", { class: "bubble bubble-question" }, el("span", { class: "sr-only" }, "You asked: "), el("p", {}, turn.question)),
    renderReply(turn),
  );
  return node;
}

function replaceReply(turn) {
  const node = document.getElementById(turn.id);
  if (!node) return;
  node.lastElementChild.replaceWith(renderReply(turn));
}

function renderAll() {
  log.replaceChildren(...turns.map(renderTurn));
  updateChrome();
}

function updateChrome() {
  const hasTurns = turns.length > 0;
  empty.hidden = hasTurns;
  $("clear").disabled = !hasTurns;
}

function scrollToTurn(turn) {
  const node = document.getElementById(turn.id);
  if (!node) return;
  const smooth = !window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  node.scrollIntoView({ block: "end", behavior: smooth ? "smooth" : "auto" });
}

// ---- asking -----------------------------------------------------------------------------

const MAX_HISTORY = 10; // the API takes at most this many earlier questions

/** The questions asked before ``turn`` in this conversation, oldest first: the server
 * resolves a follow-up ("How many of them were foreigners?") against them. */
function historyBefore(turn) {
  const index = turns.indexOf(turn);
  return turns
    .slice(0, index < 0 ? turns.length : index)
    .map((t) => t.question)
    .slice(-MAX_HISTORY);
}

async function ask(turn) {
  turn.status = "pending";
  turn.result = null;
  turn.error = null;
  replaceReply(turn);
  scrollToTurn(turn);
  try {
    const data = await fetchJson(
      "/api/ask",
      {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ question: turn.question, k: K, history: historyBefore(turn) }),
      },
      ASK_TIMEOUT_MS,
    );
    turn.result = normalizeResult(data);
    turn.status = turn.result.found ? "answered" : "not-found";
  } catch (error) {
    turn.status = "error";
    turn.error = describeError(error);
  }
  if (!turns.includes(turn)) return; // cleared meanwhile
  replaceReply(turn);
  saveTurns();
  scrollToTurn(turn);
}

function submitQuestion() {
  const box = $("question");
  const question = box.value.trim();
  if (!question) {
    announce("Type a question first.");
    box.focus();
    return;
  }
  const turn = { id: nextId("turn"), question, status: "pending", result: null, error: null };
  turns.push(turn);
  log.append(renderTurn(turn));
  updateChrome();
  saveTurns();
  box.value = "";
  box.focus();
  ask(turn);
}

function clearConversation() {
  turns = [];
  try {
    window.localStorage.removeItem(STORAGE_KEY);
  } catch {
    // nothing stored
  }
  renderAll();
  announce("The conversation was cleared.");
  $("question").focus();
}

// ---- articles panel ---------------------------------------------------------------------

const articles = { offset: 0, query: "", total: null, seq: 0, timer: 0 };

function showCount(total) {
  const words = total === 1 ? "1 article indexed" : `${total.toLocaleString()} articles indexed`;
  $("article-count").textContent = total.toLocaleString();
  $("empty-count").textContent = `${words}.`;
}

async function loadCount(attempt = 0) {
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

function openArticles() {
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
    $("reader-meta").replaceChildren(
      el("span", {}, str(article.id)),
      href ? " · " : null,
      href
        ? el("a", { href, target: "_blank", rel: "noopener noreferrer" }, "open the source", el("span", { class: "sr-only" }, " (opens in a new tab)"), el("span", { "aria-hidden": "true" }, " ↗"))
        : null,
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

// ---- start ------------------------------------------------------------------------------

function start() {
  const form = $("ask-form");
  const box = $("question");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submitQuestion();
  });
  box.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && !event.altKey && !event.ctrlKey && !event.metaKey) {
      event.preventDefault();
      submitQuestion();
    }
  });
  $("clear").addEventListener("click", clearConversation);
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

  turns = loadTurns();
  renderAll();
  if (turns.length) scrollToTurn(turns[turns.length - 1]);
  loadCount();
  document.documentElement.dataset.ready = "true"; // for tests: the page is wired up
}

start();
