// Where a keystroke's round trip goes, segment by segment, on one wall clock (this host's, as
// performance.timeOrigin + now() in the page and in the servers): the page stamps keydown, each
// WebSocket send and message event, and the echo parsed by xterm; the worker and WeTTY's server
// stamp each WebSocket message in, the terminal's socket.io input event, the output emit and each
// WebSocket send (bench/support/echo-stamps.mjs, preloaded with NODE_OPTIONS), and measure their
// event loop's delay. The same /play and WeTTY pages as bench/terminal-latency.ts, two rounds of
// N keystrokes each, alternating; p50 and p90 of each segment.
//   npx tsx bench/terminal-latency-split.ts        (N=75 by default: N=150 npx tsx …)
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { startProduct } from '../e2e/harness/product.js';
import { fmt, launchChromium, openPlayTerminal, percentile, typeEchoedKeys } from './support/browser.js';
import { ensureWetty, startWetty } from './support/wetty.js';

const N = Number(process.env.N ?? 75);
const stampsDir = mkdtempSync(join(tmpdir(), 'lc-echo-stamps-'));
// Inherited by the product's processes and WeTTY's (startProduct and startWetty pass the env on).
process.env.LAYERCAKE_ECHO_STAMPS = stampsDir;
process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --import ${new URL('./support/echo-stamps.mjs', import.meta.url).href}`;

type Stamp = [kind: string, at: number, port?: string];

/** In the page before its scripts: each WebSocket's sends and message events, stamped. */
const pageStamps = `(() => {
  const stamps = (window.__stamps = []);
  const Native = window.WebSocket;
  const now = () => performance.timeOrigin + performance.now();
  function Stamped(url, protocols) {
    const ws = new Native(url, protocols);
    const port = new URL(String(url)).port;
    ws.addEventListener('message', () => stamps.push(['msg', now(), port]));
    const send = ws.send.bind(ws);
    ws.send = (data) => { stamps.push(['send', now(), port]); send(data); };
    return ws;
  }
  Stamped.prototype = Native.prototype;
  for (const k of ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED']) Stamped[k] = Native[k];
  window.WebSocket = Stamped;
})();`;

async function installProbe(page: Page, wetty: boolean): Promise<void> {
  await page.evaluate((wetty) => {
    type Term = { buffer: { active: { baseY: number; cursorY: number; getLine(i: number): { translateToString(trim: boolean): string } | undefined } }; onWriteParsed(cb: () => void): unknown };
    const term = wetty
      ? (window as unknown as { wetty_term: Term }).wetty_term
      : ([...document.querySelectorAll('section[aria-label="Terminal"] div')].find((d) => 'xterm' in d) as unknown as { xterm: Term }).xterm;
    const probe = { want: '', armed: false, t0: 0, samples: [] as number[][], resolve: null as null | (() => void) };
    (window as unknown as { probe: typeof probe }).probe = probe;
    document.addEventListener('keydown', () => {
      if (probe.armed) probe.t0 = performance.timeOrigin + performance.now();
    }, true);
    term.onWriteParsed(() => {
      if (!probe.armed || probe.t0 === 0) return;
      const b = term.buffer.active;
      if ((b.getLine(b.baseY + b.cursorY)?.translateToString(true) ?? '').endsWith(probe.want)) {
        probe.samples.push([probe.t0, performance.timeOrigin + performance.now()]);
        probe.armed = false;
        probe.resolve?.();
      }
    });
  }, wetty);
}

/** [keydown, echo parsed] of each keystroke, typed as bench/terminal-latency.ts types them. */
async function measure(page: Page, keystrokes: number): Promise<number[][]> {
  await page.evaluate(() => ((window as unknown as { probe: { samples: unknown[] } }).probe.samples.length = 0));
  await typeEchoedKeys(page, keystrokes);
  return page.evaluate(() => (window as unknown as { probe: { samples: number[][] } }).probe.samples);
}

function report(name: string, samples: number[][], page: Stamp[], server: { stamps: Stamp[]; loop: Record<string, number> }): void {
  const segments: Record<string, number[]> = {};
  const add = (k: string, v: number) => (segments[k] ??= []).push(v);
  let unmatched = 0;
  for (const [t0, t1] of samples) {
    const within = (xs: Stamp[], kind: string) => xs.filter((x) => x[0] === kind && x[1] >= t0! - 1 && x[1] <= t1! + 1);
    const sent = within(page, 'send')[0];
    const got = within(page, 'msg').filter((m) => m[2] === sent?.[2]);
    const [wsIn] = within(server.stamps, 'wsmsg');
    const [input] = within(server.stamps, 'in');
    const [output] = within(server.stamps, 'out');
    const wsOut = within(server.stamps, 'wssend');
    if (!sent || !wsIn || !input || !output || got.length === 0 || wsOut.length === 0) {
      unmatched++;
      continue;
    }
    add('whole round trip', t1! - t0!);
    add('keydown → WebSocket send', sent[1] - t0!);
    add("page send → server's WebSocket message", wsIn[1] - sent[1]);
    add('→ socket.io input event', input[1] - wsIn[1]);
    add('input event → output emitted (server side)', output[1] - input[1]);
    add('emit → last WebSocket send', wsOut.at(-1)![1] - output[1]);
    add("server's last send → page's last message", got.at(-1)![1] - wsOut.at(-1)![1]);
    add("page's last message → echo parsed", t1! - got.at(-1)![1]);
    add('WebSocket messages in / out of the page', got.length * 100 + within(page, 'send').filter((s) => s[2] === sent[2]).length);
  }
  const loop = Object.entries(server.loop).map(([k, v]) => `${k} ${fmt(v)}`).join(', ');
  console.log(`${name}: ${samples.length} keystrokes (${unmatched} unmatched), server event-loop delay (5 ms timer) ${loop} ms`);
  for (const [k, v] of Object.entries(segments)) console.log(`  ${k.padEnd(44)} p50 ${fmt(percentile(v, 0.5)).padStart(6)}  p90 ${fmt(percentile(v, 0.9)).padStart(6)}`);
}

ensureWetty();
const product = await startProduct({ apps: 1, workers: 1, cuttableTerminals: false });
const wetty = await startWetty().catch(async (err) => {
  await product.stop();
  throw err;
});
const browser = await launchChromium();
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 }, locale: 'en-US' });
  await context.addCookies([{ name: 'layercake-locale', value: 'en', url: product.apps[0]! }]);
  await context.addInitScript({ content: pageStamps });
  const page = await context.newPage();
  await openPlayTerminal(page, product.apps[0]!);
  await installProbe(page, false);
  const peer = await context.newPage();
  await peer.goto(wetty.url);
  await peer.waitForFunction(() => 'wetty_term' in window, undefined, { timeout: 30_000 });
  await peer.waitForTimeout(1500);
  await peer.locator('textarea').first().focus();
  await installProbe(peer, true);
  console.log(`keystroke → echo split on one clock (ms), ${N} keystrokes a round:`);
  for (const [name, p, pidFile] of [['layercake', page, 'worker.pid'], ['wetty', peer, 'wetty.pid'], ['layercake', page, 'worker.pid'], ['wetty', peer, 'wetty.pid']] as const) {
    await p.bringToFront();
    await p.waitForTimeout(1500);
    const pid = Number(readFileSync(join(stampsDir, pidFile), 'utf8'));
    process.kill(pid, 'SIGUSR2');
    await p.evaluate(() => ((window as unknown as { __stamps: unknown[] }).__stamps.length = 0));
    const samples = await measure(p, N);
    process.kill(pid, 'SIGUSR2');
    await new Promise((r) => setTimeout(r, 300));
    const server = JSON.parse(readFileSync(join(stampsDir, `${pid}.json`), 'utf8')) as { stamps: Stamp[]; loop: Record<string, number> };
    report(name, samples, await p.evaluate(() => (window as unknown as { __stamps: Stamp[] }).__stamps), server);
  }
} finally {
  await browser.close();
  wetty.child.kill();
  await product.stop();
  rmSync(stampsDir, { recursive: true, force: true });
}
