// Redaction: upload a photo, get it back with faces (and plates) blurred, download it.
import { native } from "./api.js";
import { dropZone, field, fileBytes, guarded, h } from "./ui.js";

export async function render(main) {
  const mode = h("select", {}, ["blur", "pixelate", "fill"].map((m) => h("option", { value: m }, m)));
  const plates = h("input", { type: "checkbox", id: "redact-plates" });
  const out = h("div", { id: "redaction-result" });
  let last = null;
  const zone = dropZone({ label: "Photo to redact", onFiles: ([f]) => guarded(() => redact(f)) });
  async function redact(file) {
    out.replaceChildren(h("p", { class: "muted", role: "status" }, `Redacting ${file.name}…`));
    const query = { mode: mode.value, ...(plates.checked ? { plates: "1" } : {}) };
    const response = await native("/oculi/redact", query, await fileBytes(file), file.type || "image/jpeg");
    const blob = await response.blob();
    if (last) URL.revokeObjectURL(last);
    last = URL.createObjectURL(blob);
    const name = file.name.replace(/(\.[^.]*)?$/, "-redacted$1");
    const notice = response.headers.get("x-oculi-notice");
    out.replaceChildren(
      notice ? h("p", { class: "notice" }, notice) : "",
      h("p", {}, h("a", { class: "button", href: last, download: name, id: "redaction-download" }, `Download ${name}`)),
      h("img", { class: "result", src: last, alt: `${file.name} with faces ${plates.checked ? "and plates " : ""}redacted (${mode.value})`, id: "redaction-image" }));
    out.dataset.state = "done";
  }
  main.append(h("h1", {}, "Redaction"),
    h("div", { class: "panel" },
      h("p", {}, "Every face oculi finds (with both of its face detectors) is covered; the photo never leaves this server."),
      h("div", { class: "row" }, field("How to cover faces", mode), h("label", {}, plates, "Also cover licence plates")),
      zone),
    out);
}
