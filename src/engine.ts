import type { Channel, ConsentRecord, MessagingChannel, Purpose } from './core/consent.js';
import { ChannelSchema, PurposeSchema } from './core/consent.js';
import { canonicalUlid, type Contact } from './core/contact.js';
import { ConsentryError } from './core/errors.js';
import type { EventType } from './core/events.js';
import type { RunOutcome } from './core/workflow/transition.js';
import type { Workspace, WorkspaceSettings, WorkspaceSettingsInput } from './core/settings.js';
import { BEFORE_FIRST_EVENT, shownId, unknownCursor } from './core/paging.js';
import { getTemplate } from './core/workflow/index.js';
import type { Clock } from './ports/clock.js';
import { systemClock } from './ports/clock.js';
import type { IdGenerator, SaltSource } from './ports/ids.js';
import { randomSalts, ulidGenerator } from './ports/ids.js';
import type { ContactQuery, Store, StoredEvent, StoreTx, WorkflowRunRow } from './ports/store.js';
import { isPassingStoreFailure, mayHaveExpired } from './ports/store.js';
import { bulkSetConsent, checkPermission, getConsents, getHistory, getHistoryPage, setConsent, type BulkRowResult, type ConsentOverview, type HistoryPage } from './engine/consents.js';
import { ErasedAddressesInputSchema, forgetErasedAddresses, type ErasedAddressesInput, type ForgottenAddresses } from './engine/erased-addresses.js';
import { addContactTag, createContact, eraseContact, findContacts, removeContactTag, updateContact, type ContactErasure, type ContactWithWarnings, type EraseOptions } from './engine/contacts.js';
import { handleInbound, type InboundResult } from './engine/handle-inbound.js';
import { mergeSettings, parseSettings } from './engine/settings.js';
import {
  ConsentChangeSchema,
  ContactInputSchema,
  ContactPatchSchema,
  IN_ANSWER_WITHOUT_WEBHOOK,
  InboundChannelSchema,
  InboundMessageSchema,
  parseInput,
  WorkspaceNameSchema,
  type ConsentChange,
  type ContactInput,
  type ContactPatch,
  type InboundMessage,
} from './engine/inputs.js';
import { abandonWorkflowRun, closeConversationLeftIdle, fireTimer, runOutcome, runReport, startRequestedWorkflow, type WorkflowRunReport } from './engine/runs.js';
import {
  assertHubSpotAccountAsRead,
  assertHubSpotAccountConfirmed,
  assertHubSpotPortalFree,
  findContactByHubspotId,
  linkHubspotContacts,
  reportSyncFailure,
  type HubSpotAccountGuard,
  type HubspotLink,
  type SyncFailure,
} from './engine/integrations.js';
import { verifyContactLedger, verifyWorkspaceLedger, type ContactLedgerReport, type LedgerReport } from './engine/ledger-checks.js';
import { nextTurn } from './engine/next-turn.js';
import { UnitOfWork, type RecordedConsent, type Reply } from './engine/unit-of-work.js';
import type { Actor } from './core/consent.js';
import { z } from 'zod';

/** Bulk rows recorded per transaction. */
export const BULK_SLICE_ROWS = 500;

/** A settings patch: any part of the settings, nested objects partial, `null` resets. */
export type SettingsPatch = { [K in keyof WorkspaceSettingsInput]?: unknown };

/** The settings as stored, and as a patch would make them. */
export interface SettingsChange {
  before: WorkspaceSettings;
  after: WorkspaceSettings;
}

export interface SettingsUpdateOptions {
  /** Refuses the update with CONFLICT unless the HubSpot account is still the one read, and a new one is the one confirmed (engine/integrations.ts). */
  hubspotAccount?: HubSpotAccountGuard;
}

export interface EngineOptions {
  store: Store;
  clock?: Clock;
  ids?: IdGenerator;
  /** The random salts written into evidence (EvidenceSchema's `salt`); crypto-random by default. */
  salts?: SaltSource;
  /** Records `verifyLedger` reads per transaction (default 1,000); between transactions other work runs. */
  ledgerVerifyPageSize?: number;
}

export interface WorkflowStartResult {
  runId: string;
  conversationId: string | null;
  /** How the run ended at its start ("skipped": nothing to ask), or null while it waits for an answer (runOutcome). */
  outcome: RunOutcome | null;
  replies: { text: string; options?: Reply['options'] }[];
  events: StoredEvent[];
}

export interface TimerFiring {
  workspaceId: string;
  runId: string;
  contactId: string;
  replies: Reply[];
  events: StoredEvent[];
  /**
   * Set when the run could not advance: it was ended (outcome `cancelled`) instead, and its
   * conversation closed when no other run drives it, so the contact's next message starts over;
   * unless `retry`.
   */
  error: string | null;
  /**
   * The store failed, not the run (isPassingStoreFailure: a lock held too long, a full disk, a
   * group rolled back): the timer stays as it was and fires on a later pass.
   */
  retry: boolean;
}

export type { ContactLedgerReport, LedgerReport } from './engine/ledger-checks.js';

export interface PermissionVerdict {
  allowed: boolean;
  reason: 'opted_in' | 'opted_out' | 'not_specified' | 'contact_erased';
  status: 'opted_in' | 'opted_out' | 'not_specified';
  since: string | null;
}

/** The engine's use cases for one workspace. */
export interface WorkspaceEngine {
  readonly workspaceId: string;
  get(): Promise<Workspace>;
  /** A JSON Merge Patch (RFC 7396) of the settings: objects merge, `null` resets a key to its default. */
  updateSettings(patch: SettingsPatch, options?: SettingsUpdateOptions): Promise<Workspace>;
  /** What `updateSettings(patch)` would store now, refused as it would refuse it; nothing is written. */
  previewSettings(patch: SettingsPatch): Promise<SettingsChange>;
  rename(name: string): Promise<Workspace>;
  handleInbound(message: InboundMessage): Promise<InboundResult>;
  createContact(input: ContactInput): Promise<Contact>;
  updateContact(contactId: string, patch: ContactPatch): Promise<Contact>;
  /** createContact, with `warnings` naming an e-mail or phone an erased contact had: the contact is then held, as a bulk opt-out row's is (see Consent records). */
  createContactWithWarnings(input: ContactInput): Promise<ContactWithWarnings>;
  /** updateContact, with `warnings` as createContactWithWarnings has them for the e-mail or phone the patch gives. */
  updateContactWithWarnings(contactId: string, patch: ContactPatch): Promise<ContactWithWarnings>;
  getContact(contactId: string): Promise<Contact>;
  findContacts(query: Partial<ContactQuery>): Promise<{ contacts: Contact[]; nextCursor: string | null }>;
  listTags(): Promise<string[]>;
  addTag(contactId: string, tag: string): Promise<Contact>;
  removeTag(contactId: string, tag: string): Promise<Contact>;
  /** Records a decision about a contact named by id; the evidence gets the contact's current address on the channel (`identity`) unless it states one. */
  setConsent(change: ConsentChange): Promise<RecordedConsent>;
  bulkSetConsent(rows: readonly unknown[], by?: { actor?: Actor; source?: 'bulk' | 'api' | 'zapier' | 'hubspot' }): Promise<BulkRowResult[]>;
  getConsents(contactId: string): Promise<ConsentOverview>;
  getHistory(contactId: string): Promise<ConsentRecord[]>;
  /** A page of the history: at most `limit` records (1 to 500, default 100) after the record with seq `afterSeq`. */
  getHistoryPage(contactId: string, page?: { afterSeq?: number; limit?: number }): Promise<HistoryPage>;
  canMessage(contactId: string, channel: Channel, purpose: Purpose): Promise<PermissionVerdict>;
  /**
   * `inAnswer: false` tells that the caller sends none of the result's replies (a HubSpot action, a
   * Slack button), so that the outbound webhook's copies of them say so.
   */
  startWorkflow(templateId: string, contactId: string, channel: MessagingChannel, options?: { inAnswer?: boolean }): Promise<WorkflowStartResult>;
  getRun(runId: string): Promise<WorkflowRunRow>;
  /** How a run stands, as `GET /v1/workflows/{template}/runs/{runId}` answers: NOT_FOUND for a run of another workspace, or one retention deleted. */
  describeRun(runId: string): Promise<WorkflowRunReport>;
  verifyLedger(): Promise<LedgerReport>;
  /** One contact's records re-hashed, each linked to the record before it in the chain, and its statuses against their fold. */
  verifyContactLedger(contactId: string): Promise<ContactLedgerReport>;
  eraseContact(contactId: string, options?: EraseOptions): Promise<ContactErasure>;
  /** Removes the digests erasure kept of an e-mail or phone, so a bulk opt-in may bring it back; says which were kept. */
  forgetErasedAddresses(addresses: ErasedAddressesInput): Promise<ForgottenAddresses>;
  /** Newest first, or oldest first after `afterId` (BEFORE_FIRST_EVENT: from the oldest kept); an id this workspace never had is refused (unknownCursor). */
  listEvents(query?: { types?: readonly EventType[]; beforeId?: string; afterId?: string; limit?: number; contactId?: string }): Promise<StoredEvent[]>;
  /** Stores the HubSpot record ids the connector matched or created (null: unlinked); returns how many changed. */
  linkHubspotContacts(links: readonly HubspotLink[]): Promise<number>;
  findContactByHubspotId(hubspotId: string): Promise<Contact | null>;
  /** Raises `sync.failed` through the outbox. */
  reportSyncFailure(failure: SyncFailure): Promise<StoredEvent>;
}

export interface Engine {
  readonly store: Store;
  readonly clock: Clock;
  createWorkspace(input: { name: string; settings?: WorkspaceSettingsInput }): Promise<Workspace>;
  listWorkspaces(): Promise<Workspace[]>;
  /**
   * Creates a workspace when the store has none, in one transaction; null when one exists already.
   * `alongside` writes in that same transaction (the workspace's first API key), so a start that
   * stops half-way leaves both or neither.
   */
  createFirstWorkspace(name: string, alongside?: (tx: StoreTx, workspace: Workspace) => Promise<void>): Promise<Workspace | null>;
  ensureDefaultWorkspace(name?: string): Promise<Workspace>;
  workspace(workspaceId: string): WorkspaceEngine;
  /**
   * Fires every workflow timer due at `now` (earliest first, at most `limit`), each in its own
   * transaction, at `now`. `dueBy` (not after `now`) fires only those due by then: a scheduler
   * leaves room for answers sent before a deadline and delivered after it (TimerScheduler's grace).
   */
  runDueTimers(now?: Date, limit?: number, options?: { dueBy?: Date }): Promise<TimerFiring[]>;
  /** Dispatchers' reader: events of every workspace in append order after a position. */
  readEventsAfter(position: number, limit: number): Promise<StoredEvent[]>;
}

const NonEmpty = z.string().trim().min(1).max(100);

export const HISTORY_PAGE_DEFAULT = 100;
export const HISTORY_PAGE_MAX = 500;

export function createEngine(options: EngineOptions): Engine {
  const store = options.store;
  const clock = options.clock ?? systemClock;
  const ids = options.ids ?? ulidGenerator();
  const salts = options.salts ?? randomSalts();
  const ledgerVerifyPageSize = options.ledgerVerifyPageSize;
  if (ledgerVerifyPageSize !== undefined && !(Number.isSafeInteger(ledgerVerifyPageSize) && ledgerVerifyPageSize > 0)) {
    throw new Error(`ledgerVerifyPageSize must be a positive integer, got ${String(ledgerVerifyPageSize)}`);
  }

  /** The one place a transaction is opened: each use case is all-or-nothing. */
  async function inWorkspace<T>(workspaceId: string, work: (uow: UnitOfWork) => Promise<T>, now: Date = clock.now()): Promise<T> {
    return store.transaction(async (tx) => withWorkspace(tx, workspaceId, work, now, await tx.idFloor(workspaceId)));
  }

  /**
   * A use case that only reads: through Store.read, so it answers with committed state without
   * waiting for the write lock (another process's import or backup, this one's busy writer).
   */
  async function readInWorkspace<T>(workspaceId: string, work: (uow: UnitOfWork) => Promise<T>): Promise<T> {
    return store.read((tx) => withWorkspace(tx, workspaceId, work, clock.now()));
  }

  async function withWorkspace<T>(
    tx: StoreTx,
    workspaceId: string,
    work: (uow: UnitOfWork) => Promise<T>,
    now: Date,
    idFloor?: string,
  ): Promise<T> {
    const workspace = await tx.getWorkspace(workspaceId);
    if (!workspace) throw workspaceNotFound(workspaceId);
    return work(new UnitOfWork(tx, now, ids, workspace, salts, idFloor));
  }

  async function abandonRun(workspaceId: string, runId: string, message: string, now: Date): Promise<TimerFiring> {
    return inWorkspace(
      workspaceId,
      async (uow) => {
        await uow.tx.deleteTimer(runId);
        const run = await uow.tx.getRun(workspaceId, runId);
        if (run && run.status === 'active') {
          await abandonWorkflowRun(uow, run);
          await closeConversationLeftIdle(uow, run);
        }
        return { workspaceId, runId, contactId: run?.contactId ?? '', replies: [], events: uow.events, error: message, retry: false };
      },
      now,
    );
  }

  function scoped(workspaceId: string): WorkspaceEngine {
    const run = <T>(work: (uow: UnitOfWork) => Promise<T>): Promise<T> => inWorkspace(workspaceId, work);
    const read = <T>(work: (uow: UnitOfWork) => Promise<T>): Promise<T> => readInWorkspace(workspaceId, work);
    const createNoting = async (input: ContactInput): Promise<ContactWithWarnings> => {
      const valid = parseInput(ContactInputSchema, input, 'contact');
      return run((uow) => createContact(uow, valid));
    };
    const updateNoting = async (contactId: string, patch: ContactPatch): Promise<ContactWithWarnings> => {
      const valid = parseInput(ContactPatchSchema, patch, 'contact');
      return run((uow) => updateContact(uow, contactId, valid));
    };
    return {
      workspaceId,
      get: () => read(async (uow) => uow.workspace),
      rename: async (name) =>
        run(async (uow) => {
          const valid = parseInput(WorkspaceNameSchema, name, 'workspace name');
          await uow.tx.updateWorkspace(workspaceId, { name: valid, updatedAt: uow.nowIso });
          return { ...uow.workspace, name: valid, updatedAt: uow.nowIso };
        }),
      updateSettings: (patch, options = {}) =>
        run(async (uow) => {
          const guard = options.hubspotAccount;
          if (guard !== undefined) assertHubSpotAccountAsRead(guard, uow.workspace.settings);
          const settings = mergeSettings(uow.workspace.settings, patch);
          if (guard !== undefined) assertHubSpotAccountConfirmed(guard, uow.workspace.settings, settings);
          await assertHubSpotPortalFree(uow.tx, workspaceId, uow.workspace.settings, settings);
          await uow.tx.updateWorkspace(workspaceId, { settings, updatedAt: uow.nowIso });
          return { ...uow.workspace, settings, updatedAt: uow.nowIso };
        }),
      previewSettings: (patch) => read(async (uow) => ({ before: uow.workspace.settings, after: mergeSettings(uow.workspace.settings, patch) })),
      handleInbound: async (message) => {
        const valid = parseInput(InboundMessageSchema, message, 'message');
        return run((uow) => {
          uow.repliesInAnswer = valid.inAnswer ?? true;
          return handleInbound(uow, valid);
        });
      },
      createContact: async (input) => (await createNoting(input)).contact,
      createContactWithWarnings: (input) => createNoting(input),
      updateContact: async (contactId, patch) => (await updateNoting(contactId, patch)).contact,
      updateContactWithWarnings: (contactId, patch) => updateNoting(contactId, patch),
      getContact: (contactId) => read((uow) => uow.requireContact(contactId)),
      findContacts: (query) => read((uow) => findContacts(uow, { ...query, limit: Math.min(Math.max(query.limit ?? 50, 1), 500) })),
      listTags: () => read((uow) => uow.tx.listTags(workspaceId)),
      addTag: async (contactId, tag) => {
        const valid = parseInput(NonEmpty, tag, 'tag');
        return run((uow) => addContactTag(uow, contactId, valid));
      },
      removeTag: (contactId, tag) => run((uow) => removeContactTag(uow, contactId, tag)),
      setConsent: async (change) => {
        const valid = parseInput(ConsentChangeSchema, change, 'consent change');
        return run((uow) => setConsent(uow, valid));
      },
      bulkSetConsent: async (rows, by) => {
        const origin = { actor: by?.actor ?? { kind: 'integration' as const, id: 'bulk' }, source: by?.source ?? ('bulk' as const) };
        // Rows are independent (a result each), so they are recorded a slice per transaction with a
        // turn of the event loop between slices: 10,000 rows never hold the store, nor a server's
        // other requests, for the whole batch.
        const results: BulkRowResult[] = [];
        for (let start = 0; start < rows.length; start += BULK_SLICE_ROWS) {
          if (start > 0) await nextTurn();
          const slice = await run((uow) => bulkSetConsent(uow, rows.slice(start, start + BULK_SLICE_ROWS), origin));
          for (const result of slice) results.push({ ...result, row: result.row + start });
        }
        return results;
      },
      getConsents: (contactId) => read((uow) => getConsents(uow, contactId)),
      getHistory: (contactId) => read((uow) => getHistory(uow, contactId)),
      getHistoryPage: (contactId, page = {}) =>
        read((uow) =>
          getHistoryPage(uow, contactId, {
            ...(page.afterSeq !== undefined ? { afterSeq: page.afterSeq } : {}),
            limit: Math.min(Math.max(Math.trunc(page.limit ?? HISTORY_PAGE_DEFAULT), 1), HISTORY_PAGE_MAX),
          }),
        ),
      canMessage: async (contactId, channel, purpose) => {
        const validChannel = parseInput(ChannelSchema, channel, 'channel');
        const validPurpose = parseInput(PurposeSchema, purpose, 'purpose');
        return read((uow) => checkPermission(uow, contactId, validChannel, validPurpose));
      },
      startWorkflow: async (templateId, contactId, channel, options = {}) => {
        const validChannel = parseInput(InboundChannelSchema, channel, 'channel');
        getTemplate(templateId);
        return run(async (uow) => {
          uow.repliesInAnswer = options.inAnswer ?? true;
          const { run: started, conversationId } = await startRequestedWorkflow(uow, templateId, await uow.requireLiveContact(contactId), validChannel);
          // What the run says would reach no one: its caller does not send it and no outbound webhook
          // gets a copy (UnitOfWork.reply). Refused, and the transaction with it, so nothing started.
          if (!uow.repliesInAnswer && uow.replies.length > 0 && !uow.workspace.settings.outboundWebhookUrl) {
            throw new ConsentryError('VALIDATION_FAILED', `inAnswer: ${IN_ANSWER_WITHOUT_WEBHOOK}`, [{ path: 'inAnswer', message: IN_ANSWER_WITHOUT_WEBHOOK }]);
          }
          // The run as this transaction left it: ended at its first steps, or waiting for an answer.
          const after = (await uow.tx.getRun(workspaceId, started.id)) ?? started;
          return {
            runId: started.id,
            conversationId,
            outcome: runOutcome(after),
            replies: uow.replies.map((r) => ({ text: r.text, ...(r.options ? { options: r.options } : {}) })),
            events: uow.events,
          };
        });
      },
      getRun: (runId) => read((uow) => requireRun(uow.tx, workspaceId, runId)),
      describeRun: (runId) => read(async (uow) => runReport(await requireRun(uow.tx, workspaceId, canonicalUlid(runId)))),
      verifyLedger: () => verifyWorkspaceLedger({ inWorkspace: read, ...(ledgerVerifyPageSize === undefined ? {} : { pageSize: ledgerVerifyPageSize }) }),
      verifyContactLedger: (contactId) =>
        read(async (uow) => {
          await uow.requireContact(contactId);
          return verifyContactLedger(uow, contactId);
        }),
      eraseContact: (contactId, options) => run((uow) => eraseContact(uow, contactId, options)),
      forgetErasedAddresses: async (addresses) => {
        const valid = parseInput(ErasedAddressesInputSchema, addresses, 'addresses');
        return run((uow) => forgetErasedAddresses(uow, valid));
      },
      linkHubspotContacts: (links) => run((uow) => linkHubspotContacts(uow, links)),
      findContactByHubspotId: (hubspotId) => read((uow) => findContactByHubspotId(uow, hubspotId)),
      reportSyncFailure: (failure) => run((uow) => reportSyncFailure(uow, failure)),
      listEvents: (query = {}) =>
        read(async (uow) => {
          if (query.beforeId !== undefined && query.afterId !== undefined) {
            const message = 'give beforeId (newest first) or afterId (oldest first), not both';
            throw new ConsentryError('VALIDATION_FAILED', `afterId: ${message}`, [{ path: 'afterId', message }]);
          }
          // Event ids are never reused, and only retention deletes events, oldest first: one this
          // workspace does not have, unless retention may have deleted it, is a mistyped or foreign
          // cursor, which would otherwise read silently as "from the newest", "nothing older" or
          // "everything". Ids are ULIDs, which read the same in either case (canonicalUlid).
          const known = async (path: 'beforeId' | 'afterId', id: string | undefined): Promise<string | undefined> => {
            if (id === undefined) return undefined;
            const canonical = canonicalUlid(id);
            if (path === 'afterId' && canonical === BEFORE_FIRST_EVENT) return canonical;
            if (!(await uow.tx.getEvent(workspaceId, canonical)) && !(await mayHaveExpired(uow.tx, canonical))) {
              const hint = path === 'beforeId' ? 'pass the id of an event a previous page returned' : 'pass the id of an event this workspace sent (a page, or a hook delivery)';
              throw unknownCursor(path, `event ${shownId(id)} in this workspace`, hint);
            }
            return canonical;
          };
          const beforeId = await known('beforeId', query.beforeId);
          const afterId = await known('afterId', query.afterId);
          const limit = Math.min(Math.max(query.limit ?? 50, 1), 500);
          return uow.tx.listEvents(workspaceId, {
            ...query,
            ...(beforeId !== undefined ? { beforeId } : {}),
            ...(afterId !== undefined ? { afterId } : {}),
            limit,
          });
        }),
    };
  }

  return {
    store,
    clock,
    async createWorkspace(input) {
      const name = parseInput(WorkspaceNameSchema, input.name, 'workspace name');
      const settings = parseSettings(input.settings ?? {}, { triggersSet: true });
      const now = clock.now();
      return store.transaction(async (tx) => {
        // Workspaces are listed in id order and the first is the default one: a new id sorts after
        // every workspace's, also when another process with its clock behind made one before.
        const newest = (await tx.listWorkspaces()).at(-1)?.id;
        const workspace: Workspace = { id: ids.next(now, newest), name, settings, createdAt: now.toISOString(), updatedAt: now.toISOString() };
        await assertHubSpotPortalFree(tx, workspace.id, null, settings);
        await tx.insertWorkspace(workspace);
        return workspace;
      });
    },
    listWorkspaces: () => store.read((tx) => tx.listWorkspaces()),
    async createFirstWorkspace(name, alongside) {
      const checkedName = parseInput(WorkspaceNameSchema, name, 'workspace name');
      const settings = parseSettings({});
      const now = clock.now();
      const workspace: Workspace = { id: ids.next(now), name: checkedName, settings, createdAt: now.toISOString(), updatedAt: now.toISOString() };
      // One transaction looks and creates: the write lock it takes first keeps two processes
      // starting together on a new database from both finding none and making two.
      return store.transaction(async (tx) => {
        if ((await tx.listWorkspaces()).length > 0) return null;
        await tx.insertWorkspace(workspace);
        await alongside?.(tx, workspace);
        return workspace;
      });
    },
    async ensureDefaultWorkspace(name = 'Default workspace') {
      const created = await this.createFirstWorkspace(name);
      if (created) return created;
      const [first] = await store.transaction((tx) => tx.listWorkspaces());
      if (!first) throw new ConsentryError('NOT_FOUND', 'the first workspace is gone');
      return first;
    },
    workspace: scoped,
    async runDueTimers(now = clock.now(), limit = 1000, options = {}) {
      const dueBy = options.dueBy !== undefined && options.dueBy.getTime() < now.getTime() ? options.dueBy : now;
      const due = await store.transaction((tx) => tx.listDueTimers(dueBy.toISOString(), limit));
      const firings: TimerFiring[] = [];
      for (const timer of due) {
        try {
          const firing = await inWorkspace(
            timer.workspaceId,
            async (uow) => {
              // Re-read inside the transaction: the run may have moved on since the due list was read.
              const current = await uow.tx.getTimer(timer.runId);
              if (!current || current.token !== timer.token || current.dueAt > uow.nowIso) return null;
              const run = await fireTimer(uow, current);
              if (!run) return null;
              return { workspaceId: timer.workspaceId, runId: run.id, contactId: run.contactId, replies: uow.replies, events: uow.events, error: null, retry: false };
            },
            now,
          );
          if (firing) firings.push(firing);
        } catch (error) {
          const message = error instanceof Error ? error.message : String(error);
          if (isPassingStoreFailure(error)) {
            // Nothing was written and the run is as it was: its timer fires on a later pass. The
            // timers after it would meet the same store, each waiting out its lock: they wait too.
            firings.push({ workspaceId: timer.workspaceId, runId: timer.runId, contactId: '', replies: [], events: [], error: message, retry: true });
            break;
          }
          // A run that cannot advance is ended rather than retried forever: a poisoned timer
          // must not hold back the timers due after it.
          firings.push(await abandonRun(timer.workspaceId, timer.runId, message, now));
        }
      }
      return firings;
    },
    readEventsAfter: (position, limit) => store.transaction((tx) => tx.listEventsAfter(position, limit)),
  };
}

function workspaceNotFound(workspaceId: string): ConsentryError {
  return new ConsentryError('NOT_FOUND', `Workspace ${workspaceId} not found`);
}

/** The workspace's run, or NOT_FOUND (a run of another workspace, or one retention deleted). */
async function requireRun(tx: StoreTx, workspaceId: string, runId: string): Promise<WorkflowRunRow> {
  const found = await tx.getRun(workspaceId, runId);
  if (!found) throw new ConsentryError('NOT_FOUND', `Workflow run ${runId} not found`);
  return found;
}
