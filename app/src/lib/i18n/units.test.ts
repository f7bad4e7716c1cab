import { describe, expect, it } from 'vitest';
import { formatDuration } from '../../components/layers/format';
import { formatBinaryBytes, formatBytes } from './units';

describe('a size or a duration stays on one line', () => {
  it('joins number and unit with a no-break space, in both languages', () => {
    for (const locale of ['en', 'ko'] as const) {
      for (const text of [formatBytes(52, locale), formatBytes(2_000_000, locale), formatBinaryBytes(52, locale), formatBinaryBytes(10 << 20, locale), formatDuration(77, 'en'), formatDuration(3_500, 'en'), formatDuration(125_000, locale)]) {
        // A plain space may only separate two number-unit pairs ("2 min 5 s"), never a number from its unit.
        expect(text).not.toMatch(/\d /);
        expect(text).not.toMatch(/(분|초) /);
      }
    }
    expect(formatBytes(52, 'en')).toBe('52\u00a0B');
    expect(formatBinaryBytes(10 << 20, 'ko')).toBe('10\u00a0MiB');
    expect(formatDuration(125_000, 'en')).toBe('2\u00a0min 5\u00a0s');
    expect(formatDuration(125_000, 'ko')).toBe('2분\u00a05초');
  });
});
