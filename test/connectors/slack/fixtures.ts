import { LogLevel, type Logger } from '@slack/bolt';
import type { ConsentryEvent } from '../../../src/core/events.js';
import type { NewSlackAlert, SlackAlertEvent } from '../../../connectors/slack/actions-port.js';
import type { SlackBlock } from '../../../connectors/slack/blocks/common.js';

/** A contact name written to ping everyone and impersonate a user, if it were rendered as mrkdwn. */
export const HOSTILE_NAME = '<!channel> & <@U1>';
export const ESCAPED_HOSTILE_NAME = '&lt;!channel&gt; &amp; &lt;@U1&gt;';
export const PHONE = '+34 600 000 001';
export const EMAIL = 'ana.test@example.com';

/** A consent.failed event; `event` sets its envelope (the contact id goes into its data too). */
export function consentFailedEvent(
  overrides: Partial<ConsentryEvent<'consent.failed'>['data']> = {},
  event: Partial<Pick<ConsentryEvent<'consent.failed'>, 'id' | 'workspaceId' | 'occurredAt' | 'contactId'>> = {},
): ConsentryEvent<'consent.failed'> {
  const contactId = event.contactId ?? 'ct_1';
  return {
    id: '01JCONSENTFAILED0000000001',
    type: 'consent.failed',
    version: 1,
    workspaceId: 'ws_1',
    occurredAt: '2026-01-01T10:00:00.000Z',
    ...event,
    contactId,
    data: {
      contactId,
      channel: 'whatsapp',
      purpose: 'privacy',
      reason: 'invalid',
      attempts: 4,
      workflowId: 'request-consent-privacy',
      runId: 'run_1',
      conversationId: 'cv_1',
      contactName: HOSTILE_NAME,
      ...overrides,
    },
  };
}

export function optoutReviewEvent(text = `please stop texting me ${HOSTILE_NAME}`): ConsentryEvent<'optout.review_needed'> {
  return {
    id: '01JOPTOUTREVIEW00000000001',
    type: 'optout.review_needed',
    version: 1,
    workspaceId: 'ws_1',
    occurredAt: '2026-01-01T10:05:00.000Z',
    contactId: 'ct_2',
    data: {
      contactId: 'ct_2',
      channel: 'sms',
      messageId: 'msg_1',
      text,
      normalized: text.toLowerCase(),
      language: 'en',
      matchedWord: 'stop',
    },
  };
}

export function syncFailedEvent(reason = `HubSpot refused <@U1> & <!here>`): ConsentryEvent<'sync.failed'> {
  return {
    id: '01JSYNCFAILED0000000000001',
    type: 'sync.failed',
    version: 1,
    workspaceId: 'ws_1',
    occurredAt: '2026-01-01T10:10:00.000Z',
    contactId: 'ct_3',
    data: {
      integration: 'hubspot',
      contactId: 'ct_3',
      operation: 'upsert contact properties',
      reason,
      retryable: false,
    },
  };
}

export function newAlert(id: string, event: SlackAlertEvent, overrides: Partial<NewSlackAlert> = {}): NewSlackAlert {
  return {
    id,
    workspaceId: 'ws_1',
    event,
    contactName: HOSTILE_NAME,
    contactUrl: 'https://app.hubspot.com/contacts/123/record/0-1/101',
    slackChannel: 'C0ALERTS01',
    createdAt: '2026-01-01T10:00:01.000Z',
    ...overrides,
  };
}

/** Every `value` of every button in the blocks. */
export function buttonValues(blocks: readonly SlackBlock[]): string[] {
  const values: string[] = [];
  for (const block of blocks) {
    if (block.type !== 'actions') continue;
    for (const element of block.elements) if (element.type === 'button' && element.value !== undefined) values.push(element.value);
  }
  return values;
}

/** Every text Slack would render as mrkdwn or plain text, in order. */
export function allTexts(value: unknown): string[] {
  const texts: string[] = [];
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(visit);
    else if (node && typeof node === 'object') {
      for (const [key, child] of Object.entries(node)) {
        if (key === 'text' && typeof child === 'string') texts.push(child);
        else visit(child);
      }
    }
  };
  visit(value);
  return texts;
}

/**
 * The only `<…>` tokens Consentry writes itself: dates, https links and mentions of the acting
 * user (never U1, the hostile id). Anything else starting with `<` would be parsed by Slack.
 */
export function unsafeTokens(text: string): string[] {
  return (text.match(/<[^>]*>?/g) ?? []).filter(
    (token) => !/^<!date\^\d+\^[^|]*\|[^<>]*>$/.test(token) && !/^<https:\/\/[^|<>]+\|[^<>]*>$/.test(token) && !/^<@UACTOR\d*>$/.test(token),
  );
}

/** A Bolt logger that keeps what it is told, for assertions, instead of printing it. */
export function recordingLogger(): Logger & { lines: string[] } {
  let level = LogLevel.DEBUG;
  const lines: string[] = [];
  const keep = (prefix: string) => (...messages: unknown[]) => {
    lines.push(`${prefix} ${messages.map((message) => (message instanceof Error ? message.message : String(message))).join(' ')}`);
  };
  return {
    lines,
    debug: () => undefined,
    info: keep('info'),
    warn: keep('warn'),
    error: keep('error'),
    setLevel: (next) => {
      level = next;
    },
    getLevel: () => level,
    setName: () => undefined,
  };
}
