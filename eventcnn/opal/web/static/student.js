// Student page: join, learn (examples and the colour key), practise, label (with undo), see the result.
// No library, no network outside this server; displays are known by random ids only.
"use strict";
(function () {
  const KEY = "eventcnn-class-student";
  const $ = (id) => document.getElementById(id);
  const t = (k, p) => window.I18N.t(k, p);
  const SECTIONS = ["join", "learn", "practice", "label", "done"];
  let student = localStorage.getItem(KEY);
  let lesson = { examples: [], practice: [], layers: {}, colours: [] };
  let current = null;      // {display, index, total, answered}
  let pending = null;      // {display, label, vote_id}: sent, answer not yet received
  let busy = false;
  let practiceAt = 0;
  let section = "join";
  let pollTimer = null;
  let lastSummary = null;

  const stepKey = () => KEY + "-step-" + student;
  function setStep(step) { if (student) localStorage.setItem(stepKey(), step); }
  function show(id) {
    section = id;
    for (const s of SECTIONS) $(s).hidden = s !== id;
    $("new-student").hidden = !student;
    if (id !== "done" && pollTimer) { clearInterval(pollTimer); pollTimer = null; }
  }
  function say(text, bad) {
    $("message").textContent = text;
    $("message").className = "message" + (bad ? " bad" : "");
  }
  function errorText(e) {
    const key = "error." + (e.code || "");
    const text = t(key);
    return text === key ? (e.message || t("error.network")) : text;
  }
  function newId() {  // crypto.getRandomValues works on plain http too (randomUUID does not)
    const b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  }
  async function api(method, url, body) {
    let r;
    try {
      r = await fetch(url, {
        method, headers: body ? { "Content-Type": "application/json" } : {},
        body: body ? JSON.stringify(body) : undefined, cache: "no-store",
      });
    } catch (e) {
      const err = new Error(t("error.network"));
      err.code = "network";
      throw err;
    }
    let data = null;
    try { data = await r.json(); } catch (e) { data = null; }
    if (!r.ok) {
      const err = new Error((data && data.detail) || ("error " + r.status));
      err.status = r.status;
      err.code = data && data.code;
      throw err;
    }
    return data;
  }

  // never a blurry enlargement: whole-number scaling of the display's own pixels (or a smaller fit)
  function fit(img, maxWidth) {
    if (!img.naturalWidth) return;
    const box = img.parentElement;
    const avail = Math.min(maxWidth || Infinity, box.clientWidth - 12, Math.max(200, window.innerHeight * 0.58));
    const dpr = window.devicePixelRatio || 1;
    const k = Math.floor((avail * dpr) / img.naturalWidth);
    if (k >= 1) {
      img.style.width = (k * img.naturalWidth) / dpr + "px";
      img.style.height = (k * img.naturalHeight) / dpr + "px";
      img.classList.toggle("pixelated", k > 1);
    } else {
      img.style.width = avail + "px";
      img.style.height = "auto";
      img.classList.remove("pixelated");
    }
    img.dataset.scale = String(k);
  }
  function setImage(img, id, maxWidth) {
    img.onload = () => fit(img, maxWidth);
    img.src = "/api/displays/" + encodeURIComponent(id);
  }
  window.addEventListener("resize", () => document.querySelectorAll("img.display").forEach((i) => fit(i)));

  // -- the colour key: where each detector layer is drawn on a display -------------------------
  function layerKey(target) {
    const NS = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(NS, "svg");
    svg.setAttribute("viewBox", "0 0 200 200");
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", t("learn.layers"));
    const rings = ["tracks", "ecal", "hcal", "muon"];
    const bg = document.createElementNS(NS, "circle");
    bg.setAttribute("cx", 100); bg.setAttribute("cy", 100); bg.setAttribute("r", 98); bg.setAttribute("class", "layer-bg");
    svg.append(bg);
    for (const name of rings) {  // where the displays draw each layer (radii in display pixels)
      const [r0, r1] = lesson.layers[name] || [0, 0];
      const ring = document.createElementNS(NS, "circle");
      ring.setAttribute("cx", 100); ring.setAttribute("cy", 100);
      ring.setAttribute("r", name === "tracks" ? r1 / 2 : (r0 + r1) / 2);
      ring.setAttribute("stroke-width", name === "tracks" ? r1 : Math.max(2, r1 - r0));
      ring.setAttribute("class", "ring ring-" + name);
      svg.append(ring);
    }
    const ul = document.createElement("ul");
    ul.className = "layer-legend";
    rings.forEach((name) => {
      const li = document.createElement("li");
      const sw = document.createElement("span");
      sw.className = "swatch ring-swatch-" + name;
      const label = document.createElement("span");
      label.className = "layer-label";
      label.textContent = t("layer." + name);
      li.append(sw, label);
      ul.append(li);
    });
    target.replaceChildren(svg, ul);
  }
  function colourKey() {
    const ul = $("colour-key");
    ul.replaceChildren();
    for (const c of lesson.colours) {
      const li = document.createElement("li");
      const sw = document.createElement("span");
      sw.className = "swatch";
      sw.style.background = c.colour;
      li.append(sw, c.to === null ? t("learn.colour_above", { from: c.from }) : t("learn.colour_range", { from: c.from, to: c.to }));
      ul.append(li);
    }
  }
  function showLearn() {
    setStep("learn");
    show("learn");
    layerKey($("layer-key"));
    colourKey();
    const box = $("examples");
    box.replaceChildren();
    for (const code of ["q", "e", "m", "t"]) {
      const card = document.createElement("div");
      card.className = "example card";
      card.dataset.code = code;
      const h = document.createElement("h3");
      h.textContent = t("decay." + code);
      const p = document.createElement("p");
      p.textContent = t("hint." + code);
      card.append(h, p);
      for (const ex of lesson.examples.filter((x) => x.label === code)) {
        const wrap = document.createElement("div");
        wrap.className = "display-box";
        const img = document.createElement("img");
        img.className = "display";
        img.alt = t("learn.example_alt", { cls: t("class." + code) });
        wrap.append(img);
        card.append(wrap);
        setImage(img, ex.display, 420);
      }
      box.append(card);
    }
    $("no-examples").hidden = lesson.examples.length > 0;
    $("to-practice").textContent = lesson.practice.length ? t("learn.go_practice") : t("learn.go_label");
  }

  // -- practice: displays with a known answer, outside the class's pool ------------------------
  function showPractice() {
    if (practiceAt >= lesson.practice.length) { section = "loading"; setStep("label"); load(); return; }
    setStep("practice");
    show("practice");
    $("feedback").hidden = true;
    document.querySelectorAll("button[data-practice]").forEach((b) => { b.disabled = false; b.classList.remove("right", "wrong"); });
    $("practice-counter").textContent = t("practice.counter", { i: practiceAt + 1, n: lesson.practice.length });
    setImage($("practice-display"), lesson.practice[practiceAt]);
  }
  async function practise(answer) {
    if (busy || section !== "practice" || !$("feedback").hidden || practiceAt >= lesson.practice.length) return;
    busy = true;
    try {
      const r = await api("POST", "/api/students/" + encodeURIComponent(student) + "/practice",
        { display: lesson.practice[practiceAt], answer });
      document.querySelectorAll("button[data-practice]").forEach((b) => {
        b.disabled = true;
        if (b.dataset.practice === r.label) b.classList.add("right");
        else if (b.dataset.practice === answer) b.classList.add("wrong");
      });
      $("feedback-verdict").textContent = r.correct ? t("practice.right", { cls: t("decay." + r.label) })
        : t("practice.wrong", { cls: t("decay." + r.label) });
      $("feedback-verdict").className = "lead " + (r.correct ? "good" : "bad");
      $("feedback-hint").textContent = t("hint." + r.label);
      $("practice-next").textContent = practiceAt + 1 < lesson.practice.length ? t("practice.next") : t("learn.go_label");
      $("feedback").hidden = false;
      $("practice-next").focus();
    } catch (e) {
      $("feedback-verdict").textContent = errorText(e);
      $("feedback").hidden = false;
    } finally {
      busy = false;
    }
  }

  // -- labelling -------------------------------------------------------------------------------
  function setButtons(enabled) {
    document.querySelectorAll("button[data-label]").forEach((b) => { b.disabled = !enabled; });
  }
  function render(state) {
    current = state;
    $("undo").disabled = !(state.answered > 0);
    if (!state.display) { showDone(); return; }
    setStep("label");
    show("label");
    $("counter").textContent = t("label.counter", { i: state.index, n: state.total });
    setImage($("display"), state.display);
    setButtons(true);
  }
  async function answer(label) {
    if (busy || !current || !current.display) return;
    busy = true;
    setButtons(false);
    if (!pending || pending.display !== current.display || pending.label !== label) {
      pending = { display: current.display, label: label, vote_id: newId() };
    }
    try {
      const r = await api("POST", "/api/students/" + encodeURIComponent(student) + "/votes", pending);
      pending = null;
      say(label === "skip" ? t("label.skipped") : t("label.saved"), false);
      render(r.next);
    } catch (e) {
      say(t("label.not_saved", { why: errorText(e) }), true);
      setButtons(true);
      if (e.status === 404 || e.status === 410) forget(e);
    } finally {
      busy = false;
    }
  }
  async function undo() {
    if (busy || !student) return;
    busy = true;
    try {
      const r = await api("POST", "/api/students/" + encodeURIComponent(student) + "/undo");
      pending = null;
      say(r.undone ? t("label.undone", { cls: r.label === "skip" ? t("label.skip") : t("class." + r.label) })
        : t("label.nothing_to_undo"), false);
      render(r.next);
    } catch (e) {
      say(errorText(e), true);
    } finally {
      busy = false;
    }
  }
  function hints() {
    const dl = $("hint-list");
    dl.replaceChildren();
    for (const code of ["q", "e", "m", "t"]) {
      const dt = document.createElement("dt");
      dt.textContent = t("decay." + code) + " (" + code + ")";
      const dd = document.createElement("dd");
      dd.textContent = t("hint." + code);
      dl.append(dt, dd);
    }
    layerKey($("hint-key"));
  }

  // -- the end: what I did, how often classmates agreed, the class's result -------------------
  function stageText(tr) {
    if (!tr || tr.state === "idle") return t("done.wait_teacher");
    if (tr.state === "failed") return t("stage.failed");
    if (tr.state === "done") return t("stage.done");
    return t("stage." + tr.stage, tr.args || {}) + " (" + Math.round(100 * (tr.fraction || 0)) + " %)";
  }
  function showSummary(data) {
    lastSummary = data;
    const s = data.summary;
    $("done-text").textContent = t("done.answered", { n: s.answered });
    const ul = $("done-classes");
    ul.replaceChildren();
    for (const c of ["q", "e", "m", "t", "skip"]) {
      const li = document.createElement("li");
      li.textContent = (c === "skip" ? t("teacher.col_skipped") : t("class." + c)) + ": " + s.per_class[c];
      ul.append(li);
    }
    $("done-agree").textContent = s.compared ? t("done.agree", { k: s.agree, n: s.compared }) : t("done.agree_none");
    $("done-practice").textContent = s.practice.answered
      ? t("done.practice", { k: s.practice.correct, n: s.practice.answered }) : "";
    $("done-training").textContent = stageText(data.training);
    const box = $("done-results");
    box.replaceChildren();
    if (data.results) box.append(window.Charts.result(data.results));
  }
  async function refreshSummary() {
    if (!student || section !== "done") return;
    try { showSummary(await api("GET", "/api/students/" + encodeURIComponent(student) + "/summary")); }
    catch (e) { $("done-training").textContent = errorText(e); }
  }
  function showDone() {
    show("done");
    $("more").disabled = false;
    refreshSummary();
    if (!pollTimer) pollTimer = setInterval(refreshSummary, 4000);
  }

  // -- joining, leaving, coming back --------------------------------------------------------------
  function forget(e) {
    if (student) localStorage.removeItem(stepKey());
    localStorage.removeItem(KEY);
    student = null;
    practiceAt = 0;
    show("join");
    $("join-message").textContent = e ? errorText(e) : "";
    $("name").value = "";
  }
  async function load() {
    if (!student) { show("join"); $("name").focus(); return; }
    try {
      const state = await api("GET", "/api/students/" + encodeURIComponent(student));
      const step = localStorage.getItem(stepKey()) || (state.answered > 0 ? "label" : "learn");
      if (step === "learn") showLearn();
      else if (step === "practice") showPractice();
      else render(state);
    } catch (e) {
      if (e.status === 404 || e.status === 410 || e.status === 422) {
        forget(e.status === 410 ? e : null);
      } else {
        show("label");
        say(t("error.network"), true);
        setTimeout(load, 2000);
      }
    }
  }
  $("join-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const name = $("name").value.trim();
    if (!name) return;
    try {
      const r = await api("POST", "/api/join", { name: name });
      student = r.student;
      localStorage.setItem(KEY, student);
      $("join-message").textContent = "";
      say("", false);
      practiceAt = 0;
      showLearn();
    } catch (e) {
      $("join-message").textContent = t("join.failed", { why: errorText(e) });
    }
  });
  $("to-practice").addEventListener("click", () => { practiceAt = 0; showPractice(); });
  $("practice-next").addEventListener("click", () => { practiceAt += 1; showPractice(); });
  document.querySelectorAll("button[data-practice]").forEach((b) => {
    b.addEventListener("click", () => practise(b.dataset.practice));
  });
  document.querySelectorAll("button[data-label]").forEach((b) => {
    b.addEventListener("click", () => answer(b.dataset.label));
  });
  $("undo").addEventListener("click", undo);
  $("more").addEventListener("click", async () => {
    try {
      const r = await api("POST", "/api/students/" + encodeURIComponent(student) + "/more");
      if (r.added > 0) render(r.next);
      else { $("more").disabled = true; $("done-training").textContent = t("done.no_more"); }
    } catch (e) { $("done-training").textContent = errorText(e); }
  });
  for (const id of ["new-student", "new-student-2"]) {
    $(id).addEventListener("click", () => { if (confirm(t("student.new_confirm"))) forget(null); });
  }
  document.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.target.tagName === "INPUT" || ev.target.tagName === "SELECT") return;
    const k = ev.key.toLowerCase();
    if (section === "label") {
      const label = { q: "q", e: "e", m: "m", t: "t", s: "skip" }[k];
      if (label) { ev.preventDefault(); answer(label); } else if (k === "u") { ev.preventDefault(); undo(); }
    } else if (section === "practice" && "qemt".includes(k) && k.length === 1) {
      ev.preventDefault();
      practise(k);
    }
  });
  window.I18N.onChange(() => {
    hints();
    if (section === "learn") showLearn();
    else if (section === "label" && current) $("counter").textContent = t("label.counter", { i: current.index, n: current.total });
    else if (section === "practice") $("practice-counter").textContent = t("practice.counter", { i: practiceAt + 1, n: lesson.practice.length });
    else if (section === "done" && lastSummary) showSummary(lastSummary);
  });
  (async function start() {
    await window.I18N.init();
    try { lesson = await api("GET", "/api/lesson"); } catch (e) { /* shown when used */ }
    hints();
    load();
  })();
})();
