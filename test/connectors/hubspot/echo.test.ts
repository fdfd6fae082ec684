import { describe, expect, it } from 'vitest';
import { classifyInbound, ECHO_WINDOW_MS, emptyContactState, rememberInbound, rememberWrites } from '../../../connectors/hubspot/echo.js';

const T = Date.parse('2026-03-02T10:00:00.000Z');
const STATUS = 'consentry_sms_status';

function wrote(value: string, atMs: number, state = emptyContactState()) {
  return rememberWrites(state, { properties: { [STATUS]: value }, stamps: { [STATUS]: { occurredAt: new Date(atMs).toISOString(), position: atMs } } }, atMs);
}

describe('echo suppression', () => {
  it('recognises a value it wrote within the window, whatever came after', () => {
    const state = wrote('opted_out', T + 1000, wrote('opted_in', T));
    expect(classifyInbound(state, { property: STATUS, value: 'opted_in', occurredAtMs: T + 50 }, T + 60_000)).toBe('echo');
    expect(classifyInbound(state, { property: STATUS, value: 'opted_out', occurredAtMs: T + 1050 }, T + 60_000)).toBe('echo');
    expect(classifyInbound(state, { property: STATUS, value: 'not_specified', occurredAtMs: T + 2000 }, T + 60_000)).toBe('new');
  });

  it('forgets writes older than the window', () => {
    const state = wrote('opted_in', T);
    expect(classifyInbound(state, { property: STATUS, value: 'opted_in', occurredAtMs: T + 10 }, T + ECHO_WINDOW_MS + 1)).toBe('new');
    const pruned = wrote('opted_out', T + ECHO_WINDOW_MS + 5, state);
    expect(pruned.writes[STATUS]?.map((w) => w.value)).toEqual(['opted_out']);
  });

  it('treats the value as a person\'s edit once HubSpot moved past our writes, and older events as stale', () => {
    const heard = rememberInbound(wrote('opted_in', T), STATUS, T + 5000);
    expect(classifyInbound(heard, { property: STATUS, value: 'opted_in', occurredAtMs: T + 6000 }, T + 7000)).toBe('new');
    expect(classifyInbound(heard, { property: STATUS, value: 'opted_in', occurredAtMs: T + 4000 }, T + 7000)).toBe('stale');
    expect(heard.stamps[STATUS]).toEqual({ occurredAt: new Date(T).toISOString(), position: T });
  });

  it('keeps stamps of earlier writes when a later write touches other properties', () => {
    const first = wrote('opted_in', T);
    const second = rememberWrites(first, { properties: { consentry_tags: 'VIP' }, stamps: { consentry_tags: { occurredAt: new Date(T + 1).toISOString(), position: 2 } } }, T + 1);
    expect(Object.keys(second.stamps).sort()).toEqual(['consentry_sms_status', 'consentry_tags']);
  });
});
