// micrographs.html: every micrograph's picks, drawn from the index (micrographs/index.js) and the
// files of picks (micrographs/picks_NNNNN.js), each loaded by a <script> as its micrographs come
// into view: the page opens from disk (file://), where a browser refuses fetch().
"use strict";
(function () {
  const D = window.CRYODEDUP_INDEX;
  const n = D.names.length;
  const chunks = {}; // file number -> its columns, once loaded
  let firstDrawn = null; // ms from the page's start to its first micrograph drawn (benches/bench_page.py)
  const asked = {}; // file number -> true once its <script> is in the page
  const fmt = (v) => String(v).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const counted = (v, word) => fmt(v) + " " + word + (v === 1 ? "" : "s");
  const kept = D.picks.map((p, m) => p - D.rejected[m]);
  const el = (tag, attrs, text) => {
    const e = document.createElement(tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  };

  // ---- the header: totals, search, sort, filters ----
  const header = el("header");
  const h1 = el("h1", {}, D.title + ": every " + D.unit);
  const back = el("a", { href: "report.html" }, "report");
  h1.append(" ", el("span", { class: "hint" }, "("), back, el("span", { class: "hint" }, ")"));
  const sum = (a) => a.reduce((s, v) => s + v, 0);
  const totals = el(
    "p",
    { id: "totals" },
    fmt(n) + " " + D.unit + "s · " + fmt(sum(D.picks)) + " picks: " + fmt(sum(kept)) + " kept, " +
      fmt(sum(D.rejected)) + " rejected (" + D.distance + ")"
  );
  const controls = el("div", { id: "controls" });
  const search = el("input", { type: "search", id: "search", placeholder: "search by name ( / )", "aria-label": "search by name" });
  const sortBy = el("select", { id: "sort", "aria-label": "sort by" });
  const sorts = [
    ["order", "in input order"],
    ["fraction", "rejected fraction"],
    ["duplicates", "duplicates"],
    ["picks", "picks"],
    ["name", "name"],
  ];
  if (D.agreement) sorts.push(["agreement", "agreement between inputs"]);
  D.inputs.forEach((name, k) => sorts.push(["input" + k, "picks of " + short(name)]));
  (D.species || []).forEach((name, s) => sorts.push(["species" + s, "picks of " + name]));
  for (const [v, t] of sorts) sortBy.append(el("option", { value: v }, t));
  const direction = el("button", { id: "direction", type: "button", title: "reverse the order" }, "reverse");
  let reversed = false; // the input order reads first to last, the counts highest first
  const onlyInput = el("select", { id: "input", "aria-label": "input" });
  onlyInput.append(el("option", { value: "" }, "every input"));
  D.inputs.forEach((name, k) => onlyInput.append(el("option", { value: String(k) }, short(name))));
  const onlySpecies = el("select", { id: "species", "aria-label": "species" });
  onlySpecies.append(el("option", { value: "" }, "every species"));
  (D.species || []).forEach((name, s) => onlySpecies.append(el("option", { value: String(s) }, name)));
  const minRejected = el("input", { type: "number", id: "minrejected", min: "0", max: "100", step: "5", value: "0" });
  const withDuplicates = el("input", { type: "checkbox", id: "duplicates" });
  const colourBy = el("select", { id: "colour", "aria-label": "colour picks by" });
  colourBy.append(el("option", { value: "fate" }, "colour: kept / rejected"));
  if (D.inputs.length > 1) colourBy.append(el("option", { value: "input" }, "colour: input"));
  if (D.species) colourBy.append(el("option", { value: "species" }, "colour: species"));
  const shown = el("span", { id: "shown" });
  const label = (text, input) => {
    const l = el("label", {}, text + " ");
    l.append(input);
    return l;
  };
  controls.append(search, label("sort by", sortBy), direction);
  if (D.inputs.length > 1) controls.append(onlyInput);
  if (D.species) controls.append(onlySpecies);
  const dupLabel = el("label");
  dupLabel.append(withDuplicates, " with duplicates only");
  controls.append(label("rejected ≥ %", minRejected), dupLabel, colourBy, shown);
  // corrections (D.editable: the page has each pick's name, micrographs/ids_NNNNN.js): counted, saved, loaded
  const corrections = el("span", { id: "corrections" });
  const save = el("button", { id: "save", type: "button", title: "download overrides.csv: the picks corrected here" }, "Save overrides");
  const loadFile = el("input", { type: "file", id: "load", accept: ".csv,text/csv", "aria-label": "load overrides" });
  const loadLabel = el("label", { class: "loadlabel" }, "load overrides ");
  if (D.editable) {
    loadLabel.append(loadFile);
    controls.append(corrections, save, loadLabel);
  }
  header.append(h1, totals, controls, el("p", { class: "hint" }, "← → (or j k): previous, next · Enter: open · Esc: close · /: search"));
  const grid = el("main", { id: "grid" });
  document.body.append(header, grid);

  function short(path) {
    const parts = String(path).split("/");
    return parts.length > 2 ? parts.slice(-2).join("/") : String(path);
  }

  // ---- the cards: built once, drawn when seen ----
  const cards = new Array(n);
  const seen = new Set(); // micrographs in view
  const observer = new IntersectionObserver(
    (entries) => {
      for (const e of entries) {
        const m = Number(e.target.dataset.m);
        if (e.isIntersecting) {
          seen.add(m);
          show(m);
        } else seen.delete(m);
      }
    },
    { rootMargin: "300px 0px" }
  );
  const aspect = (m) => {
    const [, , w, h] = D.frames[m];
    const across = D.slabs ? D.slabs * w : w;
    return Math.min(Math.max(h / across, 0.2), 1.5);
  };
  // Built as one piece of HTML (10,000 cards in a tenth of the time of elements made one by one);
  // a card's image and canvas are made when it first comes into view.
  const esc = (text) =>
    String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  const html = [];
  for (let m = 0; m < n; m++) {
    html.push(
      '<div class="card" data-m="' + m + '"><div class="frame" style="padding-top:' + (100 * aspect(m)).toFixed(2) +
        '%"></div><div class="name" title="' + esc(D.names[m]) + '"><bdi>' + esc(D.cardNames ? D.cardNames[m] : D.names[m]) + '</bdi></div><div class="counts">' +
        fmt(kept[m]) + " kept · " + fmt(D.rejected[m]) + ' rejected</div><div class="more">' + moreText(m) + "</div></div>"
    );
  }
  grid.innerHTML = html.join("");
  for (let m = 0; m < n; m++) {
    cards[m] = grid.children[m];
    observer.observe(cards[m]);
  }
  grid.addEventListener("click", (e) => {
    const card = e.target.closest(".card");
    if (!card) return;
    select(order.indexOf(Number(card.dataset.m)));
    open();
  });

  function canvasOf(m) {
    const frame = cards[m].firstChild;
    if (!frame.firstChild) {
      frame.append(...thumbsOf(m, true), el("canvas"));
    }
    return frame.lastChild;
  }

  function moreText(m) {
    const parts = [counted(D.picks[m], "pick"), counted(D.duplicates[m], "duplicate")];
    if (D.agreement && D.agreement[m] === null) parts.push("no agreement measured");
    else if (D.agreement && D.agreement[m] >= 0) parts.push(Math.round(100 * D.agreement[m]) + "% agreed");
    return parts.join(" · ");
  }

  function show(m) {
    const canvas = canvasOf(m);
    const c = Math.floor(m / D.chunk);
    if (chunks[c]) draw(canvas, m);
    else load(c);
  }

  function load(c) {
    if (asked[c]) return;
    asked[c] = true;
    const s = document.createElement("script");
    s.src = "micrographs/picks_" + String(c).padStart(5, "0") + ".js";
    document.head.append(s);
  }

  // a column's numbers: base64 of their bytes, little-endian, of the type the file names (t), else the index
  const types = { "<i1": Int8Array, "<i2": Int16Array, "<u2": Uint16Array, "<i4": Int32Array };
  function decoded(text, type) {
    const bytes = atob(text);
    const buffer = new Uint8Array(bytes.length);
    for (let k = 0; k < bytes.length; k++) buffer[k] = bytes.charCodeAt(k);
    return new types[type](buffer.buffer);
  }

  window.cryodedupPicks = (c, columns) => {
    const typeOf = columns.t || D.columns;
    for (const name in D.columns) if (name in columns) columns[name] = decoded(columns[name], typeOf[name]);
    // each pick's fate (an index into D.fates): kept, lost to a pick here, displaced by another species, or neither
    const f = new Int8Array(columns.r.length);
    columns.r.forEach((r, k) => {
      f[k] = r < 0 ? 0 : r === D.displacedRule ? 2 : columns.p[k] >= 0 ? 1 : 3;
    });
    columns.f = f;
    chunks[c] = columns;
    found(c);
    for (const m of seen) if (Math.floor(m / D.chunk) === c) draw(canvasOf(m), m);
    if (detailOf === null) return;
    if (Math.floor(detailOf / D.chunk) === c) fillDetail(detailOf);
  };

  // ---- drawing a micrograph's picks on a canvas ----
  function picksOf(m) {
    const c = chunks[Math.floor(m / D.chunk)];
    if (!c) return null;
    const j = m % D.chunk;
    return { c: c, n: Math.floor(m / D.chunk), from: c.o[j], to: c.o[j + 1] };
  }

  function colourOf(c, k, f) {
    const by = colourBy.value;
    if (by === "input") return D.inputColours[c.i[k] % D.inputColours.length];
    if (by === "species" && c.s) return D.speciesColours[c.s[k]];
    return D.fateColours[f];
  }

  // ---- corrections: a click on a pick flips it, on a pair's line keeps both its picks (the pair distinct) ----
  const EDITED_COLOUR = "#d400d4";
  const edits = new Map(); // "file:place" of a pick -> "keep" | "reject"
  const ids = {}; // file number -> its picks' rows within their inputs (w) and names (n), once loaded
  const idsAsked = {};
  let pending = new Map(); // a loaded file's particles not yet found: input + "\n" + row -> [name, action]
  let stale = []; // a loaded file's particles whose row holds another particle now
  let pairLines = []; // a loaded file's pairs of micrographs, written back as they were
  // a pick's fate drawn: as decided, else as corrected (a kept pick rejected: a duplicate's ×)
  function fateOf(n, c, k) {
    const e = edits.get(n + ":" + k);
    if (!e) return c.f[k];
    if (e === "keep") return 0;
    return c.f[k] === 0 ? 1 : c.f[k];
  }
  function loadIds(c) {
    if (!D.editable || idsAsked[c]) return;
    idsAsked[c] = true;
    const s = document.createElement("script");
    s.src = "micrographs/ids_" + String(c).padStart(5, "0") + ".js";
    document.head.append(s);
  }
  window.cryodedupIds = (c, x) => {
    x.w = decoded(x.w, "<i4");
    ids[c] = x;
    found(c);
  };
  // a loaded file's particles in file c, once its picks and names are both here
  function found(c) {
    if (!pending.size || !chunks[c] || !ids[c]) return;
    const col = chunks[c];
    for (let k = 0; k < col.r.length; k++) {
      const key = D.inputs[col.i[k]] + "\n" + ids[c].w[k];
      const want = pending.get(key);
      if (!want) continue;
      pending.delete(key);
      if (want[0] !== ids[c].n[k]) stale.push(want);
      else edits.set(c + ":" + k, want[1]);
    }
    edited();
  }
  function flip(n, c, k, keep) {
    const key = n + ":" + k;
    const action = keep === undefined ? (fateOf(n, c, k) === 0 ? "reject" : "keep") : keep ? "keep" : "reject";
    if (action === (c.f[k] === 0 ? "keep" : "reject")) edits.delete(key);
    else edits.set(key, action);
    edited();
  }
  function edited() {
    const waiting = pending.size ? " (" + fmt(pending.size) + " loaded, not yet found)" : "";
    const old = stale.length ? " · " + counted(stale.length, "stale line") + " left out" : "";
    corrections.textContent = counted(edits.size, "correction") + waiting + old;
    for (const m of seen) draw(canvasOf(m), m);
    if (detailOf !== null && detailCanvas) draw(detailCanvas, detailOf, true);
  }
  // the pick under a click on the detail's canvas (within twice a mark's radius), else the pair's line
  function clicked(canvas, e) {
    const g = canvas.geom;
    if (!D.editable || !g) return;
    const box = canvas.getBoundingClientRect();
    const x = ((e.clientX - box.left) * canvas.width) / box.width;
    const y = ((e.clientY - box.top) * canvas.height) / box.height;
    const { p, X, Y, slabOf, r } = g;
    const c = p.c;
    let best = -1;
    let bestD = 2 * r;
    for (let k = p.from; k < p.to; k++) {
      if (faded(c, k)) continue;
      const d = Math.hypot(X(k, slabOf(k)) - x, Y(k) - y);
      if (d <= bestD) [best, bestD] = [k, d];
    }
    if (best >= 0) return flip(p.n, c, best);
    let line = -1;
    let lineD = r;
    for (let k = p.from; k < p.to; k++) {
      const q = c.p[k];
      if (q < 0 || faded(c, k)) continue;
      const s = slabOf(k);
      const d = toSegment(x, y, X(k, s), Y(k), X(q, s), Y(q));
      if (d <= lineD) [line, lineD] = [k, d];
    }
    if (line >= 0) {
      const distinct = fateOf(p.n, c, line) !== 0; // (not yet: mark the pair distinct; else undo it)
      flip(p.n, c, line, distinct);
      pin(p.n, c, c.p[line], distinct);
    }
  }
  // a pair marked distinct keeps the pick its rejected one lost to as well, written as a keep of its own:
  // a forced keep alone rejects what lies within the distance (--overrides), its partner too
  function pin(n, c, k, keep) {
    const key = n + ":" + k;
    if (keep) edits.set(key, "keep");
    else if (edits.get(key) === "keep" && c.f[k] === 0) edits.delete(key);
    edited();
  }
  function toSegment(x, y, ax, ay, bx, by) {
    const dx = bx - ax;
    const dy = by - ay;
    const t = dx || dy ? Math.max(0, Math.min(1, ((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy))) : 0;
    return Math.hypot(x - ax - t * dx, y - ay - t * dy);
  }
  const csv = window.cryodedupOverrides; // (overrides_csv.js)
  // overrides.csv: the corrections, by input and row; a loaded file's lines not found here written back
  function overridesText() {
    const rows = [];
    for (const [key, action] of edits) {
      const [c, k] = key.split(":").map(Number);
      rows.push([chunks[c].i[k], ids[c].w[k], ids[c].n[k], action]);
    }
    rows.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    const lines = [csv.HEADER];
    for (const [i, w, name, action] of rows) lines.push(csv.line(["particle", D.inputs[i], w, name, "", action]));
    for (const [key, [name, action]] of pending) {
      const cut = key.lastIndexOf("\n");
      lines.push(csv.line(["particle", key.slice(0, cut), key.slice(cut + 1), name, "", action]));
    }
    for (const cells of pairLines) lines.push(csv.line(cells));
    return lines.join("\n") + "\n";
  }
  function missingIds() {
    const missing = new Set();
    for (const key of edits.keys()) {
      const c = Number(key.split(":")[0]);
      if (!ids[c]) missing.add(c);
    }
    return missing;
  }
  save.addEventListener("click", () => {
    const missing = missingIds();
    if (missing.size) {
      missing.forEach(loadIds);
      corrections.textContent = "the picks' names are still loading: save again in a moment";
      return;
    }
    csv.download(overridesText());
  });
  csv.loaded(loadFile, corrections, (rows) => {
    [pending, stale, pairLines] = [new Map(), [], []];
    edits.clear();
    for (const cells of rows) {
      if (cells[0] === "particle") pending.set(cells[1] + "\n" + cells[2], [cells[3], cells[5]]);
      else if (cells[0] === "pair") pairLines.push(cells);
    }
    // every file of picks and names asked for: the particles are found as they come
    for (let c = 0; c * D.chunk < n; c++) {
      load(c);
      loadIds(c);
      found(c);
    }
    edited();
  });

  function faded(c, k) {
    return (onlyInput.value !== "" && c.i[k] !== Number(onlyInput.value)) ||
      (onlySpecies.value !== "" && c.s && c.s[k] !== Number(onlySpecies.value));
  }

  // the image under the picks: a micrograph's, or under each slab a tomogram's slices of the slab's z range
  // (D.thumbs: bit s set where slab s has its image, mNNNNNN_s.jpg; a micrograph's: 1, mNNNNNN.jpg)
  const hasThumb = (m, s) => (D.thumbs[m] >> s) & 1;
  function thumbsOf(m, lazy) {
    const slabs = D.slabs || 1;
    const imgs = [];
    for (let s = 0; s < slabs; s++) {
      if (!hasThumb(m, s)) continue;
      const src = "micrographs/m" + String(m).padStart(6, "0") + (D.slabs ? "_" + s : "") + ".jpg";
      const img = el("img", lazy ? { alt: "", decoding: "async", src } : { alt: "", src });
      if (D.slabs) img.style.cssText = "left:" + (100 * s) / slabs + "%;width:" + 100 / slabs + "%";
      imgs.push(img);
    }
    return imgs;
  }

  function draw(canvas, m, big) {
    const p = picksOf(m);
    if (!p) return;
    const ratio = window.devicePixelRatio || 1;
    const W = Math.max(1, Math.round(canvas.clientWidth * ratio));
    const H = Math.max(1, Math.round(canvas.clientHeight * ratio));
    canvas.width = W;
    canvas.height = H;
    const g = canvas.getContext("2d");
    const [x0, y0, w, h] = D.frames[m];
    const slabs = D.slabs || 1;
    const panel = W / slabs;
    const sx = panel / w;
    const sy = H / h;
    const r = (big ? 5 : 3.5) * ratio;
    // over an image each mark and line has a white rim: a thin colour alone is lost in its grain
    const rim = D.thumbs[m] ? 2.5 * ratio : 0;
    const c = p.c;
    const fate = (k) => fateOf(p.n, c, k);
    const slabOf = (k) => {
      if (!D.slabs) return 0;
      const [z0, z1] = D.zRanges[m]; // (each tomogram's own picks' range)
      return Math.min(slabs - 1, Math.max(0, Math.floor(((c.z[k] - z0) / Math.max(z1 - z0, 1)) * slabs)));
    };
    const X = (k, s) => s * panel + (c.x[k] - x0) * sx;
    const Y = (k) => (c.y[k] - y0) * sy;
    const width = 1.5 * ratio;
    if (D.slabs) {
      g.fillStyle = "#f2f2f2"; // a blank frame under a slab without its image
      for (let s = 0; s < slabs; s++) if (!hasThumb(m, s)) g.fillRect(s * panel, 0, panel, H);
      g.strokeStyle = "#888";
      for (let s = 1; s < slabs; s++) {
        g.beginPath();
        g.moveTo(s * panel, 0);
        g.lineTo(s * panel, H);
        g.stroke();
      }
    }
    // lines from each rejected pick to the kept pick it lost to
    for (const [colour, w] of rim ? [["#ffffff", width + rim], ["#e69500", width]] : [["#ffbf00", width]]) {
      g.strokeStyle = colour;
      g.lineWidth = w;
      g.beginPath();
      for (let k = p.from; k < p.to; k++) {
        const q = c.p[k];
        if (q < 0 || faded(c, k) || fate(k) === 0) continue;
        const s = slabOf(k);
        g.moveTo(X(k, s), Y(k));
        g.lineTo(X(q, s), Y(q));
      }
      g.stroke();
    }
    // a pair marked distinct (its rejected pick kept by a correction): a dashed grey line
    g.strokeStyle = "#777";
    g.lineWidth = width;
    g.setLineDash([4 * ratio, 3 * ratio]);
    g.beginPath();
    for (let k = p.from; k < p.to; k++) {
      const q = c.p[k];
      if (q < 0 || faded(c, k) || c.f[k] === 0 || fate(k) !== 0) continue;
      const s = slabOf(k);
      g.moveTo(X(k, s), Y(k));
      g.lineTo(X(q, s), Y(q));
    }
    g.stroke();
    g.setLineDash([]);
    for (const pass of [0, 1]) {
      // kept under rejected
      for (let k = p.from; k < p.to; k++) {
        const f = fate(k);
        if ((f === 0) !== (pass === 0)) continue;
        g.globalAlpha = faded(c, k) ? 0.2 : 1;
        const [x, y] = [X(k, slabOf(k)), Y(k)];
        if (rim) {
          g.lineWidth = width + rim;
          mark(g, f, x, y, r, "#ffffff");
        }
        g.lineWidth = width;
        mark(g, f, x, y, r, colourOf(c, k, f));
      }
    }
    // each corrected pick ringed in magenta
    g.globalAlpha = 1;
    g.lineWidth = 2 * width;
    g.strokeStyle = EDITED_COLOUR;
    g.beginPath();
    for (let k = p.from; k < p.to; k++) {
      if (!edits.has(p.n + ":" + k)) continue;
      const [x, y] = [X(k, slabOf(k)), Y(k)];
      g.moveTo(x + 2 * r, y);
      g.arc(x, y, 2 * r, 0, 2 * Math.PI);
    }
    g.stroke();
    canvas.geom = { p: p, X: X, Y: Y, slabOf: slabOf, r: r };
    canvas.dataset.drawn = "1";
    if (firstDrawn === null) firstDrawn = performance.now();
  }

  function mark(g, fate, x, y, r, colour) {
    g.strokeStyle = colour;
    g.beginPath();
    if (fate === 0) g.arc(x, y, r, 0, 2 * Math.PI);
    else if (fate === 1) {
      g.moveTo(x - r, y - r);
      g.lineTo(x + r, y + r);
      g.moveTo(x - r, y + r);
      g.lineTo(x + r, y - r);
    } else if (fate === 2) {
      g.moveTo(x, y - r);
      g.lineTo(x + r, y);
      g.lineTo(x, y + r);
      g.lineTo(x - r, y);
      g.closePath();
    } else g.rect(x - r, y - r, 2 * r, 2 * r);
    g.stroke();
  }

  // ---- order, filters, selection ----
  let order = [];
  let selected = -1;
  function key(m) {
    const v = sortBy.value;
    if (v === "fraction") return D.picks[m] ? D.rejected[m] / D.picks[m] : 0;
    if (v === "duplicates") return D.duplicates[m];
    if (v === "picks") return D.picks[m];
    if (v === "agreement") return D.agreement[m];
    if (v.startsWith("input")) return D.byInput[Number(v.slice(5))][m];
    if (v.startsWith("species")) return D.bySpecies[Number(v.slice(7))][m];
    return m;
  }
  function arrange() {
    const text = search.value.trim().toLowerCase();
    const k = onlyInput.value === "" ? -1 : Number(onlyInput.value);
    const s = onlySpecies.value === "" ? -1 : Number(onlySpecies.value);
    const least = Number(minRejected.value) / 100 || 0;
    const list = [];
    for (let m = 0; m < n; m++) {
      if (text && !D.names[m].toLowerCase().includes(text)) continue;
      if (k >= 0 && !D.byInput[k][m]) continue;
      if (s >= 0 && !D.bySpecies[s][m]) continue;
      if (least > 0 && !(D.picks[m] && D.rejected[m] / D.picks[m] >= least)) continue;
      if (withDuplicates.checked && !D.duplicates[m]) continue;
      list.push(m);
    }
    const v = sortBy.value;
    if (v === "name") list.sort((a, b) => (D.names[a] < D.names[b] ? -1 : D.names[a] > D.names[b] ? 1 : a - b));
    else if (v !== "order") {
      const keys = new Float64Array(n);
      for (const m of list) keys[m] = key(m);
      list.sort((a, b) => keys[b] - keys[a] || a - b);
    }
    if (reversed) list.reverse();
    const current = selected >= 0 ? order[selected] : -1;
    order = list;
    const same = order.length === grid.children.length && order.every((m, i) => grid.children[i] === cards[m]);
    if (!same) grid.replaceChildren(...order.map((m) => cards[m]));
    shown.textContent = "showing " + fmt(order.length) + " of " + fmt(n);
    selected = -1;
    const again = order.indexOf(current);
    if (again >= 0) select(again, true);
    for (const m of seen) draw(canvasOf(m), m);
  }
  function select(i, quiet) {
    if (!order.length) return;
    i = Math.max(0, Math.min(order.length - 1, i));
    if (selected >= 0 && order[selected] !== undefined) cards[order[selected]].classList.remove("sel");
    selected = i;
    const card = cards[order[i]];
    card.classList.add("sel");
    if (!quiet) card.scrollIntoView({ block: "nearest" });
    if (detailOf !== null) fillDetail(order[i]);
  }

  // ---- the detail view of one micrograph ----
  const detail = el("div", { id: "detail", hidden: "" });
  const panelBox = el("div", { id: "panel", role: "dialog", "aria-modal": "true" });
  detail.append(panelBox);
  document.body.append(detail);
  let detailOf = null;
  detail.addEventListener("click", (e) => {
    if (e.target === detail) close();
  });
  function open() {
    if (selected < 0) select(0);
    detail.hidden = false;
    fillDetail(order[selected]);
  }
  function close() {
    detail.hidden = true;
    detailOf = null;
    detailCanvas = null;
    if (D.editable) loadLabel.before(corrections, save); // (back in the header, from the detail's bar)
  }
  let detailCanvas = null;
  function fillDetail(m) {
    detailOf = m;
    const c = Math.floor(m / D.chunk);
    if (!chunks[c]) load(c);
    loadIds(c);
    panelBox.replaceChildren();
    const nav = el("div", { id: "nav" });
    const prev = el("button", { type: "button" }, "← previous");
    const next = el("button", { type: "button" }, "next →");
    const shut = el("button", { type: "button" }, "close (Esc)");
    prev.onclick = () => select(selected - 1);
    next.onclick = () => select(selected + 1);
    shut.onclick = close;
    nav.append(prev, next, shut, el("span", { class: "hint" }, fmt(selected + 1) + " of " + fmt(order.length)));
    if (D.editable) nav.append(corrections, save); // (the header lies under the detail)
    const outer = el("div");
    // as wide as fits 70 % of the window's height
    outer.style.width = "min(100%, " + (70 / aspect(m)).toFixed(1) + "vh)";
    const frame = el("div", { class: "frame" });
    outer.append(frame);
    frame.style.paddingTop = (100 * aspect(m)).toFixed(2) + "%";
    frame.append(...thumbsOf(m, false));
    const canvas = el("canvas");
    frame.append(canvas);
    detailCanvas = canvas;
    canvas.addEventListener("click", (e) => clicked(canvas, e));
    if (D.editable) canvas.style.cursor = "crosshair";
    panelBox.append(nav, el("h2", {}, D.names[m]));
    panelBox.append(el("p", { class: "counts" }, fmt(kept[m]) + " kept · " + fmt(D.rejected[m]) + " rejected"), el("p", { class: "more" }, moreText(m)));
    panelBox.append(outer, legend());
    if (D.slabs) {
      const [z0, z1] = D.zRanges[m];
      const step = Math.max(z1 - z0, 1) / D.slabs; // (as slabOf cuts them)
      const names = [];
      for (let s = 0; s < D.slabs; s++) names.push("z " + Math.round(z0 + s * step) + " to " + Math.round(z0 + (s + 1) * step) + " Å");
      const all = (1 << D.slabs) - 1;
      const under = !D.thumbs[m]
        ? " on a blank frame (tomogram not found, or no slab within it)"
        : ", each over the mean of the tomogram's slices at the middle of its z range" +
          (D.thumbs[m] === all ? "" : " (a blank frame where the slab lies outside the tomogram)");
      panelBox.append(el("p", { class: "hint" }, "picks seen along z in slabs, left to right: " + names.join(", ") + under + "; a line joins a rejected pick to the kept one where it lies in x and y"));
    } else if (!D.thumbs[m]) panelBox.append(el("p", { class: "hint" }, "image not found: picks on a blank frame"));
    panelBox.append(tables(m));
    draw(canvas, m, true);
  }
  function legend() {
    const box = el("div", { class: "legend" });
    const add = (colour, text) => {
      const s = el("span");
      const i = el("i");
      i.style.background = colour;
      s.append(i, text);
      box.append(s);
    };
    if (colourBy.value === "input") D.inputs.forEach((name, k) => add(D.inputColours[k % D.inputColours.length], short(name)));
    else if (colourBy.value === "species") D.species.forEach((name, s) => add(D.speciesColours[s], name));
    else D.fates.forEach((f, k) => add(D.fateColours[k], f));
    box.append(el("span", { class: "marks" }, "○ kept · × duplicate · ◇ displaced by another species · □ rejected with no partner on this " + D.unit + " · yellow line: to the kept pick it lost to"));
    if (D.editable)
      box.append(el("span", { class: "marks" }, "click a pick: kept ↔ rejected · click a yellow line: the pair is distinct (both kept, a dashed line) · magenta ring: corrected · Save overrides: overrides.csv for --overrides"));
    return box;
  }
  function tables(m) {
    const wrap = el("div", { class: "wide" });
    const t = el("table");
    const row = (cells, head) => {
      const tr = el("tr");
      for (const v of cells) tr.append(el(head ? "th" : "td", {}, String(v)));
      t.append(tr);
    };
    row(["picks of", "picks"], true);
    D.inputs.forEach((name, k) => row([short(name), fmt(D.byInput[k][m])]));
    (D.species || []).forEach((name, s) => D.bySpecies[s][m] && row(["species " + name, fmt(D.bySpecies[s][m])]));
    wrap.append(t);
    const p = picksOf(m);
    if (!p) return wrap;
    const c = p.c;
    const rules = {};
    const lines = [];
    for (let k = p.from; k < p.to; k++) {
      if (c.r[k] < 0) continue;
      const rule = D.rules[c.r[k]];
      rules[rule] = (rules[rule] || 0) + 1;
      if (lines.length < 200) lines.push(k);
    }
    const r = el("table");
    const add = (cells, head) => {
      const tr = el("tr");
      for (const v of cells) tr.append(el(head ? "th" : "td", {}, String(v)));
      r.append(tr);
    };
    add(["rejected by", "picks"], true);
    for (const rule in rules) add([rule, fmt(rules[rule])]);
    wrap.append(r);
    if (!lines.length) return wrap;
    const l = el("table");
    const put = (cells, head) => {
      const tr = el("tr");
      for (const v of cells) tr.append(el(head ? "th" : "td", {}, String(v)));
      l.append(tr);
    };
    const xyz = (k) => (c.z ? [c.x[k], c.y[k], c.z[k]] : [c.x[k], c.y[k]]).join(", ");
    put(["rejected pick (Å)", "input", "lost to (Å)", "its input", "distance (Å)", "rule"], true);
    for (const k of lines) {
      const q = c.p[k];
      const d = q < 0 ? "" : Math.hypot(c.x[k] - c.x[q], c.y[k] - c.y[q], c.z ? c.z[k] - c.z[q] : 0).toFixed(0);
      put([xyz(k), short(D.inputs[c.i[k]]), q < 0 ? "" : xyz(q), q < 0 ? "" : short(D.inputs[c.i[q]]), d, D.rules[c.r[k]]]);
    }
    wrap.append(l);
    if (lines.length === 200) wrap.append(el("p", { class: "hint" }, "the first 200 rejected picks (decisions.csv, with --decisions, lists them all)"));
    return wrap;
  }

  // ---- keys and controls ----
  document.addEventListener("keydown", (e) => {
    if (e.target === search && e.key !== "Escape" && e.key !== "Enter") return;
    if (e.target instanceof HTMLInputElement && e.target !== search) return;
    if (e.target instanceof HTMLSelectElement) return;
    // A focused button or link takes Enter (and space) itself: next, close, reverse.
    if ((e.target instanceof HTMLButtonElement || e.target instanceof HTMLAnchorElement) && (e.key === "Enter" || e.key === " ")) return;
    const step = { ArrowRight: 1, ArrowDown: 1, j: 1, n: 1, ArrowLeft: -1, ArrowUp: -1, k: -1, p: -1 }[e.key];
    if (step) {
      e.preventDefault();
      select(selected < 0 ? 0 : selected + step);
    } else if (e.key === "Enter") {
      e.preventDefault();
      if (e.target === search) search.blur();
      open();
    } else if (e.key === "Escape") {
      if (!detail.hidden) close();
      else search.blur();
    } else if (e.key === "/") {
      e.preventDefault();
      search.focus();
    }
  });
  sortBy.addEventListener("change", () => {
    reversed = false;
    direction.setAttribute("aria-pressed", "false");
  });
  search.addEventListener("input", arrange);
  for (const c of [sortBy, onlyInput, onlySpecies, minRejected, withDuplicates]) c.addEventListener("change", arrange);
  colourBy.addEventListener("change", () => {
    for (const m of seen) draw(canvasOf(m), m);
    if (detailOf !== null) fillDetail(detailOf);
  });
  direction.addEventListener("click", () => {
    reversed = !reversed;
    direction.setAttribute("aria-pressed", String(reversed));
    arrange();
  });
  window.addEventListener("resize", () => {
    for (const m of seen) draw(canvasOf(m), m);
  });
  arrange();
  edited();
  window.cryodedupPage = {
    // the detail's pick at place j of its micrograph: where it is drawn (client px) and its columns
    pick: (j) => {
      const g = detailCanvas && detailCanvas.geom;
      if (!g) return null;
      const k = g.p.from + j;
      const box = detailCanvas.getBoundingClientRect();
      const scale = box.width / detailCanvas.width;
      const s = g.slabOf(k);
      return {
        x: box.left + g.X(k, s) * scale, y: box.top + g.Y(k) * scale, at: [g.p.c.x[k], g.p.c.y[k]],
        input: g.p.c.i[k], rule: g.p.c.r[k], partner: g.p.c.p[k] < 0 ? -1 : g.p.c.p[k] - g.p.from, count: g.p.to - g.p.from,
      };
    },
    edits: () => edits.size,
    text: () => overridesText(),
    order: () => order.slice(),
    selected: () => (selected < 0 ? null : order[selected]),
    firstDrawn: () => firstDrawn,
  };
})();
