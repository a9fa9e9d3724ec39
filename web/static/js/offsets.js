// Offsets in the API are Python code-point offsets; JS strings are UTF-16. Every slice by
// an API offset goes through code points, so emoji never shift a highlight.

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
export function locate(text, start, end, expected) {
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
export function wrapRange(text, range, makeWrapper) {
  const frag = document.createDocumentFragment();
  if (!range) {
    frag.append(text);
    return frag;
  }
  const [s, e] = range;
  frag.append(text.slice(0, s), makeWrapper(text.slice(s, e)), text.slice(e));
  return frag;
}
