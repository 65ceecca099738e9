// The Acknowledge button unlocks once the reader has scrolled to the end of the changes:
// "viewed" is not "read". Without JavaScript the button simply stays enabled.
(function () {
  var button = document.getElementById("ack-button");
  if (!button || !("IntersectionObserver" in window)) return;
  var end = document.querySelector(button.getAttribute("data-gate"));
  if (!end) return;
  var hint = document.getElementById("ack-hint");
  button.disabled = true;
  button.setAttribute("aria-describedby", "ack-hint");
  if (hint) hint.hidden = false;
  var observer = new IntersectionObserver(function (entries) {
    entries.forEach(function (entry) {
      if (entry.isIntersecting) {
        button.disabled = false;
        if (hint) hint.hidden = true;
        observer.disconnect();
      }
    });
  });
  observer.observe(end);
})();
