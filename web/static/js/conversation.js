// The conversation, kept in localStorage so it survives a reload.
// turns: [{id, question, status: "pending"|"answered"|"not-found"|"error", result?, error?}]

import { nextId } from "./dom.js";
import { normalizeResult } from "./api.js";

const STORAGE_KEY = "article-qa.conversation.v1";
const MAX_TURNS = 200;

export function loadTurns() {
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

export function saveTurns(turns) {
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

export function forgetTurns() {
  try {
    window.localStorage.removeItem(STORAGE_KEY);
  } catch {
    // nothing stored
  }
}
