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
  data: { contactId: 'c1', conversationId: null, channel: 'whatsapp' as const, to: '+34600000001', text: 'hi', inReplyTo: null, inAnswer: false },
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
    expect(hookMatchesEvent({ event: 'contact.tagged', filter: { tag: 'Lead' } }, tagged)).toBe(false);
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

describe('hookMatchesEvent compares filter values as the rest of the API does', () => {
  const CONTACT = '01KN0ZPD3B8CWBWH3A5KJ4G4ZQ';
  const taggedVip = { type: 'contact.tagged' as const, data: { contactId: CONTACT, tag: 'VIP Gold' } };

  it('reads a contact id in any letter case, as a path or a body does', () => {
    expect(hookMatchesEvent({ event: 'contact.tagged', filter: { contactId: CONTACT.toLowerCase() } }, taggedVip)).toBe(true);
    expect(hookMatchesEvent({ event: 'contact.tagged', filter: { contactId: '01kn0zpd3b8cwbwh3a5kj4g4zq' } }, taggedVip)).toBe(true);
    expect(hookMatchesEvent({ event: 'contact.tagged', filter: { contactId: '01KN0ZPD3B8CWBWH3A5KJ4G4ZR' } }, taggedVip)).toBe(false);
    // Other ids Consentry makes are ULIDs too.
    const withdrawnOf = { ...withdrawn, data: { ...withdrawn.data, contactId: CONTACT, recordId: '01KN0ZPD3C0000000000000000' } };
    expect(hookMatchesEvent({ event: 'consent.withdrawn', filter: { recordId: '01kn0zpd3c0000000000000000' } }, withdrawnOf)).toBe(true);
  });

  it('compares tags as tagging does: letter case, spaces around and inside, and Unicode normalisation aside', () => {
    for (const tag of ['VIP Gold', 'vip gold', '  VIP   Gold ', 'vip\tgold']) {
      expect(hookMatchesEvent({ event: 'contact.tagged', filter: { tag } }, taggedVip)).toBe(true);
    }
    const accented = { type: 'contact.tagged' as const, data: { contactId: CONTACT, tag: 'Cliente Fiel Ca\u0301diz' } };
    expect(hookMatchesEvent({ event: 'contact.tagged', filter: { tag: 'cliente fiel c\u00e1diz' } }, accented)).toBe(true);
    expect(hookMatchesEvent({ event: 'contact.tagged', filter: { tag: 'VIPGold' } }, taggedVip)).toBe(false);
  });

  it('compares an instant by its value, and a number by its value', () => {
    expect(hookMatchesEvent({ event: 'consent.withdrawn', filter: { occurredAt: '2026-03-01T11:00:00+01:00' } }, withdrawn)).toBe(true);
    expect(hookMatchesEvent({ event: 'consent.withdrawn', filter: { occurredAt: '2026-03-01T10:00:00Z' } }, withdrawn)).toBe(true);
    expect(hookMatchesEvent({ event: 'consent.withdrawn', filter: { occurredAt: '2026-03-01T10:00:00.001Z' } }, withdrawn)).toBe(false);
    const failed = {
      type: 'consent.failed' as const,
      data: { contactId: CONTACT, channel: 'sms' as const, purpose: 'privacy', reason: 'timeout' as const, attempts: 4, workflowId: 'w', runId: 'r', conversationId: null, contactName: null },
    };
    expect(hookMatchesEvent({ event: 'consent.failed', filter: { attempts: '4' } }, failed)).toBe(true);
    expect(hookMatchesEvent({ event: 'consent.failed', filter: { attempts: '4.0' } }, failed)).toBe(true);
    expect(hookMatchesEvent({ event: 'consent.failed', filter: { attempts: '' } }, failed)).toBe(false);
    expect(hookMatchesEvent({ event: 'consent.failed', filter: { attempts: '5' } }, failed)).toBe(false);
  });

  it('compares other text exactly', () => {
    expect(hookMatchesEvent({ event: 'consent.withdrawn', filter: { purpose: 'Marketing' } }, withdrawn)).toBe(false);
    expect(hookMatchesEvent({ event: 'sync.failed', filter: { integration: 'HubSpot' } }, syncFailed)).toBe(false);
    expect(hookMatchesEvent({ event: 'sync.failed', filter: { integration: 'hubspot' } }, syncFailed)).toBe(true);
  });
});
