import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { BUILT_IN_REPLIES } from '../../src/core/replies.js';
import { parsed, refusedWith, useTestApp, type Tenant, type TestApp } from './helpers.js';

let t: TestApp;
let acme: Tenant;

useTestApp((app, first) => {
  t = app;
  acme = first;
});

const patch = (payload: Record<string, unknown>) => t.as(acme, { method: 'PATCH', url: '/v1/settings', payload });
const SettingsSchema = z.object({
  replies: z.record(z.string(), z.record(z.string(), z.string())),
  keywords: z.record(z.string(), z.record(z.string(), z.array(z.string()))),
});
const RepliesSchema = z.object({ replies: z.array(z.object({ text: z.string() })) });

const BLANK_REPLY = 'is blank: a reply needs something besides white space and invisible characters; send null for the built-in text';

/** The texts the workspace answers an inbound ALTO (the Spanish opt-out keyword) with. */
async function altoReplies(messageId: string): Promise<string[]> {
  const answer = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: { channel: 'sms', messageId, from: { id: '+34600000001' }, text: 'ALTO' } });
  expect(answer.statusCode, answer.body).toBe(200);
  return parsed(answer, RepliesSchema).replies.map((reply) => reply.text);
}

describe('PATCH /v1/settings with a blank reply text', () => {
  it.each([
    ['only white space', '   '],
    ['only a zero-width space', '\u200b'],
    ['empty', ''],
    ['invisible characters and white space of several kinds', '\u200d\u200c\ufeff\u2060\u00ad \u3164\t'],
  ])('refuses a text that is %s, naming it once with what null does, stores nothing, and ALTO still gets the built-in text', async (_label, text) => {
    const refused = refusedWith(await patch({ replies: { es: { opt_out_confirmation: text } } }));
    expect(refused.errors).toEqual([{ path: 'replies.es.opt_out_confirmation', message: BLANK_REPLY }]);
    expect(refused.detail).toBe(`Invalid settings: replies.es.opt_out_confirmation: ${BLANK_REPLY}`);
    expect(parsed(await t.as(acme, { method: 'GET', url: '/v1/settings' }), SettingsSchema).replies).toEqual({});
    expect(await altoReplies('sms-alto')).toEqual([BUILT_IN_REPLIES.es.opt_out_confirmation]);
  });

  it('names every blank text of the change, one entry each, beside a text with an unknown variable', async () => {
    const refused = refusedWith(await patch({ replies: { es: { opt_out_confirmation: ' ', help: '\u2060' }, en: { help: '{{shop}} help' } } }));
    expect(refused.errors).toEqual([
      { path: 'replies.es.opt_out_confirmation', message: BLANK_REPLY },
      { path: 'replies.es.help', message: BLANK_REPLY },
      { path: 'replies.en.help', message: '{{shop}} is not a variable a reply can use; it may use {{workspace.name}}' },
    ]);
  });

  it('takes null back to the built-in text, as the refusal says, and keeps a text with invisible characters around words', async () => {
    const set = await patch({ replies: { es: { opt_out_confirmation: '\u200bBaja hecha.' } } });
    expect(set.statusCode, set.body).toBe(200);
    expect(await altoReplies('sms-alto-1')).toEqual(['\u200bBaja hecha.']);
    const removed = await patch({ replies: { es: { opt_out_confirmation: null } } });
    expect(removed.statusCode, removed.body).toBe(200);
    expect(parsed(removed, SettingsSchema).replies).toEqual({ es: {} });
    expect(await altoReplies('sms-alto-2')).toEqual([BUILT_IN_REPLIES.es.opt_out_confirmation]);
  });
});

describe('PATCH /v1/settings with keywords that read as nothing', () => {
  it('names every one in one refusal, quoting each as it was sent: blank, invisible and punctuation alike', async () => {
    const refused = refusedWith(await patch({ keywords: { en: { opt_out: ['!!!'], help: ['   '], opt_in: ['\u200b'] } } }));
    const empty = 'is empty once punctuation, symbols and white space are removed';
    expect(refused.errors).toEqual([
      { path: 'keywords.en.opt_out.0', message: `"!!!" ${empty}` },
      { path: 'keywords.en.opt_in.0', message: `"\u200b" ${empty}` },
      { path: 'keywords.en.help.0', message: `"   " ${empty}` },
    ]);
    expect(refused.detail).toBe(`Invalid settings: ${refused.errors.map((error) => `${error.path}: ${error.message}`).join('; ')}`);
    expect(parsed(await t.as(acme, { method: 'GET', url: '/v1/settings' }), SettingsSchema).keywords).toEqual({});
  });

  it('names an empty keyword beside the other keyword rules and a blank reply text', async () => {
    const refused = refusedWith(await patch({ keywords: { es: { opt_in: ['stop', ''], removed: [' '] } }, replies: { fr: { help: '' } } }));
    // The keyword rules name the `removed` list first, and the answer keeps the order they named the lists in.
    expect(refused.errors).toEqual([
      { path: 'keywords.es.removed.0', message: '" " is empty once punctuation, symbols and white space are removed' },
      { path: 'keywords.es.opt_in.0', message: '"stop" is already the opt_out keyword STOP (en)' },
      { path: 'keywords.es.opt_in.1', message: '"" is empty once punctuation, symbols and white space are removed' },
      { path: 'replies.fr.help', message: BLANK_REPLY },
    ]);
  });
});
