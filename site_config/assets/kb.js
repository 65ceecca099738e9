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
 * - When the web app serves the page (its bar, [data-kb-app], carries data-search-api), the
 *   search box shows the server's results as you type instead (see serverSearchAsYouType).
 * - Copy buttons on customer wording and case-field lists; names for the theme's search dialog
 *   and keyboard access to scrolling tables and code.
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

  // --- copy in one click ------------------------------------------------------------------
  // Code blocks get Material's own copy button (content.code.copy). Customer wording (a quoted
  // passage of a sentence or more in a "Customer communication" or "Macro library" section),
  // case-field lists ("Required fields: `a`, `b`") and [data-kb-copy] elements get one here,
  // copying the whole text.

  var QUOTE = /["\u201c]([^"\u201c\u201d]{40,})["\u201d]/g;

  function copyText(text, button) {
    function done(ok) {
      button.setAttribute("data-copied", ok ? "true" : "false");
      button.querySelector(".kb-copy__label").textContent = ok ? "Copied" : "Copy failed";
      setTimeout(function () {
        button.removeAttribute("data-copied");
        button.querySelector(".kb-copy__label").textContent = "Copy";
      }, 2000);
    }
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(function () { done(true); }, function () { done(false); });
    } else {
      done(false);
    }
  }

  function copyButton(text, what) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "kb-copy";
    button.setAttribute("data-kb-copy-text", text);
    button.setAttribute("aria-label", "Copy " + what + ": " + (text.length > 60 ? text.slice(0, 57) + "..." : text));
    var label = document.createElement("span");
    label.className = "kb-copy__label";
    label.textContent = "Copy";
    button.append(label);
    button.addEventListener("click", function () { copyText(text, button); });
    return button;
  }

  // Sections whose quoted lines are wording to send (elsewhere a quote may be what never to say).
  var WORDING_SECTIONS = /^(customer-communication|macro-library)$/;

  function wordingBlocks(content) {
    var blocks = [];
    var section = "";
    Array.prototype.forEach.call(content.children, function (child) {
      if (child.tagName === "H2") { section = child.id; return; }
      if (!WORDING_SECTIONS.test(section)) return;
      if (/^(P|LI|TD)$/.test(child.tagName)) blocks.push(child);
      Array.prototype.push.apply(blocks, child.querySelectorAll("p, li, td"));
    });
    return blocks;
  }

  function addCopyButtons() {
    var content = document.querySelector(".md-content .md-typeset");
    if (!content) return;
    content.querySelectorAll("p, li").forEach(function (el) {
      if (el.closest("pre, .kb-meta, .kb-step-list")) return;
      var codes = el.querySelectorAll("code");
      if (!codes.length || !/^Required (case )?fields:/i.test(el.textContent.trim())) return;
      var fields = Array.prototype.map.call(codes, function (c) { return c.textContent; }).join(", ");
      el.classList.add("kb-copyable");
      el.append(" ", copyButton(fields, "case fields"));
    });
    wordingBlocks(content).forEach(function (el) {
      if (el.classList.contains("kb-copyable") || el.closest("pre") || el.querySelector("p, li")) return;
      var text = el.textContent.replace(/\s+/g, " ").trim();
      var quotes = [];
      var match;
      QUOTE.lastIndex = 0;
      while ((match = QUOTE.exec(text))) quotes.push(match[1].trim());
      if (!quotes.length) return;
      el.classList.add("kb-copyable");
      quotes.forEach(function (quote) { el.append(" ", copyButton(quote, "wording")); });
    });
    content.querySelectorAll("[data-kb-copy]").forEach(function (el) {
      el.append(" ", copyButton(el.getAttribute("data-kb-copy"), "case fields"));
    });
  }

  // --- accessibility of the theme's own parts ----------------------------------------------

  function nameThemeParts() {
    var dialog = document.querySelector(".md-search[role=dialog]");
    if (dialog && !dialog.hasAttribute("aria-label")) dialog.setAttribute("aria-label", "Search the SOPs");
    // A wide table or code block scrolls inside its box: a box that does is reachable by keyboard.
    document.querySelectorAll(".md-typeset__scrollwrap, .md-typeset pre > code").forEach(function (el) {
      if (el.hasAttribute("tabindex") || el.scrollWidth <= el.clientWidth) return;
      el.setAttribute("tabindex", "0");
      if (el.classList.contains("md-typeset__scrollwrap")) {
        el.setAttribute("role", "region");
        el.setAttribute("aria-label", "Table (scrolls sideways)");
      }
    });
  }

  function whenThemeReady(fn) {
    // The theme wraps tables once the page is mounted (its document$), after this file runs.
    if (window.document$ && typeof window.document$.subscribe === "function") {
      window.document$.subscribe(function () { setTimeout(fn, 0); });
    } else {
      window.addEventListener("load", fn);
    }
    window.addEventListener("resize", function () { clearTimeout(fn.timer); fn.timer = setTimeout(fn, 200); });
  }

  // --- the app's bar (when the web app serves the site) --------------------------------------

  function appBar() {
    var app = document.querySelector("[data-kb-app]");
    if (!app) return null;
    document.documentElement.classList.add("kb-in-app");
    return app;
  }

  // --- server search as you type -------------------------------------------------------------
  // Served by the app, the search box asks the app's search API (the Search page's results, and
  // its analytics: each answer's search_token goes with the next request as `refines`, so one
  // typing burst is one search). Results open through their open_url, which records the click.
  // Keys: ArrowDown/ArrowUp move between the box and the results, Enter opens (from the box: the
  // first result), Escape closes. Snippets are rebuilt as text and <mark> only, never as HTML.

  function serverSearchAsYouType(app) {
    var api = app && app.getAttribute("data-search-api");
    var input = document.querySelector(".md-search__input");
    var output = document.querySelector(".md-search__output");
    var toggle = document.getElementById("__search");
    if (!api || !input || !output || !toggle || !window.fetch || !window.DOMParser) return false;
    var searchPage = app.getAttribute("data-search-page") || "/search";
    document.documentElement.classList.add("kb-app-search");
    input.setAttribute("placeholder", "Search the SOPs");
    input.setAttribute("aria-label", "Search the SOPs");
    input.setAttribute("aria-controls", "kb-site-search");

    var box = document.createElement("div");
    box.id = "kb-site-search";
    box.className = "kb-site-search";
    var status = document.createElement("p");
    status.className = "kb-site-search__status";
    status.setAttribute("role", "status");
    var list = document.createElement("ol");
    list.className = "kb-site-search__list";
    list.setAttribute("aria-label", "Search results");
    var more = document.createElement("a");
    more.className = "kb-site-search__more";
    more.hidden = true;
    var keys = document.createElement("p");
    keys.className = "kb-site-search__keys";
    keys.textContent = "\u2191 \u2193 move \u00b7 Enter opens \u00b7 Esc closes";
    box.append(status, list, more, keys);
    output.append(box);

    var timer = null, busy = false, again = false, shown = "", token = "";

    function plural(n, word) { return n + " " + word + (n === 1 ? "" : "s"); }

    function snippet(el, html) {
      var body = new DOMParser().parseFromString(html || "", "text/html").body;
      Array.prototype.forEach.call(body.childNodes, function (node) {
        if (node.nodeName === "MARK") {
          var mark = document.createElement("mark");
          mark.textContent = node.textContent;
          el.append(mark);
        } else {
          el.append(document.createTextNode(node.textContent));
        }
      });
    }

    function item(hit) {
      var li = document.createElement("li");
      var link = document.createElement("a");
      link.className = "kb-site-search__link";
      link.href = hit.open_url || hit.url;
      var head = document.createElement("span");
      head.className = "kb-site-search__head";
      var id = document.createElement("span");
      id.className = "kb-site-search__id";
      id.textContent = hit.sop_id;
      var title = document.createElement("span");
      title.className = "kb-site-search__title";
      title.textContent = hit.title;
      head.append(id, " ", title);
      link.append(head);
      if (hit.anchor && hit.section) {
        var section = document.createElement("span");
        section.className = "kb-site-search__section";
        section.textContent = hit.section;
        link.append(section);
      }
      var text = document.createElement("span");
      text.className = "kb-site-search__snippet";
      snippet(text, hit.snippet);
      link.append(text);
      li.append(link);
      return li;
    }

    // One row per SOP, as on the Search page (group=sop): the SOP's best section opens.
    function render(data) {
      var hits = (data.groups || []).map(function (group) {
        var best = group.sections[0] || {};
        return Object.assign({}, best, { sop_id: group.sop_id, title: group.title });
      });
      list.replaceChildren.apply(list, hits.map(item));
      if (!data.total) status.textContent = "No results for \u201c" + data.query + "\u201d";
      else status.textContent = plural(data.total, "SOP");
      more.href = searchPage + "?q=" + encodeURIComponent(data.query);
      more.textContent = data.total > hits.length ? "All " + data.total + " SOPs on the Search page" : "Open the Search page";
      more.hidden = false;
    }

    function run() {
      var query = input.value.trim();
      if (busy) { again = true; return; }
      if (!query) { shown = ""; list.replaceChildren(); status.textContent = ""; more.hidden = true; return; }
      if (query === shown) return;
      busy = true;
      var params = new URLSearchParams({ q: query, limit: "10", group: "sop" });
      if (token) params.set("refines", token);
      fetch(api + "?" + params.toString(), { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.json();
        })
        .then(function (data) {
          if (data.search_token) token = data.search_token;
          if (input.value.trim() === query) { shown = query; render(data); }
        })
        .catch(function () { status.textContent = "Results could not be loaded; press Enter for the Search page."; })
        .then(function () {
          busy = false;
          if (again) { again = false; run(); }
        });
    }

    function links() { return Array.prototype.slice.call(list.querySelectorAll(".kb-site-search__link")); }

    function close() {
      if (toggle.checked) {
        toggle.checked = false;
        toggle.dispatchEvent(new Event("change"));
      }
      input.blur();
    }

    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(run, 150);
    });

    // Window, capture phase: before the theme's own keyboard handling, which never sees these keys.
    window.addEventListener("keydown", function (event) {
      var inBox = event.target === input;
      var inList = box.contains(event.target);
      if (!inBox && !inList) return;
      var all = links();
      var at = all.indexOf(document.activeElement);
      var handled = true;
      if (event.key === "ArrowDown") {
        if (all.length) all[Math.min(at + 1, all.length - 1)].focus();
      } else if (event.key === "ArrowUp") {
        if (at > 0) all[at - 1].focus();
        else input.focus();
      } else if (event.key === "Enter" && inBox) {
        var query = input.value.trim();
        if (!query) return;
        if (all.length && shown === query) location.href = all[0].href;
        else location.href = searchPage + "?q=" + encodeURIComponent(query);
      } else if (event.key === "Escape") {
        close();
      } else {
        handled = false;
      }
      if (handled) {
        event.preventDefault();
        event.stopImmediatePropagation();
      }
    }, true);
    return true;
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
  whenThemeReady(nameThemeParts);
  addCopyButtons();
  if (!serverSearchAsYouType(appBar())) useServerSearch();
  offerFeedback();
})();
