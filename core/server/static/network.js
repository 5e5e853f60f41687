// The network panel: a concept's neighbourhood drawn in SVG, its neighbours listed, and the paths from it to
// another concept (the bridges route). Declarations only: app.js, loaded last, wires the forms.

const [VIEW_LEFT, VIEW_TOP] = [-300, -220];  // the drawing's viewBox is -300 -220 600 440 (index.html)
let graphSeq = 0;  // the newest graph request: a slower, older answer does not replace it
let shownConcept = "";  // the concept drawn: where the paths start

// "“emperors” is not a concept of this memory; like it: [emperor] [roman emperor]", a button each
function unknownItem(concept, like, pick) {
  const li = el("li", "hint unknown", `“${short(concept)}” is not a concept of this memory` +
                (like.length ? "; like it: " : ""));
  for (const c of like) li.append(conceptButton(c, () => pick(c)));
  return li;
}

function conceptButton(c, onClick, shown = c) {  // shown: as the text writes it ("Áine" for "aine")
  const b = el("button", "concept", short(shown));
  if (shown.length > LABEL) b.title = shown;
  b.type = "button";
  b.addEventListener("click", onClick);
  return b;
}

// how the drawn concept leads to another: up to three paths of up to three links, each concept a button
async function showPaths(target) {
  const from = shownConcept;
  const list = $("paths");
  list.replaceChildren();
  if (!from) { list.append(el("li", "hint", "draw a concept first: the paths start from it")); return; }
  try {
    const r = await api(`/v1/memories/${memory()}/bridges?a=${encodeURIComponent(from)}` +
                        `&b=${encodeURIComponent(target)}&k=3`);
    if (from !== shownConcept) return;
    clearError();
    for (const [param, like] of Object.entries(r.unknown || {})) {
      list.append(unknownItem(param === "a" ? from : target, like,
                              param === "a" ? pickConcept : (c) => { $("bridge-to").value = c; showPaths(c); }));
    }
    for (const p of r.paths) {
      const li = el("li", "path");
      p.path.forEach((c, i) => {
        if (i) li.append(el("span", "link", ` —${p.weights[i - 1].toFixed(2)}→ `));
        li.append(conceptButton(c, () => pickConcept(c), (p.written || p.path)[i]));
      });
      list.append(li);
    }
    if (!r.paths.length && !Object.keys(r.unknown || {}).length)
      list.append(el("li", "hint", `no path of up to three links from “${short(from)}” to “${short(target)}”`));
  } catch (e) { status(e.message, true); }
}

function pickConcept(concept, fromHit, byKey) {
  clicked = true;
  showConcept(concept).then(() => {
    // a narrow window stacks the network under the hits: a chip's click changed nothing in view
    if (fromHit && $("concept-name").textContent) $("network").scrollIntoView({ block: "nearest" });
    // the redraw removed the focused node: focus goes on to the new centre, not back to the page's top
    if (byKey) $("graph").querySelector("circle.root")?.focus();
  });
}

// a network panel's error in the status line stayed red over the answers that followed
function clearError() { if ($("status").className === "error") status("ready"); }

async function showConcept(concept, automatic) {
  const seq = ++graphSeq;
  const before = [shownConcept, $("concept-name").textContent];
  shownConcept = concept;
  $("paths").replaceChildren();
  $("concept-name").textContent = "around “" + short(concept) + "”";
  try {
    const chosen = $("memory").value;
    const g = await api(`/v1/memories/${memory()}/graph?concept=${encodeURIComponent(concept)}&depth=2&k=6`);
    if ($("memory").value !== chosen || seq !== graphSeq) return;
    clearError();
    drawGraph(g);
    const ul = $("neighbours");
    ul.replaceChildren();
    const root = g.nodes.length ? g.nodes[0].id : concept;
    const written = new Map(g.nodes.map((n) => [n.id, n.label]));  // as the text writes it ("Áine", not "aine")
    // the heading as the text writes it too ("Ben Stein"; it read the folded "ben stein")
    if (g.nodes.length) $("concept-name").textContent = "around “" + short(g.nodes[0].label) + "”";
    // strongest first (they were listed in the answer's order, which read as alphabetical)
    const near = g.edges.filter((e) => e.source === root || e.target === root).sort((a, b) => b.weight - a.weight);
    for (const e of near) {
      const other = e.source === root ? e.target : e.source;
      const li = el("li", "neighbour", `${short(written.get(other) || other)} (${e.weight.toFixed(2)})`);
      ul.append(li);
    }
    const like = (g.unknown || {}).concept;
    if (like) {  // "Network around “Juryz”" stood over an empty drawing, and stayed after a refused "the"
      $("concept-name").textContent = "· “" + short(concept) + "” is unknown";
      shownConcept = "";  // no paths start from it
    }
    // a typo ("emperors") answered like a lonely concept: "no associations for this concept yet"
    if (like) ul.append(unknownItem(concept, like, pickConcept));
    else if (!ul.children.length) ul.append(el("li", "hint", "no associations for this concept yet"));
  } catch (e) {
    if (!automatic) {  // a drawing nobody asked for reports no error
      status(e.message, true);
      // the heading named the refused concept ("the") over the graph still drawn, and paths started from it
      if (seq === graphSeq) [shownConcept, $("concept-name").textContent] = before;
    } else if (seq === graphSeq) { $("graph").replaceChildren(); $("neighbours").replaceChildren(); $("concept-name").textContent = ""; }
  }
}

function drawGraph(g) {
  const svg = $("graph");
  svg.replaceChildren();
  if (!g.nodes.length) return;
  const root = g.nodes[0].id;
  // rings by hop distance from the root (breadth-first over the edges)
  const adj = new Map(g.nodes.map((n) => [n.id, []]));
  for (const e of g.edges) { adj.get(e.source)?.push(e.target); adj.get(e.target)?.push(e.source); }
  const hop = new Map([[root, 0]]);
  const queue = [root];
  while (queue.length) {
    const u = queue.shift();
    for (const v of adj.get(u) || []) if (!hop.has(v)) { hop.set(v, hop.get(u) + 1); queue.push(v); }
  }
  const rings = new Map();
  for (const n of g.nodes) {
    const h = hop.get(n.id) ?? 2;
    if (!rings.has(h)) rings.set(h, []);
    rings.get(h).push(n);
  }
  const pos = new Map();
  for (const [h, ns] of rings) {
    ns.forEach((n, i) => {
      const a = (2 * Math.PI * i) / ns.length + h * 0.4;
      const r = h === 0 ? 0 : 110 * h;
      pos.set(n.id, [r * Math.cos(a), 0.8 * r * Math.sin(a)]);
    });
  }
  for (const e of g.edges) {
    const [a, b] = [pos.get(e.source), pos.get(e.target)];
    if (!a || !b) continue;
    const line = document.createElementNS(SVG, "line");
    line.setAttribute("x1", a[0]); line.setAttribute("y1", a[1]);
    line.setAttribute("x2", b[0]); line.setAttribute("y2", b[1]);
    line.setAttribute("stroke-width", (0.5 + 5 * e.weight).toFixed(2));
    svg.append(line);
  }
  const labels = [];  // [text, node x, node y, node radius]
  for (const n of g.nodes) {
    const [x, y] = pos.get(n.id);
    const c = document.createElementNS(SVG, "circle");
    c.setAttribute("cx", x); c.setAttribute("cy", y);
    c.setAttribute("r", (5 + 12 * Math.sqrt(n.weight)).toFixed(1));
    if (n.id === root) c.setAttribute("class", "root");
    c.dataset.concept = n.id;
    const title = document.createElementNS(SVG, "title");
    title.textContent = `${n.label} (${n.weight.toFixed(2)})`;
    c.append(title);
    c.addEventListener("click", () => pickConcept(n.id));
    // by keyboard too: Tab reaches a node, Enter or Space re-centres on it (it took a mouse)
    c.setAttribute("tabindex", "0");
    c.setAttribute("role", "button");
    c.setAttribute("aria-label", `${n.label}: show what goes with it`);
    c.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); pickConcept(n.id, false, true); }
    });
    const t = document.createElementNS(SVG, "text");
    t.textContent = short(n.label);
    svg.append(c, t);
    labels.push([t, x, y, Number(c.getAttribute("r"))]);
  }
  placeLabels(labels);
}

// Each label beside its node where it covers no other node and no label placed before it (the root first, then
// the nodes in the answer's order, strongest first) and stays in the drawing; a label with no such place is hidden, its node
// still named by its title and aria-label. On a phone (19-unit letters) the labels lay over one another.
function placeLabels(labels) {
  // the nodes are in the way too (a label across a node hid it), its own one as well (moved back into view)
  const placed = labels.map(([, x, y, r]) => ({x: x - r, y: y - r, width: 2 * r, height: 2 * r}));
  const [left, right, top, bottom] = [VIEW_LEFT + 2, -VIEW_LEFT - 2, VIEW_TOP + 2, -VIEW_TOP - 2];
  for (const [t, x, y, r] of labels) {
    const spots = [[x + r + 3, y + 5, "start"], [x - r - 3, y + 5, "end"], [x, y - r - 4, "middle"],
                   [x, y + r + 16, "middle"]];
    let box = null;
    for (const [sx, sy, anchor] of spots) {
      t.setAttribute("x", sx); t.setAttribute("y", sy); t.setAttribute("text-anchor", anchor);
      box = inView(t, left, right);
      if (box.y >= top && box.y + box.height <= bottom && !placed.some((p) => crosses(p, box))) break;
      box = null;
    }
    if (box) placed.push(box);
    else t.setAttribute("class", "unlabelled");
  }
}

function crosses(a, b) {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}

// a label past the drawing's side is moved back in ("Providence Plantations" was cut on a phone); its new box
function inView(t, left, right) {
  const box = t.getBBox();
  const shift = box.x < left ? left - box.x : box.x + box.width > right ? right - box.x - box.width : 0;
  if (!shift) return box;
  t.setAttribute("x", Number(t.getAttribute("x")) + shift);
  return t.getBBox();
}
