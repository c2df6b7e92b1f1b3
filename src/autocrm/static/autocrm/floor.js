// The technician's phone: running timers, and notes that save with their own button rather
// than on every change (the item's form saves itself when a rating or a photo is chosen).
(function () {
  "use strict";

  function pad(n) { return n < 10 ? "0" + n : String(n); }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-timer-start]").forEach(function (el) {
      var start = Date.parse(el.getAttribute("data-timer-start"));
      if (isNaN(start)) return;
      var s = Math.max(0, Math.floor((now - start) / 1000));
      el.textContent = pad(Math.floor(s / 3600)) + ":" + pad(Math.floor((s % 3600) / 60)) + ":" + pad(s % 60);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    tick();
    window.setInterval(tick, 1000);
  });
  document.addEventListener("htmx:afterSwap", tick);

  // Typing a note must not send the item's form (its hx-trigger is "change"): stop the
  // change event of [data-no-autosave] fields before it reaches the form.
  document.addEventListener("change", function (event) {
    var el = event.target;
    if (el && el.matches && el.matches("[data-no-autosave]")) event.stopPropagation();
  }, true);

  // While a photo uploads, show that something is happening.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var form = event.detail.elt;
    if (form && form.querySelector && form.querySelector("input[type=file]") && form.closest(".floor-item")) {
      form.closest(".floor-item").classList.add("opacity-50");
    }
  });
})();
