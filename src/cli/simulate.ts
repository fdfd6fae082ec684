import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { z } from 'zod';
import { ConsentryError, isConsentryError } from '../core/errors.js';
import { effectiveStatus } from '../core/ledger.js';
import { InboundChannelSchema, parseInput } from '../engine/inputs.js';
import type { Engine, WorkspaceEngine } from '../engine.js';
import { createEngine } from '../engine.js';
import { FakeClock } from '../ports/clock.js';
import type { StoredEvent } from '../ports/store.js';
import { createMemoryStore } from '../store/memory.js';
import { getTemplate, TEMPLATE_IDS } from '../core/workflow/index.js';
import type { CliIo } from './io.js';
import { CliFailure, writeLine } from './io.js';

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DAY_MS = 86_400_000;
/**
 * Workflow waits last at most 7 days (DESIGN §4, MAX_WAIT_SECONDS), so a step of a year (leap
 * or not) covers any of them many times over; anything longer is a typing slip, refused rather
 * than pushing the simulated clock out of the range timestamps can be written in.
 */
const MAX_STEP_DAYS = 366;

/** Milliseconds of a duration such as `30s`, `6m`, `1h` or `2d`, or why the text is not one. */
function readDuration(text: string): { ok: true; ms: number } | { ok: false; message: string } {
  const match = DURATION.exec(text.trim());
  if (!match || match[1] === undefined || match[2] === undefined) return { ok: false, message: `"${text}" is not a duration such as 30s, 6m or 1h` };
  const ms = Math.round(Number(match[1]) * (UNIT_MS[match[2]] ?? 0));
  if (ms > MAX_STEP_DAYS * DAY_MS) return { ok: false, message: `"${text}" is longer than ${MAX_STEP_DAYS} days, the most one step may wait` };
  return { ok: true, ms };
}

export function parseDuration(text: string): number {
  const reading = readDuration(text);
  if (!reading.ok) throw new CliFailure(reading.message);
  return reading.ms;
}

const StepDurationSchema = z.string().superRefine((text, ctx) => {
  const reading = readDuration(text);
  if (!reading.ok) ctx.addIssue({ code: 'custom', message: reading.message });
});

export const TranscriptSchema = z
  .object({
    template: z.string().min(1),
    channel: InboundChannelSchema.default('whatsapp'),
    start: z.iso.datetime().default('2026-01-01T09:00:00.000Z'),
    settings: z
      .object({
        privacyPolicyUrl: z.string().url().optional(),
        defaultCountry: z.string().optional(),
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
          text: z.string().optional(),
          button: z.string().optional(),
        })
        .strict(),
    ),
  })
  .strict();
export type Transcript = z.input<typeof TranscriptSchema>;

/** A transcript file may leave its channel to `--channel`. */
const TranscriptFileSchema = TranscriptSchema.extend({ channel: InboundChannelSchema.optional() });
type InboundChannel = z.output<typeof InboundChannelSchema>;

export type TranscriptLine =
  | { kind: 'reply'; at: string; text: string; options: string[] }
  | { kind: 'event'; at: string; type: string; data: unknown }
  | {
      kind: 'state';
      tags: string[];
      fields: Record<string, string>;
      consents: { purpose: string; channel: string; status: string; legalBasis: string | null }[];
      conversation: 'open' | 'closed';
    };

const CONTACT_ID_ON_CHANNEL = 'simulated-contact';
const DEFAULT_POLICY_URL = 'https://example.com/privacy';

interface Simulation {
  engine: Engine;
  workspace: WorkspaceEngine;
  clock: FakeClock;
  contactId: string;
  channel: InboundChannel;
  messageCount: number;
}

async function setUp(script: z.output<typeof TranscriptSchema>): Promise<Simulation> {
  getTemplate(script.template);
  const clock = new FakeClock(script.start);
  const engine = createEngine({ store: createMemoryStore(), clock });
  const ws = await engine.createWorkspace({
    name: 'Simulation',
    settings: {
      privacyPolicyUrl: script.settings.privacyPolicyUrl ?? DEFAULT_POLICY_URL,
      defaultCountry: script.settings.defaultCountry ?? null,
      triggers: [{ trigger: 'conversation_opened', template: script.template, enabled: true }],
    },
  });
  const workspace = engine.workspace(ws.id);
  const contact = await workspace.createContact({
    name: script.contact.name,
    email: script.contact.email,
    phone: script.contact.phone,
    tags: script.contact.tags,
    identities: [{ channel: script.channel, externalId: CONTACT_ID_ON_CHANNEL }],
  });
  return { engine, workspace, clock, contactId: contact.id, channel: script.channel, messageCount: 0 };
}

function linesFor(at: string, replies: readonly { text: string; options?: readonly { label: string }[] }[], events: readonly StoredEvent[]): TranscriptLine[] {
  return [
    ...replies.map((r): TranscriptLine => ({ kind: 'reply', at, text: r.text, options: (r.options ?? []).map((o) => o.label) })),
    ...events.map((e): TranscriptLine => ({ kind: 'event', at, type: e.type, data: e.data })),
  ];
}

/** Stores keep timestamps as `toISOString` text with a four-digit year, so simulated time ends with year 9999. */
const LATEST_INSTANT = '9999-12-31T23:59:59.999Z';
const LATEST_INSTANT_MS = Date.parse(LATEST_INSTANT);

/** Lets `ms` pass, firing each timer at its own due time; `past_latest_instant` when that would take the clock past `LATEST_INSTANT`. */
async function letTimePass(sim: Simulation, ms: number, emit: (line: TranscriptLine) => void): Promise<'done' | 'past_latest_instant'> {
  const target = sim.clock.now().getTime() + ms;
  if (target > LATEST_INSTANT_MS) return 'past_latest_instant';
  for (;;) {
    const next = await sim.engine.store.transaction((tx) => tx.listDueTimers(new Date(target).toISOString(), 1));
    const due = next[0];
    if (!due) break;
    const dueAt = new Date(due.dueAt);
    if (dueAt.getTime() > sim.clock.now().getTime()) sim.clock.set(dueAt);
    const firings = await sim.engine.runDueTimers(sim.clock.now());
    for (const firing of firings) for (const line of linesFor(sim.clock.now().toISOString(), firing.replies, firing.events)) emit(line);
  }
  sim.clock.set(target);
  return 'done';
}

const pastLatestInstant = (duration: string) => `"${duration}" would take the simulated clock past ${LATEST_INSTANT}, the latest time it can show`;

async function send(sim: Simulation, input: { text?: string; button?: string }, emit: (line: TranscriptLine) => void): Promise<void> {
  sim.messageCount++;
  const result = await sim.workspace.handleInbound({
    channel: sim.channel,
    messageId: `sim-${sim.messageCount}`,
    from: { id: CONTACT_ID_ON_CHANNEL },
    ...(input.text !== undefined ? { text: input.text } : {}),
    ...(input.button !== undefined ? { button: input.button } : {}),
  });
  for (const line of linesFor(sim.clock.now().toISOString(), result.replies, result.events)) emit(line);
}

async function finalState(sim: Simulation): Promise<TranscriptLine> {
  const contact = await sim.workspace.getContact(sim.contactId);
  const { states } = await sim.workspace.getConsents(sim.contactId);
  const open = await sim.engine.store.transaction((tx) => tx.getOpenConversation(sim.workspace.workspaceId, sim.contactId, sim.channel));
  const fields: Record<string, string> = { ...contact.fields };
  if (contact.email) fields.email = contact.email;
  if (contact.phone) fields.phone = contact.phone;
  return {
    kind: 'state',
    tags: [...contact.tags],
    fields,
    consents: states.map((stored) => {
      // The row's own status may be overruled by a later decision on channel `any` (STOP ALL);
      // show what the permission check decides, so the state never claims more than is allowed.
      const governing = effectiveStatus(states, stored.purpose, stored.channel);
      return { purpose: stored.purpose, channel: stored.channel, status: governing.status, legalBasis: (governing.state ?? stored).legalBasis };
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
  for (const [index, step] of script.steps.entries()) {
    if ((await letTimePass(sim, parseDuration(step.after), emit)) === 'past_latest_instant') {
      const path = `steps.${index}.after`;
      const message = pastLatestInstant(step.after);
      throw new ConsentryError('VALIDATION_FAILED', `Invalid transcript: ${path}: ${message}`, [{ path, message }]);
    }
    if (step.text !== undefined || step.button !== undefined) await send(sim, step, emit);
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
  const parsed = InboundChannelSchema.safeParse(text);
  if (!parsed.success) throw new CliFailure(`unknown channel "${text}"; available: ${InboundChannelSchema.options.join(', ')}`);
  return parsed.data;
}

export async function simulateCommand(options: SimulateOptions, io: CliIo): Promise<void> {
  if (options.template !== undefined) getTemplate(options.template);
  const channel = options.channel === undefined ? undefined : knownChannel(options.channel);
  if (options.script !== undefined) {
    await replayFile(options.script, { template: options.template, channel }, io);
    return;
  }
  if (options.template === undefined) throw new CliFailure(`--template is required without --script (one of ${TEMPLATE_IDS.join(', ')})`);
  await interactive({ template: options.template, channel: channel ?? 'whatsapp' }, io);
}

async function replayFile(file: string, given: { template: string | undefined; channel: InboundChannel | undefined }, io: CliIo): Promise<void> {
  const text = await readFile(file, 'utf8').catch((error: unknown) => {
    throw new CliFailure(`Cannot read ${file}: ${error instanceof Error ? error.message : String(error)}`);
  });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new CliFailure(`${file} is not JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  const script = parseInput(TranscriptFileSchema, json, 'transcript');
  // Running something other than what was asked for would make the output look like the wrong workflow's.
  if (given.template !== undefined && given.template !== script.template) {
    throw new CliFailure(`--template "${given.template}" differs from the script's template "${script.template}"; leave --template out or make them agree`);
  }
  if (given.channel !== undefined && script.channel !== undefined && given.channel !== script.channel) {
    throw new CliFailure(`--channel "${given.channel}" differs from the script's channel "${script.channel}"; leave --channel out or make them agree`);
  }
  const lines = await replay({ ...script, channel: script.channel ?? given.channel ?? 'whatsapp' });
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
      else if ((await letTimePass(sim, parseDuration(argument), show)) === 'past_latest_instant') throw new CliFailure(pastLatestInstant(argument));
      return 'go_on';
    case '/button':
      if (argument === '') usage('/button LABEL, e.g. /button AGREE & PROCEED');
      else await send(sim, { button: argument }, show);
      return 'go_on';
    default:
      writeLine(io.stderr, `error: unknown command "${command}"; commands are /button LABEL, /wait DURATION, /state and /quit; //text sends "/text"`);
      return 'go_on';
  }
}
