// Go's formatting, as BuildKit's frontend prints history text with it (fmt %q, %v, Duration).
import { describe, expect, it } from 'vitest';
import { exposeText, goDuration, goQuote, goQuoteRune, healthcheckText, runText } from './created-by.js';

describe('created_by in Go\'s words', () => {
  it('formats durations as time.Duration.String()', () => {
    expect([0, 999, 1_500, 500e6, 1e9, 1.5e9, 90e9, 3600e9, 3723.5e9].map(goDuration)).toEqual(['0s', '999ns', '1.5µs', '500ms', '1s', '1.5s', '1m30s', '1h0m0s', '1h2m3.5s']);
  });
  it('quotes strings and runes as strconv does', () => {
    expect(goQuote('a "b" \\ \n\t\x01 한')).toBe('"a \\"b\\" \\\\ \\n\\t\\x01 한"');
    expect([0, 3, 10, 65, 39].map(goQuoteRune)).toEqual(["'\\x00'", "'\\x03'", "'\\n'", "'A'", "'\\''"]);
  });
  it('sorts EXPOSE like a Go map and prints RUN args with empty values', () => {
    expect(exposeText(['80/tcp', '53/udp', '443/tcp'])).toBe('EXPOSE map[443/tcp:{} 53/udp:{} 80/tcp:{}]');
    expect(runText([['A', 'x'], ['B', '']], ['/bin/sh', '-c', 'make'])).toBe('RUN |2 A=x B= /bin/sh -c make # buildkit');
    expect(healthcheckText({ Test: ['NONE'] })).toBe('HEALTHCHECK &{["NONE"] "0s" "0s" "0s" "0s" \'\\x00\'}');
  });
});
