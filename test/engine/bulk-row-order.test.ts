import { describe, expect, it } from 'vitest';
import type { WorkspaceEngine } from '../../src/engine.js';
import { usePrivacyWorkspace } from './privacy-workspace.js';

describe('bulkSetConsent: a refused row names its issues in the row’s field order', () => {
  let ws: WorkspaceEngine;

  usePrivacyWorkspace((workspace) => {
    ({ ws } = workspace);
  });

  it('lists an email refused beside a missing legal basis and explanation in column order, as import does, and says them in that order', async () => {
    const [result] = await ws.bulkSetConsent([{ email: 'bad@', purpose: 'marketing', channel: 'sms', status: 'opted_in' }]);
    expect(result?.ok).toBe(false);
    if (result === undefined || result.ok) throw new Error('the row is refused');
    expect(result.error.issues.map((issue) => issue.path)).toEqual(['email', 'legalBasis', 'explanation']);
    expect(result.error.message).toMatch(/^email: .*; legalBasis: .*; explanation: /);
    expect((await ws.findContacts({})).contacts).toEqual([]);
  });
});
