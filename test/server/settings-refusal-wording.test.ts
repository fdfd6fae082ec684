import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ANA, parsed, refusedWith, useTestApp, type Tenant, type TestApp } from './helpers.js';

let t: TestApp;
let acme: Tenant;

useTestApp((app, first) => {
  t = app;
  acme = first;
});

const patch = (payload: Record<string, unknown>) => t.as(acme, { method: 'PATCH', url: '/v1/settings', payload });
const KeywordsSchema = z.object({ keywords: z.record(z.string(), z.object({ opt_in: z.array(z.string()), opt_out: z.array(z.string()), help: z.array(z.string()), removed: z.array(z.string()) })) });

/** A problem's detail as every refusal words it: its errors as `path: message`, `; ` between, after `prefix`. */
function listed(errors: readonly { path: string; message: string }[], prefix = ''): string {
  return `${prefix}${errors.map((error) => `${error.path}: ${error.message}`).join('; ')}`;
}

describe('PATCH /v1/settings with a defaultCountry in any letter case', () => {
  it('reads the code in small or mixed letters and stores it in capitals', async () => {
    for (const code of ['es', 'Pt']) {
      const changed = await patch({ defaultCountry: code });
      expect(changed.statusCode, changed.body).toBe(200);
      expect(changed.json()).toMatchObject({ defaultCountry: code.toUpperCase() });
    }
    expect((await t.as(acme, { method: 'GET', url: '/v1/settings' })).json()).toMatchObject({ defaultCountry: 'PT' });
  });

  it('still refuses what is no country code, in any letter case', async () => {
    expect(refusedWith(await patch({ defaultCountry: 'zz' })).errors).toEqual([
      { path: 'defaultCountry', message: '"zz" is not a country with a telephone numbering plan, such as "ES"' },
    ]);
    expect(refusedWith(await patch({ defaultCountry: 'esp' })).errors).toEqual([{ path: 'defaultCountry', message: '"esp" is not an ISO 3166-1 alpha-2 code, such as "ES"' }]);
  });
});

describe('PATCH /v1/settings with a keyword listed twice in one list', () => {
  it('refuses the repeats, compared as messages are, naming each with the wording purposes use', async () => {
    const refused = refusedWith(await patch({ keywords: { es: { opt_out: ['baja', 'BAJA', ' Baja '] } } }));
    const readsAs = 'it reads as keywords.es.opt_out.0 ("baja") does, as keywords are compared (letter case, accents and the punctuation around them aside)';
    expect(refused.errors).toEqual([
      { path: 'keywords.es.opt_out.1', message: `"BAJA" is listed twice: ${readsAs}` },
      { path: 'keywords.es.opt_out.2', message: `"Baja" is listed twice: ${readsAs}` },
    ]);
    expect(refused.detail).toBe(listed(refused.errors, 'Invalid settings: '));
    const same = refusedWith(await patch({ keywords: { en: { help: ['MENU', 'MENU'], removed: ['END', 'end'] } } }));
    expect(same.errors).toEqual([
      {
        path: 'keywords.en.removed.1',
        message: '"end" is listed twice: it reads as keywords.en.removed.0 ("END") does, as keywords are compared (letter case, accents and the punctuation around them aside)',
      },
      { path: 'keywords.en.help.1', message: '"MENU" is listed twice' },
    ]);
    // As a purpose listed twice is.
    expect(refusedWith(await patch({ purposes: ['surveys', 'surveys'] })).errors).toEqual([{ path: 'purposes.1', message: '"surveys" is listed twice' }]);
    expect(parsed(await t.as(acme, { method: 'GET', url: '/v1/settings' }), KeywordsSchema).keywords).toEqual({});
  });

  it('takes the same word in two lists of other languages', async () => {
    const changed = await patch({ keywords: { es: { opt_out: ['BAJA'] }, pt: { opt_out: ['baja'] } } });
    expect(changed.statusCode, changed.body).toBe(200);
  });
});

describe('the detail of a settings refusal lists its errors as path: message', () => {
  it('for an added keyword that is already another keyword', async () => {
    const refused = refusedWith(await patch({ keywords: { es: { opt_in: ['stop'] } } }));
    expect(refused.errors).toEqual([{ path: 'keywords.es.opt_in.0', message: '"stop" is already the opt_out keyword STOP (en)' }]);
    expect(refused.detail).toBe('Invalid settings: keywords.es.opt_in.0: "stop" is already the opt_out keyword STOP (en)');
  });

  it('for a keyword that cannot be removed, beside another bad keyword', async () => {
    const alone = refusedWith(await patch({ keywords: { en: { removed: ['stop'] } } }), 'KEYWORD_NOT_REMOVABLE');
    expect(alone.errors).toEqual([{ path: 'keywords.en.removed.0', message: 'STOP cannot be removed: STOP, START and HELP are always keywords' }]);
    expect(alone.detail).toBe('Invalid settings: keywords.en.removed.0: STOP cannot be removed: STOP, START and HELP are always keywords');
    const both = refusedWith(await patch({ keywords: { en: { removed: ['HELP'], opt_in: ['🙂'] } } }), 'KEYWORD_NOT_REMOVABLE');
    expect(both.errors.map((error) => error.path)).toEqual(['keywords.en.removed.0', 'keywords.en.opt_in.0']);
    expect(both.detail).toBe(listed(both.errors, 'Invalid settings: '));
  });

  it('for a keyword refusal beside a refusal of another setting', async () => {
    const refused = refusedWith(await patch({ keywords: { en: { opt_in: ['STOP'] } }, triggers: [{ trigger: 'manual', template: 'request-consent-privacy' }] }));
    expect(refused.errors.map((error) => error.path)).toEqual(['keywords.en.opt_in.0', 'triggers.0.trigger']);
    expect(refused.detail).toBe(listed(refused.errors, 'Invalid settings: '));
  });

  it('for a masked value sent for a secret, and for a patch nested too deep', async () => {
    const masked = refusedWith(await patch({ slack: { botToken: '••••abcd' } }));
    expect(masked.errors).toEqual([{ path: 'slack.botToken', message: 'is a masked value: send the secret itself, or leave the field out to keep the one stored' }]);
    expect(masked.detail).toBe(listed(masked.errors, 'Invalid settings: '));
    let deep: unknown = 'x';
    for (let level = 0; level < 20; level += 1) deep = { a: deep };
    const nested = refusedWith(await patch({ replies: deep }));
    expect(nested.errors).toEqual([{ path: 'replies.a.a', message: 'nested more than 16 levels deep' }]);
    expect(nested.detail).toBe(listed(nested.errors, 'Invalid settings: '));
  });
});

describe('PATCH /v1/settings with a language code in other letter case', () => {
  it('names the language it spells, as a purpose in other letter case is named', async () => {
    const refused = refusedWith(await patch({ keywords: { EN: { opt_in: ['GO'] } }, replies: { Es: { help: 'Ayuda' } } }));
    expect(refused.errors).toEqual([
      { path: 'keywords.EN', message: '"EN" is not a language: one of en, es, fr, pt, de, ja (did you mean "en"?)' },
      { path: 'replies.Es', message: '"Es" is not a language: one of en, es, fr, pt, de, ja (did you mean "es"?)' },
    ]);
    expect(refused.detail).toBe(listed(refused.errors, 'Invalid settings: '));
  });

  it('names it for defaultLanguage too, and nothing for a code that spells none', async () => {
    expect(refusedWith(await patch({ defaultLanguage: 'FR' })).errors).toEqual([
      { path: 'defaultLanguage', message: '"FR" is not one of en, es, fr, pt, de, ja (did you mean "fr"?)' },
    ]);
    expect(refusedWith(await patch({ defaultLanguage: 'pt-BR' })).errors).toEqual([{ path: 'defaultLanguage', message: '"pt-BR" is not one of en, es, fr, pt, de, ja' }]);
    expect(refusedWith(await patch({ keywords: { XX: { opt_in: ['GO'] } } })).errors).toEqual([
      { path: 'keywords.XX', message: '"XX" is not a language: one of en, es, fr, pt, de, ja' },
    ]);
  });
});

describe('GET /v1/contacts/{id}/consents/history with a cursor that names no record of the contact', () => {
  it('words the detail as path: message, naming the query parameter', async () => {
    const created = await t.as(acme, { method: 'POST', url: '/v1/contacts', payload: ANA });
    expect(created.statusCode, created.body).toBe(201);
    const refused = refusedWith(await t.as(acme, { method: 'GET', url: `/v1/contacts/${created.json().id}/consents/history?cursor=4` }));
    const message = 'no record 4 of this contact: pass the nextCursor a previous page returned';
    expect(refused.errors).toEqual([{ path: 'cursor', message }]);
    expect(refused.detail).toBe(`cursor: ${message}`);
  });

  it('words the contacts and events cursors alike', async () => {
    const contacts = refusedWith(await t.as(acme, { method: 'GET', url: '/v1/contacts?cursor=garbage' }));
    expect(contacts.detail).toBe(listed(contacts.errors));
    expect(contacts.detail).toMatch(/^cursor: no contact garbage in this workspace: /);
    const events = refusedWith(await t.as(acme, { method: 'GET', url: '/v1/events?cursor=01ARZ3NDEKTSV4RRFFQ69G5FAV' }));
    expect(events.detail).toBe(listed(events.errors));
    expect(events.detail).toMatch(/^cursor: no event /);
  });
});
