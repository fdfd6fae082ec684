import { EvidenceSchema, MESSAGING_CHANNELS, PERSON_SOURCES, type Actor, type Channel, type ConsentRecord, type ConsentState, type Evidence, type MessagingChannel } from '../core/consent.js';
import { canonicalContactId, type Contact } from '../core/contact.js';
import { ConsentryError } from '../core/errors.js';
import type { ConsentryEvent, EventDataByType, EventType } from '../core/events.js';
import { EVENT_SCHEMA_VERSION, isPublicEventType } from '../core/events.js';
import { applyRecord, assertDecisionPurpose, canonicalJson, chainRecord, decisionPurposeNeedsStates, effectiveStatus, recordedOccurrence, validateDecision, type LedgerHead, type ValidDecision } from '../core/ledger.js';
import type { ConsentDecision } from '../core/consent.js';
import type { Workspace } from '../core/settings.js';
import { isoInstant } from '../core/time.js';
import { shownDigest } from '../core/workflow/shown.js';
import type { IdGenerator, SaltSource } from '../ports/ids.js';
import type { Conversation, StoreTx, StoredEvent } from '../ports/store.js';
import { z } from 'zod';

export interface ReplyOption {
  label: string;
  buttonId?: string;
}

/** A message Consentry sends to the contact. */
export interface Reply {
  contactId: string;
  conversationId: string | null;
  channel: MessagingChannel;
  text: string;
  options?: ReplyOption[];
}

export interface RecordedConsent {
  record: ConsentRecord;
  /** false when the idempotency key had already been used: nothing new was written. */
  created: boolean;
  /** The materialised status of the record's purpose and channel after the write: the channel's own row. */
  current: ConsentState;
  /**
   * What governs the record's purpose and channel after the write, as canMessage reads it
   * (effectiveStatus: the channel's own decision or the purpose's decision on `any`, whichever is
   * newer): the record itself when it is in effect, another decision when a newer one stands.
   */
  governing: ConsentState;
  /** Every materialised status of the contact after the write (what governs a channel: governingDecision). */
  states: readonly ConsentState[];
}

/** What governs `current`'s purpose and channel among a contact's states (effectiveStatus); `current` when nothing newer stands. */
function governingState(states: readonly ConsentState[], current: ConsentState): ConsentState {
  return effectiveStatus(states, current.purpose, current.channel).state ?? current;
}

export const ledgerHeadKey = (workspaceId: string): string => `ledger.head.${workspaceId}`;

export const LedgerHeadSchema = z.object({ seq: z.number().int().positive(), hash: z.string() });

/**
 * The stored ledger head, or undefined when it is missing or unreadable. The head as this engine
 * writes it (a positive safe integer and a string) is taken as the schema would take it; anything
 * else goes through the schema.
 */
export function parseLedgerHead(value: unknown): LedgerHead | undefined {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const seq: unknown = Reflect.get(value, 'seq');
    const hash: unknown = Reflect.get(value, 'hash');
    if (typeof seq === 'number' && Number.isSafeInteger(seq) && seq > 0 && typeof hash === 'string') return { seq, hash };
  }
  const parsed = LedgerHeadSchema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

/**
 * Everything one use case does inside its transaction: reads go through `tx`, and every
 * change is written together with the event that announces it (the transactional outbox).
 */
export class UnitOfWork {
  readonly events: StoredEvent[] = [];
  readonly replies: Reply[] = [];
  readonly nowIso: string;
  private readonly contacts = new Map<string, Contact>();
  private readonly closedConversationIds = new Set<string>();
  /** Key: contact id; the contact's materialised states as this transaction last wrote or read them. */
  private readonly consentStates = new Map<string, ConsentState[]>();
  private ledgerHead: LedgerHead | null | undefined;
  /**
   * The channel message this transaction handles, if it handles one: every reply it sends answers
   * that message, including the first question of a workflow the message's new conversation started.
   */
  inboundMessageId: string | null = null;
  /**
   * The conversation that message came in, once known: a workflow queued in another conversation
   * does not start in this transaction, whose replies answer this message (startQueuedWorkflows).
   */
  inboundConversationId: string | null = null;
  /**
   * Whether the caller gets this transaction's replies back in its result to send them itself (an
   * inbound message, a workflow started over the API): the outbound webhook's copies then say
   * `inAnswer: true`, so an adapter that sends the `replies` of its answers can skip them there.
   */
  repliesInAnswer = false;
  /**
   * Who sent that channel message, once its contact is known: the contact, the channel, and the
   * identity the message came from as the contact has it stored (handleInbound). A reply to that
   * contact on that channel answers that sender, so it goes there (replyAddress).
   */
  inboundSender: { contactId: string; channel: MessagingChannel; externalId: string } | null = null;

  constructor(
    readonly tx: StoreTx,
    readonly now: Date,
    private readonly ids: IdGenerator,
    readonly workspace: Workspace,
    private readonly salts: SaltSource,
    /** StoreTx.idFloor, read under the write lock: this transaction's ids sort after every id committed before it. */
    private readonly idFloor?: string,
  ) {
    this.nowIso = isoInstant(now);
  }

  get workspaceId(): string {
    return this.workspace.id;
  }

  newId(): string {
    return this.ids.next(this.now, this.idFloor);
  }

  async emit<T extends EventType>(type: T, data: EventDataByType[T], contactId: string | null): Promise<StoredEvent> {
    const event: ConsentryEvent = {
      id: this.newId(),
      type,
      version: EVENT_SCHEMA_VERSION,
      workspaceId: this.workspaceId,
      occurredAt: this.nowIso,
      contactId,
      data,
    };
    const stored = await this.tx.appendEvent(event);
    if (isPublicEventType(type)) this.events.push(stored);
    return stored;
  }

  /** The contact as this transaction last read or wrote it, without a read. */
  knownContact(id: string): Contact | undefined {
    return this.contacts.get(id);
  }

  /** A contact by id; an id in lower case names the same contact (ULIDs are case-insensitive: canonicalContactId). */
  async findContact(id: string): Promise<Contact | undefined> {
    const key = canonicalContactId(id);
    const cached = this.contacts.get(key);
    if (cached) return cached;
    const contact = await this.tx.getContact(this.workspaceId, key);
    if (contact) this.contacts.set(key, contact);
    return contact;
  }

  /** A contact found by another key (identity, e-mail, phone) is kept as if read by id; an earlier read wins. */
  remember(contact: Contact): Contact {
    const cached = this.contacts.get(contact.id);
    if (cached) return cached;
    this.contacts.set(contact.id, contact);
    return contact;
  }

  async requireContact(id: string): Promise<Contact> {
    const contact = await this.findContact(id);
    if (!contact) throw new ConsentryError('NOT_FOUND', `Contact ${id} not found`, [{ path: 'contactId', message: `no contact ${id} in this workspace` }]);
    return contact;
  }

  async requireLiveContact(id: string): Promise<Contact> {
    const contact = await this.requireContact(id);
    if (contact.erasedAt !== null) {
      throw new ConsentryError('CONTACT_ERASED', `Contact ${id} was erased on ${contact.erasedAt}`, [
        { path: 'contactId', message: `erased on ${contact.erasedAt}` },
      ]);
    }
    return contact;
  }

  /** A new contact of this workspace, stamped now, with nothing but what is given. */
  blankContact(known: Partial<Pick<Contact, 'name' | 'email' | 'phone' | 'identities'>> = {}): Contact {
    return {
      id: this.newId(),
      workspaceId: this.workspaceId,
      name: known.name ?? null,
      email: known.email ?? null,
      phone: known.phone ?? null,
      identities: known.identities ?? [],
      fields: {},
      tags: [],
      hubspotId: null,
      createdAt: this.nowIso,
      updatedAt: this.nowIso,
      erasedAt: null,
    };
  }

  async insertContact(contact: Contact): Promise<Contact> {
    await this.tx.insertContact(contact);
    this.contacts.set(contact.id, contact);
    return contact;
  }

  async saveContact(contact: Contact): Promise<Contact> {
    const saved = { ...contact, updatedAt: this.nowIso };
    await this.tx.updateContact(saved);
    this.contacts.set(saved.id, saved);
    return saved;
  }

  /**
   * Chains a decision onto the workspace ledger and keeps the materialised status in step. The
   * evidence gets what Consentry writes itself: the `policyDigest` of texts `shown` without one,
   * and, for a decision recorded on the contact's behalf that names no `identity`, the contact's
   * addresses on the decision's channel as they are now (decisionIdentity).
   *
   * A purpose the workspace took off its list refuses new decisions, but for the withdrawal of an
   * opt-in the contact still holds to it: that opt-in stands until it is withdrawn, and would be
   * in force again were the purpose put back, so withdrawing stays as easy as giving (GDPR Art.
   * 7(3)) by every means: a keyword, the API, a Slack button.
   *
   * An idempotency key recorded before answers the record it made when the decision is that very
   * change, and is refused naming what differs otherwise (reusedKeyConflict, `sentAs` wording it).
   */
  async recordConsent(input: ConsentDecision, sentAs: KeySentIn = 'request'): Promise<RecordedConsent> {
    const decision = withShownDigest(validateDecision(input));
    if (decision.idempotencyKey) {
      const existing = await this.tx.findConsentRecordByIdempotencyKey(this.workspaceId, decision.idempotencyKey);
      if (existing) {
        const differing = differingFromRecord(existing, decision);
        if (differing.length > 0) throw reusedKeyConflict(decision.idempotencyKey, existing, differing, sentAs);
        const states = await this.consentStatesOf(existing.contactId);
        const current = states.find((state) => state.purpose === existing.purpose && state.channel === existing.channel);
        if (!current) throw new ConsentryError('CONFLICT', 'Materialised consent state is missing for an existing record');
        return { record: existing, created: false, current, governing: governingState(states, current), states };
      }
    }
    // Checked after the replay: a purpose taken off the list keeps answering the requests that
    // recorded it, and refuses only new decisions.
    const held = decisionPurposeNeedsStates(decision, this.workspace.settings) ? await this.consentStatesOf(decision.contactId) : [];
    assertDecisionPurpose(decision, this.workspace.settings, held);
    if (this.ledgerHead === undefined) this.ledgerHead = await this.readLedgerHead();
    const record = chainRecord(this.salted(await this.withContactIdentity(decision)), {
      id: this.newId(),
      workspaceId: this.workspaceId,
      recordedAt: this.nowIso,
      previous: this.ledgerHead ?? undefined,
      occurredAtAsSent: input.occurredAt ?? null,
    });
    await this.tx.appendConsentRecord(record);
    this.ledgerHead = { seq: record.seq, hash: record.hash };
    await this.tx.setMeta(ledgerHeadKey(this.workspaceId), this.ledgerHead);

    const states = this.consentStates.get(record.contactId) ?? (await this.consentStatesOf(record.contactId));
    const before = states.find((state) => state.purpose === record.purpose && state.channel === record.channel);
    const after = applyRecord(before, record);
    if (after.recordId === record.id) {
      await this.tx.upsertConsentState(after);
      const updated = withState(states, after);
      this.consentStates.set(record.contactId, updated);
      const governing = governingState(updated, after);
      // Raised for a decision that governs its channel, as canMessage reads it: one dated before a
      // newer decision on `any` (an opt-in on WhatsApp older than a STOP ALL) changes the channel's
      // own row but not what may be sent, and a subscriber acting on consent.given would message a
      // contact who opted out of everything.
      if (governing.recordId !== record.id) return { record, created: true, current: after, governing, states: updated };
      await this.emit(
        record.status === 'opted_in' ? 'consent.given' : 'consent.withdrawn',
        {
          contactId: record.contactId,
          purpose: record.purpose,
          channel: record.channel,
          status: record.status,
          legalBasis: record.legalBasis,
          explanation: record.explanation,
          source: record.source,
          recordId: record.id,
          occurredAt: record.occurredAt,
        },
        record.contactId,
      );
    }
    const final = this.consentStates.get(record.contactId) ?? states;
    return { record, created: true, current: after, governing: governingState(final, after), states: final };
  }

  /**
   * The decision with the identity it came from, when a person or an integration records it on
   * the contact's behalf (PERSON_SOURCES) naming the contact by id: the contact's addresses on the
   * decision's channel, so a receipt keeps pairing the decision with the number or address it was
   * about after the contact is edited (under the TCPA, consent belongs to the number). An identity
   * the caller states is kept, and keyword and workflow decisions carry their own: for them nothing
   * is read. The contact is the one the caller checked in this transaction, so it is not read again.
   */
  private async withContactIdentity(decision: ValidDecision): Promise<ValidDecision> {
    if (decision.evidence.identity !== undefined || !PERSON_SOURCES.includes(decision.source)) return decision;
    const contact = await this.findContact(decision.contactId);
    const identity = contact === undefined ? null : decisionIdentity(contact, decision.channel);
    return identity === null ? decision : { ...decision, evidence: { ...decision.evidence, identity } };
  }

  /** The decision with a fresh `salt` in its evidence, unless the evidence is empty (its digest then tells nothing). */
  private salted(decision: ValidDecision): ValidDecision {
    if (Object.keys(decision.evidence).length === 0) return decision;
    return { ...decision, evidence: { ...decision.evidence, salt: this.salts.next() } };
  }

  /** A contact's materialised consent states, read once per transaction and kept in step with its writes. */
  async consentStatesOf(contactId: string): Promise<readonly ConsentState[]> {
    let states = this.consentStates.get(contactId);
    if (!states) {
      states = await this.tx.getConsentStates(this.workspaceId, contactId);
      this.consentStates.set(contactId, states);
    }
    return states;
  }

  /**
   * The workspace's ledger head, kept beside the records (see verifyLedger). A new record chains
   * onto the head rather than onto whatever record is last, so records lost from the end stay
   * visible as a gap instead of being papered over by the next append. A workspace without a
   * head (none written yet) chains onto its last record, if any.
   */
  private async readLedgerHead(): Promise<LedgerHead | null> {
    const head = parseLedgerHead(await this.tx.getMeta(ledgerHeadKey(this.workspaceId)));
    if (head !== undefined) return head;
    const last = await this.tx.lastConsentRecord(this.workspaceId);
    return last ? { seq: last.seq, hash: last.hash } : null;
  }

  /** Opens a conversation; `deferredTemplates` are those of its opening's workflows that wait for a setting (Conversation.deferredTemplates). */
  async openConversation(contactId: string, channel: MessagingChannel, deferredTemplates: readonly string[] = []): Promise<Conversation> {
    const conversation: Conversation = {
      id: this.newId(),
      workspaceId: this.workspaceId,
      contactId,
      channel,
      status: 'open',
      openedAt: this.nowIso,
      closedAt: null,
      ...(deferredTemplates.length > 0 ? { deferredTemplates: [...deferredTemplates] } : {}),
    };
    await this.tx.insertConversation(conversation);
    await this.emit('conversation.opened', { contactId, conversationId: conversation.id, channel }, contactId);
    return conversation;
  }

  /**
   * Whether this unit closed the conversation: a row read before the close still says open, and
   * a workflow started in it would ask a question no answer reaches (the next message opens a new
   * conversation, DESIGN §4).
   */
  closedHere(conversationId: string): boolean {
    return this.closedConversationIds.has(conversationId);
  }

  async closeConversation(conversation: Conversation): Promise<void> {
    if (conversation.status === 'closed') return;
    this.closedConversationIds.add(conversation.id);
    // The workflows queued behind its consent question go with it: a closed chat asks nothing more.
    const { queuedWorkflows: _dropped, ...closing } = conversation;
    await this.tx.updateConversation({ ...closing, status: 'closed', closedAt: this.nowIso });
    await this.emit(
      'conversation.closed',
      { contactId: conversation.contactId, conversationId: conversation.id, channel: conversation.channel },
      conversation.contactId,
    );
  }

  /**
   * Where a reply to the contact on `channel` goes: in the transaction of a message the contact sent
   * there, the identity that message came from, since a reply answers its sender (Twilio replies to
   * the inbound message's `From`, https://www.twilio.com/docs/messaging/guides/webhook-request; the
   * WhatsApp Cloud API to the `messages[].from` WhatsApp ID,
   * https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/components), not to another
   * spelling of the contact's id there. Else (a time-out, a workflow started from outside) the
   * contact's address on the channel (addressOn): which id the contact last wrote from is not kept.
   */
  private replyAddress(contact: Contact, channel: MessagingChannel): string {
    const sender = this.inboundSender;
    if (sender !== null && sender.contactId === contact.id && sender.channel === channel) return sender.externalId;
    return addressOn(contact, channel);
  }

  /** Queues a message to the contact; a custom channel's outbound webhook also gets it, through the outbox. */
  async reply(contact: Contact, channel: MessagingChannel, conversationId: string | null, text: string, options?: ReplyOption[], inReplyTo: string | null = null): Promise<void> {
    const reply: Reply = { contactId: contact.id, conversationId, channel, text, ...(options && options.length > 0 ? { options } : {}) };
    this.replies.push(reply);
    if (this.workspace.settings.outboundWebhookUrl) {
      await this.emit(
        'message.outbound',
        {
          contactId: contact.id,
          conversationId,
          channel,
          to: this.replyAddress(contact, channel),
          text,
          ...(reply.options ? { options: reply.options } : {}),
          inReplyTo: inReplyTo ?? this.inboundMessageId,
          inAnswer: this.repliesInAnswer,
        },
        contact.id,
      );
    }
  }
}

/** `states` with `state` in place of the one about the same purpose and channel, ordered as the store orders them. */
function withState(states: readonly ConsentState[], state: ConsentState): ConsentState[] {
  const next = states.filter((s) => s.purpose !== state.purpose || s.channel !== state.channel);
  next.push(state);
  return next.sort((a, b) => (a.purpose === b.purpose ? compareText(a.channel, b.channel) : compareText(a.purpose, b.purpose)));
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The evidence with the `policyDigest` of its `shown` texts when it has texts and no digest, as a
 * workflow writes it (shownDigest), taken over the texts as validateDecision keeps them.
 */
function withShownDigest(decision: ValidDecision): ValidDecision {
  const { shown, policyDigest } = decision.evidence;
  if (shown === undefined || policyDigest !== undefined) return decision;
  return { ...decision, evidence: { ...decision.evidence, policyDigest: shownDigest(shown) } };
}

/** What a decision sent with a key is: a request of its own (PUT), or a row of a bulk request or of an imported file. */
export type KeySentIn = 'request' | 'row';

/**
 * What a reused idempotency key's refusal names as differing: a field of the decision, or, for a
 * bulk row, the contact it names (by its id, e-mail or phone, whichever the row has).
 */
export type KeyDifference = 'contact' | 'contactId' | 'purpose' | 'channel' | 'status' | 'legalBasis' | 'explanation' | 'source' | 'occurredAt' | 'evidence';

/**
 * The fields of a decision sent with an idempotency key that differ from `existing`, the record the
 * key recorded. A key stands for one request: sent again with other values it would answer "done"
 * while the new values were dropped, so each value the record keeps must match. The time is
 * compared as the first request's was recorded (clamped to its recording time when ahead).
 */
function differingFromRecord(existing: ConsentRecord, decision: ValidDecision): KeyDifference[] {
  const differing: (KeyDifference | false)[] = [
    existing.contactId !== decision.contactId && 'contactId',
    existing.purpose !== decision.purpose && 'purpose',
    existing.channel !== decision.channel && 'channel',
    existing.status !== decision.status && 'status',
    existing.legalBasis !== decision.legalBasis && 'legalBasis',
    existing.explanation !== decision.explanation && 'explanation',
    existing.source !== decision.source && 'source',
    existing.occurredAt !== recordedOccurrence(decision, existing.recordedAt) && 'occurredAt',
    !sameStatedEvidence(existing.evidence, decision.evidence) && 'evidence',
  ];
  return differing.filter((field) => field !== false);
}

/** differingFromRecord for a decision as recordConsent is given it (validated, `shown` digested, as recordConsent compares it). */
export function keyRecordDifferences(existing: ConsentRecord, input: ConsentDecision): KeyDifference[] {
  return differingFromRecord(existing, withShownDigest(validateDecision(input)));
}

/**
 * The refusal of an idempotency key `existing` recorded, sent again with another change: the
 * record it recorded, and the contact it recorded it for when the contact is what differs (the
 * caller may not know that contact: a bulk row names its contact by e-mail or phone), and what differs.
 */
export function reusedKeyConflict(key: string, existing: ConsentRecord, differing: readonly KeyDifference[], sentAs: KeySentIn): ConsentryError {
  const forContact = differing.includes('contact') || differing.includes('contactId') ? ` for contact ${existing.contactId}` : '';
  const message = `already used for a different change (it recorded ${existing.id}${forContact}; this ${sentAs} differs in ${differing.join(', ')})`;
  return new ConsentryError('CONFLICT', `Idempotency key "${key}" was ${message}`, [{ path: 'idempotencyKey', message }]);
}

/**
 * Whether a replayed request states the evidence its key recorded. An identity Consentry derived
 * from the contact (the request stated none) is left out: the contact may have been edited since,
 * and the request did not change. Evidence redacted on erasure cannot be compared, and an erased
 * contact's decisions are refused before this (requireLiveContact).
 */
function sameStatedEvidence(recorded: Evidence, stated: Evidence): boolean {
  if (recorded.redacted === true) return true;
  const { salt: _salt, ...recordedUnsalted } = recorded;
  if (stated.identity !== undefined) return canonicalJson(recordedUnsalted) === canonicalJson(stated);
  const { identity: _derived, ...recordedAsStated } = recordedUnsalted;
  return canonicalJson(recordedAsStated) === canonicalJson(stated);
}

const IDENTITY_MAX = EvidenceSchema.shape.identity.unwrap().maxLength ?? 0;

/**
 * Who a decision about `channel` reaches, in EvidenceSchema's `identity` format, from the contact
 * as it is: on `sms` its phone (else its SMS identities), on `whatsapp` its WhatsApp identities
 * (else its phone: WhatsApp addresses users by number), on `email` its e-mail (else its e-mail
 * identities), on `messenger`, `telegram` and `webchat` that channel's identities, and on `any`
 * all of them: e-mail, phone, then the identities by channel. Identities of one channel are in
 * the order of their ids, each address once. Addresses that would take the text past the evidence
 * limit are left out (the e-mail and phone always fit); null when the contact has no address there.
 */
export function decisionIdentity(contact: Contact, channel: Channel): string | null {
  const email = contact.email === null ? [] : [`email:${contact.email}`];
  const phone = contact.phone === null ? [] : [`phone:${contact.phone}`];
  const on = (of: MessagingChannel): string[] =>
    contact.identities
      .filter((identity) => identity.channel === of)
      .map((identity) => `${of}:${identity.externalId}`)
      .sort(compareText);
  const orElse = (first: string[], second: string[]): string[] => (first.length > 0 ? first : second);
  let addresses: string[];
  switch (channel) {
    case 'sms':
      addresses = orElse(phone, on('sms'));
      break;
    case 'whatsapp':
      addresses = orElse(on('whatsapp'), phone);
      break;
    case 'email':
      addresses = orElse(email, on('email'));
      break;
    case 'any':
      addresses = [...email, ...phone, ...MESSAGING_CHANNELS.flatMap(on)];
      break;
    default:
      addresses = on(channel);
  }
  let identity = '';
  for (const address of new Set(addresses)) {
    const next = identity === '' ? address : `${identity} ${address}`;
    if (next.length <= IDENTITY_MAX) identity = next;
  }
  return identity === '' ? null : identity.toWellFormed();
}

/**
 * Where the contact can be reached on a channel: its identity there; else its e-mail on `email`,
 * its phone number on `sms` and `whatsapp` (a WhatsApp user is addressed by number); null on the
 * channels that address people only by the ids they give (Messenger page-scoped ids, Telegram
 * chat ids, web chat sessions).
 */
export function reachableAddressOn(contact: Contact, channel: Channel): string | null {
  const identity = contact.identities.find((i) => i.channel === channel);
  if (identity) return identity.externalId;
  if (channel === 'email') return contact.email;
  if (channel === 'sms' || channel === 'whatsapp') return contact.phone;
  return null;
}

/** Where to reach a contact on a channel (reachableAddressOn), else whatever identifies it, for the adapter to resolve. */
export function addressOn(contact: Contact, channel: Channel): string {
  return reachableAddressOn(contact, channel) ?? contact.phone ?? contact.email ?? contact.id;
}

export function contactActor(contactId: string): Actor {
  return { kind: 'contact', id: contactId };
}
