// The JSON API: requests with timeouts, errors as polite sentences, replies checked.

const FETCH_TIMEOUT_MS = 30_000;

export class ApiError extends Error {
  constructor(kind, status = 0, detail = null) {
    super(detail || kind);
    this.kind = kind; // "network" | "timeout" | "http" | "bad-response"
    this.status = status;
    this.detail = detail;
  }
}

export async function fetchJson(url, options = {}, timeoutMs = FETCH_TIMEOUT_MS) {
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
export function getArticle(id) {
  if (!articleCache.has(id)) {
    const promise = fetchJson(articlePath(id));
    articleCache.set(id, promise);
    promise.catch(() => articleCache.delete(id));
  }
  return articleCache.get(id);
}

/** The error as one polite sentence; ``retry`` says whether trying again may help. */
export function describeError(error) {
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
export function safeUrl(url) {
  if (typeof url !== "string" || !url) return null;
  try {
    const parsed = new URL(url, window.location.href);
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
  } catch {
    return null;
  }
}

export const str = (value, fallback = "") => (typeof value === "string" ? value : fallback);

/** Keep only what the page renders, with the right types (stored data may be old or edited). */
export function normalizeResult(data) {
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
