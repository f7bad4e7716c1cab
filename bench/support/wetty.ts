// The bench's peer: WeTTY (socket.io, node-pty and xterm.js) running busybox's sh on this host,
// installed at bench time into .data/bench-peers/wetty (never into package.json).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

const ROOT = new URL('../../', import.meta.url).pathname.replace(/\/$/, '');
const PEERS = join(ROOT, '.data/bench-peers/wetty');
const WETTY = join(PEERS, 'node_modules/wetty/build/main.js');
/** busybox runs as the applet its name says: this link is its sh. */
const BUSYBOX_SH = join(PEERS, 'sh');

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export function ensureWetty(): void {
  if (existsSync(WETTY)) return;
  mkdirSync(PEERS, { recursive: true });
  writeFileSync(join(PEERS, 'package.json'), '{ "name": "bench-peers", "private": true }\n');
  console.log('installing wetty into .data/bench-peers/wetty (it builds node-pty)…');
  const r = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', 'wetty'], { cwd: PEERS, stdio: 'inherit' });
  if (r.status !== 0 || !existsSync(WETTY)) throw new Error(`npm install wetty failed (${r.status}): no peer to measure against`);
}

export async function startWetty(): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  if (!existsSync(BUSYBOX_SH)) {
    if (!existsSync('/usr/bin/busybox')) throw new Error('busybox is not installed on this host (apt-get install busybox): the peer runs its sh');
    symlinkSync('/usr/bin/busybox', BUSYBOX_SH);
  }
  // As root on localhost WeTTY runs the command itself (no ssh, no login prompt).
  const child = spawn(process.execPath, [WETTY, '--host', '127.0.0.1', '--port', String(port), '--command', BUSYBOX_SH, '--base', '/wetty/'], {
    cwd: PEERS,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ENV: '', PS1: '$ ' },
  });
  let log = '';
  child.stdout!.on('data', (d) => (log += d));
  child.stderr!.on('data', (d) => (log += d));
  const url = `http://127.0.0.1:${port}/wetty/`;
  for (let i = 0; i < 100; i++) {
    if (await fetch(url).then((r) => r.ok, () => false)) return { url, child };
    await new Promise((r) => setTimeout(r, 200));
  }
  child.kill();
  throw new Error(`wetty did not start:\n${log}`);
}

