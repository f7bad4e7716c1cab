// A gateway in a process of its own (for tests that need two app processes, or kill one):
// the features without Next, on an ephemeral port, announced to the parent over IPC.
//   fork('gateway-process.ts', { env: { REDIS_URL, PREFIX, SECRET_HEX } })
import { pino } from 'pino';
import { startGateway } from '../gateway.js';

const gateway = await startGateway({
  redisUrl: process.env.REDIS_URL!,
  prefix: process.env.PREFIX!,
  secret: Buffer.from(process.env.SECRET_HEX!, 'hex'),
  log: pino({ level: process.env.LAYERCAKE_TEST_LOG ?? 'silent' }),
  port: 0,
  host: '127.0.0.1',
});
process.send!({ url: gateway.url });
process.on('SIGTERM', () => void gateway.close().then(() => process.exit(0)));
