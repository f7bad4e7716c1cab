// Click-to-build-start queue wait when idle, in the browser: from the Build button's click event
// in /play to the build's first run event arriving on the page's socket (and, as a second figure,
// to its first step drawn in the status line), for `FROM busybox` + `RUN sleep 0.3` without the cache, in Debian's Chromium against the whole product
// (e2e's harness: one app process, one worker). The peer, in the same run on the same Redis: a
// bare BullMQ add → processor start, which is the least any queued build can wait.
// Then hop by hop: the page's stamps and the product's own (queue-client/hop-stamps.ts, logged at
// debug level by the gateway, its subscription and the worker; one wall clock on this host), each
// as ms after the click, so a slow figure says which hop to look at; then each hop's own length,
// build by build. The way and its figures: worker/src/queue/README.md, "Click to build start".
// Target (issue 12): p50 ≤ 50 ms.   npx tsx bench/build-queue-wait.ts   (root; BENCH_BUILDS=30)
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { Queue, Worker } from 'bullmq';
import type { BrowserContext, Page } from 'playwright-core';
import { bullmqConnection } from '../queue-client/connection.js';
import { LOG_DIR, startProduct } from '../e2e/harness/product.js';
import { fmt, launchChromium, percentile, typeDockerfile } from './support/browser.js';

const BUILDS = Number(process.env.BENCH_BUILDS ?? 30);
/** The gateway's build limit is 10 at once, then one per 6 s: a fresh learner every 9 builds. */
const PER_SESSION = 9;

async function openPlay(context: BrowserContext, url: string): Promise<Page> {
  await context.addCookies([{ name: 'layercake-locale', value: 'en', url }]);
  const page = await context.newPage();
  await page.addInitScript(() => {
    // hops: per build, ms from the click to runs:build sent, its reply, runs:subscribe sent;
    // builds: per build its run id and the click's wall-clock time (to join the product's stamps).
    const probe = { t0: 0, samples: [] as number[], screen: [] as number[], seen: false, runId: '', hop: [] as number[], hops: [] as number[][], builds: [] as { runId: string; clickAt: number }[], refused: [] as string[] };
    (window as unknown as { probe: typeof probe }).probe = probe;
    const Native = window.WebSocket;
    window.WebSocket = class extends Native {
      constructor(url: string | URL, protocols?: string | string[]) {
        super(url, protocols);
        this.addEventListener('message', (m) => {
          if (!probe.t0 || probe.seen || typeof m.data !== 'string') return;
          // The runs:build reply names the new run; only its events count (the previous build's
          // last events can still be arriving). socket.io packets: 43<id>[…] an ack, 42[…] an event.
          // (An image list's reply names its run too: op-…, from the last build's refresh.)
          const ack = /^43\d+\[\{"ok":true,"runId":"(build-[^"]+)"/.exec(m.data);
          // A refused build (its reply names no run) is a miss: the reply says why.
          if (!probe.runId && /^43\d+\[\{"ok":false/.test(m.data)) probe.refused.push(m.data.slice(0, 300));
          if (ack && !probe.runId) {
            probe.runId = ack[1]!;
            probe.hop[1] = performance.now() - probe.t0;
          }
          if (probe.runId && m.data.startsWith(`42["runs:event",{"runId":"${probe.runId}"`)) {
            probe.samples.push(performance.now() - probe.t0);
            probe.hops.push([...probe.hop]);
            probe.builds.push({ runId: probe.runId, clickAt: performance.timeOrigin + probe.t0 });
            probe.seen = true;
          }
        });
      }
      override send(data: string | ArrayBufferLike | Blob | ArrayBufferView): void {
        if (probe.t0 && !probe.seen && typeof data === 'string') {
          if (/^42\d+\["runs:build"/.test(data)) probe.hop[0] = performance.now() - probe.t0;
          if (probe.runId && data.includes(`["runs:subscribe",{"runId":"${probe.runId}"`)) probe.hop[2] = performance.now() - probe.t0;
        }
        super.send(data);
      }
    };
  });
  await page.goto(new URL('/play', url).href);
  await typeDockerfile(page, 'FROM busybox\nRUN sleep 0.3');
  // Without the cache, so the RUN step runs each time and "Step 1 of 2" is on screen for a while.
  await page.getByLabel('Without the cache').check();
  await page.getByRole('status').filter({ hasText: 'Saved' }).waitFor({ timeout: 30_000 });
  // The probe: the Build click (capture) → the first `runs:event` frame on the page's socket
  // (the worker took the job and its first event came through Redis and the gateway), stamped
  // by a message listener on every WebSocket the page opens; and → the first step on screen.
  await page.evaluate(() => {
    const probe = (window as unknown as { probe: { t0: number; samples: number[]; screen: number[]; seen: boolean; runId: string; hop: number[] } }).probe;
    const status = document.getElementById('build-status')!;
    document.addEventListener('click', (e) => {
      if ((e.target as HTMLElement).closest('button')?.textContent === 'Build') {
        probe.t0 = performance.now();
        probe.seen = false;
        probe.runId = '';
        probe.hop = [NaN, NaN, NaN];
      }
    }, true);
    new MutationObserver(() => {
      if (probe.t0 && probe.seen && /^(Step \d+ of \d+|Built )/.test(status.textContent ?? '')) {
        probe.screen.push(performance.now() - probe.t0);
        probe.t0 = 0;
      }
    }).observe(status, { childList: true, subtree: true, characterData: true });
  });
  return page;
}

/** run id → part → hop → wall-clock ms, from the `hops` lines (queue-client/hop-stamps.ts) of the product's logs. */
const stamped = new Map<string, Record<string, Record<string, number>>>();
/**
 * Read after each build: the harness's log files are shared with any e2e run that starts
 * meanwhile (it truncates them), so each build's lines are taken while they are fresh.
 */
function readHopLines(): void {
  for (const file of ['app-0.log', 'worker-0.log']) {
    let text = '';
    try {
      text = readFileSync(join(LOG_DIR, file), 'utf8');
    } catch {
      continue;
    }
    for (const line of text.replaceAll('\0', '').split('\n')) {
      if (!line.includes('"msg":"hops"')) continue;
      try {
        const { runId, part, hops } = JSON.parse(line) as { runId: string; part: string; hops: Record<string, number> };
        stamped.set(runId, { ...stamped.get(runId), [part]: hops });
      } catch {
        // a line cut short by a stopped process
      }
    }
  }
}

// The product's processes stamp each hop (debug level): the table below says where the time goes.
process.env.LAYERCAKE_E2E_LOG ??= 'debug';
const product = await startProduct({ apps: 1, workers: 1 });
const loadBefore = loadavg()[0]!;
const browser = await launchChromium();
const builds: { runId: string; clickAt: number; page: Record<string, number> }[] = [];
try {
  const samples: number[] = [];
  const screen: number[] = [];
  const hops: number[][] = [];
  let misses = 0;
  for (let session = 0; samples.length + misses < BUILDS; session++) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
    const page = await openPlay(context, product.apps[0]!);
    const build = page.getByRole('button', { name: 'Build', exact: true });
    for (let i = 0; i < PER_SESSION && samples.length + misses < BUILDS; i++) {
      await page.waitForFunction((el) => !(el as HTMLButtonElement).disabled, await build.elementHandle(), { timeout: 60_000 });
      const [before, beforeScreen] = await page.evaluate(() => {
        const p = (window as unknown as { probe: { samples: number[]; screen: number[] } }).probe;
        return [p.samples.length, p.screen.length] as const;
      });
      await build.click();
      // This build's first event (not the last build's "Built" still on screen), then its end.
      await page.waitForFunction((n) => (window as unknown as { probe: { samples: number[] } }).probe.samples.length > n, before, { timeout: 60_000 }).catch(() => undefined);
      await page.waitForFunction((el) => !(el as HTMLButtonElement).disabled, await build.elementHandle(), { timeout: 60_000 });
      await page.getByRole('status').filter({ hasText: /^Built / }).waitFor({ timeout: 60_000 });
      const probe = await page.evaluate(() => (window as unknown as { probe: { samples: number[]; screen: number[] } }).probe);
      if (probe.samples.length > before) samples.push(probe.samples.at(-1)!);
      else {
        misses += 1;
        const refused = await page.evaluate(() => (window as unknown as { probe: { refused: string[] } }).probe.refused.at(-1));
        console.log(`a build without a runs:event frame seen${refused ? `: its reply ${refused}` : ' (its reply named a run)'}`);
      }
      if (probe.screen.length > beforeScreen) screen.push(probe.screen.at(-1)!);
      await page.waitForTimeout(300);
      readHopLines();
    }
    const seen = await page.evaluate(() => (window as unknown as { probe: { hops: number[][]; builds: { runId: string; clickAt: number }[]; samples: number[] } }).probe);
    hops.push(...seen.hops);
    seen.builds.forEach((b, i) => builds.push({ ...b, page: { 'page.runs:build sent': seen.hops[i]![0]!, 'page.reply': seen.hops[i]![1]!, 'page.runs:subscribe sent': seen.hops[i]![2]!, 'page.first runs:event': seen.samples[i]! } }));
    await context.close();
  }

  // Peer: bare BullMQ on the same Redis, a processor that does nothing.
  const connection = bullmqConnection(product.redisUrl);
  const queue = new Queue('bench-bare', { connection, prefix: `${product.prefix}-bare` });
  let started: (() => void) | null = null;
  const worker = new Worker('bench-bare', async () => started?.(), { connection, prefix: `${product.prefix}-bare` });
  await worker.waitUntilReady();
  const bare: number[] = [];
  for (let i = 0; i < BUILDS; i++) {
    const start = new Promise<void>((r) => (started = r));
    const t0 = performance.now();
    await queue.add('noop', { i }, { removeOnComplete: true });
    await start;
    bare.push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, 50));
  }
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();

  const p50 = percentile(samples, 0.5);
  console.log(`click → build start, idle, ${samples.length} builds${misses ? ` (${misses} without a runs:event frame seen)` : ''}, Chromium (headless), load ${loadBefore.toFixed(1)} → ${loadavg()[0]!.toFixed(1)}:`);
  console.log(`  layercake /play: first runs:event on the page's socket  p50 ${fmt(p50).padStart(6)} ms   p99 ${fmt(percentile(samples, 0.99)).padStart(6)} ms`);
  console.log(`  layercake /play: first step on screen                  p50 ${fmt(percentile(screen, 0.5)).padStart(6)} ms   p99 ${fmt(percentile(screen, 0.99)).padStart(6)} ms   (n=${screen.length})`);
  const hop = (i: number) => fmt(percentile(hops.map((h) => h[i]!).filter((x) => !Number.isNaN(x)), 0.5)).padStart(6);
  console.log(`    of which (p50 from the click): runs:build sent ${hop(0)} ms, its reply ${hop(1)} ms, runs:subscribe sent ${hop(2)} ms`);
  console.log(`  bare BullMQ: add → processor start (same Redis)        p50 ${fmt(percentile(bare, 0.5)).padStart(6)} ms   p99 ${fmt(percentile(bare, 0.99)).padStart(6)} ms`);
  console.log(`  ratio p50 ${(p50 / percentile(bare, 0.5)).toFixed(1)}× bare BullMQ (target p50 ≤ 50 ms: ${p50 <= 50 ? 'met' : 'NOT met'})`);
} finally {
  await browser.close();
  await product.stop();
}

// Hop by hop: each process's stamps as ms after the click (same host, one wall clock), p50 over
// the builds, in the order of those medians.
const perHop = new Map<string, number[]>();
for (const build of builds) {
  const add = (name: string, ms: number) => Number.isFinite(ms) && perHop.set(name, [...(perHop.get(name) ?? []), ms]);
  for (const [name, ms] of Object.entries(build.page)) add(name, ms);
  const at = (hop: unknown) => (typeof hop === 'number' ? hop - build.clickAt : NaN);
  for (const [part, marks] of Object.entries(stamped.get(build.runId) ?? {})) {
    for (const [hop, wall] of Object.entries(marks)) add(`${part}.${hop}`, at(wall));
  }
}
// Each hop's own length, build by build (the medians above are of different sets of builds; a
// hop's p50 here is what that hop itself took), in the order of the way from the click.
const WAY = ['page.runs:build sent', 'gateway.handler', 'gateway.workspace', 'gateway.added', 'worker.taken', 'worker.scratch', 'worker.context', 'worker.firstEmit', 'subscription.event.read', 'page.first runs:event'];
const legs = new Map<string, number[]>();
for (const build of builds) {
  const marks = stamped.get(build.runId) ?? {};
  const at = (name: string): number => {
    if (name.startsWith('page.')) return build.page[name] ?? NaN;
    const [part, ...hop] = name.split('.');
    const wall = marks[part!]?.[hop.join('.')];
    return typeof wall === 'number' ? wall - build.clickAt : NaN;
  };
  let from = 'click';
  let fromMs = 0;
  for (const name of WAY) {
    const ms = at(name);
    if (!Number.isFinite(ms)) continue;
    const leg = `${from} → ${name}`;
    legs.set(leg, [...(legs.get(leg) ?? []), ms - fromMs]);
    from = name;
    fromMs = ms;
  }
}
const rows = [...perHop].map(([name, ms]) => ({ name, p50: percentile(ms, 0.5), p90: percentile(ms, 0.9), n: ms.length })).sort((a, b) => a.p50 - b.p50);
console.log(`  hop by hop, ms after the click (p50, p90; gateway, subscription and worker stamps from their debug logs;`);
console.log(`  worker.firstStored is when the worker heard its write succeed, the subscription's read may come first):`);
for (const row of rows) console.log(`    ${row.name.padEnd(34)} ${fmt(row.p50).padStart(7)} ${fmt(row.p90).padStart(7)}   n=${row.n}`);
console.log(`  each hop's own length, build by build (p50, p90):`);
for (const [leg, ms] of legs) console.log(`    ${leg.padEnd(58)} ${fmt(percentile(ms, 0.5)).padStart(7)} ${fmt(percentile(ms, 0.9)).padStart(7)}   n=${ms.length}`);
