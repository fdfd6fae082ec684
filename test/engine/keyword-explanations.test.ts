import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createEngine, type Engine, type WorkspaceEngine } from '../../src/engine.js';
import { FakeClock } from '../../src/ports/clock.js';
import { createMemoryStore } from '../../src/store/memory.js';

/** An opt-in to the workspace's own purpose `surveys` on WhatsApp, recorded through the API. */
async function optInToSurveys(ws: WorkspaceEngine, contactId: string): Promise<void> {
  await ws.setConsent({
    contactId,
    purpose: 'surveys',
    channel: 'whatsapp',
    status: 'opted_in',
    legalBasis: 'CONSENT_WITH_NOTICE',
    explanation: 'Ticked the surveys box',
    source: 'api',
    actor: { kind: 'integration', id: 'crm' },
  });
}

describe('the explanation of a keyword decision', () => {
  let engine: Engine;
  let ws: WorkspaceEngine;

  beforeEach(async () => {
    engine = createEngine({ store: createMemoryStore(), clock: new FakeClock('2026-03-01T10:00:00.000Z') });
    const workspace = await engine.createWorkspace({ name: 'Acme', settings: { triggers: [], purposes: ['surveys'] } });
    ws = engine.workspace(workspace.id);
  });

  afterEach(async () => {
    await engine.store.close();
  });

  const send = (channel: 'sms' | 'whatsapp', messageId: string, text: string) => ws.handleInbound({ channel, messageId, from: { id: '+34600000001' }, text });

  async function explanations(contactId: string): Promise<[string, string, string, string | null][]> {
    return (await ws.getHistory(contactId)).map((record) => [record.purpose, record.channel, record.status, record.explanation]);
  }

  it('names the purpose and the channel it records, the channel once', async () => {
    const alto = await send('sms', 'm1', 'ALTO');
    await send('sms', 'm2', 'EMPEZAR');
    await send('whatsapp', 'm3', 'STOP');
    expect(await explanations(alto.contactId)).toEqual([
      ['marketing', 'sms', 'opted_out', 'Opted out of marketing on sms by sending the keyword ALTO'],
      ['marketing', 'sms', 'opted_in', 'Opted in to marketing on sms by sending the keyword EMPEZAR'],
      ['marketing', 'whatsapp', 'opted_out', 'Opted out of marketing on whatsapp by sending the keyword STOP'],
    ]);
  });

  it('names every channel for STOP ALL, and the channel it was sent on, for marketing and each purpose it stops', async () => {
    const { contactId } = await send('sms', 'm1', 'hello');
    await optInToSurveys(ws, contactId);
    const stopAll = await send('sms', 'm2', 'STOP ALL');
    expect((await explanations(contactId)).slice(1)).toEqual([
      ['marketing', 'any', 'opted_out', 'Opted out of marketing on every channel by sending the keyword STOP ALL on sms'],
      ['surveys', 'any', 'opted_out', 'Opted out of surveys on every channel by sending the keyword STOP ALL on sms'],
    ]);
    // The events carry the record's explanation.
    expect(stopAll.events.filter((event) => event.type === 'consent.withdrawn').map((event) => new Map(Object.entries(event.data)).get('explanation'))).toEqual([
      'Opted out of marketing on every channel by sending the keyword STOP ALL on sms',
      'Opted out of surveys on every channel by sending the keyword STOP ALL on sms',
    ]);
  });

  it('names an own purpose a STOP stops on its channel once', async () => {
    const { contactId } = await send('whatsapp', 'm1', 'hello');
    await optInToSurveys(ws, contactId);
    await send('whatsapp', 'm2', 'PARAR');
    expect((await explanations(contactId)).slice(1)).toEqual([
      ['marketing', 'whatsapp', 'opted_out', 'Opted out of marketing on whatsapp by sending the keyword PARAR'],
      ['surveys', 'whatsapp', 'opted_out', 'Opted out of surveys on whatsapp by sending the keyword PARAR'],
    ]);
  });
});
