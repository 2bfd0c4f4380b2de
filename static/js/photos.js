// Live status of the photo list: poll the JSON endpoint while any photo is still being worked on.
(function () {
  "use strict";
  const table = document.getElementById("photo-table");
  if (!table) return;
  const url = table.dataset.statusUrl;
  const FINAL = new Set(["done", "failed"]);

  function pendingIds() {
    return [...table.querySelectorAll("tr[data-photo-id]")]
      .filter((row) => !FINAL.has(row.dataset.status))
      .map((row) => row.dataset.photoId);
  }

  function render(row, p) {
    row.dataset.status = p.status;
    const cell = row.querySelector(".status");
    cell.textContent = "";
    const badge = document.createElement("span");
    badge.className = "badge " + p.status;
    badge.textContent = p.status_label;
    cell.appendChild(badge);
    if (p.error) {
      const err = document.createElement("div");
      err.className = "error small";
      err.textContent = p.error;
      cell.appendChild(err);
    }
    row.querySelector(".faces").textContent = p.faces === null ? "" : String(p.faces);
  }

  async function poll() {
    const ids = pendingIds();
    if (!ids.length) return;
    try {
      const resp = await fetch(url + "?ids=" + ids.join(","), { credentials: "same-origin" });
      if (resp.ok) {
        const data = await resp.json();
        for (const p of data.photos) {
          const row = table.querySelector('tr[data-photo-id="' + p.id + '"]');
          if (row) render(row, p);
        }
      }
    } catch (e) { /* offline for a moment: try again later */ }
    setTimeout(poll, 2000);
  }
  setTimeout(poll, 1000);
})();
