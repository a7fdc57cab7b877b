// Teacher page: live progress with names, removing a student, training, the result. Polls every 2 s.
// The teacher's cookie (HttpOnly) goes with every request of this page; no token in any address.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const t = (k, p) => window.I18N.t(k, p);
  const C = window.Charts;
  let shownRun = -1;
  let last = null;
  let lastResults = null;

  async function api(method, url) {
    const r = await fetch(url, { method, cache: "no-store", credentials: "same-origin" });
    let data = null;
    try { data = await r.json(); } catch (e) { data = null; }
    if (!r.ok) {
      const err = new Error((data && data.detail) || ("error " + r.status));
      err.code = data && data.code;
      throw err;
    }
    return data;
  }
  function cell(tr, text, cls) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    tr.append(td);
    return td;
  }
  function bar(td, fraction) {
    const outer = document.createElement("div");
    outer.className = "bar";
    const inner = document.createElement("div");
    inner.style.width = Math.round(100 * Math.min(1, fraction)) + "%";
    outer.append(inner);
    td.append(outer);
  }
  function perClass(table, counts) {
    table.replaceChildren();
    const top = Math.max(1, ...Object.values(counts));
    for (const [code, n] of Object.entries(counts)) {
      const tr = document.createElement("tr");
      cell(tr, code === "skip" ? t("teacher.col_skipped") : t("class." + code), "name");
      bar(cell(tr, "", "wide"), n / top);
      cell(tr, String(n), "num");
      table.append(tr);
    }
  }
  function agreementText(p) {
    const a = p.agreement;
    return a.pairs ? t("teacher.agree", { k: a.agree, n: a.pairs, share: window.I18N.pct(a.share) }) +
      (p.ties ? " " + t("teacher.ties", { n: p.ties }) : "") : t("teacher.agree_none");
  }
  function stageText(tr, minLabels, labelsNow) {
    if (tr.state === "idle") return t("teacher.not_trained", { n: labelsNow, min: minLabels });
    if (tr.state === "failed") return t("stage.failed");
    if (tr.state === "done") return t("stage.done");
    return t("stage." + tr.stage, tr.args || {});
  }

  function showProgress(s) {
    const p = s.progress;
    const assigned = p.students.reduce((a, x) => a + x.assigned, 0);
    const answered = p.students.reduce((a, x) => a + x.answered, 0);
    $("overall").textContent = t("teacher.overall", { students: p.students.length, answered, assigned,
      displays_answered: p.displays_answered, displays: p.displays, twice: p.displays_twice });
    $("overall-bar").style.width = (assigned ? Math.round(100 * answered / assigned) : 0) + "%";
    perClass($("per-class"), p.per_class);
    $("agreement").textContent = agreementText(p);
    const body = $("students").querySelector("tbody");
    body.replaceChildren();
    for (const st of p.students) {
      const tr = document.createElement("tr");
      cell(tr, String(st.number), "num");
      cell(tr, st.name, "name");
      cell(tr, st.answered + " / " + st.assigned, "num");
      bar(cell(tr, "", "wide"), st.assigned ? st.answered / st.assigned : 0);
      cell(tr, String(st.skipped), "num");
      cell(tr, st.active ? t("teacher.active") : t("teacher.idle"), st.active ? "good" : "small");
      const td = cell(tr, "");
      const b = document.createElement("button");
      b.className = "small-btn remove";
      b.textContent = t("teacher.remove");
      b.dataset.number = String(st.number);
      b.addEventListener("click", () => remove(st));
      td.append(b);
      body.append(tr);
    }
    $("removed").textContent = p.removed ? t("teacher.removed_count", { n: p.removed }) : "";
  }

  async function remove(st) {
    if (!confirm(t("teacher.remove_confirm", { name: st.name, number: st.number }))) return;
    try { await api("POST", "/api/teacher/students/" + st.number + "/remove"); }
    catch (e) { $("train-error").textContent = e.message; }
    refresh();
  }

  function showTraining(s) {
    const tr = s.training;
    const labelsNow = Object.values(s.progress.class_labels).reduce((a, b) => a + b, 0);
    $("train").disabled = tr.state === "running";
    $("train-bar").style.width = Math.round(100 * (tr.fraction || 0)) + "%";
    $("train-stage").textContent = stageText(tr, s.min_labels, labelsNow);
    $("train-error").textContent = tr.error || "";
    if (tr.state === "done" && tr.runs !== shownRun) {
      shownRun = tr.runs;
      loadResults();
    }
  }

  function image(key, caption) {
    const fig = document.createElement("figure");
    const img = document.createElement("img");
    img.src = "/api/teacher/figures/" + key + "?v=" + shownRun;
    img.alt = caption;
    img.className = "pixelated";
    const cap = document.createElement("figcaption");
    cap.textContent = caption;
    fig.append(img, cap);
    return fig;
  }
  function top2(probs) {
    const order = [0, 1, 2, 3].sort((a, b) => probs[b] - probs[a]);
    const codes = ["q", "e", "m", "t"];
    return t("results.unsure_caption", {
      a: t("class." + codes[order[0]]), pa: Math.round(100 * probs[order[0]]),
      b: t("class." + codes[order[1]]), pb: Math.round(100 * probs[order[1]]),
    });
  }
  function referenceBlock(ref) {
    const box = document.createElement("div");
    const line = (key, b) => {
      if (!b) return;
      const p = document.createElement("p");
      p.className = "lead";
      p.textContent = t(key, { k: b.k, n: b.n, share: window.I18N.number(100 * b.value, 0),
        lo: window.I18N.number(100 * b.ci95[0], 0), hi: window.I18N.number(100 * b.ci95[1], 0) });
      box.append(p);
    };
    line("results.class_vs_key", ref.class_vs_key);
    line("results.cnn_vs_key", ref.cnn_vs_key);
    if (ref.true_fractions) {
      const p = document.createElement("p");
      p.textContent = t("results.true_fractions", Object.fromEntries(["q", "e", "m", "t"].map(
        (c) => [c, window.I18N.number(100 * ref.true_fractions[c], 1)])));
      box.append(p);
    }
    if (ref.confusion_cnn_vs_key) box.append(C.confusion(ref.confusion_cnn_vs_key, "results.key_says", "results.cnn_says"));
    return box;
  }
  function showResults(data) {
    lastResults = data;
    $("results").hidden = false;
    const res = data.results;
    $("result-main").replaceChildren(C.result(res));
    $("confusion").replaceChildren(C.confusion(res.heldout.confusion.class_x_cnn, "results.class_says", "results.cnn_says"));
    const curves = $("curves");
    curves.replaceChildren(C.curves(data.curves), C.curvesLegend(data.curves));
    $("reference").hidden = !res.reference;
    if (res.reference) $("reference-body").replaceChildren(referenceBlock(res.reference));
    $("unsure").replaceChildren(...data.unsure.map((u) => image(u.figure, top2(u.probs))));
    $("occlusion").replaceChildren(...data.occlusion.map((o) => image(o.figure,
      t("results.occlusion_caption", { cls: t("class." + o.target), p: Math.round(100 * o.p) }))));
    const tr = data.training;
    $("how-trained").textContent = t("results.how_trained", {
      labels: tr.labels, trained: tr.trained_on, heldout: res.heldout.displays, validation: tr.validation,
      epochs: data.curves.epochs.length, max: tr.epochs_max, seconds: tr.seconds,
    }) + " " + (tr.pretrained && tr.pretrained.weights !== "none" ? t("results.pretrained") : t("results.scratch"));
  }
  async function loadResults() {
    let data;
    try { data = await api("GET", "/api/teacher/results"); } catch (e) { $("train-error").textContent = e.message; return; }
    showResults(data);  // a drawing error is a script error (seen in the console and by the tests), not a network one
  }

  async function refresh() {
    try {
      const s = await api("GET", "/api/teacher/status");
      last = s;
      const urls = $("student-urls");
      urls.replaceChildren(...s.student_urls.map((u) => { const li = document.createElement("li"); li.textContent = u; return li; }));
      const c = s.capacity;
      $("capacity").textContent = t("teacher.capacity", { displays: c.displays, overlap: c.overlap, per: c.per_student, room: c.room, max: c.max_students });
      $("lesson-info").textContent = s.lesson.reference
        ? t("teacher.lesson_ref", { examples: s.lesson.examples, practice: s.lesson.practice })
        : t("teacher.lesson_noref");
      $("problem").hidden = !s.problem;
      $("problem").textContent = s.problem ? t("teacher.db_gone", { why: s.problem }) : "";
      showProgress(s);
      showTraining(s);
    } catch (e) {
      $("train-error").textContent = t("error.network") + " " + e.message;
    }
  }
  $("train").addEventListener("click", async () => {
    $("train").disabled = true;
    try { await api("POST", "/api/teacher/train"); } catch (e) { $("train-error").textContent = e.message; }
    refresh();
  });
  window.I18N.onChange(() => { if (last) { showProgress(last); showTraining(last); } if (lastResults) showResults(lastResults); });
  (async function start() {
    await window.I18N.init();
    $("qr").src = "/api/qr.svg";
    refresh();
    setInterval(refresh, 2000);
  })();
})();
