// Quiz pages, progressive touches only: the page works without this file (the server keeps
// the deadline and positions are plain selects).
// - a countdown from the server's seconds left, announced at 5 and 1 minute, that submits the
//   answers when the time is up;
// - Move up / Move down buttons for ordering questions, kept in step with the position selects;
// - before submitting, a dialog with what is answered, unanswered and flagged, and a confirm
//   (without JavaScript the server shows the same summary as a page).
(function () {
  "use strict";

  var form = document.getElementById("quiz-form");
  var timer = document.getElementById("quiz-timer");
  var timeUp = false;

  function startCountdown() {
    var shown = document.getElementById("time-left");
    var announce = document.getElementById("time-announce");
    if (!timer || !shown) return;
    var secondsLeft = parseInt(timer.getAttribute("data-seconds-left"), 10);
    if (isNaN(secondsLeft)) return;
    var end = Date.now() + secondsLeft * 1000;  // relative: the agent's clock may be wrong
    var announced = {};
    var submitted = false;

    function pad(n) { return (n < 10 ? "0" : "") + n; }

    function tick() {
      var left = Math.max(0, Math.round((end - Date.now()) / 1000));
      var minutes = Math.floor(left / 60);
      shown.textContent = minutes + ":" + pad(left % 60);
      timer.classList.toggle("quiz-bar--low", left <= 60);
      [300, 60].forEach(function (mark) {
        if (left <= mark && left > mark - 5 && !announced[mark] && announce) {
          announced[mark] = true;
          announce.textContent = (mark / 60) + (mark === 60 ? " minute" : " minutes") + " left.";
        }
      });
      if (left === 0 && form && !submitted) {
        submitted = true;
        timeUp = true;
        if (announce) announce.textContent = "Time is up: submitting your answers.";
        var dialog = document.getElementById("submit-dialog");
        if (dialog && dialog.open) dialog.close();
        form.requestSubmit ? form.requestSubmit() : form.submit();
        return;
      }
      window.setTimeout(tick, 1000 - (Date.now() % 1000));
    }
    tick();
  }

  function renumber(list, fill) {
    var items = list.querySelectorAll(".quiz-order__item");
    items.forEach(function (item, index) {
      var select = item.querySelector("select");
      if (select && fill !== false) select.value = String(index + 1);
      var up = item.querySelector("[data-move=up]");
      var down = item.querySelector("[data-move=down]");
      if (up) up.disabled = index === 0;
      if (down) down.disabled = index === items.length - 1;
    });
  }

  function move(item, direction) {
    var list = item.parentNode;
    var sibling = direction === "up" ? item.previousElementSibling : item.nextElementSibling;
    if (!sibling) return;
    if (direction === "up") list.insertBefore(item, sibling);
    else list.insertBefore(sibling, item);
    renumber(list);
    item.classList.add("quiz-order__item--moved");
    window.setTimeout(function () { item.classList.remove("quiz-order__item--moved"); }, 600);
    var button = item.querySelector("[data-move=" + direction + "]");
    (button && !button.disabled ? button : item.querySelector("select")).focus();
  }

  function button(direction, text) {
    var b = document.createElement("button");
    b.type = "button";
    b.setAttribute("data-move", direction);
    b.setAttribute("aria-label", (direction === "up" ? "Move up: " : "Move down: ") + text);
    b.textContent = direction === "up" ? "↑" : "↓";
    return b;
  }

  function enhanceOrdering(list) {
    // Start from the order the selects say (a re-shown form keeps the agent's numbers).
    var items = Array.prototype.slice.call(list.querySelectorAll(".quiz-order__item"));
    // Unplaced items (no number yet) keep the order they were drawn in.
    var placed = items.every(function (item) { return item.querySelector("select").value !== ""; });
    if (placed) {
      items.sort(function (a, b) {
        return parseInt(a.querySelector("select").value, 10) - parseInt(b.querySelector("select").value, 10);
      });
    }
    items.forEach(function (item) {
      list.appendChild(item);
      var controls = item.querySelector(".quiz-order__controls");
      var text = item.querySelector(".quiz-order__label").textContent.trim();
      controls.appendChild(button("up", text));
      controls.appendChild(button("down", text));
    });
    list.addEventListener("click", function (event) {
      var target = event.target.closest("[data-move]");
      if (target) move(target.closest(".quiz-order__item"), target.getAttribute("data-move"));
    });
    // Choosing a number moves the item there, so the list always reads in its numbered order.
    list.addEventListener("change", function (event) {
      var select = event.target;
      if (!select.matches("select")) return;
      var item = select.closest(".quiz-order__item");
      if (select.value === "") return;
      var wanted = parseInt(select.value, 10) - 1;
      var others = Array.prototype.filter.call(list.children, function (el) { return el !== item; });
      list.insertBefore(item, others[wanted] || null);
      renumber(list);
      select.focus();
    });
    renumber(list, placed);
  }

  // --- the confirm step -------------------------------------------------------------------------

  function answered(fieldset) {
    var order = fieldset.querySelectorAll("select.quiz-order__position");
    if (order.length) {
      return Array.prototype.every.call(order, function (s) { return s.value !== ""; });
    }
    var choices = fieldset.querySelectorAll("input[type=radio], input[type=checkbox]:not(.quiz-flag__input)");
    if (Array.prototype.some.call(choices, function (i) { return i.checked; })) return true;
    var texts = fieldset.querySelectorAll("input[type=text]");
    if (Array.prototype.some.call(texts, function (i) { return i.value.trim() !== ""; })) return true;
    var selects = fieldset.querySelectorAll("select");
    return Array.prototype.some.call(selects, function (s) { return s.value !== ""; });
  }

  function summary() {
    var result = { answered: [], unanswered: [], flagged: [] };
    form.querySelectorAll("fieldset.quiz-q").forEach(function (fieldset, index) {
      var item = { number: index + 1, id: fieldset.id };
      (answered(fieldset) ? result.answered : result.unanswered).push(item);
      var flag = fieldset.querySelector(".quiz-flag__input");
      if (flag && flag.checked) result.flagged.push(item);
    });
    return result;
  }

  function listOf(label, items, dialog) {
    var p = document.createElement("p");
    p.className = "small";
    p.appendChild(document.createTextNode(label + ": "));
    items.forEach(function (item, i) {
      var a = document.createElement("a");
      a.href = "#" + item.id;
      a.textContent = "Question " + item.number;
      a.addEventListener("click", function (event) {
        event.preventDefault();
        dialog.close();
        var target = document.getElementById(item.id);
        target.scrollIntoView({ block: "start" });
        var first = target.querySelector("input:not(.quiz-flag__input), select");
        (first || target).focus();
      });
      p.appendChild(a);
      if (i < items.length - 1) p.appendChild(document.createTextNode(", "));
    });
    p.appendChild(document.createTextNode("."));
    return p;
  }

  function enhanceSubmit() {
    var dialog = document.getElementById("submit-dialog");
    if (!form || !dialog || typeof dialog.showModal !== "function") return;
    var counts = document.getElementById("submit-dialog-counts");
    var lists = document.getElementById("submit-dialog-lists");
    var title = document.getElementById("submit-dialog-title");
    var note = document.getElementById("submit-dialog-note");
    var confirm = document.getElementById("submit-confirm");
    var cancel = document.getElementById("submit-cancel");
    cancel.addEventListener("click", function () { dialog.close(); });
    form.addEventListener("submit", function (event) {
      if (timeUp || (event.submitter && event.submitter.id !== "submit-answers")) return;
      event.preventDefault();
      var s = summary();
      var total = s.answered.length + s.unanswered.length;
      counts.textContent = s.answered.length + " of " + total + " answered · " + s.unanswered.length +
        " unanswered · " + s.flagged.length + " flagged for review";
      lists.textContent = "";
      if (s.unanswered.length && s.answered.length) lists.appendChild(listOf("Unanswered (they score zero)", s.unanswered, dialog));
      if (s.flagged.length) lists.appendChild(listOf("Flagged for review", s.flagged, dialog));
      var empty = s.answered.length === 0;
      title.textContent = empty ? "No question answered yet" : "Submit your answers?";
      note.textContent = empty
        ? "Answer at least one question: an empty quiz is not submitted, and nothing counts against you."
        : "You cannot change your answers after submitting.";
      confirm.hidden = empty;
      confirm.style.display = empty ? "none" : "";  // .btn sets display, which would win over [hidden]
      dialog.showModal();
      // The safe choice has the focus while questions are open; Submit now when all are answered.
      (empty || s.unanswered.length || s.flagged.length ? cancel : confirm).focus();
    });
  }

  document.querySelectorAll("ol.quiz-order").forEach(enhanceOrdering);
  enhanceSubmit();
  startCountdown();
})();
