import { isUtf8 } from 'node:buffer';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { z } from 'zod';
import { ConsentryError, describeIssues, isConsentryError, type ErrorCode, type FieldIssue } from '../core/errors.js';
import { isPublicEventType, OutboundMessageDataSchema } from '../core/events.js';
import { jsonSyntaxError } from '../core/json-syntax.js';
import { ConsentStates, earliestOccurrenceMessage, governingDecision, isBeforeEarliestOccurrence } from '../core/ledger.js';
import { shownValue } from '../core/required.js';
import { isPrivacyTag } from '../engine/contacts.js';
import { InboundChannelSchema, InboundMessageSchema, parseInput } from '../engine/inputs.js';
import type { ReplyOption } from '../engine/unit-of-work.js';
import type { Engine, WorkspaceEngine } from '../engine.js';
import { createEngine } from '../engine.js';
import { FakeClock } from '../ports/clock.js';
import type { StoredEvent } from '../ports/store.js';
import { createMemoryStore } from '../store/memory.js';
import { getTemplate, readAnswer, TEMPLATE_IDS } from '../core/workflow/index.js';
import { ZonedDateTimeSchema, zonedDateTimeMessage } from '../core/time.js';
import type { CliIo } from './io.js';
import { cannotRead, CliFailure, CliRefusal, writeLine } from './io.js';
import { firstInvalidUtf8Offset } from './utf8.js';
import { foldAsciiCase } from '../core/text.js';

/** One or more parts, each unit once and largest first as people write them: `30s`, `6m`, `4m59s`, `1h30m`, `1.5h`. */
const DURATION = /^(?=\d)(?:\d+(?:\.\d+)?d)?(?:\d+(?:\.\d+)?h)?(?:\d+(?:\.\d+)?m)?(?:\d+(?:\.\d+)?s)?(?:\d+(?:\.\d+)?ms)?$/;
/** Parts in any order or repeated (`30s1m`, `1m1m`): a duration, but not one a person would write on purpose. */
const DURATION_PARTS_ANY_ORDER = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/;
const DURATION_PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DAY_MS = 86_400_000;
/**
 * Workflow waits last at most 7 days (DESIGN §4, MAX_WAIT_SECONDS), so a step of a year (leap
 * or not) covers any of them many times over; anything longer is a typing slip, refused rather
 * than pushing the simulated clock out of the range timestamps can be written in.
 */
const MAX_STEP_DAYS = 366;

/** Milliseconds of a duration such as `30s`, `6m`, `4m59s`, `1h` or `2d`, or why the text is not one. */
function readDuration(text: string): { ok: true; ms: number } | { ok: false; message: string } {
  const trimmed = text.trim();
  if (!DURATION.test(trimmed)) {
    const order = DURATION_PARTS_ANY_ORDER.test(trimmed) ? ': write each unit once, largest first (d, h, m, s, ms)' : '';
    return { ok: false, message: `"${text}" is not a duration such as 30s, 6m, 4m59s or 1h${order}` };
  }
  let exact = 0;
  for (const [, amount, unit] of trimmed.matchAll(DURATION_PART)) exact += Number(amount) * (UNIT_MS[unit ?? ''] ?? 0);
  const ms = Math.round(exact);
  if (ms > MAX_STEP_DAYS * DAY_MS) return { ok: false, message: `"${text}" is longer than ${MAX_STEP_DAYS} days, the most one step may wait` };
  return { ok: true, ms };
}

export function parseDuration(text: string): number {
  const reading = readDuration(text);
  if (!reading.ok) throw new CliRefusal(reading.message);
  return reading.ms;
}

/** What a step's `after` that is not even text is refused with: a bare number has no unit, so it says what one looks like. */
const notDurationText = (value: unknown) => `${shownValue(value)} is not a duration: write one as text, such as "30s", "6m", "4m59s" or "1h"`;

const StepDurationSchema = z.string({ error: (issue) => notDurationText(issue.input) }).superRefine((text, ctx) => {
  const reading = readDuration(text);
  if (!reading.ok) ctx.addIssue({ code: 'custom', message: reading.message });
});

/** Stores keep timestamps as `toISOString` text with a four-digit year, so simulated time ends with year 9999. */
const LATEST_INSTANT = '9999-12-31T23:59:59.999Z';
const LATEST_INSTANT_MS = Date.parse(LATEST_INSTANT);

/**
 * When the simulated clock starts: an RFC 3339 date and time with its offset, so that it names the
 * same instant wherever the transcript is replayed; one without a zone is refused rather than read
 * in the zone of the machine that runs it. The engine records no decision before 1970
 * (EARLIEST_OCCURRENCE, as the API refuses such an occurredAt), and ULIDs cannot spell an earlier
 * time (https://github.com/ulid/spec#specification: milliseconds since the Unix epoch): an earlier
 * start is refused as itself, not later as a step's decision time that the transcript does not have.
 */
const StartSchema = z
  .string()
  .transform((text, ctx) => {
    const written = text.trim().toUpperCase();
    if (!ZonedDateTimeSchema.safeParse(written).success) {
      ctx.addIssue({ code: 'custom', message: zonedDateTimeMessage(text.trim()) });
      return z.NEVER;
    }
    if (isBeforeEarliestOccurrence(written)) {
      ctx.addIssue({ code: 'custom', message: earliestOccurrenceMessage(text) });
      return z.NEVER;
    }
    const instant = Date.parse(written);
    if (instant > LATEST_INSTANT_MS) {
      ctx.addIssue({ code: 'custom', message: `${shownValue(text)} is after ${LATEST_INSTANT}, the latest time the simulated clock can show` });
      return z.NEVER;
    }
    return new Date(instant).toISOString();
  });

/** A channel in any letter case (`SMS`, `WhatsApp`), read as the channel it names. */
const TranscriptChannelSchema = z.string().transform(foldAsciiCase).pipe(InboundChannelSchema);

export const TranscriptSchema = z
  .object({
    template: z.string().min(1),
    channel: TranscriptChannelSchema.default('whatsapp'),
    start: StartSchema.default('2026-01-01T09:00:00.000Z'),
    /**
     * A settings patch over the simulated workspace's defaults, read as PATCH /v1/settings reads
     * one (a JSON Merge Patch, RFC 7396): null resets a setting to the workspace default, which
     * for both is none; the engine checks the values as it checks the API's.
     */
    settings: z
      .object({
        privacyPolicyUrl: z.string().url().nullable().optional(),
        defaultCountry: z.string().nullable().optional(),
      })
      .strict()
      .default({}),
    contact: z
      .object({
        name: z.string().nullable().default(null),
        email: z.string().nullable().default(null),
        phone: z.string().nullable().default(null),
        tags: z.array(z.string()).default([]),
      })
      .strict()
      .default({ name: null, email: null, phone: null, tags: [] }),
    steps: z.array(
      z
        .object({
          after: StepDurationSchema.default('0s'),
          // The inbound message's own limits: a step the engine would refuse is refused here, named by its index.
          text: InboundMessageSchema.shape.text,
          button: InboundMessageSchema.shape.button,
        })
        .strict(),
    ),
  })
  .strict();
export type Transcript = z.input<typeof TranscriptSchema>;

/** A transcript file may leave its channel to `--channel`. */
const TranscriptFileSchema = TranscriptSchema.extend({ channel: TranscriptChannelSchema.optional() });
type InboundChannel = z.output<typeof InboundChannelSchema>;

export type TranscriptLine =
  | { kind: 'reply'; at: string; text: string; options: string[] }
  | { kind: 'event'; at: string; type: string; data: unknown }
  | {
      kind: 'state';
      tags: string[];
      /** The contact's e-mail and phone, null when unknown, as the API's contact shows them. */
      email: string | null;
      phone: string | null;
      /** The contact's custom fields with its e-mail and phone among them, the fields a template's question saves to (the transcript format). */
      fields: Record<string, string>;
      consents: { purpose: string; channel: string; status: string; legalBasis: string | null }[];
      conversation: 'open' | 'closed';
    };

const CONTACT_ID_ON_CHANNEL = 'simulated-contact';
const DEFAULT_POLICY_URL = 'https://example.com/privacy';
/**
 * A reply joins the outbox (as `message.outbound`, in its place among the events) only in a
 * workspace with an outbound webhook: the simulated workspace has one, so the outbox orders what
 * the contact was sent among what happened. No dispatcher runs in a simulation: nothing is POSTed.
 */
const SIMULATED_CHANNEL_WEBHOOK = 'https://example.com/simulated-channel';
const OUTBOX_PAGE = 500;

interface Simulation {
  engine: Engine;
  workspace: WorkspaceEngine;
  clock: FakeClock;
  contactId: string;
  channel: InboundChannel;
  messageCount: number;
  /** The outbox position of the last thing printed. */
  outboxPosition: number;
  /** The buttons of the latest reply that had any: what a click can still send (chat apps keep them on screen). */
  offered: readonly ReplyOption[];
}

/** A transcript error at `path` (`steps.3.text`), worded as the transcript's parse errors are; `code` is the engine's when it refused the value. */
function transcriptError(issues: readonly FieldIssue[], code: ErrorCode = 'VALIDATION_FAILED'): ConsentryError {
  return new ConsentryError(code, `Invalid transcript: ${describeIssues(issues)}`, issues);
}

/** The engine's refusals of a value the transcript gives: a malformed field, e-mail or phone. */
const REFUSED_VALUE: ReadonlySet<ErrorCode> = new Set(['VALIDATION_FAILED', 'INVALID_EMAIL', 'INVALID_PHONE']);

/** Runs `work`, naming where in the transcript (`transcriptPath` of the engine's path) a value the engine refuses stands. */
async function naming<T>(transcriptPath: (enginePath: string) => string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (!isConsentryError(error) || !REFUSED_VALUE.has(error.code)) throw error;
    const issues = error.issues.length > 0 ? error.issues : [{ path: '', message: error.message }];
    throw transcriptError(issues.map((issue) => ({ path: transcriptPath(issue.path), message: issue.message })), error.code);
  }
}

/** Runs `work`, naming the part of the transcript (`settings`, `contact`, `steps.3`) a refusal is about, with the engine's path below it (`contact.email`). */
async function within<T>(prefix: string, work: () => Promise<T>): Promise<T> {
  return naming((path) => (path ? `${prefix}.${path}` : prefix), work);
}

async function lastOutboxPosition(engine: Engine): Promise<number> {
  let position = 0;
  for (;;) {
    const page = await engine.readEventsAfter(position, OUTBOX_PAGE);
    const last = page[page.length - 1];
    if (!last) return position;
    position = last.position;
  }
}

/**
 * `Consent: Privacy` follows the contact's privacy decision, and the engine refuses it added by
 * hand without an opt-in in force (engine/contacts.ts): a transcript's contact given the tag is one
 * who agreed before the transcript starts, so that opt-in is recorded, and it adds the tag.
 */
async function agreedBefore(workspace: WorkspaceEngine, contactId: string, channel: InboundChannel): Promise<void> {
  await workspace.setConsent({
    contactId,
    purpose: 'privacy',
    channel,
    status: 'opted_in',
    legalBasis: 'CONSENT_WITH_NOTICE',
    explanation: 'Agreed to the privacy policy before the simulated conversation (the transcript tags the contact Consent: Privacy)',
    source: 'manual',
    actor: { kind: 'system', id: 'simulate' },
  });
}

/** The template a transcript names, or its refusal named as the transcript's other errors are, under the engine's code. */
function knownTemplate(template: string): void {
  if (TEMPLATE_IDS.includes(template)) return;
  throw transcriptError([{ path: 'template', message: `unknown template ${shownValue(template)}: one of ${TEMPLATE_IDS.join(', ')}` }], 'UNKNOWN_TEMPLATE');
}

async function setUp(script: z.output<typeof TranscriptSchema>): Promise<Simulation> {
  knownTemplate(script.template);
  const clock = new FakeClock(script.start);
  const engine = createEngine({ store: createMemoryStore(), clock });
  const ws = await within('settings', () =>
    engine.createWorkspace({
      name: 'Simulation',
      settings: {
        privacyPolicyUrl: script.settings.privacyPolicyUrl === undefined ? DEFAULT_POLICY_URL : script.settings.privacyPolicyUrl,
        defaultCountry: script.settings.defaultCountry ?? null,
        triggers: [{ trigger: 'conversation_opened', template: script.template, enabled: true }],
        outboundWebhookUrl: SIMULATED_CHANNEL_WEBHOOK,
      },
    }),
  );
  const workspace = engine.workspace(ws.id);
  const contact = await within('contact', () =>
    workspace.createContact({
      name: script.contact.name,
      email: script.contact.email,
      phone: script.contact.phone,
      identities: [{ channel: script.channel, externalId: CONTACT_ID_ON_CHANNEL }],
    }),
  );
  // Tagged one by one, so that a tag the engine refuses (its path is `tag`, or none) is named by its place in the list.
  let agreed = false;
  for (const [index, tag] of script.contact.tags.entries()) {
    if (!isPrivacyTag(tag)) await naming(() => `contact.tags.${index}`, () => workspace.addTag(contact.id, tag));
    else if (!agreed) {
      await agreedBefore(workspace, contact.id, script.channel);
      agreed = true;
    }
  }
  return {
    engine,
    workspace,
    clock,
    contactId: contact.id,
    channel: script.channel,
    messageCount: 0,
    outboxPosition: await lastOutboxPosition(engine),
    offered: [],
  };
}

/** The transcript line of an outbox item: a reply for `message.outbound`, an event for a public event, nothing for the rest. */
function lineOf(event: StoredEvent): { line: TranscriptLine; options: readonly ReplyOption[] } | null {
  if (event.type === 'message.outbound') {
    const message = OutboundMessageDataSchema.parse(event.data);
    const options = message.options ?? [];
    return { line: { kind: 'reply', at: event.occurredAt, text: message.text, options: options.map((o) => o.label) }, options };
  }
  if (!isPublicEventType(event.type)) return null;
  return { line: { kind: 'event', at: event.occurredAt, type: event.type, data: event.data }, options: [] };
}

/** Prints what the engine did since the last call, replies and events in the order they happened. */
async function emitHappened(sim: Simulation, emit: (line: TranscriptLine) => void): Promise<void> {
  for (;;) {
    const page = await sim.engine.readEventsAfter(sim.outboxPosition, OUTBOX_PAGE);
    if (page.length === 0) return;
    for (const event of page) {
      sim.outboxPosition = event.position;
      const happened = lineOf(event);
      if (!happened) continue;
      if (happened.options.length > 0) sim.offered = happened.options;
      emit(happened.line);
    }
  }
}

/** What letting time pass came to: done, refused (past LATEST_INSTANT), or stopped by a timer that failed. */
type TimePassing = { outcome: 'done' } | { outcome: 'past_latest_instant' } | { outcome: 'timer_failed'; message: string };

/**
 * Lets `ms` pass, firing each timer at its own due time. A timer whose firing fails stops the
 * simulation: the engine ends such a run (a scheduler must not retry it forever), and a transcript
 * that went on would show a conversation the workflow no longer drives.
 */
async function letTimePass(sim: Simulation, ms: number, emit: (line: TranscriptLine) => void): Promise<TimePassing> {
  const target = sim.clock.now().getTime() + ms;
  if (target > LATEST_INSTANT_MS) return { outcome: 'past_latest_instant' };
  for (;;) {
    const next = await sim.engine.store.transaction((tx) => tx.listDueTimers(new Date(target).toISOString(), 1));
    const due = next[0];
    if (!due) break;
    const dueAt = new Date(due.dueAt);
    if (dueAt.getTime() > sim.clock.now().getTime()) sim.clock.set(dueAt);
    const firings = await sim.engine.runDueTimers(sim.clock.now());
    await emitHappened(sim, emit);
    const failed = firings.find((firing) => firing.error !== null);
    if (failed) {
      return {
        outcome: 'timer_failed',
        message: `the timer of workflow run ${failed.runId} fired at ${sim.clock.now().toISOString()} and failed (${failed.error}); ${failed.retry ? 'the store failed, not the run' : 'the engine ended the run'}`,
      };
    }
  }
  sim.clock.set(target);
  return { outcome: 'done' };
}

const pastLatestInstant = (duration: string) => `"${duration}" would take the simulated clock past ${LATEST_INSTANT}, the latest time it can show`;

/**
 * Why a click on `button` is not one the contact could make, or null when it is. A button is
 * matched to the offered ones as the engine matches a message's button to a question's options
 * (readAnswer): an id exactly, a label in any letter case (some channels send a button's title).
 * A button that was never offered is a slip in the transcript or the session: sent, it would only
 * count as an invalid answer, and the replay would test something else than meant.
 */
function unofferedButton(sim: Simulation, button: string): string | null {
  if (readAnswer({ questionType: 'multiple_choice', options: [...sim.offered] }, { text: null, button }, null) !== null) return null;
  if (sim.offered.length === 0) return `${JSON.stringify(button)} was not offered: no reply has offered buttons yet`;
  const listed = sim.offered.map((option) => (option.buttonId === undefined ? JSON.stringify(option.label) : `${JSON.stringify(option.label)} (id ${JSON.stringify(option.buttonId)})`));
  return `${JSON.stringify(button)} is not one of the buttons last offered: ${listed.join(', ')}`;
}

async function send(sim: Simulation, input: { text?: string; button?: string }, emit: (line: TranscriptLine) => void): Promise<void> {
  sim.messageCount++;
  await sim.workspace.handleInbound({
    channel: sim.channel,
    messageId: `sim-${sim.messageCount}`,
    from: { id: CONTACT_ID_ON_CHANNEL },
    ...(input.text !== undefined ? { text: input.text } : {}),
    ...(input.button !== undefined ? { button: input.button } : {}),
  });
  await emitHappened(sim, emit);
}

async function finalState(sim: Simulation): Promise<TranscriptLine> {
  const contact = await sim.workspace.getContact(sim.contactId);
  const { states } = await sim.workspace.getConsents(sim.contactId);
  const indexed = new ConsentStates(states);
  const open = await sim.engine.store.transaction((tx) => tx.getOpenConversation(sim.workspace.workspaceId, sim.contactId, sim.channel));
  return {
    kind: 'state',
    tags: [...contact.tags],
    email: contact.email,
    phone: contact.phone,
    fields: { ...contact.fields, ...(contact.email ? { email: contact.email } : {}), ...(contact.phone ? { phone: contact.phone } : {}) },
    consents: states.map((stored) => {
      // The row's own status may be overruled by a later decision on channel `any` (STOP ALL);
      // show what the permission check decides, so the state never claims more than is allowed.
      const { effectiveStatus, overriddenBy } = governingDecision(indexed, stored);
      return { purpose: stored.purpose, channel: stored.channel, status: effectiveStatus, legalBasis: (overriddenBy ?? stored).legalBasis };
    }),
    conversation: open ? 'open' : 'closed',
  };
}

/** Replays a transcript against a workflow on a fake clock and an in-memory store. */
export async function runTranscript(input: unknown): Promise<TranscriptLine[]> {
  return replay(parseInput(TranscriptSchema, input, 'transcript'));
}

async function replay(script: z.output<typeof TranscriptSchema>): Promise<TranscriptLine[]> {
  const sim = await setUp(script);
  const lines: TranscriptLine[] = [];
  const emit = (line: TranscriptLine) => lines.push(line);
  for (const [index, given] of script.steps.entries()) {
    const path = `steps.${index}`;
    // A null text or button is absent, as in a message sent to the API.
    const step = { after: given.after, ...(given.text == null ? {} : { text: given.text }), ...(given.button == null ? {} : { button: given.button }) };
    const passing = await letTimePass(sim, parseDuration(step.after), emit);
    if (passing.outcome === 'past_latest_instant') throw transcriptError([{ path: `${path}.after`, message: pastLatestInstant(step.after) }]);
    if (passing.outcome === 'timer_failed') throw transcriptError([{ path: `${path}.after`, message: passing.message }]);
    if (step.button !== undefined) {
      const unoffered = unofferedButton(sim, step.button);
      if (unoffered !== null) throw transcriptError([{ path: `${path}.button`, message: `${unoffered}; an answer the contact types is a "text" step` }]);
    }
    if (step.text !== undefined || step.button !== undefined) await within(path, () => send(sim, step, emit));
  }
  lines.push(await finalState(sim));
  return lines;
}

export interface SimulateOptions {
  template?: string;
  channel?: string;
  script?: string;
}

function knownChannel(text: string): InboundChannel {
  const parsed = InboundChannelSchema.safeParse(foldAsciiCase(text));
  if (!parsed.success) throw new CliRefusal(`unknown channel "${text}"; available: ${InboundChannelSchema.options.join(', ')}`);
  return parsed.data;
}

export async function simulateCommand(options: SimulateOptions, io: CliIo): Promise<void> {
  if (options.template !== undefined) getTemplate(options.template);
  const channel = options.channel === undefined ? undefined : knownChannel(options.channel);
  if (options.script !== undefined) {
    await replayFile(options.script, { template: options.template, channel }, io);
    return;
  }
  if (options.template === undefined) throw new CliRefusal(`--template is required without --script (one of ${TEMPLATE_IDS.join(', ')})`);
  await interactive({ template: options.template, channel: channel ?? 'whatsapp' }, io);
}

/**
 * The byte order mark some editors (Notepad, Visual Studio) start a UTF-8 file with; JSON text
 * must not start with one (RFC 8259 §8.1), and a parser may ignore it, so it is dropped, as
 * `import` drops it from a CSV file.
 */
const BYTE_ORDER_MARK = '\uFEFF';

/**
 * The file's text, refused when it is not UTF-8 (RFC 8259 §8.1: JSON exchanged between systems is
 * UTF-8), as `import` refuses a CSV file: read as UTF-8, a Latin-1 or Windows-1252 "é" would turn
 * into U+FFFD and be sent to the workflow as another text than the one written.
 */
function utf8Text(file: string, bytes: Buffer): string {
  if (isUtf8(bytes)) return bytes.toString('utf8');
  const offset = firstInvalidUtf8Offset(bytes) ?? bytes.length;
  const byte = bytes[offset] ?? 0;
  const line = bytes.subarray(0, offset).filter((b) => b === 0x0a).length + 1;
  throw new CliRefusal(`${file} is not UTF-8: byte 0x${byte.toString(16).toUpperCase().padStart(2, '0')} at byte offset ${offset} (line ${line}); save it as UTF-8`);
}

/** What the engine refused in the transcript, with the file it is in named first, as the file's other errors name it. */
async function inFile<T>(file: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (!isConsentryError(error)) throw error;
    throw new ConsentryError(error.code, `${file}: ${error.message}`, error.issues);
  }
}

async function replayFile(file: string, given: { template: string | undefined; channel: InboundChannel | undefined }, io: CliIo): Promise<void> {
  const bytes = await readFile(file).catch((error: unknown) => {
    throw cannotRead(file, error);
  });
  const read = utf8Text(file, bytes);
  const text = read.startsWith(BYTE_ORDER_MARK) ? read.slice(BYTE_ORDER_MARK.length) : read;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new CliRefusal(`${file} is not JSON: ${jsonSyntaxError(text, error)}`);
  }
  const script = await inFile(file, async () => parseInput(TranscriptFileSchema, json, 'transcript'));
  // Running something other than what was asked for would make the output look like the wrong workflow's.
  if (given.template !== undefined && given.template !== script.template) {
    throw new CliRefusal(`--template "${given.template}" differs from the script's template "${script.template}"; leave --template out or make them agree`);
  }
  if (given.channel !== undefined && script.channel !== undefined && given.channel !== script.channel) {
    throw new CliRefusal(`--channel "${given.channel}" differs from the script's channel "${script.channel}"; leave --channel out or make them agree`);
  }
  const lines = await inFile(file, () => replay({ ...script, channel: script.channel ?? given.channel ?? 'whatsapp' }));
  for (const line of lines) writeLine(io.stdout, JSON.stringify(line));
}

async function interactive(options: { template: string; channel: InboundChannel }, io: CliIo): Promise<void> {
  const script = parseInput(TranscriptSchema, { template: options.template, channel: options.channel, steps: [] }, 'simulation');
  const sim = await setUp(script);
  const show = (line: TranscriptLine) => {
    if (line.kind === 'reply') {
      writeLine(io.stdout, `bot> ${line.text}${line.options.length ? `  [${line.options.join(' | ')}]` : ''}`);
    } else if (line.kind === 'event') {
      writeLine(io.stdout, `  · event ${line.type}`);
    }
  };
  writeLine(
    io.stdout,
    `Chatting with "${options.template}" on ${options.channel}. Type a message ("//text" sends "/text"), "/button LABEL", "/wait 6m", "/state" or "/quit".`,
  );
  const rl = createInterface({ input: io.stdin, crlfDelay: Infinity });
  for await (const raw of rl) {
    try {
      if ((await chatLine(sim, raw, show, io)) === 'quit') break;
    } catch (error) {
      // A mistyped line must not end the session: say what was wrong and read the next one.
      if (error instanceof CliFailure) writeLine(io.stderr, `error: ${error.message}`);
      else if (isConsentryError(error)) writeLine(io.stderr, `error [${error.code}]: ${error.message}`);
      else throw error;
    }
  }
  rl.close();
}

/** One line typed in an interactive session: a command when it starts with a single `/`, otherwise a message. */
async function chatLine(sim: Simulation, raw: string, show: (line: TranscriptLine) => void, io: CliIo): Promise<'quit' | 'go_on'> {
  const line = raw.trim();
  if (line.length === 0) return 'go_on';
  if (line.startsWith('//')) {
    await send(sim, { text: raw.trimStart().slice(1) }, show);
    return 'go_on';
  }
  if (!line.startsWith('/')) {
    await send(sim, { text: raw }, show);
    return 'go_on';
  }
  const space = line.search(/\s/);
  const command = space === -1 ? line : line.slice(0, space);
  const argument = space === -1 ? '' : line.slice(space).trim();
  const usage = (text: string) => writeLine(io.stderr, `usage: ${text}`);
  switch (command) {
    case '/quit':
      if (argument === '') return 'quit';
      usage('/quit (no argument)');
      return 'go_on';
    case '/state':
      if (argument === '') writeLine(io.stdout, JSON.stringify(await finalState(sim)));
      else usage('/state (no argument)');
      return 'go_on';
    case '/wait':
      if (argument === '') usage('/wait DURATION, e.g. /wait 30s, /wait 6m, /wait 1h');
      else {
        const passing = await letTimePass(sim, parseDuration(argument), show);
        if (passing.outcome === 'past_latest_instant') throw new CliFailure(pastLatestInstant(argument));
        if (passing.outcome === 'timer_failed') throw new CliFailure(passing.message);
      }
      return 'go_on';
    case '/button': {
      if (argument === '') {
        usage('/button LABEL, e.g. /button AGREE & PROCEED');
        return 'go_on';
      }
      const unoffered = unofferedButton(sim, argument);
      if (unoffered !== null) throw new CliFailure(`${unoffered}; to type an answer, send it as a message`);
      await send(sim, { button: argument }, show);
      return 'go_on';
    }
    default:
      writeLine(io.stderr, `error: unknown command "${command}"; commands are /button LABEL, /wait DURATION, /state and /quit; //text sends "/text"`);
      return 'go_on';
  }
}
