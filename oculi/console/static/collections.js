// Collections: create and delete, faces page by page, index by drag and drop, search by
// photo (Similarity against the identity floor), users and their faces.
import { consoleGet, consoleJson, rekognition } from "./api.js";
import { base64, dropZone, field, fileBytes, guarded, h, Pager, pct } from "./ui.js";

const PAGE = 25;
const ID_CHARS = /[^a-zA-Z0-9_.\-:]/g;

export async function render(main) {
  const list = h("ul", { class: "list", id: "collection-list" });
  const detail = h("div", { id: "collection-detail" }, h("p", { class: "muted" }, "Choose a collection, or create one."));
  const name = h("input", { type: "text", id: "new-collection", pattern: "[a-zA-Z0-9_.\\-]+", maxlength: "255", required: true });
  const create = h("form", {}, field("New collection id", name, "letters, digits, _ . -"), h("button", { type: "submit" }, "Create collection"));
  let floor = null;
  try { floor = (await consoleJson("health")).MatchFloor; } catch (e) { /* the notice header still tells */ }

  const pager = new Pager(async (token) => {
    const { data } = await rekognition("ListCollections", { MaxResults: 20, ...(token ? { NextToken: token } : {}) });
    list.replaceChildren(...data.CollectionIds.map((c) => h("li", {}, h("button", { class: "link", dataset: { open: c }, onclick: () => guarded(() => open(c)) }, c))));
    if (!data.CollectionIds.length) list.append(h("li", { class: "muted" }, "No collections yet."));
    return data.NextToken || null;
  });
  create.addEventListener("submit", (e) => {
    e.preventDefault();
    guarded(async () => {
      await rekognition("CreateCollection", { CollectionId: name.value.trim() });
      const id = name.value.trim();
      name.value = "";
      await pager.first();
      await open(id);
    });
  });

  main.append(h("h1", {}, "Collections"),
    h("div", { class: "row" },
      h("div", { class: "panel" }, h("h2", {}, "Collections"), list, pager.el, create),
      h("div", { class: "col" }, detail)));
  await pager.first();

  async function open(id) {
    let d = (await rekognition("DescribeCollection", { CollectionId: id })).data;
    const kept = await consoleJson("collection", { collection: id });
    const facesBody = h("tbody", {});
    const facesPager = new Pager(async (token) => {
      const { data } = await rekognition("ListFaces", { CollectionId: id, MaxResults: PAGE, ...(token ? { NextToken: token } : {}) });
      facesBody.replaceChildren(...data.Faces.map((f) => h("tr", {},
        kept.KeepImages ? h("td", {}, thumbnail(id, f)) : null,
        h("td", {}, h("code", {}, f.FaceId)), h("td", {}, f.ExternalImageId || ""), h("td", {}, f.UserId || ""), h("td", { class: "num" }, pct(f.Confidence)))));
      if (!data.Faces.length) facesBody.append(h("tr", {}, h("td", { colspan: kept.KeepImages ? "5" : "4", class: "muted" }, "No faces yet: index some photos.")));
      return data.NextToken || null;
    });
    const usersBody = h("tbody", {});
    const userFaces = h("div", { id: "user-faces" });
    const usersPager = new Pager(async (token) => {
      const { data } = await rekognition("ListUsers", { CollectionId: id, MaxResults: PAGE, ...(token ? { NextToken: token } : {}) });
      usersBody.replaceChildren(...data.Users.map((u) => h("tr", {},
        h("td", {}, h("button", { class: "link", onclick: () => guarded(() => showUser(u.UserId)) }, u.UserId)), h("td", {}, u.UserStatus || ""))));
      if (!data.Users.length) usersBody.append(h("tr", {}, h("td", { colspan: "2", class: "muted" }, "No users in this collection.")));
      return data.NextToken || null;
    });
    async function showUser(userId) {
      const { data } = await rekognition("ListFaces", { CollectionId: id, UserId: userId, MaxResults: PAGE });
      userFaces.dataset.user = userId;
      userFaces.replaceChildren(h("h2", {}, `Faces of ${userId}`),
        h("ul", {}, data.Faces.map((f) => h("li", {}, h("code", {}, f.FaceId), " ", f.ExternalImageId || ""))),
        data.NextToken ? h("p", { class: "muted" }, `More than ${PAGE}: the first ${PAGE} are shown.`) : "");
    }

    // Index photos
    const progress = h("progress", { max: "1", value: "0", id: "index-progress", "aria-label": "Indexing progress" });
    const indexLog = h("ul", { id: "index-log" });
    const indexZone = dropZone({ label: "Photos to index", multiple: true, onFiles: (files) => guarded(() => indexAll(files)) });
    async function indexAll(files) {
      progress.max = files.length;
      progress.value = 0;
      indexLog.replaceChildren();
      let faces = 0;
      for (const f of files) {
        let line;
        try {
          const { data } = await rekognition("IndexFaces", {
            CollectionId: id, Image: { Bytes: base64(await fileBytes(f)) },
            ExternalImageId: f.name.replace(ID_CHARS, "_").slice(0, 255), MaxFaces: 100, DetectionAttributes: [],
          });
          faces += data.FaceRecords.length;
          line = h("li", {}, `${f.name}: ${data.FaceRecords.length} face${data.FaceRecords.length === 1 ? "" : "s"} indexed` + (data.UnindexedFaces.length ? `, ${data.UnindexedFaces.length} too small or unclear` : ""));
        } catch (e) {
          line = h("li", { class: "bad" }, `${f.name}: not indexed (${e.code}: ${e.message})`);
        }
        indexLog.append(line);
        progress.value += 1;
      }
      indexLog.dataset.state = "done";
      indexLog.dataset.faces = String(faces);
      d = (await rekognition("DescribeCollection", { CollectionId: id })).data;
      describe(d);
      await facesPager.first();
    }

    // Search by photo
    const threshold = h("input", { type: "number", min: "0", max: "100", step: "1", value: String(floor ?? 80), id: "search-threshold" });
    const searchOut = h("div", { id: "search-results" });
    const searchZone = dropZone({ label: "Photo to search with", onFiles: ([f]) => guarded(() => search(f)) });
    async function search(f) {
      searchOut.replaceChildren(h("p", { class: "muted" }, "Searching…"));
      const { data, notice } = await rekognition("SearchFacesByImage", {
        CollectionId: id, Image: { Bytes: base64(await fileBytes(f)) }, MaxFaces: 10, FaceMatchThreshold: Number(threshold.value),
      });
      const used = notice ? floor ?? Number(threshold.value) : Number(threshold.value);
      searchOut.replaceChildren(
        notice ? h("p", { class: "notice", id: "search-notice" }, notice) : "",
        h("p", {}, `The largest face in the photo was searched (confidence ${pct(data.SearchedFaceConfidence)}).`),
        data.FaceMatches.length
          ? h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "Face"), h("th", {}, "External image id"), h("th", {}, "Similarity"))),
            h("tbody", {}, data.FaceMatches.map((m) => h("tr", { dataset: { similarity: String(m.Similarity) } },
              h("td", {}, h("code", { title: m.Face.FaceId }, m.Face.FaceId.slice(0, 8) + "…")), h("td", {}, m.Face.ExternalImageId || ""), h("td", {}, similarity(m.Similarity, floor))))))
          : h("p", {}, `No face in this collection is at least ${used}% similar.`),
        h("p", { class: "muted" }, meaning(floor, d.FaceCount)));
      searchOut.dataset.state = "done";
      searchOut.dataset.matches = String(data.FaceMatches.length);
    }

    // Delete, in two steps (no dialog)
    const del = h("button", { class: "danger", id: "delete-collection" }, "Delete collection…");
    del.addEventListener("click", () => guarded(async () => {
      if (del.dataset.armed !== "1") {
        del.dataset.armed = "1";
        del.textContent = `Really delete ${id} and its ${d.FaceCount} faces?`;
        return;
      }
      await rekognition("DeleteCollection", { CollectionId: id });
      detail.replaceChildren(h("p", {}, `Collection ${id} was deleted.`));
      await pager.first();
    }));

    const about = h("p", { id: "collection-about" });
    const describe = (c) => { about.textContent = `${c.FaceCount} faces, ${c.UserCount ?? 0} users, face model ${c.FaceModelVersion}, created ${new Date(c.CreationTimestamp * 1000).toLocaleString()}.`; };
    describe(d);
    const retention = h("p", { id: "collection-retention" },
      kept.RetentionDays === null ? "Faces are kept until they are deleted (no retention period: oculi retention sets one)." : `Faces are deleted ${kept.RetentionDays} days after they were indexed (set by oculi retention).`,
      " ", kept.KeepImages ? "The server keeps the photos it indexes (--keep-images), so each face shows its thumbnail." : "The server keeps no photos, so no face thumbnails are shown.");
    detail.replaceChildren(
      h("div", { class: "panel", dataset: { collection: id } }, h("h2", {}, `Collection ${id}`), about, retention, del),
      h("div", { class: "row" },
        h("div", { class: "panel col" }, h("h2", {}, "Index photos"), indexZone, progress, indexLog),
        h("div", { class: "panel col" }, h("h2", {}, "Search by photo"), field("Similarity threshold (%)", threshold, floor !== null ? `the identity floor is ${floor}%: lower thresholds are raised to it` : null), searchZone, searchOut)),
      h("div", { class: "panel" }, h("h2", {}, "Faces"),
        h("table", { id: "faces-table" }, h("thead", {}, h("tr", {}, kept.KeepImages ? h("th", {}, "Face") : null, h("th", {}, "Face id"), h("th", {}, "External image id"), h("th", {}, "User"), h("th", {}, "Confidence"))), facesBody),
        facesPager.el),
      h("div", { class: "panel" }, h("h2", {}, "Users"),
        h("table", { id: "users-table" }, h("thead", {}, h("tr", {}, h("th", {}, "User id"), h("th", {}, "Status"))), usersBody), usersPager.el, userFaces));
    await facesPager.first();
    await usersPager.first();
  }
}

function similarity(value, floor) {
  const fill = h("span", { class: "fill" });
  fill.style.width = `${Math.max(0, Math.min(100, value))}%`;
  const bar = h("span", { class: "bar", role: "img", "aria-label": `${value.toFixed(1)}% similar` }, fill);
  if (floor !== null) {
    const mark = h("span", { class: "floor", title: `identity floor ${floor}%` });
    mark.style.left = `${floor}%`;
    bar.append(mark);
  }
  const verdict = floor === null ? "" : value >= floor ? "at or above the identity floor" : "below the identity floor: not an identification";
  return h("span", { class: "sim" }, bar, h("span", {}, `${value.toFixed(1)}%`), h("span", { class: value >= (floor ?? 0) ? "ok" : "bad" }, verdict));
}

function meaning(floor, faces) {
  const f = floor === null ? "the operator's identity floor" : `the identity floor (${floor}%)`;
  return `Similarity says how alike two faces look; it is not a probability that they are the same person. oculi reports matches below ${f} only as scores, never as identifications. ` +
    `Every search compares the face with all ${faces} faces in this collection, so the more faces it holds, the more likely it is that a stranger resembles one of them: in a large collection, treat even a high score as a lead to check, not a proof.`;
}

// A face's thumbnail, fetched signed (an <img src> could not carry the signature).
function thumbnail(collection, face) {
  const img = h("img", { class: "thumb", alt: `Face ${face.ExternalImageId || face.FaceId}` });
  consoleGet("face-image", { collection, face: face.FaceId })
    .then((r) => r.blob())
    .then((b) => { img.src = URL.createObjectURL(b); img.dataset.state = "done"; })
    .catch(() => { img.alt = "thumbnail not available"; img.dataset.state = "failed"; });
  return img;
}
