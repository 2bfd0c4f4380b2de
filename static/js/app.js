// Every page: the collapsing top navigation on narrow screens.
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  document.addEventListener("DOMContentLoaded", () => {
    const bar = document.getElementById("topbar");
    const toggle = bar && bar.querySelector(".nav-toggle");
    if (!toggle) return;
    toggle.addEventListener("click", () => {
      const open = toggle.getAttribute("aria-expanded") !== "true";
      toggle.setAttribute("aria-expanded", String(open));
      bar.classList.toggle("is-open", open);
    });
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && bar.classList.contains("is-open")) {
        toggle.setAttribute("aria-expanded", "false");
        bar.classList.remove("is-open");
        toggle.focus();
      }
    });
  });
})();
