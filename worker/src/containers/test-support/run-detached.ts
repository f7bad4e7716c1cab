// A short-lived engine process, as the command line is: it starts a container over the given
// engine data and exits at once, leaving the container to its launcher monitor. Used to check
// that containers (their output, their id ranges, their exit) do not depend on their creator.
// argv[2]: JSON { dataDir, idRangeDir, idRangeBase, cgroupParent, session, request }.
import { pino } from 'pino';
import { enginePaths, REPO_ROOT } from '../../config.js';
import { ImageStore } from '../../image-store/index.js';
import { sandboxNative } from '../../runtime/container-runtime.js';
import { IdRangeAllocator } from '../../runtime/id-ranges.js';
import { Containers, type CreateRequest } from '../containers.js';

interface Args {
  dataDir: string;
  idRangeDir: string;
  idRangeBase: number;
  cgroupParent: string;
  session: string;
  request: CreateRequest;
}

const args = JSON.parse(process.argv[2]!) as Args;
const paths = enginePaths(args.dataDir);
const containers = new Containers({
  dataDir: args.dataDir,
  store: await ImageStore.open(paths.store),
  runtime: sandboxNative(`${REPO_ROOT}/sandbox-native/build/sandbox-native`, paths.launcherState),
  idRanges: new IdRangeAllocator({ dir: args.idRangeDir, baseId: args.idRangeBase, maxRanges: 64 }),
  cgroupParent: args.cgroupParent,
  session: args.session,
  log: pino({ level: 'silent' }),
});
const { container } = await containers.run(args.request);
process.stdout.write(`${container.id}\n`);
