import { describe, expect, it } from 'vitest';
import { escapeInline, escapeQuote, escapeSlackText, mrkdwnLink, slackDate } from '../../../connectors/slack/escape.js';
import { ESCAPED_HOSTILE_NAME, HOSTILE_NAME } from './fixtures.js';

describe('escapeSlackText', () => {
  it('escapes the three control characters Slack names, and only them', () => {
    expect(escapeSlackText('a & b < c > d "e" \'f\'')).toBe('a &amp; b &lt; c &gt; d "e" \'f\'');
  });

  it('turns mentions and channel links into literal text', () => {
    expect(escapeSlackText(HOSTILE_NAME)).toBe(ESCAPED_HOSTILE_NAME);
    expect(escapeSlackText('<#C1> <!here> <!subteam^S1>')).toBe('&lt;#C1&gt; &lt;!here&gt; &lt;!subteam^S1&gt;');
  });

  it('escapes an existing entity again, so it shows as typed', () => {
    expect(escapeSlackText('&lt;')).toBe('&amp;lt;');
  });
});

describe('escapeInline', () => {
  it('folds newlines so a name cannot fake extra lines of the alert', () => {
    expect(escapeInline('Ana\n*Approved by admin*\r\n  Test')).toBe('Ana \u2217Approved by admin\u2217 Test');
  });

  it('drops control and bidirectional override characters', () => {
    expect(escapeInline('Ana\u202eTset\u0007 <@U1>')).toBe('AnaTset &lt;@U1&gt;');
  });

  it('cuts long values after escaping, never inside an entity', () => {
    const cut = escapeInline('&&&&&', 12);
    expect(cut).toBe('&amp;&amp;…');
    expect(cut.length).toBeLessThanOrEqual(12);
    expect(escapeInline('abcdef', 5)).toBe('abcd…');
    expect(escapeInline('abcde', 5)).toBe('abcde');
  });
});

describe('escapeQuote', () => {
  it('quotes every line and escapes it', () => {
    expect(escapeQuote('stop\n<!channel>')).toBe('> stop\n> &lt;!channel&gt;');
  });
});

describe('mrkdwnLink', () => {
  it('links https URLs with an escaped label', () => {
    expect(mrkdwnLink('https://app.hubspot.com/contacts/1/record/0-1/2', HOSTILE_NAME)).toBe(
      `<https://app.hubspot.com/contacts/1/record/0-1/2|${ESCAPED_HOSTILE_NAME}>`,
    );
  });

  it('refuses anything but https, and keeps the label', () => {
    expect(mrkdwnLink('javascript:alert(1)', 'Ana Test')).toBe('Ana Test');
    expect(mrkdwnLink('http://example.com', 'Ana Test')).toBe('Ana Test');
    expect(mrkdwnLink('not a url', 'Ana Test')).toBe('Ana Test');
    expect(mrkdwnLink(null, 'Ana Test')).toBe('Ana Test');
  });

  it('encodes characters that would break out of the link', () => {
    const link = mrkdwnLink('https://example.com/a|b?q=<x>&y', 'Ana');
    expect(link).toBe('<https://example.com/a%7Cb?q=%3Cx%3E&amp;y|Ana>');
  });
});

describe('slackDate', () => {
  it('renders a date token with the ISO time as fallback', () => {
    expect(slackDate('2026-01-01T10:00:00.000Z')).toBe('<!date^1767261600^{date_short_pretty} at {time}|2026-01-01T10:00:00.000Z>');
  });

  it('shows an unreadable value as escaped text', () => {
    expect(slackDate('<!channel>')).toBe('&lt;!channel&gt;');
  });
});
