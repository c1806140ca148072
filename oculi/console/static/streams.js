// Stream processors: each with its status and StatusMessage, and the newest events of the
// processors' log (refreshed every few seconds while the page is open).
import { consoleJson, rekognition } from "./api.js";
import { field, guarded, h, Pager, pct } from "./ui.js";

const PAGE = 20;
const EVENTS = 50;
const REFRESH_MS = 3000;

const when = (ms) => new Date(ms).toLocaleTimeString();

// What an event says, in a line.
export function summary(e) {
  const ev = e.event || {};
  if (e.type === "STATUS") return `${ev.Status}${ev.StatusMessage ? `: ${ev.StatusMessage}` : ""}`;
  if (e.type === "FaceSearch") {
    const faces = ev.FaceSearchResponse || [];
    const named = faces.flatMap((f) => (f.MatchedFaces || []).slice(0, 1).map((m) => `${m.Face.ExternalImageId || m.Face.FaceId} (${pct(m.Similarity)})`));
    return `${faces.length} face${faces.length === 1 ? "" : "s"}` + (named.length ? `, matched: ${named.join(", ")}` : ", no match");
  }
  if (e.type === "LABEL_DETECTED") {
    return (ev.labels || []).map((l) => `${l.name}${l.confidence !== undefined ? ` (${pct(l.confidence)})` : ""}`).join(", ");
  }
  if (e.type === "STREAM_PROCESSING_COMPLETE") return "the session ended";
  return "";
}

export async function render(main) {
  const body = h("tbody", {});
  const pager = new Pager(async (token) => {
    const { data } = await rekognition("ListStreamProcessors", { MaxResults: PAGE, ...(token ? { NextToken: token } : {}) });
    const described = await Promise.all(data.StreamProcessors.map((p) => rekognition("DescribeStreamProcessor", { Name: p.Name }).then((r) => r.data)));
    const seen = JSON.stringify(described.map((p) => [p.Name, p.Status, p.StatusMessage]));
    if (seen === body.dataset.seen) return data.NextToken || null; // unchanged: keep the rows (and focus)
    body.dataset.seen = seen;
    body.replaceChildren(...described.map((p) => h("tr", { dataset: { processor: p.Name, status: p.Status } },
      h("td", {}, p.Name),
      h("td", {}, h("span", { class: p.Status === "FAILED" ? "badge bad" : p.Status === "RUNNING" ? "badge good" : "badge" }, p.Status)),
      h("td", {}, p.StatusMessage || ""),
      h("td", {}, p.Settings?.FaceSearch ? `faces, searched in ${p.Settings.FaceSearch.CollectionId}` : (p.Settings?.ConnectedHome?.Labels || []).join(", ").toLowerCase()),
      h("td", {}, h("code", {}, p.Input?.KinesisVideoStream?.Arn || "")))));
    if (!described.length) body.append(h("tr", {}, h("td", { colspan: "5", class: "muted" }, "No stream processors: create one with boto3's create_stream_processor (docs/streams.md).")));
    return data.NextToken || null;
  });
  const which = h("input", { type: "text", id: "events-processor", spellcheck: "false" });
  const live = h("input", { type: "checkbox", id: "events-live", checked: true });
  const eventsBody = h("tbody", {});
  const events = h("table", { id: "stream-events" },
    h("thead", {}, h("tr", {}, ["Time", "Processor", "Type", "What", "Session"].map((t) => h("th", { scope: "col" }, t)))), eventsBody);
  const refresh = h("button", { type: "button", id: "events-refresh", class: "secondary" }, "Refresh");
  main.append(h("h1", {}, "Stream processors"),
    h("div", { class: "panel" }, h("h2", {}, "Processors"),
      h("table", { id: "processors-table" },
        h("thead", {}, h("tr", {}, ["Name", "Status", "Status message", "Finds", "Input"].map((t) => h("th", { scope: "col" }, t)))), body),
      pager.el,
      h("p", { class: "muted" }, "Inputs are shown without their credentials.")),
    h("div", { class: "panel" }, h("h2", {}, `Latest events (newest first, ${EVENTS} at most)`),
      h("div", { class: "row" }, field("Only the processor named", which), h("label", {}, live, "Refresh every few seconds"), refresh),
      events));

  async function loadEvents() {
    const query = { limit: String(EVENTS), ...(which.value.trim() ? { processor: which.value.trim() } : {}) };
    const { Events } = await consoleJson("stream-events", query);
    const seen = JSON.stringify([query, Events.length ? [Events[0].time, Events[0].processor, Events[0].type] : null, Events.length]);
    if (seen === eventsBody.dataset.seen) return;
    eventsBody.dataset.seen = seen;
    eventsBody.replaceChildren(...Events.map((e) => h("tr", { dataset: { type: e.type, processor: e.processor } },
      h("td", {}, when(e.time)), h("td", {}, e.processor), h("td", {}, e.type), h("td", {}, summary(e)), h("td", {}, h("code", {}, e.session || "")))));
    if (!Events.length) eventsBody.append(h("tr", {}, h("td", { colspan: "5", class: "muted" }, "No events yet.")));
    events.dataset.count = String(Events.length);
    events.dataset.state = "done";
  }
  refresh.addEventListener("click", () => guarded(async () => { await pager.show(); await loadEvents(); }));
  which.addEventListener("change", () => guarded(loadEvents));
  await pager.first();
  await loadEvents();
  const tick = async () => {
    if (!main.contains(events)) return; // the page was left
    if (live.checked && !document.hidden) {
      try {
        await pager.show();
        await loadEvents();
      } catch (e) {
        return guarded(() => { throw e; });
      }
    }
    setTimeout(tick, REFRESH_MS);
  };
  setTimeout(tick, REFRESH_MS);
}
