import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { actionBody, useHubspotApp } from './http-harness.js';

const setUp = useHubspotApp();

const ProblemSchema = z.object({ status: z.number(), code: z.string(), detail: z.string(), errors: z.array(z.object({ path: z.string(), message: z.string() })) });

describe('POST /hubspot/actions/{key} for a key no action has', () => {
  it('answers 404 naming key, with the actions there are, in detail as in errors', async () => {
    const { app } = await setUp();
    const response = await app.inject({ method: 'POST', url: '/hubspot/actions/nope', payload: actionBody('cb-unknown', '101', { channel: 'sms' }), headers: { 'content-type': 'application/json' } });
    const problem = ProblemSchema.parse(response.json());
    expect(problem).toMatchObject({ status: 404, code: 'NOT_FOUND' });
    expect(problem.errors).toEqual([{ path: 'key', message: '"nope" is not one of request-consent, set-channel-consent, check-consent' }]);
    expect(problem.detail).toBe(`key: ${problem.errors[0]?.message ?? ''}`);
  });
});
