import { z } from 'zod';
import type { Channel, ConsentRecord, ConsentState, ConsentStatus, EffectiveStatus, Purpose } from '../core/consent.js';
import type { Contact } from '../core/contact.js';
import { normalizeEmail, normalizePhone, withErasedAddressGuard } from '../core/contact.js';
import { ConsentryError, describeIssues, isConsentryError, issuesOfRefusal, refusalOf, type ErrorCode, type FieldIssue } from '../core/errors.js';
import { inPathOrder } from '../core/field-order.js';
import { pageOf, unknownCursor } from '../core/paging.js';
import { canMessage, ConsentStates, earliestOccurrenceIssue, effectiveStatus, recordedOccurrence, validateDecision } from '../core/ledger.js';
import { CallerEvidenceSchema, type Actor, type CallerEvidence, type ConsentDecision, type ConsentSource } from '../core/consent.js';
import { assertKnownPurpose, withWorkspacePurposeMeant, type WorkspaceSettings } from '../core/settings.js';
import { applyRowToContact, contactValueIssues, erasedAmong, liftErasedAddressGuard } from './contacts.js';
import { followPrivacyDecision } from './runs.js';
import { BulkRowSchema, type ConsentChangeSchema } from './inputs.js';
import { zodIssuesToFieldIssues } from '../core/ledger.js';
import { FIELD_PARSE } from '../core/required.js';
import { keyRecordDifferences, reusedKeyConflict, type RecordedConsent, type UnitOfWork } from './unit-of-work.js';

/**
 * Records a decision about a contact named by id; recordConsent adds the contact's identity on the
 * channel and the digest of any texts `shown` to the evidence. A decision about the contact as it
 * is now, it lifts the contact's erasedAddressGuard (see refuseErasedAddresses).
 */
export async function setConsent(uow: UnitOfWork, change: z.output<typeof ConsentChangeSchema>): Promise<RecordedConsent> {
  const contact = await uow.requireLiveContact(change.contactId);
  const recorded = await uow.recordConsent({
    ...change,
    contactId: contact.id,
    evidence: change.evidence ?? {},
  });
  await followPrivacyDecision(uow, recorded);
  await liftErasedAddressGuard(uow, contact.id);
  return recorded;
}

/** A decision that stands where a replayed bulk row's status is no longer in force (BulkRowResult.overtakenBy, supersededBy). */
export interface SupersedingDecision {
  recordId: string;
  status: ConsentStatus;
  idempotencyKey: string | null;
}

export type BulkRowResult =
  | {
      row: number;
      ok: true;
      contactId: string;
      recordId: string;
      created: boolean;
      /**
       * Whether the contact's status on the row's purpose and channel already was the row's status
       * before it: a repeated decision, recorded again all the same (every decision is evidence).
       * False for a row answered from its idempotency key (`created` false), which recorded nothing.
       */
      repeated: boolean;
      /**
       * Whether the row's decision is the one in force for its purpose and channel after it, as
       * canMessage reads it (effectiveStatus: the channel's own decision or the purpose's decision
       * on `any`, whichever is newer): false for one older than the decision in force (an
       * `occurredAt` before it, also before a STOP ALL on `any`), which the ledger keeps but which
       * changes no status that governs.
       */
      inEffect: boolean;
      /**
       * For a row answered from its idempotency key (`created` false) whose status a decision
       * recorded since has overtaken on a channel it covers: of those decisions (`overtakenBy`),
       * the one recorded last. Null otherwise.
       */
      supersededBy: SupersedingDecision | null;
      /**
       * For such a row, every decision recorded since that stands where its status is no longer
       * in force (overtakingDecisions), each once, in the order recorded; empty otherwise. A caller that
       * tells its own later rows from decisions made elsewhere (the import) reads all of them: the
       * one recorded last may be its own while another, from elsewhere, still stands on another
       * channel.
       */
      overtakenBy: SupersedingDecision[];
      /** What of the row was not applied to the contact, by field: an e-mail or phone the contact already has another value for. */
      warnings: FieldIssue[];
    }
  | { row: number; ok: false; error: { code: ErrorCode; message: string; issues: FieldIssue[] } };

/**
 * Each row is validated and applied on its own: a bad row changes nothing and is reported
 * with its fields; the good rows are recorded in the same transaction.
 */
export async function bulkSetConsent(uow: UnitOfWork, rows: readonly unknown[], by: { actor: Actor; source: 'bulk' | 'api' | 'zapier' | 'hubspot' }): Promise<BulkRowResult[]> {
  const results: BulkRowResult[] = [];
  for (let index = 0; index < rows.length; index++) {
    try {
      const parts = rowParts(rows[index]);
      const parsed = BulkRowSchema.safeParse(parts.row, FIELD_PARSE);
      const stated = RowEvidenceSchema.safeParse({ evidence: parts.evidence }, FIELD_PARSE);
      if (!parsed.success || !stated.success) {
        const issues = [
          ...(parsed.success ? [] : withWorkspacePurposeMeant(zodIssuesToFieldIssues(parsed.error), purposeOf(rows[index]), uow.workspace.settings)),
          ...(stated.success ? [] : zodIssuesToFieldIssues(stated.error)),
        ];
        throw new ConsentryError('VALIDATION_FAILED', describeIssues(issues), issues);
      }
      const row = parsed.data;
      const evidence = stated.data.evidence ?? {};
      const named = new NamedIdentities(row, uow.workspace.settings.defaultCountry);
      // Everything that can refuse the row is checked before a missing contact is created,
      // so a refused row leaves no trace.
      recordedOccurrence(validateDecision({ ...decisionOf(row, by, evidence, null), contactId: row.contactId ?? 'pending' }), uow.nowIso, row.occurredAt ?? null);
      // A replayed row (its key already recorded for this contact) is answered even if its purpose was unlisted since.
      const replayed = await recordedForKey(uow, row, named, decisionOf(row, by, evidence, null));
      if (!replayed) assertKnownPurpose(row.purpose, uow.workspace.settings);
      const { contact, guard } = await contactForRow(uow, row, named, replayed);
      const before = (await uow.consentStatesOf(contact.id)).find((state) => state.purpose === row.purpose && state.channel === row.channel);
      const recorded = await uow.recordConsent({ ...decisionOf(row, by, evidence, named.evidence()), contactId: contact.id }, 'row');
      // A row answered from its idempotency key recorded nothing now, so nothing was recorded again.
      const repeated = recorded.created && before?.status === row.status;
      await followPrivacyDecision(uow, recorded);
      const warnings = await addMissingIdentities(uow, contact, row, named, guard);
      const overtakenBy = recorded.created ? [] : await overtakingDecisions(uow, recorded);
      results.push({
        row: index,
        ok: true,
        contactId: contact.id,
        recordId: recorded.record.id,
        created: recorded.created,
        repeated,
        inEffect: recorded.governing.recordId === recorded.record.id,
        supersededBy: overtakenBy.at(-1) ?? null,
        overtakenBy,
        warnings,
      });
    } catch (error) {
      if (!isConsentryError(error)) throw error;
      // The checks above stop at the first refusal; the row's other problems are named with it.
      const issues = inRowFieldOrder(withOtherIssues(error.issues, rows[index], by, uow.workspace.settings));
      // A message that lists the issues lists them in that order too.
      const message = issues.length > error.issues.length || error.message === describeIssues(error.issues) ? describeIssues(issues) : error.message;
      results.push({ row: index, ok: false, error: { code: error.code, message, issues } });
    }
  }
  return results;
}

type Row = z.output<typeof BulkRowSchema>;

/** A row's `evidence`: what the caller states (CallerEvidenceSchema), named `evidence.<member>` when refused. */
const RowEvidenceSchema = z.object({ evidence: CallerEvidenceSchema.optional() });

/** A row without its `evidence`, which is read on its own (RowEvidenceSchema), and that evidence. */
function rowParts(raw: unknown): { row: unknown; evidence: unknown } {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw) || !Object.hasOwn(raw, 'evidence')) return { row: raw, evidence: undefined };
  return { row: Object.fromEntries(Object.entries(raw).filter(([key]) => key !== 'evidence')), evidence: Reflect.get(raw, 'evidence') };
}

/**
 * Valid values put in place of a purpose or channel the row got wrong, only so that the opt-in
 * rule (legal basis and explanation, validateDecision) is still checked for that row.
 */
const STAND_INS: Readonly<Record<string, string>> = { purpose: 'marketing', channel: 'any' };
const DECISION_FIELDS = ['purpose', 'channel', 'status', 'legalBasis', 'explanation', 'occurredAt', 'idempotencyKey'] as const;

/**
 * Everything bulkSetConsent would refuse in a row without reading the database, all at once
 * (bulkSetConsent itself stops at the first failing check: schema, opt-in rule, the workspace's
 * purposes, e-mail, phone). Each check is the engine's own.
 */
export function bulkRowIssues(
  raw: unknown,
  by: { actor: Actor; source: ConsentSource },
  settings: Pick<WorkspaceSettings, 'defaultCountry' | 'purposes'>,
): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const parts = rowParts(raw);
  const parsed = BulkRowSchema.safeParse(parts.row, FIELD_PARSE);
  if (!parsed.success) issues.push(...withWorkspacePurposeMeant(zodIssuesToFieldIssues(parsed.error), purposeOf(raw), settings));
  const stated = RowEvidenceSchema.safeParse({ evidence: parts.evidence }, FIELD_PARSE);
  if (!stated.success) issues.push(...zodIssuesToFieldIssues(stated.error));
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return issues;
  const row = new Map(Object.entries(raw));
  const refused = new Set(issues.map((issue) => issue.path.split('.')[0]));
  const present = (field: string): unknown => (refused.has(field) ? undefined : row.get(field));

  if (row.get('status') !== undefined && !refused.has('status')) {
    const decision: Record<string, unknown> = { contactId: row.get('contactId') ?? 'pending', source: by.source, actor: by.actor, evidence: {} };
    for (const field of DECISION_FIELDS) {
      const value = refused.has(field) ? STAND_INS[field] : row.get(field);
      if (value !== undefined) decision[field] = value;
    }
    issues.push(...issuesOf(() => validateDecision(decision)).filter((issue) => !refused.has(issue.path.split('.')[0])));
  }
  const purpose = present('purpose');
  if (typeof purpose === 'string') issues.push(...issuesOf(() => assertKnownPurpose(purpose, settings)));
  const occurredAt = present('occurredAt');
  const early = typeof occurredAt === 'string' ? earliestOccurrenceIssue(occurredAt) : undefined;
  if (early !== undefined) issues.push(early);
  issues.push(...contactValueIssues({ email: present('email'), phone: present('phone') }, settings));
  return issues;
}

/**
 * The schema names a built-in purpose a misspelt one stands for (misspeltPurposeMessage); one of
 * the workspace's own in other letter case is named too (`"Surveys" ... (did you mean "surveys"?)`).
 */
/** The purpose a raw row sends, whatever it is. */
function purposeOf(raw: unknown): unknown {
  return typeof raw === 'object' && raw !== null ? Reflect.get(raw, 'purpose') : undefined;
}

function issuesOf(check: () => unknown): FieldIssue[] {
  const refusal = refusalOf(check);
  return refusal ? issuesOfRefusal(refusal) : [];
}

/** The fields of a bulk row in the order it is documented (BulkRowSchema, then evidence): the order of `consentry import`'s columns. */
const ROW_FIELD_ORDER: readonly string[] = [...Object.keys(BulkRowSchema.shape), 'evidence'];

/**
 * A refused row's issues in the row's field order, as `consentry import` lists a line's problems in
 * its columns' order, whichever check found each (the first check's issues come first otherwise):
 * a problem with the whole row first, a field the row does not have last, and within one field,
 * path order (inPathOrder).
 */
function inRowFieldOrder(issues: readonly FieldIssue[]): FieldIssue[] {
  const rank = (issue: FieldIssue): number => {
    if (issue.path === '') return -1;
    const index = ROW_FIELD_ORDER.indexOf(issue.path.split('.')[0] ?? '');
    return index < 0 ? ROW_FIELD_ORDER.length : index;
  };
  return inPathOrder([...issues].sort((a, b) => rank(a) - rank(b)));
}

/** A refused row's issues, then the row's other problems bulkRowIssues finds, each once. */
function withOtherIssues(
  first: readonly FieldIssue[],
  raw: unknown,
  by: { actor: Actor; source: ConsentSource },
  settings: Pick<WorkspaceSettings, 'defaultCountry' | 'purposes'>,
): FieldIssue[] {
  const all = [...first];
  const seen = new Set(first.map((issue) => issue.path));
  for (const issue of bulkRowIssues(raw, by, settings)) {
    if (seen.has(issue.path)) continue;
    seen.add(issue.path);
    all.push(issue);
  }
  return all;
}

function decisionOf(row: Row, by: { actor: Actor; source: ConsentSource }, evidence: CallerEvidence, identity: string | null): Omit<ConsentDecision, 'contactId'> {
  return {
    purpose: row.purpose,
    channel: row.channel,
    status: row.status,
    legalBasis: row.legalBasis ?? null,
    explanation: row.explanation ?? null,
    source: by.source,
    actor: by.actor,
    evidence: identity === null ? evidence : { ...evidence, identity },
    ...(row.occurredAt ? { occurredAt: row.occurredAt } : {}),
    idempotencyKey: row.idempotencyKey ?? null,
  };
}

/**
 * The e-mail and phone a row names, normalised once for every use (finding its contact, creating
 * one, the evidence, the identities added to it), on first use: an invalid one still refuses the
 * row where the first use comes, after the checks before it.
 */
class NamedIdentities {
  private normalised: { email: string | null; phone: string | null } | undefined;

  constructor(
    private readonly row: Row,
    private readonly defaultCountry: string | null,
  ) {}

  get email(): string | null {
    return this.values().email;
  }

  get phone(): string | null {
    return this.values().phone;
  }

  /** As EvidenceSchema's `identity` writes them; null for a row naming its contact by id only. */
  evidence(): string | null {
    const named = [...(this.email ? [`email:${this.email}`] : []), ...(this.phone ? [`phone:${this.phone}`] : [])];
    return named.length === 0 ? null : named.join(' ');
  }

  private values(): { email: string | null; phone: string | null } {
    this.normalised ??= {
      email: this.row.email ? normalizeEmail(this.row.email) : null,
      phone: this.row.phone ? normalizePhone(this.row.phone, this.defaultCountry) : null,
    };
    return this.normalised;
  }
}

/**
 * Whether the row's idempotency key was already recorded. A reused key is only accepted for an
 * existing contact, the one it was recorded for; recordConsent then checks it is the very same change.
 * A row about another contact (or one it would create) is refused as recordConsent refuses a
 * change: naming the record and the contact the key recorded, and besides the contact, what else
 * of `decision` (the row as stated, without the identity Consentry adds) differs from that record.
 */
async function recordedForKey(uow: UnitOfWork, row: Row, named: NamedIdentities, decision: Omit<ConsentDecision, 'contactId'>): Promise<boolean> {
  if (!row.idempotencyKey) return false;
  const existing = await uow.tx.findConsentRecordByIdempotencyKey(uow.workspaceId, row.idempotencyKey);
  if (!existing) return false;
  const contact = await findContactForRow(uow, row, named);
  if (!contact || contact.id !== existing.contactId) {
    const others = keyRecordDifferences(existing, { ...decision, contactId: existing.contactId });
    throw reusedKeyConflict(row.idempotencyKey, existing, ['contact', ...others], 'row');
  }
  return true;
}

type IdentityField = 'contactId' | 'email' | 'phone';

/**
 * The contact a row is about: its contact id, else the contact its e-mail names, else the one its
 * phone names. A row whose identities name two different contacts is refused: applying it to one
 * of them would record a decision the file meant, perhaps, for the other.
 */
async function findContactForRow(uow: UnitOfWork, row: Row, identities: NamedIdentities): Promise<Contact | undefined> {
  const { email, phone } = identities;
  const named: { field: IdentityField; contact: Contact | undefined }[] = [];
  if (row.contactId) named.push({ field: 'contactId', contact: await uow.findContact(row.contactId) });
  if (email) named.push({ field: 'email', contact: await uow.tx.findContactByEmail(uow.workspaceId, email) });
  if (phone) named.push({ field: 'phone', contact: await uow.tx.findContactByPhone(uow.workspaceId, phone) });
  const found = named.flatMap(({ field, contact }) => (contact ? [{ field, contact }] : []));
  if (new Set(found.map(({ contact }) => contact.id)).size > 1) {
    const fields = found.map(({ field }) => field);
    throw new ConsentryError(
      'CONFLICT',
      `${fields.join(' and ')} belong to different contacts`,
      found.map(({ field }) => ({ path: field, message: `belongs to a different contact than ${fields.filter((other) => other !== field).join(' and ')}` })),
    );
  }
  return row.contactId ? named[0]?.contact : found[0]?.contact;
}

/**
 * For a replayed row (answered from its idempotency key, which writes nothing): every decision
 * recorded after the row (a higher ledger seq) that is in force on a channel the row covers with a
 * status that is not the row's, each once (a decision on `any` can be in force on several), in the
 * order recorded; empty when there is none. What is in force on a channel is what canMessage reads
 * (effectiveStatus: the channel's own decision or the purpose's decision on `any`, whichever is
 * newer). A row on `any` covers every channel, so a later decision on one channel (START on
 * WhatsApp after STOP ALL) overtakes it there, as a later decision on `any` overtakes a channel's
 * row. Only decisions made since: one recorded before the row was already there when the row was
 * first answered (a row dated before it was recorded not in effect), so naming it on a replay would
 * answer the same row differently the second time, with nothing changed in between. All of them,
 * not the one recorded last only: a caller telling its own later rows from decisions made elsewhere
 * (the import) must see a decision from elsewhere on one channel even when one of its own rows
 * was recorded after it on another.
 */
async function overtakingDecisions(uow: UnitOfWork, replayed: RecordedConsent): Promise<SupersedingDecision[]> {
  const { purpose, channel, status } = replayed.record;
  const indexed = new ConsentStates(replayed.states);
  const covered = channel === 'any' ? indexed.ofPurpose(purpose).map((state) => state.channel) : [channel];
  const overtaking = new Map<string, ConsentState>();
  for (const coveredChannel of covered) {
    const inForce = indexed.effective(purpose, coveredChannel).state;
    if (inForce === null || inForce.status === status || inForce.seq <= replayed.record.seq) continue;
    overtaking.set(inForce.recordId, inForce);
  }
  const decisions: SupersedingDecision[] = [];
  for (const state of [...overtaking.values()].sort((a, b) => a.seq - b.seq)) decisions.push(await decisionInForce(uow, state));
  return decisions;
}

/** The record a materialised status rests on, as a replayed row's `overtakenBy` names it. */
async function decisionInForce(uow: UnitOfWork, state: ConsentState): Promise<SupersedingDecision> {
  const [record] = await uow.tx.listConsentRecords(uow.workspaceId, { contactId: state.contactId, afterSeq: state.seq - 1, limit: 1 });
  return { recordId: state.recordId, status: state.status, idempotencyKey: record?.id === state.recordId ? record.idempotencyKey : null };
}

/**
 * The contact a row is about, and what the row does to its erasedAddressGuard once it is recorded
 * (applyRowToContact): true sets it, false lifts it, undefined keeps it.
 */
interface RowContact {
  contact: Contact;
  guard: boolean | undefined;
}

/**
 * The row's contact, created when it names none that exists. A decision about a contact named by
 * its id is about the contact as it is now: its guard and the addresses it has are not checked,
 * and the row lifts the guard, as does a row that says `allowErased`. The e-mail or phone such a
 * row would add to it is checked all the same, since that address comes from the list: an opt-in
 * is refused and an opt-out sets the guard (see refuseErasedAddresses). Any other row is checked
 * by refuseErasedAddresses; a replayed one (its key already recorded for this contact) was checked
 * when it was first recorded.
 */
async function contactForRow(uow: UnitOfWork, row: Row, named: NamedIdentities, replayed: boolean): Promise<RowContact> {
  const found = await findContactForRow(uow, row, named);
  if (row.contactId) {
    const contact = await uow.requireLiveContact(row.contactId);
    if (row.allowErased === true) return { contact, guard: false };
    if (replayed) return { contact, guard: undefined };
    const erased = await erasedAmong(uow, addressesBrought(contact, named));
    if (row.status === 'opted_in') refuseErasedAddresses(erased, contact);
    return { contact, guard: erased.length > 0 };
  }
  if (found) {
    const contact = await uow.requireLiveContact(found.id);
    if (row.allowErased === true) return { contact, guard: false };
    if (replayed) return { contact, guard: undefined };
    // Its other address, which the row would add to it (addMissingIdentities), and, for an opt-in
    // while the guard stands, the addresses it has from an earlier row.
    const guarded = row.status === 'opted_in' && contact.erasedAddressGuard !== undefined;
    const erased = await erasedAmong(
      uow,
      ADDRESS_FIELDS.flatMap((field): RowAddress[] => {
        const own = contact[field];
        const brought = named[field];
        if (own === null) return brought === null ? [] : [{ field, address: brought, held: false }];
        return guarded ? [{ field, address: own, held: true }] : [];
      }),
    );
    if (row.status === 'opted_in') refuseErasedAddresses(erased, contact);
    return { contact, guard: erased.some((address) => !address.held) ? true : undefined };
  }
  const created = { email: named.email, phone: named.phone };
  if (row.allowErased === true) return { contact: await uow.insertContact(uow.blankContact(created)), guard: undefined };
  const erased = await erasedAmong(
    uow,
    ADDRESS_FIELDS.flatMap((field): RowAddress[] => {
      const address = named[field];
      return address === null ? [] : [{ field, address, held: false }];
    }),
  );
  if (row.status === 'opted_in') refuseErasedAddresses(erased, null);
  const blank = uow.blankContact(created);
  return { contact: await uow.insertContact(erased.length > 0 ? withErasedAddressGuard(blank, true) : blank), guard: undefined };
}

const ADDRESS_FIELDS = ['email', 'phone'] as const;

/** The row's e-mail and phone its contact has none of, which addMissingIdentities would add to it. */
function addressesBrought(contact: Contact, named: NamedIdentities): RowAddress[] {
  return ADDRESS_FIELDS.flatMap((field): RowAddress[] => {
    const brought = named[field];
    return contact[field] === null && brought !== null ? [{ field, address: brought, held: false }] : [];
  });
}

/** An address a row brings (`held` false), or one its contact has from an earlier row while its guard stands. */
interface RowAddress {
  field: (typeof ADDRESS_FIELDS)[number];
  address: string;
  held: boolean;
}


/**
 * An opt-in row that would create a contact with an address an erased contact had, or add such an
 * address to the contact it found by its other one or named by its id, is refused unless it says
 * `allowErased`: an old export or CRM list must not bring an erased person back with a decision
 * they never made again. An opt-out is recorded (it only honours an objection), but a contact it
 * makes or gives such an address keeps an erasedAddressGuard, and an opt-in row for that contact
 * is refused in the same way: the address came from a list, not from the person. The guard ends
 * when the person writes from the contact (handleInbound), when the contact is changed or decided
 * about by its id (updateContact, setConsent, a row naming it by contactId that adds no such
 * address), or by a row saying `allowErased`. An opt-in for a contact that has the address
 * otherwise is recorded: the person came back since.
 */
function refuseErasedAddresses(erased: readonly RowAddress[], contact: Contact | null): void {
  if (erased.length === 0) return;
  const fromList = erased.some((address) => address.held);
  const issues = erased.map(({ field, held }) => ({
    path: field,
    message: held
      ? 'belonged to a contact that was erased, and this row\'s contact has it from a list (an earlier bulk row, or a create or change through the API), not from the person; set allowErased to opt the person in again'
      : 'belonged to a contact that was erased; set allowErased to opt the person in again',
  }));
  const paths = issues.map((issue) => issue.path).join(' and ');
  const whence = fromList && contact !== null ? `, and contact ${contact.id} has it from a list (an earlier bulk row, or a create or change through the API), not from the person` : '';
  throw new ConsentryError('CONTACT_ERASED', `${paths} belonged to a contact that was erased${whence}: this row would opt the person in again (set allowErased to record it anyway)`, issues);
}

/**
 * A row that names an existing contact by one identity and brings an e-mail or phone the contact
 * has none of adds it, as a new contact would have got both; one the contact already has a
 * different value for is left as it is (a consent change does not rewrite a contact's data) and
 * answered as a warning, so the caller learns that the value it sent went nowhere. Run after the
 * decision is recorded, so a refused row changes no contact; the row's `guard` (RowContact) is
 * written with the addresses, in one change.
 */
async function addMissingIdentities(uow: UnitOfWork, contact: Contact, row: Row, named: NamedIdentities, guard: boolean | undefined): Promise<FieldIssue[]> {
  const warnings: FieldIssue[] = [];
  const missing: { email?: string; phone?: string } = {};
  if (row.email) {
    if (contact.email === null) missing.email = row.email;
    else if (contact.email !== named.email) warnings.push(keptIdentity('email', 'e-mail', row));
  }
  if (row.phone) {
    if (contact.phone === null) missing.phone = row.phone;
    else if (contact.phone !== named.phone) warnings.push(keptIdentity('phone', 'phone', row));
  }
  if (Object.keys(missing).length > 0 || guard !== undefined) await applyRowToContact(uow, contact.id, missing, guard);
  return warnings;
}

/** The warning for a row's e-mail or phone that its contact, found by another identity, has another value for. */
function keptIdentity(field: 'email' | 'phone', noun: string, row: Row): FieldIssue {
  // Not found by this field (the values would match), so by the id or the other identity.
  const foundBy = row.contactId ? 'contactId' : field === 'email' ? 'phone' : 'email';
  return {
    path: field,
    message: `the contact this row names by ${foundBy} has another ${noun}; this one was not added to it (update the contact to change it)`,
  };
}

/** A contact's consents: the materialised rows, and each channel's effective status for the built-in purposes. */
export interface ConsentOverview {
  contactId: string;
  states: ConsentState[];
}

export async function getConsents(uow: UnitOfWork, contactId: string): Promise<ConsentOverview> {
  await uow.requireContact(contactId);
  return { contactId, states: await uow.tx.getConsentStates(uow.workspaceId, contactId) };
}

export async function getHistory(uow: UnitOfWork, contactId: string): Promise<ConsentRecord[]> {
  await uow.requireContact(contactId);
  return uow.tx.listConsentRecords(uow.workspaceId, { contactId });
}

export interface HistoryPage {
  records: ConsentRecord[];
  /** The seq to pass as `afterSeq` for the next page; null on the last page. */
  nextAfterSeq: number | null;
}

/**
 * A page of a contact's records in chain order, after the record with seq `afterSeq`. That seq
 * must be one of this contact's records (what a previous page returned): any other number would
 * silently skip or repeat records, which a client copying the history must not miss.
 */
export async function getHistoryPage(uow: UnitOfWork, contactId: string, page: { afterSeq?: number; limit: number }): Promise<HistoryPage> {
  await uow.requireContact(contactId);
  const { afterSeq, limit } = page;
  if (afterSeq !== undefined) {
    const [at] = Number.isSafeInteger(afterSeq) && afterSeq > 0 ? await uow.tx.listConsentRecords(uow.workspaceId, { contactId, afterSeq: afterSeq - 1, limit: 1 }) : [];
    if (at?.seq !== afterSeq) throw unknownCursor('afterSeq', `record ${afterSeq} of this contact`);
  }
  const rows = await uow.tx.listConsentRecords(uow.workspaceId, { contactId, afterSeq: afterSeq ?? 0, limit: limit + 1 });
  const shown = pageOf(rows, limit, (record) => record.seq);
  return { records: shown.items, nextAfterSeq: shown.next };
}

export async function checkPermission(
  uow: UnitOfWork,
  contactId: string,
  channel: Channel,
  purpose: Purpose,
): Promise<{ allowed: boolean; reason: 'opted_in' | 'opted_out' | 'not_specified' | 'contact_erased'; status: EffectiveStatus; since: string | null }> {
  assertKnownPurpose(purpose, uow.workspace.settings);
  const contact = await uow.requireContact(contactId);
  const states = await uow.tx.getConsentStates(uow.workspaceId, contactId);
  const verdict = canMessage({ states, erased: contact.erasedAt !== null }, channel, purpose);
  const effective = effectiveStatus(states, purpose, channel);
  return { ...verdict, status: effective.status, since: effective.state?.occurredAt ?? null };
}
