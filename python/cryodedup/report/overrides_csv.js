// overrides.csv as the pages write and read it (RFC 4180: a header line; a field quoted where it holds a
// comma, a quote or a line break); shared by micrographs.html and pairs.html, put before each page's script.
"use strict";
window.cryodedupOverrides = (function () {
  const HEADER = "kind,input,row,name,partner,action";
  const field = (v) => (/[",\r\n]/.test(String(v)) ? '"' + String(v).replace(/"/g, '""') + '"' : String(v));
  const line = (cells) => cells.map(field).join(",");
  // the file's records: fields, some quoted ("" a quote), lines ended by LF or CRLF
  function records(text) {
    const out = [];
    let row = [];
    let cell = "";
    let quoted = false;
    for (let k = 0; k < text.length; k++) {
      const ch = text[k];
      if (quoted) {
        if (ch === '"' && text[k + 1] === '"') [cell, k] = [cell + '"', k + 1];
        else if (ch === '"') quoted = false;
        else cell += ch;
      } else if (ch === '"') quoted = true;
      else if (ch === ",") [row, cell] = [[...row, cell], ""];
      else if (ch === "\n" || ch === "\r") {
        if (ch === "\r" && text[k + 1] === "\n") k++;
        out.push([...row, cell]);
        [row, cell] = [[], ""];
      } else cell += ch;
    }
    if (cell || row.length) out.push([...row, cell]);
    return out;
  }
  // a file's lines after its header; null where its first line is not the header
  function parsed(text) {
    const rows = records(text);
    return rows.length && rows[0].join(",") === HEADER ? rows.slice(1) : null;
  }
  // the text downloaded as overrides.csv (a link clicked: no server needed)
  function download(text) {
    const url = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
    const a = document.createElement("a");
    a.href = url;
    a.download = "overrides.csv";
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }
  // a file chosen in ``input`` read: its lines after the header handed to ``use``; another file said in ``status``
  function loaded(input, status, use) {
    input.addEventListener("change", () => {
      const file = input.files[0];
      if (!file) return;
      file.text().then((text) => {
        const rows = parsed(text);
        if (rows === null) status.textContent = file.name + ": not an overrides file (its first line is not " + HEADER + ")";
        else use(rows);
      });
    });
  }
  return { HEADER, line, download, loaded };
})();
