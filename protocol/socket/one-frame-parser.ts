// socket.io's packet format with each binary packet in ONE WebSocket message, for the terminal's
// direct socket (worker/src/terminals/endpoint.ts and the page's TerminalConnection). socket.io's
// own parser sends an event carrying bytes as a text frame (the JSON, with a placeholder) and then
// a frame per attachment: two frames a keystroke and two an echo, each a message to receive and
// a task to run in the page. Packets without bytes stay socket.io's text frames.
//
// A binary message: u32 (big-endian) byte length of the header, the header (socket.io-parser's
// text form of the packet, UTF-8), then per attachment a u32 byte length and its bytes. The
// decoder is socket.io-parser's, fed the header and then the attachments, after checking that
// the lengths add up to the message and that the header names exactly that many attachments:
// anything else throws, and socket.io then closes that connection (as for any packet it cannot
// parse). Lengths are bounded by the server's maxHttpBufferSize before this runs.
import { Decoder as PacketDecoder, Encoder as PacketEncoder, type Packet } from 'socket.io-parser';

const LENGTH_BYTES = 4;
const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

function bytesOf(part: unknown): Uint8Array {
  if (part instanceof Uint8Array) return part;
  if (part instanceof ArrayBuffer) return new Uint8Array(part);
  if (ArrayBuffer.isView(part)) return new Uint8Array(part.buffer, part.byteOffset, part.byteLength);
  throw new Error('one-frame parser: an attachment that is not bytes');
}

export class Encoder extends PacketEncoder {
  override encode(packet: Packet): unknown[] {
    const parts = super.encode(packet) as unknown[];
    if (parts.length === 1) return parts;
    const header = utf8.encode(parts[0] as string);
    const attachments = parts.slice(1).map(bytesOf);
    const message = new Uint8Array(LENGTH_BYTES + header.byteLength + attachments.reduce((n, a) => n + LENGTH_BYTES + a.byteLength, 0));
    const view = new DataView(message.buffer);
    let at = 0;
    for (const piece of [header, ...attachments]) {
      view.setUint32(at, piece.byteLength);
      message.set(piece, at + LENGTH_BYTES);
      at += LENGTH_BYTES + piece.byteLength;
    }
    return [message];
  }
}

export class Decoder extends PacketDecoder {
  override add(chunk: unknown): void {
    if (typeof chunk === 'string') {
      // A binary packet comes whole, in one binary message: a text header announcing attachments is not ours.
      if (chunk[0] === '5' || chunk[0] === '6') throw new Error('one-frame parser: a binary packet in parts');
      return super.add(chunk);
    }
    const message = bytesOf(chunk);
    const view = new DataView(message.buffer, message.byteOffset, message.byteLength);
    const pieces: Uint8Array[] = [];
    for (let at = 0; at < message.byteLength; ) {
      if (at + LENGTH_BYTES > message.byteLength) throw new Error('one-frame parser: truncated length');
      const length = view.getUint32(at);
      at += LENGTH_BYTES;
      if (at + length > message.byteLength) throw new Error('one-frame parser: truncated piece');
      pieces.push(message.subarray(at, at + length));
      at += length;
    }
    const header = pieces.length > 0 ? fromUtf8.decode(pieces[0]) : '';
    const announced = /^[56](\d{1,2})-/.exec(header);
    if (!announced || Number(announced[1]) !== pieces.length - 1) throw new Error('one-frame parser: attachments do not match the header');
    super.add(header);
    for (const piece of pieces.slice(1)) super.add(piece);
  }
}

/** For socket.io's `parser` option, on the server and the client alike. */
export const oneFrameParser = { Encoder, Decoder };
