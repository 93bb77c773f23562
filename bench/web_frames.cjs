// The browser playground's figures, measured in Debian's headless Chromium:
// download size, time to the first frame, and frames per second (with the
// time a frame takes inside the page) paused and while training.
//   NODE_PATH=<playwright-core's folder> node bench/web_frames.cjs [SITE_DIR]
// Headless Chromium draws WebGL2 with SwiftShader, on the CPU, so its frame
// rate is bound by filling pixels: each scenario runs at two window sizes, and
// "ms per frame in the page" is the page's own work (UI, and training in the
// single-threaded build), what a real GPU leaves as the frame's cost.
'use strict';
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const { serve, launch } = require('../tests/web/browser.cjs');

const site = process.argv[2] || path.join(__dirname, '..', 'build', 'web', 'site');
const SECONDS = 4;
const VIEWPORTS = [{ width: 1280, height: 800 }, { width: 640, height: 400 }];

function sizes() {
  const rows = [];
  for (const build of ['pcplay-st', 'pcplay-mt']) {
    const files = fs.readdirSync(site).filter((f) => f.startsWith(build + '.'));
    let raw = 0, gz = 0;
    for (const f of files) {
      const bytes = fs.readFileSync(path.join(site, f));
      raw += bytes.length;
      gz += zlib.gzipSync(bytes, { level: 9 }).length;
    }
    rows.push(`${build}: ${files.join(' + ')}: ${(raw / 1e6).toFixed(2)} MB, ${(gz / 1e3).toFixed(0)} KB gzip`);
  }
  return rows;
}

// rAF frames per second over SECONDS, and the page's own time per frame.
async function measure(page) {
  return page.evaluate((seconds) => new Promise((resolve) => {
    const step0 = pcplay.metrics().step;
    let frames = 0;
    const t0 = performance.now();
    const tick = () => {
      frames++;
      const t = performance.now() - t0;
      if (t < seconds * 1000) return requestAnimationFrame(tick);
      const m = pcplay.metrics();
      resolve({ fps: frames / (t / 1000), frame_ms: m.frame_ms, steps: (m.step - step0) / (t / 1000) });
    };
    requestAnimationFrame(tick);
  }), SECONDS);
}

(async () => {
  for (const line of sizes()) console.log(line);
  const browser = await launch();
  try {
    for (const threaded of [false, true]) {
      const { url, server } = await serve(site, threaded);
      const tag = threaded ? 'threaded' : 'single-threaded';
      const page = await browser.newPage({ viewport: VIEWPORTS[0] });
      const loads = [];
      for (let i = 0; i < 3; i++) {
        const t0 = Date.now();
        await page.goto(url + 'index.html#dataset=spiral&model=dense:32,32:relu&batch=64&lr=0.01&reload=' + i);
        await page.evaluate(() => pcplay.ready);
        loads.push(Date.now() - t0);
      }
      console.log(`${tag}: first frame ${loads.join(', ')} ms after navigation (3 loads)`);
      const scenarios = [
        ['spiral, paused', { dataset: 'spiral', model: 'dense:32,32:relu', batch: 64, compare: [] }, false],
        ['spiral, FixedPred n=20, training', { dataset: 'spiral', model: 'dense:32,32:relu', batch: 64, compare: [] }, true],
        ['MNIST MLP, FixedPred n=20, training', { dataset: 'mnist', model: 'mlp-mnist', batch: 64, compare: [] }, true],
        // A race on the paper's CNN: steps/s counts race steps (every lane made one).
        ...[['fixedpred'], ['strict', 'fixedpred'], ['strict', 'fixedpred', 'epc', 'exact']].map((lanes) =>
          [`paper-mnist CNN, race of ${lanes.length} (${lanes.join(', ')}), n=20, training`,
           { dataset: 'mnist', model: 'paper-mnist', batch: 64, err: lanes[0], compare: lanes.length > 1 ? lanes : [] }, true]),
      ];
      for (const [name, settings, play] of scenarios) {
        await page.evaluate((s) => pcplay.set(s), settings);
        await page.evaluate(() => pcplay.reset());
        await page.waitForFunction(() => !pcplay.metrics().loading, undefined, { timeout: 60000 });
        if (play) await page.evaluate(() => pcplay.play());
        for (const viewport of VIEWPORTS) {
          await page.setViewportSize(viewport);
          await page.waitForTimeout(500);
          const r = await measure(page);
          console.log(`${tag}: ${name}, ${viewport.width}x${viewport.height}: ${r.fps.toFixed(1)} frames/s, ` +
                      `${r.frame_ms.toFixed(1)} ms per frame in the page` + (play ? `, ${r.steps.toFixed(1)} steps/s` : ''));
        }
        await page.evaluate(() => pcplay.pause());
        await page.setViewportSize(VIEWPORTS[0]);
      }
      await page.close();
      server.kill();
    }
  } finally {
    await browser.close();
  }
})().catch((e) => { console.error('web_frames: ' + e.message); process.exit(1); });
