// The chat page: asks /api/ask, renders verbatim quotes, keeps the conversation in
// localStorage. No answer logic lives here. The page is a few ES modules, no build step:
//   js/dom.js           el(), $(): DOM nodes from text only, never from HTML
//   js/offsets.js       API code-point offsets -> JS string ranges
//   js/api.js           fetch with timeouts, polite errors, reply checks
//   js/conversation.js  the conversation in localStorage
//   js/render.js        questions, answers, quotes, context
//   js/articles.js      the articles panel and the reader
//   app.js              asking, and wiring the page (this file)

import { $, nextId } from "./js/dom.js";
import { describeError, fetchJson, normalizeResult } from "./js/api.js";
import { forgetTurns, loadTurns, saveTurns } from "./js/conversation.js";
import { announce, renderTurn, replaceReply, scrollToTurn } from "./js/render.js";
import { loadCount, openArticles, setUpArticles } from "./js/articles.js";

const K = 3;
const ASK_TIMEOUT_MS = 120_000;

const log = $("log");
const empty = $("empty");

/** The conversation so far (see js/conversation.js). */
let turns = [];

/** What the buttons inside a reply do. */
const actions = { retry: (turn) => ask(turn), browse: () => openArticles() };

function renderAll() {
  log.replaceChildren(...turns.map((turn) => renderTurn(turn, actions)));
  updateChrome();
}

function updateChrome() {
  const hasTurns = turns.length > 0;
  empty.hidden = hasTurns;
  $("clear").disabled = !hasTurns;
}

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
  replaceReply(turn, actions);
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
  replaceReply(turn, actions);
  saveTurns(turns);
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
  log.append(renderTurn(turn, actions));
  updateChrome();
  saveTurns(turns);
  box.value = "";
  box.focus();
  ask(turn);
}

function clearConversation() {
  turns = [];
  forgetTurns();
  renderAll();
  announce("The conversation was cleared.");
  $("question").focus();
}

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
  setUpArticles();

  turns = loadTurns();
  renderAll();
  if (turns.length) scrollToTurn(turns[turns.length - 1]);
  loadCount();
  document.documentElement.dataset.ready = "true"; // for tests: the page is wired up
}

start();
