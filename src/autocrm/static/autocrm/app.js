// AutoCRM page behaviour: keyboard navigation of the header search, and session expiry
// handling for htmx requests. Loaded with `defer`; no inline scripts (CSP).
(function () {
  "use strict";

  function options(box) {
    return Array.prototype.slice.call(box.querySelectorAll("a[role=option]"));
  }

  function move(box, step) {
    var items = options(box);
    if (!items.length) return;
    var current = items.findIndex(function (el) { return el.classList.contains("active-option"); });
    if (current >= 0) items[current].classList.remove("active-option");
    var next = (current + step + items.length) % items.length;
    items[next].classList.add("active-option");
    items[next].scrollIntoView({ block: "nearest" });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var input = document.getElementById("global-search");
    var box = document.getElementById("search-results");
    if (!input || !box) return;
    input.addEventListener("keydown", function (event) {
      if (event.key === "ArrowDown") { event.preventDefault(); move(box, 1); }
      else if (event.key === "ArrowUp") { event.preventDefault(); move(box, -1); }
      else if (event.key === "Escape") { box.innerHTML = ""; }
      else if (event.key === "Enter") {
        var chosen = box.querySelector("a.active-option") || (options(box).length === 1 ? options(box)[0] : null);
        if (chosen) { event.preventDefault(); window.location.href = chosen.href; }
      }
    });
    document.addEventListener("click", function (event) {
      if (!box.contains(event.target) && event.target !== input) box.innerHTML = "";
    });
  });

  // A session that expired while the page was open: go to the sign-in page instead of
  // swapping it into a fragment.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var xhr = event.detail.xhr;
    if (xhr && xhr.responseURL && xhr.responseURL.indexOf("/login/") !== -1) {
      event.detail.shouldSwap = false;
      window.location.href = xhr.responseURL;
    }
  });
})();

// Inline forms and parts marked data-swap-errors (quick actions on the customer page, the job
// board) show a service's refusal in place: their 403, 409 and 422 answers are swapped in like
// a success.
(function () {
  "use strict";
  document.addEventListener("htmx:beforeSwap", function (event) {
    var xhr = event.detail.xhr;
    var config = event.detail.requestConfig;
    var elt = config && config.elt; // the element that sent the request (detail.elt is the target)
    if (!xhr || !elt || !elt.closest) return;
    var status = xhr.status;
    if ((status === 403 || status === 409 || status === 422) && elt.closest("[data-swap-errors]")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
})();
