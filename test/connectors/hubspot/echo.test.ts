import { describe, expect, it } from 'vitest';
import {
  classifyInbound,
  ECHO_CLOCK_TOLERANCE_MS,
  ECHO_WINDOW_MS,
  emptyContactState,
  forgetAwaitingBasis,
  rememberAwaitingBasis,
  rememberEcho,
  rememberInbound,
  rememberWrites,
} from '../../../connectors/hubspot/echo.js';

const T = Date.parse('2026-03-02T10:00:00.000Z');
const STATUS = 'consentry_sms_status';

function wrote(value: string, atMs: number, state = emptyContactState()) {
  return rememberWrites(state, { properties: { [STATUS]: value }, stamps: { [STATUS]: { occurredAt: new Date(atMs).toISOString(), position: atMs } } }, atMs);
}

describe('echo suppression', () => {
  it('recognises the echo of each write, a late echo of an earlier write included', () => {
    const state = wrote('opted_out', T + 1000, wrote('opted_in', T));
    expect(classifyInbound(state, { property: STATUS, value: 'opted_in', occurredAtMs: T + 50 }, T + 60_000)).toBe('echo');
    expect(classifyInbound(state, { property: STATUS, value: 'opted_out', occurredAtMs: T + 1050 }, T + 60_000)).toBe('echo');
    expect(classifyInbound(state, { property: STATUS, value: 'not_specified', occurredAtMs: T + 2000 }, T + 60_000)).toBe('new');
  });

  it('takes a value we wrote earlier for a new change once it comes after HubSpot applied our later write', () => {
    const stop = { property: STATUS, value: 'opted_out', occurredAtMs: T + 100 };
    const start = { property: STATUS, value: 'opted_in', occurredAtMs: T + 30 * 60_000 + 100 };
    let state = wrote('opted_out', T);
    state = rememberEcho(state, stop, T + 1000);
    state = wrote('opted_in', T + 30 * 60_000, state);
    state = rememberEcho(state, start, T + 30 * 60_000 + 1000);
    const later = T + 150 * 60_000;
    // Whatever HubSpot says of its source, a change two hours after our last write is not its echo.
    expect(classifyInbound(state, { property: STATUS, value: 'opted_out', occurredAtMs: later }, later)).toBe('new');
    expect(classifyInbound(state, { property: STATUS, value: 'opted_in', occurredAtMs: later }, later)).toBe('new');
    // Redeliveries of the echoes already heard stay echoes.
    expect(classifyInbound(state, stop, later)).toBe('echo');
    expect(classifyInbound(state, start, later)).toBe('echo');
  });

  it('waits for an unheard echo up to the clock tolerance after the write', () => {
    const state = wrote('opted_out', T);
    const at = (occurredAtMs: number) => classifyInbound(state, { property: STATUS, value: 'opted_out', occurredAtMs }, T + 10 * 60_000);
    expect(at(T + ECHO_CLOCK_TOLERANCE_MS)).toBe('echo');
    expect(at(T + ECHO_CLOCK_TOLERANCE_MS + 1)).toBe('new');
  });

  it('never takes a change a HubSpot user made for an echo', () => {
    const state = wrote('opted_out', T);
    const change = { property: STATUS, value: 'opted_out', occurredAtMs: T + 10 };
    expect(classifyInbound(state, { ...change, changeSource: 'CRM_UI' }, T + 1000)).toBe('new');
    expect(classifyInbound(state, { ...change, changeSource: 'IMPORT' }, T + 1000)).toBe('new');
    expect(classifyInbound(state, { ...change, changeSource: 'API', sourceId: 'userId:4471' }, T + 1000)).toBe('new');
    expect(classifyInbound(state, { ...change, changeSource: 'INTEGRATION' }, T + 1000)).toBe('echo');
    // Only an echo is remembered as heard.
    expect(rememberEcho(state, { ...change, changeSource: 'CRM_UI' }, T + 1000)).toBe(state);
    expect(rememberEcho(state, change, T + 1000).writes[STATUS]).toEqual([{ value: 'opted_out', at: T, heardAt: T + 10 }]);
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

describe('an opt-in awaiting its legal basis', () => {
  it('is settled by a status change as late or later, and not by an earlier one delivered late', () => {
    const awaiting = rememberAwaitingBasis(emptyContactState(), 'status', 2_000);
    expect(rememberInbound(awaiting, 'status', 1_000).awaitingBasis).toEqual({ status: 2_000 });
    expect(rememberInbound(awaiting, 'status', 2_000).awaitingBasis).toEqual({});
    expect(rememberInbound(awaiting, 'other', 3_000).awaitingBasis).toEqual({ status: 2_000 });
    expect(forgetAwaitingBasis(awaiting, 'status').awaitingBasis).toEqual({});
  });
});
