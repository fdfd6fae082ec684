import { describe, expect, it } from 'vitest';
import { expectProblem, problemPaths, useTestApp, type Tenant, type TestApp } from './helpers.js';

let t: TestApp;
let acme: Tenant;

useTestApp((app, first) => {
  t = app;
  acme = first;
});

const settings = (purposes: string[]) => t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { purposes } });
const optIn = { status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Web form' };

/** A contact opted in to the workspace's own purpose `surveys` on SMS, then `surveys` taken off the list; its id. */
async function optedInToSurveysTakenOff(phone: string): Promise<string> {
  await settings(['surveys']);
  const contact = await t.as(acme, { method: 'POST', url: '/v1/contacts', payload: { name: 'Ana Test', phone } });
  const id = String(contact.json().id);
  expect((await t.as(acme, { method: 'PUT', url: `/v1/contacts/${id}/consents/surveys/sms`, payload: optIn })).statusCode).toBe(201);
  await settings([]);
  return id;
}

describe('PUT /v1/contacts/{id}/consents/{purpose}/{channel} for a purpose taken off the list', () => {
  it('withdraws an opt-in the contact holds to it, and refuses any other decision about it', async () => {
    const id = await optedInToSurveysTakenOff('+34600000401');

    const refusedOptIn = await t.as(acme, { method: 'PUT', url: `/v1/contacts/${id}/consents/surveys/sms`, payload: optIn });
    expectProblem(refusedOptIn, 422, 'VALIDATION_FAILED');
    expect(problemPaths(refusedOptIn)).toEqual(['purpose']);

    const withdrawn = await t.as(acme, { method: 'PUT', url: `/v1/contacts/${id}/consents/surveys/sms`, payload: { status: 'opted_out' } });
    expect(withdrawn.statusCode, withdrawn.body).toBe(201);
    await settings(['surveys']);
    const permission = await t.as(acme, { method: 'GET', url: `/v1/contacts/${id}/permission?channel=sms&purpose=surveys` });
    expect(permission.json()).toMatchObject({ allowed: false, reason: 'opted_out' });
  });

  it('names only the other fault of a withdrawal it would accept, and the purpose of one it would not', async () => {
    const id = await optedInToSurveysTakenOff('+34600000402');

    for (const occurredAt of ['2999-01-01T00:00:00Z', '1969-12-31T23:59:59Z']) {
      const late = await t.as(acme, { method: 'PUT', url: `/v1/contacts/${id}/consents/surveys/sms`, payload: { status: 'opted_out', occurredAt } });
      expectProblem(late, 422, 'VALIDATION_FAILED');
      expect(problemPaths(late), occurredAt).toEqual(['occurredAt']);
    }
    // Never opted in on this purpose: nothing to withdraw, so the purpose is named as well.
    const stranger = await t.as(acme, { method: 'POST', url: '/v1/contacts', payload: { name: 'Bo Test', phone: '+34600000403' } });
    const none = await t.as(acme, {
      method: 'PUT',
      url: `/v1/contacts/${String(stranger.json().id)}/consents/surveys/sms`,
      payload: { status: 'opted_out', occurredAt: '2999-01-01T00:00:00Z' },
    });
    expect(problemPaths(none).sort()).toEqual(['occurredAt', 'purpose']);
  });
});
