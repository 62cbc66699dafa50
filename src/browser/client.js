// hotdev live reload: reloads the page when a new generation of the plugin serves, swaps
// a changed stylesheet in place (no reload), and shows the compiler's errors in an overlay
// while the build is broken.
(function () {
  "use strict";
  if (window.__hotdevClient) return;
  window.__hotdevClient = true;

  var OVERLAY_ID = "hotdev-overlay";
  var BANNER_ID = "hotdev-banner";
  // The generation that served this page (set inline by the server when it injects us).
  // The generation serving now, as the server last told.
  var servingGeneration = 0;
  var pageGeneration =
    typeof window.__hotdevGeneration === "number" ? window.__hotdevGeneration : null;

  function el(tag, style, text) {
    var node = document.createElement(tag);
    if (style) node.setAttribute("style", style);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function hideOverlay() {
    var old = document.getElementById(OVERLAY_ID);
    if (old) old.remove();
  }

  function showOverlay(title, failure) {
    hideOverlay();
    var overlay = el(
      "div",
      "position:fixed;inset:0;z-index:2147483647;overflow:auto;margin:0;padding:24px 32px;" +
        "background:#18181b;color:#f4f4f5;" +
        "font:14px/1.5 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;"
    );
    overlay.id = OVERLAY_ID;
    overlay.appendChild(el("h1", "margin:0 0 4px;font-size:20px;color:#f87171;", title));
    overlay.appendChild(
      el("p", "margin:0 0 16px;color:#a1a1aa;",
        (servingGeneration > 0
          ? "generation " + servingGeneration + " keeps serving"
          : "nothing serves until a build succeeds") +
          "; save a fix and this page reloads by itself")
    );
    var diagnostics = (failure && failure.diagnostics) || [];
    if (failure && (failure.errors || failure.warnings)) {
      var counts = [];
      if (failure.errors) counts.push(failure.errors + (failure.errors === 1 ? " error" : " errors"));
      if (failure.warnings) counts.push(failure.warnings + (failure.warnings === 1 ? " warning" : " warnings"));
      var summary = el("p", "margin:0 0 12px;font-weight:bold;", counts.join(", "));
      summary.setAttribute("data-hotdev", "counts");
      overlay.appendChild(summary);
    }
    var list = el("ul", "list-style:none;padding:0;margin:0 0 16px;");
    diagnostics.forEach(function (d) {
      var warning = d.level === "warning";
      var item = el("li", "margin:0 0 12px;");
      item.setAttribute("data-level", d.level || "error");
      if (d.file) {
        var at = d.file + (d.line ? ":" + d.line : "") + (d.column ? ":" + d.column : "");
        var place;
        if (d.path && d.line) {
          place = el("a", "color:#93c5fd;", at);
          place.href = "/__hotdev/source?file=" + encodeURIComponent(d.path) +
            "&line=" + d.line + "#L" + d.line;
          place.target = "_blank";
        } else {
          place = el("span", "color:#93c5fd;", at);
        }
        item.appendChild(place);
        item.appendChild(document.createTextNode(" "));
      }
      var head = (d.level || "error") + (d.code ? "[" + d.code + "]" : "") + ": ";
      item.appendChild(el("span", "font-weight:bold;color:" + (warning ? "#fbbf24" : "#f87171") + ";", head));
      item.appendChild(el("span", "", d.message));
      if (d.label) item.appendChild(el("div", "color:#a1a1aa;padding-left:2em;", d.label));
      list.appendChild(item);
    });
    overlay.appendChild(list);
    if (failure && failure.rendered) {
      overlay.appendChild(
        el("pre", "white-space:pre-wrap;margin:0;padding:12px;background:#09090b;" +
          "border-radius:6px;color:#e4e4e7;", failure.rendered)
      );
    }
    (document.body || document.documentElement).appendChild(overlay);
  }

  // A note about the generation serving (for example: its state was reset), until the
  // person closes it.
  function showNotice(notice) {
    if (!notice || notice.generation !== servingGeneration) return;
    var key = "hotdev-notice-" + notice.kind + "-" + notice.generation + "-" + notice.message;
    try { if (sessionStorage.getItem(key)) return; } catch (e) {}
    if (notice.kind === "crashed") {
      showCrash(notice, key);
      return;
    }
    if (document.getElementById(BANNER_ID)) return;
    var banner = el(
      "div",
      "position:fixed;left:0;right:0;top:0;z-index:2147483646;padding:8px 40px 8px 16px;" +
        "background:#fef3c7;color:#78350f;border-bottom:1px solid #f59e0b;" +
        "font:14px/1.4 system-ui,sans-serif;",
      "hotdev: " + notice.message
    );
    banner.id = BANNER_ID;
    banner.setAttribute("data-kind", notice.kind);
    var close = el(
      "button",
      "position:absolute;right:8px;top:4px;border:0;background:none;font-size:18px;" +
        "cursor:pointer;color:#78350f;",
      "\u00d7"
    );
    close.setAttribute("aria-label", "close");
    close.addEventListener("click", function () {
      banner.remove();
      try { sessionStorage.setItem(key, "1"); } catch (e) {}
    });
    banner.appendChild(close);
    (document.body || document.documentElement).appendChild(banner);
  }

  // The worker process serving the previous page died from a signal (a stack overflow, a
  // bad pointer, an abort): a full-page overlay says which, where and what serves now,
  // until the person closes it or a new generation goes live.
  function showCrash(notice, key) {
    if (document.getElementById(OVERLAY_ID)) return;
    showOverlay("the plugin crashed", {
      diagnostics: [{ level: "error", code: "HD063", message: notice.message }],
    });
    var overlay = document.getElementById(OVERLAY_ID);
    if (!overlay) return;
    overlay.setAttribute("data-kind", "crashed");
    var close = el(
      "button",
      "position:absolute;right:16px;top:12px;border:0;background:none;font-size:22px;" +
        "cursor:pointer;color:#f4f4f5;",
      "\u00d7"
    );
    close.setAttribute("aria-label", "close");
    close.addEventListener("click", function () {
      hideOverlay();
      try { sessionStorage.setItem(key, "1"); } catch (e) {}
    });
    overlay.appendChild(close);
  }

  function showStatus(status) {
    if (!status) return;
    servingGeneration = status.generation || 0;
    showNotice(status.notice);
    if (status.state === "failed") showOverlay("build failed", status.failure);
    else if (status.state === "rejected") showOverlay("reload rejected", status.failure);
  }

  function parse(data) {
    try { return JSON.parse(data); } catch (e) { return null; }
  }

  // A page loaded while the build is failing shows the overlay at once.
  fetch("/__hotdev/status", { cache: "no-store" })
    .then(function (r) { return r.json(); })
    .then(showStatus)
    .catch(function () {});

  // The decoded path of a same-origin URL, or null.
  function localPath(href) {
    try {
      var url = new URL(href, location.href);
      if (url.origin !== location.origin) return null;
      return decodeURIComponent(url.pathname);
    } catch (e) {
      return null;
    }
  }

  function stylesheetLinks() {
    var links = document.querySelectorAll('link[rel~="stylesheet" i]');
    return Array.prototype.filter.call(links, function (link) {
      return !link.__hotdevRetired;
    });
  }

  // Loads the stylesheet again under a cache-busting query in a new <link> right after
  // the old one, and removes the old one once the new one has loaded, so the page never
  // shows unstyled. If the new one fails (the file is mid-save), the old one stays.
  function swapStylesheet(old) {
    var url = new URL(old.href, location.href);
    url.searchParams.set("hotdev", Date.now().toString(36));
    var fresh = old.cloneNode(false);
    fresh.href = url.toString();
    old.__hotdevRetired = true;
    fresh.addEventListener("load", function () {
      if (old.parentNode) old.parentNode.removeChild(old);
    });
    fresh.addEventListener("error", function () {
      old.__hotdevRetired = false;
      if (fresh.parentNode) fresh.parentNode.removeChild(fresh);
    });
    old.parentNode.insertBefore(fresh, old.nextSibling);
  }

  // Static files changed: each changed stylesheet this page links is swapped in place;
  // any other file (a script, an image, a stylesheet the page does not link directly,
  // which may be @import-ed) reloads the page.
  function assetsChanged(urls) {
    var links = stylesheetLinks();
    var swaps = [];
    var reload = false;
    urls.forEach(function (url) {
      var linked = links.filter(function (link) { return localPath(link.href) === url; });
      if (/\.css$/i.test(url) && linked.length) swaps = swaps.concat(linked);
      else reload = true;
    });
    if (reload) {
      location.reload();
      return;
    }
    swaps.forEach(swapStylesheet);
  }

  var source = new EventSource("/__hotdev/events");
  source.addEventListener("hello", function (e) {
    // A reload that happened between serving this page and connecting (or while the
    // server restarted) is caught here.
    var hello = parse(e.data);
    if (hello) servingGeneration = hello.generation || 0;
    if (hello && pageGeneration !== null && hello.generation !== pageGeneration) {
      location.reload();
      return;
    }
    // A new worker after a crash: the page stays, the overlay says what happened.
    if (hello && hello.notice && hello.notice.kind === "crashed") showNotice(hello.notice);
  });
  source.addEventListener("reload", function () {
    hideOverlay();
    location.reload();
  });
  source.addEventListener("assets", function (e) {
    var data = parse(e.data);
    if (data && data.urls && data.urls.length) assetsChanged(data.urls);
  });
  source.addEventListener("build_failed", function (e) {
    showOverlay("build failed", parse(e.data));
  });
  source.addEventListener("rejected", function (e) {
    showOverlay("reload rejected", parse(e.data));
  });
})();
