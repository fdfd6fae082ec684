import { afterEach, describe, expect, it } from 'vitest';
import { HubSpotConnections } from '../../../connectors/hubspot/connections.js';
import { channelPropertyNames, TAGS_PROPERTY } from '../../../connectors/hubspot/properties.js';
import { hubSpotStateFor } from '../../../connectors/hubspot/state-sqlite.js';
import { HubSpotSync } from '../../../connectors/hubspot/sync.js';
import { hubspotProperties, linkedContact, startHarness, type Harness } from './harness.js';

/**
 * The tags property's options: HubSpot refuses a value without an option (INVALID_OPTION) and
 * replaces the whole list on PATCH (https://developers.hubspot.com/docs/api/crm/properties).
 */
const PATCH_PROPERTY = 'PATCH /crm/v3/properties/contacts/{name}';
const GET_PROPERTY = 'GET /crm/v3/properties/contacts/{name}';
const whatsapp = channelPropertyNames('whatsapp');
const actor = { kind: 'user' as const, id: 'user-ana' };

let h: Harness | null = null;
const others: HubSpotSync[] = [];
afterEach(async () => {
  for (const sync of others.splice(0)) await sync.stop();
  await h?.close();
  h = null;
});

function tagOptions(harness: Harness): string[] {
  return (harness.fake.state.properties.get(TAGS_PROPERTY)?.options ?? []).map((o) => o.value).sort();
}

async function syncFailures(harness: Harness) {
  return (await harness.workspace.listEvents({ types: ['sync.failed'] })).map((e) => e.data);
}

/** A second sync process over the same store: its own connections, so its own copy of the portal's options. */
function secondProcess(harness: Harness, sleep?: (ms: number) => Promise<void>): HubSpotSync {
  const connections = new HubSpotConnections({
    clock: harness.clock,
    sleep: async (ms) => {
      harness.clock.advance(ms);
    },
    random: () => 0,
    basePath: harness.fake.url,
  });
  const sync = new HubSpotSync({
    engine: harness.engine,
    store: harness.store,
    clock: harness.clock,
    connections,
    random: () => 0,
    state: hubSpotStateFor(harness.store),
    ...(sleep === undefined ? {} : { sleep }),
  });
  others.push(sync);
  return sync;
}

async function optOutOfWhatsApp(harness: Harness, contactId: string): Promise<void> {
  await harness.workspace.setConsent({ contactId, purpose: 'marketing', channel: 'whatsapp', status: 'opted_out', source: 'manual', actor });
}

describe('HubSpot sync: tag options', () => {
  it('adds again an option removed in HubSpot, and writes the opt-out that came with the tag', async () => {
    h = await startHarness();
    const first = await linkedContact(h, 'ana.test@example.com');
    await h.workspace.addTag(first.contactId, 'VIP');
    await h.sync.drain();
    expect(tagOptions(h)).toEqual(['VIP']);
    // A person removes the option in HubSpot; this process still has it in its copy.
    const property = h.fake.state.properties.get(TAGS_PROPERTY);
    if (property !== undefined) property.options = [];

    const second = await linkedContact(h, 'bea.test@example.com', { [whatsapp.status]: 'opted_in' });
    await h.workspace.addTag(second.contactId, 'VIP');
    await optOutOfWhatsApp(h, second.contactId);
    const summary = await h.sync.drain();
    expect(summary).toMatchObject({ done: 2, dead: 0 });
    expect(hubspotProperties(h, second.hubspotId)).toEqual(expect.objectContaining({ [whatsapp.status]: 'opted_out', [TAGS_PROPERTY]: 'VIP' }));
    expect(tagOptions(h)).toEqual(['VIP']);
    expect(await syncFailures(h)).toEqual([]);
  });

  it("builds each PATCH from HubSpot's list, so a second sync process keeps the first one's options", async () => {
    h = await startHarness();
    const other = secondProcess(h);
    // The second process reads the portal's options while they are still none.
    const early = await linkedContact(h, 'cai.test@example.com');
    await optOutOfWhatsApp(h, early.contactId);
    await other.drain();

    const ana = await linkedContact(h, 'ana.test@example.com');
    await h.workspace.addTag(ana.contactId, 'VIP');
    await h.sync.drain();
    const bea = await linkedContact(h, 'bea.test@example.com');
    await h.workspace.addTag(bea.contactId, 'Gold');
    await other.drain();
    expect(tagOptions(h)).toEqual(['Gold', 'VIP']);

    // Ana's next write still carries VIP: HubSpot takes it, opt-out included.
    await optOutOfWhatsApp(h, ana.contactId);
    expect(await h.sync.drain()).toMatchObject({ done: 1, dead: 0 });
    expect(hubspotProperties(h, ana.hubspotId)).toEqual(expect.objectContaining({ [whatsapp.status]: 'opted_out', [TAGS_PROPERTY]: 'VIP' }));
  });

  it('lets one process at a time read and replace the options, through a lease in the store', async () => {
    h = await startHarness();
    const harness = h;
    const ana = await linkedContact(h, 'ana.test@example.com');
    const bea = await linkedContact(h, 'bea.test@example.com');
    // The first process's read of the property is answered (no options yet) and held on its way back.
    const held = h.fake.holdNext(GET_PROPERTY);
    await h.workspace.addTag(ana.contactId, 'VIP');
    const firstRun = h.sync.runOnce();
    await held.reached;

    let waited = false;
    let signalWaiting = (): void => undefined;
    const secondWaiting = new Promise<void>((resolve) => {
      signalWaiting = resolve;
    });
    const second = secondProcess(harness, async () => {
      waited = true;
      signalWaiting();
      // Waits for the first process to finish, which frees the lease.
      await firstRun;
    });
    await h.workspace.addTag(bea.contactId, 'Gold');
    const secondRun = second.runOnce();
    await Promise.race([secondWaiting, secondRun]);
    held.release();
    await Promise.all([firstRun, secondRun]);

    expect(waited).toBe(true);
    expect(tagOptions(harness)).toEqual(['Gold', 'VIP']);
    expect(hubspotProperties(harness, ana.hubspotId)[TAGS_PROPERTY]).toBe('VIP');
    expect(hubspotProperties(harness, bea.hubspotId)[TAGS_PROPERTY]).toBe('Gold');
    expect(await harness.store.transaction((tx) => tx.getMeta(`hubspot.tagOptionsLease.62515`))).toBeNull();
  });

  it('sends a record HubSpot still refuses for the tags property again without it: the consent is written, only the tag is dead-lettered', async () => {
    h = await startHarness();
    const harness = h;
    const ana = await linkedContact(h, 'ana.test@example.com', { [whatsapp.status]: 'opted_in' });
    // Whatever the sync adds, a person (or a workflow) removes it again at once.
    h.fake.rewriteNext(
      PATCH_PROPERTY,
      (answer) => {
        const property = harness.fake.state.properties.get(TAGS_PROPERTY);
        if (property !== undefined) property.options = [];
        return answer;
      },
      2,
    );
    await h.workspace.addTag(ana.contactId, 'VIP');
    await optOutOfWhatsApp(h, ana.contactId);
    const summary = await h.sync.drain();
    expect(summary).toMatchObject({ done: 1, dead: 1 });
    expect(hubspotProperties(h, ana.hubspotId)[whatsapp.status]).toBe('opted_out');
    expect(hubspotProperties(h, ana.hubspotId)[TAGS_PROPERTY]).toBeUndefined();
    expect(h.fake.stats.byEndpoint[GET_PROPERTY]).toBe(2);
    expect(await syncFailures(h)).toEqual([
      expect.objectContaining({ contactId: ana.contactId, operation: 'update_contact', reason: expect.stringMatching(/consentry_tags.*VIP.*was not one of the allowed options/) }),
    ]);
  });
});
