import { HTTPModuleFunctions } from '@slack/bolt';
import { http, HttpResponse } from 'msw';
import { describe, expect, it } from 'vitest';
import type { SlackBlock } from '../../../connectors/slack/blocks/common.js';
import { boltLogger, type PinoLike } from '../../../connectors/slack/logger.js';
import { createSlackWebClient, slackMessenger } from '../../../connectors/slack/web.js';
import { SLACK_API as API, useSlackMsw } from './harness.js';

const server = useSlackMsw({ passLoopback: false });

interface Written {
  level: keyof PinoLike;
  details: object;
  message: string;
}

function recording(): { target: PinoLike; written: Written[] } {
  const written: Written[] = [];
  const at = (level: keyof PinoLike) => (details: object, message: string) => {
    written.push({ level, details, message });
  };
  return { target: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }, written };
}

const CONTACT_TEXT = 'Consent failed for Ana Test (+34 600 000 001, ana.test@example.com)';
const BLOCKS: SlackBlock[] = [{ type: 'section', text: { type: 'mrkdwn', text: '*Contact:* Ana Test, ana.test@example.com' } }];

describe("boltLogger keeps contact data out of Slack's debug output", () => {
  it('writes the method, the URL and how each call ended, but no message text or blocks, of a request or its answer', async () => {
    server.use(
      http.post(`${API}/chat.update`, () =>
        HttpResponse.json({ ok: true, channel: 'C0ALERTS01', ts: '1767261600.000100', text: CONTACT_TEXT, message: { text: CONTACT_TEXT, blocks: BLOCKS } }),
      ),
    );
    const { target, written } = recording();
    const client = createSlackWebClient({ token: 'xoxb-test-token', logger: boltLogger(target) });
    await client.chat.update({ channel: 'C0ALERTS01', ts: '1767261600.000100', text: CONTACT_TEXT, blocks: BLOCKS });

    const log = JSON.stringify(written);
    expect(log).not.toContain('Ana Test');
    expect(log).not.toContain('600 000 001');
    expect(log).not.toContain('ana.test@example.com');
    expect(log).not.toContain('xoxb-test-token');
    const debug = written.filter((line) => line.level === 'debug').map((line) => line.message);
    expect(debug).toContain("apiCall('chat.update') start");
    expect(debug).toContain(`http request url: ${API}/chat.update`);
    expect(debug).toContain('http request body: {"channel":"C0ALERTS01","ts":"1767261600.000100","omitted":["text","blocks"]}');
    expect(debug).toContain('http request result: {"ok":true,"channel":"C0ALERTS01","ts":"1767261600.000100","response_metadata":{},"omitted":["text","message"]}');
    expect(debug).toContain("apiCall('chat.update') end");
  });

  it("keeps Slack's error code and the client's warnings and errors", async () => {
    server.use(http.post(`${API}/chat.postMessage`, () => HttpResponse.json({ ok: false, error: 'channel_not_found', response_metadata: { messages: ['[ERROR] channel not found'] } })));
    const { target, written } = recording();
    const outcome = await slackMessenger(createSlackWebClient({ token: 'xoxb-test-token', logger: boltLogger(target) })).postMessage({
      channel: 'C0GONE001',
      text: CONTACT_TEXT,
      blocks: BLOCKS,
    });
    expect(outcome).toEqual({ ok: false, reason: 'slack_error', error: 'channel_not_found' });
    const messages = written.map((line) => line.message);
    expect(messages).toContain('http request result: {"ok":false,"error":"channel_not_found","response_metadata":{"messages":{"0":"[ERROR] channel not found"}}}');
    expect(written).toContainEqual({ level: 'error', details: { component: 'slack' }, message: 'channel not found' });
    expect(JSON.stringify(written)).not.toContain('Ana Test');
  });

  it("drops the body of Bolt's acknowledgements and passes every other line on as it is", () => {
    const { target, written } = recording();
    const logger = boltLogger(target);
    logger.debug('ack() response sent (body: {"response_action":"errors","errors":{"explanation":"Ana Test said no"}})');
    logger.debug('http request body: not json');
    logger.debug('Conversation context loaded for ID: C0ALERTS01');
    expect(written.map((line) => line.message)).toEqual([
      'ack() response sent (body omitted)',
      'http request body: not json',
      'Conversation context loaded for ID: C0ALERTS01',
    ]);
  });

  it("keeps only the error's class of Bolt's line about a failing listener, without its message or the stored response", async () => {
    const { target, written } = recording();
    const logger = boltLogger(target);
    const failure = new Error(`Contact not found: ${CONTACT_TEXT}`);
    failure.name = 'ConsentryError';
    for (const headersSent of [false, true]) {
      const response = { headersSent, writeHead: () => response, end: () => response };
      await HTTPModuleFunctions.defaultProcessEventErrorHandler({
        error: failure,
        logger,
        request: Object.assign(Object.create(null) as object, { method: 'POST', url: '/slack/events' }),
        response,
        storedResponse: { response_action: 'errors', errors: { explanation: 'Ana Test said no' } },
      } as unknown as Parameters<typeof HTTPModuleFunctions.defaultProcessEventErrorHandler>[0]);
    }
    logger.debug(`Error details: ${String(`${CONTACT_TEXT}: no class`)}`);
    const details = written.filter((line) => line.message.startsWith('Error details:')).map((line) => line.message);
    expect(details).toEqual([
      'Error details: ConsentryError (message and stored response omitted)',
      'Error details: ConsentryError (message and stored response omitted)',
      'Error details: an error (message and stored response omitted)',
    ]);
    expect(JSON.stringify(written)).not.toContain('Ana Test');
  });
});
