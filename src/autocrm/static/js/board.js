// Job board behaviour (no inline scripts: CSP). The "Move to…" menu on every card works
// without this file; here: drag and drop of cards between columns (posting the same
// endpoint), pausing the 30 s refresh while someone is moving a card, showing a refused
// move in place, and keeping the keyboard focus on the card that was moved.
(function () {
  "use strict";

  var dragged = null;
  var focusCard = null;

  function board() { return document.getElementById("board"); }

  function columnOf(node) {
    return node && node.closest ? node.closest(".board-column[data-stage-id]") : null;
  }

  function clearTargets() {
    var marked = document.querySelectorAll(".board-drop-target");
    for (var i = 0; i < marked.length; i++) marked[i].classList.remove("board-drop-target");
  }

  function busy() {
    var b = board();
    return dragged !== null || (b !== null && b.querySelector("details[open]") !== null);
  }

  // --- drag and drop ----------------------------------------------------------------------

  document.addEventListener("dragstart", function (event) {
    var card = event.target.closest ? event.target.closest(".board-card[draggable=true]") : null;
    if (!card) return;
    dragged = card;
    card.classList.add("board-card-dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.getAttribute("data-card-id"));
  });

  document.addEventListener("dragend", function () {
    if (dragged) dragged.classList.remove("board-card-dragging");
    dragged = null;
    clearTargets();
  });

  document.addEventListener("dragover", function (event) {
    if (!dragged) return;
    var column = columnOf(event.target);
    if (!column) return;
    event.preventDefault(); // allows the drop
    event.dataTransfer.dropEffect = "move";
    if (!column.classList.contains("board-drop-target")) {
      clearTargets();
      column.classList.add("board-drop-target");
    }
  });

  document.addEventListener("dragleave", function (event) {
    var column = columnOf(event.target);
    if (column && !column.contains(event.relatedTarget)) column.classList.remove("board-drop-target");
  });

  document.addEventListener("drop", function (event) {
    var column = columnOf(event.target);
    var card = dragged;
    if (!column || !card) return;
    event.preventDefault();
    clearTargets();
    var stage = column.getAttribute("data-stage-id");
    if (stage === card.getAttribute("data-card-stage")) return; // dropped where it was
    focusCard = card.getAttribute("data-card-id");
    window.htmx.ajax("POST", card.getAttribute("data-move-url"), {
      source: card,
      target: "#board",
      swap: "outerHTML",
      values: { stage: stage, version: card.getAttribute("data-version") }
    });
  });

  // --- refresh, refusals and focus ----------------------------------------------------------

  document.addEventListener("htmx:beforeRequest", function (event) {
    if (!event.detail.elt || event.detail.elt.id !== "board") return;
    // The 30 s refresh waits while a menu is open or a card is being dragged ...
    if (busy()) { event.preventDefault(); return; }
    // ... and keeps the keyboard on the card being worked on.
    var active = document.activeElement;
    var card = active && active.closest ? active.closest("[data-card-id]") : null;
    focusCard = card ? card.getAttribute("data-card-id") : null;
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.classList && form.classList.contains("board-move-list")) {
      var card = form.closest("[data-card-id]");
      focusCard = card ? card.getAttribute("data-card-id") : null;
    }
  }, true);

  document.addEventListener("htmx:beforeSwap", function (event) {
    // A refused move (stale version, closed order, not allowed) answers with the board as it
    // is now and the reason on top: show it.
    var xhr = event.detail.xhr;
    var target = event.detail.target;
    if (!xhr || !target || target.id !== "board") return;
    if ((xhr.status === 403 || xhr.status === 409 || xhr.status === 422) &&
        xhr.responseText.indexOf('id="board"') !== -1) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  document.addEventListener("htmx:afterSettle", function () {
    var b = board();
    if (!b || !focusCard) return;
    var card = b.querySelector('[data-card-id="' + focusCard + '"]');
    focusCard = null;
    if (!card) return;
    if (b.getAttribute("data-moved") === card.getAttribute("data-card-id")) {
      card.classList.add("board-card-moved");
      card.scrollIntoView({ block: "nearest", inline: "nearest" });
    }
    var link = card.querySelector("a");
    if (link) link.focus({ preventScroll: true });
  });

  // --- store picker -------------------------------------------------------------------------

  document.addEventListener("change", function (event) {
    var select = event.target;
    if (select.matches && select.matches("select[data-autosubmit]") && select.form) select.form.submit();
  });
})();
