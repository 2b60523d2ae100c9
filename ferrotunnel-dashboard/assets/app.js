// FerroTunnel Inspector: the app (hash router, live event stream, overview, requests, request
// view with replay, tunnels). All URLs are relative, so the inspector works under any prefix.
"use strict";

(function () {
  const FT = window.FT;
  const { h, svg, clear, icon, externalLink, api, query, toast } = FT;
  const { fmtMs, fmtBytes, fmtInt, fmtClock, fmtDateTime, fmtAgo, fmtSince, fmtPct, statusInfo, methodClass } = FT;

  const MAX_ROWS = 1000;
  const PAGE = 100;
  const TUNNEL_POLL_MS = 5000;
  const SERIES_SECONDS = 600;

  // ---- state ------------------------------------------------------------------------------------

  const S = {
    route: { view: "overview" },
    tunnels: new Map(), // name -> TunnelSummary
    tunnelsLoaded: false,
    series: [], // [{t: ms, requests, errors}], one a second, oldest first
    inFlight: null,
    liveTunnels: null,
    range: 600, // chart range in seconds
    filters: { tunnel: "", status: "", method: "", path: "", min_ms: "" },
    unseen: 0,
    live: "connecting",
  };

  // ---- small bits -------------------------------------------------------------------------------

  function navigate(hash, replace) {
    if (location.hash === hash) return;
    if (replace) {
      // Keyboard moves through rows without piling up history entries (and without the cost
      // of a navigation): replace the entry and render.
      history.replaceState(history.state, "", hash);
      render();
    } else location.hash = hash;
  }

  function emptyState(iconName, title, text, extra) {
    return h("div.empty", {}, h("div.empty-icon", {}, icon(iconName)), h("div.empty-title", { text: title }),
      text ? h("div.empty-text", {}, text) : null, extra || null);
  }

  function methodBadge(m) {
    return h("span.method." + methodClass(m), { text: String(m || "?").toUpperCase() });
  }

  function statusBadge(x, long) {
    const [cls, short, full] = statusInfo(x);
    return h("span.status." + cls, { text: long ? full : short, title: full });
  }

  function chip(text, cls) {
    return h("span.chip" + (cls ? "." + cls : ""), { text });
  }

  function ago(iso) {
    return h("span.ago", { text: fmtAgo(iso), title: fmtDateTime(iso), dataset: { ago: iso } });
  }

  function since(iso) {
    return h("span.ago", { text: fmtSince(iso), title: "Connected " + fmtDateTime(iso), dataset: { since: iso } });
  }

  function tickTimes() {
    for (const el of document.querySelectorAll("[data-ago]")) el.textContent = fmtAgo(el.dataset.ago);
    for (const el of document.querySelectorAll("[data-since]")) el.textContent = fmtSince(el.dataset.since);
  }

  function fullUrl(x) {
    const t = x.tunnel ? S.tunnels.get(x.tunnel) : null;
    const scheme = t && /^https:/i.test(t.public_url) ? "https" : "http";
    return scheme + "://" + (x.host || "") + (x.uri || "");
  }

  function cmdHint() {
    return h("code.cmd", { text: "ferrotunnel client --server tcp://HOST:7835 --token … --local 127.0.0.1:3000 --subdomain app" });
  }

  function firstPublicUrl() {
    for (const t of S.tunnels.values()) if (t.public_url) return t.public_url;
    return null;
  }

  // ---- status filter (the same grammar as the server: 404, 4xx, 500-599) --------------------------

  function parseStatusFilter(s) {
    s = s.trim().toLowerCase();
    if (!s) return null;
    let m;
    if ((m = /^([1-5])xx$/.exec(s))) return { lo: +m[1] * 100, hi: +m[1] * 100 + 99 };
    if ((m = /^(\d{3})$/.exec(s))) return { lo: +m[1], hi: +m[1] };
    if ((m = /^(\d{3})-(\d{3})$/.exec(s)) && +m[1] <= +m[2]) return { lo: +m[1], hi: +m[2] };
    return undefined;
  }

  function filterQuery(f) {
    return {
      tunnel: f.tunnel,
      status: f.status.trim(),
      method: f.method.trim().toUpperCase(),
      path: f.path,
      min_ms: f.min_ms === "" ? "" : String(f.min_ms).trim(),
    };
  }

  function matchesFilters(x, f) {
    if (f.tunnel && x.tunnel !== f.tunnel) return false;
    if (f.method && String(x.method).toUpperCase() !== f.method.trim().toUpperCase()) return false;
    if (f.path && !String(x.uri || "").includes(f.path)) return false;
    if (f.status.trim()) {
      const sf = parseStatusFilter(f.status);
      if (!sf || x.status === null || x.status === undefined || x.status < sf.lo || x.status > sf.hi) return false;
    }
    if (String(f.min_ms).trim() !== "") {
      const min = Number(f.min_ms);
      if (x.duration_ms === null || x.duration_ms === undefined || x.duration_ms < min) return false;
    }
    return true;
  }

  function filtersActive(f) {
    return !!(f.tunnel || f.status.trim() || f.method.trim() || f.path || String(f.min_ms).trim());
  }

  // ---- the request table (requests page, overview, tunnel detail) -------------------------------

  const COLS = {
    method: "Method", path: "Path", status: "Status", duration: "Duration", size: "Size", tunnel: "Tunnel", time: "Time",
  };

  class RequestTable {
    constructor(opts) {
      this.opts = Object.assign({ max: MAX_ROWS, columns: Object.keys(COLS), id: null, layout: "full" }, opts);
      this.rows = new Map(); // id -> row
      this.selected = null;
      this.trimmed = false;
      // A list of grid rows rather than a <table>: rows off screen skip layout and paint
      // (content-visibility), which keeps a list of 1000 live rows fast.
      this.tbody = h("ul.rl-body", { id: this.opts.id, "aria-label": "Requests" });
      const head = h("div.rl-head", { "aria-hidden": "true" }, this.opts.columns.map((c) => h("div.cell.c-" + c, { text: COLS[c] })));
      this.table = h("div.rlist.rl-" + this.opts.layout, {}, head, this.tbody);
      this.tbody.addEventListener("click", (e) => {
        const tr = e.target.closest("[data-exchange-id]");
        if (tr && !e.target.closest("a")) navigate("#/requests/" + tr.dataset.exchangeId);
      });
    }

    get size() {
      return this.rows.size;
    }

    makeRow(x) {
      const tr = h("li.req-row", { dataset: { exchangeId: String(x.id) }, title: x.method + " " + x.uri });
      if (x.outcome === "in_flight") tr.classList.add("is-pending");
      for (const c of this.opts.columns) {
        let td;
        if (c === "method") td = h("div.cell.c-method", {}, methodBadge(x.method));
        else if (c === "path") {
          td = h("div.cell.c-path", {}, h("span.path", { text: x.uri || "" }));
          if (x.replay_of !== null && x.replay_of !== undefined) {
            td.appendChild(h("span.tag-replay", { title: "Replay of #" + x.replay_of }, icon("replay"), "replay"));
          }
        } else if (c === "status") td = h("div.cell.c-status", {}, statusBadge(x));
        else if (c === "duration") td = h("div.cell.c-duration.num", { text: x.outcome === "in_flight" ? "…" : fmtMs(x.duration_ms) });
        else if (c === "size") td = h("div.cell.c-size.num", { text: x.outcome === "in_flight" && !x.response_bytes ? "…" : fmtBytes(x.response_bytes) });
        else if (c === "tunnel") td = h("div.cell.c-tunnel", { text: x.tunnel || "—" });
        else if (c === "time") td = h("div.cell.c-time.num", { text: fmtClock(x.started_at), title: fmtDateTime(x.started_at) });
        tr.appendChild(td);
      }
      if (this.selected === x.id) tr.classList.add("selected");
      return tr;
    }

    set(items) {
      this.rows.clear();
      this.trimmed = false;
      const frag = document.createDocumentFragment();
      for (const x of items.slice(0, this.opts.max)) {
        const tr = this.makeRow(x);
        this.rows.set(x.id, tr);
        frag.appendChild(tr);
      }
      if (items.length > this.opts.max) this.trimmed = true;
      clear(this.tbody).appendChild(frag);
    }

    append(items) {
      const frag = document.createDocumentFragment();
      for (const x of items) {
        if (this.rows.size >= this.opts.max) {
          this.trimmed = true;
          break;
        }
        if (this.rows.has(x.id)) continue;
        const tr = this.makeRow(x);
        this.rows.set(x.id, tr);
        frag.appendChild(tr);
      }
      this.tbody.appendChild(frag);
    }

    // Update a row in place, or insert it in id order (newest first). Returns true if shown.
    upsert(x, flash) {
      const old = this.rows.get(x.id);
      if (old) {
        const tr = this.makeRow(x);
        old.replaceWith(tr);
        this.rows.set(x.id, tr);
        return true;
      }
      let before = null;
      for (let tr = this.tbody.firstElementChild; tr; tr = tr.nextElementSibling) {
        if (+tr.dataset.exchangeId < x.id) {
          before = tr;
          break;
        }
      }
      if (!before && this.rows.size >= this.opts.max) return false;
      const tr = this.makeRow(x);
      if (flash) tr.classList.add("row-new");
      this.tbody.insertBefore(tr, before);
      this.rows.set(x.id, tr);
      while (this.rows.size > this.opts.max) {
        const last = this.tbody.lastElementChild;
        this.rows.delete(+last.dataset.exchangeId);
        last.remove();
        this.trimmed = true;
      }
      return true;
    }

    remove(id) {
      const tr = this.rows.get(id);
      if (tr) {
        tr.remove();
        this.rows.delete(id);
      }
    }

    has(id) {
      return this.rows.has(id);
    }

    lastId() {
      const last = this.tbody.lastElementChild;
      return last ? +last.dataset.exchangeId : null;
    }

    select(id) {
      if (this.selected !== null && this.rows.get(this.selected)) this.rows.get(this.selected).classList.remove("selected");
      this.selected = id;
      const tr = id !== null ? this.rows.get(id) : null;
      if (tr) {
        tr.classList.add("selected");
        tr.scrollIntoView({ block: "nearest" });
      }
    }

    // The id next to the selected one (+1 older, -1 newer).
    neighbour(step) {
      const cur = this.selected !== null ? this.rows.get(this.selected) : null;
      let tr;
      if (!cur) tr = this.tbody.firstElementChild;
      else tr = step > 0 ? cur.nextElementSibling : cur.previousElementSibling;
      return tr ? +tr.dataset.exchangeId : null;
    }
  }

  // ---- live event stream ------------------------------------------------------------------------

  let es = null;
  let retry = 1000;
  let hadError = false;

  function setLive(state) {
    S.live = state;
    const el = document.getElementById("live-status");
    el.dataset.state = state;
    el.querySelector(".live-text").textContent =
      { live: "Live", connecting: "Connecting…", reconnecting: "Reconnecting…", offline: "Offline · retrying" }[state];
    el.title = {
      live: "Receiving live events",
      connecting: "Opening the live event stream",
      reconnecting: "The live event stream dropped; reconnecting",
      offline: "The inspector is unreachable; retrying",
    }[state];
  }

  function connect() {
    if (es) es.close();
    setLive(hadError ? "reconnecting" : "connecting");
    es = new EventSource("api/events");
    es.addEventListener("open", () => {
      setLive("live");
      retry = 1000;
      if (hadError) {
        hadError = false;
        resync();
      }
    });
    es.addEventListener("error", () => {
      hadError = true;
      if (es.readyState === EventSource.CLOSED) {
        setLive("offline");
        setTimeout(connect, retry);
        retry = Math.min(retry * 2, 15000);
      } else setLive("reconnecting");
    });
    const on = (name, fn) =>
      es.addEventListener(name, (e) => {
        let data;
        try {
          data = JSON.parse(e.data);
        } catch (_) {
          return;
        }
        fn(data);
      });
    on("exchange_started", (x) => onExchange(x, false));
    on("exchange_finished", (x) => onExchange(x, true));
    on("tunnel_up", (t) => {
      S.tunnels.set(t.name, t);
      onTunnelsChanged();
    });
    on("tunnel_down", (d) => {
      if (S.tunnels.delete(d.name)) toast("Tunnel “" + d.name + "” disconnected", "warn");
      onTunnelsChanged();
    });
    on("stats", onStats);
    on("lagged", (d) => {
      Requests.reload("The live stream fell behind (" + fmtInt(d.missed) + " events missed); the list was reloaded.");
      Overview.reloadRecent();
      Tunnels.reloadRecent();
    });
  }

  // After a reconnect, events may have been missed: reload what the page shows.
  function resync() {
    loadStats();
    refreshTunnels();
    Requests.reload(null);
    Overview.reloadRecent();
    Tunnels.reloadRecent();
  }

  // Ids already told of. An exchange that starts and ends within one batch of the stream
  // comes as its finish only, so "new" means "first seen", whichever event that is.
  const seenIds = new Set();
  function firstSight(id) {
    if (seenIds.has(id)) return false;
    seenIds.add(id);
    if (seenIds.size > 4096) {
      let n = 1024;
      for (const old of seenIds) {
        if (n-- === 0) break;
        seenIds.delete(old);
      }
    }
    return true;
  }

  function onExchange(x, finished) {
    const started = firstSight(x.id);
    if (started && S.route.view !== "requests") {
      S.unseen++;
      const c = document.getElementById("nav-requests-count");
      c.textContent = S.unseen > 99 ? "99+" : String(S.unseen);
      c.hidden = false;
    }
    Requests.onExchange(x, started, finished);
    Overview.onExchange(x, started);
    Tunnels.onExchange(x, started);
  }

  function onStats(p) {
    const t = Date.parse(p.t);
    if (!isNaN(t)) {
      const last = S.series[S.series.length - 1];
      const point = { t, requests: p.requests || 0, errors: p.errors || 0 };
      if (last && last.t === t) S.series[S.series.length - 1] = point;
      else if (!last || last.t < t) S.series.push(point);
      const cutoff = t - SERIES_SECONDS * 1000;
      while (S.series.length && S.series[0].t <= cutoff) S.series.shift();
    }
    if (p.in_flight !== undefined) S.inFlight = p.in_flight;
    if (p.tunnels !== undefined) S.liveTunnels = p.tunnels;
    Overview.onStats();
  }

  async function loadStats() {
    try {
      const st = await api("api/stats");
      S.series = (st.series || []).map((p) => ({ t: Date.parse(p.t), requests: p.requests || 0, errors: p.errors || 0 }))
        .filter((p) => !isNaN(p.t));
      S.inFlight = st.in_flight;
      S.liveTunnels = st.tunnels;
      Overview.onStats();
    } catch (e) {
      Overview.statsError(e);
    }
  }

  async function refreshTunnels() {
    try {
      const list = await api("api/tunnels");
      S.tunnels = new Map(list.map((t) => [t.name, t]));
      S.tunnelsLoaded = true;
      S.tunnelsError = null;
    } catch (e) {
      S.tunnelsError = e;
    }
    onTunnelsChanged();
  }

  function onTunnelsChanged() {
    const c = document.getElementById("nav-tunnels-count");
    c.textContent = String(S.tunnels.size);
    c.hidden = !S.tunnelsLoaded;
    Overview.onTunnels();
    Requests.onTunnels();
    Tunnels.onTunnels();
  }

  // ---- Overview ---------------------------------------------------------------------------------

  const Overview = {
    built: false,
    build() {
      const el = document.getElementById("view-overview");
      this.cards = {};
      const card = (key, label, hint) => {
        const value = h("div.stat-value", { text: "—" });
        const sub = h("div.stat-sub", { text: hint || "" });
        this.cards[key] = { value, sub };
        return h("div.stat-card", { dataset: { stat: key } }, h("div.stat-label", { text: label }), value, sub);
      };
      this.rangeSeg = h("div.seg.seg-sm", { role: "tablist", "aria-label": "Chart range" });
      for (const [s, label] of [[60, "1m"], [300, "5m"], [600, "10m"]]) {
        const b = h("button.seg-btn", { type: "button", text: label, "aria-selected": String(S.range === s), role: "tab" });
        b.addEventListener("click", () => {
          S.range = s;
          for (const x of this.rangeSeg.children) x.setAttribute("aria-selected", String(x === b));
          this.drawCharts();
        });
        this.rangeSeg.appendChild(b);
      }
      this.reqChart = { box: h("div.chart"), now: h("div.chart-now"), total: h("div.chart-total") };
      this.errChart = { box: h("div.chart"), now: h("div.chart-now"), total: h("div.chart-total") };
      const chartCard = (title, c, extra) =>
        h("div.card.chart-card", {},
          h("div.card-head", {}, h("div", {}, h("div.card-title", { text: title }), c.total), h("div.card-head-right", {}, c.now, extra || null)),
          c.box);
      this.tunnelList = h("div.tunnel-list");
      this.recent = new RequestTable({ max: 8, layout: "overview", columns: ["method", "path", "status", "duration", "tunnel", "time"] });
      this.recentEmpty = h("div");
      this.recentWrap = h("div.table-wrap", {}, this.recent.table);
      el.append(
        h("div.page-head", {},
          h("div", {}, h("h1", { text: "Overview" }), h("p.page-sub", { text: "Live traffic through your tunnels, as it happens." })),
          this.rangeSeg),
        h("div.stat-grid", {},
          card("tunnels", "Active tunnels"),
          card("rpm", "Requests / min"),
          card("errors", "Error rate"),
          card("inflight", "In flight"),
          card("p50", "Latency p50"),
          card("p99", "Latency p99")),
        h("div.grid-2", {},
          chartCard("Request rate", this.reqChart),
          chartCard("Error rate", this.errChart)),
        h("div.grid-2.grid-uneven", {},
          h("div.card", {},
            h("div.card-head", {}, h("div.card-title", { text: "Active tunnels" }), h("a.card-link", { href: "#/tunnels" }, "All tunnels", icon("arrowRight"))),
            this.tunnelList),
          h("div.card", {},
            h("div.card-head", {}, h("div.card-title", { text: "Recent requests" }), h("a.card-link", { href: "#/requests" }, "All requests", icon("arrowRight"))),
            this.recentWrap, this.recentEmpty)));
      new ResizeObserver(() => this.drawCharts()).observe(this.reqChart.box);
      this.built = true;
      this.onTunnels();
      this.onStats();
      this.reloadRecent();
    },
    enter() {
      if (!this.built) this.build();
      this.drawCharts();
    },
    async reloadRecent() {
      if (!this.built) return;
      try {
        const r = await api("api/requests" + query({ limit: 8 }));
        this.recent.set(r.items || []);
        this.recentError = null;
      } catch (e) {
        this.recentError = e;
      }
      this.updateRecentEmpty();
    },
    updateRecentEmpty() {
      clear(this.recentEmpty);
      this.recentWrap.hidden = this.recent.size === 0;
      if (this.recentError) {
        this.recentEmpty.appendChild(h("div.note.note-error.note-inset", {}, icon("alert"), h("span", { text: this.recentError.message })));
      } else if (this.recent.size === 0) {
        const url = firstPublicUrl();
        this.recentEmpty.appendChild(emptyState("inbox", "No requests yet",
          url ? ["Send one to your tunnel’s public URL, e.g. ", h("code", { text: "curl " + url + "/" })]
            : "Send one to your tunnel’s public URL and it shows up here instantly."));
      }
    },
    onExchange(x, started) {
      if (!this.built) return;
      if (this.recent.has(x.id) || started) {
        this.recent.upsert(x, started);
        this.updateRecentEmpty();
      }
    },
    onTunnels() {
      if (!this.built) return;
      clear(this.tunnelList);
      if (S.tunnelsError && !S.tunnelsLoaded) {
        this.tunnelList.appendChild(h("div.note.note-error.note-inset", {}, icon("alert"), h("span", { text: S.tunnelsError.message })));
      } else if (S.tunnelsLoaded && S.tunnels.size === 0) {
        this.tunnelList.appendChild(emptyState("plug", "No tunnels are live", ["Start a client, for example", h("br"), cmdHint()]));
      }
      for (const t of S.tunnels.values()) {
        this.tunnelList.appendChild(
          h("div.tunnel-item", {},
            h("div.tunnel-item-main", {},
              h("div.tunnel-item-name", {}, h("span.dot-live", { "aria-hidden": "true" }), h("a", { href: "#/tunnels/" + encodeURIComponent(t.name), text: t.name }),
                chip(t.transport || "?", "chip-transport")),
              h("div.tunnel-item-url", {}, externalLink(t.public_url))),
            h("div.tunnel-item-stats", {},
              h("div", {}, h("span.kv-v", { text: fmtInt(t.requests) }), h("span.kv-k", { text: "requests" })),
              h("div", {}, h("span.kv-v", { text: fmtMs(t.p50_ms) }), h("span.kv-k", { text: "p50" })))));
      }
      this.updateCards();
      this.updateRecentEmpty();
    },
    statsError(e) {
      if (!this.built) return;
      this.statsErr = e;
      this.drawCharts();
    },
    onStats() {
      if (!this.built) return;
      this.statsErr = null;
      this.updateCards();
      if (S.route.view === "overview") this.scheduleDraw();
    },
    scheduleDraw() {
      if (this.drawPending) return;
      this.drawPending = true;
      requestAnimationFrame(() => {
        this.drawPending = false;
        this.drawCharts();
      });
    },
    sumLast(seconds, key) {
      if (!S.series.length) return 0;
      const end = S.series[S.series.length - 1].t;
      let n = 0;
      for (let i = S.series.length - 1; i >= 0 && S.series[i].t > end - seconds * 1000; i--) n += S.series[i][key];
      return n;
    },
    updateCards() {
      const c = this.cards;
      const tunnels = S.liveTunnels !== null ? S.liveTunnels : S.tunnelsLoaded ? S.tunnels.size : null;
      c.tunnels.value.textContent = tunnels === null ? "—" : fmtInt(tunnels);
      const transports = [...new Set([...S.tunnels.values()].map((t) => t.transport))].filter(Boolean);
      c.tunnels.sub.textContent = S.tunnels.size ? [...S.tunnels.keys()].slice(0, 4).join(", ") + (S.tunnels.size > 4 ? ", …" : "") : "none connected";
      if (transports.length) c.tunnels.sub.title = "Transports: " + transports.join(", ");

      const rpm = this.sumLast(60, "requests");
      c.rpm.value.textContent = S.series.length ? fmtInt(rpm) : "—";
      c.rpm.sub.textContent = fmtInt(this.sumLast(600, "requests")) + " in the last 10 min";

      const r5 = this.sumLast(300, "requests");
      const e5 = this.sumLast(300, "errors");
      const rate = r5 ? e5 / r5 : 0;
      c.errors.value.textContent = S.series.length ? fmtPct(rate) : "—";
      c.errors.value.classList.toggle("bad", rate >= 0.05);
      c.errors.value.classList.toggle("warn", rate > 0 && rate < 0.05);
      c.errors.sub.textContent = fmtInt(e5) + " of " + fmtInt(r5) + " in 5 min";
      c.errors.sub.title = "Errors are 5xx responses and failed exchanges";

      c.inflight.value.textContent = S.inFlight === null ? "—" : fmtInt(S.inFlight);
      c.inflight.sub.textContent = "awaiting a response";

      let weighted = 0;
      let weight = 0;
      let p99 = null;
      let p99name = null;
      for (const t of S.tunnels.values()) {
        if (t.p50_ms !== null && t.p50_ms !== undefined) {
          const w = Math.max(1, t.requests || 0);
          weighted += t.p50_ms * w;
          weight += w;
        }
        if (t.p99_ms !== null && t.p99_ms !== undefined && (p99 === null || t.p99_ms > p99)) {
          p99 = t.p99_ms;
          p99name = t.name;
        }
      }
      c.p50.value.textContent = weight ? fmtMs(weighted / weight) : "—";
      c.p50.sub.textContent = weight ? "weighted across tunnels" : "no finished requests yet";
      c.p99.value.textContent = p99 === null ? "—" : fmtMs(p99);
      c.p99.sub.textContent = p99name ? "slowest tunnel: " + p99name : "no finished requests yet";
    },
    drawCharts() {
      if (!this.built || S.route.view !== "overview") return;
      const bucket = S.range <= 60 ? 1 : S.range <= 300 ? 3 : 5;
      const unitName = bucket === 1 ? "per second" : "per second, " + bucket + " s average";
      const req = drawChart(this.reqChart.box, "requests", bucket, "req/s", "chart-req", this.statsErr);
      const err = drawChart(this.errChart.box, "errors", bucket, "err/s", "chart-err", this.statsErr);
      const rangeLabel = S.range === 60 ? "1 min" : S.range / 60 + " min";
      this.reqChart.total.textContent = fmtInt(req.total) + " requests in " + rangeLabel + " · " + unitName;
      this.errChart.total.textContent = fmtInt(err.total) + " errors in " + rangeLabel + (req.total ? " · " + fmtPct(err.total / req.total) + " of requests" : "");
      const recent = (key) => this.sumLast(10, key) / 10;
      this.reqChart.now.textContent = fmtRate(recent("requests")) + " req/s";
      this.errChart.now.textContent = fmtRate(recent("errors")) + " err/s";
      this.errChart.now.classList.toggle("bad", recent("errors") > 0);
    },
  };

  function setText(el, text) {
    if (el.textContent !== text) el.textContent = text;
  }

  function setHidden(el, hidden) {
    if (el.hidden !== hidden) el.hidden = hidden;
  }

  function plural(n, word) {
    return fmtInt(n) + " " + word + (n === 1 ? "" : "s");
  }

  function fmtRate(v) {
    return v === 0 ? "0" : v < 10 ? v.toFixed(1) : String(Math.round(v));
  }

  // A y-axis top whose quarters are round numbers.
  function niceMax(v) {
    if (v <= 1) return 1;
    const q = v / 4;
    const p = Math.pow(10, Math.floor(Math.log10(q)));
    for (const m of [1, 2, 5, 10]) if (m * p >= q) return 4 * m * p;
    return 40 * p;
  }

  function fmtAxis(v) {
    return String(Math.round(v * 100) / 100);
  }

  // Draws one series of S.series into box as an SVG area chart, with a hover read-out.
  function drawChart(box, key, bucketS, unit, cls, err) {
    clear(box);
    const W = Math.max(200, box.clientWidth || 600);
    const H = 190;
    const padL = 40, padR = 12, padT = 12, padB = 24;
    const end = S.series.length ? S.series[S.series.length - 1].t : Date.now();
    const start = end - S.range * 1000;
    const buckets = new Map();
    let total = 0;
    for (const p of S.series) {
      if (p.t <= start) continue;
      const b = Math.floor((p.t - start - 1) / (bucketS * 1000));
      buckets.set(b, (buckets.get(b) || 0) + p[key]);
      total += p[key];
    }
    const n = Math.ceil(S.range / bucketS);
    const pts = [];
    for (let b = 0; b < n; b++) {
      const t = start + (b + 1) * bucketS * 1000;
      pts.push({ t, v: (buckets.get(b) || 0) / bucketS, has: buckets.has(b) });
    }
    const maxV = niceMax(Math.max(0, ...pts.map((p) => p.v)) * 1.1);
    const x = (i) => padL + (i / Math.max(1, n - 1)) * (W - padL - padR);
    const y = (v) => padT + (1 - v / maxV) * (H - padT - padB);
    const root = svg("svg", { class: "chart-svg " + cls, width: W, height: H, viewBox: "0 0 " + W + " " + H, role: "img",
      "aria-label": key + " per second over the last " + S.range / 60 + " minutes" });
    for (let g = 0; g <= 4; g++) {
      const v = (maxV * g) / 4;
      root.appendChild(svg("line", { class: "grid", x1: padL, x2: W - padR, y1: y(v), y2: y(v) }));
      root.appendChild(svg("text", { class: "axis", x: padL - 8, y: y(v) + 4, "text-anchor": "end", text: fmtAxis(v) }));
    }
    const ticks = S.range === 60 ? [60, 45, 30, 15, 0] : S.range === 300 ? [300, 240, 180, 120, 60, 0] : [600, 480, 360, 240, 120, 0];
    for (const s of ticks) {
      const i = ((S.range - s) / S.range) * (n - 1);
      const label = s === 0 ? "now" : s >= 60 ? "−" + s / 60 + "m" : "−" + s + "s";
      root.appendChild(svg("text", { class: "axis", x: x(i), y: H - 6, "text-anchor": s === S.range ? "start" : s === 0 ? "end" : "middle", text: label }));
    }
    if (S.series.length) {
      let line = "";
      pts.forEach((p, i) => (line += (i ? "L" : "M") + x(i).toFixed(1) + " " + y(p.v).toFixed(1)));
      const area = line + "L" + x(n - 1).toFixed(1) + " " + y(0) + "L" + x(0).toFixed(1) + " " + y(0) + "Z";
      root.appendChild(svg("path", { class: "area", d: area }));
      root.appendChild(svg("path", { class: "line", d: line }));
    }
    const cursor = svg("line", { class: "cursor", y1: padT, y2: H - padB, x1: 0, x2: 0, visibility: "hidden" });
    const dot = svg("circle", { class: "cursor-dot", r: 3.5, cx: 0, cy: 0, visibility: "hidden" });
    root.append(cursor, dot);
    const hit = svg("rect", { class: "hit", x: padL, y: 0, width: W - padL - padR, height: H });
    root.appendChild(hit);
    box.appendChild(root);
    const tip = h("div.chart-tip", { hidden: true });
    box.appendChild(tip);
    if (!S.series.length) {
      box.appendChild(h("div.chart-empty", { text: err ? "Statistics unavailable: " + err.message : "Waiting for data…" }));
    }
    hit.addEventListener("mousemove", (e) => {
      const r = root.getBoundingClientRect();
      const i = Math.max(0, Math.min(n - 1, Math.round(((e.clientX - r.left - padL) / (W - padL - padR)) * (n - 1))));
      const p = pts[i];
      cursor.setAttribute("visibility", "visible");
      dot.setAttribute("visibility", "visible");
      cursor.setAttribute("x1", x(i));
      cursor.setAttribute("x2", x(i));
      dot.setAttribute("cx", x(i));
      dot.setAttribute("cy", y(p.v));
      tip.hidden = false;
      clear(tip).append(h("div.chart-tip-v", { text: fmtRate(p.v) + " " + unit }), h("div.chart-tip-t", { text: fmtClock(new Date(p.t).toISOString()) }));
      const left = Math.min(Math.max(x(i) - 50, 0), W - 110);
      tip.style.left = left + "px";
      tip.style.top = Math.max(0, y(p.v) - 58) + "px";
    });
    hit.addEventListener("mouseleave", () => {
      tip.hidden = true;
      cursor.setAttribute("visibility", "hidden");
      dot.setAttribute("visibility", "hidden");
    });
    return { total };
  }

  // ---- Requests ---------------------------------------------------------------------------------

  const Requests = {
    built: false,
    loaded: false,
    cursor: null, // the server's next_before: null when there are no older matching requests
    build() {
      const el = document.getElementById("view-requests");
      const f = S.filters;
      this.tunnelSel = h("select.input", { name: "tunnel", "aria-label": "Tunnel" });
      this.statusIn = h("input.input.input-status", { name: "status", placeholder: "Status: 4xx, 404…", title: "Status: 404, 4xx or 500-599", "aria-label": "Status", value: f.status, autocomplete: "off", spellcheck: false });
      this.methodSel = h("select.input", { name: "method", "aria-label": "Method" },
        ["", "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"].map((m) => h("option", { value: m, text: m || "Any method" })));
      this.pathIn = h("input.input.input-path", { name: "path", type: "search", placeholder: "Path contains…", "aria-label": "Path contains", value: f.path, autocomplete: "off", spellcheck: false });
      this.minIn = h("input.input.input-min", { name: "min_ms", type: "number", min: "0", step: "1", placeholder: "Min ms", "aria-label": "Minimum duration in ms", value: f.min_ms });
      this.resetBtn = h("button.btn.btn-ghost.btn-sm", { type: "button", hidden: true }, icon("close"), "Reset");
      this.clearBtn = h("button.btn.btn-sm.btn-danger-ghost", { type: "button", id: "clear-requests", title: "Delete every captured request" }, icon("trash"), "Clear");
      this.count = h("span.list-count");
      this.filterErr = h("div.note.note-error.note-bar", { hidden: true });
      this.notice = h("div.note.note-info.note-bar", { hidden: true, role: "status" });
      const search = h("div.input-icon", {}, icon("search"), this.pathIn);
      el.appendChild(
        h("div.toolbar", {},
          h("div.filters", { role: "search" }, this.tunnelSel, this.methodSel, this.statusIn, search, this.minIn, this.resetBtn),
          h("div.toolbar-right", {}, this.count, this.clearBtn)));
      el.append(this.filterErr, this.notice);
      this.table = new RequestTable({ id: "request-list" });
      this.empty = h("div.list-empty", { hidden: true });
      this.moreBtn = h("button.btn.btn-ghost.btn-block", { type: "button", hidden: true, text: "Load older requests" });
      this.moreNote = h("div.list-foot-note", { hidden: true });
      this.listPane = h("div.list-pane", {}, this.table.table, this.empty, this.moreBtn, this.moreNote);
      this.detailPane = h("aside.detail-pane", { "aria-label": "Request details" });
      this.split = h("div.split", {}, this.listPane, this.detailPane);
      el.appendChild(this.split);
      this.view = new ExchangeView(this.detailPane);
      this.built = true;

      this.onTunnels();
      this.methodSel.value = f.method;
      const changed = () => {
        f.tunnel = this.tunnelSel.value;
        f.method = this.methodSel.value;
        f.status = this.statusIn.value;
        f.path = this.pathIn.value;
        f.min_ms = this.minIn.value;
        this.reload(null);
      };
      const later = FT.debounce(changed, 250);
      this.tunnelSel.addEventListener("change", changed);
      this.methodSel.addEventListener("change", changed);
      for (const i of [this.statusIn, this.pathIn, this.minIn]) i.addEventListener("input", later);
      this.resetBtn.addEventListener("click", () => this.setFilters({}));
      this.moreBtn.addEventListener("click", () => this.loadMore());
      let armed = 0;
      this.clearBtn.addEventListener("click", async () => {
        if (!armed) {
          this.clearBtn.classList.add("armed");
          this.clearBtn.lastChild.textContent = "Click again to clear all";
          armed = setTimeout(() => {
            armed = 0;
            this.clearBtn.classList.remove("armed");
            this.clearBtn.lastChild.textContent = "Clear";
          }, 3000);
          return;
        }
        clearTimeout(armed);
        armed = 0;
        this.clearBtn.classList.remove("armed");
        this.clearBtn.lastChild.textContent = "Clear";
        try {
          await api("api/requests", { method: "DELETE" });
          toast("All captured requests were cleared");
          this.table.set([]);
          this.cursor = null;
          this.updateChrome();
          Overview.reloadRecent();
          Tunnels.reloadRecent();
          if (S.route.view === "requests" && S.route.id !== undefined) navigate("#/requests", true);
        } catch (e) {
          toast("Could not clear: " + e.message, "error", 6000);
        }
      });
    },
    setFilters(f) {
      Object.assign(S.filters, { tunnel: "", status: "", method: "", path: "", min_ms: "" }, f);
      if (!this.built) return;
      if (f.tunnel && !S.tunnels.has(f.tunnel)) this.onTunnels();
      this.tunnelSel.value = S.filters.tunnel;
      this.methodSel.value = S.filters.method;
      this.statusIn.value = S.filters.status;
      this.pathIn.value = S.filters.path;
      this.minIn.value = S.filters.min_ms;
      this.reload(null);
    },
    enter(route) {
      if (!this.built) this.build();
      S.unseen = 0;
      document.getElementById("nav-requests-count").hidden = true;
      if (!this.loaded) this.reload(null);
      const id = route.id;
      this.split.classList.toggle("split-open", id !== undefined);
      this.table.select(id !== undefined ? id : null);
      if (id !== undefined) this.view.load(id);
      else this.view.close();
    },
    onTunnels() {
      if (!this.built) return;
      const cur = S.filters.tunnel;
      const names = [...S.tunnels.keys()];
      if (cur && !names.includes(cur)) names.push(cur);
      clear(this.tunnelSel).appendChild(h("option", { value: "", text: "All tunnels" }));
      for (const n of names) this.tunnelSel.appendChild(h("option", { value: n, text: S.tunnels.has(n) ? n : n + " (offline)" }));
      this.tunnelSel.value = cur;
      this.updateChrome();
    },
    async reload(notice) {
      if (!this.built) return;
      const f = S.filters;
      this.resetBtn.hidden = !filtersActive(f);
      const sf = parseStatusFilter(f.status);
      this.statusIn.classList.toggle("invalid", sf === undefined);
      if (sf === undefined) {
        this.showFilterError("“" + f.status.trim() + "” is not a status filter: write 404, 4xx or 500-599.");
        return;
      }
      const seq = (this.seq = (this.seq || 0) + 1);
      this.listPane.classList.add("loading");
      try {
        const r = await api("api/requests" + query(Object.assign(filterQuery(f), { limit: PAGE })));
        if (seq !== this.seq) return;
        this.table.set(r.items || []);
        this.cursor = r.next_before === undefined ? null : r.next_before;
        this.loaded = true;
        this.showFilterError(null);
        if (S.route.view === "requests" && S.route.id !== undefined) this.table.select(S.route.id);
        if (notice) this.showNotice(notice);
      } catch (e) {
        if (seq !== this.seq) return;
        if (e.status === 400) this.showFilterError(e.message);
        else this.showFilterError("Could not load requests: " + e.message);
      } finally {
        if (seq === this.seq) this.listPane.classList.remove("loading");
        this.updateChrome();
      }
    },
    async loadMore() {
      if (!this.hasMore()) return;
      const before = this.table.lastId();
      this.moreBtn.disabled = true;
      this.moreBtn.textContent = "Loading…";
      try {
        const r = await api("api/requests" + query(Object.assign(filterQuery(S.filters), { limit: PAGE, before })));
        this.table.trimmed = false;
        this.table.append(r.items || []);
        this.cursor = r.next_before === undefined ? null : r.next_before;
      } catch (e) {
        toast("Could not load older requests: " + e.message, "error", 6000);
      } finally {
        this.moreBtn.disabled = false;
        this.moreBtn.textContent = "Load older requests";
        this.updateChrome();
      }
    },
    // More (older) matching requests on the server than the list shows.
    hasMore() {
      return this.cursor !== null || this.table.trimmed;
    },
    showFilterError(text) {
      clear(this.filterErr);
      this.filterErr.hidden = !text;
      if (text) this.filterErr.append(icon("alert"), h("span", { text }));
    },
    showNotice(text) {
      clear(this.notice).append(icon("replay"), h("span", { text }));
      this.notice.hidden = false;
      clearTimeout(this.noticeTimer);
      this.noticeTimer = setTimeout(() => (this.notice.hidden = true), 8000);
    },
    updateChrome() {
      if (!this.built) return;
      const n = this.table.size;
      const more = this.hasMore();
      const full = n >= MAX_ROWS;
      // Called on every live event: write only what changed.
      setText(this.count, n ? fmtInt(n) + (more ? "+" : "") + (n === 1 ? " request" : " requests") : "");
      setHidden(this.moreBtn, !more || full || n === 0);
      setHidden(this.moreNote, !(more && full));
      setText(this.moreNote, "Showing the newest " + fmtInt(MAX_ROWS) + ". Narrow the list with the filters above to see older ones.");
      setHidden(this.table.table, n === 0);
      const emptyKind = n !== 0 || !this.loaded ? "" : filtersActive(S.filters) ? "filtered" : "none:" + (firstPublicUrl() || "");
      if (emptyKind === this.emptyKind) return;
      this.emptyKind = emptyKind;
      clear(this.empty);
      this.empty.hidden = !emptyKind;
      if (emptyKind === "filtered") {
        const reset = h("button.btn.btn-sm", { type: "button", text: "Reset filters" });
        reset.addEventListener("click", () => this.setFilters({}));
        this.empty.appendChild(emptyState("filter", "No requests match these filters", "New requests that match appear here as they arrive.", reset));
      } else if (emptyKind) {
        const url = firstPublicUrl();
        this.empty.appendChild(emptyState("inbox", "No requests yet",
          url ? ["Send one to your tunnel’s public URL — for example ", h("code", { text: "curl " + url + "/" }), " — and it appears here instantly."]
            : ["Connect a tunnel, then send a request to its public URL.", h("br"), cmdHint()]));
      }
    },
    onExchange(x, started, finished) {
      if (!this.built || !this.loaded) return;
      const f = S.filters;
      if (matchesFilters(x, f)) {
        // Older than the last row while there are older pages: it comes with "load older" instead.
        if (!this.table.has(x.id) && this.hasMore() && x.id < this.table.lastId()) return;
        this.table.upsert(x, started);
        if (S.route.view === "requests" && S.route.id !== undefined && this.table.selected === null) this.table.select(S.route.id);
      } else if (this.table.has(x.id)) this.table.remove(x.id);
      this.updateChrome();
      if (finished && this.view.id === x.id) this.view.refresh();
    },
    key(e) {
      const step = e.key === "j" || e.key === "ArrowDown" ? 1 : e.key === "k" || e.key === "ArrowUp" ? -1 : 0;
      if (step) {
        const id = this.table.neighbour(step);
        if (id !== null) {
          e.preventDefault();
          navigate("#/requests/" + id, true);
        }
        return;
      }
      if (e.key === "Escape" && S.route.id !== undefined) {
        e.preventDefault();
        navigate("#/requests");
      } else if (e.key === "/") {
        e.preventDefault();
        this.pathIn.focus();
      }
    },
  };

  // ---- the request view (#exchange-view) --------------------------------------------------------

  const lastReplay = new Map(); // original id -> new id (shown again after a re-render)
  let activeTab = "request";

  class ExchangeView {
    constructor(pane) {
      this.pane = pane;
      this.id = null;
      this.seq = 0;
    }

    close() {
      this.id = null;
      this.seq++;
      clear(this.pane);
    }

    async load(id) {
      if (this.id === id && this.detail) return;
      this.id = id;
      this.detail = null;
      const seq = ++this.seq;
      clear(this.pane).appendChild(
        h("div.xv.xv-loading", { id: "exchange-view", dataset: { exchangeId: String(id) }, "aria-busy": "true" },
          h("div.skeleton.sk-title"), h("div.skeleton.sk-line"), h("div.skeleton.sk-line.short"), h("div.skeleton.sk-block")));
      try {
        const d = await api("api/requests/" + id);
        if (seq !== this.seq) return;
        this.detail = d;
        this.render();
      } catch (e) {
        if (seq !== this.seq) return;
        clear(this.pane).appendChild(
          h("div.xv", { id: "exchange-view", dataset: { exchangeId: String(id) } },
            this.closeButton(),
            emptyState("alert", e.status === 404 ? "Request #" + id + " is not here any more" : "Could not load request #" + id,
              e.status === 404 ? "It was evicted to make room for newer traffic, or the list was cleared." : e.message)));
      }
    }

    // The exchange finished (or changed): fetch it again, unless the user is editing a replay.
    async refresh() {
      if (this.id === null || !this.detail || (this.form && !this.form.hidden)) return;
      const id = this.id;
      const seq = ++this.seq;
      try {
        const d = await api("api/requests/" + id);
        if (seq !== this.seq || this.form && !this.form.hidden) return;
        this.detail = d;
        this.render();
      } catch (_) {
        /* keep what is shown */
      }
    }

    closeButton() {
      const b = h("button.icon-btn.xv-close", { type: "button", title: "Close (Esc)", "aria-label": "Close" }, icon("close"));
      b.addEventListener("click", () => navigate("#/requests"));
      return b;
    }

    render() {
      const d = this.detail;
      const scroll = this.pane.scrollTop;
      const root = h("div.xv", { id: "exchange-view", dataset: { exchangeId: String(d.id) } });

      // Title: method + full URL
      root.appendChild(
        h("div.xv-head", {},
          h("div.xv-title", {}, methodBadge(d.method), h("span.xv-url", { text: fullUrl(d), title: fullUrl(d) })),
          h("span.xv-id", { text: "#" + d.id, title: "Exchange id" }),
          this.closeButton()));

      // Summary line
      const meta = h("div.xv-meta");
      const item = (label, ...value) => meta.appendChild(h("div.meta-item", {}, h("span.meta-k", { text: label }), h("span.meta-v", {}, ...value)));
      const [scls, , slong] = statusInfo(d);
      const reason = d.response && d.response.reason ? d.status + " " + d.response.reason : slong;
      root.appendChild(
        h("div.xv-summary", {},
          h("span.status.status-lg." + scls, { text: d.outcome === "in_flight" ? "In flight" : d.outcome === "error" ? "Failed" : reason }),
          h("span.xv-fact", { title: "Duration to the end of the response body" }, fmtMs(d.duration_ms)),
          h("span.xv-fact", { title: "Request body size" }, h("span.arrow", { text: "↑" }), fmtBytes(d.request_bytes)),
          h("span.xv-fact", { title: "Response body size" }, h("span.arrow", { text: "↓" }), fmtBytes(d.response_bytes)),
          d.replay_of !== null && d.replay_of !== undefined
            ? h("a.tag-replay.tag-link", { href: "#/requests/" + d.replay_of, title: "This exchange is a replay" }, icon("replay"), "replay of #" + d.replay_of)
            : null));
      item("Time", h("span", { text: fmtDateTime(d.started_at) }), " ", h("span.muted", {}, "(", ago(d.started_at), ")"));
      item("Tunnel", d.tunnel ? h("a", { href: "#/tunnels/" + encodeURIComponent(d.tunnel), text: d.tunnel }) : "—");
      item("Visitor", d.visitor || "unknown");
      item("Protocol", d.http_version || "—");
      root.appendChild(meta);

      if (d.outcome === "error") {
        root.appendChild(h("div.note.note-error", {}, icon("alert"), h("span", { text: "The exchange failed: " + (d.error || "unknown error") })));
      } else if (d.outcome === "visitor_gone") {
        root.appendChild(h("div.note.note-warn", {}, icon("alert"), h("span", { text: "The visitor went away before the response body ended; sizes and timings are up to that point." })));
      }

      // Actions
      const replayBtn = h("button.btn.btn-primary", { type: "button", id: "replay" }, icon("replay"), "Replay");
      const editBtn = h("button.btn", { type: "button", id: "replay-edit" }, icon("edit"), "Replay with changes");
      const curlBtn = h("button.btn", { type: "button", id: "copy-curl" }, icon("copy"), h("span", { text: "Copy as curl" }));
      const harLink = h("a.btn", { href: "api/requests/" + d.id + "/har", download: "ferrotunnel-" + d.id + ".har", id: "download-har" }, icon("download"), "Download HAR");
      if (!d.can_replay) {
        for (const b of [replayBtn, editBtn]) {
          b.disabled = true;
          b.title = "The request body was not captured whole, so this request cannot be replayed.";
        }
      }
      root.appendChild(h("div.xv-actions", {}, replayBtn, editBtn, curlBtn, harLink));
      if (!d.can_replay) {
        root.appendChild(h("div.note.note-muted", {}, icon("alert"), h("span", { text: "Replay is off: the request body was larger than what the inspector captures." })));
      }
      this.result = h("div.replay-result", { id: "replay-result", hidden: true, role: "status" });
      root.appendChild(this.result);
      if (lastReplay.has(d.id)) this.showReplay(lastReplay.get(d.id));

      this.form = this.buildForm(d);
      root.appendChild(this.form);

      replayBtn.addEventListener("click", () => this.replay(null, replayBtn));
      editBtn.addEventListener("click", () => {
        this.form.hidden = !this.form.hidden;
        editBtn.classList.toggle("active", !this.form.hidden);
        if (!this.form.hidden) this.form.querySelector("[name=path]").focus();
      });
      curlBtn.addEventListener("click", async () => {
        const ok = await FT.copyText(d.curl || "");
        if (ok) {
          curlBtn.lastChild.textContent = "Copied";
          curlBtn.classList.add("ok");
          setTimeout(() => {
            curlBtn.lastChild.textContent = "Copy as curl";
            curlBtn.classList.remove("ok");
          }, 1600);
        } else {
          this.showCurlFallback(d.curl || "");
        }
      });

      // Timing
      root.appendChild(this.timing(d));

      // Tabs
      const tabs = h("div.tabs", { role: "tablist" });
      const panel = h("div.tab-panel", { role: "tabpanel" });
      const reqCount = (d.request && d.request.headers ? d.request.headers.length : 0);
      const tabDefs = [
        ["request", "Request", plural(reqCount, "header") + " · " + fmtBytes(d.request_bytes)],
        ["response", "Response", d.response ? plural(d.response.headers.length, "header") + " · " + fmtBytes(d.response_bytes) : d.outcome === "in_flight" ? "waiting" : "none"],
      ];
      const btns = tabDefs.map(([k, label, sub]) => {
        const b = h("button.tab", { type: "button", role: "tab", "aria-selected": String(activeTab === k), dataset: { tab: k } },
          h("span.tab-label", { text: label }), h("span.tab-sub", { text: sub }));
        b.addEventListener("click", () => {
          activeTab = k;
          for (const x of btns) x.setAttribute("aria-selected", String(x === b));
          showTab();
        });
        return b;
      });
      tabs.append(...btns);
      const showTab = () => {
        clear(panel);
        if (activeTab === "request") this.requestTab(panel, d);
        else this.responseTab(panel, d);
      };
      showTab();
      root.append(tabs, panel);

      clear(this.pane).appendChild(root);
      this.pane.scrollTop = scroll;
    }

    timing(d) {
      const t = d.timings || {};
      const head = t.response_head_ms;
      const end = t.body_end_ms;
      const wrap = h("div.timing");
      const bar = h("div.timing-bar");
      const legend = h("div.timing-legend");
      if (d.outcome === "in_flight") {
        bar.appendChild(h("div.timing-seg.seg-wait.seg-running"));
        legend.append(h("span", {}, h("i.sw.sw-wait"), "Waiting for the response…"));
      } else if (head === null || head === undefined) {
        const seg = h("div.timing-seg.seg-fail");
        seg.style.width = "100%";
        bar.appendChild(seg);
        legend.append(h("span", {}, h("i.sw.sw-fail"), "No response head" + (end !== null && end !== undefined ? " · ended after " + fmtMs(end) : "")));
      } else {
        const total = Math.max(end || head, head, 0.001);
        const w1 = Math.max(0.5, (head / total) * 100);
        const s1 = h("div.timing-seg.seg-wait", { title: "Waiting for the response head: " + fmtMs(head) });
        s1.style.width = w1 + "%";
        bar.appendChild(s1);
        if (end !== null && end !== undefined) {
          const s2 = h("div.timing-seg.seg-body", { title: "Response body: " + fmtMs(end - head) });
          s2.style.width = Math.max(0.5, 100 - w1) + "%";
          bar.appendChild(s2);
        }
        legend.append(
          h("span", {}, h("i.sw.sw-wait"), "Response head ", h("b", { text: fmtMs(head) })),
          end !== null && end !== undefined ? h("span", {}, h("i.sw.sw-body"), "Body ", h("b", { text: fmtMs(end - head) })) : null,
          h("span.timing-total", {}, "Total ", h("b", { text: fmtMs(end !== null && end !== undefined ? end : head) })));
      }
      wrap.append(h("div.section-label", { text: "Timing" }), bar, legend);
      return wrap;
    }

    headersTable(headers) {
      if (!headers || !headers.length) return h("div.muted.pad", { text: "No headers" });
      return h("table.kv.headers", {},
        h("tbody", {}, headers.map(([n, v]) =>
          h("tr", {}, h("td.hdr-name", { text: n }),
            h("td.hdr-value", {}, v === "***" ? h("span.masked", { text: "***", title: "Masked by the inspector: the value is kept for replay but never shown" }) : String(v))))));
    }

    requestTab(panel, d) {
      const req = d.request || { headers: [], body: null };
      const qi = (d.uri || "").indexOf("?");
      if (qi >= 0) {
        const params = [...new URLSearchParams(d.uri.slice(qi + 1))];
        if (params.length) {
          panel.appendChild(h("div.section", {}, h("div.section-label", { text: "Query" }),
            h("table.kv", {}, h("tbody", {}, params.map(([k, v]) => h("tr", {}, h("td.hdr-name", { text: k }), h("td.hdr-value", { text: v })))))));
        }
      }
      panel.appendChild(h("div.section", {}, h("div.section-label", {}, "Headers ", h("span.count", { text: String(req.headers.length) })), this.headersTable(req.headers)));
      panel.appendChild(h("div.section", {}, h("div.section-label", { text: "Body" }), FT.renderBody(req.body, req.headers)));
    }

    responseTab(panel, d) {
      const res = d.response;
      if (!res) {
        panel.appendChild(d.outcome === "in_flight"
          ? emptyState("inbox", "Waiting for the response…", "It appears here as soon as the local service answers.")
          : emptyState("alert", "No response", d.error || "The local service did not answer."));
        return;
      }
      panel.appendChild(h("div.section", {}, h("div.section-label", {}, "Status"),
        h("div.status-line", {}, statusBadge(Object.assign({}, d, { status: res.status })), " ", h("span", { text: res.reason || FT.REASONS[res.status] || "" }))));
      panel.appendChild(h("div.section", {}, h("div.section-label", {}, "Headers ", h("span.count", { text: String(res.headers.length) })), this.headersTable(res.headers)));
      panel.appendChild(h("div.section", {}, h("div.section-label", { text: "Body" }), FT.renderBody(res.body, res.headers)));
    }

    buildForm(d) {
      const req = d.request || { headers: [], body: null };
      const body = req.body;
      const binary = body && body.encoding === "base64";
      const method = h("input.input.mono", { name: "method", value: d.method, list: "ft-methods", autocomplete: "off", spellcheck: false, "aria-label": "Method" });
      const path = h("input.input.mono", { name: "path", value: d.uri, autocomplete: "off", spellcheck: false, "aria-label": "Path and query" });
      const headers = h("textarea.input.mono", { name: "headers", rows: String(Math.min(12, Math.max(4, req.headers.length + 1))), spellcheck: false, "aria-label": "Headers" });
      headers.value = req.headers.map(([n, v]) => n + ": " + v).join("\n");
      const bodyTa = h("textarea.input.mono", { name: "body", rows: "6", spellcheck: false, "aria-label": "Body" });
      if (binary) {
        bodyTa.disabled = true;
        bodyTa.placeholder = "Binary body (" + fmtBytes(body.size) + "): sent as recorded.";
      } else bodyTa.value = body ? body.data : "";
      const err = h("div.note.note-error", { hidden: true, role: "alert" });
      const send = h("button.btn.btn-primary", { type: "submit", id: "replay-send" }, icon("replay"), "Send replay");
      const cancel = h("button.btn.btn-ghost", { type: "button", text: "Cancel" });
      const form = h("form.replay-form", { id: "replay-form", hidden: true, novalidate: true, autocomplete: "off" },
        h("datalist", { id: "ft-methods" }, ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"].map((m) => h("option", { value: m }))),
        h("div.form-title", { text: "Replay with changes" }),
        h("div.form-row", {},
          h("label.field.field-method", {}, h("span.field-label", { text: "Method" }), method),
          h("label.field.grow", {}, h("span.field-label", { text: "Path" }), path)),
        h("label.field", {}, h("span.field-label", {}, "Headers ", h("span.field-hint", { text: "one “name: value” a line · delete a line to remove the header · *** keeps the recorded value" })), headers),
        h("label.field", {}, h("span.field-label", {}, "Body", body && body.content_type ? h("span.field-hint", { text: body.content_type }) : null), bodyTa),
        err,
        h("div.form-actions", {}, send, cancel));
      cancel.addEventListener("click", () => {
        form.hidden = true;
        const b = document.getElementById("replay-edit");
        if (b) b.classList.remove("active");
      });
      form.addEventListener("submit", (e) => {
        e.preventDefault();
        err.hidden = true;
        const parsed = this.changes(d, method.value, path.value, headers.value, binary ? null : bodyTa.value);
        if (parsed.error) {
          clear(err).append(icon("alert"), h("span", { text: parsed.error }));
          err.hidden = false;
          return;
        }
        this.replay(parsed.changes, send);
      });
      return form;
    }

    // The JSON of a replay with changes, from the form's fields.
    changes(d, method, path, headersText, bodyText) {
      method = method.trim().toUpperCase();
      path = path.trim();
      if (!/^[A-Z0-9!#$%&'*+.^_`|~-]+$/.test(method)) return { error: "The method “" + method + "” is not a valid HTTP method." };
      if (!path.startsWith("/")) return { error: "The path must start with “/”." };
      const orig = (d.request && d.request.headers) || [];
      const origMasked = new Set(orig.filter(([, v]) => v === "***").map(([n]) => n.toLowerCase()));
      const edited = [];
      const lines = headersText.split(/\r?\n/);
      for (let i = 0; i < lines.length; i++) {
        const line = lines[i];
        if (!line.trim()) continue;
        const c = line.indexOf(":");
        if (c <= 0) return { error: "Header line " + (i + 1) + " (“" + line.trim() + "”) is not “name: value”." };
        const name = line.slice(0, c).trim();
        const value = line.slice(c + 1).trim();
        if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) return { error: "“" + name + "” on line " + (i + 1) + " is not a valid header name." };
        edited.push([name, value]);
      }
      const editedNames = new Set(edited.map(([n]) => n.toLowerCase()));
      const removed = [];
      for (const [n] of orig) {
        const k = n.toLowerCase();
        if (!editedNames.has(k) && !removed.some((r) => r.toLowerCase() === k)) removed.push(n);
      }
      // A masked value left as *** is not sent: the server keeps the recorded one.
      let headers = edited.filter(([n, v]) => !(v === "***" && origMasked.has(n.toLowerCase())));
      const changes = { method, path, headers, remove_headers: removed };
      const origBody = d.request && d.request.body && d.request.body.encoding === "utf8" ? d.request.body.data : null;
      if (bodyText !== null && bodyText !== (origBody || "")) {
        changes.body = bodyText;
        // The recorded content-length no longer fits the edited body: let the server set it.
        changes.headers = headers.filter(([n]) => n.toLowerCase() !== "content-length");
        if (editedNames.has("content-length") || orig.some(([n]) => n.toLowerCase() === "content-length")) {
          if (!removed.some((r) => r.toLowerCase() === "content-length")) removed.push("content-length");
        }
      }
      return { changes };
    }

    async replay(changes, btn) {
      const id = this.detail.id;
      btn.disabled = true;
      btn.classList.add("busy");
      this.result.hidden = true;
      try {
        const opts = { method: "POST" };
        if (changes) {
          opts.headers = { "content-type": "application/json", accept: "application/json" };
          opts.body = JSON.stringify(changes);
        }
        const r = await api("api/requests/" + id + "/replay", opts);
        if (this.id !== id) return;
        lastReplay.set(id, r.id);
        this.showReplay(r.id);
        if (changes) {
          this.form.hidden = true;
          const b = document.getElementById("replay-edit");
          if (b) b.classList.remove("active");
        }
      } catch (e) {
        if (this.id !== id) return;
        const why = e.status === 409 ? "Cannot replay: " : e.status === 404 ? "Cannot replay: " : "Replay failed: ";
        clear(this.result).append(icon("alert"), h("span", { text: why + e.message }));
        this.result.className = "replay-result note note-error";
        this.result.hidden = false;
      } finally {
        btn.disabled = false;
        btn.classList.remove("busy");
      }
    }

    showReplay(newId) {
      clear(this.result).append(icon("check"), h("span", { text: "Replayed as " }),
        h("a", { href: "#/requests/" + newId, text: "request #" + newId }), h("span.muted", { text: " — it is at the top of the list." }));
      this.result.className = "replay-result note note-ok";
      this.result.hidden = false;
    }

    showCurlFallback(text) {
      const ta = h("textarea.input.mono.curl-fallback", { readonly: "true", rows: "4", "aria-label": "curl command" });
      ta.value = text;
      clear(this.result).append(h("div.grow", {}, h("div", { text: "Copy the command below (the clipboard is not available here):" }), ta));
      this.result.className = "replay-result note note-info";
      this.result.hidden = false;
      ta.focus();
      ta.select();
    }
  }

  // ---- Tunnels ----------------------------------------------------------------------------------

  const Tunnels = {
    built: false,
    build() {
      this.el = document.getElementById("view-tunnels");
      this.built = true;
    },
    enter(route) {
      if (!this.built) this.build();
      const name = route.name;
      if (name !== this.name || !this.rendered) {
        this.name = name;
        this.recent = null;
        this.render();
        if (name !== undefined) this.reloadRecent();
      }
      refreshTunnels();
    },
    onTunnels() {
      if (this.built && S.route.view === "tunnels") this.render();
      else this.rendered = false;
    },
    render() {
      this.rendered = true;
      const el = clear(this.el);
      if (this.name === undefined) {
        el.appendChild(h("div.page-head", {}, h("div", {}, h("h1", { text: "Tunnels" }), h("p.page-sub", { text: "Clients connected to this server and the traffic through each." }))));
        el.appendChild(this.table());
      } else this.detailView(el);
    },
    table() {
      if (S.tunnelsError && !S.tunnelsLoaded) return h("div.note.note-error", {}, icon("alert"), h("span", { text: "Could not load the tunnels: " + S.tunnelsError.message }));
      if (!S.tunnelsLoaded) return h("div.card", {}, h("div.skeleton.sk-block"));
      if (!S.tunnels.size) return h("div.card", {}, emptyState("plug", "No tunnels are live", ["Start a client and it appears here, for example", h("br"), cmdHint()]));
      const cols = ["Name", "Public URL", "Client", "Transport", "Connected", "Requests", "Errors", "Bytes in / out", "In flight", "p50 / p99"];
      const rows = [...S.tunnels.values()].map((t) => {
        const tr = h("tr.tunnel-row", { dataset: { tunnel: t.name } },
          h("td.t-name", {}, h("span.dot-live", { "aria-hidden": "true" }), h("a", { href: "#/tunnels/" + encodeURIComponent(t.name), text: t.name })),
          h("td.t-url", {}, externalLink(t.public_url)),
          h("td.mono.muted", { text: t.client_addr || "—" }),
          h("td", {}, chip(t.transport || "?", "chip-transport")),
          h("td", {}, since(t.connected_since)),
          h("td.num", { text: fmtInt(t.requests) }),
          h("td.num" + (t.errors ? ".bad" : ""), { text: fmtInt(t.errors) }),
          h("td.num", { text: fmtBytes(t.bytes_in) + " / " + fmtBytes(t.bytes_out) }),
          h("td.num", { text: fmtInt(t.in_flight) }),
          h("td.num", { text: fmtMs(t.p50_ms) + " / " + fmtMs(t.p99_ms) }));
        tr.addEventListener("click", (e) => {
          if (!e.target.closest("a")) navigate("#/tunnels/" + encodeURIComponent(t.name));
        });
        return tr;
      });
      return h("div.card", {}, h("div.table-wrap", {},
        h("table.data-table.tunnels-table", { id: "tunnel-list" },
          h("thead", {}, h("tr", {}, cols.map((c, i) => h("th" + (i >= 5 ? ".num" : ""), { text: c, scope: "col" })))),
          h("tbody", {}, rows))));
    },
    detailView(el) {
      const name = this.name;
      const t = S.tunnels.get(name);
      const back = h("a.back", { href: "#/tunnels" }, "← All tunnels");
      const head = h("div.page-head", {},
        h("div", {}, back,
          h("h1.tunnel-title", {}, t ? h("span.dot-live", { "aria-hidden": "true" }) : h("span.dot-off", { "aria-hidden": "true" }), name,
            t ? chip(t.transport || "?", "chip-transport") : chip("offline", "chip-off")),
          t ? h("p.page-sub", {}, externalLink(t.public_url)) : null));
      el.appendChild(head);
      if (!t) {
        el.appendChild(h("div.note.note-warn", {}, icon("alert"),
          h("span", { text: S.tunnelsLoaded ? "The tunnel “" + name + "” is not connected. Its captured requests are still below." : "Loading…" })));
      } else {
        const stat = (label, value, cls) => h("div.stat-card.stat-sm", {}, h("div.stat-label", { text: label }), h("div.stat-value" + (cls ? "." + cls : ""), {}, value));
        el.appendChild(h("div.stat-grid.stat-grid-dense", {},
          stat("Requests", fmtInt(t.requests)),
          stat("Errors", fmtInt(t.errors), t.errors ? "bad" : ""),
          stat("In flight", fmtInt(t.in_flight)),
          stat("Latency p50", fmtMs(t.p50_ms)),
          stat("Latency p99", fmtMs(t.p99_ms)),
          stat("Bytes in", fmtBytes(t.bytes_in)),
          stat("Bytes out", fmtBytes(t.bytes_out)),
          stat("Connected", since(t.connected_since))));
        el.appendChild(h("div.card.facts", {},
          h("div.fact", {}, h("span.meta-k", { text: "Client address" }), h("span.meta-v.mono", { text: t.client_addr || "—" })),
          h("div.fact", {}, h("span.meta-k", { text: "Transport" }), h("span.meta-v", { text: t.transport || "—" })),
          h("div.fact", {}, h("span.meta-k", { text: "Connected since" }), h("span.meta-v", { text: fmtDateTime(t.connected_since) }))));
      }
      if (!this.recent) {
        this.recent = new RequestTable({ max: 50, layout: "tunnel", columns: ["method", "path", "status", "duration", "size", "time"] });
        this.recentEmpty = h("div");
      }
      const all = h("button.btn.btn-sm.btn-ghost", { type: "button" }, "Open in Requests", icon("arrowRight"));
      all.addEventListener("click", () => {
        Requests.setFilters({ tunnel: name });
        if (!Requests.built) S.filters.tunnel = name;
        navigate("#/requests");
      });
      el.appendChild(h("div.card", {},
        h("div.card-head", {}, h("div.card-title", { text: "Recent requests" }), all),
        h("div.table-wrap", {}, this.recent.table), this.recentEmpty));
      this.updateRecentEmpty();
    },
    async reloadRecent() {
      if (!this.recent || this.name === undefined) return;
      const name = this.name;
      try {
        const r = await api("api/requests" + query({ tunnel: name, limit: 50 }));
        if (name !== this.name) return;
        this.recent.set(r.items || []);
        this.recentError = null;
      } catch (e) {
        this.recentError = e;
      }
      this.updateRecentEmpty();
    },
    updateRecentEmpty() {
      if (!this.recent) return;
      clear(this.recentEmpty);
      this.recent.table.hidden = this.recent.size === 0;
      if (this.recentError) this.recentEmpty.appendChild(h("div.note.note-error.note-inset", {}, icon("alert"), h("span", { text: this.recentError.message })));
      else if (this.recent.size === 0) {
        const t = S.tunnels.get(this.name);
        this.recentEmpty.appendChild(emptyState("inbox", "No requests through this tunnel yet",
          t ? ["Send one to ", h("code", { text: t.public_url }), " and it appears here."] : null));
      }
    },
    onExchange(x, started) {
      if (!this.recent || this.name === undefined || x.tunnel !== this.name) return;
      if (started || this.recent.has(x.id)) {
        this.recent.upsert(x, started);
        this.updateRecentEmpty();
      }
    },
  };

  // ---- router -----------------------------------------------------------------------------------

  function parseRoute() {
    const raw = (location.hash || "#/").replace(/^#\/?/, "");
    const parts = raw.split("?")[0].split("/").filter(Boolean).map((p) => {
      try {
        return decodeURIComponent(p);
      } catch (_) {
        return p;
      }
    });
    if (parts.length === 0) return { view: "overview" };
    if (parts[0] === "requests") {
      if (parts.length === 1) return { view: "requests" };
      if (parts.length === 2 && /^\d+$/.test(parts[1])) return { view: "requests", id: Number(parts[1]) };
    }
    if (parts[0] === "tunnels") {
      if (parts.length === 1) return { view: "tunnels" };
      if (parts.length === 2) return { view: "tunnels", name: parts[1] };
    }
    return { view: "notfound" };
  }

  function render() {
    const route = parseRoute();
    S.route = route;
    // Only write what changes: moving from one request to the next must not restyle the page.
    if (document.body.dataset.view !== route.view) {
      for (const v of ["overview", "requests", "tunnels", "notfound"]) document.getElementById("view-" + v).hidden = v !== route.view;
      for (const a of document.querySelectorAll("[data-nav]")) {
        if (a.dataset.nav === route.view) a.setAttribute("aria-current", "page");
        else a.removeAttribute("aria-current");
      }
      document.body.dataset.view = route.view;
    }
    const titles = { overview: "Overview", requests: route.id !== undefined ? "Request #" + route.id : "Requests", tunnels: route.name ? "Tunnel " + route.name : "Tunnels", notfound: "Not found" };
    document.title = titles[route.view] + " · FerroTunnel Inspector";
    if (route.view === "overview") Overview.enter();
    else if (route.view === "requests") Requests.enter(route);
    else if (route.view === "tunnels") Tunnels.enter(route);
    else {
      const el = clear(document.getElementById("view-notfound"));
      el.appendChild(h("div.card", {}, emptyState("search", "Nothing here", ["There is no page at this address. ", h("a", { href: "#/", text: "Go to the overview" })])));
    }
  }

  function onKey(e) {
    if (e.defaultPrevented || e.altKey || e.ctrlKey || e.metaKey) return;
    const t = e.target;
    if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) {
      if (e.key === "Escape") t.blur();
      return;
    }
    if (S.route.view === "requests" && Requests.built) Requests.key(e);
  }

  function start() {
    window.addEventListener("hashchange", render);
    document.addEventListener("keydown", onKey);
    render();
    refreshTunnels();
    loadStats();
    connect();
    setInterval(refreshTunnels, TUNNEL_POLL_MS);
    setInterval(tickTimes, 5000);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
