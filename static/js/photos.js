// The photos page: uploads one file per request with per-file progress and an overall
// "n of m done", drag and drop, and the live status of photos still being processed.
// Without JavaScript the form posts all files at once and the page reloads.
(function () {
  "use strict";

  // --- Live status: poll while any photo is still being worked on. ---
  const grid = document.getElementById("photo-grid");
  const FINAL = new Set(["done", "failed"]);

  function pendingIds() {
    return [...grid.querySelectorAll("[data-photo-id]")]
      .filter((tile) => !FINAL.has(tile.dataset.status))
      .map((tile) => tile.dataset.photoId);
  }

  function render(tile, p) {
    tile.dataset.status = p.status;
    const cell = tile.querySelector(".status");
    const badge = document.createElement("span");
    badge.className = "badge " + p.status;
    badge.textContent = p.status_label;
    cell.replaceChildren(badge);
    if (p.error && !tile.querySelector(".error")) {
      const err = document.createElement("div");
      err.className = "error small";
      err.textContent = p.error;
      tile.querySelector(".photo-info").appendChild(err);
    }
    if (p.faces !== null) {
      tile.querySelector(".faces").textContent = p.faces + (p.faces === 1 ? " face" : " faces");
    }
    const outcomes = tile.querySelector(".outcomes");
    if (outcomes) {
      outcomes.replaceChildren(...(p.outcomes || []).map((line) => {
        const li = document.createElement("li");
        li.textContent = line.charAt(0).toUpperCase() + line.slice(1);
        return li;
      }));
    }
  }

  async function poll() {
    const ids = pendingIds();
    if (!ids.length) return;
    try {
      const resp = await fetch(grid.dataset.statusUrl + "?ids=" + ids.join(","), { credentials: "same-origin" });
      if (resp.ok) {
        const data = await resp.json();
        for (const p of data.photos) {
          const tile = grid.querySelector('[data-photo-id="' + p.id + '"]');
          if (tile) render(tile, p);
        }
      }
    } catch (e) { /* offline for a moment: try again later */ }
    setTimeout(poll, 2000);
  }
  if (grid) setTimeout(poll, 1000);

  // --- Uploads ---
  const form = document.getElementById("upload-form");
  if (!form) return;
  const input = document.getElementById("photo-files");
  const zone = document.getElementById("dropzone");
  const box = document.getElementById("upload-progress");
  const list = document.getElementById("upload-files");
  const total = document.getElementById("upload-total");
  const maxFiles = Number(form.dataset.maxFiles);
  const maxBytes = Number(form.dataset.maxBytes);
  let busy = false;

  function uploadOne(file, row) {
    // XMLHttpRequest, not fetch: only it reports upload progress.
    return new Promise((resolve) => {
      const data = new FormData();
      data.append("csrfmiddlewaretoken", form.querySelector("[name=csrfmiddlewaretoken]").value);
      data.append("purpose", form.querySelector("[name=purpose]").value);
      data.append("photos", file, file.name);
      const xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.addEventListener("progress", (e) => {
        if (e.lengthComputable) row.bar.value = Math.round((e.loaded / e.total) * 100);
      });
      xhr.addEventListener("load", () => {
        let body = {};
        try { body = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
        const ok = xhr.status < 400 && body.accepted > 0;
        row.bar.value = 100;
        row.note.textContent = ok ? "Uploaded: being checked for faces"
          : (body.errors && body.errors[0]) || "Refused (" + xhr.status + ")";
        row.note.className = "note " + (ok ? "ok" : "error");
        resolve(ok);
      });
      xhr.addEventListener("error", () => {
        row.note.textContent = "The server could not be reached; try again.";
        row.note.className = "note error";
        resolve(false);
      });
      xhr.send(data);
    });
  }

  async function uploadAll(files) {
    if (busy || !files.length) return;
    busy = true;
    list.replaceChildren();
    box.hidden = false;
    const rows = files.map((file) => {
      const li = document.createElement("li");
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = file.name;
      const bar = document.createElement("progress");
      bar.max = 100;
      bar.value = 0;
      bar.setAttribute("aria-label", "Upload of " + file.name);
      const note = document.createElement("span");
      note.className = "note muted";
      li.append(name, bar, note);
      list.appendChild(li);
      return { file, bar, note };
    });
    let done = 0, failed = 0;
    const say = () => {
      total.textContent = done + " of " + files.length + " done" + (failed ? " · " + failed + " refused" : "");
    };
    say();
    for (const row of rows) { // one at a time: the server checks each file as it arrives
      if (row.file.size > maxBytes) {
        row.note.textContent = "Too large: at most " + Math.round(maxBytes / 1e6) + " MB";
        row.note.className = "note error";
        failed += 1;
      } else if (!(await uploadOne(row.file, row))) {
        failed += 1;
      }
      done += 1;
      say();
    }
    busy = false;
    if (failed < files.length) setTimeout(() => location.reload(), 800);
  }

  function chosen(fileList) {
    const files = [...fileList].filter((f) => f.type.startsWith("image/") || !f.type);
    if (files.length > maxFiles) {
      total.textContent = "At most " + maxFiles + " photos at a time: the first " + maxFiles + " are uploaded.";
    }
    return files.slice(0, maxFiles);
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    uploadAll(chosen(input.files));
  });
  ["dragenter", "dragover"].forEach((type) => zone.addEventListener(type, (event) => {
    event.preventDefault();
    zone.classList.add("is-over");
  }));
  ["dragleave", "drop"].forEach((type) => zone.addEventListener(type, () => zone.classList.remove("is-over")));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    uploadAll(chosen(event.dataTransfer.files));
  });
})();
