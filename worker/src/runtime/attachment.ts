// Client side of sandbox-native's attach socket (see sandbox-native/README.md, "Detached
// containers"): frames of 1 byte type, 4 bytes big-endian length, payload. The launcher holds
// the container back while a reader is behind, so pausing this socket pauses the container's
// output: nothing is dropped, and nothing piles up here.
import { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';

/** A connection to a detached container's stdio (sandbox-native's attach socket). */
export interface Attachment {
  /** Output as it arrives: the terminal (or stdout) and, without a terminal, stderr. */
  on(event: 'output', listener: (stream: 'stdout' | 'stderr', data: Buffer) => void): this;
  /** The container exited with this status; the connection closes next. */
  on(event: 'exit', listener: (exitCode: number) => void): this;
  on(event: 'close', listener: () => void): this;
  write(data: Buffer | string): void;
  /** Input written but not yet taken by the launcher (it takes no more while the container does not read). */
  readonly pendingInputBytes: number;
  resize(rows: number, cols: number): void;
  /** Close the container's stdin (without a terminal). */
  closeInput(): void;
  /**
   * Stop taking output until resume(). The launcher then stops reading the container's output
   * once this attachment is 256 KiB behind, so the container waits in write(): backpressure,
   * nothing dropped. Every attached reader holds the container back this way (the slowest sets
   * the pace, as with Docker's attach); a watcher (attach with `watch`) never does.
   */
  pause(): void;
  resume(): void;
  /** Leave the container running. */
  detach(): void;
}

const HEADER = 5;
/** The largest input frame the launcher accepts (sandbox-native/src/attach.h). */
const INPUT_FRAME_MAX = 8192;

export function encodeFrame(type: 'i' | 'r' | 'c' | 'w', payload: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(HEADER);
  header.write(type, 0, 'latin1');
  header.writeUInt32BE(payload.length, 1);
  return Buffer.concat([header, payload]);
}

export interface Frame {
  type: string;
  payload: Buffer;
}

/** The complete frames at the start of `bytes`, and how many bytes they took. */
export function decodeFrames(bytes: Buffer): { frames: Frame[]; used: number } {
  const frames: Frame[] = [];
  let used = 0;
  while (bytes.length - used >= HEADER) {
    const length = bytes.readUInt32BE(used + 1);
    if (bytes.length - used < HEADER + length) break;
    frames.push({ type: String.fromCharCode(bytes[used]!), payload: bytes.subarray(used + HEADER, used + HEADER + length) });
    used += HEADER + length;
  }
  return { frames, used };
}

/** Splits a byte stream into frames; keeps a partial frame until the rest arrives. */
export class FrameDecoder {
  private pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Frame[] {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    const { frames, used } = decodeFrames(this.pending);
    this.pending = this.pending.subarray(used);
    return frames;
  }
}

class SocketAttachment extends EventEmitter implements Attachment {
  private readonly decoder = new FrameDecoder();

  constructor(private readonly socket: Socket) {
    super();
    socket.on('data', (chunk: Buffer) => {
      for (const f of this.decoder.push(chunk)) {
        if (f.type === 'o') this.emit('output', 'stdout', Buffer.from(f.payload));
        else if (f.type === 'e') this.emit('output', 'stderr', Buffer.from(f.payload));
        else if (f.type === 'x') this.emit('exit', Number(f.payload.toString()));
      }
    });
    socket.on('close', () => this.emit('close'));
    socket.on('error', () => {}); // a vanished monitor shows up as 'close'
  }

  write(data: Buffer | string): void {
    if (this.socket.destroyed) return;
    // The launcher takes input frames of at most 8 KiB (a longer one would cost us the connection).
    const bytes = Buffer.from(data);
    for (let at = 0; at < bytes.length; at += INPUT_FRAME_MAX) this.socket.write(encodeFrame('i', bytes.subarray(at, at + INPUT_FRAME_MAX)));
  }

  get pendingInputBytes(): number {
    return this.socket.writableLength;
  }

  resize(rows: number, cols: number): void {
    if (!this.socket.destroyed && Number.isInteger(rows) && Number.isInteger(cols) && rows > 0 && cols > 0)
      this.socket.write(encodeFrame('r', Buffer.from(`${rows} ${cols}`)));
  }

  closeInput(): void {
    if (!this.socket.destroyed) this.socket.write(encodeFrame('c'));
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  detach(): void {
    this.socket.end();
  }
}

/** With `watch`, the attachment only hears the exit (no output), and never holds the container back. */
export function connectAttachment(path: string, options: { watch?: boolean } = {}): Promise<Attachment> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.removeListener('error', reject);
      if (options.watch) socket.write(encodeFrame('w'));
      resolve(new SocketAttachment(socket));
    });
    socket.once('error', reject);
  });
}
