// Models and health: the catalogue with licences, what is installed and loaded, queue depth.
import { consoleJson } from "./api.js";
import { h } from "./ui.js";

export async function render(main) {
  const [health, models] = await Promise.all([consoleJson("health"), consoleJson("models")]);
  const facts = [
    ["Version", health.Version],
    ["Requests in progress", `${health.InProgress} of ${health.Capacity} places (${health.Workers} workers)`],
    ["Native workers (redaction, plates)", String(health.NativeWorkers)],
    ["Identity floor", `${health.MatchFloor}%`],
    ["Access keys", health.Auth === "keys" ? "required" : "none (this machine only)"],
    ["Face crops kept", health.KeepImages ? "yes" : "no"],
    ["Models loaded", health.ModelsLoaded],
  ];
  main.append(h("h1", {}, "Models and health"),
    h("div", { class: "panel" }, h("h2", {}, "Server"),
      h("table", { id: "health-table" }, h("tbody", {}, facts.map(([k, v]) => h("tr", {}, h("th", { scope: "row" }, k), h("td", {}, v)))))),
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
