// A TCP relay in front of an app process whose connections a spec can cut, as a flaky network
// or a restarted load balancer does: `POST <controlUrl>/cut` destroys every open connection
// (the browser sees its WebSocket drop with no close frame), and new ones go through again.
// Context.setOffline is not enough: Chromium's offline emulation leaves open sockets alone.
// `alsoCut`: relays cut with this one (the worker hosts' terminal endpoints: a network that
// drops takes the page's direct terminal sockets with it).
import { createServer as createHttpServer } from 'node:http';
import { connect, createServer, type Socket } from 'node:net';

export interface CuttableRelay {
  url: string;
  controlUrl: string;
  /** Destroys every open connection now; returns how many there were. */
  cut(): number;
  close(): Promise<void>;
}

export async function startCuttableRelay(targetPort: number, alsoCut: CuttableRelay[] = []): Promise<CuttableRelay> {
  const open = new Set<Socket>();
  const relay = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    open.add(client);
    open.add(upstream);
    const forget = () => {
      open.delete(client);
      open.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', forget).on('close', forget);
    upstream.on('error', forget).on('close', forget);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  const cut = () => {
    const count = open.size / 2;
    for (const s of open) s.resetAndDestroy();
    open.clear();
    return count;
  };
  const control = createHttpServer((req, res) => {
    if (req.method === 'POST' && req.url === '/cut') {
      const count = cut() + alsoCut.reduce((n, r) => n + r.cut(), 0);
      res.end(JSON.stringify({ cut: count }));
      return;
    }
    res.statusCode = 404;
    res.end();
  });
  const listen = (server: { listen(port: number, host: string, cb: () => void): unknown; address(): unknown }) =>
    new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
  const port = await listen(relay);
  const controlPort = await listen(control);
  return {
    url: `http://localhost:${port}`,
    controlUrl: `http://127.0.0.1:${controlPort}`,
    cut,
    async close() {
      for (const s of open) s.destroy();
      await Promise.all([new Promise((r) => relay.close(r)), new Promise((r) => control.close(r))]);
    },
  };
}
