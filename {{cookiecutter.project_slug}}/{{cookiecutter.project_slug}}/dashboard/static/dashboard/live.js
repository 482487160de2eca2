// Keep a page's live parts current: whatever a device pushes or a refresh reads shows up
// without a reload. Every few seconds, while the tab is visible, the page is fetched again and
// each element marked data-live (with an id) takes the content of its fresh copy. The rest of
// the page, a form being filled in or a command being followed, is left alone.
(function () {
  "use strict";
  const parts = document.querySelectorAll("[data-live][id]");
  if (!parts.length) return;
  const seconds = Number(document.currentScript.dataset.seconds) || 10;

  async function refresh() {
    if (document.hidden) return;
    let response;
    try {
      response = await fetch(location.href, { credentials: "same-origin" });
    } catch (error) {
      return; // the server is out of reach for now: the next round tries again
    }
    // Signed out meanwhile (a redirect to the sign-in page), or an error: keep what is shown.
    if (!response.ok || response.redirected) return;
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
    for (const part of parts) {
      const copy = fresh.getElementById(part.id);
      if (copy && copy.innerHTML !== part.innerHTML) part.innerHTML = copy.innerHTML;
    }
  }

  setInterval(refresh, seconds * 1000);
})();
