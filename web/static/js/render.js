// Rendering the conversation: questions, answers with their verbatim quotes, errors.
// ``actions`` ({retry(turn), browse()}) are what the reply's buttons do.

import { $, el, nextId } from "./dom.js";
import { locate, wrapRange } from "./offsets.js";
import { ApiError, describeError, fetchJson, getArticle, safeUrl, str } from "./api.js";

const CONTEXT_CHARS = 700; // at most this many characters of context on each side of a quote

const statusLine = $("status");

export function announce(message) {
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

export function spinner(label) {
  return el("p", { class: "pending" }, el("span", { class: "spinner", "aria-hidden": "true" }), el("span", {}, label));
}

function renderReply(turn, actions) {
  if (turn.status === "pending") {
    return el("div", { class: "bubble bubble-reply", "aria-busy": "true" }, spinner("Looking through the articles…"));
  }
  if (turn.status === "error") {
    const error = turn.error || { message: "Something went wrong.", retry: true };
    const retry = error.retry
      ? el("button", { type: "button", class: "button button-quiet retry" }, "Try again")
      : null;
    if (retry) retry.addEventListener("click", () => actions.retry(turn));
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
    browse.addEventListener("click", () => actions.browse());
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

export function renderTurn(turn, actions) {
  const node = el(
    "article",
    { class: "turn", id: turn.id, "aria-label": "Question and answer" },
    el("div", { class: "bubble bubble-question" }, el("span", { class: "sr-only" }, "You asked: "), el("p", {}, turn.question)),
    renderReply(turn, actions),
  );
  return node;
}

export function replaceReply(turn, actions) {
  const node = document.getElementById(turn.id);
  if (!node) return;
  node.lastElementChild.replaceWith(renderReply(turn, actions));
}

export function scrollToTurn(turn) {
  const node = document.getElementById(turn.id);
  if (!node) return;
  const smooth = !window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  node.scrollIntoView({ block: "end", behavior: smooth ? "smooth" : "auto" });
}
