'use strict';
// The depth tutorial's script: it waits for the playground in the frame, then
// drives it through pcplay.set / step / play / metrics / on('step'). Every
// number on the page is measured here, in the reader's browser.
const frame = document.getElementById('pg');
const live = document.getElementById('live');
const DEPTHS = [2, 4, 6, 8, 10];
const COLOURS = { strict: '#1f77b4', epc: '#d62728' };  // the playground's palette for the two
let pcplay = null;
let busy = false;
let recent = [];  // per lane: its last test accuracies (one test batch each), for a steadier figure

const mean = (xs) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);

const f = (v, d = 3) => (v === null || v === undefined ? '–' : v.toFixed(d));

function show(m) {
  m.lanes.forEach((l, i) => {
    recent[i] = (recent[i] || []).concat(l.test_accuracy === null ? [] : [l.test_accuracy]).slice(-20);
  });
  const lanes = m.lanes.map((l) => `${l.label}: test accuracy ${f(l.test_accuracy)}`).join('   ');
  live.textContent = `step ${m.step}   ${lanes}` + (m.guidance.length ? '\n' + m.guidance.map((g) => g.text).join('\n') : '');
}

// Resolves with the metrics once the run has made `steps` weight updates (or diverged).
function untilStep(steps) {
  return new Promise((resolve) => {
    const off = pcplay.on('step', (m) => {
      if (m.step >= steps || m.diverged) { off(); resolve(m); }
    });
  });
}

// One batch through a dense tanh net of this depth with Strict PC and ePC
// raced from the same weights: layer 1's relative error against backprop's.
async function layerOneError(depth) {
  pcplay.pause();
  const widths = Array(depth - 1).fill(16).join(',');
  await pcplay.set({ model: `dense:${widths}:tanh`, compare: ['strict', 'epc'], eta: 0.1, n: 20, compare_bp: true, seed: 1 });
  pcplay.reset();
  await pcplay.set({});  // a frame for the new run to start
  const done = untilStep(1);
  pcplay.step('update', 1);
  const m = await done;
  return m.lanes.map((l) => l.rel_error_1);
}

function drawDecay(rows) {
  const fig = unitFigure(document.getElementById('decay-figure'), 'depth (PC layers)', [DEPTHS[0], DEPTHS.at(-1)]);
  for (const d of DEPTHS) fig.ctx.fillText(String(d), fig.x(d) - 4, fig.bottom + 14);
  ['strict', 'epc'].forEach((name, k) =>
    fig.series(name === 'strict' ? 'Strict PC' : 'ePC', COLOURS[name], rows.map(([depth, errors]) => [depth, errors[k]]), true));
}

async function decay() {
  if (busy) return;
  busy = true;
  const table = document.getElementById('decay-table');
  while (table.rows.length > 1) table.deleteRow(1);
  const rows = [];
  for (const depth of DEPTHS) {
    const errors = await layerOneError(depth);
    rows.push([depth, errors]);
    const row = table.insertRow();
    for (const text of [String(depth), f(errors[0]), f(errors[1])]) row.insertCell().textContent = text;
    drawDecay(rows);
  }
  table.dataset.done = 'yes';
  busy = false;
}

// Races `settings` for `steps` from the same seed, then fills the table:
// each lane's test accuracy, layer-1 error and guidance.
async function runRace(tableId, settings, steps) {
  if (busy) return;
  busy = true;
  const table = document.getElementById(tableId);
  while (table.rows.length > 1) table.deleteRow(1);
  delete table.dataset.done;
  pcplay.pause();
  await pcplay.set({ ...settings, n: 20, lr: 0.01, compare_bp: true, seed: 1 });
  pcplay.reset();
  await pcplay.set({});
  recent = [];
  const done = untilStep(steps);
  pcplay.step('update', steps);
  const m = await done;
  for (const [i, lane] of m.lanes.entries()) {
    const guidance = m.guidance.filter((g) => g.lane === i).map((g) => g.text.replace(/^[^:]*: /, '')).join(' ');
    const row = table.insertRow();
    for (const text of [lane.label, f(mean(recent[i] || [])), f(lane.rel_error_1), guidance || '–'])
      row.insertCell().textContent = text;
  }
  if (!m.lanes.some((l) => l.name === 'exact')) {  // the backprop twin trains beside the lead on the same batches
    const twin = table.insertRow();
    for (const text of ['backprop twin', f(m.bp_test_accuracy), '0', '–']) twin.insertCell().textContent = text;
  }
  table.dataset.done = 'yes';
  busy = false;
}

// The tests run shorter races (?steps=N&mupc_steps=M).
const stepsOf = (key, fallback) => Number(new URLSearchParams(location.search).get(key)) || fallback;

const race = () => runRace('race-table', { model: 'dense:32,32,32,32:relu', compare: ['strict', 'fixedpred', 'ipc', 'epc'],
                                           eta: Number(document.getElementById('eta').value) }, stepsOf('steps', 1500));

// The 12-block residual net in the standard parameterisation and in μPC's,
// each trained by Strict PC and by backprop.
const muRace = () => runRace('mupc-table', { model: 'resmlp:32,12:tanh', compare: ['strict', 'exact', 'strict:mupc', 'exact:mupc'],
                                             eta: 0.1 }, stepsOf('mupc_steps', 800));

playgroundIn(frame).then((api) => {
  pcplay = api;
  pcplay.on('step', show);
  show(pcplay.metrics());
  document.getElementById('decay').addEventListener('click', decay);
  document.getElementById('race').addEventListener('click', race);
  document.getElementById('mupc-race').addEventListener('click', muRace);
  document.getElementById('pause').addEventListener('click', () => pcplay.pause());
  document.body.dataset.ready = 'yes';
});
