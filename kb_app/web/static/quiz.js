// Quiz pages, progressive touches only: the page works without this file (the server keeps
// the deadline and positions are plain selects).
// - a countdown from the server's seconds left, announced at 5 and 1 minute, that submits the
//   answers when the time is up;
// - Move up / Move down buttons for ordering questions, kept in step with the position selects.
(function () {
  "use strict";

  var form = document.getElementById("quiz-form");
  var timer = document.getElementById("quiz-timer");

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
        if (announce) announce.textContent = "Time is up: submitting your answers.";
        form.requestSubmit ? form.requestSubmit() : form.submit();
        return;
      }
      window.setTimeout(tick, 1000 - (Date.now() % 1000));
    }
    tick();
  }

  function renumber(list) {
    var items = list.querySelectorAll(".quiz-order__item");
    items.forEach(function (item, index) {
      var select = item.querySelector("select");
      if (select) select.value = String(index + 1);
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
    items.sort(function (a, b) {
      return parseInt(a.querySelector("select").value, 10) - parseInt(b.querySelector("select").value, 10);
    });
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
      var wanted = parseInt(select.value, 10) - 1;
      var others = Array.prototype.filter.call(list.children, function (el) { return el !== item; });
      list.insertBefore(item, others[wanted] || null);
      renumber(list);
      select.focus();
    });
    renumber(list);
  }

  document.querySelectorAll("ol.quiz-order").forEach(enhanceOrdering);
  startCountdown();
})();
