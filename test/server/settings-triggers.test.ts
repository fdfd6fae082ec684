import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { expectProblem, parsed, useTestApp, type Tenant, type TestApp } from './helpers.js';

const ErrorsSchema = z.object({ errors: z.array(z.object({ path: z.string(), message: z.string() })) });

describe('PATCH /v1/settings with bindings that could never start', () => {
  let t: TestApp;
  let acme: Tenant;
  useTestApp((app, tenant) => {
    t = app;
    acme = tenant!;
  });

  it('answers 422 naming triggers.N.match for a match on conversation_opened', async () => {
    const res = await t.as(acme, {
      method: 'PATCH',
      url: '/v1/settings',
      payload: { triggers: [{ trigger: 'conversation_opened', template: 'request-consent-privacy', match: 'hola' }] },
    });
    expectProblem(res, 422, 'VALIDATION_FAILED');
    expect(parsed(res, ErrorsSchema).errors).toEqual([{ path: 'triggers.0.match', message: expect.stringContaining('takes no match') }]);
  });

  it('answers 422 naming triggers.N.trigger for a manual binding, pointing at the route that starts a run', async () => {
    const res = await t.as(acme, {
      method: 'PATCH',
      url: '/v1/settings',
      payload: { triggers: [{ trigger: 'conversation_opened', template: 'request-consent-privacy' }, { trigger: 'manual', template: 'welcome-request-email' }] },
    });
    expectProblem(res, 422, 'VALIDATION_FAILED');
    expect(parsed(res, ErrorsSchema).errors).toEqual([
      { path: 'triggers.1.trigger', message: expect.stringContaining('manual starts need no binding; start the template with POST /v1/workflows/welcome-request-email/runs') },
    ]);
    const settings = await t.as(acme, { method: 'GET', url: '/v1/settings' });
    expect(settings.json()).toMatchObject({ triggers: [{ trigger: 'conversation_opened', template: 'request-consent-privacy', enabled: true }] });
  });
});
