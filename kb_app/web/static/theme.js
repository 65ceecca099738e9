// Light or dark: the reader's choice (remembered in localStorage), else the system's
// prefers-color-scheme. Loaded without defer in <head>, so the page is painted in the right
// theme from the first frame; the toggle in the top bar switches it, like the SOP site's.
(function () {
  var KEY = "kb-theme";
  var root = document.documentElement;
  var media = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;

  function stored() {
    try {
      var value = window.localStorage.getItem(KEY);
      return value === "light" || value === "dark" ? value : null;
    } catch (error) {
      return null; // storage blocked: follow the system
    }
  }

  function resolved() {
    return stored() || (media && media.matches ? "dark" : "light");
  }

  function apply(theme) {
    root.setAttribute("data-theme", theme);
    var button = document.querySelector("[data-theme-toggle]");
    if (button) {
      var next = theme === "dark" ? "light" : "dark";
      button.setAttribute("aria-label", "Switch to " + next + " mode");
      button.setAttribute("title", "Switch to " + next + " mode");
    }
  }

  apply(resolved());
  if (media && media.addEventListener) {
    media.addEventListener("change", function () {
      if (!stored()) apply(resolved());
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var button = document.querySelector("[data-theme-toggle]");
    if (!button) return;
    button.hidden = false;
    apply(resolved());
    button.addEventListener("click", function () {
      var next = root.getAttribute("data-theme") === "dark" ? "light" : "dark";
      try {
        window.localStorage.setItem(KEY, next);
      } catch (error) {
        // not remembered, still switched
      }
      apply(next);
    });
  });
})();
