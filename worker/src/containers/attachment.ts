// A learner's connection to a container's stdio. Wraps the launcher's attach socket so that
// typing counts as activity (the idle reaper leaves the container alone) and so that output
// arriving before the caller has added listeners is kept for them rather than dropped (past
// KEEP_BYTES the launcher is asked to hold the rest, so nothing piles up here either).
import { EventEmitter } from 'node:events';
import type { Attachment } from '../runtime/container-runtime.js';

type Buffered = ['output', 'stdout' | 'stderr', Buffer] | ['exit', number] | ['close'];

/** Input is counted as activity at most this often (each count is a file time update). */
const TOUCH_EVERY_MS = 5_000;
/** Output kept for listeners not added yet, before reading pauses (backpressure instead). */
const KEEP_BYTES = 256 * 1024;

export class ContainerAttachment extends EventEmitter implements Attachment {
  private buffered: Buffered[] | null = [];
  private keptBytes = 0;
  /** Paused by the caller, or for listeners not added yet: reading resumes when neither holds. */
  private readonly holds = new Set<'caller' | 'listeners'>();
  private lastTouch = 0;

  constructor(
    private readonly inner: Attachment,
    private readonly touch: () => void,
  ) {
    super();
    inner.on('output', (stream, data) => this.deliver(['output', stream, data]));
    inner.on('exit', (code) => this.deliver(['exit', code]));
    inner.on('close', () => this.deliver(['close']));
  }

  private deliver(event: Buffered): void {
    if (!this.buffered) return this.replay(event);
    this.buffered.push(event);
    if (event[0] === 'output' && (this.keptBytes += event[2].length) > KEEP_BYTES) this.hold('listeners');
  }

  private hold(why: 'caller' | 'listeners'): void {
    if (this.holds.size === 0) this.inner.pause();
    this.holds.add(why);
  }

  private release(why: 'caller' | 'listeners'): void {
    if (this.holds.delete(why) && this.holds.size === 0) this.inner.resume();
  }

  private replay(event: Buffered): void {
    const [name, ...args] = event;
    this.emit(name, ...args);
  }

  // The first listener releases what was kept, on the next tick: callers add their listeners
  // ('output', 'exit', 'close') together, and every one of them should see the kept events.
  override on(event: string | symbol, listener: (...args: any[]) => void): this {
    super.on(event, listener);
    if (this.buffered) {
      const kept = this.buffered;
      process.nextTick(() => {
        if (this.buffered !== kept) return;
        this.buffered = null;
        for (const e of kept) this.replay(e);
        this.release('listeners');
      });
    }
    return this;
  }

  get pendingInputBytes(): number {
    return this.inner.pendingInputBytes;
  }

  write(data: Buffer | string): void {
    const now = Date.now();
    if (now - this.lastTouch > TOUCH_EVERY_MS) {
      this.lastTouch = now;
      this.touch();
    }
    this.inner.write(data);
  }

  resize(rows: number, cols: number): void {
    this.inner.resize(rows, cols);
  }

  closeInput(): void {
    this.inner.closeInput();
  }

  /** Backpressure: while paused the container's output waits in the launcher, then in the container. */
  pause(): void {
    this.hold('caller');
  }

  resume(): void {
    this.release('caller');
  }

  detach(): void {
    this.touch();
    this.inner.detach();
  }
}
