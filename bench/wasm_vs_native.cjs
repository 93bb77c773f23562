// The browser builds' training speed beside the native build's, in one run:
// `pcplay bench` natively (1 thread), compiled to single-threaded wasm
// (1 thread) and to threaded wasm (2 threads), all under the same settings,
// with the ratios the performance goals name.
//   node bench/wasm_vs_native.cjs [--steps N] [--rounds R] [--errs strict,fixedpred,exact] [--native PCPLAY] [-- extra pcplay bench options]
// Needs the native build (build/native: scripts/run.sh and scripts/test.sh
// build it for this CPU) and the web builds (build/web/{st,mt}). wasm's
// SIMD is 128 bits wide, SSE's class: --native build/portable/pcplay (a
// plain configure) compares like with like.
'use strict';
const { execFileSync } = require('child_process');
const path = require('path');

const root = path.join(__dirname, '..');
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const steps = option('--steps', '5');
const errs = option('--errs', 'strict,fixedpred,exact').split(',');
const extra = args.includes('--') ? args.slice(args.indexOf('--') + 1) : [];

const runs = [
  { name: 'native', command: path.resolve(option('--native', path.join(root, 'build/native/pcplay'))), prefix: [], threads: 1 },
  { name: 'wasm-st', command: process.execPath, threads: 1,
    prefix: ['--no-experimental-fetch', path.join(root, 'build/web/st/bench/pcplay-st-bench.js')] },
  { name: 'wasm-mt', command: process.execPath, threads: 2,
    prefix: ['--no-experimental-fetch', path.join(root, 'build/web/mt/bench/pcplay-mt-bench.js')] },
];

function bench(run, err) {
  const out = execFileSync(run.command, [...run.prefix, 'bench', '--err', err, '--threads', String(run.threads),
    '--steps', steps, '--json', ...extra], { encoding: 'utf8' });
  const line = out.trim().split('\n').pop();
  return JSON.parse(line);
}

const rows = [];
// On a machine shared with noisy neighbours, --rounds R runs the three
// side by side R times, interleaved, and keeps each one's fastest median.
const rounds = Number(option('--rounds', '1'));
for (const err of errs) {
  const r = {};
  for (let round = 0; round < rounds; ++round)
    for (const run of runs) {
      const result = bench(run, err);
      if (!r[run.name] || result.seconds_per_step < r[run.name].seconds_per_step) r[run.name] = result;
    }
  const ms = (name) => r[name].seconds_per_step * 1e3;
  rows.push({
    err,
    model: r.native.model,
    batch: r.native.batch,
    n: r.native.n,
    'native 1t ms': ms('native').toFixed(1),
    'wasm-st 1t ms': ms('wasm-st').toFixed(1),
    'wasm-mt 2t ms': ms('wasm-mt').toFixed(1),
    'st / native': (ms('native') / ms('wasm-st')).toFixed(2),
    'mt / st': (ms('wasm-st') / ms('wasm-mt')).toFixed(2),
  });
}
console.log(`node ${process.version}; median of ${steps} steps${rounds > 1 ? `, fastest of ${rounds} rounds` : ''}; speed ratios (higher is faster)`);
console.table(rows);
