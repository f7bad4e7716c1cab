import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listRecords, readRecord, readRecordsAtOnce, recordExists } from './record-io.js';

const dir = mkdtempSync(join(tmpdir(), 'record-io-'));
writeFileSync(join(dir, 'a.json'), '{"a":1}');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What each read gives, errors as their codes: the same through the thread pool and at once. */
async function observe(): Promise<unknown[]> {
  const code = (p: Promise<unknown>) => p.then((v) => v, (err: NodeJS.ErrnoException) => err.code);
  return [
    await readRecord(join(dir, 'a.json'), 'utf8'),
    (await readRecord(join(dir, 'a.json'))).toString('hex'),
    await code(readRecord(join(dir, 'missing.json'), 'utf8')),
    await listRecords(dir),
    await code(listRecords(join(dir, 'missing'))),
    await recordExists(join(dir, 'a.json')),
    await recordExists(join(dir, 'missing.json')),
  ];
}

/** Whether a read is done before the event loop turns (microtasks only): read on this thread. */
async function doneWithoutTheLoop(): Promise<boolean> {
  let done = false;
  const read = readRecord(join(dir, 'a.json')).then(() => (done = true));
  for (let i = 0; i < 5; i++) await Promise.resolve();
  const before = done;
  await read;
  return before;
}

describe('record reads', () => {
  it('give the same contents and the same errors at once as through the thread pool', async () => {
    // The control: through the pool, a read needs the event loop to turn.
    let pooledDone = false;
    const pooledRead = readRecord(join(dir, 'a.json')).then(() => (pooledDone = true));
    for (let i = 0; i < 5; i++) await Promise.resolve();
    expect(pooledDone).toBe(false);
    await pooledRead;
    const pooled = await observe();
    expect(pooled).toEqual(['{"a":1}', Buffer.from('{"a":1}').toString('hex'), 'ENOENT', ['a.json'], 'ENOENT', true, false]);
    readRecordsAtOnce();
    expect(await observe()).toEqual(pooled);
    expect(await doneWithoutTheLoop()).toBe(true);
  });
});
