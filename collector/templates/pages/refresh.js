// Refreshes the page's content every minute without reloading it (focus and scroll stay):
// fetches the same address and swaps in its #innehall. Without JavaScript the page refreshes
// itself through <noscript><meta http-equiv="refresh">; both stop with ?uppdatera=nej.
(function () {
  document.documentElement.setAttribute("data-uppdatering", "skript");
  var region = document.getElementById("innehall");
  if (!region || !window.fetch || !window.DOMParser) return;
  window.setInterval(function () {
    window.fetch(window.location.href, { cache: "no-store", headers: { Accept: "text/html" } })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("innehall");
        if (fresh && fresh.innerHTML !== region.innerHTML) region.innerHTML = fresh.innerHTML;
      })
      .catch(function () { /* keep what is shown; the next round tries again */ });
  }, 60000);
})();
