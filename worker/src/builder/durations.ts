// HEALTHCHECK's --interval and friends take Go durations ("30s", "1m30s", "1.5h", "250ms"), and
// the image config stores them in nanoseconds, as Docker does.

const UNIT_NANOS: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, 'μs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** Nanoseconds, or null when `text` is not a duration. "0" alone needs no unit. */
export function parseDuration(text: string): number | null {
  if (text === '0') return 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/gy;
  let total = 0;
  let consumed = 0;
  for (let match = re.exec(text); match !== null; match = re.exec(text)) {
    total += Number(match[1]) * UNIT_NANOS[match[2]!]!;
    consumed = re.lastIndex;
  }
  if (consumed === 0 || consumed !== text.length) return null;
  return Math.round(total);
}
