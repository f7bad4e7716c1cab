// Preloaded (NODE_OPTIONS=--import) into the worker and into WeTTY's server by
// bench/terminal-latency-split.ts: stamps each WebSocket message in, the terminal's socket.io
// input event, its output emit and each WebSocket send on one wall clock (timeOrigin + now), and
// measures the event loop's delay. SIGUSR2 writes what it has to $LAYERCAKE_ECHO_STAMPS/<pid>.json
// and starts again. Any other process it is loaded into is left alone.
import { createRequire } from 'node:module';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.LAYERCAKE_ECHO_STAMPS;
const root = new URL('../../', import.meta.url).pathname;
const worker = process.argv.some((a) => a.endsWith('worker/src/main.ts'));
const wetty = process.argv.some((a) => a.endsWith('wetty/build/main.js'));
if (dir && (worker || wetty)) {
  const require = createRequire(join(root, wetty ? '.data/bench-peers/wetty/node_modules/socket.io/dist/index.js' : 'node_modules/socket.io/dist/index.js'));
  const [input, output] = wetty ? ['input', 'data'] : ['terminal:input', 'terminal:output'];
  const { Socket } = require('./socket.js');
  const WebSocket = require('ws');
  const now = () => performance.timeOrigin + performance.now();
  const stamps = [];
  const onevent = Socket.prototype.onevent;
  Socket.prototype.onevent = function (packet) {
    if (packet.data?.[0] === input) stamps.push(['in', now()]);
    return onevent.call(this, packet);
  };
  const emit = Socket.prototype.emit;
  Socket.prototype.emit = function (event, ...args) {
    if (event === output) stamps.push(['out', now()]);
    return emit.call(this, event, ...args);
  };
  const wsEmit = WebSocket.prototype.emit;
  WebSocket.prototype.emit = function (event, ...args) {
    if (event === 'message') stamps.push(['wsmsg', now()]);
    return wsEmit.call(this, event, ...args);
  };
  const wsSend = WebSocket.prototype.send;
  WebSocket.prototype.send = function (...args) {
    stamps.push(['wssend', now()]);
    return wsSend.apply(this, args);
  };
  const delay = monitorEventLoopDelay({ resolution: 5 });
  delay.enable();
  writeFileSync(join(dir, wetty ? 'wetty.pid' : 'worker.pid'), String(process.pid));
  process.on('SIGUSR2', () => {
    const loop = { p50: delay.percentile(50) / 1e6, p99: delay.percentile(99) / 1e6, max: delay.max / 1e6 };
    writeFileSync(join(dir, `${process.pid}.json`), JSON.stringify({ stamps, loop }));
    stamps.length = 0;
    delay.reset();
  });
}
