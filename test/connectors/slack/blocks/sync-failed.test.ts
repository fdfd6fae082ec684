import { describe, expect, it } from 'vitest';
import { syncFailedMessage } from '../../../../connectors/slack/blocks/sync-failed.js';
import { allTexts, buttonValues, HOSTILE_NAME, syncFailedEvent, unsafeTokens } from '../fixtures.js';

describe('syncFailedMessage', () => {
  const message = syncFailedMessage({ alertId: 'al_0000000003', event: syncFailedEvent(), contactName: HOSTILE_NAME, contactUrl: null });

  it('says what failed and why, with a fallback, a header, fields and the event id', () => {
    expect(message.text).toContain('hubspot sync failed (upsert contact properties)');
    expect(message.blocks.map((block) => block.type)).toEqual(['header', 'section', 'section', 'context']);
    const fields = JSON.stringify(message.blocks[1]);
    expect(fields).toContain('*Integration*\\nhubspot');
    expect(fields).toContain('No: needs attention');
    expect(JSON.stringify(message.blocks[2])).toContain('HubSpot refused &lt;@U1&gt; &amp; &lt;!here&gt;');
    expect(JSON.stringify(message.blocks[3])).toContain('01JSYNCFAILED0000000000001');
  });

  it('offers no buttons: there is nothing to decide in Slack', () => {
    expect(buttonValues(message.blocks)).toEqual([]);
  });

  it('renders the reason and contact name harmless', () => {
    for (const text of [message.text, ...allTexts(message.blocks)]) {
      expect(text).not.toContain('<@U1>');
      expect(text).not.toContain('<!here>');
      expect(unsafeTokens(text)).toEqual([]);
    }
  });

  it('leaves the contact out when the failure is not about one', () => {
    const event = syncFailedEvent();
    const noContact = syncFailedMessage({
      alertId: 'al_0000000004',
      event: { ...event, data: { ...event.data, contactId: null } },
      contactName: null,
      contactUrl: null,
    });
    expect(JSON.stringify(noContact.blocks[1])).not.toContain('*Contact*');
  });
});
