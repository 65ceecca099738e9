// Results as you type on the search page. Progressive only: without this file the form is a
// plain GET and the server renders the same page: one card per SOP (group=sop), its best
// section first and its other listed sections beneath it.
//
// One request at a time, the latest text wins: each request carries the previous answer's
// search_token (`refines`), so the training team's analytics count a typing burst as one search.
// Snippets come from the server escaped with <mark> around matches; they are rebuilt here as text
// and <mark> elements only, never inserted as HTML.
(function () {
  "use strict";

  var form = document.getElementById("search-form");
  if (!form || !window.fetch || !window.URLSearchParams || !window.DOMParser) return;

  var input = document.getElementById("search-q");
  var refines = document.getElementById("search-refines");
  var status = document.getElementById("search-status");
  var list = document.getElementById("search-results");
  var pinned = document.getElementById("search-pinned");
  var suggestions = document.getElementById("search-suggestions");
  var empty = document.getElementById("search-empty");
  var emptyQuery = document.getElementById("search-empty-query");
  var start = document.getElementById("search-start");
  var facets = document.getElementById("search-facets");
  var pager = document.getElementById("search-pager");
  var template = document.getElementById("search-hit-template");
  var api = form.getAttribute("data-api");
  var pageUrl = form.getAttribute("data-page");
  var LIMIT = 10;
  var DEBOUNCE_MS = 180;

  var keys = document.getElementById("search-keys");
  if (keys) keys.hidden = false;  // the keyboard hints are only true with this file running

  // On a phone the filters follow the results, folded until asked for.
  var filters = document.getElementById("search-filters");
  if (filters && window.matchMedia && window.matchMedia("(max-width: 50rem)").matches) filters.open = false;

  var timer = null;
  var busy = false;
  var again = false;
  var shown = input.value.trim();

  function filterPairs() {
    return Array.prototype.map.call(form.querySelectorAll("input[data-filter]"), function (el) { return [el.name, el.value]; });
  }

  function pageLink(query, extra) {
    var params = new URLSearchParams();
    if (query) params.set("q", query);
    filterPairs().concat(extra || []).forEach(function (pair) { params.append(pair[0], pair[1]); });
    if (refines.value) params.set("refines", refines.value);
    return pageUrl + "?" + params.toString();
  }

  function plural(n, word) { return n + " " + word + (n === 1 ? "" : "s"); }

  function statusText(data) {
    if (!data.total_sops) return "No results for \u201c" + data.query + "\u201d";
    return plural(data.total_sops, "SOP");
  }

  function setSnippet(el, html) {
    // Parsing does not run scripts; only text and <mark> survive.
    var body = new DOMParser().parseFromString(html, "text/html").body;
    var parts = Array.prototype.map.call(body.childNodes, function (node) {
      if (node.nodeName === "MARK") {
        var mark = document.createElement("mark");
        mark.textContent = node.textContent;
        return mark;
      }
      return document.createTextNode(node.textContent);
    });
    el.replaceChildren.apply(el, parts);
  }

  function groupItem(group, rank) {
    var item = template.content.firstElementChild.cloneNode(true);
    var best = group.sections[0];
    var link = item.querySelector(".result__link");
    link.href = best.open_url || best.url;
    link.setAttribute("data-rank", String(rank));
    item.querySelector(".result__id").textContent = group.sop_id;
    item.querySelector(".result__title").textContent = group.title;
    var section = item.querySelector(".result__section");
    if (best.anchor) section.textContent = best.section;
    else section.remove();
    setSnippet(item.querySelector(".result__snippet"), best.snippet);
    var more = item.querySelector(".result__more");
    var others = group.sections.slice(1).map(function (hit) {
      var sublink = document.createElement("a");
      sublink.className = "result__sublink";
      sublink.href = hit.open_url || hit.url;
      sublink.setAttribute("data-rank", String(rank));
      sublink.textContent = hit.section;
      var li = document.createElement("li");
      li.append(sublink);
      return li;
    });
    if (others.length) {
      more.setAttribute("aria-label", "More sections of " + group.sop_id);
      more.replaceChildren.apply(more, others);
    } else {
      more.remove();
    }
    item.querySelector(".result__version").textContent = "v" + group.version;
    var kind = item.querySelector(".result__kind");
    kind.textContent = group.kind;
    kind.classList.add("result__kind--" + group.kind);
    if (group.retired) item.classList.add("result--retired");
    else item.querySelector(".result__retired").remove();
    item.querySelector(".result__count").textContent = plural(group.matched_sections, "matching section");
    var flag = item.querySelector(".result__flag");
    var flagBase = list.getAttribute("data-flag");
    if (flag && flagBase) {
      var params = new URLSearchParams({ sop_id: group.sop_id, anchor: best.anchor || "", version: group.version,
        section: best.section || "", next: location.pathname + location.search });
      flag.href = flagBase + "?" + params.toString();
      flag.hidden = false;
    } else if (flag) flag.remove();
    return item;
  }

  function renderPinned(items) {
    var links = items.map(function (bulletin) {
      var link = document.createElement("a");
      link.className = "pinned";
      link.href = bulletin.url;
      var chip = document.createElement("span");
      chip.className = "tag tag--fail";
      chip.textContent = "open bulletin";
      var title = document.createElement("strong");
      title.textContent = bulletin.title;
      var id = document.createElement("span");
      id.className = "mono small";
      id.textContent = bulletin.sop_id + " v" + bulletin.version;
      link.append(chip, " ", title, " ", id);
      if (bulletin.expires) {
        var until = document.createElement("span");
        until.className = "small muted";
        var expires = new Date(bulletin.expires);
        until.textContent = isNaN(expires) ? "" : "until " + expires.toISOString().slice(0, 16).replace("T", " ") + " UTC";
        link.append(" ", until);
      }
      return link;
    });
    pinned.replaceChildren.apply(pinned, links);
    pinned.hidden = !links.length;
  }

  function renderSuggestions(items, query) {
    var parts = [];
    items.forEach(function (suggestion) {
      var link = document.createElement("a");
      link.href = pageLink(suggestion);
      link.textContent = suggestion;
      parts.push("Did you mean ", link, "?");
    });
    suggestions.replaceChildren.apply(suggestions, parts);
    suggestions.hidden = !parts.length;
  }

  function renderFacets(data) {
    var any = false;
    facets.querySelectorAll("[data-facet]").forEach(function (box) {
      var name = box.getAttribute("data-facet");
      var counts = (data.facets && data.facets[name]) || {};
      var active = filterPairs().filter(function (p) { return p[0] === name; }).map(function (p) { return p[1]; });
      var items = Object.keys(counts).map(function (value) {
        var link = document.createElement("a");
        link.href = pageLink(data.query, active.indexOf(value) < 0 ? [[name, value]] : []);
        if (active.indexOf(value) >= 0) link.setAttribute("aria-current", "true");
        var label = document.createElement("span");
        label.textContent = value;
        var count = document.createElement("span");
        count.className = "facet__count";
        count.textContent = String(counts[value]);
        link.append(label, " ", count);
        var li = document.createElement("li");
        li.append(link);
        return li;
      });
      box.querySelector("ul").replaceChildren.apply(box.querySelector("ul"), items);
      box.hidden = !items.length;
      any = any || items.length > 0;
    });
    facets.hidden = !any;
  }

  function renderPager(data) {
    var pages = Math.ceil(data.total_sops / LIMIT);
    if (pages <= 1) { pager.hidden = true; return; }
    var label = document.createElement("span");
    label.className = "muted";
    label.textContent = "Page 1 of " + pages;
    var next = document.createElement("a");
    next.className = "btn btn--ghost";
    next.rel = "next";
    next.href = pageLink(data.query, [["page", "2"]]);
    next.textContent = "Next";
    pager.replaceChildren(label, next);
    pager.hidden = false;
  }

  function render(data) {
    status.textContent = statusText(data);
    renderPinned(data.pinned || []);
    renderSuggestions(data.suggestions || [], data.query);
    var items = (data.groups || []).map(function (group, index) { return groupItem(group, index + 1); });
    list.replaceChildren.apply(list, items);
    list.setAttribute("start", "1");
    list.hidden = !items.length;
    emptyQuery.textContent = data.query;
    empty.hidden = data.total_sops > 0;
    start.hidden = true;
    renderFacets(data);
    renderPager(data);
    var url = new URL(pageLink(data.query), location.href);
    url.searchParams.delete("refines");
    history.replaceState(null, "", url.pathname + url.search);
    document.title = data.query + " \u00b7 Search \u00b7 Account Security KB";
  }

  function clearResults(announce) {
    shown = "";
    [list, suggestions, empty, facets, pager].forEach(function (el) { el.hidden = true; });
    list.replaceChildren();
    emptyQuery.textContent = "";
    start.hidden = false;
    document.title = "Search \u00b7 Account Security KB";
    status.textContent = announce ? "Search cleared" : "";
    history.replaceState(null, "", pageUrl);
  }

  function run() {
    var query = input.value.trim();
    if (busy) { again = true; return; }
    if (!query) { if (shown) clearResults(false); return; }
    if (query === shown) return;
    busy = true;
    var params = new URLSearchParams({ q: query, limit: String(LIMIT), group: "sop" });
    filterPairs().forEach(function (pair) { params.append(pair[0], pair[1]); });
    if (refines.value) params.set("refines", refines.value);
    fetch(api + "?" + params.toString(), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (data) {
        if (data.search_token) refines.value = data.search_token;
        if (input.value.trim() === query) {
          shown = query;
          render(data);
        }
      })
      .catch(function () {
        status.textContent = "Results could not be updated as you type; press Enter to search.";
      })
      .then(function () {
        busy = false;
        if (again) { again = false; run(); }
      });
  }

  // Every link of every card, in reading order: an SOP's best section, then its other sections.
  function resultLinks() {
    return Array.prototype.slice.call(list.querySelectorAll(".result__link, .result__sublink"));
  }

  function clearAll() {
    input.value = "";
    clearResults(true);
    input.focus();
  }

  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(run, DEBOUNCE_MS);
  });

  input.addEventListener("keydown", function (event) {
    if (event.key === "ArrowDown") {
      var links = resultLinks();
      if (links.length && !list.hidden) {
        event.preventDefault();
        links[0].focus();
      }
    } else if (event.key === "Escape" && input.value) {
      event.preventDefault();
      clearAll();
    }
  });

  list.addEventListener("keydown", function (event) {
    var links = resultLinks();
    var index = links.indexOf(document.activeElement);
    if (index < 0) return;
    if (event.key === "ArrowDown") {
      event.preventDefault();
      (links[index + 1] || links[index]).focus();
    } else if (event.key === "ArrowUp") {
      event.preventDefault();
      (index > 0 ? links[index - 1] : input).focus();
    } else if (event.key === "Home" || event.key === "End") {
      event.preventDefault();
      links[event.key === "Home" ? 0 : links.length - 1].focus();
    } else if (event.key === "Escape") {
      event.preventDefault();
      clearAll();
    }
  });
})();
