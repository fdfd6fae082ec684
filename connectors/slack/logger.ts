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
 * The members of a Web API request or answer that are kept in the log: what says which call it was,
 * where it went and how it ended. The rest (`text`, `blocks`, `attachments`, a modal's `view`, an
 * answer's echoed `message`) may hold a contact's name, phone, e-mail or message.
 */
const LOGGED_MEMBERS: ReadonlySet<string> = new Set(['ok', 'error', 'warning', 'needed', 'provided', 'channel', 'ts', 'thread_ts', 'response_metadata']);

/**
 * The Web API client (@slack/web-api WebClient.makeRequest and apiCall) writes each request's body
 * and each answer at debug level as `http request body: {json}` and `http request result: {json}`;
 * Bolt writes what it acknowledges as `ack() ... (body: ...)`. Those are written with only the
 * LOGGED_MEMBERS, the others named under `omitted`; an `ack()` body, which may quote a submitted
 * form, is dropped, and so is the text of a listener's error (ERROR_DETAILS_LINE). Every other
 * line (method names, URLs, errors) is passed on as it is.
 */
const PAYLOAD_LINE = /^(http request (?:body|result)): (\{.*\})$/s;
const ACK_LINE = /^(ack\(\) [^(]*)\(body: .*\)$/s;
/**
 * Bolt's receivers write a failing listener as `Error details: ${error}, storedResponse: ${body}`
 * (@slack/bolt HTTPModuleFunctions.defaultProcessEventErrorHandler): the error's text may be an
 * engine message about the contact, and the stored response is what the listener acknowledged.
 * Only the error's class is kept.
 */
const ERROR_DETAILS_LINE = /^Error details: (?:([A-Za-z_$][\w$]*):)?/s;

function withoutContent(message: string): string {
  const ack = ACK_LINE.exec(message);
  if (ack) return `${ack[1]}(body omitted)`;
  const details = ERROR_DETAILS_LINE.exec(message);
  if (details) return `Error details: ${details[1] ?? 'an error'} (message and stored response omitted)`;
  const payload = PAYLOAD_LINE.exec(message);
  if (!payload) return message;
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload[2] ?? '');
  } catch {
    return `${payload[1]}: (omitted)`;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return `${payload[1]}: (omitted)`;
  const kept: Record<string, unknown> = {};
  const omitted: string[] = [];
  for (const [key, value] of Object.entries(parsed)) {
    const plain = typeof value !== 'object' || value === null || key === 'response_metadata';
    if (LOGGED_MEMBERS.has(key) && plain) kept[key] = value;
    else omitted.push(key);
  }
  if (omitted.length > 0) kept.omitted = omitted;
  return `${payload[1]}: ${JSON.stringify(kept)}`;
}

/**
 * Bolt's Logger (@slack/logger) over the server's pino logger, so Bolt's own warnings land in the
 * same structured log as everything else. Pino's level decides what is written; Bolt's level is kept
 * only to answer getLevel(). Bolt hands its WebClient this logger too, so at debug level the alerts
 * it updates would reach the log with their contact data: `withoutContent` keeps them out.
 */
export function boltLogger(target: PinoLike): Logger {
  let level = LogLevel.INFO;
  const forwardTo =
    (method: keyof PinoLike) =>
    (...messages: unknown[]): void => {
      const { details, message } = split(messages);
      target[method](details, withoutContent(message));
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
