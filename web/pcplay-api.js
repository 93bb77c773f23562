// The page's side of pcplay. It picks the build (threaded where the page is
// cross-origin isolated, else single-threaded) and loads it, fetches the data
// sets the playground asks for, keeps the settings in the URL hash, hands
// dropped files to the playground, turns exports into downloads, and offers
// window.pcplay, the API a tutorial page drives the playground with
// (docs/web.md describes it).
(function () {
  'use strict';

  const base = new URL('.', document.currentScript.src);  // where the build and data are
  const threaded = self.crossOriginIsolated === true && typeof SharedArrayBuffer === 'function';
  const build = threaded ? 'pcplay-mt' : 'pcplay-st';
  const canvas = document.getElementById('canvas');
  const overlay = document.getElementById('overlay');
  const toastBox = document.getElementById('toast');
  const dropBox = document.getElementById('drop');
  const IDX_FILES = ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz',
                     't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'];

  let running = false;     // the runtime has drawn its first frame
  let lastQuery = null;    // the settings as the last frame had them
  let lastStep = -1;
  const listeners = { step: new Set(), settings: new Set() };
  const frameWaiters = []; // resolved after the next frames (set())
  let resolveReady, rejectReady;
  const ready = new Promise((resolve, reject) => { resolveReady = resolve; rejectReady = reject; });

  // Messages are shown as text, never as HTML.
  let toastTimer = 0;
  function toast(text) {
    toastBox.textContent = text;
    toastBox.classList.add('shown');
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => toastBox.classList.remove('shown'), 4000);
  }

  function fail(text) {
    overlay.classList.remove('gone');
    overlay.classList.add('failed');
    document.getElementById('message').textContent = text;
    document.getElementById('progress').remove();
    rejectReady(new Error(text));
  }

  function guarded(fn) {
    return (...args) => {
      try { fn(...args); } catch (e) { console.error('pcplay: ' + fn.name + ' failed:', e); }
    };
  }

  function call(name, returns, types, args) {
    if (!running) throw new Error('pcplay is not ready yet: await pcplay.ready first');
    return Module.ccall(name, returns, types, args);
  }

  // Settings: the URL-state keys; numbers stay numbers, 0/1 flags are booleans.
  const FLAGS = new Set(['compare_bp', 'embed']);
  function parseQuery(query) {
    const out = {};
    for (const [key, value] of new URLSearchParams(query)) {
      if (FLAGS.has(key)) out[key] = value === '1' || value === 'true';
      else if (key === 'compare') out[key] = value.split(',').filter(Boolean);  // the raced algorithms
      else if (value !== '' && !isNaN(Number(value)) && key !== 'dataset' && key !== 'model') out[key] = Number(value);
      else out[key] = value;
    }
    return out;
  }
  function toQuery(settings) {
    if (typeof settings === 'string') return settings.replace(/^[#?]/, '');
    if (settings === null || typeof settings !== 'object') throw new TypeError('pcplay.set: give an object or a query string');
    return Object.entries(settings).map(([key, value]) => {
      if (typeof value === 'boolean') value = value ? 1 : 0;
      if (Array.isArray(value)) value = value.join(',');
      return encodeURIComponent(key) + '=' + encodeURIComponent(String(value));
    }).join('&');
  }

  function metrics() { return JSON.parse(call('pcplay_metrics', 'string', [], [])); }

  function emit(event, value) {
    for (const fn of listeners[event]) {
      try { fn(value); } catch (e) { console.error('pcplay: a "' + event + '" listener threw:', e); }
    }
  }

  // The hash follows the settings, at most four times a second (browsers
  // refuse history.replaceState called every frame, as a dragged slider would).
  let hashTimer = 0, hashWritten = 0;
  function writeHash() {
    hashTimer = 0;
    hashWritten = performance.now();
    history.replaceState(null, '', '#' + lastQuery);
  }

  // Called by the runtime after each frame in which the settings or the step changed.
  function onFrame(query, step) {
    if (query !== lastQuery) {
      const first = lastQuery === null;
      lastQuery = query;
      if (!hashTimer) hashTimer = setTimeout(writeHash, Math.max(0, 250 - (performance.now() - hashWritten)));
      if (!first) emit('settings', parseQuery(query));
    }
    if (!running) {
      running = true;
      overlay.classList.add('gone');
      console.log('pcplay: first frame after ' + Math.round(performance.now()) + ' ms (' + build + ')');
      resolveReady(window.pcplay);
    }
    if (listeners.step.size && step !== lastStep) emit('step', metrics());
    lastStep = step;
  }
  // The set() promises wait for frames; frames that change nothing do not call
  // onFrame, so they are counted here too.
  function pollFrames() {
    if (running) {
      let current = null;  // metrics() once per frame, whatever the number of waiters
      for (let i = frameWaiters.length - 1; i >= 0; i--) {
        const w = frameWaiters[i];
        const m = --w.frames <= 0 ? (current = current || metrics()) : null;
        if (m && (!m.loading || m.data_error)) {
          frameWaiters.splice(i, 1);
          w.resolve({ ...w.result, error: m.data_error || null });
        }
      }
    }
    requestAnimationFrame(pollFrames);
  }

  // A data set the playground asks for: four gzip'd IDX files, with progress.
  async function fetchDataset(name) {
    const t0 = performance.now();
    const report = (progress, done, error) =>
      Module.ccall('pcplay_data_progress', null, ['string', 'number', 'number', 'string'], [name, progress, done, error]);
    try {
      const responses = await Promise.all(IDX_FILES.map(async (file) => {
        const response = await fetch(new URL('data/' + name + '/' + file, base));
        if (!response.ok) throw new Error(file + ': HTTP ' + response.status);
        return response;
      }));
      const total = responses.reduce((sum, r) => sum + Number(r.headers.get('Content-Length') || 0), 0);
      let received = 0;
      const files = await Promise.all(responses.map(async (response) => {
        const reader = response.body.getReader();
        const chunks = [];
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          chunks.push(value);
          received += value.length;
          if (total > 0) report(Math.min(0.99, received / total), 0, '');
        }
        const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
        let at = 0;
        for (const c of chunks) { bytes.set(c, at); at += c.length; }
        return bytes;
      }));
      Module.FS.mkdirTree('/data/' + name);
      files.forEach((bytes, i) => Module.FS.writeFile('/data/' + name + '/' + IDX_FILES[i], bytes));
      report(1, 1, '');
      console.log(`pcplay: ${name} arrived: ${Math.round(received / 1024)} KB in ${Math.round(performance.now() - t0)} ms`);
    } catch (e) {
      report(0, 0, 'cannot download ' + name + ': ' + e.message);
    }
  }

  // Exports: the runtime wrote a file; the browser downloads it.
  function download(path) {
    const bytes = Module.FS.readFile(path);
    Module.FS.unlink(path);
    const url = URL.createObjectURL(new Blob([bytes]));
    const a = document.createElement('a');
    a.href = url;
    a.download = path.split('/').pop();
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    toast('downloaded ' + a.download);
  }

  function shareLink(query) {
    const link = location.href.split('#')[0] + '#' + query;
    if (navigator.clipboard) navigator.clipboard.writeText(link).catch(() => {});
    toast('link copied: the address bar holds it too');
  }

  // Dropped files go to /user: several IDX files become one data folder (named
  // as pcplay's reader expects: train-images-idx3-ubyte[.gz], ...); a CSV is
  // data, a .json a model, a .safetensors weights.
  let drops = 0;
  const MAX_DROP_TOTAL = 1024 * 1024 * 1024;
  const safeName = (name) => name.replace(/[^A-Za-z0-9._-]/g, '_').slice(-100) || 'file';
  const isIdx = (name) => /ubyte(\.gz)?$|\.idx\d?(\.gz)?$/i.test(name);
  function idxName(name) {  // "train-images.idx3-ubyte" (Kaggle) -> "train-images-idx3-ubyte"
    const part = /t10k|test/i.test(name) ? 't10k' : /train/i.test(name) ? 'train' : null;
    const kind = /label/i.test(name) ? 'labels-idx1' : /image/i.test(name) ? 'images-idx3' : null;
    return part && kind ? `${part}-${kind}-ubyte${/\.gz$/i.test(name) ? '.gz' : ''}` : safeName(name);
  }
  async function openFiles(fileList) {
    if (!running) throw new Error('pcplay is not ready yet: await pcplay.ready first');
    const files = Array.from(fileList);
    if (!files.length) return [];
    const total = files.reduce((n, f) => n + f.size, 0);
    if (total > MAX_DROP_TOTAL) {
      toast('these files hold ' + Math.round(total / 1048576) + ' MB; at most 1024 MB can be opened');
      return [];
    }
    const idx = files.every((f) => isIdx(f.name));
    const folder = '/user/drop-' + (++drops);
    Module.FS.mkdirTree(folder);
    const paths = [];
    for (const file of files) {
      let name = idx ? idxName(file.name) : safeName(file.name);
      for (let k = 2; paths.includes(folder + '/' + name); k++) name = k + '-' + name;  // no overwriting
      let bytes;
      try {
        bytes = new Uint8Array(await file.arrayBuffer());
      } catch (e) {
        toast(file.name + ': cannot be read (a folder?)');
        continue;
      }
      Module.FS.writeFile(folder + '/' + name, bytes);
      paths.push(folder + '/' + name);
    }
    const targets = idx ? [folder] : paths;
    const outcomes = targets.map((path) => call('pcplay_open_file', 'string', ['string'], [path]));
    for (const text of outcomes) toast(text);
    return outcomes;
  }
  addEventListener('dragover', (e) => { e.preventDefault(); dropBox.classList.add('shown'); });
  addEventListener('dragleave', (e) => { if (!e.relatedTarget) dropBox.classList.remove('shown'); });
  addEventListener('drop', (e) => {
    e.preventDefault();
    dropBox.classList.remove('shown');
    openFiles(e.dataTransfer.files).catch((err) => toast('cannot open the dropped files: ' + err.message));
  });

  // A hash edited by hand (or the back button): apply it.
  addEventListener('hashchange', () => {
    const query = location.hash.slice(1);
    if (running && query !== lastQuery) set(query, true);  // a permalink: over the defaults
  });
  canvas.addEventListener('pointerdown', () => canvas.focus());
  canvas.addEventListener('contextmenu', (e) => e.preventDefault());

  // Resolves with {problems, error} once the run shows the settings (a data
  // set that has to be fetched has arrived, or failed to: error).
  function set(settings, fromDefaults = false) {
    const problems = call('pcplay_set', 'string', ['string', 'number'], [toQuery(settings), fromDefaults ? 1 : 0])
      .split('\n').filter(Boolean);
    for (const p of problems) console.warn('pcplay: ' + p);
    return new Promise((resolve) => frameWaiters.push({ frames: 2, resolve, result: { problems } }));
  }

  window.pcplay = {
    ready,
    threaded,
    set,
    get: () => parseQuery(call('pcplay_get', 'string', [], [])),
    play: () => call('pcplay_play', null, [], []),
    pause: () => call('pcplay_pause', null, [], []),
    reset: () => call('pcplay_reset', null, [], []),
    step(level = 'update', count = 1) {
      const taken = call('pcplay_step', 'number', ['string', 'number'], [String(level), Math.max(1, Math.floor(count))]);
      if (taken < 0) throw new RangeError('pcplay.step: level is one of iteration, relaxation, update, epoch');
      return taken;
    },
    metrics,
    // What each setting offers: {err: [{name, label}, ...], loss, optimizer, dataset}.
    choices: () => JSON.parse(call('pcplay_choices', 'string', [], [])),
    on(event, fn) {
      if (!listeners[event]) throw new RangeError('pcplay.on: the events are ' + Object.keys(listeners).join(', '));
      listeners[event].add(fn);
      return () => listeners[event].delete(fn);
    },
    off: (event, fn) => listeners[event] && listeners[event].delete(fn),
    openFiles,
  };

  window.Module = {
    canvas,
    arguments: [location.hash.slice(1)],
    locateFile: (path) => new URL(path, base).href,
    print: (text) => console.log(text),
    printErr: (text) => console.warn(text),
    onAbort: (what) => fail('pcplay stopped: ' + what),
    // Called from inside a frame: an exception must not reach the runtime,
    // whose main loop would stop for good.
    pcplayFetchDataset: guarded(fetchDataset),
    pcplayFrame: guarded(onFrame),
    pcplayDownload: guarded(download),
    pcplayShareLink: guarded(shareLink),
    pcplayFail: guarded(fail),
  };
  if (typeof WebAssembly !== 'object') {
    fail('This browser has no WebAssembly.');
    return;
  }
  const script = document.createElement('script');
  script.src = new URL(build + '.js', base).href;
  script.onerror = () => fail('cannot load ' + script.src);
  document.body.appendChild(script);
  requestAnimationFrame(pollFrames);
})();
