import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/ports/clock.js';
import type { Store } from '../../src/ports/store.js';
import { createMemoryStore } from '../../src/store/memory.js';
import type { HookDispatcher } from '../../src/worker/hook-dispatcher.js';
import type { DeliveryRequest, DeliveryResponse, DeliverySender } from '../../src/worker/http-sender.js';
import { WorkerLease, type LeasedWorker, type LeaseProcess } from '../../src/worker/worker-lease.js';
import { inbound, makeWorld, type World } from './fixtures.js';
import { flakyStore, ManualTimers, RecordingWorker, settleTurns } from './manual-timers.js';

const TTL_MS = 30_000;
const RENEW_MS = 10_000;
/** Never resolved in these tests: the sender below answers without the network. */
const TARGET_URL = 'https://example.com/hook';

const PIDS: Readonly<Record<string, number>> = { 'process-a': 101, 'process-b': 102 };
/** Both processes run: neither lease is taken early as one left by a dead process. */
const processOf = (holder: string): LeaseProcess => ({ host: 'host-1', pid: PIDS[holder] ?? 999, pidSpace: 'boot-1/pid:[1]', isRunning: () => true });

/**
 * Answers 200 to every delivery without the network, recording the event ids it was asked to
 * send; while `holding`, the answers wait for `release()`, as a slow receiver's would.
 */
class FakeSender implements DeliverySender {
  readonly sent: string[] = [];
  holding = false;
  private waiting: Array<() => void> = [];

  async send(request: DeliveryRequest): Promise<DeliveryResponse> {
    this.sent.push(request.headers['x-consentry-event-id'] ?? '');
    if (this.holding) await new Promise<void>((resolve) => this.waiting.push(resolve));
    return { kind: 'response', statusCode: 200, retryAfter: undefined, bodyPrefix: '' };
  }

  release(): void {
    this.holding = false;
    for (const answer of this.waiting.splice(0)) answer();
  }

  close(): void {}
}

/** A worker that records how it was started and stopped, and keeps the lease check it was given. */
class RecordingLeasedWorker implements LeasedWorker {
  readonly calls: string[] = [];
  holdsLease: (() => boolean) | null = null;
  start(): void {
    this.calls.push('start');
  }
  async stop(): Promise<void> {
    this.calls.push('stop');
  }
  async stopWithoutDraining(): Promise<void> {
    this.calls.push('stopWithoutDraining');
  }
  sendOnlyWhile(holdsLease: () => boolean): void {
    this.holdsLease = holdsLease;
  }
}


const senders: FakeSender[] = [];
const leases: WorkerLease[] = [];
const stores: Store[] = [];
afterEach(async () => {
  // Answers still held would keep a stopping dispatcher waiting.
  for (const sender of senders.splice(0)) sender.release();
  for (const lease of leases.splice(0)) await lease.stop();
  for (const store of stores.splice(0)) await store.close();
});

function leaseOf(store: Store, clock: FakeClock, holder: string, workers: readonly LeasedWorker[]): WorkerLease {
  const lease = new WorkerLease({ store, clock, workers, holder, process: processOf(holder), ttlMs: TTL_MS, renewEveryMs: RENEW_MS, timers: new ManualTimers({ settle: settleTurns, turnsAsTimers: true }) });
  leases.push(lease);
  return lease;
}

/** A dispatcher whose loop sleeps on timers nobody moves: after its first pass, only the test makes it pass again. */
function dispatcherOf(w: World): { dispatcher: HookDispatcher; sender: FakeSender } {
  const sender = new FakeSender();
  senders.push(sender);
  return { dispatcher: w.dispatcher({ sender, timers: new ManualTimers() }), sender };
}

async function world(): Promise<World> {
  const made = await makeWorld();
  stores.push(made.store);
  return made;
}

async function deliveryStates(w: World, hookId: string): Promise<Array<[string, string, number]>> {
  const rows = (await w.hooks.deliveries(w.ws.workspaceId, hookId, {})).data;
  return rows.map((row): [string, string, number] => [row.eventId, row.status, row.attempts]).reverse();
}

async function stopFrom(w: World, messageId: string, phone: string): Promise<string> {
  const handled = await w.ws.handleInbound(inbound(messageId, 'STOP', phone));
  const [event] = await w.ws.listEvents({ types: ['consent.withdrawn'], contactId: handled.contactId, limit: 1 });
  if (!event) throw new Error('the STOP raised no consent.withdrawn event');
  return event.id;
}

describe('the workers a lease runs', () => {
  it('are stopped without draining when another process has taken the lease, and with stop() on their own shutdown', async () => {
    const store = createMemoryStore();
    stores.push(store);
    const clock = new FakeClock('2026-03-01T09:00:00.000Z');
    const leased = new RecordingLeasedWorker();
    const plain = new RecordingWorker();
    const first = leaseOf(store, clock, 'process-a', [leased, plain]);
    const second = leaseOf(store, clock, 'process-b', [new RecordingWorker()]);
    await first.start();
    await second.start();

    // The first process stands still past its lease; the second takes it, then the first renews.
    clock.advance(TTL_MS);
    await second.renew();
    await first.renew();
    expect(first.runsWorkers).toBe(false);
    expect(leased.calls).toEqual(['start', 'stopWithoutDraining']);
    // A worker that offers no other way is stopped as before.
    expect(plain.calls).toEqual(['start', 'stop']);

    // Once the lease is back with the first process, its own shutdown lets the workers finish what is due.
    await second.stop();
    await first.renew();
    await first.stop();
    expect(leased.calls).toEqual(['start', 'stopWithoutDraining', 'start', 'stop']);
  });

  it('are stopped without draining when renewals failed until the lease ran out', async () => {
    const store = flakyStore(createMemoryStore());
    stores.push(store);
    const clock = new FakeClock('2026-03-01T09:00:00.000Z');
    const leased = new RecordingLeasedWorker();
    const only = leaseOf(store, clock, 'process-a', [leased]);
    await only.start();

    store.failing = true;
    clock.advance(TTL_MS - 1);
    await only.renew();
    expect(leased.calls).toEqual(['start']);
    clock.advance(1);
    await only.renew();
    expect(leased.calls).toEqual(['start', 'stopWithoutDraining']);
  });

  it('are told whether the lease this process wrote is in force by the clock, before any renewal notices', async () => {
    const store = createMemoryStore();
    stores.push(store);
    const clock = new FakeClock('2026-03-01T09:00:00.000Z');
    const leased = new RecordingLeasedWorker();
    const only = leaseOf(store, clock, 'process-a', [leased]);
    const holdsLease = (): boolean | undefined => leased.holdsLease?.();
    // Given when the lease is made; no lease is held before start().
    expect(holdsLease()).toBe(false);
    await only.start();
    expect(holdsLease()).toBe(true);

    clock.advance(TTL_MS - 1);
    expect(holdsLease()).toBe(true);
    clock.advance(1);
    expect(holdsLease()).toBe(false);
    expect(only.holdsLease).toBe(false);
    // Nobody else took it: the renewal keeps it, and the workers ran throughout.
    await only.renew();
    expect(holdsLease()).toBe(true);
    expect(leased.calls).toEqual(['start']);

    await only.stop();
    expect(holdsLease()).toBe(false);
  });
});

describe('HookDispatcher.stopWithoutDraining', () => {
  it('picks nothing more, waits for the answer in flight and records it, and a later start() sends again', async () => {
    const w = await world();
    const { dispatcher, sender } = dispatcherOf(w);
    sender.holding = true;
    const hook = await w.hooks.create(w.ws.workspaceId, { targetUrl: TARGET_URL, event: 'consent.withdrawn' });
    const first = await stopFrom(w, 'm1', '+34600000001');
    dispatcher.start();
    await settleTurns();
    expect(sender.sent).toEqual([first]);
    const second = await stopFrom(w, 'm2', '+34600000002');

    const stopping = dispatcher.stopWithoutDraining();
    await settleTurns();
    expect(sender.sent).toEqual([first]);
    sender.release();
    await stopping;
    expect(dispatcher.running).toBe(false);
    expect(await deliveryStates(w, hook.id)).toEqual([[first, 'delivered', 1]]);
    // Without a drain, stop() afterwards is the same stop.
    await dispatcher.stop();
    expect(sender.sent).toEqual([first]);

    // Its process took the lease back: the loop sends what is due.
    dispatcher.start();
    await settleTurns();
    expect(sender.sent).toEqual([first, second]);
  });
});

describe('the hook dispatcher under the worker lease', () => {
  it('starts no send once the lease has run out by the clock, even before a renewal noticed, and sends again once it is renewed', async () => {
    const w = await world();
    const { dispatcher, sender } = dispatcherOf(w);
    const lease = leaseOf(w.store, w.clock, 'process-a', [dispatcher]);
    await lease.start();
    await settleTurns();
    const hook = await w.hooks.create(w.ws.workspaceId, { targetUrl: TARGET_URL, event: 'consent.withdrawn' });
    const eventId = await stopFrom(w, 'm1', '+34600000001');

    w.clock.advance(TTL_MS);
    expect(await dispatcher.runOnce()).toMatchObject({ events: 0, attempted: 0 });
    expect(sender.sent).toEqual([]);
    expect(await deliveryStates(w, hook.id)).toEqual([]);

    // A lone process: its renewal finds the lease as it left it, and delivery goes on.
    await lease.renew();
    expect(lease.runsWorkers).toBe(true);
    expect(await dispatcher.runOnce()).toMatchObject({ events: 1, attempted: 1, delivered: 1 });
    expect(sender.sent).toEqual([eventId]);
  });

  it('sends nothing beside the process that took the lease over: each delivery goes out once, from the new holder', async () => {
    const w = await world();
    const a = dispatcherOf(w);
    const b = dispatcherOf(w);
    const leaseA = leaseOf(w.store, w.clock, 'process-a', [a.dispatcher]);
    const leaseB = leaseOf(w.store, w.clock, 'process-b', [b.dispatcher]);
    await leaseA.start();
    await leaseB.start();
    await settleTurns();
    const hook = await w.hooks.create(w.ws.workspaceId, { targetUrl: TARGET_URL, event: 'consent.withdrawn' });

    // A stands still past its lease; B takes it over and starts its dispatcher.
    w.clock.advance(TTL_MS + 1000);
    await leaseB.renew();
    expect(leaseB.runsWorkers).toBe(true);
    await settleTurns();
    const first = await stopFrom(w, 'm1', '+34600000001');

    // A resumes: its dispatcher's timer, due before its renewal, passes first...
    expect(await a.dispatcher.runOnce()).toMatchObject({ attempted: 0 });
    // ...then its renewal finds the lease taken; the dispatcher stops without a drain.
    const second = await stopFrom(w, 'm2', '+34600000002');
    await leaseA.renew();
    expect(leaseA.runsWorkers).toBe(false);
    expect(a.sender.sent).toEqual([]);

    expect(await b.dispatcher.runOnce()).toMatchObject({ attempted: 2, delivered: 2 });
    expect(b.sender.sent).toEqual([first, second]);
    expect(await deliveryStates(w, hook.id)).toEqual([
      [first, 'delivered', 1],
      [second, 'delivered', 1],
    ]);
  });

  it('lets the request in flight when the lease is lost finish and records its answer, and picks no other delivery', async () => {
    const w = await world();
    const a = dispatcherOf(w);
    a.sender.holding = true;
    const hook = await w.hooks.create(w.ws.workspaceId, { targetUrl: TARGET_URL, event: 'consent.withdrawn' });
    const first = await stopFrom(w, 'm1', '+34600000001');
    const leaseA = leaseOf(w.store, w.clock, 'process-a', [a.dispatcher]);
    // The new holder's own dispatcher is not what this test watches.
    const leaseB = leaseOf(w.store, w.clock, 'process-b', [new RecordingWorker()]);
    await leaseA.start();
    await leaseB.start();
    // The loop's first pass sends the first delivery, whose answer is slow.
    await settleTurns();
    expect(a.sender.sent).toEqual([first]);
    expect(a.dispatcher.inFlightCount).toBe(1);

    const second = await stopFrom(w, 'm2', '+34600000002');
    w.clock.advance(TTL_MS);
    await leaseB.renew();
    const renewing = leaseA.renew();
    await settleTurns();
    // The second delivery is due, and stays for the holder.
    expect(a.sender.sent).toEqual([first]);

    a.sender.release();
    await renewing;
    expect(leaseA.runsWorkers).toBe(false);
    expect(a.dispatcher.inFlightCount).toBe(0);
    expect(a.sender.sent).toEqual([first]);
    // The second event is left to the holder, not even fanned out here.
    expect(await deliveryStates(w, hook.id)).toEqual([[first, 'delivered', 1]]);

    // The holder's dispatcher finds the first answered and sends only the second.
    const holder = dispatcherOf(w);
    expect(await holder.dispatcher.runOnce()).toMatchObject({ attempted: 1, delivered: 1 });
    expect(holder.sender.sent).toEqual([second]);
  });

  it('still drains on its own shutdown while it holds the lease', async () => {
    const w = await world();
    const { dispatcher, sender } = dispatcherOf(w);
    const lease = leaseOf(w.store, w.clock, 'process-a', [dispatcher]);
    await lease.start();
    await settleTurns();
    const hook = await w.hooks.create(w.ws.workspaceId, { targetUrl: TARGET_URL, event: 'consent.withdrawn' });
    // Committed while the loop sleeps: only the drain on stop can send it.
    const eventId = await stopFrom(w, 'm1', '+34600000001');

    await lease.stop();
    expect(sender.sent).toEqual([eventId]);
    expect(await deliveryStates(w, hook.id)).toEqual([[eventId, 'delivered', 1]]);
  });
});

/**
 * A store whose `slowAt`-th transaction from now runs `whileWaiting` before it starts, as a
 * transaction waiting for the write lock another process holds would let time pass and other
 * callbacks run meanwhile.
 */
function slowStore(inner: Store): Store & { slowAt(nth: number, whileWaiting: () => Promise<void> | void): void } {
  let calls = 0;
  let slow: { at: number; whileWaiting: () => Promise<void> | void } | null = null;
  return {
    transaction: async (fn) => {
      calls += 1;
      if (slow !== null && calls === slow.at) await slow.whileWaiting();
      return inner.transaction(fn);
    },
    read: (fn) => inner.read(fn),
    probe: () => inner.probe(),
    close: () => inner.close(),
    slowAt(nth, whileWaiting) {
      slow = { at: calls + nth, whileWaiting };
    },
  };
}

/**
 * A store that runs `then` once its `nth` transaction from now has committed, before the caller
 * of that transaction goes on, as a process whose clock passes its lease's expiry right after a
 * commit would see it.
 */
function cutStore(inner: Store): Store & { afterCommit(nth: number, then: () => void): void } {
  let calls = 0;
  let cut: { at: number; then: () => void } | null = null;
  return {
    transaction: async (fn) => {
      calls += 1;
      const call = calls;
      const result = await inner.transaction(fn);
      if (cut !== null && call === cut.at) cut.then();
      return result;
    },
    read: (fn) => inner.read(fn),
    probe: () => inner.probe(),
    close: () => inner.close(),
    afterCommit(nth, then) {
      cut = { at: calls + nth, then };
    },
  };
}

/** Records, for each send, whether the lease was in force by the clock when it started. */
class LeaseWatchingSender extends FakeSender {
  readonly leaseHeldAtSend: boolean[] = [];
  lease: WorkerLease | null = null;

  override async send(request: DeliveryRequest): Promise<DeliveryResponse> {
    this.leaseHeldAtSend.push(this.lease?.holdsLease ?? true);
    return super.send(request);
  }
}

describe('a hook dispatcher pass whose backlog fan-out outlasts the lease', () => {
  /**
   * Process A holds the lease and runs a dispatcher with `senderA`, batch size 1 (a pass whose own
   * transaction fans out a full batch goes on to fan out the backlog in transactions of its own);
   * process B waits for the lease with a dispatcher of its own.
   */
  async function twoProcesses(store: Parameters<typeof leaseOf>[0], w: Awaited<ReturnType<typeof makeWorld>>, senderA: FakeSender) {
    senders.push(senderA);
    const dispatcherA = w.dispatcher({ sender: senderA, batchSize: 1, timers: new ManualTimers() });
    const leaseA = leaseOf(store, w.clock, 'process-a', [dispatcherA]);
    const b = dispatcherOf(w);
    const leaseB = leaseOf(store, w.clock, 'process-b', [b.dispatcher]);
    await leaseA.start();
    await leaseB.start();
    await settleTurns();
    expect(leaseB.runsWorkers).toBe(false);
    return { dispatcherA, leaseA, b, leaseB };
  }

  // batchSize 1: a pass whose own transaction fans out a full batch goes on to fan out the
  // backlog in transactions of its own before it sends what it picked.
  it('sends nothing it picked once the lease ran out meanwhile, and the new holder sends every delivery once', async () => {
    const store = slowStore(createMemoryStore());
    stores.push(store);
    const w = await makeWorld({ store });
    const senderA = new LeaseWatchingSender();
    const { dispatcherA, leaseA, b, leaseB } = await twoProcesses(store, w, senderA);
    senderA.lease = leaseA;
    const hook = await w.hooks.create(w.ws.workspaceId, { targetUrl: TARGET_URL, event: 'consent.withdrawn' });
    const first = await stopFrom(w, 'm1', '+34600000001');
    const second = await stopFrom(w, 'm2', '+34600000002');

    // The pass's own transaction (fans out the first event, picks its delivery) is the next
    // one; the first backlog transaction waits for the write lock past the lease.
    store.slowAt(2, () => {
      w.clock.advance(TTL_MS);
    });
    const summary = await dispatcherA.runOnce();
    expect(leaseA.holdsLease).toBe(false);
    expect(summary).toMatchObject({ events: 2, deliveries: 2, attempted: 0 });
    expect(senderA.sent).toEqual([]);
    // Picking claimed nothing: the picked delivery is pending as it was, nothing is in flight here.
    expect(dispatcherA.inFlightCount).toBe(0);
    expect(await deliveryStates(w, hook.id)).toEqual([
      [first, 'pending', 0],
      [second, 'pending', 0],
    ]);

    await leaseB.renew();
    expect(leaseB.runsWorkers).toBe(true);
    await settleTurns();
    await b.dispatcher.runOnce();
    expect(b.sender.sent).toEqual([first, second]);
    expect(await deliveryStates(w, hook.id)).toEqual([
      [first, 'delivered', 1],
      [second, 'delivered', 1],
    ]);
    expect(senderA.sent).toEqual([]);
  });

  it('sends nothing it picked once stopWithoutDraining was called meanwhile, and leaves it pending for the holder', async () => {
    const store = slowStore(createMemoryStore());
    stores.push(store);
    const w = await makeWorld({ store });
    const sender = new FakeSender();
    senders.push(sender);
    const dispatcher = w.dispatcher({ sender, batchSize: 1, timers: new ManualTimers() });
    const hook = await w.hooks.create(w.ws.workspaceId, { targetUrl: TARGET_URL, event: 'consent.withdrawn' });
    const first = await stopFrom(w, 'm1', '+34600000001');
    const second = await stopFrom(w, 'm2', '+34600000002');

    // While the first backlog transaction waits for the write lock, the lease is lost.
    let stopping: Promise<void> | null = null;
    store.slowAt(2, () => {
      stopping = dispatcher.stopWithoutDraining();
    });
    const summary = await dispatcher.runOnce();
    await stopping;
    expect(stopping).not.toBeNull();
    expect(summary).toMatchObject({ events: 2, attempted: 0 });
    expect(sender.sent).toEqual([]);
    expect(dispatcher.inFlightCount).toBe(0);
    expect(await deliveryStates(w, hook.id)).toEqual([
      [first, 'pending', 0],
      [second, 'pending', 0],
    ]);

    const holder = dispatcherOf(w);
    expect(await holder.dispatcher.runOnce()).toMatchObject({ attempted: 2, delivered: 2 });
    expect(holder.sender.sent).toEqual([first, second]);
  });

  it('still sends what it picked after the backlog fan-out while the lease holds', async () => {
    const store = slowStore(createMemoryStore());
    stores.push(store);
    const w = await makeWorld({ store });
    const sender = new LeaseWatchingSender();
    senders.push(sender);
    const dispatcher = w.dispatcher({ sender, batchSize: 1, timers: new ManualTimers() });
    const lease = leaseOf(store, w.clock, 'process-a', [dispatcher]);
    sender.lease = lease;
    await lease.start();
    await settleTurns();
    await w.hooks.create(w.ws.workspaceId, { targetUrl: TARGET_URL, event: 'consent.withdrawn' });
    const first = await stopFrom(w, 'm1', '+34600000001');
    await stopFrom(w, 'm2', '+34600000002');

    // The backlog transaction waits, but less than the lease has left.
    store.slowAt(2, () => {
      w.clock.advance(TTL_MS - 1);
    });
    expect(await dispatcher.runOnce()).toMatchObject({ events: 2, attempted: 1, delivered: 1 });
    expect(sender.sent).toEqual([first]);
    expect(sender.leaseHeldAtSend).toEqual([true]);
  });

  it('fans out no further backlog transaction once the lease ran out after one, and the new holder fans out the rest once', async () => {
    const store = cutStore(createMemoryStore());
    stores.push(store);
    const w = await makeWorld({ store });
    const senderA = new FakeSender();
    const { dispatcherA, leaseA, b, leaseB } = await twoProcesses(store, w, senderA);
    const hook = await w.hooks.create(w.ws.workspaceId, { targetUrl: TARGET_URL, event: 'consent.withdrawn' });
    const first = await stopFrom(w, 'm1', '+34600000001');
    const second = await stopFrom(w, 'm2', '+34600000002');
    const third = await stopFrom(w, 'm3', '+34600000003');

    // The pass's own transaction fans out the first event; the first backlog transaction, the
    // second. The lease runs out as that one commits, before the next would fan out the third.
    store.afterCommit(2, () => {
      w.clock.advance(TTL_MS);
    });
    const summary = await dispatcherA.runOnce();
    expect(leaseA.holdsLease).toBe(false);
    // The third event has no delivery: the cursor stopped where the lease did.
    expect(await deliveryStates(w, hook.id)).toEqual([
      [first, 'pending', 0],
      [second, 'pending', 0],
    ]);
    expect(summary).toMatchObject({ events: 2, deliveries: 2, attempted: 0 });
    expect(senderA.sent).toEqual([]);

    // The other process takes the lease; this one's renewal finds it taken and stops its dispatcher without a drain.
    await leaseB.renew();
    expect(leaseB.runsWorkers).toBe(true);
    await leaseA.renew();
    expect(leaseA.runsWorkers).toBe(false);
    await settleTurns();
    await b.dispatcher.runOnce();
    expect(await b.dispatcher.runOnce()).toMatchObject({ events: 0, deliveries: 0, attempted: 0 });
    expect(b.sender.sent).toEqual([first, second, third]);
    expect(await deliveryStates(w, hook.id)).toEqual([
      [first, 'delivered', 1],
      [second, 'delivered', 1],
      [third, 'delivered', 1],
    ]);
    expect(senderA.sent).toEqual([]);
  });
});
