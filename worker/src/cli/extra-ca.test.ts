// The bin starts node without NODE_EXTRA_CA_CERTS (node 20 parses every certificate in it before
// the first line of JavaScript) and hands the file on: HTTPS from the command line (a registry
// pull) still trusts it. A real TLS registry endpoint on this host's own address, its certificate
// signed by a throwaway CA; the server counts requests, which exist only after a handshake. The
// control: with the CA left out, the handshake fails and no request arrives.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, spawnCli } from './test-support/spawn-cli.js';

// A non-loopback address: the registry client speaks plain HTTP to loopback ones, as Docker does.
const address = Object.values(networkInterfaces())
  .flat()
  .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;

let dir: string;
let server: Server | undefined;
let requests = 0;
let port = 0;

beforeAll(async () => {
  dir = mkdtempSync('/tmp/lc-extra-ca-');
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  writeFileSync(join(dir, 'san.ext'), `subjectAltName=IP:${address}\n`);
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=layercake test CA', '-keyout', 'ca.key', '-out', 'ca.pem');
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${address}`, '-keyout', 'server.key', '-out', 'server.csr');
  ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-out', 'server.pem', '-extfile', 'san.ext');
  server = createServer({ key: readFileSync(join(dir, 'server.key')), cert: readFileSync(join(dir, 'server.pem')) }, (_req, res) => {
    requests++;
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"NAME_UNKNOWN","message":"no"}]}');
  });
  const listening = server;
  await new Promise<void>((resolve) => listening.listen(0, address, resolve));
  port = (listening.address() as { port: number }).port;
});

afterAll(async () => {
  const running = server;
  if (running) await new Promise((resolve) => running.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

async function pull(ca: string | undefined): Promise<number> {
  const before = requests;
  const env: NodeJS.ProcessEnv = { ...process.env, LAYERCAKE_DATA: join(dir, 'data'), LANG: 'C.UTF-8' };
  delete env.NODE_EXTRA_CA_CERTS;
  if (ca) env.NODE_EXTRA_CA_CERTS = ca;
  // The bin as a shell runs it, through its #! line (that is where the variable is set aside).
  const result = await spawnCli(['pull', `${address}:${port}/lesson/app:1`], { command: [BIN], env });
  expect(result.code).not.toBe(0); // the registry has no such image either way
  return requests - before;
}

describe.skipIf(!address)('NODE_EXTRA_CA_CERTS', () => {
  it('is trusted by the command line’s HTTPS, though node starts without it', async () => {
    expect(await pull(join(dir, 'ca.pem'))).toBeGreaterThan(0);
  });

  it('is needed: without it the handshake fails (control)', async () => {
    expect(await pull(undefined)).toBe(0);
  });
});
