import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { z } from 'zod';
import { InboundChannelSchema, parseInput } from '../engine/inputs.js';
import type { Engine, WorkspaceEngine } from '../engine.js';
import { createEngine } from '../engine.js';
import { FakeClock } from '../ports/clock.js';
import type { StoredEvent } from '../ports/store.js';
import { createMemoryStore } from '../store/memory.js';
import { getTemplate } from '../core/workflow/index.js';
import type { CliIo } from './io.js';
import { CliFailure, writeLine } from './io.js';

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDuration(text: string): number {
  const match = DURATION.exec(text.trim());
  if (!match || match[1] === undefined || match[2] === undefined) throw new CliFailure(`Invalid duration "${text}" (use e.g. 30s, 6m, 1h)`);
  return Math.round(Number(match[1]) * (UNIT_MS[match[2]] ?? 0));
}

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
          after: z.string().regex(DURATION, 'after is a duration such as "0s", "30s", "6m" or "1h"').default('0s'),
          text: z.string().optional(),
          button: z.string().optional(),
        })
        .strict(),
    ),
  })
  .strict();
export type Transcript = z.input<typeof TranscriptSchema>;

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
  channel: z.output<typeof InboundChannelSchema>;
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

/** Lets `ms` pass, firing each timer at its own due time. */
async function letTimePass(sim: Simulation, ms: number, emit: (line: TranscriptLine) => void): Promise<void> {
  const target = sim.clock.now().getTime() + ms;
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
}

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
    consents: states.map((s) => ({ purpose: s.purpose, channel: s.channel, status: s.status, legalBasis: s.legalBasis })),
    conversation: open ? 'open' : 'closed',
  };
}

/** Replays a transcript against a workflow on a fake clock and an in-memory store. */
export async function runTranscript(input: unknown): Promise<TranscriptLine[]> {
  const script = parseInput(TranscriptSchema, input, 'transcript');
  const sim = await setUp(script);
  const lines: TranscriptLine[] = [];
  const emit = (line: TranscriptLine) => lines.push(line);
  for (const step of script.steps) {
    await letTimePass(sim, parseDuration(step.after), emit);
    if (step.text !== undefined || step.button !== undefined) await send(sim, step, emit);
  }
  lines.push(await finalState(sim));
  return lines;
}

export async function simulateCommand(options: { template: string; channel: string; script?: string }, io: CliIo): Promise<void> {
  if (options.script) {
    const text = await readFile(options.script, 'utf8').catch((error: unknown) => {
      throw new CliFailure(`Cannot read ${options.script}: ${error instanceof Error ? error.message : String(error)}`);
    });
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw new CliFailure(`${options.script} is not JSON: ${error instanceof Error ? error.message : String(error)}`);
    }
    for (const line of await runTranscript(json)) writeLine(io.stdout, JSON.stringify(line));
    return;
  }
  await interactive(options, io);
}

async function interactive(options: { template: string; channel: string }, io: CliIo): Promise<void> {
  const script = parseInput(TranscriptSchema, { template: options.template, channel: options.channel, steps: [] }, 'simulation');
  const sim = await setUp(script);
  const show = (line: TranscriptLine) => {
    if (line.kind === 'reply') {
      writeLine(io.stdout, `bot> ${line.text}${line.options.length ? `  [${line.options.join(' | ')}]` : ''}`);
    } else if (line.kind === 'event') {
      writeLine(io.stdout, `  · event ${line.type}`);
    }
  };
  writeLine(io.stdout, `Chatting with "${options.template}" on ${options.channel}. Type a message, "/button LABEL", "/wait 6m", "/state" or "/quit".`);
  const rl = createInterface({ input: io.stdin, crlfDelay: Infinity });
  for await (const raw of rl) {
    const line = raw.trim();
    if (line === '/quit') break;
    if (line === '/state') writeLine(io.stdout, JSON.stringify(await finalState(sim)));
    else if (line.startsWith('/wait ')) await letTimePass(sim, parseDuration(line.slice(6)), show);
    else if (line.startsWith('/button ')) await send(sim, { button: line.slice(8) }, show);
    else if (line.length > 0) await send(sim, { text: raw }, show);
  }
  rl.close();
}
