// pairs.html: the micrograph job's scored pairs from pairs/index.js (a <script>: the page opens
// from disk, where a browser refuses fetch()); each flagged and uncertain pair a card with its
// overlay, loaded as it comes into view; every other pair a table, sortable, shown 200 rows at a time.
"use strict";
(function () {
  const D = window.CRYODEDUP_PAIRS;
  const n = D.z.length;
  const fmt = (v) => String(v).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const el = (tag, attrs, text) => {
    const e = document.createElement(tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const num = (v, digits) => (v === null ? "-" : v.toFixed(digits));
  const pct = (v) => (v === null ? "-" : Math.round(100 * v) + "%");
  const name = (m) => D.names[m];
  const flagged = [];
  const uncertain = [];
  const others = [];
  for (let p = 0; p < n; p++) (D.duplicate[p] && !D.uncertain[p] ? flagged : D.uncertain[p] ? uncertain : others).push(p);

  const header = el("header");
  const h1 = el("h1", {}, D.title + ": every pair");
  h1.append(" ", el("a", { href: "report.html" }, "(report)"));
  const totals = el(
    "p",
    { id: "totals" },
    fmt(n) + " pairs scored: " + fmt(flagged.length) + " flagged, " + fmt(uncertain.length) + " uncertain, " +
      fmt(others.length) + " others"
  );
  const controls = el("div", { id: "controls" });
  const search = el("input", { type: "search", id: "search", placeholder: "search by name ( / )", "aria-label": "search by name" });
  const sortBy = el("select", { id: "sort", "aria-label": "sort by" });
  for (const [v, t] of [["z", "z"], ["pearson", "Pearson"], ["overlap", "overlap"], ["joint", "joint score"]]) {
    sortBy.append(el("option", { value: v }, t));
  }
  const direction = el("button", { id: "direction", type: "button" }, "reverse");
  let reversed = false;
  const shown = el("span", { id: "shown" });
  const sortLabel = el("label", {}, "sort by ");
  sortLabel.append(sortBy);
  controls.append(search, sortLabel, direction, shown);
  // corrections: a pair marked distinct (or duplicate), counted, saved as overrides.csv, loaded again
  const csv = window.cryodedupOverrides; // (overrides_csv.js)
  const marks = new Map(); // pair -> "distinct" | "duplicate" (against the run's decision)
  let others_ = []; // a loaded file's lines that name no pair here, written back as they were
  const corrections = el("span", { id: "corrections" });
  const save = el("button", { id: "save", type: "button", title: "download overrides.csv: the pairs marked here" }, "Save overrides");
  const loadFile = el("input", { type: "file", id: "load", accept: ".csv,text/csv", "aria-label": "load overrides" });
  const loadLabel = el("label", {}, "load overrides ");
  loadLabel.append(loadFile);
  controls.append(corrections, save, loadLabel);
  header.append(h1, totals, controls, el("p", { class: "hint" }, "← → (or j k): previous, next flagged or uncertain pair · /: search"));
  const cardsHead = el("h2", { id: "cards-head" });
  const grid = el("main", { id: "grid" });
  const tableHead = el("h2", { id: "table-head" });
  const table = el("table", { id: "others" });
  const more = el("button", { id: "more", type: "button" }, "show 200 more");
  const wrap = el("div", { class: "wide", style: "padding:0 0.8em 1em" });
  wrap.append(tableHead, table, more);
  document.body.append(header, cardsHead, grid, wrap);
  cardsHead.style.padding = "0 0.8em";

  const observer = new IntersectionObserver(
    (entries) => {
      for (const e of entries) {
        if (!e.isIntersecting) continue;
        const img = e.target.querySelector("img");
        if (img && !img.src) img.src = img.dataset.src;
        observer.unobserve(e.target);
      }
    },
    { rootMargin: "300px 0px" }
  );
  const drawn = new Set(D.drawn);
  const cards = {};
  for (const p of flagged.concat(uncertain)) {
    const card = el("div", { class: "card", "data-p": String(p) });
    if (drawn.has(p)) {
      card.append(el("img", { alt: "overlay", "data-src": "pairs/p" + String(p).padStart(7, "0") + ".jpg", style: "width:100%" }));
    }
    for (const m of [D.first[p], D.later[p]]) {
      const line = el("div", { class: "name", title: D.paths[m] });
      line.append(el("bdi", {}, name(m)));
      card.append(line);
    }
    const what = D.uncertain[p] ? (D.duplicate[p] ? "uncertain: decided a duplicate" : "uncertain: decided not a duplicate") : "flagged: a duplicate";
    card.append(el("div", { class: "counts" }, what));
    const flip = el("button", { type: "button", class: "mark" }, D.duplicate[p] ? "mark distinct" : "mark duplicate");
    flip.addEventListener("click", (e) => {
      e.stopPropagation();
      if (marks.has(p)) marks.delete(p);
      else marks.set(p, D.duplicate[p] ? "distinct" : "duplicate");
      marked();
    });
    card.append(flip);
    card.append(
      el(
        "div",
        { class: "more" },
        "z " + num(D.z[p], 1) + " · Pearson " + num(D.pearson[p], 3) + " · overlap " + pct(D.overlap[p]) +
          " · joint " + num(D.joint[p], 3) + (D.shiftA[p] === null ? " · no shift measured" : " · shift " + D.shiftA[p].join(", ") + " Å")
      )
    );
    cards[p] = card;
    observer.observe(card);
  }

  const key = (p) => {
    const v = D[sortBy.value][p];
    return v === null ? -Infinity : v;
  };
  const matches = (p, text) => !text || name(D.first[p]).toLowerCase().includes(text) || name(D.later[p]).toLowerCase().includes(text);
  let order = [];
  let rows = [];
  let shownRows = 0;
  let selected = -1;
  function sorted(list) {
    const out = list.slice().sort((a, b) => key(b) - key(a) || a - b);
    return reversed ? out.reverse() : out;
  }
  function arrange() {
    const text = search.value.trim().toLowerCase();
    order = sorted(flagged.concat(uncertain).filter((p) => matches(p, text)));
    grid.replaceChildren(...order.map((p) => cards[p]));
    cardsHead.textContent = "Flagged and uncertain pairs (" + fmt(order.length) + ")";
    rows = sorted(others.filter((p) => matches(p, text)));
    tableHead.textContent = "Every other pair (" + fmt(rows.length) + "), by " + sortBy.options[sortBy.selectedIndex].text + (reversed ? ", lowest first" : ", highest first");
    table.replaceChildren();
    const head = el("tr");
    for (const h of ["first acquisition", "later acquisition", "z", "Pearson", "overlap", "joint score"]) head.append(el("th", {}, h));
    table.append(head);
    shownRows = 0;
    showMore();
    shown.textContent = "showing " + fmt(order.length + rows.length) + " of " + fmt(n);
    selected = -1;
  }
  function showMore() {
    const end = Math.min(rows.length, shownRows + 200);
    for (let k = shownRows; k < end; k++) {
      const p = rows[k];
      const tr = el("tr");
      for (const v of [name(D.first[p]), name(D.later[p]), num(D.z[p], 1), num(D.pearson[p], 3), pct(D.overlap[p]), num(D.joint[p], 3)]) {
        tr.append(el("td", {}, v));
      }
      table.append(tr);
    }
    shownRows = end;
    more.hidden = shownRows >= rows.length;
  }
  function select(i) {
    if (!order.length) return;
    i = Math.max(0, Math.min(order.length - 1, i));
    if (selected >= 0) cards[order[selected]].classList.remove("sel");
    selected = i;
    cards[order[i]].classList.add("sel");
    cards[order[i]].scrollIntoView({ block: "nearest" });
  }
  document.addEventListener("keydown", (e) => {
    if (e.target === search && e.key !== "Escape") return;
    if (e.target instanceof HTMLSelectElement) return;
    const step = { ArrowRight: 1, ArrowDown: 1, j: 1, n: 1, ArrowLeft: -1, ArrowUp: -1, k: -1, p: -1 }[e.key];
    if (step) {
      e.preventDefault();
      select(selected < 0 ? 0 : selected + step);
    } else if (e.key === "Escape") search.blur();
    else if (e.key === "/") {
      e.preventDefault();
      search.focus();
    }
  });
  search.addEventListener("input", arrange);
  sortBy.addEventListener("change", () => {
    reversed = false;
    arrange();
  });
  direction.addEventListener("click", () => {
    reversed = !reversed;
    arrange();
  });
  more.addEventListener("click", showMore);
  function marked() {
    corrections.textContent = fmt(marks.size) + (marks.size === 1 ? " pair marked" : " pairs marked");
    for (const p in cards) {
      const mark = marks.get(Number(p));
      cards[p].classList.toggle("marked", Boolean(mark));
      cards[p].querySelector(".mark").textContent = mark ? "marked " + mark + " (undo)" : D.duplicate[p] ? "mark distinct" : "mark duplicate";
    }
  }
  function overridesText() {
    const lines = [csv.HEADER];
    for (const p of [...marks.keys()].sort((a, b) => a - b)) lines.push(csv.line(["pair", "", "", D.paths[D.first[p]], D.paths[D.later[p]], marks.get(p)]));
    for (const cells of others_) lines.push(csv.line(cells));
    return lines.join("\n") + "\n";
  }
  save.addEventListener("click", () => csv.download(overridesText()));
  csv.loaded(loadFile, corrections, (rows) => {
    const pairOf = new Map(); // "A\nB" (either order) -> pair with a card
    for (const p in cards) {
      const [a, b] = [D.paths[D.first[p]], D.paths[D.later[p]]];
      pairOf.set(a + "\n" + b, Number(p));
      pairOf.set(b + "\n" + a, Number(p));
    }
    marks.clear();
    others_ = [];
    for (const cells of rows) {
      const p = cells[0] === "pair" ? pairOf.get(cells[3] + "\n" + cells[4]) : undefined;
      if (p !== undefined && (cells[5] === "distinct") === Boolean(D.duplicate[p])) marks.set(p, cells[5]);
      else if (cells.some((c) => c !== "")) others_.push(cells);
    }
    marked();
  });
  marked();
  window.cryodedupPairs = { text: () => overridesText() };
  arrange();
})();
