// The console's shell: sign-in (with keys), navigation between pages by #/hash.
import { authMode, consoleJson, credentials, saveCredentials, signOut, ApiError } from "./api.js";
import { clearError, field, guarded, h, showError } from "./ui.js";
import * as tryit from "./tryit.js";
import * as collections from "./collections.js";
import * as redaction from "./redaction.js";
import * as audit from "./audit.js";
import * as models from "./models.js";
import * as video from "./video.js";
import * as streams from "./streams.js";

const PAGES = { try: tryit, collections, video, streams, redaction, audit, models };

function signInPage(main) {
  const id = h("input", { type: "text", autocomplete: "username", required: true, spellcheck: "false" });
  const secret = h("input", { type: "password", autocomplete: "current-password", required: true });
  const region = h("input", { type: "text", value: "us-east-1", required: true });
  const form = h("form", { class: "panel signin", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title" }, "Sign in to oculi"),
    h("p", { class: "muted" }, "Use an access key from the server's keys file. It stays in this browser tab (sessionStorage) and signs every request; it is never sent itself."),
    field("Access key id", id),
    field("Secret access key", secret),
    field("Region the key is scoped to", region),
    h("button", { type: "submit", id: "signin" }, "Sign in"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    guarded(async () => {
      saveCredentials({ accessKeyId: id.value.trim(), secret: secret.value, region: region.value.trim() });
      try {
        await consoleJson("health");
      } catch (err) {
        if (!(err instanceof ApiError && err.code === "AccessDeniedException")) {
          signOut();
          throw err;
        }
      }
      route();
    });
  });
  main.replaceChildren(form);
  id.focus();
}

function who() {
  const el = document.getElementById("who");
  if (authMode() !== "keys") {
    el.replaceChildren(h("span", { class: "badge" }, "no access keys: this machine only"));
    return;
  }
  const c = credentials();
  el.replaceChildren(
    c ? h("span", {}, "Signed in as ", h("strong", {}, c.accessKeyId)) : "",
    c ? h("button", { class: "secondary", onclick: () => { signOut(); route(); } }, "Sign out") : "",
  );
}

async function route() {
  clearError();
  who();
  const main = document.getElementById("page");
  const name = (location.hash.match(/^#\/(\w+)/) || [])[1] || "try";
  for (const a of document.querySelectorAll("nav a")) {
    if (a.dataset.page === name) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (authMode() === "keys" && !credentials()) {
    signInPage(main);
    return;
  }
  const page = PAGES[name] || tryit;
  main.replaceChildren();
  document.title = `oculi · ${document.querySelector(`nav a[data-page="${name}"]`)?.textContent || "console"}`;
  try {
    await page.render(main);
  } catch (e) {
    showError(e);
  }
  main.focus({ preventScroll: true });
}

window.addEventListener("hashchange", route);
window.addEventListener("unhandledrejection", (e) => showError(e.reason));
route();
