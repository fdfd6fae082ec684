import { describe, expect, it } from 'vitest';
import { hookMatchesEvent } from '../../src/worker/hook-matching.js';

const tagged = { type: 'contact.tagged' as const, data: { contactId: 'c1', tag: 'VIP' } };
const withdrawn = {
  type: 'consent.withdrawn' as const,
  data: {
    contactId: 'c1',
    purpose: 'marketing',
    channel: 'whatsapp' as const,
    status: 'opted_out' as const,
    legalBasis: null,
    explanation: null,
    source: 'keyword' as const,
    recordId: 'r1',
    occurredAt: '2026-03-01T10:00:00.000Z',
  },
};
const syncFailed = { type: 'sync.failed' as const, data: { integration: 'hubspot', contactId: null, operation: 'upsert', reason: 'boom', retryable: true } };
const outbound = {
  type: 'message.outbound' as const,
  data: { contactId: 'c1', conversationId: null, channel: 'whatsapp' as const, to: '+34600000001', text: 'hi', inReplyTo: null },
};

describe('hookMatchesEvent', () => {
  it('matches the type, or any public type with *', () => {
    expect(hookMatchesEvent({ event: 'contact.tagged', filter: null }, tagged)).toBe(true);
    expect(hookMatchesEvent({ event: 'contact.untagged', filter: null }, tagged)).toBe(false);
    expect(hookMatchesEvent({ event: '*', filter: null }, withdrawn)).toBe(true);
  });

  it('never matches internal outbox items, not even with *', () => {
    expect(hookMatchesEvent({ event: '*', filter: null }, outbound)).toBe(false);
  });

  it('needs every filter key to equal the data value', () => {
    expect(hookMatchesEvent({ event: 'contact.tagged', filter: { tag: 'VIP' } }, tagged)).toBe(true);
    expect(hookMatchesEvent({ event: 'contact.tagged', filter: { tag: 'vip' } }, tagged)).toBe(false);
    expect(hookMatchesEvent({ event: '*', filter: { channel: 'whatsapp', purpose: 'marketing' } }, withdrawn)).toBe(true);
    expect(hookMatchesEvent({ event: '*', filter: { channel: 'whatsapp', purpose: 'privacy' } }, withdrawn)).toBe(false);
    expect(hookMatchesEvent({ event: '*', filter: { missing: 'x' } }, tagged)).toBe(false);
    expect(hookMatchesEvent({ event: '*', filter: {} }, tagged)).toBe(true);
  });

  it('lets an event about channel `any` (STOP ALL) match any channel filter, and only the channel key', () => {
    const everyChannel = { ...withdrawn, data: { ...withdrawn.data, channel: 'any' as const } };
    expect(hookMatchesEvent({ event: 'consent.withdrawn', filter: { channel: 'whatsapp' } }, everyChannel)).toBe(true);
    expect(hookMatchesEvent({ event: 'consent.withdrawn', filter: { channel: 'sms' } }, everyChannel)).toBe(true);
    expect(hookMatchesEvent({ event: 'consent.withdrawn', filter: { channel: 'any' } }, everyChannel)).toBe(true);
    // The other keys still have to match.
    expect(hookMatchesEvent({ event: 'consent.withdrawn', filter: { channel: 'sms', purpose: 'privacy' } }, everyChannel)).toBe(false);
    expect(hookMatchesEvent({ event: 'consent.withdrawn', filter: { channel: 'sms', purpose: 'marketing' } }, everyChannel)).toBe(true);
    // A filter on `any` is literal: it does not take one channel's events.
    expect(hookMatchesEvent({ event: 'consent.withdrawn', filter: { channel: 'any' } }, withdrawn)).toBe(false);
    // Only the channel key widens: a value "any" under another key is compared as it is.
    const anyTag = { type: 'contact.tagged' as const, data: { contactId: 'c1', tag: 'any' } };
    expect(hookMatchesEvent({ event: 'contact.tagged', filter: { tag: 'VIP' } }, anyTag)).toBe(false);
  });

  it('compares numbers and booleans by their text, and never matches null or objects', () => {
    expect(hookMatchesEvent({ event: 'sync.failed', filter: { retryable: 'true' } }, syncFailed)).toBe(true);
    expect(hookMatchesEvent({ event: 'sync.failed', filter: { retryable: 'false' } }, syncFailed)).toBe(false);
    expect(hookMatchesEvent({ event: 'sync.failed', filter: { contactId: 'null' } }, syncFailed)).toBe(false);
  });
});
