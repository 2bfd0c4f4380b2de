// Review queue: keyboard shortcuts, decisions without a page reload, bulk selection.
// Without JavaScript the same form posts and the page reloads: everything still works.
(function () {
  "use strict";
  const form = document.getElementById("queue-form");
  if (!form) return;
  const countEl = document.getElementById("queue-count");
  const selectAll = document.getElementById("select-all");
  const selectedCount = document.getElementById("selected-count");
  let current = 0;

  const items = () => [...form.querySelectorAll(".rv-item")];

  function focusItem(i, scroll) {
    const list = items();
    if (!list.length) return;
    current = Math.max(0, Math.min(i, list.length - 1));
    list.forEach((el, n) => el.classList.toggle("is-current", n === current));
    if (scroll !== false) list[current].scrollIntoView({ block: "nearest", behavior: "smooth" });
  }

  function refreshSelection() {
    const boxes = [...form.querySelectorAll('input[name="selected"]')];
    const n = boxes.filter((b) => b.checked).length;
    boxes.forEach((b) => b.closest(".rv-item").classList.toggle("is-selected", b.checked));
    if (selectedCount) selectedCount.textContent = n + " selected";
    if (selectAll) selectAll.checked = n > 0 && n === boxes.length;
  }

  function setCount(faces, proposals) {
    countEl.dataset.faces = String(faces);
    countEl.querySelector("strong").textContent = String(faces);
    const p = document.getElementById("queue-proposals");
    if (p && proposals !== undefined) p.textContent = String(proposals);
  }

  function undoButton(faces) {
    // Takes back the decision just made (the server checks it is this reviewer's latest).
    const btn = document.createElement("button");
    btn.type = "button";
    btn.className = "small";
    btn.textContent = "Undo";
    btn.addEventListener("click", async () => {
      btn.disabled = true;
      const data = new FormData();
      data.append("csrfmiddlewaretoken", form.querySelector("[name=csrfmiddlewaretoken]").value);
      faces.forEach((id) => data.append("face", id));
      const resp = await fetch(form.dataset.undoUrl, {
        method: "POST", body: data, credentials: "same-origin", headers: { Accept: "application/json" },
      }).catch(() => null);
      if (resp && resp.ok) return location.reload();
      const body = resp ? await resp.json().catch(() => ({})) : {};
      flash((body.errors && body.errors[0]) || "The decision could not be undone.", "error");
    });
    return btn;
  }

  function flash(text, kind, extra) {
    let box = document.querySelector(".messages");
    if (!box) {
      box = document.createElement("ul");
      box.className = "messages";
      document.querySelector("main").prepend(box);
    }
    const li = document.createElement("li");
    li.className = "msg msg-" + kind;
    li.textContent = text;
    if (extra) li.appendChild(extra);
    box.replaceChildren(li);
  }

  async function replaceItems(faceIds) {
    // A face still waiting (its first candidate was rejected): show its next candidate.
    const resp = await fetch(location.href, { credentials: "same-origin" });
    if (!resp.ok) return location.reload();
    const doc = new DOMParser().parseFromString(await resp.text(), "text/html");
    for (const id of faceIds) {
      const fresh = doc.getElementById("face-" + id);
      const old = document.getElementById("face-" + id);
      if (old && fresh) old.replaceWith(document.importNode(fresh, true));
      else if (old) old.remove();
    }
  }

  function removeItems(faceIds) {
    for (const id of faceIds) {
      const el = document.getElementById("face-" + id);
      if (el) el.remove();
    }
    setCount(Math.max(0, Number(countEl.dataset.faces) - faceIds.length));
    if (!items().length) {
      if (Number(countEl.dataset.faces) > 0) return location.reload(); // more on other pages
      form.hidden = true;
      document.getElementById("queue-empty").hidden = false;
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form, event.submitter);
    const busy = form.querySelectorAll("button");
    busy.forEach((b) => (b.disabled = true));
    try {
      const resp = await fetch(form.action, {
        method: "POST", body: data, credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      const body = await resp.json().catch(() => ({}));
      if (!resp.ok) {
        flash(body.error || "The decision could not be saved (" + resp.status + ").", "error");
        return;
      }
      const leaving = body.resolved_faces.map((id) => document.getElementById("face-" + id)).filter(Boolean);
      leaving.forEach((el) => el.classList.add("is-leaving"));
      await new Promise((r) => setTimeout(r, 180));
      removeItems(body.resolved_faces);
      if (body.pending_faces.length) await replaceItems(body.pending_faces);
      if (body.queue) setCount(body.queue.faces, body.queue.pending);
      let text = "Decided " + body.decided.length + " proposal(s) on " + body.faces.length + " face(s).";
      if (body.skipped.length) text += " " + body.skipped.length + " had already been decided by someone else.";
      flash(text, "success", body.faces.length ? undoButton(body.faces) : null);
      refreshSelection();
      focusItem(current);
    } catch (e) {
      flash("The server could not be reached; nothing was decided.", "error");
    } finally {
      busy.forEach((b) => (b.disabled = false));
    }
  });

  form.addEventListener("change", (event) => {
    if (event.target === selectAll) {
      form.querySelectorAll('input[name="selected"]').forEach((b) => (b.checked = selectAll.checked));
    }
    refreshSelection();
  });

  form.addEventListener("click", (event) => {
    const btn = event.target.closest(".rv-show-photo");
    if (btn) {
      togglePhoto(btn.closest(".rv-item"));
      return;
    }
    const item = event.target.closest(".rv-item");
    if (item) focusItem(items().indexOf(item), false);
  });

  function togglePhoto(item) {
    const preview = item.querySelector(".rv-photo-preview");
    if (!preview.firstChild) {
      const btn = item.querySelector(".rv-show-photo");
      const frame = document.createElement("div");
      frame.className = "rv-preview-frame";
      const img = document.createElement("img");
      img.src = btn.dataset.src;
      img.alt = "The photo the face was found in, the face outlined";
      frame.appendChild(img);
      // Outline the face in question: its box, in the photo's own pixel coordinates.
      const [x, y, w, h] = (btn.dataset.box || "").split(",").map(Number);
      const [pw, ph] = (btn.dataset.size || "").split(",").map(Number);
      if (pw && ph && w && h) {
        const NS = "http://www.w3.org/2000/svg";
        const svg = document.createElementNS(NS, "svg");
        svg.setAttribute("viewBox", "0 0 " + pw + " " + ph);
        svg.setAttribute("preserveAspectRatio", "none");
        svg.setAttribute("aria-hidden", "true");
        const rect = document.createElementNS(NS, "rect");
        rect.setAttribute("x", x); rect.setAttribute("y", y);
        rect.setAttribute("width", w); rect.setAttribute("height", h);
        svg.appendChild(rect);
        frame.appendChild(svg);
      }
      preview.appendChild(frame);
    }
    preview.hidden = !preview.hidden;
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const typing = event.target.closest("input, textarea, select");
    if (typing) {
      if (event.key === "Escape") event.target.blur();
      return;
    }
    const list = items();
    const item = list[current];
    switch (event.key) {
      case "j": focusItem(current + 1); break;
      case "k": focusItem(current - 1); break;
      case "c": case "r": case "u":
        if (item) item.querySelector('button[data-key="' + event.key + '"]').click();
        break;
      case "a":
        if (item) { event.preventDefault(); item.querySelector(".rv-assign input").focus(); }
        break;
      case "x":
        if (item) {
          const box = item.querySelector('input[name="selected"]');
          box.checked = !box.checked;
          refreshSelection();
        }
        break;
      case "p": if (item) togglePhoto(item); break;
      default: return;
    }
  });

  // Enter in an assign field assigns that face (not the first button of the form).
  form.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || !event.target.matches(".rv-person")) return;
    event.preventDefault();
    const scope = event.target.closest(".rv-assign, .rv-bulk-actions");
    const btn = scope.querySelector('button[value^="assign"]');
    if (btn && event.target.value) btn.click();
  });

  focusItem(0, false);
  refreshSelection();
})();
