import { describe, expect, it } from 'vitest';
import purposeList from '../src/triggers/purpose_list.js';
import { operationOf } from './helpers.js';
import { errorDetails, problem, rejection, requests, route, run, useMockServer } from './support.js';

useMockServer();

describe('purpose_list', () => {
  const { perform } = operationOf(purposeList);

  it('lists the built-in purposes, then the workspace’s own from GET /v1/settings', async () => {
    route('get', '/v1/settings', { body: { privacyPolicyUrl: 'https://example.com/privacy', purposes: ['loyalty', 'product_updates'] } });
    expect(await run(perform)).toEqual([
      { id: 'marketing', name: 'Marketing (channel subscription)' },
      { id: 'privacy', name: 'Privacy (processing personal data)' },
      { id: 'loyalty', name: 'loyalty' },
      { id: 'product_updates', name: 'product_updates' },
    ]);
    expect(requests.map((request) => `${request.method} ${request.path}`)).toEqual(['GET /v1/settings']);
    expect(requests[0]?.authorization).toBe('Bearer ck_test_0000000000000000');
  });

  it('lists the built-in purposes for a workspace without its own', async () => {
    route('get', '/v1/settings', { body: { purposes: [] } });
    expect(await run(perform)).toEqual([
      { id: 'marketing', name: 'Marketing (channel subscription)' },
      { id: 'privacy', name: 'Privacy (processing personal data)' },
    ]);
  });

  it('promises no retry when the server fails: a dropdown is not replayed', async () => {
    route('get', '/v1/settings', problem(500, 'INTERNAL', 'database is restarting'));
    const details = errorDetails(await rejection(run(perform)));
    expect(details).toMatchObject({ name: 'AppError', message: 'Consentry had a server error (500): database is restarting.', code: 'INTERNAL' });
  });

  it('refuses settings without a purpose list rather than guess (not a Consentry server)', async () => {
    route('get', '/v1/settings', { body: { purposes: 'marketing' } });
    expect(errorDetails(await rejection(run(perform)))).toMatchObject({ code: 'UNEXPECTED_RESPONSE' });
  });
});
