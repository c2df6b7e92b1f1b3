// The rule builder: show the parts that fit the chosen trigger kind and scope, and offer only
// the operators the chosen field allows. Without this script every part is shown.
(function () {
  "use strict";
  function toggles(form) {
    form.querySelectorAll("[data-rule-toggle]").forEach(function (select) {
      var key = select.getAttribute("data-rule-toggle");
      form.querySelectorAll("[data-rule-show^='" + key + ":']").forEach(function (part) {
        var wanted = part.getAttribute("data-rule-show").split(":")[1];
        part.hidden = select.value !== wanted;
      });
    });
  }
  function ops(row) {
    var field = row.querySelector("[data-rule-field]");
    var op = row.querySelector("[data-rule-op]");
    if (!field || !op) return;
    var chosen = field.options[field.selectedIndex];
    var allowed = ((chosen && chosen.getAttribute("data-ops")) || "").trim().split(/\s+/);
    var any = allowed.length === 1 && allowed[0] === "";
    Array.prototype.forEach.call(op.options, function (o) {
      o.hidden = !any && allowed.indexOf(o.value) < 0;
    });
    if (op.selectedOptions.length && op.selectedOptions[0].hidden) {
      var first = Array.prototype.find.call(op.options, function (o) { return !o.hidden; });
      if (first) op.value = first.value;
    }
    cmp(row);
  }
  // The "≤ / ≥" of a row only matters for "days until / since".
  function cmp(row) {
    var op = row.querySelector("[data-rule-op]");
    var select = row.querySelector("select[name=cond_cmp]");
    if (op && select) select.parentElement.hidden = !/^days_/.test(op.value);
  }
  function init() {
    var form = document.querySelector("[data-testid=rule-form]");
    if (!form) return;
    toggles(form);
    form.querySelectorAll("[data-testid=cond-row]").forEach(ops);
    form.addEventListener("change", function (event) {
      if (event.target.hasAttribute("data-rule-toggle")) toggles(form);
      var row = event.target.closest("[data-testid=cond-row]");
      if (event.target.hasAttribute("data-rule-field")) ops(row);
      if (event.target.hasAttribute("data-rule-op")) cmp(row);
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
