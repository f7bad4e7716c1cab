// `run`: create and start a container of the session's image under a detached launcher, so it
// outlives this worker; its output and exit reach the learner as events.
// The containers API (worker/src/containers/) is being written; until it lands this handler
// fails as an internal error rather than reaching around it into the launcher.
import type { JobHandler } from './types.js';

export const handleRun: JobHandler<'run', never> = async () => {
  throw new Error('run jobs need worker/src/containers/, which this checkout does not have yet');
};
