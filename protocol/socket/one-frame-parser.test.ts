// The terminal's direct-socket packet format: a packet carrying bytes is one message (socket.io's
// own parser makes it two: the control), it decodes to the same packet, and a message whose
// lengths or attachment count do not add up is refused, never half-decoded.
import { Decoder as PacketDecoder, Encoder as PacketEncoder, PacketType, type Packet } from 'socket.io-parser';
import { expect, it } from 'vitest';
import { Decoder, Encoder } from './one-frame-parser.js';

const input = (): Packet => ({ type: PacketType.EVENT, nsp: '/', data: ['terminal:input', { attachmentId: 'a1', data: Buffer.from('ls\r') }] });

function decodeAll(decoder: PacketDecoder, parts: unknown[]): Packet[] {
  const out: Packet[] = [];
  decoder.on('decoded', (p: Packet) => out.push(p));
  for (const part of parts) decoder.add(part);
  return out;
}

function frame(...pieces: (string | Uint8Array)[]): Buffer {
  return Buffer.concat(
    pieces.flatMap((p) => {
      const bytes = typeof p === 'string' ? Buffer.from(p) : Buffer.from(p);
      const length = Buffer.alloc(4);
      length.writeUInt32BE(bytes.length);
      return [length, bytes];
    }),
  );
}

it('a packet with bytes is one binary message (socket.io’s parser: two) and decodes to the same packet', () => {
  expect(new PacketEncoder().encode(input())).toHaveLength(2);
  const parts = new Encoder().encode(input());
  expect(parts).toHaveLength(1);
  expect(parts[0]).toBeInstanceOf(Uint8Array);
  const [packet] = decodeAll(new Decoder(), parts);
  expect(packet!.data[0]).toBe('terminal:input');
  expect(Buffer.from(packet!.data[1].data as Uint8Array).toString()).toBe('ls\r');
  expect(packet!.data[1].attachmentId).toBe('a1');

  // Two attachments, an ack with bytes, and a browser's ArrayBuffer.
  const two: Packet = { type: PacketType.ACK, nsp: '/', id: 7, data: [{ a: new Uint8Array([1, 2]), b: new Uint8Array([]) }] };
  const encoded = new Encoder().encode(two);
  expect(encoded).toHaveLength(1);
  const bytes = encoded[0] as Uint8Array;
  const [ack] = decodeAll(new Decoder(), [bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)]);
  expect(ack).toMatchObject({ type: PacketType.ACK, id: 7 });
  expect([...(ack!.data[0].a as Uint8Array)]).toEqual([1, 2]);
  expect((ack!.data[0].b as Uint8Array).byteLength).toBe(0);
});

it('packets without bytes stay socket.io’s text frames', () => {
  const packet: Packet = { type: PacketType.EVENT, nsp: '/', data: ['terminal:resize', { attachmentId: 'a1', rows: 24, cols: 80 }] };
  const parts = new Encoder().encode(packet);
  expect(parts).toEqual(new PacketEncoder().encode(packet));
  expect(decodeAll(new Decoder(), parts)).toEqual([packet]);
});

it('refuses messages whose lengths or attachments do not add up, and socket.io’s two-part form', () => {
  const header = '51-["terminal:input",{"attachmentId":"a1","data":{"_placeholder":true,"num":0}}]';
  // The control: this message is well formed.
  expect(decodeAll(new Decoder(), [frame(header, Buffer.from('x'))])).toHaveLength(1);
  const bad: [string, unknown][] = [
    ['an attachment missing', frame(header)],
    ['an attachment more than announced', frame(header, Buffer.from('x'), Buffer.from('y'))],
    ['a length past the end', frame(header, Buffer.from('x')).subarray(0, -1)],
    ['a cut length', Buffer.concat([frame(header, Buffer.from('x')), Buffer.from([0, 0])])],
    ['a text packet as binary', frame('2["terminal:input",{}]')],
    ['an empty message', Buffer.alloc(0)],
    ['a placeholder past the attachments', frame('51-["terminal:input",{"data":{"_placeholder":true,"num":3}}]', Buffer.from('x'))],
  ];
  for (const [what, message] of bad) expect(() => decodeAll(new Decoder(), [message]), what).toThrow();
  // socket.io's own form of the same packet: its text header is refused (its bytes would follow apart).
  expect(() => decodeAll(new Decoder(), new PacketEncoder().encode(input()))).toThrow(/in parts/);
});
