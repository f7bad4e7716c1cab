// The container's terminal: a PTY from the container's own devpts, relayed by the launcher
// (no --console-socket), resized through --control-fd, with working job control.

import { describe, expect, test } from 'vitest';
import { isNative, runtimes, useSandbox, type Launched, type Sandbox } from './harness.js';

const CONTROL_FD = 3;

function startShell(sb: Sandbox, args: string[] = ['/bin/sh']): Launched {
  const bundle = sb.bundle({ args, spec: { terminal: true, consoleSize: { rows: 24, cols: 80 }, env: ['PATH=/bin:/usr/bin:/sbin:/usr/sbin', 'TERM=dumb', 'PS1=$ '] } });
  return sb.start(bundle, { flags: ['--control-fd', String(CONTROL_FD)], extraFds: ['pipe'] });
}

/** Type a line and wait for `expected` to show after what was there before. */
async function type(shell: Launched, line: string, expected: RegExp): Promise<string> {
  const before = shell.stdout.length;
  shell.write(line);
  const sticky = new RegExp(expected.source, expected.flags.replace('g', ''));
  for (let i = 0; i < 100; i++) {
    const m = sticky.exec(shell.stdout.slice(before));
    if (m) return m[0];
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`after typing ${JSON.stringify(line)} no ${expected} in ${JSON.stringify(shell.stdout.slice(before))}`);
}

describe.each(runtimes())('terminal — $name', (rt) => {
  const sandbox = useSandbox(rt);

  if (!isNative(rt)) {
    test.skip('runc has no relay mode: with terminal:true it hands the PTY master over --console-socket (SCM_RIGHTS), which these tests do not speak', () => {});
    return;
  }

  test('the terminal is the container’s own /dev/pts/0 with the configured size', async () => {
    const sb = sandbox();
    const shell = startShell(sb, ['/bin/sh', '-c', 'tty; stty size']);
    shell.child.stdin?.end();
    const r = await shell.exited;
    expect(r.stdout).toMatch(/^\/dev\/pts\/0\r?$/m);
    expect(r.stdout).toMatch(/^24 80\r?$/m);
    expect(r.code).toBe(0);
  });

  test('`stty size` follows a resize line on the control fd', async () => {
    const shell = startShell(sandbox());
    await type(shell, 'stty size\n', /24 80/);
    shell.writeFd(CONTROL_FD, 'resize 40 100\n');
    await type(shell, 'stty size\n', /40 100/);
    shell.write('exit\n');
    expect((await shell.exited).code).toBe(0);
  });

  test('job control: Ctrl-Z stops the foreground job and `jobs` lists it as stopped', async () => {
    const shell = startShell(sandbox());
    await type(shell, 'echo ready\n', /ready/);
    shell.write('sleep 100\n');
    await new Promise((r) => setTimeout(r, 300));
    await type(shell, '\x1a', /Stopped/);
    await type(shell, 'jobs\n', /Stopped\s+sleep 100/);
    await type(shell, 'kill -9 %1\n', /\$ /);
    // ash notices the kill lazily; until `jobs` polls it, exit is refused ("You have stopped jobs").
    await type(shell, 'jobs\n', /Killed\s+sleep 100/);
    shell.write('exit\n');
    const r = await shell.exited;
    expect(r.code).toBe(0);
  });
});
