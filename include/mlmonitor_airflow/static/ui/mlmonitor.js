/* mlmonitor dashboard: follow Airflow's theme, live inside Airflow's shell, show chart tooltips.
 * Loaded (blocking) in <head> so the theme is right before the first paint. No network, no inline code. */
(function () {
  "use strict";
  var root = document.documentElement;

  /* A page opened on its own (a Slack link, a bookmark) moves into Airflow's shell, where it is framed. */
  var shell = root.getAttribute("data-shell");
  if (shell && window.top === window) {
    window.location.replace(shell + window.location.search + window.location.hash);
    return;
  }

  function host() {
    try {
      if (window.parent !== window && window.parent.document) return window.parent.document;
    } catch (e) { /* another origin: not Airflow */ }
    return null;
  }

  function mode() {
    var h = host();
    if (h) {
      var c = h.documentElement.classList;
      if (c.contains("dark")) return "dark";
      if (c.contains("light")) return "light";
    }
    var stored = null;
    try { stored = window.localStorage.getItem("theme"); } catch (e) { /* storage blocked */ }
    if (stored === "dark" || stored === "light") return stored;
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }

  /* Airflow's semantic colours and font (Chakra UI v3 variables); undocumented, hence the CSS fallbacks. */
  var VARS = {
    "--bg": "--chakra-colors-bg",
    "--panel": "--chakra-colors-bg-panel",
    "--subtle": "--chakra-colors-bg-subtle",
    "--fg": "--chakra-colors-fg",
    "--muted": "--chakra-colors-fg-muted",
    "--border": "--chakra-colors-border",
    "--link": "--chakra-colors-fg-info",
    "--font": "--chakra-fonts-body"
  };

  function apply() {
    var m = mode();
    root.classList.toggle("dark", m === "dark");
    root.classList.toggle("light", m !== "dark");
    root.setAttribute("data-theme", m);
    var h = host();
    var style = h ? window.getComputedStyle(h.documentElement) : null;
    Object.keys(VARS).forEach(function (name) {
      var value = style ? style.getPropertyValue(VARS[name]).trim() : "";
      if (value) root.style.setProperty(name, value);
      else root.style.removeProperty(name);
    });
    document.querySelectorAll("iframe.docs[data-src]").forEach(function (frame) {
      /* Data Docs follow the theme too: the server renders GE's dark stylesheet always (dark) or never (light) */
      var themed = frame.getAttribute("data-src").replace("/auto/site/", "/" + m + "/site/");
      if (frame.getAttribute("src") !== themed) frame.setAttribute("src", themed);
    });
  }

  apply();
  var h = host();
  if (h && window.MutationObserver) {
    new MutationObserver(apply).observe(h.documentElement, { attributes: true, attributeFilter: ["class", "style"] });
  }
  window.addEventListener("storage", function (e) { if (e.key === "theme") apply(); });
  if (window.matchMedia) {
    var query = window.matchMedia("(prefers-color-scheme: dark)");
    if (query.addEventListener) query.addEventListener("change", apply);
  }

  document.addEventListener("DOMContentLoaded", function () {
    apply();  /* the docs frames exist now */
    var tip = document.getElementById("tip");
    var active = null;

    function show(target, x, y) {
      if (!tip) return;
      if (active && active !== target) active.classList.remove("on");
      active = target;
      target.classList.add("on");
      tip.textContent = target.getAttribute("data-tip");
      tip.hidden = false;
      var w = tip.offsetWidth, hgt = tip.offsetHeight;
      var left = Math.min(x + 14, window.innerWidth - w - 8);
      var top = y + 16 + hgt > window.innerHeight ? y - hgt - 12 : y + 16;
      tip.style.left = Math.max(left, 4) + "px";
      tip.style.top = Math.max(top, 4) + "px";
    }

    function hide() {
      if (active) active.classList.remove("on");
      active = null;
      if (tip) tip.hidden = true;
    }

    document.addEventListener("pointermove", function (e) {
      var target = e.target.closest ? e.target.closest("[data-tip]") : null;
      if (target) show(target, e.clientX, e.clientY);
      else if (e.pointerType === "mouse") hide();
    });
    document.addEventListener("pointerleave", hide);
    document.addEventListener("focusin", function (e) {
      var target = e.target.closest ? e.target.closest("[data-tip]") : null;
      if (target) {
        var r = target.getBoundingClientRect();
        show(target, r.left + r.width / 2, r.bottom);
      }
    });
    document.addEventListener("focusout", hide);
    window.addEventListener("scroll", hide, { passive: true });

    document.addEventListener("click", function (e) {
      var a = e.target.closest ? e.target.closest("a") : null;
      if (!a) {
        /* a tap on a chart shows its tooltip (no hover on touch screens) */
        var target = e.target.closest ? e.target.closest("[data-tip]") : null;
        if (target) show(target, e.clientX, e.clientY); else hide();
        return;
      }
      if (a.hasAttribute("data-refresh")) {
        e.preventDefault();
        window.location.reload();
        return;
      }
      /* Airflow pages open in Airflow itself: the framed page asks the host app to navigate */
      if (a.hasAttribute("data-airflow") && host() && !(e.ctrlKey || e.metaKey || e.shiftKey)) {
        try {
          var url = new URL(a.href, window.location.href);
          window.parent.history.pushState({}, "", url.pathname + url.search + url.hash);
          window.parent.dispatchEvent(new PopStateEvent("popstate"));
          e.preventDefault();
        } catch (err) { /* fall back to a plain navigation */ }
      }
    });
  });
})();
