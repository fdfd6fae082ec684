import { describe, expect, it } from 'vitest';
import { isConsentryError } from '../../src/core/errors.js';
import type { WorkspaceEngine } from '../../src/engine.js';
import { usePrivacyWorkspace } from './privacy-workspace.js';

describe('handleInbound names the text-or-button rule beside the message’s other faults', () => {
  let ws: WorkspaceEngine;

  usePrivacyWorkspace((workspace) => {
    ({ ws } = workspace);
  });

  async function refusedPaths(message: unknown): Promise<string[]> {
    const error: unknown = await ws.handleInbound(message as never).then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    if (!isConsentryError(error)) throw new Error(`expected a refusal, got ${String(error)}`);
    return error.issues.map((issue) => issue.path);
  }

  it('with an unknown channel, and without a sender', async () => {
    expect(await refusedPaths({ channel: 'pigeon', messageId: 'm1', from: { id: '+34600000001' }, text: '' })).toEqual(['channel', 'text']);
    expect(await refusedPaths({ channel: 'sms', messageId: 'm2' })).toEqual(['from', 'text']);
  });

  it('not for a text refused for itself, nor beside a button', async () => {
    expect(await refusedPaths({ channel: 'pigeon', messageId: 'm3', from: { id: '+34600000001' }, text: 5 })).toEqual(['channel', 'text']);
    expect(await refusedPaths({ channel: 'pigeon', messageId: 'm4', from: { id: '+34600000001' }, button: 'STOP' })).toEqual(['channel']);
  });
});
