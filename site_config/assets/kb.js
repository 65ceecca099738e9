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
 * - On an SOP page served by the app to an agent (GET <api>/feedback/form answers 200), puts a
 *   "Flag this section" control under each section heading the API lists for the SOP; it posts
 *   {sop_id, version, anchor, kind, comment} as JSON to <api>/feedback with the session's CSRF
 *   token. Messages are set as text, never as HTML.
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

  function apiBase() {
    var endpoint = banner && banner.getAttribute("data-kb-banner-endpoint");
    if (!endpoint || !/^https?:$/.test(location.protocol) || !window.fetch) return null;
    var match = /^(.*)\/me\/banner(?:\?.*)?$/.exec(endpoint);
    return match ? match[1] : null;
  }

  function element(tag, className, text) {
    var el = document.createElement(tag);
    if (className) el.className = className;
    if (text) el.textContent = text;
    return el;
  }

  function flagForm(base, form, sop, anchor, heading) {
    var box = element("form", "kb-flag__form");
    box.hidden = true;
    var id = "kb-flag-" + (anchor || "top");
    var kinds = element("fieldset", "kb-flag__kinds");
    kinds.appendChild(element("legend", "", "This section is"));
    form.kinds.forEach(function (kind, index) {
      var label = element("label", "kb-flag__kind");
      var input = document.createElement("input");
      input.type = "radio";
      input.name = id + "-kind";
      input.value = kind.value;
      input.checked = index === 0;
      label.appendChild(input);
      label.appendChild(document.createTextNode(" " + kind.label));
      kinds.appendChild(label);
    });
    box.appendChild(kinds);
    var label = element("label", "kb-flag__label", "What should it say?");
    label.htmlFor = id + "-comment";
    box.appendChild(label);
    var comment = element("textarea", "kb-flag__comment");
    comment.id = id + "-comment";
    comment.maxLength = form.max_comment_chars;
    comment.rows = 3;
    comment.required = true;
    box.appendChild(comment);
    var send = element("button", "kb-flag__send", "Send");
    send.type = "submit";
    box.appendChild(send);
    var status = element("p", "kb-flag__status");
    status.setAttribute("role", "status");
    box.appendChild(status);
    box.addEventListener("submit", function (event) {
      event.preventDefault();
      var chosen = box.querySelector("input[type=radio]:checked");
      send.disabled = true;
      fetch(base + "/feedback", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": form.csrf_token },
        body: JSON.stringify({
          sop_id: sop.content, version: sop.getAttribute("data-version"), anchor: anchor,
          kind: chosen ? chosen.value : "unclear", comment: comment.value
        })
      })
        .then(function (response) {
          return response.json().then(function (data) { return { ok: response.status === 201, data: data }; });
        })
        .then(function (result) {
          send.disabled = false;
          if (result.ok) {
            status.replaceChildren(document.createTextNode("Thank you: the training team will answer under "));
            var mine = element("a", "", "My feedback");
            mine.href = form.mine_url;
            status.appendChild(mine);
            status.appendChild(document.createTextNode("."));
            comment.value = "";
          } else {
            status.textContent = (result.data && result.data.error && result.data.error.message) || "Not sent.";
          }
        })
        .catch(function () { send.disabled = false; status.textContent = "Not sent: try again."; });
    });
    var toggle = element("button", "kb-flag__toggle", "Flag this section");
    toggle.type = "button";
    toggle.setAttribute("aria-expanded", "false");
    toggle.setAttribute("aria-label", "Flag this section: " + (heading || "the top of the page"));
    toggle.addEventListener("click", function () {
      box.hidden = !box.hidden;
      toggle.setAttribute("aria-expanded", box.hidden ? "false" : "true");
      if (!box.hidden) comment.focus();
    });
    var wrap = element("div", "kb-flag");
    wrap.appendChild(toggle);
    wrap.appendChild(box);
    return wrap;
  }

  function offerFeedback() {
    var sop = document.querySelector('meta[name="kb-sop"]');
    var base = apiBase();
    if (!sop || !sop.content || !base) return;
    var url = base + "/feedback/form?sop_id=" + encodeURIComponent(sop.content);
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.status === 200 ? response.json() : null; })
      .then(function (form) {
        if (!form || !Array.isArray(form.kinds) || !Array.isArray(form.anchors) || !form.anchors.length) return;
        var article = document.querySelector(".md-content article") || document.querySelector("article");
        if (!article) return;
        var title = article.querySelector("h1");
        if (title && form.anchors.indexOf("") >= 0) {
          title.insertAdjacentElement("afterend", flagForm(base, form, sop, "", title.textContent));
        }
        // Only the SOP's own sections (not the changelog or references the theme adds).
        article.querySelectorAll("h2[id], h3[id], h4[id]").forEach(function (heading) {
          if (form.anchors.indexOf(heading.id) < 0) return;
          var text = heading.textContent.replace(/\u00b6/g, "").trim();
          heading.insertAdjacentElement("afterend", flagForm(base, form, sop, heading.id, text));
        });
      })
      .catch(function () { /* not served by the app: no control */ });
  }

  var now = Date.now();
  expireBulletins(now);
  flagStaleReviews(now);
  refreshBanner();
  fetchUserBanner();
  useServerSearch();
  offerFeedback();
})();
