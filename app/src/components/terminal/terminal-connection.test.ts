// The widget's connection against a socket.io server of the test's own, for the orderings a real
// host produces only sometimes: here the host answers an attach and sends the attachment's
// first frames in the same tick, as the worker host's endpoint does with a backlog to send.
// (The end-to-end paths, on real relays and containers, are in app/server/features/terminal.test.ts.)
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { io as connect, type Socket } from 'socket.io-client';
import { afterEach, expect, it } from 'vitest';
import { terminalEvents, type TerminalExitFrame, type TerminalOutputFrame } from '../../../../protocol/socket/terminal.js';
import { TerminalConnection, type TerminalStatus } from './terminal-connection.js';

const closers: (() => unknown)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

async function host(onAttach: (reply: (r: unknown) => void, emit: (event: string, frame: object) => void) => void): Promise<string> {
  const http = createServer();
  const server = new Server(http, { transports: ['websocket'] });
  server.on('connection', (socket) => {
    socket.on(terminalEvents.attach, (_request: unknown, reply: (r: unknown) => void) => onAttach(reply, (event, frame) => socket.emit(event, frame)));
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  closers.push(() => new Promise((resolve) => server.close(resolve)));
  return `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
}

it('frames sent right behind the attach reply, in one read with it, are shown: every byte, then the exit', async () => {
  const pieces = ['first backlog entry\r\n', 'second\r\n', 'live\r\n'];
  const url = await host((reply, emit) => {
    reply({ ok: true, attachmentId: 'att-1', containerId: 'c1', from: 0 });
    let offset = 0;
    for (const text of pieces) {
      offset += text.length;
      emit(terminalEvents.output, { attachmentId: 'att-1', offset, data: Buffer.from(text) } satisfies TerminalOutputFrame);
    }
    emit(terminalEvents.exit, { attachmentId: 'att-1', exitCode: 0, offset } satisfies TerminalExitFrame);
  });
  const socket: Socket = connect(url, { transports: ['websocket'], forceNew: true, reconnection: false });
  closers.push(() => socket.close());
  let shown = '';
  const states: TerminalStatus[] = [];
  const exited = new Promise<void>((resolve) => {
    const connection = new TerminalConnection(socket, 'c1', {
      write: (data, offset) => {
        shown += Buffer.from(data).toString();
        connection.rendered(offset);
      },
      status: (s) => {
        states.push(s);
        if (s.state === 'exited') resolve();
      },
    });
    closers.push(() => connection.dispose());
  });
  // Before the fix the reply's continuation ran after these frames, which were dropped as
  // another attachment's: nothing shown, and no exit ever.
  await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
  expect(shown).toBe(pieces.join(''));
  expect(states.map((s) => s.state)).toEqual(['connecting', 'connected', 'exited']);
});
