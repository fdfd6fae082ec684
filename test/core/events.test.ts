import { describe, expect, it } from 'vitest';
import { ERASED, erasedContactOf, redactEventData, type ConsentryEvent } from '../../src/core/events.js';

function redacted(type: ConsentryEvent['type'], data: Record<string, unknown>): Record<string, unknown> {
  return { ...redactEventData({ type, data: data as unknown as ConsentryEvent['data'] }) };
}

describe('redactEventData', () => {
  it('blanks the quoted message of an opt-out to review and keeps where it came from', () => {
    const data = { contactId: 'c1', channel: 'whatsapp', messageId: 'm1', text: 'please stop, Ana', normalized: 'PLEASE STOP ANA', language: 'en', matchedWord: 'STOP' };
    expect(redacted('optout.review_needed', data)).toEqual({ ...data, text: ERASED, normalized: ERASED, matchedWord: ERASED });
  });

  it('blanks the recipient and text of an outbound message and drops its options', () => {
    const data = { contactId: 'c1', conversationId: null, channel: 'sms', to: '+34600000001', text: 'Hi Ana', options: [{ label: 'YES' }], inReplyTo: null };
    const out = redacted('message.outbound', data);
    expect(out).toMatchObject({ to: ERASED, text: ERASED, channel: 'sms' });
    expect(out).not.toHaveProperty('options');
  });

  it('removes the contact name of a failed consent', () => {
    expect(redacted('consent.failed', { contactId: 'c1', contactName: 'Ana Test', reason: 'timeout' })).toMatchObject({ contactName: null, reason: 'timeout' });
  });

  it('blanks a tag, which can name the person', () => {
    expect(redacted('contact.tagged', { contactId: 'c1', tag: 'Ana VIP' })).toEqual({ contactId: 'c1', tag: ERASED });
  });

  it('blanks the reason of a failed sync, which can quote the refused value', () => {
    const data = { integration: 'hubspot', contactId: 'c1', operation: 'contact', reason: 'Property "email" has invalid value ana@example', retryable: false };
    expect(redacted('sync.failed', data)).toEqual({ ...data, reason: ERASED });
  });

  it('keeps the consent facts of a consent change', () => {
    const data = { contactId: 'c1', purpose: 'marketing', channel: 'sms', status: 'opted_out', legalBasis: null, explanation: null, source: 'keyword', recordId: 'r1', occurredAt: '2026-01-01T00:00:00.000Z' };
    expect(redacted('consent.withdrawn', data)).toEqual(data);
  });

  it('does not change the event it was given', () => {
    const data = { contactId: 'c1', tag: 'Ana VIP' };
    redacted('contact.untagged', data);
    expect(data.tag).toBe('Ana VIP');
  });
});

describe('erasedContactOf', () => {
  const event = (type: ConsentryEvent['type'], data: Record<string, unknown>) => ({ type, workspaceId: 'w1', data: data as unknown as ConsentryEvent['data'] });

  it('names the contact of a contact.updated announcing an erasure', () => {
    expect(erasedContactOf(event('contact.updated', { contactId: 'c1', changes: ['erased'] }))).toEqual({ workspaceId: 'w1', contactId: 'c1' });
  });

  it('answers null for other changes, other types and unreadable data', () => {
    expect(erasedContactOf(event('contact.updated', { contactId: 'c1', changes: ['email'] }))).toBeNull();
    expect(erasedContactOf(event('contact.tagged', { contactId: 'c1', tag: 'erased' }))).toBeNull();
    expect(erasedContactOf(event('contact.updated', { changes: ['erased'] }))).toBeNull();
  });
});
