// The at-risk queue's live countdowns: each <time class="countdown" data-until="ISO instant"> shows the time
// left, once a second, from the browser's clock (the server's "now" is in the page to correct a skewed one).
(function () {
  "use strict";
  var stamp = document.querySelector("time[data-now]");
  var skew = stamp ? Date.parse(stamp.getAttribute("data-now")) - Date.now() : 0;
  if (isNaN(skew) || Math.abs(skew) < 2000) { skew = 0; }  // ignore the page's own render time

  function two(n) { return (n < 10 ? "0" : "") + n; }

  function format(ms) {
    var late = ms < 0, s = Math.floor(Math.abs(ms) / 1000);
    var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
    var text = (d ? d + "d " : "") + (d || h ? h + "h " : "") + two(m) + "m " + two(s % 60) + "s";
    return late ? "overdue " + text : text;
  }

  function tick() {
    var now = Date.now() + skew;
    document.querySelectorAll("time.countdown").forEach(function (el) {
      var left = Date.parse(el.getAttribute("data-until")) - now;
      el.textContent = format(left);
      el.classList.toggle("overdue", left < 0);
      el.classList.toggle("soon", left >= 0 && left < 3600 * 1000);
    });
  }
  tick();
  setInterval(tick, 1000);
})();
