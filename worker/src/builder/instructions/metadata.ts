// Instructions that only change the image's config: no layer, an `empty_layer` history entry
// in BuildKit's words (`ENV A=b`, see created-by.ts).
import type { RunConfig } from '../../image-store/index.js';
import { runConfigOf, setEnv, shellOf } from '../image-config.js';
import { exposeText, goList, goQuotedList, healthcheckText } from '../created-by.js';
import { checkFlags, parseTrigger, type Instruction } from '../parse.js';
import { splitWhitespace } from '../substitution.js';
import { parseDuration } from '../durations.js';
import {
  learnerError,
  parsePairs,
  requireArgs,
  requireJson,
  StepVars,
  type InstructionHandler,
  type PreparedStep,
  type StepInput,
} from '../step.js';

function start(input: StepInput, flags: readonly string[] = []): { config: RunConfig; vars: StepVars; instruction: Instruction } {
  const { instruction, parent, stage, build } = input;
  checkFlags(instruction, flags);
  const config = structuredClone(runConfigOf(parent));
  return { config, vars: new StepVars(config, stage.args, build.escape, instruction.argsWhere), instruction };
}

function metadataStep(input: StepInput, config: RunConfig, summary: string, vars: StepVars, extra: Partial<PreparedStep> = {}, createdBy = summary): PreparedStep {
  return {
    createdBy,
    cache: { instruction: summary, args: vars.usedArgs, source: input.instruction.text },
    runConfig: config,
    ...extra,
  };
}

export const env: InstructionHandler = async (input) => {
  const { config, vars, instruction } = start(input);
  // Every pair sees the variables as they were before this line (Docker's documented rule).
  const pairs = parsePairs(instruction, vars, input.build.escape, 'legacy');
  let list = [...(config.Env ?? [])];
  for (const { name, value } of pairs) list = setEnv(list, name, value ?? '');
  config.Env = list;
  return metadataStep(input, config, `ENV ${pairs.map((p) => `${p.name}=${p.value ?? ''}`).join(' ')}`, vars);
};

export const label: InstructionHandler = async (input) => {
  const { config, vars, instruction } = start(input);
  const pairs = parsePairs(instruction, vars, input.build.escape, 'legacy');
  config.Labels = { ...(config.Labels ?? {}) };
  for (const { name, value } of pairs) config.Labels[name] = value ?? '';
  return metadataStep(input, config, `LABEL ${pairs.map((p) => `${p.name}=${p.value ?? ''}`).join(' ')}`, vars);
};

export const maintainer: InstructionHandler = async (input) => {
  const { config, vars, instruction } = start(input);
  requireArgs(instruction);
  const author = vars.expand(instruction.args);
  return metadataStep(input, config, `MAINTAINER ${author}`, vars, { author });
};

/** ARG inside a stage: declares it (for the rest of the stage) and records the step. */
export const arg: InstructionHandler = async (input) => {
  const { config, vars, instruction } = start(input);
  const pairs = parsePairs(instruction, vars, input.build.escape, 'bare-names');
  for (const { name, value } of pairs) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw learnerError('build.pairSyntax', instruction.argsWhere, { instruction: 'ARG', word: name });
    input.stage.args.declare(name, value);
  }
  const summary = `ARG ${pairs.map((p) => (p.value === undefined ? p.name : `${p.name}=${p.value}`)).join(' ')}`;
  return metadataStep(input, config, summary, vars);
};

const PORT = /^(\d{1,5})(?:-(\d{1,5}))?(?:\/([A-Za-z]+))?$/;

export const expose: InstructionHandler = async (input) => {
  const { config, vars, instruction } = start(input);
  requireArgs(instruction);
  const ports = { ...(config.ExposedPorts ?? {}) };
  const added: string[] = [];
  for (const word of splitWhitespace(instruction.args)) {
    const spec = vars.expand(word);
    const match = PORT.exec(spec);
    const proto = (match?.[3] ?? 'tcp').toLowerCase();
    const first = Number(match?.[1]);
    const last = match?.[2] === undefined ? first : Number(match[2]);
    if (match === null || !['tcp', 'udp', 'sctp'].includes(proto) || first < 1 || last > 65535 || last < first) {
      throw learnerError('build.invalidPort', instruction.argsWhere, { port: spec });
    }
    for (let port = first; port <= last; port++) {
      ports[`${port}/${proto}`] = {};
      added.push(`${port}/${proto}`);
    }
  }
  config.ExposedPorts = ports;
  return metadataStep(input, config, `EXPOSE ${added.join(' ')}`, vars, {}, exposeText(added));
};

export const user: InstructionHandler = async (input) => {
  const { config, vars, instruction } = start(input);
  requireArgs(instruction);
  const words = splitWhitespace(instruction.args);
  if (words.length !== 1) throw learnerError('build.oneArgument', instruction.argsWhere, { instruction: 'USER' });
  config.User = vars.expand(words[0]!);
  if (config.User === '') throw learnerError('build.missingArguments', instruction.where, { instruction: 'USER' });
  return metadataStep(input, config, `USER ${config.User}`, vars);
};

/** CMD and ENTRYPOINT: exec form as written, shell form wrapped in the stage's SHELL. */
function commandOf(instruction: Instruction, config: RunConfig): string[] {
  if (instruction.json !== null) return instruction.json;
  requireArgs(instruction);
  return [...shellOf(config), instruction.args];
}

export const cmd: InstructionHandler = async (input) => {
  const { config, vars, instruction } = start(input);
  config.Cmd = commandOf(instruction, config);
  input.stage.cmdSet = true;
  return metadataStep(input, config, `CMD ${JSON.stringify(config.Cmd)}`, vars, {}, `CMD ${goQuotedList(config.Cmd)}`);
};

export const entrypoint: InstructionHandler = async (input) => {
  const { config, vars, instruction } = start(input);
  config.Entrypoint = commandOf(instruction, config);
  // An inherited CMD was meant for the old entrypoint; one set in this stage stays.
  if (!input.stage.cmdSet) config.Cmd = null;
  return metadataStep(input, config, `ENTRYPOINT ${JSON.stringify(config.Entrypoint)}`, vars, {}, `ENTRYPOINT ${goQuotedList(config.Entrypoint)}`);
};

export const shell: InstructionHandler = async (input) => {
  const { config, vars, instruction } = start(input);
  const words = requireJson(instruction, '["/bin/bash", "-c"]');
  if (words.length === 0) throw learnerError('build.missingArguments', instruction.where, { instruction: 'SHELL' });
  config.Shell = words;
  return metadataStep(input, config, `SHELL ${JSON.stringify(words)}`, vars, {}, `SHELL ${goList(words)}`);
};

export const volume: InstructionHandler = async (input) => {
  const { config, vars, instruction } = start(input);
  requireArgs(instruction);
  const paths = (instruction.json ?? splitWhitespace(instruction.args)).map((word) => vars.expand(word).trim());
  if (paths.length === 0 || paths.some((p) => p === '')) throw learnerError('build.emptyVolume', instruction.argsWhere, {});
  config.Volumes = { ...(config.Volumes ?? {}) };
  for (const path of paths) config.Volumes[path] = {};
  return metadataStep(input, config, `VOLUME ${JSON.stringify(paths)}`, vars, {}, `VOLUME ${goList(paths)}`);
};

const SIGNAL_NAMES = new Set([
  'ABRT', 'ALRM', 'BUS', 'CHLD', 'CLD', 'CONT', 'FPE', 'HUP', 'ILL', 'INT', 'IO', 'IOT', 'KILL', 'PIPE', 'POLL', 'PROF', 'PWR',
  'QUIT', 'SEGV', 'STKFLT', 'STOP', 'SYS', 'TERM', 'TRAP', 'TSTP', 'TTIN', 'TTOU', 'URG', 'USR1', 'USR2', 'VTALRM', 'WINCH',
  'XCPU', 'XFSZ',
]);

function validSignal(signal: string): boolean {
  if (/^\d+$/.test(signal)) return Number(signal) >= 1 && Number(signal) <= 64;
  const name = signal.toUpperCase().replace(/^SIG/, '');
  return SIGNAL_NAMES.has(name) || /^RTM(IN|AX)([+-]\d+)?$/.test(name);
}

export const stopsignal: InstructionHandler = async (input) => {
  const { config, vars, instruction } = start(input);
  requireArgs(instruction);
  const signal = vars.expand(instruction.args.trim());
  if (!validSignal(signal)) throw learnerError('build.invalidSignal', instruction.argsWhere, { signal });
  config.StopSignal = signal;
  return metadataStep(input, config, `STOPSIGNAL ${signal}`, vars);
};

const HEALTHCHECK_FLAGS = ['interval', 'timeout', 'start-period', 'start-interval', 'retries'] as const;

export const healthcheck: InstructionHandler = async (input) => {
  const { config, vars, instruction } = start(input, HEALTHCHECK_FLAGS);
  requireArgs(instruction);
  const [subcommand = '', ...rest] = instruction.args.split(/\s+/);
  const upper = subcommand.toUpperCase();
  if (upper === 'NONE') {
    if (rest.length > 0 || instruction.flags.length > 0) throw learnerError('build.healthcheckNone', instruction.argsWhere, {});
    config.Healthcheck = { Test: ['NONE'] };
    return metadataStep(input, config, 'HEALTHCHECK NONE', vars, {}, healthcheckText(config.Healthcheck));
  }
  if (upper !== 'CMD') throw learnerError('build.healthcheckCmd', instruction.argsWhere, { word: subcommand });
  const commandText = instruction.args.slice(subcommand.length).trim();
  if (commandText === '') throw learnerError('build.missingArguments', instruction.where, { instruction: 'HEALTHCHECK CMD' });
  const json = commandText.startsWith('[') ? parseJsonList(commandText) : null;
  const test = json !== null ? ['CMD', ...json] : ['CMD-SHELL', commandText];
  const check: NonNullable<RunConfig['Healthcheck']> = { Test: test };
  for (const flag of instruction.flags) {
    const value = vars.expand(flag.value ?? '');
    if (flag.name === 'retries') {
      if (!/^\d+$/.test(value)) throw learnerError('build.invalidFlagValue', flag.where, { flag: flag.name, value });
      if (Number(value) > 0) check.Retries = Number(value);
      continue;
    }
    const nanos = parseDuration(value);
    // Docker: 0 means "the default"; anything else must be at least a millisecond.
    if (nanos === null || (nanos !== 0 && nanos < 1_000_000)) {
      throw learnerError('build.invalidFlagValue', flag.where, { flag: flag.name, value });
    }
    if (nanos === 0) continue;
    if (flag.name === 'interval') check.Interval = nanos;
    else if (flag.name === 'timeout') check.Timeout = nanos;
    else if (flag.name === 'start-period') check.StartPeriod = nanos;
    else check.StartInterval = nanos;
  }
  config.Healthcheck = check;
  return metadataStep(input, config, `HEALTHCHECK ${JSON.stringify(check)}`, vars, {}, healthcheckText(check));
};

function parseJsonList(text: string): string[] | null {
  try {
    const value: unknown = JSON.parse(text);
    return Array.isArray(value) && value.every((v) => typeof v === 'string') ? (value as string[]) : null;
  } catch {
    return null;
  }
}

const NOT_TRIGGERS = new Set(['ONBUILD', 'FROM', 'MAINTAINER']);

export const onbuild: InstructionHandler = async (input) => {
  const { config, vars, instruction } = start(input);
  requireArgs(instruction);
  // Parsed now so a mistake is reported here, not in some later build that uses this image.
  const trigger = parseTrigger(instruction.args, instruction.argsWhere);
  if (NOT_TRIGGERS.has(trigger.keyword)) {
    throw learnerError('build.onbuildInvalid', instruction.argsWhere, { instruction: trigger.keyword });
  }
  config.OnBuild = [...(config.OnBuild ?? []), trigger.text];
  return metadataStep(input, config, `ONBUILD ${trigger.text}`, vars);
};
