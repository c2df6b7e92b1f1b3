// Car owners' pages (portal/base.html): the finger signature pad and the survey's reason list.
// Loaded with `defer`; no inline scripts (CSP). Everything here is an enhancement: the pages
// work without it, except drawing the signature.
(function () {
  "use strict";

  function signaturePad(form) {
    var canvas = form.querySelector("[data-signature-pad]");
    var input = form.querySelector("[data-signature-input]");
    var save = form.querySelector("[data-signature-save]");
    var clear = form.querySelector("[data-signature-clear]");
    if (!canvas || !input) return;
    var ctx = canvas.getContext("2d");
    var drawing = false;
    var strokes = 0;
    var last = null;

    function setup() {
      ctx.lineWidth = 3;
      ctx.lineCap = "round";
      ctx.lineJoin = "round";
      ctx.strokeStyle = "#111";
    }
    function point(event) {
      var rect = canvas.getBoundingClientRect();
      return {
        x: (event.clientX - rect.left) * (canvas.width / rect.width),
        y: (event.clientY - rect.top) * (canvas.height / rect.height)
      };
    }
    function start(event) {
      event.preventDefault();
      drawing = true;
      last = point(event);
      if (canvas.setPointerCapture && event.pointerId !== undefined) {
        try { canvas.setPointerCapture(event.pointerId); } catch (e) { /* synthetic events */ }
      }
      ctx.beginPath();
      ctx.arc(last.x, last.y, 1.2, 0, Math.PI * 2);
      ctx.fill();
    }
    function move(event) {
      if (!drawing) return;
      event.preventDefault();
      var p = point(event);
      ctx.beginPath();
      ctx.moveTo(last.x, last.y);
      ctx.lineTo(p.x, p.y);
      ctx.stroke();
      last = p;
    }
    function end() {
      if (!drawing) return;
      drawing = false;
      strokes += 1;
      if (save) save.disabled = false;
    }
    setup();
    canvas.addEventListener("pointerdown", start);
    canvas.addEventListener("pointermove", move);
    canvas.addEventListener("pointerup", end);
    canvas.addEventListener("pointerleave", end);
    canvas.addEventListener("pointercancel", end);
    if (clear) {
      clear.addEventListener("click", function () {
        ctx.clearRect(0, 0, canvas.width, canvas.height);
        strokes = 0;
        input.value = "";
        if (save) save.disabled = true;
      });
    }
    form.addEventListener("submit", function (event) {
      if (!strokes) { event.preventDefault(); return; }
      input.value = canvas.toDataURL("image/png");
    });
  }

  // The reasons are asked only when a score is low; the form carries the thresholds
  // (data-low-nps, data-low-stars) and marks its star ratings (data-survey-stars).
  function surveyReasons(form) {
    var box = form.querySelector("[data-survey-reasons]");
    if (!box) return;
    var lowNps = parseInt(form.getAttribute("data-low-nps"), 10);
    var lowStars = parseInt(form.getAttribute("data-low-stars"), 10);
    function low() {
      var nps = form.querySelector("input[name=nps]:checked");
      if (nps && parseInt(nps.value, 10) <= lowNps) return true;
      var stars = form.querySelectorAll("[data-survey-stars] input:checked");
      for (var i = 0; i < stars.length; i++) {
        if (parseInt(stars[i].value, 10) <= lowStars) return true;
      }
      return !!box.querySelector("input:checked");
    }
    function update() { box.hidden = !low(); }
    form.addEventListener("change", update);
    update();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-signature-form]").forEach(signaturePad);
    document.querySelectorAll("[data-survey-form]").forEach(surveyReasons);
  });
})();
