/** A tiny DOM builder: elements from createElement, text from textContent. Never innerHTML. */

export type Child = Node | string | number | null | undefined | false | Child[];
type AttrValue = string | number | boolean | null | undefined;
export type Attrs = Record<string, AttrValue | ((ev: Event) => void)>;

/** Properties set directly (so `value`/`checked` reflect the current state, not the default). */
const PROPS = new Set(["value", "checked", "disabled", "hidden", "selected", "indeterminate"]);

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs?: Attrs | null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [key, value] of Object.entries(attrs)) {
      if (typeof value === "function") {
        el.addEventListener(key.replace(/^on/, "").toLowerCase(), value as EventListener);
      } else if (key === "class") {
        if (value) el.className = String(value);
      } else if (PROPS.has(key)) {
        (el as unknown as Record<string, unknown>)[key] = key === "value" ? String(value ?? "") : Boolean(value);
      } else if (value === true) {
        el.setAttribute(key, "");
      } else if (value !== false && value !== null && value !== undefined) {
        el.setAttribute(key, String(value));
      }
    }
  }
  append(el, children);
  return el;
}

export function append(parent: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(parent, c);
    else if (typeof c === "string" || typeof c === "number") parent.appendChild(document.createTextNode(String(c)));
    else parent.appendChild(c);
  }
}

/** Replaces an element's children. */
export function fill(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

let uid = 0;
/** A fresh id for wiring labels and descriptions. */
export function nextId(prefix: string): string {
  uid += 1;
  return `${prefix}-${uid}`;
}

/** Adds ids to an element's aria-describedby (no duplicates). */
export function describeBy(el: Element, ...ids: string[]): void {
  const current = (el.getAttribute("aria-describedby") ?? "").split(/\s+/).filter(Boolean);
  for (const id of ids) if (!current.includes(id)) current.push(id);
  if (current.length) el.setAttribute("aria-describedby", current.join(" "));
}

/** Removes ids from an element's aria-describedby. */
export function undescribe(el: Element, ...ids: string[]): void {
  const current = (el.getAttribute("aria-describedby") ?? "").split(/\s+/).filter((x) => x && !ids.includes(x));
  if (current.length) el.setAttribute("aria-describedby", current.join(" "));
  else el.removeAttribute("aria-describedby");
}

/** Appends children, skipping null/false (like `h`). */
export function add(parent: Node, ...children: Child[]): void {
  append(parent, children);
}

/**
 * Resolves once the current frame has been painted (two animation frames), or after
 * `atMostMs` when no frames come (a hidden window gets none).
 */
export function afterPaint(atMostMs = 250): Promise<void> {
  return new Promise((resolve) => {
    let done = false;
    const go = () => {
      if (done) return;
      done = true;
      resolve();
    };
    if (typeof requestAnimationFrame === "function") requestAnimationFrame(() => requestAnimationFrame(go));
    setTimeout(go, atMostMs);
  });
}
