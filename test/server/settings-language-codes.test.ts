import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { refusedWith, useTestApp, type Tenant, type TestApp } from './helpers.js';

let t: TestApp;
let acme: Tenant;

useTestApp((app, first) => {
  t = app;
  acme = first;
});

const patch = (payload: Record<string, unknown>) => t.as(acme, { method: 'PATCH', url: '/v1/settings', payload });

describe('PATCH /v1/settings with a language code that is not one', () => {
  it('names keywords.<code>, quoting the code and listing the languages', async () => {
    const refused = refusedWith(await patch({ keywords: { xx: { opt_in: ['GO'] } } }));
    expect(refused.errors).toEqual([{ path: 'keywords.xx', message: '"xx" is not a language: one of en, es, fr, pt, de, ja' }]);
    expect(refused.detail).toBe('Invalid settings: keywords.xx: "xx" is not a language: one of en, es, fr, pt, de, ja');
  });

  it('names replies.<code> the same way, beside a language that is one, and stores nothing', async () => {
    const refused = refusedWith(await patch({ replies: { es: { help: 'Ayuda' }, 'pt-BR': { help: 'Ajuda' } } }));
    expect(refused.errors).toEqual([{ path: 'replies.pt-BR', message: '"pt-BR" is not a language: one of en, es, fr, pt, de, ja' }]);
    const settings = await t.as(acme, { method: 'GET', url: '/v1/settings' });
    expect(z.object({ replies: z.record(z.string(), z.unknown()) }).parse(settings.json()).replies).toEqual({});
  });

  it('takes a language that is one', async () => {
    const changed = await patch({ keywords: { es: { opt_in: ['VALE'] } } });
    expect(changed.statusCode, changed.body).toBe(200);
    expect(changed.json()).toMatchObject({ keywords: { es: { opt_in: ['VALE'] } } });
  });
});
