// Job board behaviour (no inline scripts: CSP): the "Move to…" menu of a card (without this
// file its link opens the same choices as a page), drag and drop of cards between columns
// (posting the same endpoint), pausing the 30 s refresh while someone is moving a card, and
// keeping the keyboard focus on the card that was moved. A refused move answers with the
// board as it is now and the reason on top: app.js swaps it in (the board has
// data-swap-errors).
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
    return dragged !== null || (b !== null && b.querySelector(".board-move-list:not([hidden])") !== null);
  }

  function post(card, stage) {
    focusCard = card.getAttribute("data-card-id");
    window.htmx.ajax("POST", card.getAttribute("data-move-url"), {
      source: card,
      target: "#board",
      swap: "outerHTML",
      values: { stage: stage, version: card.getAttribute("data-version") }
    });
  }

  // --- the "Move to…" menu ------------------------------------------------------------------

  function closeMenu(opener) {
    var list = opener.nextElementSibling;
    list.hidden = true;
    opener.setAttribute("aria-expanded", "false");
  }

  function openMenu(opener) {
    var card = opener.closest("[data-card-id]");
    var list = opener.nextElementSibling;
    var options = document.getElementById("board-move-options");
    if (!card || !list || !options) return;
    var open = document.querySelectorAll(".board-move-open[aria-expanded=true]");
    for (var i = 0; i < open.length; i++) closeMenu(open[i]);
    if (!list.firstChild) {
      list.appendChild(options.content.cloneNode(true));
      var here = list.querySelector('[data-move-stage="' + card.getAttribute("data-card-stage") + '"]');
      if (here) here.remove();
    }
    list.hidden = false;
    opener.setAttribute("aria-expanded", "true");
    var first = list.querySelector("button");
    if (first) first.focus();
  }

  document.addEventListener("click", function (event) {
    var opener = event.target.closest ? event.target.closest(".board-move-open") : null;
    if (opener) {
      event.preventDefault();
      if (opener.getAttribute("aria-expanded") === "true") closeMenu(opener);
      else openMenu(opener);
      return;
    }
    var choice = event.target.closest ? event.target.closest(".board-move-list [data-move-stage]") : null;
    if (choice) {
      post(choice.closest("[data-card-id]"), choice.getAttribute("data-move-stage"));
    }
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    var list = event.target.closest ? event.target.closest(".board-move-list") : null;
    if (!list) return;
    var opener = list.previousElementSibling;
    closeMenu(opener);
    opener.focus();
  });

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
    post(card, stage);
  });

  // --- refresh and focus -------------------------------------------------------------------------

  document.addEventListener("htmx:beforeRequest", function (event) {
    if (!event.detail.elt || event.detail.elt.id !== "board") return;
    // The 30 s refresh waits while a menu is open or a card is being dragged ...
    if (busy()) { event.preventDefault(); return; }
    // ... and keeps the keyboard on the card being worked on.
    var active = document.activeElement;
    var card = active && active.closest ? active.closest("[data-card-id]") : null;
    focusCard = card ? card.getAttribute("data-card-id") : null;
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
