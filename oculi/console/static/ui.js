// Small DOM helpers shared by the pages.
import { explain } from "./api.js";

// h("button", { class: "x", onclick: f }, "text", child, ...)
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k in el && typeof v !== "string") el[k] = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

let uid = 0;
export const nextId = (prefix) => `${prefix}-${++uid}`;

// A labelled field: h(...) control with a visible <label for>.
export function field(labelText, control, hint) {
  control.id = control.id || nextId("f");
  return h("div", { class: "field" }, h("label", { for: control.id }, labelText), control, hint ? h("span", { class: "muted" }, hint) : null);
}

export function showError(error) {
  const box = document.getElementById("error");
  const { title, detail } = explain(error);
  box.replaceChildren(h("strong", {}, title), " ", h("span", { class: "detail" }, detail));
  box.dataset.code = error.code || "PageError";
  box.hidden = false;
}

export function clearError() {
  const box = document.getElementById("error");
  box.hidden = true;
  box.replaceChildren();
  delete box.dataset.code;
}

// Run an async action; show what went wrong instead of a blank page.
export async function guarded(action) {
  clearError();
  try {
    return await action();
  } catch (e) {
    console.error(e);
    showError(e);
    return undefined;
  }
}

export async function fileBytes(file) {
  return new Uint8Array(await file.arrayBuffer());
}

export function base64(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

// A file picker that also takes files dropped on it (keyboard: the input is focusable).
export function dropZone({ label, multiple, accept, onFiles, id }) {
  const input = h("input", { type: "file", accept: accept || "image/jpeg,image/png", multiple: Boolean(multiple) });
  input.id = id || nextId("file");
  input.addEventListener("change", () => input.files.length && onFiles(Array.from(input.files)));
  const zone = h("div", { class: "drop" }, h("label", { for: input.id }, label), h("div", {}, input), h("div", { class: "muted" }, "or drop " + (multiple ? "photos" : "a photo") + " here"));
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    const files = Array.from(e.dataTransfer.files).filter((f) => /^image\//.test(f.type));
    if (files.length) onFiles(multiple ? files : files.slice(0, 1));
  });
  zone.input = input;
  return zone;
}

// Pagination by NextToken: keeps the tokens of the pages before, so Back works too.
export class Pager {
  constructor(load) {
    this.load = load; // async (token) => nextToken | null
    this.tokens = [null];
    this.next = null;
    this.el = h("div", { class: "pager" });
  }
  async first() { this.tokens = [null]; await this.show(); }
  async show() {
    this.next = await this.load(this.tokens[this.tokens.length - 1]);
    const page = this.tokens.length;
    this.el.replaceChildren(
      h("button", { class: "secondary", disabled: page === 1, onclick: () => guarded(async () => { this.tokens.pop(); await this.show(); }) }, "← Previous"),
      h("span", { class: "muted" }, `Page ${page}`),
      h("button", { class: "secondary", disabled: !this.next, onclick: () => guarded(async () => { this.tokens.push(this.next); await this.show(); }) }, "Next →"),
    );
  }
}

export function pct(v) {
  return v === undefined || v === null ? "" : `${Number(v).toFixed(1)}%`;
}
