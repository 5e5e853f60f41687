// The upload form: files sent as a background job, followed until its report (app.js holds api, num, plural
// and the panels it refreshes).

async function upload(ev) {
  ev.preventDefault();
  const files = $("file").files;
  if (!files.length) {  // Ingest without a file did nothing, without a word
    $("upload-result").textContent = "choose one or more files (.txt .md .rst .html .pdf .docx .pptx .odt .odp .epub "
      + ".eml .mbox .jsonl .json .csv .xlsx or other text, gzipped too) first";
    $("upload-result").className = "error";
    $("file").focus();
    return;
  }
  const form = new FormData();
  for (const f of files) form.append("file", f);
  $("upload-result").textContent = "ingesting…";
  $("upload-result").className = "";
  const seq = ++uploadSeq;
  try {
    const keys = $("fields").value.trim();  // JSONL records of another schema: text=paragraphs,id=doc_id
    const chosen = memory();
    // a background job, followed: "ingesting…" stood for minutes over a large file, with no sign of progress
    const url = `/v1/memories/${chosen}/documents?background=true` + (keys ? `&fields=${encodeURIComponent(keys)}` : "");
    let job = await sendAskingToReplace(url, form);
    if (job === null) {  // the user kept the stored documents: nothing of this upload was stored
      if (seq !== uploadSeq) return;
      $("upload-result").textContent = "nothing stored: the stored document of that name was kept "
        + "(rename the file to keep both)";
      return;
    }
    while (["queued", "running", "waiting"].includes(job.status)) {
      if (seq !== uploadSeq) return;  // another memory was chosen, or another upload began
      $("upload-result").textContent = jobText(job);
      await new Promise((done) => setTimeout(done, JOB_POLL));
      job = await api(`/v1/memories/${chosen}/jobs/${job.id}`);
    }
    if (seq !== uploadSeq) return;
    if (job.status === "failed") throw new Error(job.error);
    const r = job.report;
    const errors = r.errors.length ? `: ${r.errors.slice(0, 3).map(onPage).join("; ")}${r.errors.length > 3 ? "; …" : ""}` : "";
    // a file sent again said "0 documents, 0 chunks": it is there, unchanged (or replaced by the new version)
    const parts = [plural(r.documents, "document") + " ingested", plural(r.chunks, "chunk")];
    const named = r.replaced_files || [];  // which ones: "1 replaced" alone said not what was lost
    if (r.replaced) parts.push(`${r.replaced} replaced` + (named.length ? ` (${named.slice(0, 5).join(", ")}`
                                                          + `${named.length > 5 ? ", …" : ""})` : ""));
    if (r.unchanged) parts.push(`${r.unchanged} unchanged`);
    parts.push(plural(r.errors.length, "error"));
    const skipped = (r.skipped || []).map((m) => m.replace(/: empty file[^]*$/, ""));  // its file's name
    if (skipped.length)  // an empty file stores nothing: "0 documents ingested" alone said not why
      parts.push(`skipped ${plural(skipped.length, "empty file")} (${skipped.slice(0, 3).join(", ")}`
                 + `${skipped.length > 3 ? ", …" : ""})`);
    $("upload-result").textContent = parts.join(", ") + errors;
    loadStats();
    loadDocuments(docOffset);
    loadMemories();  // the selector's document counts
  } catch (e) {  // in the error colour, as the status line's errors (it looked like a result)
    if (seq !== uploadSeq) return;
    const said = onPage(e.message);  // a file of 300 bad lines wrote 55,000 characters here
    $("upload-result").textContent = said.length > 1000 ? said.slice(0, 999) + "…" : said;
    $("upload-result").className = "error";
  }
}

// A 409: a file of the same name is stored with other text (another file, or an edited version): the user is
// asked, and the upload sent again with replace=true if they agree; null when they keep the stored one.
async function sendAskingToReplace(url, form) {
  try {
    return await api(url, { method: "POST", body: form });
  } catch (e) {
    if (e.status !== 409) throw e;
    const stored = e.fields.map((f) => "• " + f.message).join("\n");
    if (!confirm(`Already stored with other text (another file of the same name, or an edited version):\n${stored}`
                 + "\n\nReplace with the uploaded file? Cancel stores nothing.")) return null;
    return await api(url + "&replace=true", { method: "POST", body: form });
  }
}

let uploadSeq = 0;  // the newest upload: an older one's job stops writing the result
const JOB_POLL = 400;  // ms between looks at an upload's job

function jobText(job) {
  if (job.status === "waiting") return `waiting for the memory (${job.waiting_for || "another writer holds it"})…`;
  const docs = `${num(job.done)} of ${plural(job.total, "document")}`;
  const e = job.embedding;
  return e ? `ingesting… ${docs}, embedding ${num(e.done)} of ${plural(e.total, "chunk")}` : `ingesting… ${docs}`;
}

// the server's hint names its parameter; on this page the keys go in the box beside Ingest
const onPage = (msg) => msg.replaceAll("name the keys with ?fields=", "name the keys in the record keys box: ");
