import { describe, expect, it } from 'vitest';
import { refusedWith, useTestApp, type Tenant, type TestApp } from './helpers.js';

let t: TestApp;
let acme: Tenant;

useTestApp((app, tenant) => {
  t = app;
  acme = tenant!;
});

const NO_TEXT = 'a message needs text or button';
const BLANK_TEXT = `${NO_TEXT}: an empty or blank text is no text`;

async function refused(payload: unknown): Promise<{ detail: string; errors: { path: string; message: string }[] }> {
  return refusedWith(await t.as(acme, { method: 'POST', url: '/v1/messages', payload: payload as Record<string, unknown> }));
}

describe('POST /v1/messages names the text-or-button rule beside every other bad field', () => {
  it('an unknown channel and an empty text: both, in field order', async () => {
    const { detail, errors } = await refused({ channel: 'pigeon', messageId: 'v.3', from: { id: '+34600777888' }, text: '' });
    expect(errors.map((error) => error.path)).toEqual(['channel', 'text']);
    expect(errors[1]).toEqual({ path: 'text', message: BLANK_TEXT });
    expect(detail).toBe(errors.map((error) => `${error.path}: ${error.message}`).join('; '));
  });

  it('a body without from, text or button: from and text', async () => {
    const { errors } = await refused({ channel: 'sms', messageId: 'v.3' });
    expect(errors).toEqual([
      { path: 'from', message: 'is required' },
      { path: 'text', message: NO_TEXT },
    ]);
  });

  it('a bad sender id and a blank text: each named once, the schema\'s first, then the rule; an unknown member is no fault of it', async () => {
    const { errors } = await refused({ channel: 'sms', messageId: 'v.4', from: { id: '' }, text: '\u3164', zzz: 1 });
    expect(errors.map((error) => error.path)).toEqual(['from.id', 'text']);
    expect(errors.find((error) => error.path === 'text')).toEqual({ path: 'text', message: BLANK_TEXT });
  });

  it('a text of the wrong kind is named once, for its kind', async () => {
    const { errors } = await refused({ channel: 'pigeon', messageId: 'v.5', from: { id: '+34600777888' }, text: 5 });
    expect(errors.map((error) => error.path)).toEqual(['channel', 'text']);
    expect(errors[1]?.message).not.toContain(NO_TEXT);
  });

  it('a button beside a bad field asks nothing of the text', async () => {
    const { errors } = await refused({ channel: 'pigeon', messageId: 'v.6', from: { id: '+34600777888' }, button: 'AGREE', text: '' });
    expect(errors.map((error) => error.path)).toEqual(['channel']);
  });

  it('a body whose only fault is the text is refused as before', async () => {
    const { errors } = await refused({ channel: 'sms', messageId: 'v.7', from: { id: '+34600777888' }, text: '' });
    expect(errors).toEqual([{ path: 'text', message: BLANK_TEXT }]);
  });
});
