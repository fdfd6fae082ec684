import { afterEach, describe, expect, it } from 'vitest';
import { channelPropertyNames } from '../../../connectors/hubspot/properties.js';
import { hubspotProperties, linkedContact, setSms, startHarness, syncStatus, type Harness } from './harness.js';

/**
 * The sync starts HubSpot calls only while this process holds the worker lease: one that lost it
 * (or outlived it by its own clock, a paused VM) would otherwise write beside the new holder.
 */
const sms = channelPropertyNames('sms');

let h: Harness | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
});

describe('HubSpot sync under the worker lease', () => {
  it('calls HubSpot not at all while the lease is not held, keeps the change, and sends it once it is', async () => {
    h = await startHarness();
    const { contactId, hubspotId } = await linkedContact(h, 'ana.test@example.com');
    let leased = false;
    h.sync.sendOnlyWhile(() => leased);
    h.fake.resetStats();
    await setSms(h, contactId, 'opted_in');

    await h.sync.drain();
    expect(h.fake.stats.requests).toBe(0);
    expect(hubspotProperties(h, hubspotId)[sms.status]).toBeUndefined();

    leased = true;
    await h.sync.drain();
    expect(hubspotProperties(h, hubspotId)[sms.status]).toBe('opted_in');
    expect(h.fake.stats.contactWrites.get(hubspotId)).toBe(1);
    expect((await syncStatus(h)).backlog.pending).toBe(0);
  });
});
