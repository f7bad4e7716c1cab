// The gateway's features, in the order they register. A feature is one file exporting
// `register(io, ctx)` (see ../context.ts); add yours here.
import type { GatewayContext, GatewayServer } from '../context.js';
import * as files from './files.js';
import * as runs from './runs.js';
import * as terminal from './terminal.js';

export interface Feature {
  register(io: GatewayServer, ctx: GatewayContext): void | Promise<void>;
}

export const features: readonly Feature[] = [files, runs, terminal];
