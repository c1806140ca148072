// Audit: browse and filter the log page by page (newest first), verify the chain, export.
import { consoleGet, consoleJson } from "./api.js";
import { field, guarded, h } from "./ui.js";

const PAGE = 50;

export async function render(main) {
  const inputs = {
    operation: h("input", { type: "text", placeholder: "e.g. SearchFacesByImage" }),
    access_key: h("input", { type: "text" }),
    collection: h("input", { type: "text" }),
    outcome: h("input", { type: "text", placeholder: "OK, AccessDeniedException, …" }),
  };
  const labels = { operation: "Operation", access_key: "Access key", collection: "Collection", outcome: "Outcome" };
  const filters = () => Object.fromEntries(Object.entries(inputs).map(([k, el]) => [k, el.value.trim()]).filter(([, v]) => v));
  const body = h("tbody", {});
  const info = h("span", { class: "muted", role: "status" });
  const verifyOut = h("div", { id: "verify-result" });
  const pages = [null];
  let next = null;
  const prev = h("button", { class: "secondary", onclick: () => guarded(async () => { pages.pop(); await load(); }) }, "← Newer");
  const older = h("button", { class: "secondary", onclick: () => guarded(async () => { pages.push(next); await load(); }) }, "Older →");

  async function load() {
    const before = pages[pages.length - 1];
    const page = await consoleJson("audit", { ...filters(), limit: String(PAGE), ...(before ? { before: String(before) } : {}) });
    next = page.NextBefore;
    body.replaceChildren(...page.Records.map(row));
    if (!page.Records.length) body.append(h("tr", {}, h("td", { colspan: "8", class: "muted" }, "No records match.")));
    info.textContent = `${page.Matching} matching record${page.Matching === 1 ? "" : "s"}${before ? ` before #${before}` : ""}.`;
    prev.disabled = pages.length === 1;
    older.disabled = !next;
  }
  const form = h("form", { class: "row" }, Object.entries(inputs).map(([k, el]) => field(labels[k], el)), h("div", {}, h("button", { type: "submit" }, "Filter")));
  form.addEventListener("submit", (e) => { e.preventDefault(); pages.length = 1; guarded(load); });

  const verify = h("button", { id: "verify", onclick: () => guarded(async () => {
    verifyOut.replaceChildren(h("p", { class: "muted" }, "Checking every record…"));
    const v = await consoleJson("audit/verify");
    verifyOut.replaceChildren(
      h("p", { class: v.Ok ? "ok" : "bad", id: "verify-verdict" }, v.Ok ? `The chain is intact: ${v.Records} records, each linked to the one before and signed.` : `The log has been damaged or tampered with (${v.Problems.length} problem${v.Problems.length === 1 ? "" : "s"}).`),
      v.Problems.length ? h("ul", {}, v.Problems.map((p) => h("li", { class: "bad" }, p))) : "",
      v.Notes.length ? h("ul", {}, v.Notes.map((p) => h("li", { class: "muted" }, p))) : "",
      h("p", { class: "muted" }, "Head: ", h("code", {}, v.Head), " (pin it somewhere else to catch records cut off the end)."));
    verifyOut.dataset.ok = String(v.Ok);
  }) }, "Verify the chain");
  const exportButton = h("button", { class: "secondary", onclick: () => guarded(async () => {
    const blob = await (await consoleGet("audit", { ...filters(), format: "jsonl" })).blob();
    const a = h("a", { href: URL.createObjectURL(blob), download: "oculi-audit.jsonl" });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  }) }, "Export matching records (JSON lines)");

  main.append(h("h1", {}, "Audit"),
    h("div", { class: "panel" }, h("p", {}, "Every identity operation (indexing, searching, comparing, deleting, redacting) and every refusal is recorded, chained and signed."), h("div", { class: "pager" }, verify, exportButton), verifyOut),
    h("div", { class: "panel" }, form, h("div", { class: "pager" }, prev, older, info),
      h("table", { id: "audit-table" }, h("thead", {}, h("tr", {}, ["#", "Time", "Operation", "Access key", "Source", "Collection", "Outcome", "Results"].map((t) => h("th", { scope: "col" }, t)))), body)));
  await load();
}

function row(r) {
  const key = r.access_key || (r.claimed_access_key ? `${r.claimed_access_key} (claimed)` : "—");
  const outcome = r.phase === "intent" ? "intent" : r.outcome;
  return h("tr", { dataset: { seq: String(r.seq) } },
    h("td", { class: "num" }, String(r.seq)),
    h("td", {}, new Date(r.time * 1000).toLocaleString()),
    h("td", {}, r.operation),
    h("td", {}, key),
    h("td", {}, r.source || ""),
    h("td", {}, r.collection || ""),
    h("td", {}, h("span", { class: `badge ${outcome === "OK" ? "good" : outcome === "intent" ? "" : "bad"}` }, outcome)),
    h("td", { class: "num" }, r.matches ?? ""));
}
