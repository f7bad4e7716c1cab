// /play load to an editable editor in Chromium, and the JS it ships (gzip), against a page with
// bare Monaco (the same AMD build from the same disk, nothing else) measured in the same run.
// Each load is a fresh browser context (a new session, an empty cache): the first visit.
// The product side is the production build (scripts/build-app.ts builds it when the sources
// changed) behind the gateway, on a private Redis; no worker is needed to open the editor.
//   npx tsx bench/play-load.ts [loads]
import { spawnSync } from 'node:child_process';
import { createReadStream, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { gzipSync } from 'node:zlib';
import nextModule from 'next';
import { pino } from 'pino';
import { chromium, type Browser } from 'playwright-core';
import { startGateway } from '../app/server/gateway.js';
import * as files from '../app/server/features/files.js';
import * as runs from '../app/server/features/runs.js';
import { startPrivateRedis } from '../scripts/redis.js';

const LOADS = Number(process.argv[2] ?? 15);
const repo = new URL('..', import.meta.url).pathname;
const publicDir = join(repo, 'app/public');
type NextFactory = typeof import('next').default;
const next = ((nextModule as unknown as { default?: NextFactory }).default ?? nextModule) as NextFactory;

if (spawnSync(process.execPath, ['--import', 'tsx', join(repo, 'scripts/build-app.ts')], { stdio: 'inherit' }).status !== 0) process.exit(1);

const work = mkdtempSync(join(tmpdir(), 'lc-bench-play-load-'));
const redisServer = await startPrivateRedis({ dir: join(work, 'redis'), appendOnly: false });
const nextApp = next({ dev: false, dir: join(repo, 'app'), quiet: true });
await nextApp.prepare();
const handle = nextApp.getRequestHandler();
const gateway = await startGateway({
  redisUrl: redisServer.url, prefix: 'bench', secret: Buffer.alloc(32, 7), log: pino({ level: 'silent' }),
  port: 0, host: '127.0.0.1', features: [files, runs], next: (req, res) => handle(req, res),
});

// The peer: the bare page and /monaco/vs as static files, nothing else.
const BARE = `<!doctype html><meta charset="utf-8"><div id="e" style="width:800px;height:600px"></div>
<script src="/monaco/vs/loader.js"></script><script>require.config({ paths: { vs: '/monaco/vs' } });
require(['vs/editor/editor.main'], () => monaco.editor.create(document.getElementById('e'), { value: 'FROM busybox\\n', language: 'dockerfile' }));</script>`;
const TYPES: Record<string, string> = { '.js': 'text/javascript', '.css': 'text/css', '.ttf': 'font/ttf' };
const bare = createServer((req, res) => {
  const path = normalize(decodeURIComponent((req.url ?? '/').split('?')[0]!));
  if (path === '/') return void res.writeHead(200, { 'content-type': 'text/html' }).end(BARE);
  const file = join(publicDir, path);
  if (!file.startsWith(join(publicDir, 'monaco')) || !existsSync(file)) return void res.writeHead(404).end();
  res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
  createReadStream(file).pipe(res);
});
await new Promise<void>((resolve) => bare.listen(0, '127.0.0.1', resolve));
const bareUrl = `http://127.0.0.1:${(bare.address() as { port: number }).port}/`;

async function load(browser: Browser, url: string): Promise<{ ms: number; jsGzip: number }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  const page = await context.newPage();
  const bodies: Promise<number>[] = [];
  page.on('response', (r) => {
    if (r.request().resourceType() === 'script' || r.url().endsWith('.js')) bodies.push(r.body().then((b) => gzipSync(b).length, () => 0));
  });
  const started = Date.now();
  await page.goto(url);
  // Editable: Monaco has drawn its lines and takes input.
  await page.locator('.monaco-editor .view-lines .view-line').first().waitFor({ timeout: 60_000 });
  const ms = Date.now() - started;
  await page.waitForTimeout(1000);
  const jsGzip = (await Promise.all(bodies)).reduce((a, b) => a + b, 0);
  await context.close();
  return { ms, jsGzip };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update'] });
try {
  const play: { ms: number; jsGzip: number }[] = [];
  const peer: { ms: number; jsGzip: number }[] = [];
  await load(browser, `${gateway.url}/play`); // compile-free warm-up of the server's caches
  for (let i = 0; i < LOADS; i++) {
    play.push(await load(browser, `${gateway.url}/play`));
    peer.push(await load(browser, bareUrl));
  }
  const p = { ms: median(play.map((r) => r.ms)), kib: median(play.map((r) => r.jsGzip)) / 1024 };
  const b = { ms: median(peer.map((r) => r.ms)), kib: median(peer.map((r) => r.jsGzip)) / 1024 };
  console.log(`/play to an editable editor: median ${p.ms} ms, JS ${p.kib.toFixed(0)} KiB gzip (${LOADS} loads)`);
  console.log(`bare Monaco page:            median ${b.ms} ms, JS ${b.kib.toFixed(0)} KiB gzip`);
  console.log(`ratio /play ÷ bare: load ${(p.ms / b.ms).toFixed(2)}×, JS ${(p.kib / b.kib).toFixed(2)}×`);
} finally {
  await browser.close();
  bare.close();
  await gateway.close();
  await (nextApp as { close?: () => Promise<void> }).close?.();
  await redisServer.stop();
  rmSync(work, { recursive: true, force: true });
}
