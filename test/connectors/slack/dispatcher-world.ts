import type { SetupServer } from 'msw/node';
import { afterEach, beforeEach } from 'vitest';
import { z } from 'zod';
import { MemorySlackAlertStore, type SlackAlertStore } from '../../../connectors/slack/alert-store.js';
import { SlackAlertDispatcher, type SlackDispatcherOptions } from '../../../connectors/slack/dispatcher.js';
import type { ConsentryEvent } from '../../../src/core/events.js';
import type { WorkspaceSettingsInput } from '../../../src/core/settings.js';
import { createEngine, type Engine } from '../../../src/engine.js';
import { FakeClock } from '../../../src/ports/clock.js';
import type { Store } from '../../../src/ports/store.js';
import { createMemoryStore } from '../../../src/store/memory.js';
import type { FakeSlackChat, SlackCall } from './harness.js';
import { consentFailedEvent } from './fixtures.js';

/** An engine, its outbox and an alert store on a fake clock, rebuilt for every test of the file. */

export const TOKEN = 'xoxb-dispatcher-token';
export const CHANNEL = 'C0ALERTS01';
export const T0 = '2026-01-01T10:00:00.000Z';

export interface DispatcherWorld {
  clock: FakeClock;
  store: Store;
  engine: Engine;
  alerts: SlackAlertStore;
}

function freshWorld(): DispatcherWorld {
  const clock = new FakeClock(T0);
  const store = createMemoryStore();
  return { clock, store, engine: createEngine({ store, clock }), alerts: new MemorySlackAlertStore(store) };
}

/** Registers the file's beforeEach/afterEach; the returned object is refilled before each test. */
export function useDispatcherWorld(slack: FakeSlackChat, msw: SetupServer): DispatcherWorld {
  const world = freshWorld();
  beforeEach(async () => {
    await world.store.close();
    slack.reset(msw);
    Object.assign(world, freshWorld());
  });
  afterEach(async () => {
    await world.store.close();
  });
  return world;
}

export function slackSettings(overrides: Record<string, unknown> = {}) {
  return { botToken: TOKEN, signingSecret: 'dispatcher-secret', alertChannel: CHANNEL, allowedUserIds: ['UACTOR1'], ...overrides };
}

export function workspace(world: DispatcherWorld, settings: WorkspaceSettingsInput = { slack: slackSettings() }) {
  return world.engine.createWorkspace({ name: 'Acme', settings });
}

export function dispatcher(world: DispatcherWorld, options: Partial<SlackDispatcherOptions> = {}): SlackAlertDispatcher {
  return new SlackAlertDispatcher({ engine: world.engine, alerts: world.alerts, clock: world.clock, env: {}, ...options });
}

export async function contact(world: DispatcherWorld, workspaceId: string, name = 'Ana Test'): Promise<string> {
  return (await world.engine.workspace(workspaceId).createContact({ name })).id;
}

let eventSeq = 0;
/** Event ids sort in the order they are made, as ULIDs do. */
function eventId(): string {
  eventSeq += 1;
  return `01JEVENT${String(eventSeq).padStart(18, '0')}`;
}

export function consentFailed(world: DispatcherWorld, workspaceId: string, contactId: string, contactName: string | null = null): ConsentryEvent<'consent.failed'> {
  return consentFailedEvent(
    { reason: 'timeout', attempts: 1, contactName },
    { id: eventId(), workspaceId, occurredAt: world.clock.now().toISOString(), contactId },
  );
}

export function optoutReview(world: DispatcherWorld, workspaceId: string, contactId: string, text = 'please stop texting me'): ConsentryEvent<'optout.review_needed'> {
  return {
    id: eventId(),
    type: 'optout.review_needed',
    version: 1,
    workspaceId,
    occurredAt: world.clock.now().toISOString(),
    contactId,
    data: { contactId, channel: 'sms', messageId: `m_${eventSeq}`, text, normalized: text, language: 'en', matchedWord: 'stop' },
  };
}

export function syncFailed(world: DispatcherWorld, workspaceId: string, contactId: string): ConsentryEvent<'sync.failed'> {
  return {
    id: eventId(),
    type: 'sync.failed',
    version: 1,
    workspaceId,
    occurredAt: world.clock.now().toISOString(),
    contactId,
    data: { integration: 'hubspot', contactId, operation: 'upsert contact properties', reason: 'HubSpot answered 403', retryable: false },
  };
}

export async function append(world: DispatcherWorld, ...events: ConsentryEvent[]): Promise<void> {
  await world.store.transaction(async (tx) => {
    for (const event of events) await tx.appendEvent(event);
  });
}

const BlocksSchema = z.array(
  z.object({ type: z.string(), elements: z.array(z.object({ value: z.string().optional(), action_id: z.string().optional() }).passthrough()).optional() }).passthrough(),
);

export function blocksOf(call: SlackCall | undefined): z.infer<typeof BlocksSchema> {
  return BlocksSchema.parse(JSON.parse(call?.form.get('blocks') ?? '[]'));
}

/** The alert id a message's buttons carry; null for a message without buttons (a digest, a sync failure). */
export function alertIdOf(call: SlackCall | undefined): string | null {
  for (const block of blocksOf(call)) {
    if (block.type !== 'actions') continue;
    const value = block.elements?.[0]?.value;
    if (value !== undefined) return value;
  }
  return null;
}

export function isDigest(call: SlackCall): boolean {
  return /Consentry alerts? since/.test(call.form.get('text') ?? '');
}

export function isOptoutReview(call: SlackCall): boolean {
  return (call.form.get('blocks') ?? '').includes('"action_id":"apply_optout"');
}
