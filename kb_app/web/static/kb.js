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
