// Runs inside a container's network namespace (entered with nsenter --net from the host; it
// keeps the host's mount namespace, so the session's unix socket is reachable by path). It
// listens on the container's loopback and joins each connection to that socket: the container
// gets a proxy at 127.0.0.1:PORT and still has no route anywhere. Plain JS: no loader at start.
// argv: PORT SOCKET. Prints "ready" once listening; exits when its stdin closes.
import { connect, createServer } from 'node:net';

const [port, socketPath] = process.argv.slice(2);
const server = createServer((c) => {
  const up = connect(socketPath);
  const drop = () => {
    c.destroy();
    up.destroy();
  };
  c.on('error', drop);
  up.on('error', drop);
  c.on('close', drop);
  up.on('close', drop);
  c.pipe(up);
  up.pipe(c);
});
server.on('error', (err) => {
  process.stderr.write(`forwarder: ${err.message}\n`);
  process.exit(1);
});
server.listen(Number(port), '127.0.0.1', () => process.stdout.write('ready\n'));
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
