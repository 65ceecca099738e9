// Progressive touches only; every page works without this file.
document.addEventListener("change", function (event) {
  var field = event.target;
  if (field.matches && field.matches("select[data-autosubmit]") && field.form) {
    field.form.requestSubmit ? field.form.requestSubmit() : field.form.submit();
  }
});

// Row tables become cards on narrow screens (kb.css): each cell shows its column header, taken
// from data-label where the template wrote one, else from the table's header row here.
// A region that still scrolls sideways can be reached and scrolled with the keyboard.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll(".table-wrap > table:not([data-no-cards])").forEach(function (table) {
    var heads = table.querySelectorAll("thead th");
    if (!heads.length) return;
    var labels = Array.prototype.map.call(heads, function (th) {
      return (th.getAttribute("data-label") || th.textContent || "").trim();
    });
    table.querySelectorAll("tbody tr").forEach(function (row) {
      var column = 0;
      Array.prototype.forEach.call(row.children, function (cell) {
        if (!cell.hasAttribute("data-label") && labels[column] !== undefined) {
          cell.setAttribute("data-label", labels[column]);
        }
        column += cell.colSpan || 1;
      });
    });
  });
  function focusableWhenScrolling() {
    document.querySelectorAll(".table-wrap, pre, .scroll-x, .kb-prose table, .sop-text table").forEach(function (region) {
      var scrolls = region.scrollWidth > region.clientWidth + 1;
      if (scrolls && !region.hasAttribute("tabindex")) {
        region.setAttribute("tabindex", "0");
        if (!region.hasAttribute("role")) region.setAttribute("role", "region");
        if (!region.hasAttribute("aria-label")) {
          region.setAttribute("aria-label", region.querySelector("table") ? "Scrollable table" : "Scrollable text");
        }
      }
    });
  }
  focusableWhenScrolling();
  window.addEventListener("resize", focusableWhenScrolling);
});

// A live coverage page reloads itself every N seconds ([data-kb-live="N"]) until the reader
// pauses it (WCAG 2.2.1: a refresh the user can stop; a meta refresh cannot be stopped).
document.addEventListener("DOMContentLoaded", function () {
  var live = document.querySelector("[data-kb-live]");
  var toggle = document.querySelector("[data-kb-live-toggle]");
  if (!live || !toggle) return;
  var seconds = parseInt(live.getAttribute("data-kb-live"), 10) || 30;
  var paused = sessionStorage.getItem("kb-live-paused") === "1";
  var timer = null;
  function show() {
    toggle.setAttribute("aria-pressed", paused ? "true" : "false");
    toggle.textContent = paused ? "Resume updates" : "Pause updates";
    live.textContent = paused ? "live updates paused" : "live: refreshes every " + seconds + " s";
  }
  function schedule() {
    clearTimeout(timer);
    if (!paused) timer = setTimeout(function () { location.reload(); }, seconds * 1000);
  }
  toggle.hidden = false;
  toggle.addEventListener("click", function () {
    paused = !paused;
    sessionStorage.setItem("kb-live-paused", paused ? "1" : "0");
    show();
    schedule();
  });
  show();
  schedule();
});
