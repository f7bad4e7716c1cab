// The door inside a container: Debian's socat, entered into the container's network namespace
// only (nsenter --net; it keeps the host's mount namespace, so the session's unix socket is
// reachable by path), listening on the container's loopback and joining each connection to that
// socket. The container gets a proxy at 127.0.0.1:3128 and still no interface, route or resolver.
//
// It is moved into the container's own cgroups before the container starts: the launcher kills
// everything in them when the container ends (exit, stop, kill, its time limit, delete --force),
// so the door lives exactly as long as its container, whether or not the worker that opened it
// is still running (containers outlive worker restarts). Its forks, one per connection, count
// against the container's pids limit and its few MB against its memory limit, as they should;
// `pause` freezes it with the container. Why socat and not a Node forwarder: a Node process is
// ~45 MB of resident memory per running container, socat ~2 MB.
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** The proxy's address inside every container (its loopback). */
export const PROXY_PORT = 3128;

export function proxyEnv(port = PROXY_PORT): string[] {
  const url = `http://127.0.0.1:${port}`;
  return [`http_proxy=${url}`, `https_proxy=${url}`, `HTTP_PROXY=${url}`, `HTTPS_PROXY=${url}`, 'no_proxy=localhost,127.0.0.1'];
}

/** Where each of this host's cgroup hierarchies is mounted: "" for cgroup2, else its controllers. */
async function hierarchies(): Promise<{ controllers: string[]; mount: string }[]> {
  const found: { controllers: string[]; mount: string }[] = [];
  for (const line of (await readFile('/proc/self/mountinfo', 'utf8')).split('\n')) {
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const [fstype, , superOptions = ''] = right.split(' ');
    const fields = left.split(' ');
    if (fields[3] !== '/') continue; // a bind of a sub-tree: not where the host's paths start
    if (fstype === 'cgroup2') found.push({ controllers: [], mount: fields[4]! });
    else if (fstype === 'cgroup') found.push({ controllers: superOptions.split(',').filter((o) => o !== 'rw' && o !== 'ro'), mount: fields[4]! });
  }
  return found;
}

/** Moves `pid` into every cgroup the container's init is in (read from the host's view). */
async function joinCgroups(pid: number, containerPid: number): Promise<void> {
  const mounts = await hierarchies();
  for (const line of (await readFile(`/proc/${containerPid}/cgroup`, 'utf8')).split('\n')) {
    const m = /^\d+:([^:]*):(\/.*)$/.exec(line);
    if (!m) continue;
    const wanted = m[1] === '' ? [] : m[1]!.split(',');
    const mount = mounts.find((h) => (wanted.length === 0 ? h.controllers.length === 0 : wanted.every((c) => h.controllers.includes(c))));
    if (mount === undefined) continue;
    await writeFile(join(mount.mount, m[2]!, 'cgroup.procs'), String(pid));
  }
}

/** socat's listener on 127.0.0.1:PORT, seen in its own network namespace's table. */
async function listening(pid: number): Promise<boolean> {
  const local = `0100007F:${PROXY_PORT.toString(16).toUpperCase().padStart(4, '0')}`;
  const table = await readFile(`/proc/${pid}/net/tcp`, 'utf8').catch(() => '');
  return table.split('\n').some((row) => {
    const cols = row.trim().split(/\s+/);
    return cols[1] === local && cols[3] === '0A';
  });
}

/**
 * Opens the door in the created (not yet started) container whose init is `containerPid`, to
 * `socketPath`. Resolves once it listens; returns its pid.
 */
export async function openDoor(containerPid: number, socketPath: string): Promise<number> {
  // socat reads ':' and ',' in an address as its own syntax.
  if (!/^[\w./-]+$/.test(socketPath)) throw new Error(`the egress socket path has characters socat cannot take: ${socketPath}`);
  const child = spawn(
    'nsenter',
    [`--net=/proc/${containerPid}/ns/net`, '--', 'socat', `TCP-LISTEN:${PROXY_PORT},bind=127.0.0.1,reuseaddr,fork,backlog=64`, `UNIX-CONNECT:${socketPath}`],
    // Detached: it belongs to the container, not to this process (see the header).
    { detached: true, stdio: 'ignore' },
  );
  child.unref();
  const pid = child.pid;
  if (pid === undefined) throw new Error('the egress door (nsenter socat) could not be spawned');
  let exited: string | null = null;
  child.once('exit', (code, signal) => (exited = signal ?? String(code)));
  child.once('error', (err) => (exited = err.message));
  try {
    await joinCgroups(pid, containerPid);
    const deadline = Date.now() + 10_000;
    while (!(await listening(pid))) {
      if (exited !== null) throw new Error(`the egress door (nsenter socat) exited (${exited}): is socat installed? (scripts/setup.sh)`);
      if (Date.now() > deadline) throw new Error('the egress door did not listen within 10 s');
      await new Promise((r) => setTimeout(r, 20));
    }
    return pid;
  } catch (err) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
    throw err;
  }
}
