// The documents panel: what the memory holds, a page at a time, a document's chunks, and forgetting it.
// Declarations only (app.js holds api, el, num, plural, clampedText, status and the panels a forget refreshes;
// it is loaded last and wires the buttons).
"use strict";  // as it was in app.js

const DOC_PAGE = 10;  // documents listed at a time
let docOffset = 0;
let docSeq = 0;  // the newest list request: a slower answer for an older filter does not replace it

async function loadDocuments(offset) {
  // what the memory holds, a page at a time (sorted by id); a title opens the document's chunks
  try {
    const chosen = $("memory").value;
    const prefix = $("doc-prefix").value;  // ids starting with it (the route's prefix=)
    const seq = ++docSeq;
    const r = await api(`/v1/memories/${memory()}/documents?limit=${DOC_PAGE}&offset=${offset}` +
                        `&prefix=${encodeURIComponent(prefix)}`);
    if ($("memory").value !== chosen || seq !== docSeq) return;  // a slow answer for an earlier choice
    if (offset > 0 && offset >= r.total) return loadDocuments(Math.max(0, r.total - DOC_PAGE));
    docOffset = offset;
    $("doc-count").textContent = `(${r.total})`;
    const list = $("doc-list");
    list.replaceChildren();
    list.start = offset + 1;
    for (const d of r.documents) {
      const li = el("li", "doc");
      const b = el("button", "doc-title", d.title || d.id);
      b.type = "button";
      b.title = d.id;
      b.addEventListener("click", () => showDocument(d.id));
      li.append(b, el("span", "doc-meta", ` ${plural(d.chunks, "chunk")}, ${d.kind}`));
      list.append(li);
    }
    $("doc-range").textContent = r.total ? `${num(offset + 1)}–${num(offset + r.documents.length)} of ${num(r.total)}`
      : (prefix ? `no id starts with “${prefix}”` : "no documents");
    const had = document.activeElement;
    $("doc-prev").disabled = offset === 0;
    $("doc-next").disabled = offset + r.documents.length >= r.total;
    // Enter on "next" to the last page (or "previous" to the first) disabled the focused button and
    // dropped the keyboard's focus on the page: it goes to the other button (or the filter)
    if (had && had.disabled) {
      const other = had === $("doc-next") ? $("doc-prev") : $("doc-next");
      (other.disabled ? $("doc-prefix") : other).focus();
    }
  } catch (e) { status(e.message, true); }
}

let docViewSeq = 0;  // the newest document opened: a slower answer for one clicked before does not replace it

async function showDocument(id) {
  const seq = ++docViewSeq;
  try {
    const chosen = $("memory").value;
    // the id goes in the query: a browser resolves a path segment "." or ".." (even %2E%2E) before sending
    const d = await api(`/v1/memories/${memory()}/document?id=${encodeURIComponent(id)}`);
    if ($("memory").value !== chosen || seq !== docViewSeq) return;
    const view = $("doc-view");
    const forget = el("button", "doc-forget", "forget this document");
    forget.type = "button";
    forget.addEventListener("click", () => forgetDocument(d.id));
    view.replaceChildren(el("h3", "", d.title || d.id), el("div", "doc-meta", `${d.id} · ${d.kind}`), forget);
    const ol = el("ol", "chunks");
    for (const c of d.chunks) {
      const li = clampedText("li", "chunk", c.text);
      li.dataset.chunkId = c.chunk_id;
      ol.append(li);
    }
    view.append(ol);
  } catch (e) { status(e.message, true); }
}

async function forgetDocument(id) {
  // the page could read a document but not remove it (DELETE existed over HTTP only); asks first
  if (!confirm(`Forget “${id}”? Its text, vectors and links leave the memory for good.`)) return;
  try {
    const chosen = $("memory").value;
    // POST .../forget, not DELETE .../documents/ID: an id "." or ".." in the path never reached the server
    const r = await api(`/v1/memories/${memory()}/forget`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ ids: [id] }) });
    if (r.missing.length) throw new Error(`no document “${id}” in this memory (forgotten meanwhile?)`);
    if ($("memory").value !== chosen) return;
    const hadFocus = $("doc-view").contains(document.activeElement);
    $("doc-view").replaceChildren();
    if (hadFocus) $("doc-prefix").focus();  // the focused button went with the view: the keyboard's place was lost
    status(`forgot ${id}`);
    loadStats();
    loadDocuments(docOffset);
    loadMemories();  // the selector's document counts
    if (asked && $("q").value.trim()) ask();  // its hits leave the answer
  } catch (e) { status(e.message, true); }
}
