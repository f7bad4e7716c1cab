// The launcher's failure record (sandbox-native/README.md, "Errors"): beside runc's human line on
// stderr, one JSON line {"launcherError":{step, errno, errnoName, message, exitStatus}}. The
// engine decides from these fields, never from the English of the human line; runc writes no
// record, so with runc a failure is known only by its exit status.

export interface LauncherFailure {
  /** The setup step that failed: "spec", "exec", "cwd", "rlimits", "state", "start", … */
  step: string;
  /** The errno behind it (0 when no syscall failed), and its name ("ENOENT"; "" for 0). */
  errno: number;
  errnoName: string;
  /** What and where, for a human (English; shown as a fact, never matched). */
  message: string;
  /** The exit status it implies: 127 not found, 126 could not be invoked, 125 the launcher failed. */
  exitStatus: number;
}

const PREFIX = '{"launcherError":';

/** A line of the launcher's own on stderr (its human line or its record), not the container's. */
export function isLauncherLine(line: string): boolean {
  return line.startsWith('sandbox-native: ') || line.startsWith(PREFIX);
}

function asFailure(value: unknown): LauncherFailure | null {
  if (typeof value !== 'object' || value === null) return null;
  const r = value as Record<string, unknown>;
  if (typeof r.step !== 'string' || typeof r.message !== 'string') return null;
  if (!Number.isInteger(r.errno) || !Number.isInteger(r.exitStatus)) return null;
  return {
    step: r.step,
    errno: r.errno as number,
    errnoName: typeof r.errnoName === 'string' ? r.errnoName : '',
    message: r.message,
    exitStatus: r.exitStatus as number,
  };
}

/** The last record in what the launcher wrote on stderr, or null when it wrote none. */
export function launcherFailure(stderr: string): LauncherFailure | null {
  const lines = stderr.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!;
    if (!line.startsWith(PREFIX)) continue;
    try {
      const failure = asFailure((JSON.parse(line) as { launcherError?: unknown }).launcherError);
      if (failure) return failure;
    } catch {
      // a cut or foreign line: keep looking
    }
  }
  return null;
}

/** The record's message with its errno spelled out, for showing ("… : ENOENT"). */
export function describeFailure(f: LauncherFailure): string {
  return f.errnoName ? `${f.step}: ${f.message} (${f.errnoName})` : `${f.step}: ${f.message}`;
}

/** A missing container, in any verb's record. */
export function isNoSuchContainer(f: LauncherFailure | null): boolean {
  return f !== null && f.step === 'state' && f.errnoName === 'ENOENT';
}
