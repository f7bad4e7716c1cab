import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { lazySchema } from './lazy-schema.js';

describe('lazySchema', () => {
  it('builds nothing until first used, even when composed into other schemas at import', () => {
    let built = 0;
    const A = lazySchema(() => (built++, z.object({ kind: z.literal('a'), n: z.number().int() })));
    const B = lazySchema(() => (built++, z.object({ kind: z.literal('b') })));
    const holder = z.object({ a: A, list: z.array(A).optional() });
    expect(built).toBe(0);
    // A discriminated union reads its options when made: a module makes its unions lazily too.
    const union = lazySchema(() => z.discriminatedUnion('kind', [A, B]));
    expect(built).toBe(0);
    expect(union.parse({ kind: 'b' })).toEqual({ kind: 'b' });
    expect(holder.parse({ a: { kind: 'a', n: 1, extra: true } })).toEqual({ a: { kind: 'a', n: 1 } });
    expect(built).toBe(2);
  });

  it('is the real schema to every caller: methods, instanceof, shape, errors, transforms', () => {
    let built = 0;
    const A = lazySchema(() => (built++, z.object({ kind: z.literal('a'), n: z.number().int() })));
    const length = lazySchema(() => z.string().transform((s) => s.length));
    expect(A instanceof z.ZodObject).toBe(true);
    expect(Object.keys(A.shape)).toEqual(['kind', 'n']);
    expect(A.extend({ m: z.string() }).safeParse({ kind: 'a', n: 1 }).success).toBe(false);
    expect(A.safeParse({ kind: 'a', n: 1.5 }).error?.issues[0]?.path).toEqual(['n']);
    expect(length.parse('abc')).toBe(3);
    expect(z.toJSONSchema(z.object({ a: A }))).toMatchObject({ properties: { a: { properties: { n: { type: 'integer' } } } } });
    expect(built).toBe(1); // built once, however often used
  });
});
