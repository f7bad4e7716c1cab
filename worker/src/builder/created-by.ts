// A history entry's created_by, in BuildKit's words (its Dockerfile frontend writes them with
// Go's fmt verbs): `RUN /bin/sh -c make # buildkit`, `CMD ["sh" "-c" "x"]`, `VOLUME [/data]`,
// `EXPOSE map[80/tcp:{}]`, `HEALTHCHECK &{["CMD-SHELL" "x"] "30s" "0s" "0s" "0s" '\x03'}`.
// A learner puts `docker history` of both side by side, so the text is Docker's, not JSON.
import type { RunConfig } from '../image-store/index.js';

/** What BuildKit writes in every history entry's comment. */
export const HISTORY_COMMENT = 'buildkit.dockerfile.v0';

/** Steps that made a layer end so in BuildKit's history. */
export const LAYER_SUFFIX = ' # buildkit';

const SHORT_ESCAPES: Record<string, string> = { '\x07': '\\a', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\v': '\\v' };

function escapeRune(ch: string, quote: string): string {
  if (ch === quote || ch === '\\') return `\\${ch}`;
  const short = SHORT_ESCAPES[ch];
  if (short !== undefined) return short;
  const code = ch.codePointAt(0)!;
  if (code < 0x20 || code === 0x7f) return `\\x${code.toString(16).padStart(2, '0')}`;
  if (code >= 0x80 && code < 0xa0) return `\\u${code.toString(16).padStart(4, '0')}`;
  return ch;
}

/** Go's %q of a string (strconv.Quote). */
export function goQuote(text: string): string {
  return `"${[...text].map((ch) => escapeRune(ch, '"')).join('')}"`;
}

/** Go's %q of an int: a quoted rune, as fmt prints HealthConfig.Retries. */
export function goQuoteRune(value: number): string {
  return `'${escapeRune(String.fromCodePoint(value), "'")}'`;
}

/** Go's %q of a []string: `["a" "b"]`. */
export function goQuotedList(words: readonly string[]): string {
  return `[${words.map(goQuote).join(' ')}]`;
}

/** Go's %v of a []string: `[a b]`. */
export function goList(words: readonly string[]): string {
  return `[${words.join(' ')}]`;
}

function trimFraction(whole: number, fraction: number, digits: number): string {
  const text = fraction === 0 ? '' : `.${String(fraction).padStart(digits, '0').replace(/0+$/, '')}`;
  return `${whole}${text}`;
}

/** Go's time.Duration.String() of a count of nanoseconds: 0s, 500ms, 1m30s, 1h0m0s. */
export function goDuration(nanos: number): string {
  if (nanos === 0) return '0s';
  const sign = nanos < 0 ? '-' : '';
  const n = Math.abs(nanos);
  if (n < 1_000) return `${sign}${n}ns`;
  if (n < 1_000_000) return `${sign}${trimFraction(Math.floor(n / 1_000), n % 1_000, 3)}µs`;
  if (n < 1_000_000_000) return `${sign}${trimFraction(Math.floor(n / 1_000_000), n % 1_000_000, 6)}ms`;
  const totalSeconds = Math.floor(n / 1_000_000_000);
  const seconds = `${trimFraction(totalSeconds % 60, n % 1_000_000_000, 9)}s`;
  const minutes = Math.floor(totalSeconds / 60);
  if (minutes === 0) return `${sign}${seconds}`;
  const hours = Math.floor(minutes / 60);
  if (hours === 0) return `${sign}${minutes}m${seconds}`;
  return `${sign}${hours}h${minutes % 60}m${seconds}`;
}

/**
 * `HEALTHCHECK %q` of today's HealthConfig {Test, Interval, Timeout, StartPeriod, StartInterval,
 * Retries}. (Docker 20.10's struct had no StartInterval, so it prints one "0s" fewer.)
 */
export function healthcheckText(check: NonNullable<RunConfig['Healthcheck']>): string {
  const durations = [check.Interval, check.Timeout, check.StartPeriod, check.StartInterval].map((d) => goQuote(goDuration(d ?? 0)));
  return `HEALTHCHECK &{${goQuotedList(check.Test ?? [])} ${durations.join(' ')} ${goQuoteRune(check.Retries ?? 0)}}`;
}

/** `EXPOSE %v` of the ports this line adds, a Go map: keys sorted, `map[53/udp:{} 80/tcp:{}]`. */
export function exposeText(ports: readonly string[]): string {
  const keys = [...new Set(ports)].sort();
  return `EXPOSE map[${keys.map((port) => `${port}:{}`).join(' ')}]`;
}

/**
 * RUN: the build args BuildKit lists in front (`|2 A=1 B= `, an ARG declared without a value
 * shows as empty), then the command as the shell or exec form gives it.
 */
export function runText(declared: readonly [string, string][], args: readonly string[]): string {
  const prefix = declared.length > 0 ? `|${declared.length} ${declared.map(([k, v]) => `${k}=${v}`).join(' ')} ` : '';
  return `RUN ${prefix}${args.join(' ')}${LAYER_SUFFIX}`;
}
