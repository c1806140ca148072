// Video: start stored-video jobs on an S3 object, follow them, see their results on a
// timeline, and play a copy of the video next to it.
import { ApiError, rekognition } from "./api.js";
import { field, guarded, h, pct } from "./ui.js";

const KINDS = [
  { id: "faces", title: "Faces", start: "StartFaceDetection", get: "GetFaceDetection", field: "Faces", checked: true },
  { id: "persons", title: "Persons, tracked", start: "StartPersonTracking", get: "GetPersonTracking", field: "Persons", checked: true },
  { id: "labels", title: "Labels", start: "StartLabelDetection", get: "GetLabelDetection", field: "Labels", extra: { MinConfidence: 60 } },
  { id: "search", title: "Face search in a collection", start: "StartFaceSearch", get: "GetFaceSearch", field: "Persons" },
];
const POLL_MS = 1000;
const MAX_PAGES = 20; // 20,000 results a job at most are drawn
const MAX_LABEL_ROWS = 12;
const JOIN_MS = 1200; // detections closer than this are one segment of a row

const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`;
const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// One job: started, polled until it is done (or the page is left: null), then every page
// of its results.
async function runJob(kind, video, collection, onStatus, open) {
  const params = { Video: video, ...(kind.extra || {}) };
  if (kind.id === "search") params.CollectionId = collection;
  const { data: started } = await rekognition(kind.start, params);
  const began = Date.now();
  let answer;
  for (;;) {
    answer = (await rekognition(kind.get, { JobId: started.JobId, MaxResults: 1 })).data;
    onStatus(started.JobId, answer, Date.now() - began);
    if (answer.JobStatus !== "IN_PROGRESS") break;
    await wait(POLL_MS);
    if (!open()) return null;
  }
  if (answer.JobStatus !== "SUCCEEDED") return { answer, items: [], truncated: false };
  const items = [];
  let token = null;
  let pages = 0;
  do {
    const params = { JobId: started.JobId, MaxResults: 1000, ...(token ? { NextToken: token } : {}) };
    const { data } = await rekognition(kind.get, params);
    items.push(...(data[kind.field] || []));
    token = data.NextToken || null;
    pages += 1;
  } while (token && pages < MAX_PAGES);
  return { answer, items, truncated: Boolean(token) };
}

// The timeline's rows: { kind, label, items: [{ ts, box, detail }] }.
export function rows(kindId, items) {
  const byKey = new Map();
  const add = (key, label, item) => {
    if (!byKey.has(key)) byKey.set(key, { kind: kindId, label, items: [] });
    byKey.get(key).items.push(item);
  };
  for (const it of items) {
    if (kindId === "faces") {
      const f = it.Face;
      add("faces", "Faces", { ts: it.Timestamp, box: f.BoundingBox, detail: `face ${pct(f.Confidence)}` });
    } else if (kindId === "persons") {
      const p = it.Person;
      add(p.Index, `Person #${p.Index}`, { ts: it.Timestamp, box: p.BoundingBox || p.Face?.BoundingBox, detail: `person #${p.Index}` });
    } else if (kindId === "labels") {
      const l = it.Label;
      const box = l.Instances && l.Instances[0] ? l.Instances[0].BoundingBox : null;
      add(l.Name, `Label: ${l.Name}`, { ts: it.Timestamp, box, detail: `${l.Name} ${pct(l.Confidence)}` });
    } else if (kindId === "search" && it.FaceMatches && it.FaceMatches.length) {
      const best = it.FaceMatches[0];
      const who = best.Face.ExternalImageId || best.Face.FaceId;
      add(who, `Match: ${who}`, { ts: it.Timestamp, box: it.Person.Face?.BoundingBox, detail: `${who} ${pct(best.Similarity)} similar (person #${it.Person.Index})` });
    }
  }
  let out = [...byKey.values()];
  if (kindId === "labels") out = out.sort((a, b) => b.items.length - a.items.length).slice(0, MAX_LABEL_ROWS);
  return out;
}

// Consecutive detections of a row, joined into [from, to] segments.
function segments(items) {
  const times = [...new Set(items.map((i) => i.ts))].sort((a, b) => a - b);
  const out = [];
  for (const t of times) {
    const last = out[out.length - 1];
    if (last && t - last[1] <= JOIN_MS) last[1] = t;
    else out.push([t, t]);
  }
  return out;
}

export async function render(main) {
  const bucket = h("input", { type: "text", id: "video-bucket", required: true, spellcheck: "false" });
  const key = h("input", { type: "text", id: "video-key", required: true, spellcheck: "false" });
  const collection = h("input", { type: "text", id: "video-collection", spellcheck: "false" });
  const boxes = KINDS.map((k) => h("label", {}, h("input", { type: "checkbox", name: "video-op", value: k.id, checked: Boolean(k.checked) }), k.title));
  const startButton = h("button", { type: "submit", id: "video-start" }, "Start");
  const form = h("form", { class: "panel", "aria-labelledby": "video-start-title" },
    h("h2", { id: "video-start-title" }, "Analyse a video in S3"),
    h("p", { class: "muted" }, "oculi reads the object with its own S3 configuration, as Rekognition would; the job runs on the server and this page follows it."),
    h("div", { class: "row" }, h("div", { class: "col" }, field("Bucket", bucket)), h("div", { class: "col" }, field("Key (object name)", key))),
    h("fieldset", {}, h("legend", {}, "Find"), boxes),
    field("Collection (for face search)", collection, "matches are named at the identity floor"),
    startButton);
  const jobsBody = h("tbody", {});
  const jobs = h("table", { id: "video-jobs" },
    h("thead", {}, h("tr", {}, ["Analysis", "Job id", "Status", "Elapsed", "Results"].map((t) => h("th", { scope: "col" }, t)))), jobsBody);
  const meta = h("p", { id: "video-meta", class: "muted" });
  const timeline = h("div", { id: "timeline", class: "timeline", role: "group", "aria-label": "Results over the length of the video" });
  const detail = h("p", { id: "timeline-detail", "aria-live": "polite", class: "muted" }, "Choose a segment to see what was found there.");
  const player = h("video", { id: "video-player", controls: true, hidden: true, "aria-label": "The video" });
  const overlay = h("canvas", { id: "video-overlay", class: "overlay", "aria-hidden": "true" });
  const playPicker = h("input", { type: "file", accept: "video/*", id: "video-local" });
  main.append(h("h1", {}, "Video"), form,
    h("div", { class: "panel" }, h("h2", {}, "Jobs"), jobs, meta),
    h("div", { class: "panel" }, h("h2", {}, "Timeline"), timeline, detail,
      field("Play a copy of the same video from this computer", playPicker,
        "The browser cannot read the S3 object itself (it is on the server's side, behind S3's own credentials): pick the same file to play it with the results drawn over it."),
      h("div", { class: "stage" }, player, overlay)));

  let shown = []; // rows on the timeline
  let duration = 0;
  const cursor = h("div", { class: "cursor", hidden: true });

  playPicker.addEventListener("change", () => {
    if (!playPicker.files.length) return;
    if (player.src) URL.revokeObjectURL(player.src);
    player.src = URL.createObjectURL(playPicker.files[0]);
    player.hidden = false;
  });
  const draw = () => {
    overlay.width = player.clientWidth;
    overlay.height = player.clientHeight;
    const g = overlay.getContext("2d");
    g.clearRect(0, 0, overlay.width, overlay.height);
    const now = player.currentTime * 1000;
    if (duration) {
      cursor.hidden = false;
      cursor.style.left = `${Math.min(100, (now / duration) * 100)}%`;
    }
    g.lineWidth = 2;
    g.font = "13px system-ui, sans-serif";
    for (const row of shown) {
      for (const it of row.items) {
        if (!it.box || Math.abs(it.ts - now) > 250) continue;
        const [x, y, w, hh] = [it.box.Left * overlay.width, it.box.Top * overlay.height, it.box.Width * overlay.width, it.box.Height * overlay.height];
        g.strokeStyle = row.kind === "search" ? "#ffcc00" : row.kind === "persons" ? "#8ab4ff" : "#4cff7a";
        g.strokeRect(x, y, w, hh);
        g.fillStyle = g.strokeStyle;
        // labels inside the box's foot, the rest above its top: a person and its label agree
        g.fillText(row.label, x + 3, row.kind === "labels" ? y + hh - 4 : Math.max(12, y - 3));
      }
    }
  };
  player.addEventListener("timeupdate", draw);
  player.addEventListener("seeked", draw);

  const seek = (ms, text) => {
    detail.textContent = text;
    if (!player.hidden && player.readyState > 0) player.currentTime = ms / 1000;
  };

  function drawTimeline(all, truncated) {
    shown = all;
    const track = (row) => {
      const bar = h("div", { class: "bar" });
      for (const [from, to] of segments(row.items)) {
        const at = row.items.filter((i) => i.ts >= from && i.ts <= to);
        const text = `${row.label}: ${seconds(from)} to ${seconds(to)}, ${at.length} detection${at.length === 1 ? "" : "s"}` +
          (row.kind === "search" || row.kind === "labels" ? ` (${at[0].detail})` : "");
        const seg = h("button", { type: "button", class: `seg ${row.kind}`, "aria-label": text, title: text, dataset: { from: String(from) }, onclick: () => seek(from, text) });
        seg.style.left = `${(from / duration) * 100}%`;
        seg.style.width = `max(4px, ${((to - from) / duration) * 100}%)`;
        bar.append(seg);
      }
      return h("div", { class: "track", dataset: { kind: row.kind, label: row.label, count: String(row.items.length) } },
        h("span", { class: "name" }, row.label), bar);
    };
    const axis = h("div", { class: "track axis" }, h("span", { class: "name" }, ""),
      h("div", { class: "bar" }, [0, 0.25, 0.5, 0.75, 1].map((f) => {
        const tick = h("span", { class: `tick${f === 0 ? " first" : f === 1 ? " last" : ""}` }, seconds(f * duration));
        tick.style.left = `${f * 100}%`;
        return tick;
      }), cursor));
    timeline.replaceChildren(axis, ...all.map(track));
    if (!all.length) timeline.append(h("p", { class: "muted" }, "Nothing was found."));
    if (truncated) timeline.append(h("p", { class: "notice" }, `Only the first ${MAX_PAGES * 1000} results of a job are drawn.`));
    timeline.dataset.state = "done";
    draw();
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    guarded(async () => {
      const chosen = KINDS.filter((k) => boxes.some((b) => b.firstChild.checked && b.firstChild.value === k.id));
      if (!chosen.length) throw new ApiError("PageInput", "Choose at least one thing to find.", 0);
      if (chosen.some((k) => k.id === "search") && !collection.value.trim()) throw new ApiError("PageInput", "Face search needs a collection.", 0);
      const video = { S3Object: { Bucket: bucket.value.trim(), Name: key.value.trim() } };
      startButton.disabled = true;
      timeline.dataset.state = "running";
      jobs.dataset.state = "running";
      timeline.replaceChildren(h("p", { class: "muted" }, "Waiting for the jobs…"));
      jobsBody.replaceChildren();
      try {
        const settled = await Promise.allSettled(chosen.map(async (kind) => {
          const cells = { id: h("td", {}, "starting…"), status: h("td", {}, ""), elapsed: h("td", { class: "num" }, ""), count: h("td", { class: "num" }, "") };
          const row = h("tr", { dataset: { kind: kind.id } }, h("td", {}, kind.title), cells.id, cells.status, cells.elapsed, cells.count);
          jobsBody.append(row);
          const onStatus = (jobId, answer, ms) => {
            cells.id.replaceChildren(h("code", {}, jobId));
            const failed = answer.JobStatus === "FAILED";
            cells.status.replaceChildren(h("span", { class: failed ? "bad" : answer.JobStatus === "SUCCEEDED" ? "ok" : "" },
              answer.JobStatus === "IN_PROGRESS" ? "in progress…" : answer.JobStatus.toLowerCase()), failed ? ` ${answer.StatusMessage || ""}` : "");
            cells.elapsed.textContent = seconds(ms);
            row.dataset.status = answer.JobStatus;
            if (answer.VideoMetadata && answer.VideoMetadata.DurationMillis) {
              const m = answer.VideoMetadata;
              duration = m.DurationMillis;
              meta.textContent = `${m.Format || "video"}, ${m.Codec || ""} ${m.FrameWidth}×${m.FrameHeight}, ${Number(m.FrameRate).toFixed(2)} frames/s, ${seconds(m.DurationMillis)}.`;
            }
          };
          try {
            const done = await runJob(kind, video, collection.value.trim(), onStatus, () => main.contains(form));
            if (done === null) return { kind, items: [], truncated: false };
            cells.count.textContent = String(done.items.length);
            return { kind, ...done };
          } catch (err) {
            cells.id.textContent = "not started";
            throw err;
          }
        }));
        // what the jobs that ran found, even when another could not start
        const results = settled.filter((s) => s.status === "fulfilled").map((s) => s.value);
        if (results.length) drawTimeline(results.flatMap((r) => rows(r.kind.id, r.items)), results.some((r) => r.truncated));
        const refused = settled.find((s) => s.status === "rejected");
        if (refused) throw refused.reason;
      } finally {
        startButton.disabled = false;
        jobs.dataset.state = "done";
        if (timeline.dataset.state !== "done") timeline.dataset.state = "failed";
      }
    });
  });
}
