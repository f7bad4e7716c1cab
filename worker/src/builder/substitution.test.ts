// Docker's variable substitution and word splitting: pure functions.
import { describe, expect, it } from 'vitest';
import { parseDuration } from './durations.js';
import { expandWord, splitWords, SubstitutionError } from './substitution.js';

const vars: Record<string, string> = { NAME: 'world', EMPTY: '', DIR: '/opt/app' };
const lookup = (name: string): string | undefined => vars[name];
const expand = (word: string, escape = '\\'): string => expandWord(word, lookup, escape);

describe('variable substitution', () => {
  it('replaces $NAME and ${NAME}, and unset names with nothing', () => {
    expect(expand('hello-$NAME')).toBe('hello-world');
    expect(expand('${DIR}/bin')).toBe('/opt/app/bin');
    expect(expand('a${MISSING}b$MISSING')).toBe('ab');
    expect(expand('cost: $')).toBe('cost: $');
  });

  it('supports the :- :+ - + and :? modifiers', () => {
    expect(expand('${MISSING:-fallback}')).toBe('fallback');
    expect(expand('${EMPTY:-fallback}')).toBe('fallback');
    expect(expand('${EMPTY-fallback}')).toBe('');
    expect(expand('${NAME:-fallback}')).toBe('world');
    expect(expand('${NAME:+set}')).toBe('set');
    expect(expand('${MISSING:+set}')).toBe('');
    expect(expand('${EMPTY+set}')).toBe('set');
    expect(expand('${MISSING:-${DIR}/x}')).toBe('/opt/app/x');
    expect(() => expand('${MISSING:?must be set}')).toThrow(/must be set/);
  });

  it('keeps single quotes literal, substitutes inside double quotes, removes both', () => {
    expect(expand("'$NAME'")).toBe('$NAME');
    expect(expand('"$NAME and more"')).toBe('world and more');
    expect(expand('"a\\"b"')).toBe('a"b');
  });

  it('treats the escape character as making the next one literal', () => {
    expect(expand('\\$NAME')).toBe('$NAME');
    expect(expand('a\\ b')).toBe('a b');
    expect(expand('`$NAME', '`')).toBe('$NAME');
    expect(expand('C:\\dir', '`')).toBe('C:\\dir');
  });

  it('reports malformed references', () => {
    expect(() => expand('${NAME')).toThrow(SubstitutionError);
    expect(() => expand('${}')).toThrow(/bad substitution/);
    expect(() => expand('${NAME/x/y}')).toThrow(/unsupported modifier/);
    expect(() => expand('"open')).toThrow(/double-quote/);
  });
});

describe('splitting words', () => {
  it('splits on whitespace outside quotes and keeps quotes for later', () => {
    expect(splitWords('A=1 B="x y" C=a\\ b')).toEqual(['A=1', 'B="x y"', 'C=a\\ b']);
    expect(splitWords("  k='v w'  ")).toEqual(["k='v w'"]);
  });
});

describe('durations', () => {
  it('reads Go durations into nanoseconds', () => {
    expect(parseDuration('30s')).toBe(30e9);
    expect(parseDuration('1m30s')).toBe(90e9);
    expect(parseDuration('250ms')).toBe(250e6);
    expect(parseDuration('1.5h')).toBe(5400e9);
    expect(parseDuration('0')).toBe(0);
    expect(parseDuration('10')).toBeNull();
    expect(parseDuration('5 s')).toBeNull();
  });
});
