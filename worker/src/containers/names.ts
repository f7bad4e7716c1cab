// Container ids and names as Docker shows them: a random 64-hex id (12 shown), and a name the
// learner chose or one made up from two words, unique within the session.
import { randomBytes, randomInt } from 'node:crypto';
import { LearnerError } from '../../../protocol/errors.js';

export const ID_PATTERN = /^[0-9a-f]{64}$/;
/** Docker's rule for names (it adds a length limit of its own here: names end up in paths and UIs). */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export function newContainerId(): string {
  return randomBytes(32).toString('hex');
}

export function shortId(id: string): string {
  return id.slice(0, 12);
}

export function checkName(name: string): string {
  if (!NAME_PATTERN.test(name)) throw new LearnerError('container.nameInvalid', { name });
  return name;
}

// Our own word lists (easy to read aloud in a classroom, nothing that could offend).
const ADJECTIVES = [
  'agile', 'amber', 'brave', 'bright', 'busy', 'calm', 'cheerful', 'clever', 'cosy', 'curious',
  'daring', 'eager', 'early', 'fancy', 'fearless', 'friendly', 'frosty', 'gentle', 'golden', 'happy',
  'honest', 'humble', 'jolly', 'keen', 'kind', 'lively', 'lucky', 'mellow', 'merry', 'mighty',
  'modest', 'nimble', 'noble', 'patient', 'plucky', 'polite', 'proud', 'quick', 'quiet', 'rapid',
  'ready', 'shiny', 'silent', 'sleepy', 'snappy', 'steady', 'sunny', 'swift', 'tidy', 'tiny',
  'upbeat', 'vivid', 'warm', 'wise', 'witty', 'zesty',
] as const;

const NOUNS = [
  'badger', 'beaver', 'bison', 'cedar', 'comet', 'crane', 'dolphin', 'falcon', 'fern', 'finch',
  'gecko', 'glacier', 'harbor', 'hedgehog', 'heron', 'ibis', 'jaguar', 'kestrel', 'koala', 'lantern',
  'lynx', 'maple', 'marmot', 'meadow', 'meerkat', 'nebula', 'newt', 'orca', 'osprey', 'otter',
  'owl', 'panda', 'pebble', 'pelican', 'penguin', 'puffin', 'quokka', 'raven', 'reef', 'robin',
  'salmon', 'sparrow', 'spruce', 'squirrel', 'tapir', 'tern', 'tortoise', 'tulip', 'walrus', 'willow',
  'wombat', 'yak', 'zebra',
] as const;

/** `adjective_noun`; after many collisions a digit is appended, as Docker does. */
export function generateName(taken: ReadonlySet<string>): string {
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = `${ADJECTIVES[randomInt(ADJECTIVES.length)]}_${NOUNS[randomInt(NOUNS.length)]}`;
    const name = attempt < 20 ? base : `${base}${randomInt(10)}`;
    if (!taken.has(name)) return name;
  }
  // 56 × 53 × 11 names: a session with a few dozen containers never gets here.
  return `container_${randomBytes(4).toString('hex')}`;
}
