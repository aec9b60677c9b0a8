// The live page (live.html): draws the reader's own connections from the
// stack's record of them. Plain JavaScript, no build step, no library.
//
// Two halves. The drawing functions (`drawSequence`, `drawGraph` and their
// helpers) are pure: JSON in the shape of /_conn/recent in, SVG text out, so
// a test can feed them a fixture. The rest is the page: it fetches
// /_conn/recent, listens to /_conn/feed, keeps what it has seen of each
// connection, and redraws.
"use strict";

/* ---------- pure helpers: JSON to text and SVG ---------- */

/** Escapes text for SVG/HTML. */
function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

/** a − b modulo 2^32: a sequence number relative to an ISN (RFC 9293 §3.4). */
function rel(a, b) {
  return (a - b) >>> 0;
}

/** Whether sequence number a ≥ b in modulo-2^32 order (RFC 9293 §3.4). */
function seqGe(a, b) {
  return rel(a, b) < 0x80000000;
}

/** tcpdump's flag letters ("S.", "FP.") as words: "SYN,ACK", "FIN,PSH,ACK". */
function flagWords(flags) {
  const names = { S: "SYN", F: "FIN", R: "RST", P: "PSH", U: "URG", E: "ECE", C: "CWR", W: "CWR" };
  const words = [];
  for (const c of flags) if (names[c]) words.push(names[c]);
  if (flags.includes(".")) words.push("ACK");
  return words.join(",") || "(none)";
}

/** The ISNs a segment's seq and ack count from: ours (iss) for what the
 * server sends, the browser's (irs) for what it receives. */
function isns(conn, ev) {
  return ev.dir === "out" ? { seq: conn.iss, ack: conn.irs } : { seq: conn.irs, ack: conn.iss };
}

/** Sequence space a segment occupies: its data, plus one for SYN and FIN. */
function segSpace(ev) {
  return ev.len + (ev.flags.includes("S") ? 1 : 0) + (ev.flags.includes("F") ? 1 : 0);
}

/**
 * The browser's states, inferred from the segments (RFC 9293 §3.3.2): we do
 * not see its TCP, only what it sent and what we sent it. Returns a map from
 * event index to the state the browser entered there.
 */
function inferClient(conn) {
  const out = new Map();
  let st = "CLOSED";
  let finEnd = null; // the browser's FIN's sequence number + 1, once sent
  const go = (i, s) => {
    if (s !== st) {
      st = s;
      out.set(i, s);
    }
  };
  conn.events.forEach((ev, i) => {
    if (ev.type !== "segment") return;
    const f = ev.flags;
    if (f.includes("R")) return go(i, "CLOSED");
    const acksFin = finEnd !== null && f.includes(".") && seqGe(ev.ack, finEnd);
    if (ev.dir === "in") {
      if (f.includes("S") && !f.includes(".")) return go(i, "SYN-SENT");
      if (f.includes("F")) {
        finEnd = (ev.seq + ev.len + 1) >>> 0;
        if (st === "ESTABLISHED" || st === "SYN-SENT") go(i, "FIN-WAIT-1");
        else if (st === "CLOSE-WAIT") go(i, "LAST-ACK");
      }
    } else {
      if (f.includes("S") && st === "SYN-SENT") return go(i, "ESTABLISHED");
      if (f.includes("F")) {
        if (st === "ESTABLISHED") go(i, "CLOSE-WAIT");
        else if (st === "FIN-WAIT-1") go(i, acksFin ? "TIME-WAIT" : "CLOSING");
        else if (st === "FIN-WAIT-2") go(i, "TIME-WAIT");
      } else if (acksFin) {
        if (st === "LAST-ACK") go(i, "CLOSED");
        else if (st === "FIN-WAIT-1") go(i, "FIN-WAIT-2");
        else if (st === "CLOSING") go(i, "TIME-WAIT");
      }
    }
  });
  return out;
}

/** One segment's fields, as [name, value] rows (for the tooltip and the panel). */
function segFields(conn, ev) {
  const base = isns(conn, ev);
  const hasIsn = base.seq !== null && base.seq !== undefined;
  const rows = [
    ["direction", ev.dir === "in" ? "browser → server (received)" : "server → browser (sent)"],
    ["time", `${ev.t_ms.toFixed(3)} ms`],
    ["flags", `${flagWords(ev.flags)} (${ev.flags})`],
    ["seq", hasIsn ? `${rel(ev.seq, base.seq)} (absolute ${ev.seq})` : String(ev.seq)],
  ];
  if (ev.flags.includes(".")) rows.push(["ack", hasIsn ? `${rel(ev.ack, base.ack)} (absolute ${ev.ack})` : String(ev.ack)]);
  rows.push(["len", String(ev.len)], ["win", String(ev.win)]);
  if (ev.options) rows.push(["options", ev.options]);
  rows.push(["kind", ev.kind], [ev.dir === "in" ? "processed by" : "sent by", ev.by]);
  return rows;
}

/** "+12.345 ms" after the connection opened. */
function sinceOpen(conn, t) {
  return `+${(t - conn.opened_ms).toFixed(t - conn.opened_ms < 100 ? 3 : 1)} ms`;
}

/** Whether the server held this connection in TIME-WAIT for 2·MSL and
 * then deleted it (RFC 9293 §3.10.8). */
function expired(conn) {
  return conn.state === "CLOSED" && conn.events.some((e) => e.type === "state" && e.from === "TIME-WAIT" && e.to === "CLOSED");
}

/** Text of a TIME-WAIT countdown: `until` and `now` in ms of the stack's clock. */
function countdownText(until, now) {
  const left = Math.max(0, until - now) / 1000;
  return `${left.toFixed(1)} s`;
}

// The sequence diagram's geometry, in SVG user units (px at scale 1).
const SEQ = { W: 760, CX: 200, SX: 580, TOP: 96, ROW: 54, STATE_ROW: 22 };

/**
 * The sequence diagram of one connection, as SVG text. `now` (ms of the
 * stack's clock) sets the TIME-WAIT countdown, which the page then ticks.
 * Segments are `<g class="seg">` with data-i (the event's index) and data-dir,
 * data-flags, data-seq, data-ack; states are `.server-state` and
 * `.client-state` texts.
 */
function drawSequence(conn, now) {
  const { W, CX, SX, TOP, ROW, STATE_ROW } = SEQ;
  const mid = (CX + SX) / 2;
  const client = inferClient(conn);
  const parts = [];
  let y = TOP;
  conn.events.forEach((ev, i) => {
    if (ev.type === "state") {
      const why = ev.reason ? ` (${ev.reason})` : "";
      parts.push(
        `<g class="state-row"><title>${esc(`${ev.from ?? "(new)"} → ${ev.to}${why}, at ${sinceOpen(conn, ev.t_ms)}`)}</title>` +
          `<line x1="${SX - 6}" y1="${y + 8}" x2="${SX + 6}" y2="${y + 8}" class="tick"/>` +
          `<text x="${SX + 10}" y="${y + 13}" class="server-state">${esc(ev.to)}</text></g>`,
      );
      y += STATE_ROW;
      return;
    }
    if (ev.type !== "segment") return;
    const base = isns(conn, ev);
    const hasIsn = base.seq !== null && base.seq !== undefined;
    const ack = ev.flags.includes(".");
    const words = flagWords(ev.flags);
    const relSeq = hasIsn ? rel(ev.seq, base.seq) : ev.seq;
    const line1 = `seq=${relSeq}${ack ? ` ack=${hasIsn ? rel(ev.ack, base.ack) : ev.ack}` : ""} len=${ev.len} win=${ev.win}`;
    const line2 = `seq ${ev.seq}${ack ? ` ack ${ev.ack}` : ""}${ev.kind !== "normal" ? `  ${ev.kind}` : ""}`;
    const [x1, x2] = ev.dir === "in" ? [CX, SX] : [SX, CX];
    const dirClass = ev.dir === "in" ? "c2s" : "s2c";
    const tip = segFields(conn, ev).map(([k, v]) => `${k}: ${v}`).join("\n");
    parts.push(
      `<g class="seg ${dirClass} kind-${esc(ev.kind)}" tabindex="0" data-i="${i}" data-dir="${ev.dir}" ` +
        `data-flags="${esc(words)}" data-seq="${ev.seq}" data-ack="${ev.ack}" data-kind="${esc(ev.kind)}">` +
        `<title>${esc(tip)}</title>` +
        `<rect x="${CX}" y="${y}" width="${SX - CX}" height="${ROW - 4}" class="hit"/>` +
        `<text x="${mid}" y="${y + 15}" class="lbl"><tspan class="ctl">${esc(words)}</tspan> ${esc(line1)}</text>` +
        `<text x="${mid}" y="${y + 29}" class="abs">${esc(line2)}</text>` +
        `<line x1="${x1}" y1="${y + 36}" x2="${x2}" y2="${y + 48}" class="arrow" marker-end="url(#head-${dirClass})"/>` +
        `<text x="6" y="${y + 46}" class="time">${esc(sinceOpen(conn, ev.t_ms))}</text></g>`,
    );
    const cs = client.get(i);
    if (cs) {
      const cy = ev.dir === "in" ? y + 38 : y + 50;
      parts.push(
        `<text x="${CX - 10}" y="${cy - 12}" class="client-state">${esc(cs)}</text>` +
          `<text x="${CX - 10}" y="${cy}" class="inferred-tag">inferred</text>`,
      );
    }
    y += ROW;
  });
  // The end: TIME-WAIT's countdown, or the connection's state now.
  if (conn.state === "TIME-WAIT" && conn.time_wait_until_ms !== null) {
    parts.push(
      `<rect x="${SX - 70}" y="${y + 4}" width="140" height="40" rx="6" class="wait"/>` +
        `<text x="${SX}" y="${y + 20}" class="wait-lbl">TIME-WAIT, 2·MSL</text>` +
        `<text x="${SX}" y="${y + 37}" class="wait-lbl tw-left" data-until="${conn.time_wait_until_ms}">` +
        `${countdownText(conn.time_wait_until_ms, now)} left</text>`,
    );
    y += 52;
  } else if (conn.state === "CLOSED") {
    const why = expired(conn) ? "2·MSL passed: deleted" : "deleted (CLOSED)";
    parts.push(`<text x="${SX}" y="${y + 16}" class="wait-lbl">${why}</text>`);
    y += 28;
  } else {
    parts.push(`<text x="${SX}" y="${y + 16}" class="wait-lbl">now ${esc(conn.state)}</text>`);
    y += 28;
  }
  const H = y + 10;
  const head =
    `<svg xmlns="http://www.w3.org/2000/svg" class="seqlive" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" ` +
    `role="img" aria-label="Sequence diagram of connection ${esc(conn.id)}">` +
    `<defs>${["c2s", "s2c"]
      .map(
        (d) =>
          `<marker id="head-${d}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">` +
          `<path d="M0,0 L10,5 L0,10 z" class="head ${d}"/></marker>`,
      )
      .join("")}</defs>` +
    `<text x="${CX}" y="20" class="who">Your browser</text>` +
    `<text x="${SX}" y="20" class="who">Our server</text>` +
    `<text x="${CX}" y="38" class="addr">${esc(conn.remote)}</text>` +
    `<text x="${SX}" y="38" class="addr">${esc(conn.local)}</text>` +
    `<text x="${CX}" y="54" class="addr">ISN ${conn.irs ?? "?"}</text>` +
    `<text x="${SX}" y="54" class="addr">ISN ${conn.iss ?? "?"}</text>` +
    `<text x="6" y="${TOP - 12}" class="time">time</text>` +
    (conn.dropped ? `<text x="${mid}" y="${TOP - 12}" class="dropped">${conn.dropped} older records dropped (bounded log)</text>` : "") +
    `<line x1="${CX}" y1="64" x2="${CX}" y2="${H - 6}" class="life"/>` +
    `<line x1="${SX}" y1="64" x2="${SX}" y2="${H - 6}" class="life"/>`;
  return head + parts.join("") + "</svg>";
}

/** A "nice" tick step (1, 2 or 5 × 10^k) for about n ticks over `range`. */
function niceStep(range, n) {
  const raw = Math.max(range, 1e-9) / n;
  const p = 10 ** Math.floor(Math.log10(raw));
  const m = raw / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

/** Payload bytes the server sent on a connection from time `from` on. */
function bytesSent(conn, from) {
  return conn.events.reduce((n, e) => n + (e.type === "segment" && e.dir === "out" && e.t_ms >= from ? e.len : 0), 0);
}

// The graph's geometry: the seq plot above, cwnd and RTO below.
const G = { W: 760, L: 96, R: 70, T: 20, H1: 300, GAP: 56, H2: 130, B: 40 };

/**
 * The time/sequence graph (Stevens, TCP/IP Illustrated vol. 1) of the
 * server's sending on one connection from time `from` (ms of the stack's
 * clock), as SVG text: a bar per data segment sent, the browser's ACKs as a
 * step line, and below, cwnd and the RTO from the "sample" events.
 * Retransmissions are `.retx` bars.
 */
function drawGraph(conn, from) {
  const { W, L, R, T, H1, GAP, H2, B } = G;
  const evs = conn.events.filter((e) => e.t_ms >= from);
  const sent = evs.filter((e) => e.type === "segment" && e.dir === "out" && segSpace(e) > 0);
  const acks = evs.filter((e) => e.type === "segment" && e.dir === "in" && e.flags.includes("."));
  const samples = evs.filter((e) => e.type === "sample");
  if (!sent.length) return `<p class="empty">No data sent on ${esc(conn.id)} since the download began.</p>`;
  const t0 = sent[0].t_ms;
  const t1 = Math.max(...evs.map((e) => e.t_ms), t0 + 1);
  const s0 = rel(sent[0].seq, conn.iss);
  let s1 = s0 + 1;
  for (const e of sent) s1 = Math.max(s1, rel(e.seq, conn.iss) + segSpace(e));
  const pw = W - L - R;
  const x = (t) => L + ((t - t0) / (t1 - t0)) * pw;
  const y = (s) => T + H1 - ((s - s0) / (s1 - s0)) * H1;
  const parts = [];
  // Axes and ticks: time along the bottom of both plots, bytes up the left.
  const tStep = niceStep(t1 - t0, 6);
  for (let t = 0; t <= t1 - t0 + 1e-9; t += tStep) {
    const px = x(t0 + t);
    parts.push(`<line x1="${px}" y1="${T}" x2="${px}" y2="${T + H1}" class="grid"/>`);
    parts.push(`<text x="${px}" y="${T + H1 + 16}" class="tick-lbl mid">${+t.toFixed(3)}</text>`);
  }
  // Bytes tick in steps of 1, 2 or 5 × 10^k KiB once past a few KiB.
  const sStep = s1 - s0 > 4096 ? niceStep((s1 - s0) / 1024, 6) * 1024 : niceStep(s1 - s0, 6);
  for (let s = Math.ceil(s0 / sStep) * sStep; s <= s1; s += sStep) {
    parts.push(`<line x1="${L}" y1="${y(s)}" x2="${L + pw}" y2="${y(s)}" class="grid"/>`);
    parts.push(`<text x="${L - 6}" y="${y(s) + 4}" class="tick-lbl end">${fmtBytes(s)}</text>`);
  }
  parts.push(`<rect x="${L}" y="${T}" width="${pw}" height="${H1}" class="frame"/>`);
  parts.push(`<text x="${L + pw / 2}" y="${T + H1 + 34}" class="axis mid">ms since the first data segment</text>`);
  parts.push(`<text x="14" y="${T + H1 / 2}" class="axis mid" transform="rotate(-90 14 ${T + H1 / 2})">seq, relative to our ISN</text>`);
  // The ACK line: what the browser had acknowledged, as a step.
  if (acks.length) {
    let pts = `${x(t0)},${y(s0)}`;
    let last = s0;
    for (const a of acks) {
      const s = Math.max(s0, Math.min(s1, rel(a.ack, conn.iss)));
      pts += ` ${x(a.t_ms)},${y(last)} ${x(a.t_ms)},${y(s)}`;
      last = s;
    }
    parts.push(`<polyline points="${pts}" class="ackline"/>`);
  }
  // One bar per segment sent.
  for (const e of sent) {
    const s = rel(e.seq, conn.iss);
    const cls = e.kind === "retransmission" ? "bar retx" : e.kind === "normal" ? "bar" : "bar other";
    parts.push(
      `<line x1="${x(e.t_ms)}" y1="${y(s)}" x2="${x(e.t_ms)}" y2="${y(s + segSpace(e))}" class="${cls}">` +
        `<title>${esc(`${sinceOpen(conn, e.t_ms)} seq=${s} len=${e.len} ${e.kind}`)}</title></line>`,
    );
    if (e.kind !== "normal") parts.push(`<circle cx="${x(e.t_ms)}" cy="${y(s)}" r="3.5" class="${cls}-dot"/>`);
  }
  // Below: cwnd (left axis, bytes) and RTO (right axis, ms).
  const T2 = T + H1 + GAP;
  parts.push(`<rect x="${L}" y="${T2}" width="${pw}" height="${H2}" class="frame"/>`);
  if (samples.length) {
    const cmax = Math.max(...samples.map((e) => e.cwnd), 1);
    const rmax = Math.max(...samples.map((e) => e.rto_ms), 1);
    const yc = (c) => T2 + H2 - (c / cmax) * H2;
    const yr = (r) => T2 + H2 - (r / rmax) * H2;
    const step = (f) => {
      let pts = "";
      let prev = null;
      for (const e of samples) {
        const px = Math.max(L, x(e.t_ms));
        if (prev !== null) pts += ` ${px},${prev}`;
        prev = f(e);
        pts += ` ${px},${prev}`;
      }
      return `${pts} ${L + pw},${prev}`;
    };
    parts.push(`<polyline points="${step((e) => yc(e.cwnd))}" class="cwnd"/>`);
    parts.push(`<polyline points="${step((e) => yr(e.rto_ms))}" class="rto"/>`);
    parts.push(`<text x="${L - 6}" y="${T2 + 10}" class="tick-lbl end cwnd-lbl">${fmtBytes(cmax)}</text>`);
    parts.push(`<text x="${L - 6}" y="${T2 + H2}" class="tick-lbl end">0</text>`);
    parts.push(`<text x="${L + pw + 6}" y="${T2 + 10}" class="tick-lbl rto-lbl">${+rmax.toFixed(1)} ms</text>`);
    parts.push(`<text x="${L + pw + 6}" y="${T2 + H2}" class="tick-lbl">0</text>`);
  } else {
    parts.push(`<text x="${L + pw / 2}" y="${T2 + H2 / 2}" class="axis mid">no samples of cwnd and RTO recorded</text>`);
  }
  parts.push(`<text x="${L}" y="${T2 - 8}" class="axis"><tspan class="cwnd-lbl">━ cwnd</tspan>  <tspan class="rto-lbl">━ RTO</tspan></text>`);
  const retx = sent.filter((e) => e.kind === "retransmission").length;
  const H = T2 + H2 + B;
  parts.push(
    `<text x="${L}" y="${H - 12}" class="axis">${sent.length} segments sent, ${retx} retransmitted, ` +
      `${acks.length} ACKs received${conn.dropped ? `; ${conn.dropped} older records were dropped` : ""}</text>`,
  );
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" class="stevens" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" ` +
    `role="img" aria-label="Time/sequence graph of ${esc(conn.id)}">${parts.join("")}</svg>`
  );
}

/** 1536 → "1.5 KiB". */
function fmtBytes(n) {
  if (n < 1024) return `${n}`;
  if (n < 1024 * 1024) return `${+(n / 1024).toFixed(1)} KiB`;
  return `${+(n / 1048576).toFixed(2)} MiB`;
}

/* ---------- the page ---------- */

const page = {
  conns: new Map(), // id → connection, with every event the page has seen
  order: [], // ids, newest first, as the server last listed them
  offset: 0, // stack's clock − performance.now(), from the last now_ms
  selected: null, // id drawn in the diagram
  pinned: false, // the reader chose from the picker: keep it
  closeWatch: null, // { since, finBefore } while waiting for the server's FIN
  graph: null, // { since, id } of the download to graph
  drawn: {}, // what is drawn now, to redraw only what changed
  fixture: new URLSearchParams(location.search).get("fixture"),
};

/** Whether the server closed `c` first since `since`, and its story
 * starts at the SYN, so the diagram can show it from beginning to end. */
function closedWhole(c, since) {
  const segs = c.events.filter((e) => e.type === "segment");
  return segs.length > 0 && segs[0].flags.includes("S") && segs.some((e) => e.dir === "out" && e.flags.includes("F") && e.t_ms >= since);
}

/** The stack's clock now, ticking locally between updates. */
function stackNow() {
  return performance.now() + page.offset;
}

/** Merges one /_conn/recent answer into what the page keeps. A bounded log
 * on the server drops its oldest records; the page keeps what it saw. */
function absorb(snap) {
  page.offset = snap.now_ms - performance.now();
  for (const c of snap.conns) {
    const old = page.conns.get(c.id);
    if (old && old.events.length) {
      const lastT = old.events[old.events.length - 1].t_ms;
      const seen = new Set(old.events.filter((e) => e.t_ms === lastT).map((e) => JSON.stringify(e)));
      const fresh = c.events.filter((e) => e.t_ms > lastT || (e.t_ms === lastT && !seen.has(JSON.stringify(e))));
      c.events = old.events.concat(fresh).slice(-8192);
    }
    page.conns.set(c.id, c);
  }
  page.order = snap.conns.map((c) => c.id);
  for (const id of page.conns.keys()) if (!page.order.includes(id)) page.order.push(id);
  while (page.order.length > 128) page.conns.delete(page.order.pop());
  choose();
  render();
}

/** Which connection to draw: the reader's choice; else the one the server
 * closed after the button was pressed; else the oldest recent one (the one
 * that loaded this page). */
function choose() {
  const w = page.closeWatch;
  if (w) {
    const hit = page.order.find((id) => !w.finBefore.has(id) && closedWhole(page.conns.get(id), w.since));
    if (hit) {
      page.selected = hit;
      page.pinned = true;
      page.closeWatch = null;
    }
  }
  if (page.pinned && page.conns.has(page.selected)) return;
  const live = page.order.filter((id) => page.conns.get(id).state !== "CLOSED");
  page.selected = (live.length ? live : page.order).at(-1) ?? null;
}

/** The port of an address as the stack writes it: `127.0.0.1:40000`, or
 * `[::1]:40000` for IPv6, whose address has colons of its own. */
function port(addr) {
  return addr.slice(addr.lastIndexOf(":") + 1);
}

/** Redraws what changed: the picker, the diagram, the graph. The feed's
 * own connection changes with every event it carries, so the diagram of
 * another connection is left alone (and a hovered segment stays so). */
function render() {
  const picker = document.getElementById("picker");
  const options = page.order.map((id) => {
    const c = page.conns.get(id);
    const t = new Date(Date.now() - (stackNow() - c.opened_ms)).toLocaleTimeString();
    return [id, `${t}, port ${port(c.remote)}: ${c.state}`];
  });
  const pickKey = JSON.stringify([options, page.selected]);
  if (pickKey !== page.drawn.picker) {
    page.drawn.picker = pickKey;
    picker.innerHTML = options
      .map(([id, text]) => `<option value="${esc(id)}"${id === page.selected ? " selected" : ""}>${esc(text)}</option>`)
      .join("");
  }
  const conn = page.conns.get(page.selected);
  const key = (c) => c && `${c.id} ${c.events.length} ${c.state} ${c.time_wait_until_ms}`;
  if (conn && key(conn) !== page.drawn.seq) {
    page.drawn.seq = key(conn);
    const box = document.getElementById("seq-box");
    const left = box.scrollLeft;
    box.innerHTML = drawSequence(conn, stackNow());
    box.scrollLeft = left;
  }
  if (page.graph) {
    const { since } = page.graph;
    const best = page.order.map((id) => page.conns.get(id)).sort((a, b) => bytesSent(b, since) - bytesSent(a, since))[0];
    if (best && bytesSent(best, since) > 0 && key(best) + since !== page.drawn.graph) {
      page.drawn.graph = key(best) + since;
      document.getElementById("graph-box").innerHTML = drawGraph(best, since);
    }
  }
  tick();
}

/** Ticks the TIME-WAIT countdowns locally, between the server's updates. */
function tick() {
  const now = stackNow();
  for (const t of document.querySelectorAll(".tw-left")) t.textContent = `${countdownText(+t.dataset.until, now)} left`;
  const conn = page.conns.get(page.selected);
  const cd = document.getElementById("countdown");
  if (conn && conn.state === "TIME-WAIT" && conn.time_wait_until_ms !== null) {
    const left = Math.max(0, conn.time_wait_until_ms - now);
    cd.hidden = false;
    cd.dataset.left = left.toFixed(0);
    cd.innerHTML = `Our server is in <strong>TIME-WAIT</strong> on this connection: it deletes it in ` +
      `<strong class="left">${countdownText(conn.time_wait_until_ms, now)}</strong> (2·MSL), in case your last ACK was lost.`;
  } else if (conn && expired(conn)) {
    cd.hidden = false;
    cd.dataset.left = "0";
    cd.innerHTML = "2·MSL has passed: our server has deleted this connection.";
  } else {
    cd.hidden = true;
  }
}

/** Shows every field of segment `i` of the drawn connection. */
function showDetail(i) {
  const conn = page.conns.get(page.selected);
  const ev = conn && conn.events[i];
  if (!ev || ev.type !== "segment") return;
  for (const g of document.querySelectorAll("#seq-box .seg.on")) g.classList.remove("on");
  document.querySelector(`#seq-box .seg[data-i="${i}"]`)?.classList.add("on");
  document.getElementById("detail").innerHTML =
    `<table>${segFields(conn, ev).map(([k, v]) => `<tr><th>${esc(k)}</th><td><code>${esc(v)}</code></td></tr>`).join("")}</table>`;
}

function status(text) {
  document.getElementById("status").textContent = text;
}

async function refresh() {
  const r = await fetch(page.fixture || "/_conn/recent", { cache: "no-store" });
  if (!r.ok) throw new Error(`${r.status} ${r.statusText}`);
  absorb(await r.json());
}

/** Asks for /close-me, which the server answers with `Connection: close`
 * and closes first, and follows that connection to its end. */
async function closeOne() {
  const finBefore = new Set(
    page.order.filter((id) => page.conns.get(id).events.some((e) => e.type === "segment" && e.dir === "out" && e.flags.includes("F"))),
  );
  page.closeWatch = { since: stackNow() - 5, finBefore };
  page.pinned = false;
  // The stack records a reader's connections from the first time this
  // page asks for them (`/_conn/...`), so the connections the browser
  // already had open are seen only from then on. The browser sends
  // /close-me on one of those idle connections if it has one; each answer
  // closes it, so asking again soon makes the browser open a new
  // connection, recorded from its SYN to its end.
  status("asking for /close-me…");
  try {
    for (let i = 0; i < 8; i++) {
      await fetch(`/close-me?${Date.now()}`, { cache: "no-store" });
      await refresh();
      if (page.fixture || page.order.some((id) => !finBefore.has(id) && closedWhole(page.conns.get(id), page.closeWatch?.since ?? 0))) break;
    }
    status("the server closed that connection first");
  } catch (e) {
    status(`close-me failed: ${e}`);
  }
  if (page.fixture) refresh();
}

function start() {
  const box = document.getElementById("seq-box");
  for (const ev of ["mouseover", "focusin", "click"]) {
    box.addEventListener(ev, (e) => {
      const g = e.target.closest?.(".seg");
      if (g) showDetail(+g.dataset.i);
    });
  }
  document.getElementById("picker").addEventListener("change", (e) => {
    page.selected = e.target.value;
    page.pinned = true;
    render();
  });
  document.getElementById("close-me").addEventListener("click", closeOne);
  document.getElementById("download").addEventListener("click", async () => {
    page.graph = { since: stackNow() - 5 };
    status("downloading /files/1MiB.bin…");
    try {
      const r = await fetch(`/files/1MiB.bin?${Date.now()}`, { cache: "no-store" });
      const n = (await r.arrayBuffer()).byteLength;
      status(`downloaded ${fmtBytes(n)}`);
    } catch (e) {
      status(`download failed: ${e}`);
    }
    await refresh().catch(() => {});
  });
  setInterval(tick, 100);
  if (page.fixture) {
    page.graph = { since: 0 };
    refresh().then(() => status("fixture"), (e) => status(`fixture: ${e}`));
    return;
  }
  // A first visit: the stack starts recording this reader's connections
  // now, so none is known from its SYN yet; show one from SYN to close.
  const fromSyn = () => page.order.some((id) => page.conns.get(id).events.find((e) => e.type === "segment")?.flags.includes("S"));
  refresh().then(
    () => (fromSyn() ? status("live") : closeOne()),
    (e) => status(`/_conn/recent: ${e}`),
  );
  const feed = new EventSource("/_conn/feed");
  feed.onmessage = (m) => {
    absorb(JSON.parse(m.data));
    status("live");
  };
  feed.onerror = () => status("feed interrupted; reconnecting…");
}

if (typeof document !== "undefined") start();
