// Flag values as Docker reads them: sizes like `256m` or `1g`, decimal CPUs, repeatable `-e`.
import { LearnerError } from '../../../protocol/errors.js';
import type { NetworkMode } from '../containers/index.js';

/** Docker's RAMInBytes: a number with an optional b/k/m/g/t unit (powers of 1024), `b` suffix allowed. */
export function parseBytes(flag: string, value: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([bkmgt])?b?$/i.exec(value.trim());
  if (!m) throw new LearnerError('cli.invalidArgument', { flag, value, reason: 'a size such as 256m or 1g' });
  const power = m[2] ? 'bkmgt'.indexOf(m[2].toLowerCase()) : 0;
  return Math.floor(Number(m[1]) * 1024 ** power);
}

export function parsePositive(flag: string, value: string, integer = true): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    throw new LearnerError('cli.invalidArgument', { flag, value, reason: integer ? 'a whole number above 0' : 'a number above 0' });
  }
  return n;
}

export function parseNonNegativeInt(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new LearnerError('cli.invalidArgument', { flag, value, reason: 'a whole number, 0 or more' });
  return n;
}

/**
 * `--network`/`--net` (every occurrence): what this playground has is `none` (loopback only) and
 * its default (`default`, as Docker calls the mode of no flag). Docker's other modes would be
 * something else under their name: `host` shares no network here, and there is no bridge and no
 * named network to join, so each is refused, never quietly turned into the default.
 */
export function parseNetwork(values: readonly string[]): NetworkMode {
  if (values.length === 0) return 'default';
  if (values.length > 1) throw new LearnerError('cli.networkRepeated', { values: values.join(', ') });
  const value = values[0]!;
  if (value === 'none' || value === 'default') return value;
  if (value === 'host') throw new LearnerError('cli.networkHost', {});
  throw new LearnerError('cli.networkUnsupported', { value });
}

/** For repeatable flags: commander calls this once per occurrence. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** `-e KEY` takes KEY's value from this shell, as Docker does; unset, it is left out. */
export function environment(entries: readonly string[], env: NodeJS.ProcessEnv = process.env): string[] {
  const out: string[] = [];
  for (const entry of entries) {
    if (entry.includes('=')) out.push(entry);
    else if (env[entry] !== undefined) out.push(`${entry}=${env[entry]}`);
  }
  return out;
}

/** Go's strconv.ParseBool, which Docker's boolean flags use for `--flag=value`. */
const GO_BOOLS: Readonly<Record<string, boolean>> = { 1: true, t: true, T: true, TRUE: true, true: true, True: true, 0: false, f: false, F: false, FALSE: false, false: false, False: false };

/**
 * Docker's boolean flags also take `=value` (`-H=false`, `--human=0`); commander's take no value.
 * Before `command` parses its options, each such form of `long` (and its `short`) becomes
 * `--long` or `--no-long` (a `--no-long` option must exist); another value is left for commander
 * to refuse. Arguments after `--` are left alone.
 */
export function dockerBoolean(command: Pick<import('commander').Command, 'parseOptions'>, long: string, short?: string): void {
  const parse = command.parseOptions.bind(command);
  command.parseOptions = (argv: string[]) => {
    const end = argv.indexOf('--');
    const rewritten = argv.map((arg, i) => {
      if (end !== -1 && i >= end) return arg;
      const eq = arg.indexOf('=');
      const name = eq === -1 ? '' : arg.slice(0, eq);
      if (name !== `--${long}` && (short === undefined || name !== `-${short}`)) return arg;
      const value = GO_BOOLS[arg.slice(eq + 1)];
      // Not a boolean: commander refuses the long form by its name (`-H=x` would read as -= x).
      return value === undefined ? `--${long}${arg.slice(eq)}` : value ? `--${long}` : `--no-${long}`;
    });
    return parse(rewritten);
  };
}
