/*
 * Small enhancements of the SOP site; every one of them is optional and fails silently.
 *
 * - Hides bulletins in the announce bar once their `data-expires` time has passed (the site is
 *   static, so a bulletin can expire between two builds).
 * - Flags review dates that passed after the build.
 * - When the site is served by the kb web app (behind login, under /sop/), asks
 *   GET <banner endpoint>?path=<this page> (default /api/v1/me/banner) for the signed-in
 *   reader's banner. Contract: 200 with JSON {"text": "...", "level": "info"|"warning"|"danger",
 *   "url": "...", "bulletins": [{"sop_id": ...}, ...]} shows the text (text only, never HTML)
 *   and hides built-in bulletins the app no longer lists as open (retired since the build);
 *   204, any error or no app (file://, plain http server) leaves the page as it is.
 * - When the build set a server search page (<meta name="kb-search-url">), Enter in the search
 *   box opens <url>?q=<query>&audience=<T1|T2> instead of the built-in (offline) search.
 */
(function () {
  "use strict";

  var banner = document.getElementById("kb-banner");

  function refreshBanner() {
    if (!banner) return;
    var shown = Array.prototype.some.call(banner.children, function (el) { return !el.hidden; });
    if (shown) banner.removeAttribute("data-empty");
    else banner.setAttribute("data-empty", "");
  }

  function expireBulletins(now) {
    if (!banner) return;
    banner.querySelectorAll(".kb-banner__bulletin[data-expires]").forEach(function (el) {
      var expires = Date.parse(el.getAttribute("data-expires"));
      if (!isNaN(expires) && expires <= now) el.hidden = true;
    });
  }

  function flagStaleReviews(now) {
    var today = new Date(now).toISOString().slice(0, 10);
    document.querySelectorAll("[data-kb-review-by]").forEach(function (el) {
      if (el.getAttribute("data-kb-review-by") < today) el.classList.add("kb-meta__value--stale");
    });
  }

  function hideClosedBulletins(open) {
    if (!banner || !Array.isArray(open)) return;
    var ids = open.map(function (b) { return b && b.sop_id; });
    banner.querySelectorAll(".kb-banner__bulletin[data-sop-id]").forEach(function (el) {
      if (ids.indexOf(el.getAttribute("data-sop-id")) < 0) el.hidden = true;
    });
    refreshBanner();
  }

  function showUserBanner(data) {
    if (data) hideClosedBulletins(data.bulletins);
    var slot = banner && banner.querySelector("[data-kb-user-banner]");
    if (!slot || !data || typeof data.text !== "string" || !data.text) return;
    var content = document.createElement(data.url ? "a" : "span");
    content.textContent = data.text;
    if (data.url) content.href = data.url;
    slot.replaceChildren(content);
    slot.setAttribute("data-level", ["info", "warning", "danger"].indexOf(data.level) >= 0 ? data.level : "info");
    slot.hidden = false;
    refreshBanner();
  }

  function fetchUserBanner() {
    var endpoint = banner && banner.getAttribute("data-kb-banner-endpoint");
    if (!endpoint || !/^https?:$/.test(location.protocol) || !window.fetch) return;
    var url = endpoint + (endpoint.indexOf("?") >= 0 ? "&" : "?") + "path=" + encodeURIComponent(location.pathname);
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        var type = response.headers.get("Content-Type") || "";
        return response.status === 200 && type.indexOf("json") >= 0 ? response.json() : null;
      })
      .then(showUserBanner)
      .catch(function () { /* not served by the app, or offline: nothing to show */ });
  }

  function useServerSearch() {
    var meta = document.querySelector('meta[name="kb-search-url"]');
    var input = document.querySelector(".md-search__input");
    if (!meta || !meta.content || !input) return;
    var audience = document.querySelector('meta[name="kb-audience"]');
    document.documentElement.classList.add("kb-server-search");
    // Capture phase: runs before Material's own keyboard handling of the search box.
    input.addEventListener("keydown", function (event) {
      if (event.key !== "Enter" || !input.value.trim()) return;
      event.preventDefault();
      event.stopImmediatePropagation();
      var query = "q=" + encodeURIComponent(input.value.trim());
      if (audience && audience.content) query += "&audience=" + encodeURIComponent(audience.content);
      location.href = meta.content + (meta.content.indexOf("?") >= 0 ? "&" : "?") + query;
    }, true);
  }

  var now = Date.now();
  expireBulletins(now);
  flagStaleReviews(now);
  refreshBanner();
  fetchUserBanner();
  useServerSearch();
})();
