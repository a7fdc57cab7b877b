// The projector's page: progress, answers per class, training, the class's result. No names, no secret.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const t = (k, p) => window.I18N.t(k, p);
  let last = null;
  let shownRun = -1;

  function row(table, label, fraction, value) {
    const tr = document.createElement("tr");
    const a = document.createElement("td"); a.className = "name"; a.textContent = label;
    const b = document.createElement("td"); b.className = "wide";
    const outer = document.createElement("div"); outer.className = "bar";
    const inner = document.createElement("div"); inner.style.width = Math.round(100 * Math.min(1, fraction)) + "%";
    outer.append(inner); b.append(outer);
    const c = document.createElement("td"); c.className = "num"; c.textContent = String(value);
    tr.append(a, b, c);
    table.append(tr);
  }
  function show(d) {
    last = d;
    const p = d.progress;
    $("student-url").textContent = d.student_url;
    $("overall").textContent = t("board.overall", { students: p.students, answered: p.answered, assigned: p.assigned,
      displays_answered: p.displays_answered, displays: p.displays });
    $("overall-bar").style.width = (p.assigned ? Math.round(100 * p.answered / p.assigned) : 0) + "%";
    const table = $("per-class");
    table.replaceChildren();
    const top = Math.max(1, ...Object.values(p.per_class));
    for (const [code, n] of Object.entries(p.per_class)) row(table, code === "skip" ? t("teacher.col_skipped") : t("class." + code), n / top, n);
    const a = p.agreement;
    $("agreement").textContent = a.pairs ? t("teacher.agree", { k: a.agree, n: a.pairs, share: window.I18N.pct(a.share) })
      : t("teacher.agree_none");
    const tr = d.training;
    $("train-bar").style.width = Math.round(100 * (tr.fraction || 0)) + "%";
    $("train-stage").textContent = tr.state === "idle" ? t("board.not_trained") : tr.state === "failed" ? t("stage.failed")
      : tr.state === "done" ? t("stage.done") : t("stage." + tr.stage, tr.args || {});
    $("problem").hidden = !d.problem;
    $("problem").textContent = d.problem ? t("error.db_gone") : "";
    if (d.results && (tr.runs !== shownRun || !$("result-main").childElementCount)) {
      shownRun = tr.runs;
      $("results").hidden = false;
      $("result-main").replaceChildren(window.Charts.result(d.results));
    }
  }
  async function refresh() {
    try {
      const r = await fetch("/api/board", { cache: "no-store" });
      if (r.ok) show(await r.json());
    } catch (e) { /* the next poll tries again */ }
  }
  window.I18N.onChange(() => { if (last) { shownRun = -1; show(last); } });
  (async function start() {
    await window.I18N.init();
    refresh();
    setInterval(refresh, 2000);
  })();
})();
