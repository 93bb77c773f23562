'use strict';
// This page's own script: it waits for the playground in the frame, then
// drives it with pcplay.set / play / pause / step / metrics / on('step').
const frame = document.getElementById('pg');
const live = document.getElementById('live');
const figure = document.getElementById('figure');
let pcplay = null;
const traces = new Map();  // error type -> [[step, layer-1 relative error], ...]
const COLOURS = { strict: '#2a5db0', fixedpred: '#e07b10', exact: '#2a9d3a' };
let NAMES = {};  // error type -> its label, from pcplay.choices()
// metrics() names each layer's value rel_error_1, rel_error_2, ...
const layerErrors = (m) => Object.keys(m).filter((k) => /^rel_error_\d+$/.test(k))
  .sort((a, b) => a.slice(10) - b.slice(10)).map((k) => m[k]);

function draw() {
  let last = 1;
  for (const points of traces.values()) if (points.length) last = Math.max(last, points[points.length - 1][0]);
  const fig = unitFigure(figure, 'step', [0, last]);
  for (const [err, points] of traces) fig.series(NAMES[err], COLOURS[err], points);
}

function show(m) {
  const f = (v, d = 3) => v === null || v === undefined ? '–' : v.toFixed(d);
  const rel = layerErrors(m);
  live.textContent = `step ${m.step}  epoch ${f(m.epoch, 2)}  train loss ${f(m.train_loss, 4)}  ` +
    `test accuracy ${f(m.test_accuracy)}  (backprop ${f(m.bp_test_accuracy)})` +
    (rel.length ? `\nrelative error per layer vs backprop: ${rel.map((v) => f(v)).join(' / ')}` : '') +
    (m.diverged ? '\ndiverged: ' + m.status : '');
  if (!rel.length || rel[0] === null) return;
  const err = pcplay.get().err;
  let points = traces.get(err);
  if (!points || (points.length && m.step < points[points.length - 1][0])) traces.set(err, points = []);
  points.push([m.step, rel[0]]);
  draw();
}

async function run(query) {
  pcplay.pause();
  await pcplay.set(query + '&seed=1');
  pcplay.reset();
  pcplay.play();
}

// Runs a setting for a number of updates and resolves with its last metrics.
function trainFor(query, steps) {
  return new Promise(async (resolve) => {
    pcplay.pause();
    await pcplay.set(query + '&seed=1');
    pcplay.reset();
    await pcplay.set({});  // a frame for the new run to start
    const off = pcplay.on('step', (m) => {
      if (m.step >= steps || m.diverged) { off(); resolve(m); }
    });
    pcplay.step('update', steps);
  });
}

async function compare() {
  const table = document.getElementById('table');
  while (table.rows.length > 1) table.deleteRow(1);
  const runs = [['Strict PC', 'err=strict&eta=0.1&n=20&loss=mse'],
                ['FixedPred PC', 'err=fixedpred&eta=0.1&n=20&loss=mse'],
                ['Backprop', 'err=exact&loss=mse']];
  for (const [name, query] of runs) {
    const m = await trainFor(query, 300);
    const row = table.insertRow();
    const f = (v, d = 3) => v === null || v === undefined ? '–' : v.toFixed(d);
    for (const text of [name, f(m.test_accuracy), f(m.bp_test_accuracy), f(m.rel_error_1, 4)])
      row.insertCell().textContent = text;
  }
  table.dataset.done = 'yes';
}

playgroundIn(frame).then((api) => {
  pcplay = api;
  for (const { name, label } of pcplay.choices().err) NAMES[name] = label;
  pcplay.on('step', show);
  show(pcplay.metrics());
  for (const button of document.querySelectorAll('button[data-run]'))
    button.addEventListener('click', () => run(button.dataset.run));
  document.getElementById('pause').addEventListener('click', () => pcplay.pause());
  document.getElementById('compare').addEventListener('click', compare);
  document.body.dataset.ready = 'yes';
});
