// One handler per instruction (FROM is not here: it starts a stage, see build.ts).
import type { Keyword } from '../parse.js';
import type { InstructionHandler } from '../step.js';
import { add, copy } from './copy.js';
import * as metadata from './metadata.js';
import { run, workdir } from './run.js';

export const handlers: Readonly<Record<Exclude<Keyword, 'FROM'>, InstructionHandler>> = Object.freeze({
  ADD: add,
  ARG: metadata.arg,
  CMD: metadata.cmd,
  COPY: copy,
  ENTRYPOINT: metadata.entrypoint,
  ENV: metadata.env,
  EXPOSE: metadata.expose,
  HEALTHCHECK: metadata.healthcheck,
  LABEL: metadata.label,
  MAINTAINER: metadata.maintainer,
  ONBUILD: metadata.onbuild,
  RUN: run,
  SHELL: metadata.shell,
  STOPSIGNAL: metadata.stopsignal,
  USER: metadata.user,
  VOLUME: metadata.volume,
  WORKDIR: workdir,
});
