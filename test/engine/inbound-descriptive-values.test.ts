import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createEngine, type Engine, type WorkspaceEngine } from '../../src/engine.js';
import { InboundMessageSchema, readInboundMessage, type InboundMessage } from '../../src/engine/inputs.js';
import { FakeClock } from '../../src/ports/clock.js';
import { createMemoryStore } from '../../src/store/memory.js';

let engine: Engine;
let ws: WorkspaceEngine;
let next = 0;

beforeEach(async () => {
  engine = createEngine({ store: createMemoryStore(), clock: new FakeClock('2026-03-01T09:00:00.000Z') });
  ws = engine.workspace((await engine.createWorkspace({ name: 'Acme' })).id);
});

afterEach(async () => {
  await engine.store.close();
});

function sms(text: string, from: Record<string, unknown>, extra: Record<string, unknown> = {}): InboundMessage {
  next += 1;
  return { channel: 'sms', messageId: `sm.${next}`, from: { id: '+34600000001', ...from }, text, ...extra };
}

describe('handleInbound never refuses a message for a value that only describes it', () => {
  it.each([
    ['name null', { name: null }, {}],
    ['phone null', { phone: null }, {}],
    ['email null', { email: null }, {}],
    ['timestamp null', {}, { timestamp: null }],
    ['timestamp in epoch seconds', {}, { timestamp: 1_772_352_000 }],
    ['timestamp in epoch milliseconds', {}, { timestamp: 1_772_352_000_000 }],
    ['email a number', { email: 123 }, {}],
    ['name an object', { name: { first: 'Ana' } }, {}],
    ['timestamp of 101 characters', {}, { timestamp: `2026-03-01T08:00:00Z${' '.repeat(81)}` }],
    ['phone of 1,001 characters', { phone: '6'.repeat(1001) }, {}],
    ['email of 1,001 characters', { email: `${'a'.repeat(989)}@example.com` }, {}],
  ])('records the STOP of a message with %s', async (_what, from, extra) => {
    const started = await ws.handleInbound(sms('START', {}));
    const stopped = await ws.handleInbound(sms('STOP', from, extra));
    expect(stopped.contactId).toBe(started.contactId);
    expect(stopped.events.map((event) => event.type)).toEqual(['consent.withdrawn']);
    expect(await ws.canMessage(stopped.contactId, 'sms', 'marketing')).toMatchObject({ allowed: false, reason: 'opted_out' });
    // Dated when received: a number read as an earlier time would leave the START standing.
    const history = await ws.getHistory(stopped.contactId);
    expect(history.find((record) => record.status === 'opted_out')?.occurredAt).toBe('2026-03-01T09:00:00.000Z');
  });

  it('creates the contact without the ignored values, and with those it could read', async () => {
    const answer = await ws.handleInbound(sms('STOP', { name: 'Ana Test', email: 7, phone: null }, { timestamp: '2026-03-01T08:00:00Z' }));
    const contact = await ws.getContact(answer.contactId);
    expect(contact).toMatchObject({ name: 'Ana Test', email: null, phone: '+34600000001' });
  });

  it('still refuses a message whose identifying values or content are not strings', async () => {
    await expect(ws.handleInbound({ channel: 'sms', messageId: 'sm.x', from: { id: '+34600000001' }, text: 7 } as unknown as InboundMessage)).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      issues: [expect.objectContaining({ path: 'text' })],
    });
    await expect(ws.handleInbound({ channel: 'sms', messageId: 'sm.y', from: { id: null }, text: 'STOP' } as unknown as InboundMessage)).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      issues: [expect.objectContaining({ path: 'from.id' })],
    });
  });
});

describe('readInboundMessage', () => {
  const parse = (message: InboundMessage) => readInboundMessage(InboundMessageSchema.parse(message));

  it('reads null as absent, without an issue', () => {
    const { message, ignored } = parse(sms('STOP', { name: null, email: null, phone: null }, { timestamp: null }));
    expect(ignored).toEqual([]);
    expect(message.from).toEqual({ id: '+34600000001' });
    expect('timestamp' in message).toBe(false);
  });

  it('keeps strings within their limits as given, the invalid ones too (judged where they are used)', () => {
    const from = { name: ' Ana Test ', email: 'not-an-email', phone: '+34 600 000 001' };
    const { message, ignored } = parse(sms('STOP', from, { timestamp: 'yesterday' }));
    expect(ignored).toEqual([]);
    expect(message.from).toEqual({ id: '+34600000001', ...from });
    expect(message.timestamp).toBe('yesterday');
  });

  it('names, in field order, each value that is neither a string nor null, or too long, without quoting it', () => {
    const { message, ignored } = parse(sms('STOP', { phone: false, email: 'e'.repeat(1001), name: ` ${'N'.repeat(201)} ` }, { timestamp: 12345 }));
    expect(message.from).toEqual({ id: '+34600000001' });
    expect(message.timestamp).toBeUndefined();
    expect(ignored).toEqual([
      { path: 'from.name', message: 'is longer than 200 characters' },
      { path: 'from.email', message: 'is longer than 1000 characters' },
      { path: 'from.phone', message: 'is a boolean, not a string with a phone number' },
      {
        path: 'timestamp',
        message: 'is a number, not an RFC 3339 date and time with a zone (a number is not read as epoch seconds or milliseconds, as it does not say which)',
      },
    ]);
  });

  it('keeps a name of 200 characters once trimmed, as senderName does', () => {
    const name = `  ${'N'.repeat(200)}  `;
    expect(parse(sms('STOP', { name })).ignored).toEqual([]);
  });

  it('leaves the identifying values and the content as they were', () => {
    const given = sms('STOP', { email: 5 }, { button: 'stop promotions' });
    const { message } = parse(given);
    expect(message).toEqual({ channel: 'sms', messageId: given.messageId, from: { id: '+34600000001' }, text: 'STOP', button: 'stop promotions' });
  });
});
