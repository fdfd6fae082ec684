import { HttpResponse } from 'msw';
import { beforeEach, describe, expect, it } from 'vitest';
import { ERASED, type ConsentryEvent } from '../../../src/core/events.js';
import type { Engine } from '../../../src/engine.js';
import type { FakeClock } from '../../../src/ports/clock.js';
import { ANA, ANA_EMAIL, ANA_MESSAGE, ANA_RECORD, CHANNEL, ERASURE_STORES, useErasureBed, type ErasureSetup } from './erasure-bed.js';
import { fakeSlackChat, useSlackMsw, type SlackCall } from './harness.js';

const TOKEN = 'xoxb-erasure-token';
/** Everything of Ana's that an alert could carry. */
const ANA_DATA = [ANA, ANA_MESSAGE, ANA_EMAIL, ANA_RECORD];

const msw = useSlackMsw({ passLoopback: false });

const slack = fakeSlackChat();
const { calls, scripted } = slack;

/** Everything a Slack call carried, for looking for personal data in it. */
const sent = (call: SlackCall): string => [...call.form.values()].join('\n');

describe.each(Object.keys(ERASURE_STORES))('Slack alerts of an erased contact (%s store)', (kind) => {
  const bed = useErasureBed(kind, { botToken: TOKEN, signingSecret: 'erasure-secret' });
  const { eventId, dispatcher, workspace, contact, consentFailed, optoutReview, append } = bed;
  let setup: ErasureSetup;
  let clock: FakeClock;
  let engine: Engine;

  beforeEach(() => {
    slack.reset(msw);
    ({ setup, clock, engine } = bed.state());
  });

  function syncFailed(workspaceId: string, contactId: string): ConsentryEvent<'sync.failed'> {
    return {
      id: eventId(),
      type: 'sync.failed',
      version: 1,
      workspaceId,
      occurredAt: clock.now().toISOString(),
      contactId,
      data: { integration: 'hubspot', contactId, operation: 'update_contact', reason: `Email address ${ANA_EMAIL} is invalid`, retryable: false },
    };
  }

  /** The stored alert rows as the SQLite table holds them, or the records of the in-memory twin. */
  async function storedAlerts(workspaceId: string): Promise<string[]> {
    if (setup.sqlite !== null) {
      const rows: unknown[] = setup.sqlite.db.prepare('SELECT * FROM slack_alerts WHERE workspace_id = ? ORDER BY event_id').all(workspaceId);
      return rows.map((row) => JSON.stringify(row));
    }
    const records: string[] = [];
    for (let n = 1; n <= bed.alertCount(); n += 1) {
      const record = await setup.alerts.getRecord(workspaceId, `al_${n}`);
      if (record !== null) records.push(JSON.stringify(record));
    }
    return records;
  }

  it('redacts every stored alert of the contact, whatever its delivery, edits the one posted, and posts nothing of them afterwards', async () => {
    const ws = await workspace();
    const ana = await contact(ws, ANA, '101');
    const ben = await contact(ws, 'Ben Test', '102');
    const runner = dispatcher();

    // al_1 fails for good; al_2 is posted; al_3 (Ana's opt-out review) and al_4 (Ben) wait for the channel's pace.
    scripted['chat.postMessage'] = [() => HttpResponse.json({ ok: false, error: 'invalid_blocks' })];
    await append(consentFailed(ws, ana, ANA), consentFailed(ws, ana, ANA));
    expect(await runner.runOnce()).toMatchObject({ alerts: 2, failed: 1, posted: 0 });
    clock.advance(1_000);
    await append(optoutReview(ws, ana), consentFailed(ws, ben, 'Ben Test'));
    expect(await runner.runOnce()).toMatchObject({ alerts: 2, posted: 1 });
    expect(runner.pending(ws)).toBe(2);
    // Raised before the erasure, read after it: the engine leaves a sync failure's reason as it is.
    await append(syncFailed(ws, ana));
    expect(calls.map(sent).join('\n')).toContain(ANA);

    await engine.workspace(ws).eraseContact(ana);
    const before = calls.length;
    expect(await runner.runOnce()).toMatchObject({ alerts: 1, posted: 0 });
    for (let step = 0; step < 5; step += 1) {
      clock.advance(1_000);
      await runner.runOnce();
    }

    const after = calls.slice(before);
    // The posted alert (al_2) is edited first, taking turns with the posts waiting: Ana's review, Ben's failure, Ana's sync failure.
    expect(after.map((call) => call.method)).toEqual(['chat.update', 'chat.postMessage', 'chat.postMessage', 'chat.postMessage']);
    const posted = await setup.alerts.getRecord(ws, 'al_2');
    expect(after[0]?.form.get('ts')).toBe(posted?.message?.ts);
    const texts = after.map(sent);
    for (const text of texts) for (const personal of ANA_DATA) expect(text).not.toContain(personal);
    // Ana's alerts, the one edited and the two posted after her erasure, are closed: no buttons, no quote, no reason.
    for (const index of [0, 1, 3]) {
      expect(texts[index]).toContain('Contact erased');
      expect(texts[index]).not.toContain('"actions"');
      expect(texts[index]).not.toContain(ERASED);
    }
    expect(texts[1]).toContain('Opt-out review');
    expect(texts[2]).toContain('Ben Test');
    expect(texts[2]).toContain('record/0-1/102');
    expect(texts[3]).toContain('Sync failed');
    expect(await setup.alerts.listPending(ws, 10)).toEqual([]);
    expect(await setup.alerts.listRedactions(ws, 10)).toEqual([]);

    const deliveries = await Promise.all([1, 2, 3, 5].map((n) => setup.alerts.getRecord(ws, `al_${n}`)));
    expect(deliveries.map((record) => [record?.delivery, record?.contactName, record?.contactUrl])).toEqual([
      ['failed', null, null],
      ['posted', null, null],
      ['posted', null, null],
      ['posted', null, null],
    ]);
    const rows = await storedAlerts(ws);
    expect(rows).toHaveLength(5);
    const [benRow] = rows.filter((row) => row.includes('Ben Test'));
    expect(benRow).toContain('record/0-1/102');
    for (const row of rows.filter((r) => r !== benRow)) for (const personal of ANA_DATA) expect(row).not.toContain(personal);
  });

  it('shows no erased name in a digest that was waiting to be posted', async () => {
    const ws = await workspace(1);
    const ana = await contact(ws, ANA, '101');
    const ben = await contact(ws, 'Ben Test', '102');
    const runner = dispatcher();
    await append(consentFailed(ws, ben, 'Ben Test'), consentFailed(ws, ana, ANA), consentFailed(ws, ben, 'Ben Test'));
    expect(await runner.runOnce()).toMatchObject({ alerts: 3, posted: 1 });

    await engine.workspace(ws).eraseContact(ana);
    await runner.runOnce();
    clock.advance(1_000);
    expect(await runner.runOnce()).toMatchObject({ digestsPosted: 1 });
    const digest = calls.at(-1);
    expect(digest?.method).toBe('chat.postMessage');
    const text = digest === undefined ? '' : sent(digest);
    expect(text).toContain('2 Consentry alerts');
    expect(text).toContain('Ben Test');
    expect(text).toContain('Consent failed: Contact erased');
    for (const personal of ANA_DATA) expect(text).not.toContain(personal);
    expect(await setup.alerts.getRecord(ws, 'al_2')).toMatchObject({ delivery: 'digested', contactName: null });
  });
});
