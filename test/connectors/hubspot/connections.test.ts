import { describe, expect, it } from 'vitest';
import { HubSpotConnections } from '../../../connectors/hubspot/connections.js';
import { FakeClock } from '../../../src/ports/clock.js';

const PORTAL = '62515';

function connections(): HubSpotConnections {
  return new HubSpotConnections({ clock: new FakeClock('2026-03-02T10:00:00.000Z'), sleep: async () => undefined, random: () => 0 });
}

describe('HubSpotConnections', () => {
  it('never shares a session, client or rate limiter between two workspaces naming one portal', () => {
    const all = connections();
    const first = all.session({ workspaceId: 'ws_a', accessToken: 'pat-na1-first', portalId: PORTAL });
    const second = all.session({ workspaceId: 'ws_b', accessToken: 'pat-na1-second', portalId: PORTAL });
    expect(second).not.toBe(first);
    expect(second.client).not.toBe(first.client);
    expect(second.limiter).not.toBe(first.limiter);
    first.v4BatchWrite = false;
    // Asking again, in either order, gives each workspace its own session back.
    expect(all.session({ workspaceId: 'ws_a', accessToken: 'pat-na1-first', portalId: PORTAL })).toBe(first);
    expect(all.session({ workspaceId: 'ws_b', accessToken: 'pat-na1-second', portalId: PORTAL })).toBe(second);
    expect(second.v4BatchWrite).toBeNull();
  });

  it("gives a workspace's new token a new client, keeping the portal's limiter; another portal starts afresh", () => {
    const all = connections();
    const first = all.session({ workspaceId: 'ws_a', accessToken: 'pat-na1-first', portalId: PORTAL });
    first.v4BatchWrite = false;
    const rotated = all.session({ workspaceId: 'ws_a', accessToken: 'pat-na1-rotated', portalId: PORTAL });
    expect(rotated.client).not.toBe(first.client);
    expect(rotated.limiter).toBe(first.limiter);
    expect(rotated.v4BatchWrite).toBe(false);
    const moved = all.session({ workspaceId: 'ws_a', accessToken: 'pat-na1-rotated', portalId: '77777' });
    expect(moved.limiter).not.toBe(first.limiter);
    expect(moved.v4BatchWrite).toBeNull();
  });

  it('keys a session without a workspace by its token', () => {
    const all = connections();
    const byToken = all.session({ accessToken: 'pat-na1-first', portalId: PORTAL });
    expect(all.session({ accessToken: 'pat-na1-first', portalId: PORTAL })).toBe(byToken);
    expect(all.session({ workspaceId: 'ws_a', accessToken: 'pat-na1-first', portalId: PORTAL })).not.toBe(byToken);
    expect(all.session({ accessToken: 'pat-na1-other', portalId: PORTAL }).limiter).not.toBe(byToken.limiter);
  });
});
