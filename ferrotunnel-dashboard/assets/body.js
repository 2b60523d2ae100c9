// FerroTunnel Inspector: the body viewer (JSON/XML pretty-printing with colouring, images, text,
// form fields, hex dump). Captured bodies are untrusted: they only become text nodes, and an image
// only ever becomes a data: URL with an allow-listed image type.
"use strict";

(function () {
  const FT = window.FT;
  const { h, clear, icon, fmtBytes, fmtInt } = FT;

  const IMAGE_TYPES = ["image/png", "image/jpeg", "image/jpg", "image/gif", "image/webp", "image/avif", "image/bmp",
    "image/svg+xml", "image/x-icon", "image/vnd.microsoft.icon"];
  const PRETTY_LIMIT = 512 * 1024; // above this, show text without colouring (keeps the page fast)
  const modePref = {}; // kind -> last chosen mode, so the choice sticks from one exchange to the next

  function mimeOf(ct) {
    return String(ct || "").split(";")[0].trim().toLowerCase();
  }

  function headerValue(headers, name) {
    if (!headers) return null;
    for (const [n, v] of headers) if (String(n).toLowerCase() === name) return v;
    return null;
  }

  function b64ToBytes(b64) {
    const bin = atob(b64);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  function bytesToB64(bytes) {
    let s = "";
    for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    return btoa(s);
  }

  // ---- JSON -------------------------------------------------------------------------------------

  // A tolerant re-indenter over the raw text (not JSON.parse): keeps key order, duplicate keys and
  // big numbers exactly, and also formats a truncated prefix. Returns null if it is not JSON.
  function prettyJson(text) {
    const out = new Builder();
    let depth = 0;
    let i = 0;
    const n = text.length;
    const nl = () => out.plain("\n" + "  ".repeat(Math.max(0, depth)));
    const ws = (c) => c === " " || c === "\n" || c === "\r" || c === "\t";
    const nextNonWs = (j) => {
      while (j < n && ws(text[j])) j++;
      return j;
    };
    let first = nextNonWs(0);
    if (first >= n || (text[first] !== "{" && text[first] !== "[")) return null;
    let topLevelDone = false;
    while (i < n) {
      const c = text[i];
      if (ws(c)) {
        i++;
        continue;
      }
      if (topLevelDone) {
        out.plain("\n");
        topLevelDone = false;
      }
      if (c === "{" || c === "[") {
        const close = c === "{" ? "}" : "]";
        const j = nextNonWs(i + 1);
        if (text[j] === close) {
          out.span("j-punc", c + close);
          i = j + 1;
          if (depth === 0) topLevelDone = true;
          continue;
        }
        out.span("j-punc", c);
        depth++;
        nl();
        i++;
      } else if (c === "}" || c === "]") {
        depth--;
        if (depth < 0) return null;
        nl();
        out.span("j-punc", c);
        i++;
        if (depth === 0) topLevelDone = true;
      } else if (c === ",") {
        out.span("j-punc", ",");
        nl();
        i++;
      } else if (c === ":") {
        out.span("j-punc", ":");
        out.plain(" ");
        i++;
      } else if (c === '"') {
        let j = i + 1;
        while (j < n && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
        const s = text.slice(i, Math.min(j + 1, n));
        const k = nextNonWs(j + 1);
        out.span(text[k] === ":" ? "j-key" : "j-str", s);
        i = j + 1;
        if (depth === 0) topLevelDone = true;
      } else {
        let j = i;
        while (j < n && !ws(text[j]) && !",:{}[]\"".includes(text[j])) j++;
        const lit = text.slice(i, j);
        let cls;
        if (/^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(lit) || (j === n && /^-?[\d.eE+-]*$/.test(lit))) cls = "j-num";
        else if (lit === "true" || lit === "false") cls = "j-bool";
        else if (lit === "null") cls = "j-null";
        else if (j === n && /^(t|tr|tru|f|fa|fal|fals|n|nu|nul)$/.test(lit)) cls = "j-bool";
        else return null;
        out.span(cls, lit);
        i = j;
        if (depth === 0) topLevelDone = true;
      }
    }
    return out.fragment();
  }

  // ---- XML / HTML -------------------------------------------------------------------------------

  const XML_TOKEN = /<!--[\s\S]*?(?:-->|$)|<!\[CDATA\[[\s\S]*?(?:\]\]>|$)|<\?[\s\S]*?(?:\?>|$)|<![^>]*>?|<\/?[A-Za-z_:][^>]*>?|[^<]+|</g;

  function tagParts(out, tok) {
    // <name attr="v" ...> or </name> or <x/>
    const m = /^(<\/?)([^\s/>]+)([\s\S]*?)(\/?>)?$/.exec(tok);
    if (!m) {
      out.span("x-tag", tok);
      return;
    }
    out.span("x-punc", m[1]);
    out.span("x-tag", m[2]);
    const attrs = m[3];
    const re = /(\s+)|([^\s=]+)(\s*=\s*)?("[^"]*"?|'[^']*'?|[^\s"'>]+)?/g;
    let a;
    while ((a = re.exec(attrs)) && a[0] !== "") {
      if (a[1]) out.plain(a[1]);
      else {
        out.span("x-attr", a[2]);
        if (a[3]) out.span("x-punc", a[3]);
        if (a[4]) out.span("x-val", a[4]);
      }
    }
    if (m[4]) out.span("x-punc", m[4]);
  }

  function markupToken(out, tok) {
    if (tok.startsWith("<!--")) out.span("x-comment", tok);
    else if (tok.startsWith("<![CDATA[")) out.span("x-cdata", tok);
    else if (tok.startsWith("<?") || tok.startsWith("<!")) out.span("x-decl", tok);
    else if (tok.startsWith("<") && tok.length > 1) tagParts(out, tok);
    else out.plain(tok);
  }

  function prettyXml(text) {
    const toks = text.match(XML_TOKEN) || [];
    if (!toks.some((t) => t.startsWith("<") && t.length > 1)) return null;
    const out = new Builder();
    let depth = 0;
    let started = false;
    const nl = () => {
      if (started) out.plain("\n");
      out.plain("  ".repeat(Math.max(0, depth)));
      started = true;
    };
    for (let i = 0; i < toks.length; i++) {
      const t = toks[i];
      const isTag = t.startsWith("<") && t.length > 1;
      if (!isTag) {
        const s = t.trim();
        if (!s) continue;
        nl();
        out.plain(s);
        continue;
      }
      const isClose = t.startsWith("</");
      const isOpen = !isClose && /^<[A-Za-z_:]/.test(t) && !t.endsWith("/>") && t.endsWith(">");
      if (isClose) depth--;
      nl();
      markupToken(out, t);
      if (isOpen) {
        // <a>text</a> stays on one line
        const txt = toks[i + 1];
        const close = toks[i + 2];
        if (txt !== undefined && !txt.startsWith("<") && close && close.startsWith("</") && txt.length < 200 && !txt.includes("\n")) {
          out.plain(txt);
          markupToken(out, close);
          i += 2;
        } else if (txt !== undefined && txt.startsWith("</")) {
          markupToken(out, txt);
          i += 1;
        } else depth++;
      }
    }
    return out.fragment();
  }

  function highlightMarkup(text) {
    const out = new Builder();
    for (const t of text.match(XML_TOKEN) || []) markupToken(out, t);
    return out.fragment();
  }

  // Collects coloured runs and merges plain text, then makes one fragment.
  class Builder {
    constructor() {
      this.parts = [];
    }
    plain(s) {
      const last = this.parts[this.parts.length - 1];
      if (last && last[0] === null) last[1] += s;
      else this.parts.push([null, s]);
    }
    span(cls, s) {
      this.parts.push([cls, s]);
    }
    fragment() {
      const f = document.createDocumentFragment();
      for (const [cls, s] of this.parts) f.appendChild(cls ? h("span." + cls, { text: s }) : document.createTextNode(s));
      return f;
    }
  }

  // ---- hex dump ---------------------------------------------------------------------------------

  function hexDump(bytes) {
    const offs = [];
    const hex = [];
    const asc = [];
    const H = "0123456789abcdef";
    for (let o = 0; o < bytes.length; o += 16) {
      offs.push(o.toString(16).padStart(8, "0"));
      let hx = "";
      let as = "";
      for (let k = 0; k < 16; k++) {
        if (k === 8) hx += " ";
        if (o + k < bytes.length) {
          const b = bytes[o + k];
          hx += H[b >> 4] + H[b & 15] + " ";
          as += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : "·";
        } else hx += "   ";
      }
      hex.push(hx.trimEnd());
      asc.push(as);
    }
    return h("div.hexdump", { role: "table", "aria-label": "Hex dump" },
      h("pre.hex-off", { text: offs.join("\n") }),
      h("pre.hex-bytes", { text: hex.join("\n") }),
      h("pre.hex-ascii", { text: asc.join("\n") }));
  }

  // ---- the viewer -------------------------------------------------------------------------------

  // body: {encoding, data, size, truncated, content_type}; headers: the message's header list.
  function renderBody(body, headers, opts) {
    const root = h("div.body-view");
    if (!body || (!body.size && !body.data)) {
      root.appendChild(h("div.body-empty", {}, icon("inbox"), h("span", { text: (opts && opts.emptyText) || "No body" })));
      return root;
    }
    const ct = body.content_type || headerValue(headers, "content-type") || "";
    const encodingHeader = String(headerValue(headers, "content-encoding") || "").toLowerCase().trim();
    let bytes = null;
    let text = null;
    let decodeError = null;
    try {
      if (body.encoding === "base64") bytes = b64ToBytes(body.data || "");
      else text = body.data || "";
    } catch (e) {
      decodeError = "The body could not be decoded (" + e.message + ").";
      bytes = new Uint8Array(0);
    }

    const state = { ct, text, bytes, body, decodedFrom: null };
    const content = h("div.body-content");
    const toolbar = h("div.body-toolbar");
    root.append(toolbar);
    if (body.truncated) {
      const shown = body.encoding === "base64" ? (bytes ? bytes.length : 0) : new TextEncoder().encode(text).length;
      root.appendChild(h("div.note.note-warn", {}, icon("alert"),
        h("span", { text: "Truncated: showing the first " + fmtInt(shown) + " of " + fmtInt(body.size) + " bytes (" + fmtBytes(body.size) + ")." })));
    }
    if (decodeError) root.appendChild(h("div.note.note-error", {}, icon("alert"), h("span", { text: decodeError })));
    root.appendChild(content);

    const draw = () => build(state, toolbar, content, root);
    // gzip/deflate bodies captured whole are decoded for display (the hex view shows the wire bytes).
    if (bytes && !body.truncated && /^(gzip|x-gzip|deflate)$/.test(encodingHeader) && typeof DecompressionStream === "function") {
      draw();
      const fmt = encodingHeader === "deflate" ? "deflate" : "gzip";
      new Response(new Blob([bytes]).stream().pipeThrough(new DecompressionStream(fmt))).arrayBuffer().then((buf) => {
        const dec = new Uint8Array(buf);
        state.wire = bytes;
        state.decodedFrom = fmt;
        try {
          state.text = new TextDecoder("utf-8", { fatal: true }).decode(dec);
          state.bytes = null;
        } catch (_) {
          state.bytes = dec;
        }
        draw();
      }).catch(() => {});
    } else draw();
    return root;
  }

  function kindOf(state) {
    const mime = mimeOf(state.ct);
    if (IMAGE_TYPES.includes(mime)) return "image";
    if (state.text === null) return "binary";
    if (/[/+]json$|^application\/(json|.*\+json)|json/.test(mime)) return "json";
    if (mime === "text/html" || mime === "application/xhtml+xml") return "html";
    if (/xml/.test(mime)) return "xml";
    if (mime === "application/x-www-form-urlencoded") return "form";
    const t = state.text.trimStart();
    if (t.startsWith("{") || t.startsWith("[")) return "json";
    if (t.startsWith("<?xml")) return "xml";
    if (/^<!doctype html|^<html/i.test(t)) return "html";
    return "text";
  }

  function build(state, toolbar, content) {
    const kind = kindOf(state);
    const modes = {
      json: ["Pretty", "Raw", "Hex"],
      xml: ["Pretty", "Raw", "Hex"],
      html: ["Source", "Hex"],
      form: ["Fields", "Raw", "Hex"],
      text: ["Text", "Hex"],
      image: state.text !== null ? ["Preview", "Source", "Hex"] : ["Preview", "Hex"],
      binary: ["Hex"],
    }[kind];
    let mode = modePref[kind] && modes.includes(modePref[kind]) ? modePref[kind] : modes[0];

    clear(toolbar);
    const meta = h("div.body-meta");
    const label = { json: "JSON", xml: "XML", html: "HTML", form: "Form", text: "Text", image: "Image", binary: "Binary" }[kind];
    meta.appendChild(h("span.chip.chip-kind", { text: label }));
    if (state.ct) meta.appendChild(h("span.body-ct", { text: mimeOf(state.ct), title: state.ct }));
    meta.appendChild(h("span.body-size", { text: fmtBytes(state.body.size) }));
    if (state.decodedFrom) meta.appendChild(h("span.chip", { text: "decoded from " + state.decodedFrom }));
    toolbar.appendChild(meta);

    const right = h("div.body-actions");
    const seg = h("div.seg", { role: "tablist", "aria-label": "Body view" });
    const buttons = modes.map((m) => {
      const b = h("button.seg-btn", { type: "button", text: m, role: "tab", "aria-selected": String(m === mode) });
      b.addEventListener("click", () => {
        mode = m;
        modePref[kind] = m;
        for (const x of buttons) x.setAttribute("aria-selected", String(x === b));
        show();
      });
      return b;
    });
    if (modes.length > 1) {
      seg.append(...buttons);
      right.appendChild(seg);
    }
    if (state.text !== null) {
      const copy = h("button.btn.btn-ghost.btn-sm", { type: "button", title: "Copy the body text" }, icon("copy"), "Copy");
      copy.addEventListener("click", async () => {
        const ok = await FT.copyText(state.text);
        FT.toast(ok ? "Body copied to the clipboard" : "Could not copy: select the text instead", ok ? "" : "error");
      });
      right.appendChild(copy);
    }
    toolbar.appendChild(right);

    const show = () => {
      clear(content);
      content.appendChild(renderMode(state, kind, mode));
    };
    show();
  }

  function codeBlock(frag, cls) {
    const pre = h("pre.code" + (cls ? "." + cls : ""));
    pre.appendChild(frag);
    return pre;
  }

  function bytesOf(state, wire) {
    if (wire && state.wire) return state.wire;
    if (state.bytes) return state.bytes;
    return new TextEncoder().encode(state.text || "");
  }

  function renderMode(state, kind, mode) {
    const text = state.text;
    if (mode === "Hex") return hexDump(bytesOf(state, true));
    if (mode === "Raw" || mode === "Source" && kind !== "html") return codeBlock(document.createTextNode(text), "wrap");
    if (kind === "json" && mode === "Pretty") {
      const f = text.length <= PRETTY_LIMIT ? prettyJson(text) : null;
      return f ? codeBlock(f) : codeBlock(document.createTextNode(text), "wrap");
    }
    if (kind === "xml" && mode === "Pretty") {
      const f = text.length <= PRETTY_LIMIT ? prettyXml(text) : null;
      return f ? codeBlock(f) : codeBlock(document.createTextNode(text), "wrap");
    }
    if (kind === "html") {
      return codeBlock(text.length <= PRETTY_LIMIT ? highlightMarkup(text) : document.createTextNode(text), "wrap");
    }
    if (kind === "form") {
      const params = new URLSearchParams(text);
      const rows = [];
      for (const [k, v] of params) rows.push(h("tr", {}, h("td.hdr-name", { text: k }), h("td.hdr-value", { text: v })));
      if (!rows.length) return codeBlock(document.createTextNode(text), "wrap");
      return h("table.kv", {}, h("thead", {}, h("tr", {}, h("th", { text: "Field" }), h("th", { text: "Value" }))), h("tbody", {}, rows));
    }
    if (kind === "image") return imageView(state);
    return codeBlock(document.createTextNode(text), "wrap");
  }

  function imageView(state) {
    const mime = mimeOf(state.ct) === "image/jpg" ? "image/jpeg" : mimeOf(state.ct);
    const b64 = state.bytes ? bytesToB64(state.bytes) : bytesToB64(new TextEncoder().encode(state.text || ""));
    const img = h("img.body-img", { alt: "Captured image (" + mime + ")" });
    const dims = h("div.img-dims");
    img.addEventListener("load", () => {
      dims.textContent = img.naturalWidth + " × " + img.naturalHeight + " px";
    });
    img.addEventListener("error", () => {
      dims.textContent = state.body.truncated ? "The image could not be decoded: it is truncated." : "The image could not be decoded.";
      dims.classList.add("img-error");
    });
    img.src = "data:" + mime + ";base64," + b64;
    return h("div.img-wrap", {}, h("div.img-stage", {}, img), dims);
  }

  FT.renderBody = renderBody;
  FT.prettyJson = prettyJson;
  FT.prettyXml = prettyXml;
  FT.headerValue = headerValue;
})();
