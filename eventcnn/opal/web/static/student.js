// Student page: join, then label one display at a time. No library, no network outside this server.
"use strict";
(function () {
  const KEY = "eventcnn-class-student";
  const $ = (id) => document.getElementById(id);
  let student = localStorage.getItem(KEY);
  let current = null;      // {display, index, total, answered}
  let pending = null;      // {display, label, vote_id}: sent, answer not yet received
  let busy = false;

  function show(section) {
    for (const id of ["join", "label", "done"]) $(id).hidden = id !== section;
  }
  function say(text, bad) {
    $("message").textContent = text;
    $("message").className = "message" + (bad ? " bad" : "");
  }
  function newId() {  // crypto.getRandomValues works on plain http too (randomUUID does not)
    const b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  }
  async function api(method, url, body) {
    const r = await fetch(url, {
      method, headers: body ? { "Content-Type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined, cache: "no-store",
    });
    let data = null;
    try { data = await r.json(); } catch (e) { data = null; }
    if (!r.ok) {
      const err = new Error((data && data.detail) || ("error " + r.status));
      err.status = r.status;
      throw err;
    }
    return data;
  }
  function setButtons(enabled) {
    document.querySelectorAll("button[data-label]").forEach((b) => { b.disabled = !enabled; });
  }
  function render(state) {
    current = state;
    if (!state.display) {
      show("done");
      $("done-text").textContent = "You answered " + state.answered + " of " + state.total + " events.";
      return;
    }
    show("label");
    $("counter").textContent = "event " + state.index + " of " + state.total;
    const img = $("display");
    img.src = "/api/displays/" + encodeURIComponent(state.display);
    setButtons(true);
  }
  async function load() {
    if (!student) { show("join"); $("name").focus(); return; }
    try {
      render(await api("GET", "/api/students/" + encodeURIComponent(student)));
    } catch (e) {
      if (e.status === 404 || e.status === 422) {  // the class was reset: join again
        localStorage.removeItem(KEY); student = null; show("join");
      } else {
        show("label"); say("No connection to the teacher's computer. Trying again...", true);
        setTimeout(load, 2000);
      }
    }
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
      say(label === "skip" ? "Skipped." : "Saved.", false);
      render(r.next);
    } catch (e) {
      say("Not saved (" + e.message + "). Tap again.", true);
      setButtons(true);
    } finally {
      busy = false;
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
      say("", false);
      render(r);
    } catch (e) {
      alert("Could not join: " + e.message);
    }
  });
  document.querySelectorAll("button[data-label]").forEach((b) => {
    b.addEventListener("click", () => answer(b.dataset.label));
  });
  document.addEventListener("keydown", (ev) => {
    if ($("label").hidden || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const k = ev.key.toLowerCase();
    const label = { q: "q", e: "e", m: "m", t: "t", s: "skip" }[k];
    if (label) { ev.preventDefault(); answer(label); }
  });
  fetch("/api/hints").then((r) => r.json()).then((hints) => {
    const dl = $("hint-list");
    for (const h of hints) {
      const dt = document.createElement("dt");
      dt.textContent = h.word + " (" + h.key + ")";
      const dd = document.createElement("dd");
      dd.textContent = h.hint;
      dl.append(dt, dd);
    }
  }).catch(() => {});
  load();
})();
