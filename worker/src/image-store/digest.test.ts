import { describe, expect, it } from 'vitest';
import { chainIdOf, chainIdsOf, sha256, type Digest } from './digest.js';
import { runOk } from './test-support/fixtures.js';

describe('chain ids', () => {
  const a = sha256('layer a');
  const b = sha256('layer b');
  const c = sha256('layer c');

  it('a base layer’s chain id is its diff id', () => {
    expect(chainIdOf(null, a)).toBe(a);
  });

  it('each further chain id hashes "<parent chain id> <diff id>" (OCI config.md), checked with sha256sum', async () => {
    const expected = `sha256:${(await runOk('sh', ['-c', `printf '%s' '${a} ${b}' | sha256sum`])).slice(0, 64)}` as Digest;
    expect(chainIdOf(a, b)).toBe(expected);
    const third = `sha256:${(await runOk('sh', ['-c', `printf '%s' '${expected} ${c}' | sha256sum`])).slice(0, 64)}`;
    expect(chainIdsOf([a, b, c])).toEqual([a, expected, third]);
  });

  it('the same diff id on different parents gives different chain ids', () => {
    expect(chainIdOf(a, c)).not.toBe(chainIdOf(b, c));
  });
});
