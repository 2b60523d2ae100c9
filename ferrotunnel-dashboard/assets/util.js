// FerroTunnel Inspector: DOM helpers, formatting and the API client.
// Everything captured comes from strangers on the internet: it only ever reaches the page through
// textContent or attribute values set here (never innerHTML), and only http(s) URLs become links.
"use strict";

(function () {
  const FT = (window.FT = window.FT || {});
  const SVG_NS = "http://www.w3.org/2000/svg";

  // h("div.card.big", {title: "x", onclick: fn, dataset: {id: 1}}, child, "text", [more])
  function h(spec, attrs, ...children) {
    const parts = spec.split(".");
    const el = document.createElement(parts[0] || "div");
    if (parts.length > 1) el.className = parts.slice(1).join(" ");
    setAttrs(el, attrs);
    append(el, children);
    return el;
  }

  function svg(tag, attrs, ...children) {
    const el = document.createElementNS(SVG_NS, tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v === null || v === undefined || v === false) continue;
        if (k === "class") el.setAttribute("class", v);
        else if (k === "text") el.textContent = v;
        else el.setAttribute(k, String(v));
      }
    }
    append(el, children);
    return el;
  }

  function setAttrs(el, attrs) {
    if (!attrs) return;
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") el.textContent = v;
      else if (k === "class") el.className = v;
      else if (k === "dataset") Object.assign(el.dataset, v);
      else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
      else if (k === "href") setHref(el, v);
      else if (k === "hidden" || k === "disabled" || k === "checked" || k === "selected" || k === "readOnly" || k === "spellcheck") el[k] = !!v;
      else if (k === "value") el.value = v;
      else el.setAttribute(k, v === true ? "" : String(v));
    }
  }

  function append(el, children) {
    for (const c of children) {
      if (c === null || c === undefined || c === false) continue;
      if (Array.isArray(c)) append(el, c);
      else if (c instanceof Node) el.appendChild(c);
      else el.appendChild(document.createTextNode(String(c)));
    }
  }

  // Links inside the app (hash routes, relative API paths) are built by the app itself; any URL
  // that came from captured data must be http(s) to become a link.
  function setHref(el, url) {
    const s = String(url);
    if (s.startsWith("#") || /^api\//.test(s) || /^https?:\/\//i.test(s)) el.setAttribute("href", s);
  }

  function externalLink(url, text) {
    const a = h("a.ext", { text: text || url });
    if (/^https?:\/\//i.test(url || "")) {
      a.href = url;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
    }
    return a;
  }

  function clear(el) {
    while (el.firstChild) el.removeChild(el.firstChild);
    return el;
  }

  function icon(name, cls) {
    const paths = ICONS[name] || "";
    const el = svg("svg", { class: "icon" + (cls ? " " + cls : ""), viewBox: "0 0 24 24", "aria-hidden": "true" });
    for (const d of paths.split("|")) if (d) el.appendChild(svg("path", { d }));
    return el;
  }

  const ICONS = {
    replay: "M4 12a8 8 0 1 0 2.4-5.7|M4 4v4.5h4.5",
    edit: "M4 20h4L19 9l-4-4L4 16z|M13.5 6.5l4 4",
    copy: "M9 9h11v11H9z|M5 15H4V4h11v1",
    download: "M12 4v11|M7 10l5 5 5-5|M5 20h14",
    close: "M6 6l12 12|M18 6L6 18",
    external: "M14 4h6v6|M20 4l-9 9|M18 14v6H4V6h6",
    trash: "M4 7h16|M9 7V4h6v3|M6 7l1 13h10l1-13",
    arrowRight: "M5 12h14|M13 6l6 6-6 6",
    filter: "M4 5h16l-6 8v6l-4-2v-4z",
    inbox: "M3 13l3-8h12l3 8|M3 13v6h18v-6h-6l-1.5 2.5h-5L9 13z",
    plug: "M9 3v5|M15 3v5|M6 8h12v3a6 6 0 0 1-12 0z|M12 17v4",
    alert: "M12 3l10 18H2z|M12 10v5|M12 17.5v.5",
    check: "M5 12.5l4.5 4.5L19 7",
    search: "M10.5 4a6.5 6.5 0 1 0 0 13 6.5 6.5 0 0 0 0-13z|M20 20l-4.8-4.8",
  };

  // ---- formatting -------------------------------------------------------------------------------

  function fmtMs(ms) {
    if (ms === null || ms === undefined || !isFinite(ms)) return "—";
    if (ms < 1) return ms.toFixed(2) + " ms";
    if (ms < 10) return ms.toFixed(1) + " ms";
    if (ms < 1000) return Math.round(ms) + " ms";
    if (ms < 60000) return (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + " s";
    return Math.floor(ms / 60000) + "m " + Math.round((ms % 60000) / 1000) + "s";
  }

  function fmtBytes(n) {
    if (n === null || n === undefined || !isFinite(n)) return "—";
    if (n < 1024) return n + " B";
    const units = ["KiB", "MiB", "GiB", "TiB"];
    let v = n / 1024;
    let i = 0;
    while (v >= 1024 && i < units.length - 1) {
      v /= 1024;
      i++;
    }
    return (v < 10 ? v.toFixed(1) : Math.round(v)) + " " + units[i];
  }

  const nf = new Intl.NumberFormat();
  function fmtInt(n) {
    return n === null || n === undefined ? "—" : nf.format(n);
  }

  function pad(n, w) {
    return String(n).padStart(w || 2, "0");
  }

  function fmtClock(iso, withMs) {
    const d = new Date(iso);
    if (isNaN(d)) return "—";
    const s = pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
    return withMs ? s + "." + pad(d.getMilliseconds(), 3) : s;
  }

  function fmtDateTime(iso) {
    const d = new Date(iso);
    if (isNaN(d)) return String(iso);
    return d.toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" }) + " " + fmtClock(iso, true);
  }

  function fmtAgo(iso, now) {
    const t = Date.parse(iso);
    if (isNaN(t)) return "—";
    let s = Math.max(0, Math.round(((now || Date.now()) - t) / 1000));
    if (s < 5) return "just now";
    if (s < 60) return s + "s ago";
    const m = Math.floor(s / 60);
    if (m < 60) return m + "m ago";
    const hh = Math.floor(m / 60);
    if (hh < 24) return hh + "h " + (m % 60) + "m ago";
    const d = Math.floor(hh / 24);
    return d + "d " + (hh % 24) + "h ago";
  }

  function fmtSince(iso) {
    const t = Date.parse(iso);
    if (isNaN(t)) return "—";
    let s = Math.max(0, Math.round((Date.now() - t) / 1000));
    if (s < 60) return s + "s";
    const m = Math.floor(s / 60);
    if (m < 60) return m + "m";
    const hh = Math.floor(m / 60);
    if (hh < 24) return hh + "h " + (m % 60) + "m";
    return Math.floor(hh / 24) + "d " + (hh % 24) + "h";
  }

  function fmtPct(x) {
    if (x === null || x === undefined || !isFinite(x)) return "—";
    if (x === 0) return "0%";
    if (x < 0.001) return "<0.1%";
    return (x * 100).toFixed(x < 0.1 ? 1 : 0) + "%";
  }

  const REASONS = {
    100: "Continue", 101: "Switching Protocols", 200: "OK", 201: "Created", 202: "Accepted", 204: "No Content",
    206: "Partial Content", 301: "Moved Permanently", 302: "Found", 303: "See Other", 304: "Not Modified",
    307: "Temporary Redirect", 308: "Permanent Redirect", 400: "Bad Request", 401: "Unauthorized",
    403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout", 409: "Conflict",
    413: "Payload Too Large", 415: "Unsupported Media Type", 422: "Unprocessable Content", 429: "Too Many Requests",
    500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable",
    504: "Gateway Timeout",
  };

  // The status cell/pill of an exchange summary: [class, short text, long text].
  function statusInfo(x) {
    if (x.outcome === "in_flight") return ["st-pending", "···", "In flight"];
    if (x.outcome === "error") return ["st-error", "ERR", x.error ? "Error: " + x.error : "Error"];
    const s = x.status;
    if (s === null || s === undefined) return ["st-none", "—", "No status"];
    const cls = s >= 500 ? "st-5xx" : s >= 400 ? "st-4xx" : s >= 300 ? "st-3xx" : s >= 200 ? "st-2xx" : "st-1xx";
    const long = s + (REASONS[s] ? " " + REASONS[s] : "") + (x.outcome === "visitor_gone" ? " · visitor gone" : "");
    return [cls, String(s), long];
  }

  function methodClass(m) {
    const k = String(m || "").toUpperCase();
    return ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"].includes(k) ? "m-" + k.toLowerCase() : "m-other";
  }

  // ---- API --------------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, text) {
      super(text || "HTTP " + status);
      this.status = status;
    }
  }

  // Relative URLs only: the dashboard may be mounted under any prefix.
  async function api(path, opts) {
    let res;
    try {
      res = await fetch(path, Object.assign({ headers: { accept: "application/json" }, cache: "no-store" }, opts || {}));
    } catch (e) {
      throw new ApiError(0, "The inspector is unreachable (" + (e && e.message ? e.message : "network error") + ").");
    }
    if (!res.ok) {
      let text = "";
      try {
        text = (await res.text()).trim();
      } catch (_) {
        /* ignore */
      }
      throw new ApiError(res.status, text || res.status + " " + (REASONS[res.status] || res.statusText || "error"));
    }
    if (res.status === 204) return null;
    const ct = res.headers.get("content-type") || "";
    return ct.includes("json") ? res.json() : res.text();
  }

  function query(params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== "") q.set(k, String(v));
    const s = q.toString();
    return s ? "?" + s : "";
  }

  // ---- clipboard, toasts ------------------------------------------------------------------------

  async function copyText(text) {
    try {
      if (navigator.clipboard && window.isSecureContext) {
        await navigator.clipboard.writeText(text);
        return true;
      }
    } catch (_) {
      /* fall back */
    }
    const ta = h("textarea.offscreen", { readonly: "true", "aria-hidden": "true" });
    ta.value = text;
    document.body.appendChild(ta);
    ta.select();
    let ok = false;
    try {
      ok = document.execCommand("copy");
    } catch (_) {
      ok = false;
    }
    ta.remove();
    return ok;
  }

  function toast(text, kind, ms) {
    const box = document.getElementById("toasts");
    if (!box) return;
    const t = h("div.toast" + (kind ? ".toast-" + kind : ""), { role: kind === "error" ? "alert" : "status" },
      icon(kind === "error" ? "alert" : "check"), h("span", { text }));
    box.appendChild(t);
    setTimeout(() => t.classList.add("toast-out"), ms || 3200);
    setTimeout(() => t.remove(), (ms || 3200) + 400);
  }

  function debounce(fn, ms) {
    let t = 0;
    return function (...args) {
      clearTimeout(t);
      t = setTimeout(() => fn.apply(this, args), ms);
    };
  }

  Object.assign(FT, {
    h, svg, clear, icon, externalLink, setHref,
    fmtMs, fmtBytes, fmtInt, fmtClock, fmtDateTime, fmtAgo, fmtSince, fmtPct, statusInfo, methodClass, REASONS,
    api, ApiError, query, copyText, toast, debounce,
  });
})();
