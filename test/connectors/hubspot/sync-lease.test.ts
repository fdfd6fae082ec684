import { afterEach, describe, expect, it } from 'vitest';
import type { FakeClock } from '../../../src/ports/clock.js';
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

  it('starts no further HubSpot call once the lease runs out during a task, and the change is sent once by the next holder', async () => {
    let clock: FakeClock | null = null;
    const arrivals: number[] = [];
    // Each request takes a second of the fake clock, as a slow HubSpot would.
    h = await startHarness({
      fake: {
        delay: async (ms) => {
          if (clock === null) return;
          arrivals.push(clock.now().getTime());
          clock.advance(ms);
        },
      },
    });
    clock = h.clock;
    const { contactId, hubspotId } = await linkedContact(h, 'ana.test@example.com');
    await setSms(h, contactId, 'opted_in');
    const heldUntil = h.clock.now().getTime() + 500;
    const now = h.clock;
    h.sync.sendOnlyWhile(() => now.now().getTime() < heldUntil);
    h.fake.setLatency(1000);

    await h.sync.runOnce();
    expect(arrivals.length).toBeGreaterThan(0);
    expect(arrivals.filter((at) => at >= heldUntil)).toEqual([]);
    expect(hubspotProperties(h, hubspotId)[sms.status]).toBeUndefined();

    h.fake.setLatency(0);
    h.sync.sendOnlyWhile(() => true);
    await h.sync.drain();
    expect(hubspotProperties(h, hubspotId)[sms.status]).toBe('opted_in');
    expect(h.fake.stats.contactWrites.get(hubspotId)).toBe(1);
  });
});
