// Mycelial web page: ask a memory, read the hits and why they came, explore the concept network.
// Plain JS + SVG, no external files. All data is written with textContent (never innerHTML).
"use strict";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";

function memory() { return encodeURIComponent($("memory").value); }

// a header carries the token: one with "€" made every fetch throw, read as "cannot reach the server", and the
// token box (shown by a 401 only) stayed hidden, so the page was locked until its storage was cleared by hand
const TOKEN_CHARS = /^[\x20-\x7e]*$/;

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  const token = localStorage.getItem("mycelial-token");
  if (token && !TOKEN_CHARS.test(token)) {
    $("token-box").hidden = false;
    throw new Error("a token is printable ASCII (letters, digits, punctuation): enter it again in the token box");
  }
  if (token) headers["Authorization"] = "Bearer " + token;
  let res;
  try {
    res = await fetch(path, Object.assign({}, options, { headers }));
  } catch (e) {  // said "Failed to fetch" (the browser's words) when the server was stopped or unreachable
    throw new Error(`cannot reach the server (${e.message}); is mycelial serve still running?`);
  }
  let body = null;
  // an answer that is not JSON (a proxy's error page) is named by its status: it said "Bad Gateway" alone
  try { body = await res.json(); } catch (e) { body = { error: `HTTP ${res.status} ${res.statusText}`.trim() }; }
  if (res.status === 401) {
    // a wrong token was answered "needs a token: enter it above", under the token just entered
    if ($("token-box").hidden) { $("token-box").hidden = false; $("token").focus(); }  // typing goes there
    throw new Error(token ? "the server refused this token: check the one in the token box"
                          : "this server needs a token: enter it in the token box");
  }
  if (!res.ok) {  // the status and fields go with it: the upload asks before replacing on a 409
    const err = new Error((body && body.error) || `HTTP ${res.status} ${res.statusText}`);
    err.status = res.status;
    err.fields = (body && body.fields) || [];
    throw err;
  }
  return body;
}

// counts read as the CLI prints them: "14,949 chunks" (it read "14949")
function num(n) { return typeof n === "number" ? n.toLocaleString("en-US") : String(n); }
function plural(n, word) { return `${num(n)} ${word}${n === 1 ? "" : "s"}`; }

function status(msg, isError) {
  $("status").textContent = msg;
  $("status").className = isError ? "error" : "";
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

const CLAMP = 1200;  // characters of a hit or chunk shown at first: a 200k-character base64 chunk filled pages

// a concept can be one huge token (a base64 line names itself): its button, label and list entry filled the page
const LABEL = 60;
const CONCEPT_MAX = 2000;  // as the server's CONCEPT_MAX
function short(text) { return text.length > LABEL ? text.slice(0, LABEL - 1) + "…" : text; }

function clampedText(tag, cls, text) {
  const e = el(tag, cls);
  if (text.length <= CLAMP) { e.textContent = text; return e; }
  const shown = el("span", "", text.slice(0, CLAMP) + "…");
  const more = el("button", "more", `show all ${text.length.toLocaleString("en")} characters`);
  more.type = "button";
  more.addEventListener("click", () => { shown.textContent = text; more.remove(); });
  e.append(shown, " ", more);
  return e;
}

// [{key, shown}]: shown as the passage writes it ("Ben Stein"; why.written), the chips read the folded "ben stein"
function conceptsOf(hit) {
  const out = [];
  const written = hit.why.written || {};
  // concepts are lower-case: the title "Nerva" and the concept "nerva" are one button, not two
  // a concept longer than the server's concept parameter takes (2,000) would answer its click with a 422
  const add = (c) => {
    if (c && c.length <= CONCEPT_MAX && !out.some((o) => o.key.toLowerCase() === c.toLowerCase()))
      out.push({ key: c, shown: written[c] || c });
  };
  add(hit.title);
  for (const p of (hit.why.phrases || [])) add(p[0]);
  for (const p of (hit.why.seed_phrases || [])) add(p);
  return out.slice(0, 6);
}

let asked = "";  // the question whose hits are shown: asked again when another memory is chosen
let askSeq = 0;  // the newest question: a slower answer to an older one does not replace its hits
const WHY_MAX = 400;  // characters of a hit's path shown
// what use added, ending a hit's why_text (memory/_hitinfo.py `_why_text`): kept whole when the path is cut (a long
// path lost "; confirmed by use +0.10", the one word of why the passage rose)
const USE_LABEL = /; (?:confirmed by use(?: for a related query)?|reinforced by use(?: of related passages? #\d+(?:, #\d+)*)?) \+\d+\.\d+$/;
function shortWhy(why) {
  if (why.length <= WHY_MAX) return why;
  const label = (why.match(USE_LABEL) || [""])[0];
  const end = Math.max(0, WHY_MAX - 1 - label.length);
  return why.slice(0, /[\udc00-\udfff]/.test(why.charAt(end)) ? end - 1 : end) + "…" + label;  // no half character
}
let clicked = false;  // the user chose a concept since the last question was asked: no automatic graph
let memoryDocuments = null;  // the chosen memory's document count, from its stats

// the question in the address: a reload, Back, or a link sent to someone lost it (the page came back empty)
function questionURL() {
  const p = new URLSearchParams({ memory: $("memory").value, q: $("q").value.trim() });
  if ($("mode").value !== "hybrid") p.set("mode", $("mode").value);
  if ($("per-document").checked) p.set("per_document", "true");
  if ($("where").value.trim()) p.set("where", $("where").value.trim());
  return "?" + p.toString();
}

function fromURL() {
  const p = new URLSearchParams(location.search);
  const m = p.get("memory");
  if (m !== null && [...$("memory").options].some((o) => o.value === m)) $("memory").value = m;
  $("q").value = p.get("q") || "";
  const mode = p.get("mode");
  $("mode").value = ["similar", "associative"].includes(mode) ? mode : "hybrid";
  $("per-document").checked = p.get("per_document") === "true";
  $("where").value = p.get("where") || "";
}

function filters() {
  return $("where").value.split(";").map((w) => w.trim()).filter(Boolean);
}

const K_FIRST = 8;  // hits asked at first; "more hits" asks twice as many, up to the API's 100
const K_MAX = 100;
let askK = K_FIRST;

// "more hits" under a full answer: the page always asked k=8, with no way to see the ninth
function moreButton(shown) {
  $("more-hits").hidden = !shown;
}

async function ask(ev, more) {
  if (ev) ev.preventDefault();
  const q = $("q").value.trim();
  if (!q) {  // spaces and Enter did nothing, under the previous question's red error
    status("type a question first");
    $("q").focus();
    return;
  }
  status("asking…");
  const k = more ? Math.min(K_MAX, askK * 2) : K_FIRST;
  if (!more) clicked = false;  // more hits of the same question keep the concept drawn
  const seq = ++askSeq;
  try {
    const mode = $("mode").value;
    const chosen = $("memory").value;
    // one hit a document on request: the sample's question gave 5 chunks of Nerva among 8 hits
    const perDoc = $("per-document").checked ? "&per_document=true" : "";
    const where = filters();  // metadata filters, "category=news; lang=en" (the CLI's --where)
    const only = where.map((w) => `&where=${encodeURIComponent(w)}`).join("");
    const r = await api(`/v1/memories/${memory()}/recall?q=${encodeURIComponent(q)}&k=${k}&mode=${mode}${perDoc}${only}`);
    // another memory was chosen meanwhile (its answer follows), or another question asked: a slow answer to
    // "Du Fu" replaced the hits of the question asked after it
    if ($("memory").value !== chosen || seq !== askSeq) return;
    asked = q;
    askK = k;
    const list = $("hits");
    list.replaceChildren();
    for (const h of r.hits) {
      const li = el("li", "hit");
      li.dataset.docId = h.doc_id;
      // isolated: a title ending in a right-to-left mark drew the score after it backwards ("748.0 enisoc")
      const head = el("div", "head");
      head.append(el("bdi", "", h.title || h.doc_id), el("span", "score", h.score.toFixed(3)));
      const sim = h.why && typeof h.why.similarity === "number" ? h.why.similarity : null;
      // hybrid = similarity (the cosine read with the passage's neighbours) + association lift (+ reinforcement)
      if (sim !== null) {
        const lift = typeof h.why.lift === "number" ? h.why.lift : 0;
        const assoc = typeof h.why.lift !== "number" && h.why.association > 0 ? h.why.association : 0;
        // what a reinforcement added is the rest of the score (why.reinforcement; its weight: reinforcement_weight)
        const boost = h.why.reinforcement ? h.score - (assoc || sim + lift) : 0;
        head.append(el("span", "parts", (assoc ? `association ${assoc.toFixed(3)} (cosine ${sim.toFixed(3)})`
                                                 : `similarity ${sim.toFixed(3)}`) +
                       (lift >= 0.0005 ? ` + association ${lift.toFixed(3)}` : "") +
                       (boost >= 0.0005 ? ` + reinforcement ${boost.toFixed(3)}` : "")));
      }
      const why = h.why_text || "";
      const whyEl = el("div", "why", shortWhy(why));
      if (why.length > WHY_MAX) whyEl.title = why;  // the whole path, on hovering it
      li.append(head, clampedText("div", "text", h.text), whyEl);
      const chips = el("div", "concepts");
      for (const c of conceptsOf(h)) chips.append(conceptButton(c.key, () => pickConcept(c.key, true), c.shown));
      li.append(chips);
      list.append(li);
    }
    if (!r.hits.length) {  // the list stayed blank under "0 hits": say why, and what to do
      list.append(el("li", "hint no-hits", memoryDocuments === 0
        ? "this memory holds no documents yet: add some under Upload"
        : where.length ? `no document's metadata matches ${where.join("; ")} (keys and values match exactly)`
        : `nothing in this memory matched “${short(q)}”; try other words or another mode`));
    }
    status(r.hits.length === 1 ? "1 hit" : `${r.hits.length} hits`);
    if (questionURL() !== location.search) history.pushState(null, "", questionURL());  // Back returns to it
    // the panel stayed empty until a click: draw the top hit's first concept, as its click would
    const first = r.hits.length ? conceptsOf(r.hits[0])[0] : null;
    if (first && !clicked) showConcept(first.key, true);
    moreButton(r.hits.length >= k && k < K_MAX && !r.note);
  } catch (e) {
    if (seq !== askSeq) return;  // a newer question is on its way
    status(e.message, true);
    // the previous answer's hits stayed under the error, as if they answered this one (the same words with
    // a filter that failed, or another mode, too)
    $("hits").replaceChildren();
    moreButton(false);
    asked = "";
  }
}

async function loadStats() {
  try {
    const chosen = $("memory").value;
    const s = await api(`/v1/memories/${memory()}/stats`);
    if ($("memory").value !== chosen) return;  // a slow answer for the memory chosen before
    memoryDocuments = s.documents;
    const dl = $("stats");
    dl.replaceChildren();
    const rows = [["documents", s.documents], ["chunks", s.chunks], ["concepts", s.phrases],
                  ["index", s.index], ["network nodes", s.network && s.network.active_nodes], ["network edges", s.network && s.network.num_edges],
                  ["on disk", (s.bytes_on_disk / 1e6).toFixed(2) + " MB"]];
    for (const [k, v] of rows) if (v !== undefined) dl.append(el("dt", "", k), el("dd", "", num(v)));
  } catch (e) { status(e.message, true); }
}

async function loadMemories() {
  const r = await api("/v1/memories");
  const sel = $("memory");
  const chosen = sel.value;
  sel.replaceChildren();
  for (const m of r.memories) sel.append(new Option(`${m.name} (${num(m.documents)} docs)`, m.name));
  if (chosen && r.memories.some((m) => m.name === chosen)) sel.value = chosen;
}

function memoryChosen() {
  // nothing of the previous memory stays on the page: its hits, concept graph and upload result
  $("hits").replaceChildren();
  moreButton(false);
  $("graph").replaceChildren();
  $("neighbours").replaceChildren();
  $("concept-name").textContent = "";
  $("paths").replaceChildren();
  shownConcept = "";
  $("upload-result").textContent = "";
  uploadSeq++;  // a running upload's job goes on in the server; its result is not this memory's
  $("doc-view").replaceChildren();
  $("doc-prefix").value = "";
  status("ready");
  loadStats();
  loadDocuments(0);
  if (asked && $("q").value.trim()) ask();
}

async function init() {
  try {
    await loadMemories();
    $("memory").onchange = memoryChosen;
    fromURL();
    status("ready");
    loadStats();
    loadDocuments(0);
    if ($("q").value.trim()) ask();
  } catch (e) { status(e.message, true); }
}

window.addEventListener("popstate", () => {  // Back and Forward: the question of that address, answered again
  const before = $("memory").value;
  fromURL();
  asked = "";
  if ($("memory").value !== before) memoryChosen();
  if ($("q").value.trim()) ask();
  else { $("hits").replaceChildren(); moreButton(false); status("ready"); }
});

$("token").value = localStorage.getItem("mycelial-token") || "";
// once: a listener added by every init() ran init() again, so they doubled with each edit
$("token").addEventListener("change", () => {
  const token = $("token").value.trim();
  if (!TOKEN_CHARS.test(token)) {  // kept out of storage: every request would fail with it
    status("a token is printable ASCII (letters, digits, punctuation); this one is not", true);
    $("token").focus();
    return;
  }
  localStorage.setItem("mycelial-token", token);
  init();
});
$("ask").addEventListener("submit", ask);
$("more-hits").addEventListener("click", () => ask(null, true));
$("per-document").addEventListener("change", () => { if (asked && $("q").value.trim()) ask(); });
$("where").addEventListener("change", () => { if ($("q").value.trim()) ask(); });  // Enter, or leaving the box
$("concept-form").addEventListener("submit", (ev) => {  // the network was reached only through a hit's concepts
  ev.preventDefault();
  const c = $("concept").value.trim();
  if (c) pickConcept(c);
});
$("bridge-form").addEventListener("submit", (ev) => {  // bridges were on the CLI and the API only
  ev.preventDefault();
  const c = $("bridge-to").value.trim();
  if (c) showPaths(c);
});
$("upload").addEventListener("submit", upload);
$("doc-prev").addEventListener("click", () => loadDocuments(Math.max(0, docOffset - DOC_PAGE)));
$("doc-next").addEventListener("click", () => loadDocuments(docOffset + DOC_PAGE));
let prefixTimer = 0;
$("doc-prefix").addEventListener("input", () => {  // a request per pause in typing, not per key
  clearTimeout(prefixTimer);
  prefixTimer = setTimeout(() => loadDocuments(0), 250);
});
init();
