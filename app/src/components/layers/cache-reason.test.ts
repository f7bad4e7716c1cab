import { describe, expect, it } from 'vitest';
import { cacheReason, type CacheReason } from '../../../../protocol/events';
import { cacheReasonText } from './cache-reason';

/** Each reason with the facts worker/src/builder (build.ts, cache.ts) fills in for it. */
const asTheBuilderSendsThem: Record<CacheReason['key'], CacheReason['facts']> = {
  'cache.hit': {},
  'cache.miss.noCache': {},
  'cache.miss.firstTime': {},
  'cache.miss.instructionChanged': { previous: 'RUN echo hello' },
  'cache.miss.filesChanged': {},
  'cache.miss.parentChanged': { step: 2 },
  'cache.miss.argChanged': { args: 'VERSION' },
};

describe('a cached (or rebuilt) layer says why, in words', () => {
  it('covers every reason the protocol has', () => {
    expect(Object.keys(asTheBuilderSendsThem).sort()).toEqual([...cacheReason.shape.key.options].sort());
  });

  for (const [key, facts] of Object.entries(asTheBuilderSendsThem)) {
    it(`${key} reads in English and Korean with its facts filled in`, () => {
      const reason = cacheReason.parse({ key, facts });
      const en = cacheReasonText(reason, 'en');
      const ko = cacheReasonText(reason, 'ko');
      for (const text of [en, ko]) {
        expect(text).not.toContain(key);
        expect(text).not.toMatch(/\{\w+\}/);
        for (const value of Object.values(facts)) expect(text).toContain(String(value));
      }
      expect(ko).not.toBe(en);
      expect(ko).toMatch(/[\uac00-\ud7a3]/);
    });
  }
});
