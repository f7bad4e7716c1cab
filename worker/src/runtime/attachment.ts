// Client side of sandbox-native's attach socket (see sandbox-native/README.md, "Detached
// containers"): frames of 1 byte type, 4 bytes big-endian length, payload.
import { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';
import type { Attachment } from './container-runtime.js';

const HEADER = 5;

export function encodeFrame(type: 'i' | 'r' | 'c', payload: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(HEADER);
  header.write(type, 0, 'latin1');
  header.writeUInt32BE(payload.length, 1);
  return Buffer.concat([header, payload]);
}

/** Splits a byte stream into frames; keeps a partial frame until the rest arrives. */
export class FrameDecoder {
  private pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): { type: string; payload: Buffer }[] {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    const frames: { type: string; payload: Buffer }[] = [];
    while (this.pending.length >= HEADER) {
      const length = this.pending.readUInt32BE(1);
      if (this.pending.length < HEADER + length) break;
      frames.push({ type: String.fromCharCode(this.pending[0]!), payload: this.pending.subarray(HEADER, HEADER + length) });
      this.pending = this.pending.subarray(HEADER + length);
    }
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
    if (!this.socket.destroyed) this.socket.write(encodeFrame('i', Buffer.from(data)));
  }

  resize(rows: number, cols: number): void {
    if (!this.socket.destroyed && Number.isInteger(rows) && Number.isInteger(cols) && rows > 0 && cols > 0)
      this.socket.write(encodeFrame('r', Buffer.from(`${rows} ${cols}`)));
  }

  closeInput(): void {
    if (!this.socket.destroyed) this.socket.write(encodeFrame('c'));
  }

  detach(): void {
    this.socket.end();
  }
}

export function connectAttachment(path: string): Promise<Attachment> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.removeListener('error', reject);
      resolve(new SocketAttachment(socket));
    });
    socket.once('error', reject);
  });
}
