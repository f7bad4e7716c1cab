import { describe, expect, it } from 'vitest';
import { localeFromAcceptLanguage, pickLocale } from './locale';

describe('the page language', () => {
  it('is the cookie when it names a language we have', () => {
    expect(pickLocale('ko', 'en-US,en;q=0.9')).toBe('ko');
    expect(pickLocale('en', 'ko-KR,ko;q=0.9')).toBe('en');
  });
  it('is Korean for a browser that ranks Korean first, whatever the order of the header', () => {
    expect(pickLocale(undefined, 'ko-KR,ko;q=0.9,en-US;q=0.8')).toBe('ko');
    expect(pickLocale(undefined, 'en;q=0.5, ko;q=0.8')).toBe('ko');
    expect(pickLocale('fr', 'ja, ko;q=0.7, en;q=0.3')).toBe('ko');
  });
  it('is English for a browser that ranks English above Korean, or knows neither', () => {
    expect(pickLocale(undefined, 'en-GB,ko;q=0.5')).toBe('en');
    expect(pickLocale(undefined, 'fr-FR,de;q=0.9')).toBe('en');
    expect(pickLocale(undefined, undefined)).toBe('en');
  });
  it('ignores languages refused with q=0', () => {
    expect(localeFromAcceptLanguage('ko;q=0, en;q=0.1')).toBe('en');
  });
});
