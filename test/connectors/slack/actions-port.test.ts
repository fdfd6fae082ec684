import { describe, expect, it } from 'vitest';
import { InMemoryAlertStore, type AlertClaim } from '../../../connectors/slack/actions-port.js';
import { ConsentryError } from '../../../src/core/errors.js';
import { consentFailedEvent, EMAIL, newAlert } from './fixtures.js';

const claimBy = (slackUserId: string, at = '2026-01-01T10:00:00.000Z'): AlertClaim => ({
  action: 'resend_consent_request',
  slackUserId,
  at,
});

describe('InMemoryAlertStore', () => {
  it('creates one alert per event, however often the event is delivered', async () => {
    const store = new InMemoryAlertStore();
    const first = await store.create(newAlert('al_1', consentFailedEvent()));
    const again = await store.create(newAlert('al_2', consentFailedEvent()));
    expect(again.id).toBe(first.id);
    expect(await store.get('ws_1', 'al_2')).toBeNull();
    expect(await store.get('ws_2', 'al_1')).toBeNull();
  });

  it('refuses an alert id that is not opaque', async () => {
    await expect(new InMemoryAlertStore().create(newAlert(EMAIL, consentFailedEvent()))).rejects.toThrow(ConsentryError);
  });

  it('lets exactly one claim win, and resolves the alert once', async () => {
    const store = new InMemoryAlertStore();
    await store.create(newAlert('al_1', consentFailedEvent()));
    const winner = claimBy('UACTOR1');
    expect((await store.claim('ws_1', 'al_1', winner)).status).toBe('claimed');
    expect((await store.claim('ws_1', 'al_1', claimBy('UACTOR2'))).status).toBe('in_progress');
    await expect(store.resolve('ws_1', 'al_1', claimBy('UACTOR2'))).rejects.toThrow(/not claimed/);
    const resolved = await store.resolve('ws_1', 'al_1', winner);
    expect(resolved.resolution).toEqual(winner);
    expect(resolved.claim).toBeNull();
    const late = await store.claim('ws_1', 'al_1', claimBy('UACTOR2'));
    expect(late.status === 'already_resolved' && late.resolution.slackUserId).toBe('UACTOR1');
    await expect(store.resolve('ws_1', 'al_1', winner)).rejects.toThrow(/already resolved/);
  });

  it('gives a released claim back, but only for its holder', async () => {
    const store = new InMemoryAlertStore();
    await store.create(newAlert('al_1', consentFailedEvent()));
    const claim = claimBy('UACTOR1');
    await store.claim('ws_1', 'al_1', claim);
    await store.release('ws_1', 'al_1', claimBy('UACTOR2'));
    expect((await store.get('ws_1', 'al_1'))?.claim).toEqual(claim);
    await store.release('ws_1', 'al_1', claim);
    expect((await store.claim('ws_1', 'al_1', claimBy('UACTOR2'))).status).toBe('claimed');
  });

  it('lets an abandoned claim be taken over after the timeout', async () => {
    const store = new InMemoryAlertStore({ claimTimeoutMs: 60_000 });
    await store.create(newAlert('al_1', consentFailedEvent()));
    await store.claim('ws_1', 'al_1', claimBy('UACTOR1', '2026-01-01T10:00:00.000Z'));
    expect((await store.claim('ws_1', 'al_1', claimBy('UACTOR2', '2026-01-01T10:01:00.000Z'))).status).toBe('in_progress');
    expect((await store.claim('ws_1', 'al_1', claimBy('UACTOR2', '2026-01-01T10:01:00.001Z'))).status).toBe('claimed');
  });

  it('records where the alert was posted, and hands out copies', async () => {
    const store = new InMemoryAlertStore();
    await store.create(newAlert('al_1', consentFailedEvent()));
    await store.attachMessage('ws_1', 'al_1', { channel: 'C0ALERTS01', ts: '1.2' });
    const copy = await store.get('ws_1', 'al_1');
    expect(copy?.message).toEqual({ channel: 'C0ALERTS01', ts: '1.2' });
    if (copy) copy.contactName = 'changed';
    expect((await store.get('ws_1', 'al_1'))?.contactName).not.toBe('changed');
    expect((await store.claim('ws_1', 'al_404', claimBy('UACTOR1'))).status).toBe('not_found');
  });
});
