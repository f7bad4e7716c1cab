// The registry the project runs for learners: Debian's `docker-registry` (the CNCF distribution
// registry) on a private loopback port, with htpasswd auth for one service user, behind a
// small auth front on the learners' port. Why a front: distribution's htpasswd auth lets any
// authenticated user write anywhere, and its token auth needs a token server and a PKI. The
// front gives each session its own user and repositories `<session>/<name>`:
// - the session's password is an HMAC of its name under a host secret (.data/registry/secret,
//   0600), so the worker hands a session its credentials without any user database to keep;
// - a write (POST, PUT, PATCH, DELETE) is allowed only under `/v2/<session>/…` for the session
//   whose password it carries; reads are open to everyone, so a learner pulls what another
//   pushed (anonymous pulls work);
// - a path with `%`, `..` or `//` is refused before any rule reads it, so no spelling of
//   another session's repository slips past the prefix check.
// The registry itself checks the service user's bcrypt password (htpasswd -B), which only the
// front holds, so its private port is no way around the front.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Credentials } from './distribution-client.js';

const run = promisify(execFile);
const SERVICE_USER = 'layercake-front';
const SESSION = /^[a-z0-9]{1,64}$/;
const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export interface ProjectRegistryOptions {
  /** Holds config.yml, htpasswd, secret, storage/, registry.pid (the worker's `<data>/registry`). */
  dir: string;
  /** The learners' port on 127.0.0.1 (0: any free one, for tests). */
  port: number;
}

export class ProjectRegistry {
  private registry: ChildProcess | null = null;
  private front: Server | null = null;
  private backendPort = 0;
  private secret: Buffer = Buffer.alloc(0);
  private servicePassword = '';
  port = 0;

  constructor(readonly options: ProjectRegistryOptions) {}

  /** `localhost:<port>`: the name learners push to (`localhost:<port>/<session>/app`). */
  get host(): string {
    return `localhost:${this.port}`;
  }

  get storageDir(): string {
    return join(this.options.dir, 'storage');
  }

  async start(): Promise<void> {
    const { dir } = this.options;
    await mkdir(this.storageDir, { recursive: true, mode: 0o700 });
    this.secret = await readOrCreate(join(dir, 'secret'), () => randomBytes(32).toString('hex'));
    this.servicePassword = (await readOrCreate(join(dir, 'service-password'), () => randomBytes(24).toString('hex'))).toString('utf8');
    await run('htpasswd', ['-cbB', join(dir, 'htpasswd'), SERVICE_USER, this.servicePassword]);
    this.backendPort = await freePort();
    await this.startBackend();
    this.front = createServer((req, res) => this.handle(req, res));
    // A port in use (another worker of this host runs the registry already) fails start().
    await new Promise<void>((resolve, reject) => {
      this.front!.once('error', reject);
      this.front!.listen(this.options.port, '127.0.0.1', resolve);
    });
    this.port = (this.front.address() as AddressInfo).port;
  }

  /** The credentials of a session on this registry (what `login` stores for it). */
  credentialsFor(session: string): Credentials {
    if (!SESSION.test(session)) throw new Error(`not a session id: ${session}`);
    return { username: session, password: this.passwordOf(session) };
  }

  /** Stops and starts the registry process alone (the front stays): tests of a restart mid-pull. */
  async restartBackend(downMs = 0, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await this.stopBackend(signal);
    if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
    await this.startBackend();
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.front?.listening ? this.front.close(() => resolve()) : resolve()));
    this.front?.closeAllConnections();
    this.front = null;
    await this.stopBackend();
  }

  private passwordOf(session: string): string {
    return createHmac('sha256', this.secret).update(`session:${session}`).digest('hex');
  }

  private async startBackend(): Promise<void> {
    const config = join(this.options.dir, 'config.yml');
    await writeFile(
      config,
      [
        'version: 0.1',
        'log: { level: warn, accesslog: { disabled: true } }',
        `storage: { filesystem: { rootdirectory: ${JSON.stringify(this.storageDir)} }, delete: { enabled: true } }`,
        `http: { addr: "127.0.0.1:${this.backendPort}" }`,
        `auth: { htpasswd: { realm: layercake, path: ${JSON.stringify(join(this.options.dir, 'htpasswd'))} } }`,
        '',
      ].join('\n'),
    );
    await this.killPredecessor();
    // --pdeathsig: the registry dies with the process that started it, even one SIGKILLed (a
    // worker, a test) that never ran its stop(); a leftover would hold the port and the storage.
    const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', 'docker-registry', 'serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    if (child.pid !== undefined) await writeFile(this.pidFile, String(child.pid));
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    this.registry = child;
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`docker-registry exited: ${stderr}`);
      const up = await new Promise<boolean>((resolve) => {
        const req = request({ host: '127.0.0.1', port: this.backendPort, path: '/v2/', method: 'GET' }, (res) => {
          res.resume();
          resolve(true);
        });
        req.on('error', () => resolve(false));
        req.end();
      });
      if (up) return;
      if (Date.now() > deadline) throw new Error(`docker-registry did not start: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  private async stopBackend(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.registry;
    this.registry = null;
    if (child === null) return;
    if (child.exitCode === null && child.signalCode === null) {
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill(signal);
        setTimeout(() => child.kill('SIGKILL'), 3000).unref();
      });
    }
    await rm(this.pidFile, { force: true });
  }

  private get pidFile(): string {
    return join(this.options.dir, 'registry.pid');
  }

  /** A registry of this directory that an older checkout (without --pdeathsig) left running. */
  private async killPredecessor(): Promise<void> {
    const pid = Number(await readFile(this.pidFile, 'utf8').catch(() => ''));
    if (!Number.isInteger(pid) || pid <= 0) return;
    if (!registryProcesses(this.options.dir).includes(pid)) return;
    process.kill(pid, 'SIGKILL');
    for (let i = 0; i < 100 && registryProcesses(this.options.dir).includes(pid); i++) await new Promise((r) => setTimeout(r, 20));
  }

  // ---- the auth front --------------------------------------------------------------------

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const method = req.method ?? 'GET';
    const path = (req.url ?? '/').split('?', 1)[0]!;
    const deny = (status: number, code: string, message: string, challenge = false) => {
      req.resume();
      const headers: Record<string, string> = { 'content-type': 'application/json', 'docker-distribution-api-version': 'registry/2.0' };
      if (challenge) headers['www-authenticate'] = 'Basic realm="layercake"';
      res.writeHead(status, headers).end(JSON.stringify({ errors: [{ code, message }] }));
    };
    if (!path.startsWith('/v2/') || path.includes('%') || path.includes('..') || path.includes('//')) {
      return deny(404, 'NAME_UNKNOWN', 'no such path');
    }
    const user = this.authenticate(req.headers.authorization);
    if (user === 'invalid') return deny(401, 'UNAUTHORIZED', 'wrong user name or password', true);
    if (WRITE_METHODS.has(method)) {
      if (user === null) return deny(401, 'UNAUTHORIZED', 'log in to push', true);
      const repository = /^\/v2\/(.+?)\/(?:blobs|manifests|tags)\//.exec(path)?.[1] ?? '';
      if (!repository.startsWith(`${user}/`)) {
        return deny(403, 'DENIED', `session ${user} may push only to ${user}/<name>, not to ${repository || path}`);
      }
    } else if (path === '/v2/' && user === null) {
      // The ping: a challenge, so clients that hold credentials (docker login) send them.
      return deny(401, 'UNAUTHORIZED', 'authentication required (reads are open)', true);
    }
    this.forward(req, res);
  }

  /** The session a request's Basic credentials prove, null without any, 'invalid' for wrong ones. */
  private authenticate(header: string | undefined): string | null | 'invalid' {
    if (header === undefined) return null;
    const m = /^Basic ([A-Za-z0-9+/=]+)$/.exec(header);
    if (!m) return 'invalid';
    const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const user = decoded.slice(0, colon);
    const password = Buffer.from(decoded.slice(colon + 1));
    if (colon < 0 || !SESSION.test(user)) return 'invalid';
    const expected = Buffer.from(this.passwordOf(user));
    return password.length === expected.length && timingSafeEqual(password, expected) ? user : 'invalid';
  }

  private forward(req: IncomingMessage, res: ServerResponse): void {
    const headers = { ...req.headers, authorization: `Basic ${Buffer.from(`${SERVICE_USER}:${this.servicePassword}`).toString('base64')}` };
    const upstream = request({ host: '127.0.0.1', port: this.backendPort, method: req.method, path: req.url, headers }, (back) => {
      res.writeHead(back.statusCode ?? 502, back.headers);
      back.pipe(res);
      // The registry died mid-body: cut the client's connection too, so it knows to resume.
      back.on('close', () => {
        if (!back.complete) res.destroy();
      });
    });
    upstream.on('error', () => {
      // The registry went away (a restart): the client sees a cut connection and resumes.
      if (res.headersSent) res.destroy();
      else res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message: 'registry restarting' }] }));
    });
    req.pipe(upstream);
  }
}

/** Live docker-registry processes serving a config in `dir` (for the leftover checks too). */
export function registryProcesses(dir: string): number[] {
  const config = join(dir, 'config.yml');
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      if (argv[0]?.endsWith('docker-registry') && argv.includes(config)) pids.push(Number(name));
    } catch {
      // exited while we looked
    }
  }
  return pids;
}

async function readOrCreate(path: string, make: () => string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch {
    await writeFile(path, make(), { mode: 0o600, flag: 'wx' }).catch(() => {});
    return readFile(path);
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createNetServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
