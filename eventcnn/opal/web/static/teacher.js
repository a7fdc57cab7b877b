// Teacher page: live progress, agreement, training and its pictures. Polls the server every 2 s.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const token = new URLSearchParams(location.search).get("token") || "";
  const q = "token=" + encodeURIComponent(token);
  const WORDS = { q: "hadrons", e: "electrons", m: "muons", t: "taus", skip: "not sure" };
  let shownRun = -1;

  async function api(method, url) {
    const r = await fetch(url, { method, headers: { "X-Teacher-Token": token }, cache: "no-store" });
    let data = null;
    try { data = await r.json(); } catch (e) { data = null; }
    if (!r.ok) throw new Error((data && data.detail) || ("error " + r.status));
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
  function pct(x) { return Math.round(100 * x) + " %"; }

  function showProgress(p) {
    const assigned = p.students.reduce((s, x) => s + x.assigned, 0);
    const answered = p.students.reduce((s, x) => s + x.answered, 0);
    $("overall").textContent = p.students.length + " students, " + answered + " of " + assigned +
      " answers; " + p.displays_answered + " of " + p.displays + " displays answered, " +
      p.displays_twice + " by two or more students";
    $("overall-bar").style.width = (assigned ? Math.round(100 * answered / assigned) : 0) + "%";
    const table = $("per-class");
    table.replaceChildren();
    const top = Math.max(1, ...Object.values(p.per_class));
    for (const [code, n] of Object.entries(p.per_class)) {
      const tr = document.createElement("tr");
      cell(tr, WORDS[code] || code, "name");
      bar(cell(tr, "", "wide"), n / top);
      cell(tr, String(n), "num");
      table.append(tr);
    }
    const a = p.agreement;
    $("agreement").textContent = a.pairs
      ? a.agree + " of " + a.pairs + " pairs of answers to the same display agree (" + pct(a.share) + ")" +
        (p.ties ? "; " + p.ties + " displays are tied" : "")
      : "not yet measured: it needs two answers to one display";
    const body = $("students").querySelector("tbody");
    body.replaceChildren();
    for (const s of p.students) {
      const tr = document.createElement("tr");
      cell(tr, String(s.number), "num");
      cell(tr, s.name, "name");
      cell(tr, s.answered + " / " + s.assigned, "num");
      bar(cell(tr, "", "wide"), s.assigned ? s.answered / s.assigned : 0);
      cell(tr, String(s.skipped), "num");
      body.append(tr);
    }
  }

  function showTraining(t, minLabels, labelsNow) {
    $("train").disabled = t.state === "running";
    $("train-bar").style.width = Math.round(100 * (t.fraction || 0)) + "%";
    $("train-stage").textContent = t.state === "idle"
      ? "Not trained yet (" + labelsNow + " displays have a class label; at least " + minLabels + " needed)."
      : t.stage;
    $("train-error").textContent = t.error || "";
    if (t.summary) {
      const s = t.summary;
      const agree = s.cnn_agrees_with_class == null ? "" :
        "; the CNN agrees with the class on " + pct(s.cnn_agrees_with_class) + " of its displays";
      $("train-summary").textContent = "Trained on " + s.labels + " class labels in " + s.seconds +
        " s, classified " + s.classified + " other displays" + agree + ". " +
        s.pretrained.charAt(0).toUpperCase() + s.pretrained.slice(1) + ".";
    }
    if (t.state === "done" && t.runs !== shownRun) {
      shownRun = t.runs;
      $("results").hidden = false;
      for (const key of ["overview", "confusion", "unsure", "occlusion", "curves"]) {
        const img = $("fig-" + key);
        const has = t.figures.includes(key);
        img.closest("figure").hidden = !has;
        if (has) img.src = "/api/teacher/figures/" + key + "?" + q + "&v=" + t.runs;
      }
    }
  }

  async function refresh() {
    try {
      const s = await api("GET", "/api/teacher/status");
      $("student-url").textContent = s.student_url;
      $("capacity").textContent = s.capacity;
      showProgress(s.progress);
      const labelsNow = Object.values(s.progress.class_labels).reduce((a, b) => a + b, 0);
      showTraining(s.training, s.min_labels, labelsNow);
    } catch (e) {
      $("train-error").textContent = "No answer from the server: " + e.message;
    }
  }
  $("qr").src = "/api/teacher/qr.svg?" + q;
  $("labels-link").href = "/api/teacher/labels.csv?" + q;
  $("votes-link").href = "/api/teacher/votes.csv?" + q;
  $("train").addEventListener("click", async () => {
    $("train").disabled = true;
    try { await api("POST", "/api/teacher/train"); } catch (e) { $("train-error").textContent = e.message; }
    refresh();
  });
  refresh();
  setInterval(refresh, 2000);
})();
