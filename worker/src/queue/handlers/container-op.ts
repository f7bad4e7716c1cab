// `container-op`: stop, kill, rm, pause, unpause, diff, commit, stats or logs of one of the
// session's containers, through the containers API (worker/src/containers/).
// Until that API lands this handler fails as an internal error.
import type { JobHandler } from './types.js';

export const handleContainerOp: JobHandler<'container-op', never> = async () => {
  throw new Error('container-op jobs need worker/src/containers/, which this checkout does not have yet');
};
