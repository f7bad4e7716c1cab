// The command line's lazy logger: pino is made only for a line at an enabled level, once, and a
// child's line carries its bindings. The "pino" here is a real pino writing to memory.
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { describe, expect, it } from 'vitest';
import { lazyLogger } from './lazy-log.js';

function memoryPino(level: string): { open: () => Logger; lines: () => Record<string, unknown>[]; opened: () => number } {
  const chunks: string[] = [];
  let opened = 0;
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return {
    open: () => {
      opened++;
      return pino({ level }, sink) as unknown as Logger;
    },
    lines: () => chunks.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>),
    opened: () => opened,
  };
}

describe('lazy logger', () => {
  it('makes no pino logger for lines below its level, and one for all the lines above', () => {
    const real = memoryPino('warn');
    const log = lazyLogger('warn', real.open);
    const child = log.child({ part: 'image-store' }).child({ step: 'open' });
    log.info('quiet');
    child.debug({ x: 1 }, 'quiet too');
    expect(real.opened()).toBe(0);

    child.warn({ ms: 3 }, 'slow');
    log.error('failed');
    expect(real.opened()).toBe(1);
    expect(real.lines()).toMatchObject([
      { level: 40, part: 'image-store', step: 'open', ms: 3, msg: 'slow' },
      { level: 50, msg: 'failed' },
    ]);
    expect(real.lines()[1]).not.toHaveProperty('part');
    expect(log.isLevelEnabled('info')).toBe(false);
    expect(log.isLevelEnabled('error')).toBe(true);
  });

  it('writes nothing at level silent', () => {
    const real = memoryPino('silent');
    lazyLogger('silent', real.open).fatal('never');
    expect(real.opened()).toBe(0);
  });
});
