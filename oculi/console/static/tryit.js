// Try it: run operations on a photo and see what oculi sees, drawn over it.
import { explain, native, rekognition, ApiError } from "./api.js";
import { base64, dropZone, fileBytes, guarded, h, pct } from "./ui.js";

const MAX_BYTES = 5 * 1024 * 1024;
const COLORS = { face: "#ffcc00", landmark: "#00e5ff", label: "#4cff7a", text: "#ff6bd6", plate: "#ff8a00", person: "#8ab4ff", ppe: "#ff4d4d", compare: "#ffcc00" };

const OPS = [
  { id: "faces", title: "Faces, with all attributes", op: "DetectFaces", extra: { Attributes: ["ALL"] }, cli: "--attributes ALL", py: ', Attributes=["ALL"]', checked: true },
  { id: "compare", title: "Compare with another photo", op: "CompareFaces" },
  { id: "labels", title: "Labels", op: "DetectLabels", extra: { MaxLabels: 50 }, cli: "--max-labels 50", py: ", MaxLabels=50", checked: true },
  { id: "text", title: "Text", op: "DetectText" },
  { id: "plates", title: "Licence plates", path: "/oculi/plates" },
  { id: "moderation", title: "Moderation", op: "DetectModerationLabels" },
  { id: "ppe", title: "Protective equipment", op: "DetectProtectiveEquipment" },
];

const snake = (op) => op.replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase();
const kebab = (op) => snake(op).replace(/_/g, "-");

export function snippets(o, fileName, targetName) {
  const url = location.origin;
  if (o.path) {
    return {
      python: `# ${o.path} is oculi's own endpoint (SigV4, service "oculi")\nimport boto3, requests\nfrom botocore.auth import SigV4Auth\nfrom botocore.awsrequest import AWSRequest\n\nbody = open("${fileName}", "rb").read()\nreq = AWSRequest("POST", "${url}${o.path}", data=body)\nSigV4Auth(boto3.Session().get_credentials(), "oculi", "us-east-1").add_auth(req)\nprint(requests.post(req.url, data=body, headers=dict(req.headers)).json())`,
      cli: `curl --aws-sigv4 "aws:amz:us-east-1:oculi" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \\\n  --data-binary @${fileName} ${url}${o.path}`,
    };
  }
  const client = `import boto3\n\nclient = boto3.client("rekognition", endpoint_url="${url}", region_name="us-east-1")\n`;
  if (o.op === "CompareFaces") {
    return {
      python: `${client}response = client.compare_faces(\n    SourceImage={"Bytes": open("${fileName}", "rb").read()},\n    TargetImage={"Bytes": open("${targetName}", "rb").read()},\n)`,
      cli: `aws rekognition compare-faces --endpoint-url ${url} \\\n  --source-image-bytes fileb://${fileName} --target-image-bytes fileb://${targetName}`,
    };
  }
  return {
    python: `${client}with open("${fileName}", "rb") as f:\n    response = client.${snake(o.op)}(Image={"Bytes": f.read()}${o.py || ""})`,
    cli: `aws rekognition ${kebab(o.op)} --endpoint-url ${url} \\\n  --image-bytes fileb://${fileName}${o.cli ? " " + o.cli : ""}`,
  };
}

function faceDetail(f) {
  const lines = [`confidence ${pct(f.Confidence)}`];
  if (f.AgeRange) lines.push(`age ${f.AgeRange.Low}–${f.AgeRange.High}`);
  if (f.Gender) lines.push(`gender ${f.Gender.Value} (${pct(f.Gender.Confidence)})`);
  if (f.Emotions && f.Emotions.length) {
    const top = [...f.Emotions].sort((a, b) => b.Confidence - a.Confidence)[0];
    lines.push(`emotion ${top.Type} (${pct(top.Confidence)})`);
  }
  for (const k of ["Smile", "Eyeglasses", "Sunglasses", "Beard", "Mustache", "EyesOpen", "MouthOpen", "FaceOccluded"]) {
    if (f[k]) lines.push(`${k} ${f[k].Value ? "yes" : "no"} (${pct(f[k].Confidence)})`);
  }
  if (f.Pose) lines.push(`pose yaw ${f.Pose.Yaw.toFixed(0)}° pitch ${f.Pose.Pitch.toFixed(0)}° roll ${f.Pose.Roll.toFixed(0)}°`);
  return lines.join("\n");
}

// What to draw for one operation's answer: boxes (ratios of the image) and points.
export function shapes(id, data) {
  const out = [];
  const box = (kind, label, b, detail) => b && out.push({ kind, label, box: b, detail: detail || "" });
  if (id === "faces") {
    (data.FaceDetails || []).forEach((f, i) => {
      box("face", `Face ${i + 1}`, f.BoundingBox, faceDetail(f));
      for (const l of f.Landmarks || []) out.push({ kind: "landmark", label: l.Type, point: { X: l.X, Y: l.Y } });
    });
  } else if (id === "compare") {
    box("compare", "Compared face", data.SourceImageFace && data.SourceImageFace.BoundingBox, `confidence ${pct(data.SourceImageFace && data.SourceImageFace.Confidence)}`);
  } else if (id === "labels") {
    for (const l of data.Labels || []) for (const inst of l.Instances || []) box("label", l.Name, inst.BoundingBox, `confidence ${pct(inst.Confidence)}`);
  } else if (id === "text") {
    for (const t of data.TextDetections || []) if (t.Type === "LINE") box("text", t.DetectedText, t.Geometry.BoundingBox, `confidence ${pct(t.Confidence)}`);
  } else if (id === "plates") {
    for (const p of data.Plates || []) box("plate", p.Text, p.BoundingBox, `read ${p.Reading || ""}\nconfidence ${pct(p.Confidence)}`);
  } else if (id === "ppe") {
    (data.Persons || []).forEach((p, i) => {
      box("person", `Person ${i + 1}`, p.BoundingBox, `confidence ${pct(p.Confidence)}`);
      for (const part of p.BodyParts || []) for (const e of part.EquipmentDetections || []) {
        box("ppe", e.Type, e.BoundingBox, `on ${part.Name}\ncovers it: ${e.CoversBodyPart && e.CoversBodyPart.Value ? "yes" : "no"}\nconfidence ${pct(e.Confidence)}`);
      }
    });
  }
  return out;
}

// Plain-words summary rows for one answer (also what a keyboard or screen-reader user reads).
function summary(id, data, notice) {
  const rows = [];
  if (id === "faces") (data.FaceDetails || []).forEach((f, i) => rows.push([`Face ${i + 1}`, faceDetail(f).replace(/\n/g, "; ")]));
  if (id === "compare") {
    for (const m of data.FaceMatches || []) rows.push(["Match", `similarity ${pct(m.Similarity)}`]);
    rows.push(["Faces without a match", String((data.UnmatchedFaces || []).length)]);
  }
  if (id === "labels") for (const l of data.Labels || []) rows.push([l.Name, pct(l.Confidence) + (l.Instances && l.Instances.length ? ` · ${l.Instances.length} boxed` : "")]);
  if (id === "text") for (const t of data.TextDetections || []) if (t.Type === "LINE") rows.push([t.DetectedText, pct(t.Confidence)]);
  if (id === "plates") for (const p of data.Plates || []) rows.push([p.Text, pct(p.Confidence)]);
  if (id === "moderation") {
    for (const l of data.ModerationLabels || []) rows.push([l.Name, pct(l.Confidence)]);
    if (!rows.length) rows.push(["Nothing to moderate", ""]);
  }
  if (id === "ppe") (data.Persons || []).forEach((p, i) => rows.push([`Person ${i + 1}`, (p.BodyParts || []).map((b) => `${b.Name}: ${(b.EquipmentDetections || []).map((e) => e.Type).join(", ") || "none"}`).join("; ")]));
  if (!rows.length) rows.push(["Nothing found", ""]);
  return h("div", {},
    notice ? h("p", { class: "notice" }, notice) : null,
    h("table", {}, h("tbody", {}, rows.map(([a, b]) => h("tr", {}, h("th", { scope: "row" }, a), h("td", {}, b))))));
}

// The photo on the canvas with each shape drawn over it (also the streams' live view).
export function draw(canvas, image, drawn) {
  const ctx = canvas.getContext("2d");
  canvas.width = image.naturalWidth;
  canvas.height = image.naturalHeight;
  ctx.drawImage(image, 0, 0);
  const W = canvas.width, lw = Math.max(2, Math.round(W / 400));
  ctx.font = `${Math.max(12, Math.round(W / 60))}px system-ui, sans-serif`;
  for (const s of drawn) {
    ctx.strokeStyle = ctx.fillStyle = COLORS[s.kind] || "#fff";
    if (s.point) {
      ctx.beginPath();
      ctx.arc(s.px[0], s.px[1], lw * 1.2, 0, 2 * Math.PI);
      ctx.fill();
      continue;
    }
    const [x, y, w, hgt] = s.px;
    ctx.lineWidth = lw;
    ctx.strokeRect(x, y, w, hgt);
    const tw = ctx.measureText(s.label).width + 8, th = parseInt(ctx.font, 10) + 6;
    ctx.fillRect(x - lw / 2, Math.max(0, y - th), tw, th);
    ctx.fillStyle = "#000";
    ctx.fillText(s.label, x + 4 - lw / 2, Math.max(0, y - th) + th - 6);
  }
}

// Box in pixels of the photo, as drawn.
export function toPixels(s, W, H) {
  if (s.point) return { ...s, px: [s.point.X * W, s.point.Y * H] };
  const b = s.box;
  return { ...s, px: [b.Left * W, b.Top * H, b.Width * W, b.Height * H] };
}

export async function render(main) {
  let photo = null, target = null;
  const checks = OPS.map((o) => h("input", { type: "checkbox", name: "op", value: o.id, checked: Boolean(o.checked) }));
  const targetZone = dropZone({ label: "Photo to compare with", onFiles: ([f]) => { target = f; targetName.textContent = f.name; } });
  const targetName = h("span", { class: "muted" });
  const compareBox = h("div", { hidden: true }, targetZone, targetName);
  checks[1].addEventListener("change", () => { compareBox.hidden = !checks[1].checked; });
  const photoName = h("span", { class: "muted", id: "photo-name" });
  const zone = dropZone({ label: "Photo", id: "photo-input", onFiles: ([f]) => { photo = f; photoName.textContent = `${f.name} (${Math.round(f.size / 1024)} KiB)`; run(); } });
  const runButton = h("button", { id: "run", onclick: () => run() }, "Run");
  const canvas = h("canvas", { id: "stage-canvas", role: "img", "aria-label": "The photo with what oculi found drawn on it" });
  const tip = h("div", { class: "tip", hidden: true });
  const stage = h("div", { class: "stage" }, canvas, tip);
  const results = h("div", { id: "results" });
  const status = h("p", { class: "muted", role: "status", id: "try-status" }, "Pick or drop a photo.");

  main.append(
    h("h1", {}, "Try it"),
    h("div", { class: "panel" },
      h("div", { class: "row" },
        h("div", { class: "col" }, zone, photoName),
        h("fieldset", { class: "col" }, h("legend", {}, "What to look for"),
          OPS.map((o, i) => h("label", {}, checks[i], o.title)), compareBox, h("div", {}, runButton)))),
    status,
    h("div", { class: "row" }, h("div", { class: "col" }, stage), h("div", { class: "col" }, results)));

  let drawn = [];
  canvas.addEventListener("mousemove", (e) => {
    const scale = canvas.width / canvas.clientWidth;
    const x = e.offsetX * scale, y = e.offsetY * scale;
    const hit = drawn.filter((s) => !s.point && x >= s.px[0] && y >= s.px[1] && x <= s.px[0] + s.px[2] && y <= s.px[1] + s.px[3])
      .sort((a, b) => a.px[2] * a.px[3] - b.px[2] * b.px[3])[0];
    if (!hit) { tip.hidden = true; return; }
    tip.textContent = `${hit.label}\n${hit.detail}`;
    tip.style.left = `${e.offsetX + 14}px`;
    tip.style.top = `${e.offsetY + 14}px`;
    tip.hidden = false;
  });
  canvas.addEventListener("mouseleave", () => { tip.hidden = true; });

  async function run() {
    await guarded(async () => {
      if (!photo) throw new ApiError("NoPhoto", "Pick a photo first.", 0);
      const chosen = OPS.filter((o, i) => checks[i].checked);
      if (!chosen.length) throw new ApiError("NothingChosen", "Choose at least one thing to look for.", 0);
      if (photo.size > MAX_BYTES) throw new ApiError("ImageTooLargeException", `${photo.name} is ${(photo.size / 1048576).toFixed(1)} MB; the API takes at most 5 MB.`, 0);
      const bytes = await fileBytes(photo);
      const image = new Image();
      const url = URL.createObjectURL(photo);
      await new Promise((ok, bad) => { image.onload = ok; image.onerror = () => bad(new ApiError("InvalidImageFormatException", `${photo.name} is not an image this browser can show.`, 0)); image.src = url; });
      canvas.dataset.state = "running";
      results.replaceChildren();
      drawn = [];
      draw(canvas, image, drawn);
      const answers = {};
      const tabs = h("div", { class: "tabs", role: "tablist" });
      const panes = [];
      for (const o of chosen) {
        status.textContent = `Running ${o.title.toLowerCase()}…`;
        let data, notice = null;
        try {
          if (o.path) {
            data = await (await native(o.path, {}, bytes, photo.type || "image/jpeg")).json();
          } else if (o.op === "CompareFaces") {
            if (!target) throw new ApiError("NoPhoto", "Pick the photo to compare with.", 0);
            ({ data, notice } = await rekognition(o.op, { SourceImage: { Bytes: base64(bytes) }, TargetImage: { Bytes: base64(await fileBytes(target)) } }));
          } else {
            ({ data, notice } = await rekognition(o.op, { Image: { Bytes: base64(bytes) }, ...(o.extra || {}) }));
          }
        } catch (e) {
          data = null;
          answers[o.id] = { error: e };
        }
        if (data) {
          answers[o.id] = data;
          drawn.push(...shapes(o.id, data).map((s) => ({ ...toPixels(s, image.naturalWidth, image.naturalHeight), op: o.id })));
        }
        const code = snippets(o, photo.name, target ? target.name : "other.jpg");
        const err = answers[o.id].error;
        const pane = h("div", { role: "tabpanel", id: `pane-${o.id}`, dataset: { op: o.id } },
          err ? h("p", { class: "bad" }, `${o.title} failed: ${explain(err).title} (${explain(err).detail})`) : summary(o.id, data, notice),
          h("h2", {}, "Raw JSON"), h("pre", { class: "json", tabindex: "0" }, err ? "" : JSON.stringify(data, null, 2)),
          h("h2", {}, "The same call with boto3"), h("pre", { class: "code", tabindex: "0" }, code.python),
          h("h2", {}, "With the AWS CLI"), h("pre", { class: "code", tabindex: "0" }, code.cli));
        panes.push(pane);
        const tab = h("button", { role: "tab", "aria-controls": pane.id, "aria-selected": "false" }, o.title);
        tab.addEventListener("click", () => select(tab, pane));
        tabs.append(tab);
      }
      function select(tab, pane) {
        for (const t of tabs.children) t.setAttribute("aria-selected", String(t === tab));
        for (const p of panes) p.hidden = p !== pane;
      }
      results.replaceChildren(tabs, ...panes);
      select(tabs.children[0], panes[0]);
      draw(canvas, image, drawn);
      URL.revokeObjectURL(url);
      canvas.dataset.boxes = JSON.stringify(drawn.map(({ kind, label, box, point, px, op }) => ({ kind, label, box, point, px, op })));
      canvas.dataset.width = image.naturalWidth;
      canvas.dataset.height = image.naturalHeight;
      canvas.dataset.state = "done";
      const boxes = drawn.filter((s) => !s.point).length;
      status.textContent = `Done: ${boxes} box${boxes === 1 ? "" : "es"} drawn. Hover over one for details.`;
    });
  }
  runButton.focus();
}
