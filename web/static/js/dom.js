// DOM helpers. Nothing from the server or the user is ever parsed as HTML: every string
// goes in through textContent / text nodes (el() refuses innerHTML and inline handlers).

/** createElement with properties/attributes and children (strings become text nodes). */
export function el(tag, props = {}, ...children) {
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

export const $ = (id) => document.getElementById(id);

let uid = 0;
export const nextId = (prefix) => `${prefix}-${Date.now().toString(36)}-${(uid++).toString(36)}`;
