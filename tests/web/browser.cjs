// Shared by the browser test and benchmark: the static server and Debian's
// Chromium (through playwright-core; never a downloaded browser).
'use strict';
const { chromium } = require('playwright-core');
const { spawn } = require('child_process');
const path = require('path');

const serveScript = process.env.PCPLAY_SERVE || path.join(__dirname, '..', '..', 'scripts', 'serve_web.py');
const python = process.env.PCPLAY_PYTHON || 'python3';

// The site on a free loopback port, with or without the cross-origin
// isolation headers; resolves with {url, server}.
function serve(site, isolation) {
  const args = [serveScript, '--root', site, '--port', '0'];
  if (!isolation) args.push('--no-isolation');
  const server = spawn(python, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    server.stdout.once('data', (line) => resolve({ url: line.toString().trim(), server }));
    server.once('exit', (code) => reject(new Error('the server exited: ' + code)));
  });
}

// Headless, WebGL2 on SwiftShader, and none of Chromium's own network traffic.
function launch() {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--enable-unsafe-swiftshader', '--disable-background-networking',
           '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
}

module.exports = { serve, launch, python };
