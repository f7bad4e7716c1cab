/** The contract between the site and the engine: the only code both import. */
export * from './events.js';
export * from './errors.js';
export * from './jobs.js';
export { messages, type MessageKey } from './i18n.js';
export * from './limits.js';
export * from './results.js';
