import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { expectProblem, parsed, useTestApp, type Tenant, type TestApp } from './helpers.js';

let t: TestApp;
let acme: Tenant;
let globex: Tenant;

useTestApp(
  (app, first, second) => {
    t = app;
    acme = first;
    if (second) globex = second;
  },
  ['Acme', 'Globex'],
);

const PHONE = '+34600000451';
const ReportSchema = z
  .object({
    runId: z.string(),
    template: z.string(),
    contactId: z.string(),
    channel: z.string(),
    conversationId: z.string().nullable(),
    status: z.enum(['active', 'completed', 'cancelled']),
    outcome: z.string().nullable(),
    startedAt: z.string(),
    endedAt: z.string().nullable(),
    waiting: z.object({ step: z.string(), kind: z.enum(['answer', 'wait']), dueAt: z.string(), timesAsked: z.number() }).strict().nullable(),
  })
  .strict();

async function contact(): Promise<string> {
  const settings = await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { privacyPolicyUrl: 'https://example.com/privacy' } });
  expect(settings.statusCode, settings.body).toBe(200);
  const created = await t.as(acme, { method: 'POST', url: '/v1/contacts', payload: { name: 'Dora Test', phone: PHONE } });
  expect(created.statusCode, created.body).toBe(201);
  return parsed(created, z.object({ id: z.string() })).id;
}

async function start(template: string, contactId: string): Promise<{ runId: string; conversationId: string | null }> {
  const res = await t.as(acme, { method: 'POST', url: `/v1/workflows/${template}/runs`, payload: { contactId, channel: 'sms' } });
  expect(res.statusCode, res.body).toBe(201);
  return parsed(res, z.object({ runId: z.string(), conversationId: z.string().nullable() }));
}

async function report(template: string, runId: string, tenant: Tenant = acme): Promise<z.output<typeof ReportSchema>> {
  const res = await t.as(tenant, { method: 'GET', url: `/v1/workflows/${template}/runs/${runId}` });
  expect(res.statusCode, res.body).toBe(200);
  return parsed(res, ReportSchema);
}

describe('GET /v1/workflows/{template}/runs/{runId}', () => {
  it('follows a consent question from asked, through a bad answer, to its time-out', async () => {
    const contactId = await contact();
    const startedAt = t.clock.now();
    const started = await start('request-consent-privacy', contactId);
    expect(await report('request-consent-privacy', started.runId)).toEqual({
      runId: started.runId,
      template: 'request-consent-privacy',
      contactId,
      channel: 'sms',
      conversationId: started.conversationId,
      status: 'active',
      outcome: null,
      startedAt: startedAt.toISOString(),
      endedAt: null,
      waiting: { step: 'request_consent', kind: 'answer', dueAt: new Date(startedAt.getTime() + 300_000).toISOString(), timesAsked: 1 },
    });

    t.clock.advance(60_000);
    const answeredAt = t.clock.now();
    const answer = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: { channel: 'sms', messageId: 'sms-maybe', from: { id: PHONE }, text: 'maybe later' } });
    expect(answer.statusCode, answer.body).toBe(200);
    expect((await report('request-consent-privacy', started.runId)).waiting).toEqual({
      step: 'request_consent',
      kind: 'answer',
      dueAt: new Date(answeredAt.getTime() + 300_000).toISOString(),
      timesAsked: 2,
    });

    t.clock.advance(301_000);
    const firedAt = t.clock.now();
    expect(await t.engine.runDueTimers()).toHaveLength(1);
    const ended = await report('request-consent-privacy', started.runId);
    expect(ended).toMatchObject({ status: 'completed', outcome: 'failed_timeout', endedAt: firedAt.toISOString(), waiting: null });

    // Erasure redacts the run's texts; when it ended stays as it was.
    t.clock.advance(60_000);
    expect((await t.as(acme, { method: 'DELETE', url: `/v1/contacts/${contactId}` })).statusCode).toBe(200);
    expect(await report('request-consent-privacy', started.runId)).toEqual(ended);
  });

  it('says a run that had nothing to ask ended "skipped" when it started, and reads the run id in any letter case', async () => {
    const contactId = await contact();
    const agreed = await t.as(acme, {
      method: 'PUT',
      url: `/v1/contacts/${contactId}/consents/privacy/any`,
      payload: { status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Agreed on the web form' },
    });
    expect(agreed.statusCode, agreed.body).toBe(201);
    const started = await start('request-consent-privacy', contactId);
    const skipped = await report('request-consent-privacy', started.runId.toLowerCase());
    expect(skipped).toMatchObject({ runId: started.runId, status: 'completed', outcome: 'skipped', conversationId: null, waiting: null });
    expect(skipped.endedAt).toBe(skipped.startedAt);
  });

  it('reports a run abandoned because its stored state could no longer be read as cancelled, not as a server error', async () => {
    const contactId = await contact();
    const started = await start('request-consent-privacy', contactId);
    await t.store.transaction(async (tx) => {
      const run = await tx.getRun(acme.workspaceId, started.runId);
      if (!run) throw new Error('run missing');
      await tx.updateRun({ ...run, state: { stepId: 'a-step-no-template-has', version: 999 } });
    });
    t.clock.advance(301_000);
    await t.engine.runDueTimers();
    expect(await report('request-consent-privacy', started.runId)).toMatchObject({ status: 'cancelled', outcome: 'cancelled', waiting: null });
  });

  it('is 404 naming runId for an unknown run, a run of another template and another workspace\'s run', async () => {
    const contactId = await contact();
    const started = await start('request-consent-privacy', contactId);
    const cases = [
      { tenant: acme, template: 'request-consent-privacy', runId: '01arz3ndektsv4rrffq69g5fav', named: '01ARZ3NDEKTSV4RRFFQ69G5FAV' },
      { tenant: acme, template: 'request-consent-privacy', runId: 'not-a-run', named: 'not-a-run' },
      { tenant: acme, template: 'welcome-request-phone', runId: started.runId, named: started.runId },
      { tenant: globex, template: 'request-consent-privacy', runId: started.runId, named: started.runId },
    ];
    const unknownTemplate = await t.as(acme, { method: 'GET', url: `/v1/workflows/nope/runs/${started.runId}` });
    expectProblem(unknownTemplate, 404, 'NOT_FOUND');
    expect(unknownTemplate.json().errors).toEqual([
      { path: 'template', message: 'unknown template "nope": the built-in ones are request-consent-privacy, welcome-request-email, welcome-request-phone' },
    ]);
    for (const { tenant, template, runId, named } of cases) {
      const res = await t.as(tenant, { method: 'GET', url: `/v1/workflows/${template}/runs/${runId}` });
      expectProblem(res, 404, 'NOT_FOUND');
      expect(res.json().errors).toEqual([{ path: 'runId', message: `no run ${named} of workflow "${template}" in this workspace` }]);
    }
  });
});
