// The class's result drawn in the page (SVG and tables, words from the catalogue), readable on a projector.
"use strict";
window.Charts = (function () {
  const NS = "http://www.w3.org/2000/svg";
  const CODES = ["q", "e", "m", "t"];
  const t = (k, p) => window.I18N.t(k, p);
  const num = (x, d) => window.I18N.number(x, d);

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function s(tag, attrs, text) {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  }
  // "87.3 ± 2.5 %" from a figure {value, total} as a percentage
  function pctPm(f, d) {
    if (!f || f.value === null || f.value === undefined) return "–";
    const digits = d === undefined ? 1 : d;
    return num(100 * f.value, digits) + " ± " + (f.total === null ? "?" : num(100 * f.total, digits)) + " %";
  }
  function pm(f, d) {
    if (!f || f.value === null || f.value === undefined) return "–";
    return num(f.value, d) + " ± " + (f.total === null ? "?" : num(f.total, d));
  }

  // a round upper end for an axis of shares: 5 %, 10 %, 15 %, 20 %, 30 %, 50 % or 100 %
  function niceTop(x) {
    for (const top of [0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0]) if (x <= top) return top;
    return 1.0;
  }
  // one row: an axis from 0 to top (in %) with the measured bar, its error bar and the PDG tick
  function rowSvg(value, err, pdg, top) {
    const W = 420, H = 40, x0 = 10, x1 = W - 14;
    const x = (v) => x0 + (x1 - x0) * Math.max(0, Math.min(1, v / top));
    const g = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "rowchart", role: "img" });
    g.append(s("line", { x1: x0, x2: x1, y1: 26, y2: 26, class: "axis" }));
    for (let k = 0; k <= 4; k++) {
      const v = (top * k) / 4;
      const digits = Math.abs(100 * v - Math.round(100 * v)) < 1e-9 ? 0 : 1;
      g.append(s("line", { x1: x(v), x2: x(v), y1: 23, y2: 29, class: "axis" }));
      g.append(s("text", { x: x(v), y: H - 1, class: "tick", "text-anchor": k === 0 ? "start" : k === 4 ? "end" : "middle" },
        num(100 * v, digits) + (k === 4 ? " %" : "")));
    }
    if (value !== null && value !== undefined) {
      const e = err || 0;
      g.append(s("rect", { x: x0, y: 7, width: Math.max(0, x(value) - x0), height: 14, class: "bar" }));
      g.append(s("line", { x1: x(value - e), x2: x(value + e), y1: 14, y2: 14, class: "err" }));
      if (value - e >= 0) g.append(s("line", { x1: x(value - e), x2: x(value - e), y1: 8, y2: 20, class: "err" }));
      if (value + e <= top) g.append(s("line", { x1: x(value + e), x2: x(value + e), y1: 8, y2: 20, class: "err" }));
    }
    if (pdg !== null && pdg !== undefined) {
      g.append(s("line", { x1: x(pdg), x2: x(pdg), y1: 1, y2: 25, class: "pdg" }));
    }
    return g;
  }

  // the fractions of hadronic, electron, muon and tau decays with uncertainties and the PDG beside
  function fractions(m) {
    const box = el("div", "result");
    const table = el("table", "fractions");
    const head = el("tr");
    for (const k of ["result.decay", "result.measured", "result.pdg", "result.chart"]) head.append(el("th", "", t(k)));
    const thead = el("thead");
    thead.append(head);
    table.append(thead);
    const body = el("tbody");
    const lepTop = niceTop(Math.max(...["e", "m", "t"].map((c) => (m.fractions[c].value || 0) + 0.5 * (m.fractions[c].total || 0)),
      ...["e", "m", "t"].map((c) => 1.3 * (m.fractions[c].pdg || 0))));
    for (const c of CODES) {
      const f = m.fractions[c];
      const tr = el("tr");
      tr.dataset.code = c;
      tr.append(el("th", "word", t("decay." + c)));
      const v = el("td", "num big", pctPm(f));
      v.title = t("result.split", { stat: num(100 * (f.stat || 0), 1), conf: num(100 * (f.confusion || 0), 1) });
      tr.append(v);
      tr.append(el("td", "num", num(100 * f.pdg, 1) + " %"));
      const cell = el("td", "chart");
      cell.append(rowSvg(f.value, f.total, f.pdg, c === "q" ? 1.0 : lepTop));
      tr.append(cell);
      body.append(tr);
    }
    table.append(body);
    box.append(table);
    const split = el("p", "small", t("result.uncertainty"));
    box.append(split);
    box.append(legend());
    return box;
  }
  function legend() {
    const p = el("p", "legend small");
    const a = el("span", "key-bar"); a.textContent = "■ ";
    const b = el("span", "key-pdg"); b.textContent = " | ";
    p.append(a, t("result.legend_measured"), b, t("result.legend_pdg"));
    return p;
  }

  // lepton universality: e : mu : tau as shares of the lepton pairs, and R_l
  function universality(m) {
    const box = el("div", "result");
    box.append(el("h3", "", t("result.universality")));
    const table = el("table", "fractions");
    const body = el("tbody");
    for (const c of ["e", "m", "t"]) {
      const f = m.universality["share_" + c];
      const tr = el("tr");
      tr.append(el("th", "word", t("decay." + c)));
      tr.append(el("td", "num big", pctPm(f, 0)));
      tr.append(el("td", "num", num(100 * (f ? f.pdg : 1 / 3), 0) + " %"));
      const cell = el("td", "chart");
      cell.append(rowSvg(f ? f.value : null, f ? f.total : 0, f ? f.pdg : 1 / 3, 1.0));
      tr.append(cell);
      body.append(tr);
    }
    table.append(body);
    box.append(table);
    if (m.R_l && m.R_l.value !== undefined) {
      box.append(el("p", "lead", t("result.rl", { value: pm(m.R_l, 1), pdg: num(m.R_l.pdg, 2) })));
    }
    return box;
  }

  // the whole public result: what was measured and how; or why there is nothing yet
  function result(res) {
    const box = el("div", "results-block");
    if (!res) return box;
    if (!res.measurement) {
      const p = res.problem || {};
      box.append(el("p", "lead bad", t("problem." + (p.code || "nothing_measured"),
        { classes: (p.classes || []).map((c) => t("class." + c)).join(", ") })));
      return box;
    }
    const m = res.measurement;
    box.append(el("p", "lead", t("result.intro", { n: res.measured_displays, known: res.labelled_displays,
      total: m.n_displays, heldout: res.heldout.displays })));
    box.append(fractions(m));
    box.append(universality(m));
    if (res.heldout && res.heldout.agreement) {
      const a = res.heldout.agreement;
      box.append(el("p", "small", t("result.heldout", {
        k: a.k, n: a.n, share: num(100 * a.value, 0), lo: num(100 * a.ci95[0], 0), hi: num(100 * a.ci95[1], 0),
      })));
    }
    return box;
  }

  // class (rows) against the CNN (columns) on the held-out displays, counts in every cell
  function confusion(matrix, rowsKey, colsKey) {
    const table = el("table", "confusion");
    const top = el("tr");
    top.append(el("th", "corner", t(rowsKey) + " \u2193  " + t(colsKey) + " \u2192"));
    for (const c of CODES) top.append(el("th", "", t("class." + c)));
    const thead = el("thead");
    thead.append(top);
    table.append(thead);
    const body = el("tbody");
    const max = Math.max(1, ...matrix.flat());
    matrix.forEach((row, i) => {
      const tr = el("tr");
      tr.append(el("th", "", t("class." + CODES[i])));
      row.forEach((n, j) => {
        const td = el("td", "num" + (i === j ? " diag" : ""), String(n));
        td.style.setProperty("--level", String(n / max));
        tr.append(td);
      });
      body.append(tr);
    });
    table.append(body);
    return table;
  }

  // learning curves that cannot mislead: losses, validation accuracy with its 95 % band, the kept epoch
  function curves(c) {
    const W = 640, H = 300, L = 56, R = 56, T = 16, B = 44;
    const g = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "curves", role: "img" });
    const n = c.epochs.length;
    if (!n) return g;
    const losses = [...c.loss, ...c.val_loss].filter((v) => v !== null);
    const lmax = Math.max(0.1, ...losses) * 1.1;
    const x = (e) => L + (W - L - R) * (n === 1 ? 0.5 : (e - 1) / (n - 1));
    const yl = (v) => T + (H - T - B) * (1 - v / lmax);
    const ya = (v) => T + (H - T - B) * (1 - v);
    g.append(s("line", { x1: L, x2: W - R, y1: H - B, y2: H - B, class: "axis" }));
    g.append(s("line", { x1: L, x2: L, y1: T, y2: H - B, class: "axis" }));
    g.append(s("line", { x1: W - R, x2: W - R, y1: T, y2: H - B, class: "axis" }));
    for (let k = 0; k <= 4; k++) {
      g.append(s("text", { x: L - 6, y: yl((lmax * k) / 4) + 5, class: "tick", "text-anchor": "end" }, num((lmax * k) / 4, 1)));
      g.append(s("text", { x: W - R + 6, y: ya(k / 4) + 5, class: "tick" }, num(k / 4, 2)));
    }
    const step = Math.max(1, Math.ceil(n / 10));
    for (let e = 1; e <= n; e += step) g.append(s("text", { x: x(e), y: H - B + 18, class: "tick", "text-anchor": "middle" }, String(e)));
    g.append(s("text", { x: (L + W - R) / 2, y: H - 6, class: "label", "text-anchor": "middle" }, t("curves.epoch")));
    g.append(s("text", { x: 14, y: T + 8, class: "label", transform: `rotate(-90 14 ${T + 8})`, "text-anchor": "end" }, t("curves.loss")));
    g.append(s("text", { x: W - 12, y: T + 8, class: "label acc", transform: `rotate(90 ${W - 12} ${T + 8})` }, t("curves.accuracy")));
    // the validation accuracy's 95 % band
    const band = c.val_accuracy_ci95.map((b, i) => (b ? [c.epochs[i], b] : null)).filter(Boolean);
    if (band.length) {
      const pts = band.map(([e, b]) => `${x(e)},${ya(b[1])}`).concat(band.slice().reverse().map(([e, b]) => `${x(e)},${ya(b[0])}`));
      g.append(s("polygon", { points: pts.join(" "), class: "band" }));
    }
    const line = (vals, scale, cls) => {
      const pts = vals.map((v, i) => (v === null ? null : `${x(c.epochs[i])},${scale(v)}`)).filter(Boolean);
      if (pts.length) g.append(s("polyline", { points: pts.join(" "), class: cls }));
    };
    line(c.loss, yl, "loss");
    line(c.val_loss, yl, "val-loss");
    line(c.val_accuracy, ya, "val-acc");
    if (c.kept) {
      g.append(s("line", { x1: x(c.kept), x2: x(c.kept), y1: T, y2: H - B, class: "kept" }));
      g.append(s("text", { x: x(c.kept) + 4, y: T + 14, class: "label" }, t("curves.kept")));
    }
    return g;
  }
  function curvesLegend(c) {
    const box = el("div", "small");
    const keys = [["loss", "curves.train_loss"], ["val-loss", "curves.val_loss"], ["val-acc", "curves.val_acc"], ["band", "curves.band"]];
    const p = el("p", "legend");
    for (const [cls, key] of keys) {
      const sw = el("span", "swatch " + cls);
      p.append(sw, t(key), "  ");
    }
    box.append(p);
    box.append(el("p", "", t("curves.note", { n: c.validation, kept: c.kept || c.epochs.length, max: c.epochs_max || c.epochs.length })));
    return box;
  }

  return { result, fractions, universality, confusion, curves, curvesLegend, pctPm, el };
})();
