// Every word of the pages comes from a message catalogue (/static/i18n/<lang>.json).
// The language: the reader's choice (kept in this browser), else the browser's languages, else English.
"use strict";
window.I18N = (function () {
  const KEY = "eventcnn-class-lang";
  const NAMES = { en: "English", de: "Deutsch", fr: "Français", es: "Español", it: "Italiano" };
  let lang = "en";
  let msgs = {};
  let english = {};
  const listeners = [];

  function pick() {
    const stored = localStorage.getItem(KEY);
    if (stored && NAMES[stored]) return stored;
    const wanted = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language];
    for (const l of wanted) {
      const code = String(l || "").slice(0, 2).toLowerCase();
      if (NAMES[code]) return code;
    }
    return "en";
  }
  async function fetchCatalogue(code) {
    const r = await fetch("/static/i18n/" + code + ".json", { cache: "no-cache" });
    if (!r.ok) throw new Error("no catalogue " + code);
    return r.json();
  }
  async function load(code) {
    if (!Object.keys(english).length) english = await fetchCatalogue("en");
    msgs = code === "en" ? english : await fetchCatalogue(code);
    lang = code;
  }
  // t("key", {n: 3}) -> the sentence with {n} replaced
  function t(key, params) {
    let s = Object.prototype.hasOwnProperty.call(msgs, key) ? msgs[key]
      : Object.prototype.hasOwnProperty.call(english, key) ? english[key] : key;
    if (params) {
      for (const [k, v] of Object.entries(params)) s = s.split("{" + k + "}").join(String(v));
    }
    return s;
  }
  function apply(root) {
    const scope = root || document;
    scope.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
    scope.querySelectorAll("[data-i18n-attr]").forEach((el) => {
      for (const pair of el.dataset.i18nAttr.split(";")) {
        const [attr, key] = pair.split(":");
        if (attr && key) el.setAttribute(attr.trim(), t(key.trim()));
      }
    });
    document.documentElement.lang = lang;
    if (document.body.dataset.title) document.title = t(document.body.dataset.title);
  }
  function number(x, digits) {
    return new Intl.NumberFormat(lang, { minimumFractionDigits: digits, maximumFractionDigits: digits }).format(x);
  }
  function pct(x, digits) { return number(100 * x, digits === undefined ? 0 : digits) + " %"; }
  function word(code) { return t("class." + code); }
  function switcher() {
    const sel = document.getElementById("lang");
    if (!sel) return;
    sel.replaceChildren();
    for (const [code, name] of Object.entries(NAMES)) {
      const o = document.createElement("option");
      o.value = code;
      o.textContent = name;
      o.selected = code === lang;
      sel.append(o);
    }
    sel.onchange = async () => {
      localStorage.setItem(KEY, sel.value);
      await load(sel.value);
      apply();
      listeners.forEach((f) => f(lang));
    };
  }
  async function init() {
    try { await load(pick()); } catch (e) { await load("en"); }
    apply();
    switcher();
    return lang;
  }
  return {
    init, t, apply, number, pct, word,
    lang: () => lang,
    onChange: (f) => listeners.push(f),
    languages: () => Object.keys(NAMES),
  };
})();
