// Models and health: the catalogue with licences, what is installed and loaded, queue depth.
import { consoleJson } from "./api.js";
import { h } from "./ui.js";

export async function render(main) {
  const [health, models] = await Promise.all([consoleJson("health"), consoleJson("models")]);
  const facts = [
    ["Version", health.Version],
    ["Requests in progress", `${health.InProgress} of ${health.Capacity} places (${health.Workers} workers)`],
    ["Native workers (redaction, plates)", String(health.NativeWorkers)],
    ["Video jobs", `${health.VideoJobs.Running} running, ${health.VideoJobs.Queued} queued`],
    ["Stream processors running", String(health.StreamProcessorsRunning)],
    ["Identity floor", `${health.MatchFloor}%`],
    ["Access keys", health.Auth === "keys" ? "required" : "none (this machine only)"],
    ["Indexed photos kept (face thumbnails)", health.KeepImages ? "yes" : "no"],
    ["Models loaded", health.ModelsLoaded],
  ];
  const loaded = health.Pipelines.filter((p) => p.Loaded).length;
  main.append(h("h1", {}, "Models and health"),
    h("div", { class: "panel" }, h("h2", {}, "Server"),
      h("table", { id: "health-table" }, h("tbody", {}, facts.map(([k, v]) => h("tr", {}, h("th", { scope: "row" }, k), h("td", {}, v)))))),
    h("div", { class: "panel" }, h("h2", {}, `What is loaded (${loaded} of ${health.Pipelines.length})`),
      h("p", { class: "muted" }, health.ModelsLoaded === "on first use"
        ? "This server loads each part on the first request that needs it (--lazy-models): the first such request waits for the load."
        : "This server loaded every part before it took its first request."),
      h("table", { id: "pipelines-table" },
        h("thead", {}, h("tr", {}, ["Part", "Models", "State"].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, health.Pipelines.map((p) => h("tr", { dataset: { pipeline: p.Title, loaded: String(p.Loaded) } },
          h("td", {}, p.Title),
          h("td", {}, p.Models.join(", ")),
          h("td", {}, p.Loaded ? h("span", { class: "badge good" }, "loaded") : h("span", { class: "badge" }, "on first use"))))))),
    h("div", { class: "panel" }, h("h2", {}, `Model catalogue (${models.Models.length})`),
      h("p", { class: "muted" }, "Every weight file comes from a pinned registry package, checked by sha256."),
      h("table", { id: "models-table" },
        h("thead", {}, h("tr", {}, ["Model", "Task", "Licence", "From", "Installed"].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, models.Models.map((m) => h("tr", {},
          h("td", {}, m.name, m.opt_in ? h("span", { class: "badge bad" }, " opt-in") : ""),
          h("td", {}, m.task),
          h("td", {}, m.licence),
          h("td", {}, h("code", {}, m.source)),
          h("td", {}, m.installed ? h("span", { class: "badge good" }, "installed") : h("span", { class: "badge bad" }, "not installed"))))))));
}
