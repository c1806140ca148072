// Stream processors: each with its status and StatusMessage, the newest events of the
// processors' log (refreshed every few seconds while the page is open), and a live view of
// a processor running in this server: its latest analysed frame with its boxes, every second.
import { consoleJson, rekognition } from "./api.js";
import { draw, toPixels } from "./tryit.js";
import { field, guarded, h, Pager, pct } from "./ui.js";

const PAGE = 20;
const EVENTS = 50;
const REFRESH_MS = 3000;
const LIVE_MS = 1000;

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

// A live view's detection as tryit's draw takes it: a person, pet or package box, or a face
// with the name of its best match.
function shape(d) {
  const name = d.Name ? ` ${d.Name}${d.Similarity !== undefined ? ` (${pct(d.Similarity)})` : ""}` : "";
  const kind = d.Label === "FACE" ? "face" : d.Label === "PERSON" ? "person" : "label";
  return { kind, label: `${d.Label.toLowerCase()}${name}`, box: d.BoundingBox };
}

// What the live view says when it has no frame to show.
function absence(answer) {
  if (!answer.RunsHere && ["RUNNING", "STARTING"].includes(answer.Status)) {
    return `${answer.Name} is ${answer.Status} in another process (an oculi worker, when the server has a queue): only the process that runs a processor can show it live.`;
  }
  if (!answer.RunsHere) return `${answer.Name} is not running (${answer.Status}): start it to see it live.`;
  return `${answer.Name} runs here but has analysed no frame yet.`;
}

// The live view: a processor to watch, its latest frame on a canvas with the boxes drawn
// over it, refreshed every second while the page is open and shown.
function liveView(main) {
  const pick = h("select", { id: "live-processor" }, h("option", { value: "" }, "(none)"));
  const follow = h("input", { type: "checkbox", id: "live-follow", checked: true });
  const canvas = h("canvas", { id: "live-view", role: "img", "aria-label": "No frame yet", hidden: true });
  const note = h("p", { id: "live-note", class: "muted", "aria-live": "polite" }, "Choose a running processor to watch.");
  const caption = h("p", { id: "live-caption" });
  let chosen = false; // the person picked one: keep it
  pick.addEventListener("change", () => { chosen = true; guarded(show); });
  const el = h("div", { class: "panel" }, h("h2", {}, "Live view"),
    h("div", { class: "row" }, field("Processor", pick), h("label", {}, follow, "Refresh every second")),
    note, h("div", { class: "stage" }, canvas), caption,
    h("p", { class: "muted" }, "The latest analysed frame (at most 640 px wide) and its boxes are kept in the server's memory only, never written, and replaced by the next; each one shown is audited."));

  // The processors of the list's page, and the first running one when none was picked.
  function offer(processors) {
    const names = processors.map((p) => p.Name);
    const keep = pick.value;
    if (JSON.stringify(names) !== pick.dataset.names) { // unchanged: leave the list (and focus)
      pick.dataset.names = JSON.stringify(names);
      pick.replaceChildren(h("option", { value: "" }, "(none)"), ...names.map((n) => h("option", { value: n }, n)));
    }
    const running = processors.find((p) => p.Status === "RUNNING");
    const stay = chosen ? keep === "" || names.includes(keep) : names.includes(keep);
    pick.value = stay ? keep : (running ? running.Name : "");
  }

  async function show() {
    const name = pick.value;
    if (!name) {
      canvas.hidden = true;
      note.textContent = "Choose a running processor to watch.";
      canvas.dataset.state = "none";
      return;
    }
    const answer = await consoleJson("stream-frame", { name });
    if (pick.value !== name) return; // another was picked meanwhile
    if (!answer.Frame) {
      canvas.hidden = true;
      caption.textContent = "";
      note.textContent = absence(answer);
      canvas.dataset.state = answer.RunsHere ? "waiting" : "not-here";
      return;
    }
    const image = new Image();
    image.src = "data:image/jpeg;base64," + answer.Frame.Image;
    await image.decode();
    const drawn = answer.Detections.map((d) => toPixels(shape(d), image.naturalWidth, image.naturalHeight));
    draw(canvas, image, drawn);
    const what = drawn.length ? drawn.map((s) => s.label).join(", ") : "nothing found";
    const at = new Date(answer.Frame.Time * 1000).toLocaleTimeString();
    canvas.setAttribute("aria-label", `Latest analysed frame of ${name}, ${at}: ${what}`);
    caption.textContent = `${at}, ${(answer.Frame.PositionMs / 1000).toFixed(1)} s into the stream: ${what}.`;
    note.textContent = "";
    canvas.hidden = false;
    canvas.dataset.boxes = JSON.stringify(drawn.map(({ label, box, px }) => ({ label, box, px })));
    canvas.dataset.detections = JSON.stringify(answer.Detections);
    canvas.dataset.position = String(answer.Frame.PositionMs);
    canvas.dataset.state = "live";
  }

  const tick = async () => {
    if (!main.contains(el)) return; // the page was left
    if (follow.checked && !document.hidden) {
      try {
        await show();
      } catch (e) {
        return guarded(() => { throw e; });
      }
    }
    setTimeout(tick, LIVE_MS);
  };
  return { el, offer, start: () => setTimeout(tick, 0) };
}

export async function render(main) {
  const body = h("tbody", {});
  const watch = liveView(main);
  const pager = new Pager(async (token) => {
    const { data } = await rekognition("ListStreamProcessors", { MaxResults: PAGE, ...(token ? { NextToken: token } : {}) });
    const described = await Promise.all(data.StreamProcessors.map((p) => rekognition("DescribeStreamProcessor", { Name: p.Name }).then((r) => r.data)));
    watch.offer(described);
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
    watch.el,
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
  watch.start();
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
