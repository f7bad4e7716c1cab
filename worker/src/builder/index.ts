/** The Dockerfile builder: `new Builder({ store, dataDir, runtime, idRanges }).build(request, events)`. */
export {
  Builder,
  buildRequestSchema,
  type BuilderOptions,
  type BuildLimits,
  type BuildRequest,
  type BuildResult,
  type StepLayer,
  type StepResult,
} from './build.js';
export { type StepResources } from './run-step.js';
export { CancelledError } from './step.js';
export { KEYWORDS, parseDockerfile, type Instruction, type Keyword, type ParsedDockerfile, type Where } from './parse.js';
