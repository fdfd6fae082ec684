import { LogLevel, type Logger } from '@slack/web-api';

/** The slice of a pino (or Fastify) logger the Slack connector writes to. */
export interface PinoLike {
  debug(details: object, message: string): void;
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
  error(details: object, message: string): void;
}

function split(messages: readonly unknown[]): { details: object; message: string } {
  const error = messages.find((part): part is Error => part instanceof Error);
  const text = messages
    .filter((part) => !(part instanceof Error))
    .map((part) => (typeof part === 'string' ? part : JSON.stringify(part)))
    .join(' ');
  return { details: error ? { err: error, component: 'slack' } : { component: 'slack' }, message: text || error?.message || '' };
}

/**
 * Bolt's Logger (@slack/logger) over the server's pino logger, so Bolt's own warnings land in the
 * same structured log as everything else. Pino's level decides what is written; Bolt's level is kept
 * only to answer getLevel().
 */
export function boltLogger(target: PinoLike): Logger {
  let level = LogLevel.INFO;
  const forwardTo =
    (method: keyof PinoLike) =>
    (...messages: unknown[]): void => {
      const { details, message } = split(messages);
      target[method](details, message);
    };
  return {
    debug: forwardTo('debug'),
    info: forwardTo('info'),
    warn: forwardTo('warn'),
    error: forwardTo('error'),
    setLevel: (next) => {
      level = next;
    },
    getLevel: () => level,
    setName: () => undefined,
  };
}

/** Writes nothing; for tests and embedders that do not want Bolt's output. */
export const silentPino: PinoLike = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};
