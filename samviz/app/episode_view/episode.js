// samviz episode view: one Streamlit v2 component that draws an episode at every step and steps, scrubs and
// plays it in the browser (issue 28). The server sends the whole episode once (payload.py); nothing here asks
// the server for anything, so a step, a slider move, play and a hover never rerun the page's script.
//
// Shape: a clock (the step shown, the step pinned, playing, speed) and views that draw a step. Views draw the
// episode's static parts once (heatmaps over time: one canvas each, 1 px per cell, scaled by CSS) and per step
// only what changes (a cursor, bars, a few small canvases, the narration). Hovering a slot lights it up in every
// view of its model; hovering a time previews that step everywhere (a click pins it). The address keeps the
// pinned step (history.replaceState; the page's script never sees it until a link is opened).
//
// Everything visible is built with DOM calls and textContent (never innerHTML from data), and the payload is
// our own server's: no visitor text reaches this code unescaped.

const SPEEDS = [1, 2, 4, 10, 20];           // steps per second
const DEFAULT_SPEED = 4;
const URL_EVERY_MS = 300;                   // while playing, the address is updated at most this often
const PENDING_AFTER_MS = 250;               // a script run longer than this shows the "updating" state
const LOG_LIMIT = 5000;

// ---------------------------------------------------------------------------------------------- small helpers

function el(tag, className, parent, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  if (parent) parent.appendChild(node);
  return node;
}

function fmt(value, digits) {
  if (value === null || value === undefined || Number.isNaN(value)) return "—";
  return Number(value).toFixed(digits);
}

function plural(count, word) {
  return `${count} ${word}${count === 1 ? "" : "s"}`;
}

function decode(packed) {
  // payload.quantize: uint16 little-endian over [lo, hi]
  const binary = atob(packed.b64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  const q = new Uint16Array(bytes.buffer);
  const out = new Float32Array(q.length);
  const span = packed.hi - packed.lo;
  for (let i = 0; i < q.length; i++) out[i] = packed.lo + (span * q[i]) / 65535;
  return out;
}

function hexRgb(hex) {
  const v = parseInt(hex.slice(1), 16);
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
}

// a colour scale as a 256-entry lookup table between stops [[t, "#rrggbb"], ...]
function scale(stops) {
  const table = new Uint8ClampedArray(256 * 3);
  const rgb = stops.map(([t, c]) => [t, hexRgb(c)]);
  for (let i = 0; i < 256; i++) {
    const t = i / 255;
    let j = 0;
    while (j < rgb.length - 2 && t > rgb[j + 1][0]) j++;
    const [t0, c0] = rgb[j];
    const [t1, c1] = rgb[j + 1];
    const f = t1 > t0 ? Math.min(1, Math.max(0, (t - t0) / (t1 - t0))) : 0;
    for (let k = 0; k < 3; k++) table[i * 3 + k] = c0[k] + (c1[k] - c0[k]) * f;
  }
  return table;
}

const STOPS = {
  blues: [[0, "#ffffff"], [0.5, "#6baed6"], [1, "#08306b"]],
  oranges: [[0, "#ffffff"], [0.5, "#fd8d3c"], [1, "#7f2704"]],
  greys: [[0, "#ffffff"], [1, "#252525"]],
  rdbu: [[0, "#b2182b"], [0.25, "#ef8a62"], [0.5, "#f7f7f7"], [0.75, "#67a9cf"], [1, "#2166ac"]],
};
const SCALES = Object.fromEntries(Object.entries(STOPS).map(([name, stops]) => [name, scale(stops)]));

// a colour bar: the scale's gradient with its two ends (and middle) labelled, and what the colour means
function colourbar(parent, name, lo, hi, what, digits) {
  const bar = el("div", "sv-colourbar", parent);
  el("span", "sv-cbname", bar, what);
  el("span", "sv-cbend", bar, fmt(lo, digits));
  const strip = el("span", "sv-cbstrip", bar);
  strip.style.background = `linear-gradient(to right, ${STOPS[name].map(([t, c]) => `${c} ${t * 100}%`).join(", ")})`;
  el("span", "sv-cbend", bar, fmt(hi, digits));
  return bar;
}

// draw a rows × cols grid into a canvas at 1 px per cell: value(r, c) -> [0, 1] on `table`
function paint(canvas, rows, cols, value, table) {
  canvas.width = Math.max(1, cols);
  canvas.height = Math.max(1, rows);
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(canvas.width, canvas.height);
  const px = image.data;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const v = value(r, c);
      const o = (r * cols + c) * 4;
      if (v === null || Number.isNaN(v)) {
        px[o] = px[o + 1] = px[o + 2] = 240;
      } else {
        const i = Math.max(0, Math.min(255, Math.round(v * 255))) * 3;
        px[o] = table[i]; px[o + 1] = table[i + 1]; px[o + 2] = table[i + 2];
      }
      px[o + 3] = 255;
    }
  }
  ctx.putImageData(image, 0, 0);
}

// integer ticks only (issue 25 item 12): about `count` labels over 0..n-1
function ticks(n, count) {
  const step = Math.max(1, Math.ceil(n / Math.max(1, count)));
  const nice = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000];
  const every = nice.find((v) => v >= step) || step;
  const out = [];
  for (let t = 0; t < n; t += every) out.push(t);
  return out;
}

function timeAxis(parent, n, title) {
  const axis = el("div", "sv-taxis", parent);
  for (const t of ticks(n, 10)) {
    const tick = el("span", "sv-tick", axis, String(t));
    tick.style.left = `${((t + 0.5) / n) * 100}%`;
  }
  if (title) el("div", "sv-axis-title", parent, title);
  return axis;
}

// a box positioned in percentages of its panel: columns c0..c1 (inclusive) and rows r0..r1 of a grid
function place(node, c0, c1, cols, r0, r1, rows) {
  node.style.left = `${(c0 / cols) * 100}%`;
  node.style.width = `${((c1 - c0 + 1) / cols) * 100}%`;
  node.style.top = `${(r0 / rows) * 100}%`;
  node.style.height = `${((r1 - r0 + 1) / rows) * 100}%`;
}

function cellAt(event, node, rows, cols) {
  const box = node.getBoundingClientRect();
  const c = Math.floor(((event.clientX - box.left) / Math.max(1, box.width)) * cols);
  const r = Math.floor(((event.clientY - box.top) / Math.max(1, box.height)) * rows);
  return [Math.max(0, Math.min(rows - 1, r)), Math.max(0, Math.min(cols - 1, c))];
}

// ---------------------------------------------------------------------------------------------- the clock

class Clock {
  constructor(view, steps, start) {
    this.view = view;
    this.steps = steps;
    this.pinned = Math.max(0, Math.min(steps - 1, start));
    this.shown = -1;
    this.playing = false;
    this.speed = DEFAULT_SPEED;
    this.frame = null;
  }

  pin(step, source) {
    const t = Math.max(0, Math.min(this.steps - 1, step));
    if (source !== "play" && this.playing) this.stop();
    this.pinned = t;
    this.show(t, source);
  }

  preview(step) {
    if (this.playing) return;
    this.show(Math.max(0, Math.min(this.steps - 1, step)), "hover");
  }

  endPreview() {
    if (!this.playing && this.shown !== this.pinned) this.show(this.pinned, "hover");
  }

  show(step, source) {
    if (step === this.shown && source !== "init") {
      this.view.settle(source);              // the same step (pinned where it was previewed): controls, address
      return;
    }
    this.shown = step;
    this.view.render(step, source);
  }

  toggle() {
    if (this.playing) this.stop();
    else this.play();
  }

  play() {
    if (this.steps < 2) return;
    if (this.pinned >= this.steps - 1) this.pin(0, "play");
    this.playing = true;
    this.view.playing(true);
    let last = performance.now();
    const tick = (now) => {
      if (!this.playing) return;
      if (now - last >= 1000 / this.speed - 4) {
        last = now;
        this.pin(this.pinned + 1, "play");          // one step per frame at most: every step is shown
        if (this.pinned >= this.steps - 1) {
          this.stop();
          return;
        }
      }
      this.frame = requestAnimationFrame(tick);
    };
    this.frame = requestAnimationFrame(tick);
  }

  stop() {
    this.playing = false;
    if (this.frame !== null) cancelAnimationFrame(this.frame);
    this.frame = null;
    this.view.playing(false);
  }
}

// ---------------------------------------------------------------------------------------------- controls

// button icons as SVG paths in a 16 × 16 box (a font may lack ⏮ ⏭)
const ICONS = {
  first: "M3 3h2v10H3zM13 3v10L6 8z",
  prev: "M11 3v10L4 8z",
  play: "M5 3v10l8-5z",
  pause: "M4 3h3v10H4zM9 3h3v10H9z",
  next: "M5 3v10l7-5z",
  last: "M11 3h2v10h-2zM3 3v10l7-5z",
};

function icon(name) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 16 16");
  svg.setAttribute("width", "14");
  svg.setAttribute("height", "14");
  svg.setAttribute("aria-hidden", "true");
  svg.classList.add("sv-sym");
  const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
  path.setAttribute("d", ICONS[name]);
  path.setAttribute("fill", "currentColor");
  svg.appendChild(path);
  return svg;
}

function controls(view, parent, steps) {
  const bar = el("div", "sv-controls", parent);
  const button = (name, label, title, action) => {
    const b = el("button", `sv-btn sv-${name}`, bar);
    b.type = "button";
    b.title = title;
    b.setAttribute("aria-label", title);
    b.appendChild(icon(name));
    el("span", "sv-label", b, label);
    b.addEventListener("click", action);
    return b;
  };
  const clock = view.clock;
  const parts = {
    first: button("first", "First", "first step (Home)", () => clock.pin(0, "button")),
    prev: button("prev", "Back", "previous step (←)", () => clock.pin(clock.pinned - 1, "button")),
    play: button("play", "Play", "play / pause (space)", () => clock.toggle()),
    next: button("next", "Next", "next step (→)", () => clock.pin(clock.pinned + 1, "button")),
    last: button("last", "Last", "last step (End)", () => clock.pin(steps - 1, "button")),
  };
  const slider = el("input", "sv-slider", bar);
  slider.type = "range";
  slider.min = "0";
  slider.max = String(Math.max(0, steps - 1));
  slider.step = "1";
  slider.setAttribute("aria-label", "time step");
  slider.addEventListener("input", () => clock.pin(Number(slider.value), "slider"));
  const label = el("span", "sv-steplabel", bar);
  const speed = el("select", "sv-speed", bar);
  speed.title = "play speed";
  speed.setAttribute("aria-label", "play speed, steps per second");
  for (const s of SPEEDS) {
    const option = el("option", null, speed, `${s} steps/s`);
    option.value = String(s);
    if (s === DEFAULT_SPEED) option.selected = true;
  }
  speed.addEventListener("change", () => { clock.speed = Number(speed.value); });
  parts.slider = slider;
  parts.label = label;
  parts.speed = speed;
  return parts;
}

// ---------------------------------------------------------------------------------------------- views

// The bits over time: input, target, output (probability), wrong bits crossed, the answer phase framed.
class BitsView {
  constructor(model, view, parent) {
    const bits = model.bits;
    this.view = view;
    this.model = model;
    const box = el("section", "sv-card sv-bits", parent);
    el("div", "sv-title", box, bits.title);
    el("div", "sv-subtitle", box, `${bits.subtitle}; red frame: this step`);
    const bars = el("div", "sv-colourbars", box);
    colourbar(bars, "greys", 0, 1, "input, target bit", 0);
    colourbar(bars, "blues", 0, 1, "output p(bit = 1)", 0);
    const T = bits.outputs.length;
    this.T = T;
    const rows = [["input x_t", bits.inputs, SCALES.greys, "value"],
                  ["target", bits.targets, SCALES.greys, "target"],
                  ["output p(bit = 1)", bits.outputs, SCALES.blues, "p"]];
    this.cursors = [];
    this.hovers = [];
    for (const [name, grid, table, what] of rows) {
      const line = el("div", "sv-row", box);
      el("div", "sv-rowlabel", line, name);
      const panel = el("div", "sv-panel sv-bitpanel", line);
      panel.dataset.name = name;
      if (!grid) {
        el("div", "sv-empty", panel, "no target (typed input)");
        continue;
      }
      const channels = grid[0] ? grid[0].length : 0;
      panel.style.height = `${Math.max(40, Math.min(120, channels * 10))}px`;
      const canvas = el("canvas", "sv-heat", panel);
      paint(canvas, channels, T, (r, c) => Math.max(0, Math.min(1, grid[c][r])), table);
      if (bits.answer) {
        const frame = el("div", "sv-answer", panel);
        place(frame, bits.answer[0], bits.answer[1], T, 0, channels - 1, channels);
      }
      if (name.startsWith("output")) {
        for (const [t, b] of bits.wrong) {
          const cross = el("div", "sv-wrong", panel, "✕");
          cross.style.left = `${((t + 0.5) / T) * 100}%`;
          cross.style.top = `${((b + 0.5) / channels) * 100}%`;
        }
      }
      const hover = el("div", "sv-colhover", panel);
      const cursor = el("div", "sv-cursor", panel);
      this.cursors.push(cursor);
      this.hovers.push(hover);
      panel.addEventListener("mousemove", (event) => {
        const [r, c] = cellAt(event, panel, channels, T);
        view.clock.preview(c);
        view.tip(event, `step ${c} · ${what === "p" ? "bit" : "channel"} ${r} · ${what} ${fmt(grid[c][r], 3)}`);
      });
      panel.addEventListener("mouseleave", () => { view.clock.endPreview(); view.tip(null); });
      panel.addEventListener("click", (event) => view.clock.pin(cellAt(event, panel, channels, T)[1], "click"));
    }
    timeAxis(el("div", "sv-row sv-axisrow", box), T, "time step");
  }

  step(t) {
    for (const cursor of this.cursors) place(cursor, t, t, this.T, 0, 0, 1);
  }
}

// Read heads and the write over the slots drawn × time, the least-used slot of each step circled, and at the
// clock: the usage the write chose its least-used slot from, on the same slot rows.
class WeightsView {
  constructor(model, view, parent, index) {
    const w = model.weights;
    this.view = view;
    this.model = model;
    this.index = index;
    this.slots = w.slots;
    this.rowOf = new Map(w.slots.map((s, i) => [s, i]));
    const S = w.slots.length;
    const T = model.steps;
    this.S = S;
    this.T = T;
    const box = el("section", "sv-card sv-weights", parent);
    el("div", "sv-title", box, "Read and write weights over slots × time");
    el("div", "sv-subtitle", box, `showing ${w.scope}; one colour scale for the episode (0 to ${fmt(w.top, 3)}); ` +
       "○ least-used slot; hover a slot to light it up everywhere, a time to move the clock");
    if (w.large) {
      el("div", "sv-note", box, "A memory this large is never drawn whole: only the slots the episode touched " +
         "are sent to your browser.");
    }
    const bars = el("div", "sv-colourbars", box);
    colourbar(bars, "blues", 0, w.top, "read weight", 3);
    colourbar(bars, "oranges", 0, w.top, "write weight", 3);
    const grid = el("div", "sv-wgrid", box);
    const rowHeight = Math.max(2, Math.min(14, Math.floor(440 / Math.max(1, S))));
    const height = Math.max(60, rowHeight * S);
    // slot labels: every slot when they fit, else every k-th row (the axis is a list of slots, not to scale)
    const labels = el("div", "sv-slotlabels", grid);
    labels.style.height = `${height}px`;
    const every = Math.max(1, Math.ceil(S / Math.floor(height / 12)));
    for (let r = 0; r < S; r += every) {
      const label = el("span", "sv-slotlabel", labels, String(w.slots[r]));
      label.style.top = `${((r + 0.5) / S) * 100}%`;
    }
    el("div", "sv-axis-title sv-vertical", labels, w.axis);
    this.cursors = [];
    this.bands = [];
    const columns = el("div", "sv-wpanels", grid);
    w.panels.forEach((panel, p) => {
      const values = decode(panel.data);           // [S][T]
      const column = el("div", "sv-wcol", columns);
      el("div", "sv-coltitle", column, panel.name);
      const node = el("div", "sv-panel", column);
      node.style.height = `${height}px`;
      node.dataset.name = panel.name;
      const canvas = el("canvas", "sv-heat", node);
      const table = panel.role === "read" ? SCALES.blues : SCALES.oranges;
      paint(canvas, S, T, (r, c) => values[r * T + c] / w.top, table);
      if (panel.role === "write") {
        w.least.forEach((slot, t) => {
          if (slot === null || !this.rowOf.has(slot)) return;
          const ring = el("div", "sv-lru", node);
          ring.style.left = `${((t + 0.5) / T) * 100}%`;
          ring.style.top = `${((this.rowOf.get(slot) + 0.5) / S) * 100}%`;
        });
      }
      const band = el("div", "sv-band", node);
      const cursor = el("div", "sv-cursor", node);
      this.bands.push(band);
      this.cursors.push(cursor);
      node.addEventListener("mousemove", (event) => {
        const [r, c] = cellAt(event, node, S, T);
        view.clock.preview(c);
        view.hoverSlot(index, this.slots[r]);
        view.tip(event, `slot ${this.slots[r]} · step ${c} · ${panel.name} weight ${fmt(values[r * T + c], 3)}`);
      });
      node.addEventListener("mouseleave", () => { view.clock.endPreview(); view.hoverSlot(index, null); view.tip(null); });
      node.addEventListener("click", (event) => view.clock.pin(cellAt(event, node, S, T)[1], "click"));
      timeAxis(column, T, "time step");
    });
    // the usage at the clock, on the same rows
    this.usage = model.usage && model.usage.values ? model.usage : null;
    if (model.usage) {
      const column = el("div", "sv-wcol sv-usagecol", grid);
      el("div", "sv-coltitle", column, "usage at this step");
      const node = el("div", "sv-panel sv-usage", column);
      node.style.height = `${height}px`;
      this.usageNode = node;
      if (this.usage) {
        this.usageCanvas = el("canvas", "sv-bars", node);
        this.usageRange = this.range(this.usage);
        this.usageMark = el("div", "sv-usagemark", node);
        this.usageBand = el("div", "sv-band", node);
        node.addEventListener("mousemove", (event) => {
          const [r] = cellAt(event, node, S, 1);
          const slot = this.slots[r];
          view.hoverSlot(index, slot);
          const values = this.usage.values[view.clock.shown];
          const v = values ? values[String(slot)] : undefined;
          view.tip(event, `slot ${slot} · usage ${v === undefined ? "not recorded" : fmt(v, 3)}`);
        });
        node.addEventListener("mouseleave", () => { view.hoverSlot(index, null); view.tip(null); });
        const axis = el("div", "sv-uaxis", column);
        el("span", null, axis, fmt(this.usageRange[0], 2));
        el("span", null, axis, fmt(this.usageRange[1], 2));
      } else {
        el("div", "sv-empty", node, "usage not recorded at this size");
      }
      this.usageCaption = el("div", "sv-caption", box);
    }
    this.caption = el("div", "sv-caption", box);
  }

  range(usage) {
    let lo = Infinity;
    let hi = -Infinity;
    for (const values of usage.values) {
      if (!values) continue;
      for (const v of Object.values(values)) {
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
    }
    if (!Number.isFinite(lo)) return [0, 1];
    return [Math.min(0, lo), hi > Math.min(0, lo) ? hi : Math.min(0, lo) + 1];
  }

  step(t) {
    for (const cursor of this.cursors) place(cursor, t, t, this.T, 0, 0, 1);
    const least = this.model.weights.least[t];
    if (this.usageCaption) {
      const u = this.model.usage;
      const age = u.ages[t];
      let text = `Usage: ${u.meaning}; ${u.rule}.`;
      if (least !== null && least !== undefined) {
        const values = this.usage ? this.usage.values[t] : null;
        const v = values ? values[String(least)] : undefined;
        text += ` This step's write went to slot ${least}` +
          (v !== undefined ? ` (usage ${fmt(v, 3)})` : "") +
          (age !== null && age !== undefined ? (age > t ? ", never accessed before" :
            `, last accessed ${plural(age, "step")} ago`) : "") + ".";
        if (!this.rowOf.has(least)) text += " (Not among the slots drawn.)";
      }
      this.usageCaption.textContent = text;
    }
    if (this.usage) {
      const values = this.usage.values[t] || {};
      const [lo, hi] = this.usageRange;
      const canvas = this.usageCanvas;
      canvas.width = 100;
      canvas.height = this.S;
      const ctx = canvas.getContext("2d");
      ctx.clearRect(0, 0, 100, this.S);
      ctx.fillStyle = this.view.colours.read;
      this.slots.forEach((slot, r) => {
        const v = values[String(slot)];
        if (v === undefined) return;
        const length = Math.max(0.5, ((v - lo) / (hi - lo)) * 100);
        ctx.fillRect(0, r, length, 1);
      });
      if (least !== null && this.rowOf.has(least)) {
        ctx.fillStyle = this.view.colours.mark;
        const v = values[String(least)];
        const length = v === undefined ? 100 : Math.max(0.5, ((v - lo) / (hi - lo)) * 100);
        ctx.fillRect(0, this.rowOf.get(least), length, 1);
        place(this.usageMark, 0, 0, 1, this.rowOf.get(least), this.rowOf.get(least), this.S);
        this.usageMark.style.display = "";
      } else {
        this.usageMark.style.display = "none";
      }
    }
  }

  highlight(slot) {
    const row = slot === null ? undefined : this.rowOf.get(slot);
    const bands = this.usageBand ? [...this.bands, this.usageBand] : this.bands;
    for (const band of bands) {
      if (row === undefined) {
        band.style.display = "none";
        band.removeAttribute("data-slot");
      } else {
        band.style.display = "block";
        band.dataset.slot = String(slot);
        place(band, 0, 0, 1, row, row, this.S);
      }
    }
  }
}

// The narration of the step: what happened, in sentences with the step's numbers, each linked to its equation.
class NarrationView {
  constructor(model, view, parent, first, count) {
    this.model = model;
    this.first = first || 0;
    this.count = count || Infinity;
    const box = el("section", "sv-card sv-narration", parent);
    this.heading = el("div", "sv-title", box);
    this.cost = el("div", "sv-caption", box);
    this.list = el("ul", "sv-sentences", box);
    this.index = view.models.indexOf(model);
    this.view = view;
    // a slot number in a sentence lights that slot up in the views (and the views light it up here)
    this.list.addEventListener("mouseover", (event) => {
      const slot = event.target.dataset ? event.target.dataset.slot : undefined;
      if (slot !== undefined) view.hoverSlot(this.index, Number(slot));
    });
    this.list.addEventListener("mouseout", (event) => {
      if (event.target.dataset && event.target.dataset.slot !== undefined) view.hoverSlot(this.index, null);
    });
  }

  step(t) {
    const model = this.model;
    const prefix = this.view.kind === "compare" ? `${model.name} at step ${t}` : `What happened at step ${t}`;
    this.heading.textContent = prefix;
    this.cost.textContent = model.cost ? model.cost[t] : "";
    this.list.replaceChildren();
    const sentences = model.narration[t].slice(this.first, this.first + this.count);
    for (const [text, href, label] of sentences) {
      const item = el("li", null, this.list);
      slotSpans(item, text, this.index);
      if (href) {
        const link = el("a", "sv-learn", item, ` → ${label}`);
        link.href = href;
        link.target = "_self";
      }
    }
  }

  highlight(slot) {
    for (const span of this.list.querySelectorAll("[data-slot]")) {
      span.classList.toggle("sv-hl", slot !== null && span.dataset.slot === String(slot));
    }
  }
}

// "slot 12", "slots 3, 4, 5" and "(0, 84, 85)" lists after "read"/"written" become hoverable slot numbers
const SLOT_LISTS = /(\bslots? |\b(?:read|written|addressed) \()((?:\d+(?:, )?)+)/g;

function slotSpans(parent, text, modelIndex) {
  let at = 0;
  for (const match of text.matchAll(SLOT_LISTS)) {
    const start = match.index + match[1].length;
    parent.appendChild(document.createTextNode(text.slice(at, start)));
    const numbers = match[2];
    let inner = 0;
    for (const m of numbers.matchAll(/\d+/g)) {
      parent.appendChild(document.createTextNode(numbers.slice(inner, m.index)));
      const span = el("span", "sv-slotref", parent, m[0]);
      span.dataset.slot = m[0];
      span.dataset.model = String(modelIndex);
      inner = m.index + m[0].length;
    }
    parent.appendChild(document.createTextNode(numbers.slice(inner)));
    at = start + numbers.length;
  }
  parent.appendChild(document.createTextNode(text.slice(at)));
}

// Sparse models: per head, the K slots the index found beside the exact top K, with their cosines.
class NeighboursView {
  constructor(model, view, parent, index) {
    this.model = model;
    this.view = view;
    this.index = index;
    const box = el("section", "sv-card sv-neighbours", parent);
    this.title = el("div", "sv-title", box);
    el("div", "sv-subtitle", box, `${model.neighbours.index} index (found) against the exact top-K; bars are the ` +
       "cosine of each row to the query; ✓ also in the exact list, ≈ ties its K-th cosine");
    this.body = el("div", "sv-heads", box);
  }

  step(t) {
    const heads = this.model.neighbours.steps[t] || [];
    this.title.textContent = `Nearest neighbours at step ${t}`;
    this.body.replaceChildren();
    heads.forEach((n, h) => {
      const head = el("div", "sv-head", this.body);
      const k = n.exact.length;
      el("div", "sv-headtitle", head, `head ${h + 1}: recall ${fmt(n.recall, 2)} = (${n.hits} in the exact list` +
         (n.ties.length ? ` + ${n.ties.length} tied` : "") + `) / ${k}`);
      const values = [...n.fs, ...n.es].map(Math.abs);
      const top = Math.max(1e-9, ...values);
      const table = el("div", "sv-ntable", head);
      el("span", "sv-nh", table, "found");
      el("span", "sv-nh", table, "cosine");
      el("span", "sv-nh", table, "exact");
      el("span", "sv-nh", table, "cosine");
      const tied = new Set(n.ties);
      const exact = new Set(n.exact);
      const found = new Set(n.found);
      for (let r = 0; r < Math.max(n.found.length, k); r++) {
        const mark = n.found[r] === undefined ? "" : exact.has(n.found[r]) ? " ✓" : tied.has(n.found[r]) ? " ≈" : "";
        this.cell(table, n.found[r], mark, "sv-found");
        this.bar(table, n.fs[r], top, this.view.colours.read);
        this.cell(table, n.exact[r], n.exact[r] !== undefined && !found.has(n.exact[r]) ? " (not found)" : "",
                  "sv-exact");
        this.bar(table, n.es[r], top, this.view.colours.exact);
      }
    });
  }

  cell(parent, slot, mark, cls) {
    const node = el("span", `sv-ncell ${cls}`, parent, slot === undefined ? "" : `${slot}${mark}`);
    if (slot !== undefined) {
      node.dataset.slot = String(slot);
      node.addEventListener("mouseenter", () => this.view.hoverSlot(this.index, slot));
      node.addEventListener("mouseleave", () => this.view.hoverSlot(this.index, null));
    }
  }

  bar(parent, value, top, colour) {
    const cell = el("span", "sv-nbar", parent);
    if (value === undefined) return;
    const fill = el("span", "sv-fill", cell);
    fill.style.width = `${Math.max(0, (Math.abs(value) / top) * 100)}%`;
    fill.style.background = colour;
    if (value < 0) fill.classList.add("sv-negative");
    el("span", "sv-num", cell, fmt(value, 3));
  }

  highlight(slot) {
    for (const node of this.body.querySelectorAll("[data-slot]")) {
      node.classList.toggle("sv-hl", slot !== null && node.dataset.slot === String(slot));
    }
  }
}

// DNC/SDNC: each head's read modes and the link weightings it followed.
class ModesView {
  constructor(model, view, parent, index) {
    this.model = model;
    this.view = view;
    this.index = index;
    const box = el("section", "sv-card sv-modes", parent);
    this.title = el("div", "sv-title", box);
    el("div", "sv-subtitle", box, "read modes π per head (backward · content · forward), and the slots the " +
       "temporal links lead to (f = L w^r, b = Lᵀ w^r; largest first)");
    this.body = el("div", "sv-heads", box);
  }

  step(t) {
    this.title.textContent = `Read modes and links at step ${t}`;
    this.body.replaceChildren();
    const modes = (this.model.modes || [])[t] || [];
    const links = (this.model.links || [])[t] || [];
    const c = this.view.colours;
    for (let h = 0; h < Math.max(modes.length, links.length); h++) {
      const head = el("div", "sv-head", this.body);
      el("div", "sv-headtitle", head, `head ${h + 1}`);
      if (modes[h]) {
        const stack = el("div", "sv-stack", head);
        [["backward", c.backward], ["content", c.read], ["forward", c.forward]].forEach(([name, colour], m) => {
          const part = el("span", "sv-part", stack, modes[h][m] >= 0.12 ? `${name} ${fmt(modes[h][m], 2)}` : "");
          part.style.width = `${modes[h][m] * 100}%`;
          part.style.background = colour;
          part.title = `${name} ${fmt(modes[h][m], 3)}`;
        });
      }
      if (links[h]) {
        for (const direction of ["forward", "backward"]) {
          const line = el("div", "sv-links", head);
          el("span", "sv-linkname", line, `${direction}:`);
          const entries = links[h][direction];
          if (!entries.length) el("span", "sv-dim", line, " none");
          for (const [slot, w] of entries) {
            const chip = el("span", "sv-chip", line, `${slot} (${fmt(w, 2)})`);
            chip.dataset.slot = String(slot);
            chip.style.borderColor = direction === "forward" ? c.forward : c.backward;
            chip.addEventListener("mouseenter", () => this.view.hoverSlot(this.index, slot));
            chip.addEventListener("mouseleave", () => this.view.hoverSlot(this.index, null));
          }
        }
      }
    }
  }

  highlight(slot) {
    for (const node of this.body.querySelectorAll("[data-slot]")) {
      node.classList.toggle("sv-hl", slot !== null && node.dataset.slot === String(slot));
    }
  }
}

// The rows the write changed (before, after), the read vectors, and the whole memory when it was kept.
class RowsView {
  constructor(model, view, parent, index) {
    this.model = model;
    this.view = view;
    this.index = index;
    const box = el("section", "sv-card sv-rows", parent);
    this.title = el("div", "sv-title", box);
    this.subtitle = el("div", "sv-subtitle", box);
    this.scale = model.memory ? model.memory.scale : this.range();
    colourbar(el("div", "sv-colourbars", box), "rdbu", -this.scale, this.scale, "value (rows, r_t, M_t)", 2);
    this.body = el("div", "sv-rowgrid", box);
    this.panels = [];
    for (const name of ["written rows, before", "written rows, after", "read vectors r_t"]) {
      const column = el("div", "sv-rcol", this.body);
      el("div", "sv-coltitle", column, name);
      const line = el("div", "sv-rline", column);
      const labels = el("div", "sv-rlabels", line);
      const node = el("div", "sv-panel sv-rpanel", line);
      const canvas = el("canvas", "sv-heat", node);
      this.panels.push({ labels, node, canvas, name });
    }
    this.memory = model.memory ? new MemoryPart(model, view, box, index, this.scale) : null;
  }

  range() {
    let top = 1e-6;
    for (const r of this.model.rows) {
      for (const rows of [r.before, r.after, r.reads]) for (const row of rows) for (const v of row) top = Math.max(top, Math.abs(v));
    }
    return top;
  }

  step(t) {
    const r = this.model.rows[t];
    const s = this.scale;
    this.title.textContent = `Memory rows touched at step ${t}`;
    const dense = !this.model.sparse;
    this.subtitle.textContent = `colour range ±${fmt(s, 3)}, the largest |value| in this episode's memory` +
      (dense ? `; a dense write changes every row a little: the ${plural(r.ids.length, "row")} with the largest ` +
        `write weight are shown (${r.written.length} above ${this.model.threshold})` : "");
    const grids = [[r.ids, r.before], [r.ids, r.after],
                   [r.reads.map((_, h) => `head ${h + 1}`), r.reads]];
    grids.forEach(([labels, rows], p) => {
      const panel = this.panels[p];
      panel.labels.replaceChildren();
      const n = rows.length;
      const width = n ? rows[0].length : 0;
      panel.node.style.height = `${Math.max(14, 14 * n)}px`;
      labels.forEach((label) => {
        const node = el("span", "sv-rlabel", panel.labels, String(label));
        if (p < 2) {
          node.dataset.slot = String(label);
          node.addEventListener("mouseenter", () => this.view.hoverSlot(this.index, label));
          node.addEventListener("mouseleave", () => this.view.hoverSlot(this.index, null));
        }
      });
      paint(panel.canvas, n, width, (i, j) => (rows[i][j] / s + 1) / 2, SCALES.rdbu);
      panel.rows = rows;
    });
    if (this.memory) this.memory.step(t);
  }

  highlight(slot) {
    for (const panel of this.panels) {
      for (const node of panel.labels.querySelectorAll("[data-slot]")) {
        node.classList.toggle("sv-hl", slot !== null && node.dataset.slot === String(slot));
      }
    }
    if (this.memory) this.memory.highlight(slot);
  }
}

// The whole memory M_t after the step (slots down, word across), the slots written and the heaviest read marked.
class MemoryPart {
  constructor(model, view, parent, index, scale) {
    const m = model.memory;
    this.model = model;
    this.view = view;
    this.scale = scale;
    this.N = m.slots;
    this.W = m.width;
    this.mode = m.mode;
    this.data = decode(m.data);
    this.cache = { step: -1, values: null };
    const box = el("div", "sv-memory", parent);
    this.title = el("div", "sv-coltitle", box);
    const node = el("div", "sv-panel sv-mempanel", box);
    node.style.height = `${Math.max(80, Math.min(384, this.N * 3))}px`;
    node.style.width = `${Math.max(120, Math.min(420, this.W * 14))}px`;
    this.canvas = el("canvas", "sv-heat", node);
    this.marks = el("div", "sv-marks", node);
    this.band = el("div", "sv-band", node);
    this.node = node;
    node.addEventListener("mousemove", (event) => {
      const [r, c] = cellAt(event, node, this.N, this.W);
      view.hoverSlot(index, r);
      const values = this.at(view.clock.shown);
      view.tip(event, `slot ${r} · component ${c} · ${fmt(values[r * this.W + c], 3)}`);
    });
    node.addEventListener("mouseleave", () => { view.hoverSlot(index, null); view.tip(null); });
  }

  at(t) {
    if (this.mode === "full") return this.data.subarray(t * this.N * this.W, (t + 1) * this.N * this.W);
    if (this.cache.step === t) return this.cache.values;
    // replay: step 0's memory, then each later step's rows written (a sparse write changes only those)
    let values;
    let from;
    if (this.cache.step >= 0 && this.cache.step < t) {
      values = this.cache.values;
      from = this.cache.step + 1;
    } else {
      values = this.data.slice();
      from = 1;
    }
    for (let s = from; s <= t; s++) {
      const r = this.model.rows[s];
      r.ids.forEach((slot, i) => { values.set(r.after[i], slot * this.W); });
    }
    this.cache = { step: t, values };
    return values;
  }

  step(t) {
    const values = this.at(t);
    const r = this.model.rows[t];
    this.title.textContent = `Memory M_t after step ${t} (${this.N} slots × ${this.W}); ◀ written with weight > ` +
      `${this.model.threshold}, ● read`;
    paint(this.canvas, this.N, this.W, (i, j) => (values[i * this.W + j] / this.scale + 1) / 2, SCALES.rdbu);
    this.marks.replaceChildren();
    for (const slot of r.written) {
      const mark = el("div", "sv-mark sv-markw", this.marks, "◀");
      mark.style.top = `${((slot + 0.5) / this.N) * 100}%`;
      mark.dataset.slot = String(slot);
    }
    for (const slot of r.read) {
      const mark = el("div", "sv-mark sv-markr", this.marks, "●");
      mark.style.top = `${((slot + 0.5) / this.N) * 100}%`;
      mark.dataset.slot = String(slot);
    }
  }

  highlight(slot) {
    if (slot === null || slot >= this.N) {
      this.band.style.display = "none";
      this.band.removeAttribute("data-slot");
      return;
    }
    this.band.style.display = "block";
    this.band.dataset.slot = String(slot);
    place(this.band, 0, 0, 1, slot, slot, this.N);
  }
}

// Compare: the two models' lines over time on one clock (effective slots read, rows touched, wrong bits, ms).
class SeriesView {
  constructor(models, view, parent) {
    this.models = models;
    this.view = view;
    const box = el("section", "sv-card sv-series", parent);
    el("div", "sv-title", box, "The same episode, step by step");
    const legend = el("div", "sv-legend", box);
    for (const m of models) {
      const item = el("span", "sv-legenditem", legend, m.name);
      item.style.setProperty("--c", m.colour);
    }
    const grid = el("div", "sv-sgrid", box);
    const panels = [["spread", "effective number of slots read (exp of the weights' entropy; mean over heads)", false],
                    ["touched", "memory rows touched per step: an exact count (log scale)", true],
                    ["wrong", "wrong output bits per step", false],
                    ["ms", "measured forward time per step at this size, ms (log scale)", true]];
    this.T = view.steps;
    this.cursors = [];
    this.readouts = [];
    for (const [key, title, log] of panels) {
      const cell = el("div", "sv-scell", grid);
      el("div", "sv-coltitle", cell, title);
      const series = models.map((m) => (m.series[key] ? m.series[key].slice(0, this.T) : null));
      const present = series.filter(Boolean);
      const plot = el("div", "sv-splot", cell);
      if (!present.length) {
        el("div", "sv-empty", plot, key === "wrong" ? "no answer phase: nothing is scored" : "not measured");
        this.readouts.push(null);
        continue;
      }
      const all = present.flat().filter((v) => Number.isFinite(v) && (!log || v > 0));
      let lo = log ? Math.min(...all) : 0;
      let hi = Math.max(...all);
      if (key === "wrong") hi = Math.max(1, hi);             // a count: the axis starts at 0, never below
      if (log) {
        lo = 10 ** Math.floor(Math.log10(Math.max(lo, 1e-9)));
        hi = 10 ** Math.ceil(Math.log10(Math.max(hi, lo * 10)));
      } else if (hi <= lo) {
        hi = lo + 1;
      }
      const y = (v) => (log ? (Math.log10(hi) - Math.log10(Math.max(v, lo))) / (Math.log10(hi) - Math.log10(lo))
                            : (hi - v) / (hi - lo));
      const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
      svg.setAttribute("viewBox", `0 0 ${this.T} 1`);
      svg.setAttribute("preserveAspectRatio", "none");
      svg.classList.add("sv-svg");
      plot.appendChild(svg);
      series.forEach((values, i) => {
        if (!values) return;
        const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
        line.setAttribute("points", values.map((v, t) => `${t + 0.5},${y(v).toFixed(4)}`).join(" "));
        line.setAttribute("fill", "none");
        line.setAttribute("stroke", models[i].colour);
        line.setAttribute("stroke-width", "2");
        line.setAttribute("vector-effect", "non-scaling-stroke");
        svg.appendChild(line);
      });
      const axis = el("div", "sv-yaxis", plot);
      el("span", null, axis, log ? String(hi) : fmt(hi, key === "wrong" ? 0 : 1));
      el("span", null, axis, log ? String(lo) : "0");
      const cursor = el("div", "sv-cursor", plot);
      this.cursors.push(cursor);
      plot.addEventListener("mousemove", (event) => view.clock.preview(cellAt(event, plot, 1, this.T)[1]));
      plot.addEventListener("mouseleave", () => view.clock.endPreview());
      plot.addEventListener("click", (event) => view.clock.pin(cellAt(event, plot, 1, this.T)[1], "click"));
      timeAxis(cell, this.T, "time step");
      this.readouts.push([el("div", "sv-caption", cell), series, key]);
    }
  }

  step(t) {
    for (const cursor of this.cursors) place(cursor, t, t, this.T, 0, 0, 1);
    for (const readout of this.readouts) {
      if (!readout) continue;
      const [node, series, key] = readout;
      const digits = key === "ms" ? 2 : key === "spread" ? 1 : 0;
      node.textContent = `step ${t}: ` + this.models.map((m, i) => (series[i] ? `${m.name} ${fmt(series[i][t], digits)}`
        : `${m.name} —`)).join(" · ");
    }
  }
}

// The long-episode mode: wrong bits at each answer step over hundreds of steps, scrubbed; bins of steps when
// there are more steps than pixel columns (each bar then shows its bin's largest value, and says so).
class LongView {
  constructor(data, view, parent) {
    this.data = data;
    this.view = view;
    const box = el("section", "sv-card sv-long", parent);
    el("div", "sv-title", box, data.title);
    const T = data.wrong.length;
    this.T = T;
    const answer = data.answer;
    const cumulative = new Float64Array(T);
    const guessing = new Float64Array(T);
    let total = 0;
    let guess = 0;
    let answered = 0;
    this.answeredBefore = new Int32Array(T);
    for (let t = 0; t < T; t++) {
      if (answer[t]) { total += data.wrong[t]; guess += data.bits / 2; answered += 1; }
      cumulative[t] = total;
      guessing[t] = guess;
      this.answeredBefore[t] = answered;
    }
    this.cumulative = cumulative;
    this.guessing = guessing;
    const columns = Math.min(T, data.columns);
    this.bin = Math.ceil(T / columns);
    el("div", "sv-subtitle", box, (this.bin > 1 ? `each bar is ${this.bin} steps (their largest value); ` : "") +
       `bars: wrong bits at an answer step (of ${data.bits}, left axis); lines: so far, per sequence, and ` +
       "guessing so far (right axis)");
    const plot = el("div", "sv-panel sv-longplot", box);
    const canvas = el("canvas", "sv-heat sv-smooth", plot);
    const bins = Math.ceil(T / this.bin);
    canvas.width = bins;
    canvas.height = 200;
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = view.colours.mark;
    for (let b = 0; b < bins; b++) {
      let top = 0;
      for (let t = b * this.bin; t < Math.min(T, (b + 1) * this.bin); t++) if (answer[t]) top = Math.max(top, data.wrong[t]);
      const h = (top / data.bits) * 200;
      if (h > 0) ctx.fillRect(b, 200 - h, 1, Math.max(1, h));
    }
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", `0 0 ${T} 1`);
    svg.setAttribute("preserveAspectRatio", "none");
    svg.classList.add("sv-svg");
    plot.appendChild(svg);
    const top = Math.max(1, guess, total);
    for (const [values, colour, dash] of [[cumulative, "#222", ""], [guessing, "#888", "4 3"]]) {
      const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
      const points = [];
      const stride = Math.max(1, Math.floor(T / 1000));
      for (let t = 0; t < T; t += stride) points.push(`${t + 0.5},${(1 - values[t] / top).toFixed(4)}`);
      points.push(`${T - 0.5},${(1 - values[T - 1] / top).toFixed(4)}`);
      line.setAttribute("points", points.join(" "));
      line.setAttribute("fill", "none");
      line.setAttribute("stroke", colour);
      line.setAttribute("stroke-width", "2");
      if (dash) line.setAttribute("stroke-dasharray", dash);
      line.setAttribute("vector-effect", "non-scaling-stroke");
      svg.appendChild(line);
    }
    const axis = el("div", "sv-yaxis", plot);
    el("span", null, axis, `${data.bits}`);
    el("span", null, axis, "0");
    const right = el("div", "sv-yaxis sv-right", plot);
    el("span", null, right, fmt(top, 1));
    el("span", null, right, "0");
    this.cursor = el("div", "sv-cursor", plot);
    plot.addEventListener("mousemove", (event) => view.clock.preview(cellAt(event, plot, 1, T)[1]));
    plot.addEventListener("mouseleave", () => view.clock.endPreview());
    plot.addEventListener("click", (event) => view.clock.pin(cellAt(event, plot, 1, T)[1], "click"));
    timeAxis(box, T, "time step");
    this.readout = el("div", "sv-readout", box);
  }

  step(t) {
    place(this.cursor, t, t, this.T, 0, 0, 1);
    const d = this.data;
    const over = d.episodes === 1 ? "" : ` (mean over ${d.episodes} episodes)`;
    const phase = d.answer[t] ? `answer step ${this.answeredBefore[t]} of ${this.answeredBefore[this.T - 1]}: ` +
      `${fmt(d.wrong[t], 2)} wrong bits of ${d.bits}${over}` : "input phase, not scored";
    this.readout.textContent = `Step ${t} of ${this.T - 1} — ${phase}. So far ${fmt(this.cumulative[t], 2)} wrong ` +
      `bits per sequence, against ${fmt(this.guessing[t], 1)} for guessing.`;
  }
}

// The long-task mode (issue 26 item 6): a strip of small charts along an episode of thousands of steps, in bins of
// steps (payload strip: per bin its start, end and values), on the view's clock: wrong bits per answer step against
// chance, CPU ms per step, rows written (memory filled %), the index's sampled recall. Each chart's caption states
// the totals the page's sentence states, computed here from the same bins (long_episode.strip_summary).
class LongTaskView {
  constructor(data, view, parent) {
    this.data = data;
    this.view = view;
    this.T = view.steps;
    const d = data;
    const box = el("section", "sv-card sv-longtask", parent);
    el("div", "sv-title", box, d.title);
    const bins = d.start.length;
    const width = bins ? d.end[0] - d.start[0] : 1;
    el("div", "sv-subtitle", box, `along the episode: ${plural(bins, "bin")} of ${plural(width, "step")}` +
       (bins > 1 && d.end[bins - 1] - d.start[bins - 1] !== width ? ` (the last ${d.end[bins - 1] - d.start[bins - 1]})` : "") +
       "; hover or click a chart to move the clock");
    const spans = d.start.map((s, i) => d.end[i] - s);
    let perQuery = 0;
    let answered = 0;
    d.wrong.forEach((w, i) => { if (w !== null) { perQuery += w * d.answered[i]; } answered += d.answered[i]; });
    const cpu = d.cpu_ms.reduce((a, c, i) => a + c * spans[i], 0) / Math.max(1, spans.reduce((a, b) => a + b, 0));
    let samples = 0;
    let recallSum = 0;
    let lowest = null;
    d.recall.forEach((r, i) => {
      samples += d.samples[i];
      if (r !== null) { recallSum += r * d.samples[i]; lowest = lowest === null ? r : Math.min(lowest, r); }
    });
    const last = bins - 1;
    const chance = d.bits / 2;
    const over = d.episodes === 1 ? "" : ` (mean over ${d.episodes} episodes)`;
    const rowsTop = Math.max(1, ...d.rows.filter((v) => v !== null));
    const cpuTop = Math.max(1e-9, ...d.cpu_ms);
    const recalls = d.recall.filter((v) => v !== null);
    const recallLow = recalls.length ? Math.min(0.9, Math.floor(Math.min(...recalls) * 100) / 100) : 0.9;
    this.panels = [
      { key: "wrong", title: `wrong bits per answer step${over}; dashed: guessing (${fmt(chance, 1)})`,
        caption: `${fmt(perQuery, 2)} wrong bits per query, against ${fmt(answered * chance, 1)} for guessing`,
        lo: 0, hi: d.bits, top: String(d.bits), bottom: "0", dots: true, guide: chance },
      { key: "cpu_ms", title: "CPU ms per step (the run's thread; recall checks left out)",
        caption: `${fmt(cpu, 2)} ms over the episode; first bin ${fmt(d.cpu_ms[0], 2)}, last bin ${fmt(d.cpu_ms[last], 2)}`,
        lo: 0, hi: cpuTop * 1.1, top: fmt(cpuTop * 1.1, 2), bottom: "0" },
      { key: "rows", title: `rows written (memory filled, % of ${d.slots.toLocaleString("en-US")} slots)`,
        caption: d.rows[last] === null ? "not counted" : `${Math.round(d.rows[last]).toLocaleString("en-US")} by the ` +
          `end: ${fmt(d.filled[last], 2)}% of the memory filled`,
        lo: 0, hi: rowsTop, top: `${Math.round(rowsTop).toLocaleString("en-US")} (${fmt((100 * rowsTop) / d.slots, 2)}%)`,
        bottom: "0" },
      { key: "recall", title: "index recall against the exact top-K (sampled)",
        caption: samples ? `${fmt(recallSum / samples, 4)} over ${plural(samples, "sample")}; lowest bin ${fmt(lowest, 4)}`
          : "not sampled",
        lo: recallLow, hi: 1, top: "1", bottom: fmt(recallLow, 2), dots: true, line: true },
    ];
    const grid = el("div", "sv-sgrid sv-strip", box);
    this.cursors = [];
    for (const panel of this.panels) {
      const cell = el("div", "sv-scell", grid);
      cell.dataset.chart = panel.key;
      el("div", "sv-coltitle", cell, panel.title);
      const plot = el("div", "sv-splot", cell);
      const values = d[panel.key];
      const y = (v) => 1 - (Math.min(panel.hi, Math.max(panel.lo, v)) - panel.lo) / Math.max(1e-12, panel.hi - panel.lo);
      const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
      svg.setAttribute("viewBox", `0 0 ${this.T} 1`);
      svg.setAttribute("preserveAspectRatio", "none");
      svg.classList.add("sv-svg");
      plot.appendChild(svg);
      const line = (points, colour, dash) => {
        const node = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
        node.setAttribute("points", points.join(" "));
        node.setAttribute("fill", "none");
        node.setAttribute("stroke", colour);
        node.setAttribute("stroke-width", "1.5");
        if (dash) node.setAttribute("stroke-dasharray", dash);
        node.setAttribute("vector-effect", "non-scaling-stroke");
        svg.appendChild(node);
      };
      if (panel.guide !== undefined) line([`0,${y(panel.guide)}`, `${this.T},${y(panel.guide)}`], "#888", "4 3");
      const points = [];
      values.forEach((v, i) => {
        if (v === null) return;
        const x = (d.start[i] + d.end[i]) / 2;
        points.push(`${x},${y(v).toFixed(5)}`);
        if (panel.dots) {
          const dot = el("div", "sv-dot", plot);
          dot.style.left = `${(x / this.T) * 100}%`;
          dot.style.top = `${y(v) * 100}%`;
          dot.style.background = panel.key === "wrong" ? view.colours.mark : "#222";
        }
      });
      if (!panel.dots || panel.line) line(points, "#222");
      const axis = el("div", "sv-yaxis", plot);
      el("span", null, axis, panel.top);
      el("span", null, axis, panel.bottom);
      const cursor = el("div", "sv-cursor", plot);
      this.cursors.push(cursor);
      plot.addEventListener("mousemove", (event) => view.clock.preview(cellAt(event, plot, 1, this.T)[1]));
      plot.addEventListener("mouseleave", () => view.clock.endPreview());
      plot.addEventListener("click", (event) => view.clock.pin(cellAt(event, plot, 1, this.T)[1], "click"));
      el("div", "sv-caption sv-total", cell, panel.caption);
    }
    timeAxis(el("div", "sv-striptime", box), this.T, "time step");
    this.readout = el("div", "sv-readout", box);
  }

  binOf(t) {
    const d = this.data;
    let lo = 0;
    let hi = d.start.length - 1;
    while (lo < hi) {                    // the last bin starting at or before t
      const mid = (lo + hi + 1) >> 1;
      if (d.start[mid] <= t) lo = mid; else hi = mid - 1;
    }
    return lo;
  }

  step(t) {
    for (const cursor of this.cursors) place(cursor, t, t, this.T, 0, 0, 1);
    const d = this.data;
    const b = this.binOf(t);
    const answer = d.answered[b] ? `${fmt(d.wrong[b], 2)} wrong bits per answer step of ${d.bits} ` +
      `(${plural(d.answered[b], "answer step")})` : "no answer step (not scored)";
    const rows = d.rows[b] === null ? "rows not counted" : `${Math.round(d.rows[b]).toLocaleString("en-US")} rows ` +
      `written by its end (${fmt(d.filled[b], 2)}% filled)`;
    const recall = d.recall[b] === null ? "recall not sampled here" : `recall ${fmt(d.recall[b], 4)} ` +
      `(${plural(d.samples[b], "sample")})`;
    this.readout.textContent = `Step ${t} of ${this.T - 1}, in the bin of steps ${d.start[b]}–${d.end[b] - 1}: ` +
      `${answer} · ${fmt(d.cpu_ms[b], 2)} CPU ms per step · ${rows} · ${recall}.`;
  }
}

// Story, chapter 5: the usage before each step of the toy SAM, the least recently used slot marked.
class UsageStoryView {
  constructor(data, view, parent) {
    this.data = data;
    this.view = view;
    const box = el("section", "sv-card sv-storyusage", parent);
    this.title = el("div", "sv-title", box);
    el("div", "sv-subtitle", box, "usage = steps since each slot was last read or written (above δ); the largest " +
       "is the least recently used slot, the one the step's write erases and writes (red)");
    this.bars = el("div", "sv-storybars", box);
    this.text = el("div", "sv-readout", box);
    this.top = Math.max(1, ...data.usage.flat());
  }

  step(t) {
    const usage = this.data.usage[t];
    this.title.textContent = `Usage before step ${t}`;
    this.bars.replaceChildren();
    usage.forEach((v, slot) => {
      const row = el("div", "sv-sbar", this.bars);
      row.dataset.slot = String(slot);
      el("span", "sv-slotname", row, `slot ${slot}`);
      const track = el("span", "sv-track", row);
      const fill = el("span", "sv-fill", track);
      fill.style.width = `${(v / this.top) * 100}%`;
      fill.style.background = slot === this.data.least[t] ? this.view.colours.mark : this.view.colours.read;
      el("span", "sv-num", row, String(v));
    });
    this.text.textContent = this.data.sentences[t];
  }
}

// Story, chapter 7: the toy memory after undoing journal entries, newest first; the rows just restored outlined.
class RollbackStoryView {
  constructor(data, view, parent) {
    this.data = data;
    this.view = view;
    const box = el("section", "sv-card sv-rollback", parent);
    this.title = el("div", "sv-title", box);
    el("div", "sv-subtitle", box, `colour range ±${fmt(data.scale, 2)} (one scale for the whole episode); ` +
       "thick orange: the rows the latest undo changed; thin dotted: rows earlier undos changed");
    colourbar(el("div", "sv-colourbars", box), "rdbu", -data.scale, data.scale, "value", 2);
    const line = el("div", "sv-rline", box);
    this.labels = el("div", "sv-rlabels", line);
    for (let s = 0; s < data.slots; s++) el("span", "sv-rlabel", this.labels, String(s));
    this.node = el("div", "sv-panel sv-rbpanel", line);
    this.node.style.height = `${data.slots * 18}px`;
    this.canvas = el("canvas", "sv-heat", this.node);
    this.outlines = el("div", "sv-marks", this.node);
    this.text = el("div", "sv-readout", box);
  }

  step(t) {
    const d = this.data;
    const memory = d.memory[t];
    this.title.textContent = d.titles[t];
    paint(this.canvas, d.slots, d.width, (i, j) => (memory[i][j] / d.scale + 1) / 2, SCALES.rdbu);
    this.outlines.replaceChildren();
    for (const undo of d.outlines[t]) {
      for (const slot of undo.slots) {
        const box = el("div", undo.last ? "sv-restored" : "sv-restored sv-earlier", this.outlines);
        box.dataset.slot = String(slot);
        place(box, 0, d.width - 1, d.width, slot, slot, d.slots);
      }
    }
    this.text.textContent = d.sentences[t];
  }
}

// A view drawn when it is first scrolled near (draw what is visible): until then a placeholder of about its height
// holds its place, and the clock and hover skip it; once built it shows the step and slot of that moment.
class LazyView {
  constructor(view, parent, card, height, index, make) {
    this.view = view;
    this.make = make;
    this.index = index;
    this.real = null;
    this.holder = el("div", "sv-lazy", parent);
    this.holder.dataset.card = card;
    this.holder.style.minHeight = `${Math.round(height)}px`;
  }

  build() {
    if (this.real) return;
    this.real = this.make(this.holder);
    this.holder.style.minHeight = "";
    this.holder.classList.add("sv-built");
    this.real.step(this.view.clock.shown);
    const hovered = this.view.hovered;
    if (hovered && this.real.highlight) this.real.highlight(this.index === undefined || this.index === hovered[0]
      ? hovered[1] : null);
  }

  step(t) {
    if (this.real) this.real.step(t);
  }

  highlight(slot) {
    if (this.real && this.real.highlight) this.real.highlight(slot);
  }
}

function weightsHeight(model) {
  const S = model.weights.slots.length;
  return Math.max(60, Math.max(2, Math.min(14, Math.floor(440 / Math.max(1, S)))) * S) + 150;
}

function bitsHeight(model) {
  const rows = [model.bits.inputs, model.bits.targets, model.bits.outputs];
  return rows.reduce((h, g) => h + Math.max(40, Math.min(120, ((g && g[0]) ? g[0].length : 4) * 10)) + 6, 110);
}

// ---------------------------------------------------------------------------------------------- the view

class EpisodeView {
  constructor(root, data, keepStep) {
    const started = performance.now();
    this.root = root;
    this.data = data;
    this.kind = data.view;
    this.episode = data.episode;
    this.clockId = data.clock;
    this.steps = data.steps;
    this.models = data.models || [];
    this.colours = data.colours || {};
    this.log = [];
    this.urlTimer = null;
    this.lastUrl = 0;
    this.hovered = null;
    this.container = el("div", "sv-root", root);
    this.container.tabIndex = -1;
    this.pending = el("div", "sv-pending", this.container, "Updating: the views below still show the previous " +
      "settings until the new episode arrives…");
    const start = keepStep !== null && keepStep !== undefined ? keepStep : data.step;
    this.clock = new Clock(this, this.steps, start);
    this.controls = data.controls === false ? null : controls(this, this.container, this.steps);
    this.views = [];
    this.lazyViews = [];
    this.build(data);
    this.tipNode = el("div", "sv-tip", this.container);
    this.listen();
    this.watchLazy();
    this.clock.show(this.clock.pinned, "init");
    this.buildMs = performance.now() - started;          // the view's own set-up time (scripts/page_cpu.py)
  }

  build(data) {
    const body = el("div", "sv-body", this.container);
    const lazy = (parent, card, height, index, make) => {
      const view = new LazyView(this, parent, card, height, index, make);
      this.lazyViews.push(view);
      this.views.push(view);
    };
    if (this.kind === "player") {
      const m = this.models[0];
      this.views.push(new NarrationView(m, this, body));
      if (m.bits) this.views.push(new BitsView(m, this, body));        // the first chart: always drawn at once
      lazy(body, "weights", weightsHeight(m), 0, (at) => new WeightsView(m, this, at, 0));
      const side = el("div", "sv-side", body);
      if (m.neighbours) lazy(side, "neighbours", 220, 0, (at) => new NeighboursView(m, this, at, 0));
      if (m.modes || m.links) lazy(side, "modes", 200, 0, (at) => new ModesView(m, this, at, 0));
      if (m.rows) lazy(body, "rows", m.memory ? 560 : 260, 0, (at) => new RowsView(m, this, at, 0));
      for (const note of m.notes || []) el("div", "sv-note", body, note);
    } else if (this.kind === "compare") {
      this.views.push(new SeriesView(this.models, this, body));
      const columns = el("div", "sv-columns", body);
      this.models.forEach((m, i) => {
        const column = el("div", "sv-column", columns);
        column.style.setProperty("--c", m.colour);
        this.views.push(new NarrationView(m, this, column, 1, 4));
        lazy(column, "weights", weightsHeight(m), i, (at) => new WeightsView(m, this, at, i));
        if (m.bits) lazy(column, "bits", bitsHeight(m), i, (at) => new BitsView(m, this, at));
      });
    } else if (this.kind === "long") {
      this.views.push(new LongView(data.long, this, body));
    } else if (this.kind === "long_task") {
      this.views.push(new LongTaskView(data.strip, this, body));
    } else if (this.kind === "story_usage") {
      this.views.push(new UsageStoryView(data.story, this, body));
    } else if (this.kind === "story_rollback") {
      this.views.push(new RollbackStoryView(data.story, this, body));
    }
  }

  render(step, source) {
    const started = performance.now();
    for (const v of this.views) v.step(step);
    if (this.hovered) this.highlight(this.hovered[0], this.hovered[1]);
    this.container.dataset.step = String(step);
    this.settle(source);
    this.log.push([step, source, started, performance.now()]);
    if (this.log.length > LOG_LIMIT) this.log.splice(0, this.log.length - LOG_LIMIT);
  }

  // the controls and the address follow the pinned step (a hover's preview moves neither)
  settle(source) {
    const pinned = this.clock.pinned;
    if (this.controls) {
      const c = this.controls;
      c.slider.value = String(pinned);
      const label = this.data.label || "Step {t} of {last}";
      c.label.textContent = label.replace("{t}", String(this.clock.shown)).replace("{last}", String(this.steps - 1));
      c.first.disabled = c.prev.disabled = pinned <= 0;
      c.next.disabled = c.last.disabled = pinned >= this.steps - 1;
    }
    this.container.dataset.pinned = String(pinned);
    if (source !== "hover") this.writeUrl();
  }

  playing(on) {
    this.container.classList.toggle("sv-playing", on);
    if (this.controls) {
      const b = this.controls.play;
      b.querySelector(".sv-sym").replaceWith(icon(on ? "pause" : "play"));
      b.querySelector(".sv-label").textContent = on ? "Pause" : "Play";
    }
    if (!on) this.writeUrl(true);
  }

  // the address keeps the pinned step (never while hovering; at most every URL_EVERY_MS while playing)
  writeUrl(now) {
    if (!this.data.url) return;
    const due = now || !this.clock.playing || performance.now() - this.lastUrl >= URL_EVERY_MS;
    if (!due) return;
    this.lastUrl = performance.now();
    try {
      const url = new URL(window.location.href);
      const value = String(this.clock.pinned);
      if (url.searchParams.get(this.data.url) === value) return;
      url.searchParams.set(this.data.url, value);
      window.history.replaceState(window.history.state, "", url.toString());
    } catch (error) {
      // an address the browser will not rewrite (a sandboxed frame): the views work without it
    }
  }

  hoverSlot(model, slot) {
    this.hovered = slot === null ? null : [model, slot];
    this.highlight(model, slot);
  }

  highlight(model, slot) {
    for (const v of this.views) {
      if (!v.highlight) continue;
      const mine = v.index === undefined || v.index === model;
      v.highlight(mine ? slot : null);
    }
    this.container.dataset.hoverSlot = slot === null ? "" : String(slot);
  }

  tip(event, text) {
    const tip = this.tipNode;
    if (!event || !text) {
      tip.style.display = "none";
      return;
    }
    tip.textContent = text;
    tip.style.display = "block";
    const box = this.container.getBoundingClientRect();
    const x = event.clientX - box.left + 14;
    const y = event.clientY - box.top + 14;
    tip.style.left = `${Math.min(x, box.width - 240)}px`;
    tip.style.top = `${y}px`;
  }

  listen() {
    this.onKey = (event) => {
      if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) return;
      if (!this.container.isConnected) return;
      const target = event.composedPath()[0];
      const ours = this.container.contains(target);
      const tag = target && target.tagName ? target.tagName.toLowerCase() : "";
      const editable = target && (target.isContentEditable || ["input", "textarea", "select"].includes(tag));
      if (editable && !(ours && target === (this.controls && this.controls.slider))) return;
      if (!ours && target && tag === "button") return;        // another widget's button keeps its keys
      const clock = this.clock;
      const moves = { ArrowRight: () => clock.pin(clock.pinned + 1, "key"),
                      ArrowLeft: () => clock.pin(clock.pinned - 1, "key"),
                      Home: () => clock.pin(0, "key"), End: () => clock.pin(this.steps - 1, "key"),
                      " ": () => clock.toggle() };
      const move = moves[event.key];
      if (!move) return;
      event.preventDefault();
      move();
    };
    document.addEventListener("keydown", this.onKey);
    // "updating" while the page's script runs after a settings change: never old numbers without a sign
    const app = document.querySelector('[data-testid="stApp"]');
    if (app) {
      let timer = null;
      const check = () => {
        const running = app.getAttribute("data-test-script-state") === "running";
        if (running && timer === null) {
          timer = setTimeout(() => { this.container.classList.add("sv-stale"); }, PENDING_AFTER_MS);
        } else if (!running) {
          if (timer !== null) clearTimeout(timer);
          timer = null;
          this.container.classList.remove("sv-stale");
        }
      };
      this.observer = new MutationObserver(check);
      this.observer.observe(app, { attributes: true, attributeFilter: ["data-test-script-state"] });
    }
  }

  // lazy views are built when they come within a screen of the window (or all at once where there is no observer)
  watchLazy() {
    if (!this.lazyViews.length) return;
    if (typeof IntersectionObserver === "undefined") {
      for (const v of this.lazyViews) v.build();
      return;
    }
    const byHolder = new Map(this.lazyViews.map((v) => [v.holder, v]));
    this.lazyObserver = new IntersectionObserver((entries) => {
      for (const entry of entries) {
        if (!entry.isIntersecting) continue;
        byHolder.get(entry.target).build();
        this.lazyObserver.unobserve(entry.target);
      }
    }, { rootMargin: "200px 0px" });
    for (const v of this.lazyViews) this.lazyObserver.observe(v.holder);
  }

  buildAll() {
    for (const v of this.lazyViews) v.build();
  }

  update(data) {
    // the same episode sent again (another rerun of the page): keep the clock, take the new lines
    this.data = data;
    this.container.classList.remove("sv-stale");
    data.models && data.models.forEach((m, i) => {
      if (this.models[i] && m.cost) this.models[i].cost = m.cost;
    });
    this.render(this.clock.shown, "update");
  }

  destroy() {
    this.clock.stop();
    document.removeEventListener("keydown", this.onKey);
    if (this.observer) this.observer.disconnect();
    if (this.lazyObserver) this.lazyObserver.disconnect();
    this.container.remove();
  }
}

export default function (component) {
  const { data, parentElement } = component;
  if (!data || typeof data !== "object") return undefined;
  // Streamlit keeps the cleanup of the latest call and runs it on unmount; an earlier call's cleanup can run late
  // (its effect was superseded while the module loaded), so a cleanup only acts while it is the latest call's
  const call = (parentElement.__samvizCalls || 0) + 1;
  parentElement.__samvizCalls = call;
  let view = parentElement.__samvizView;
  if (view && view.episode === data.episode && view.kind === data.view) {
    view.update(data);
  } else {
    // a new episode: on the same clock (the same inputs, another model) the step shown is kept
    const keep = view && view.clockId === data.clock && view.kind === data.view ? view.clock.pinned : null;
    if (view) view.destroy();
    view = new EpisodeView(parentElement, data, keep);
    parentElement.__samvizView = view;
  }
  return () => {
    if (parentElement.__samvizCalls !== call) return;
    if (parentElement.__samvizView) parentElement.__samvizView.destroy();
    parentElement.__samvizView = null;
  };
}
