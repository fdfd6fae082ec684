import { z } from 'zod';
import type { ConsentRecord } from '../../core/consent.js';
import { ActorSchema, ChannelSchema, ConsentSourceSchema, ConsentStatusSchema, LEGAL_BASIS_LABELS, LegalBasisSchema } from '../../core/consent.js';
import { ConsentStates, foldLedger, purposeChannelKey } from '../../core/ledger.js';
import type { LedgerFault } from '../../core/ledger.js';
import type { ContactLedgerReport, LedgerReport } from '../../engine.js';
import { authOf } from '../auth.js';
import { problemResponses } from '../openapi.js';
import { ContactIdParamsSchema, GoverningJsonSchema, governingJson } from '../schemas.js';
import { API_KEY_SECURITY, type ApiRoutes } from '../types.js';

const LedgerFaultJsonSchema = z.object({ seq: z.number().int(), id: z.string().nullable(), position: z.number().int(), reason: z.string(), message: z.string() });

const LedgerReportJsonSchema = z.object({
  workspaceId: z.string(),
  ok: z.boolean(),
  records: z.number().int(),
  chain: z.union([
    z.object({ ok: z.literal(true), count: z.number().int(), headHash: z.string() }),
    z.object({
      ok: z.literal(false),
      count: z.number().int(),
      firstBad: LedgerFaultJsonSchema,
    }),
  ]),
  stateMismatches: z.array(z.object({ contactId: z.string(), purpose: z.string(), channel: z.string() })),
});

const ContactVerificationJsonSchema = z.object({
  contactId: z.string(),
  ok: z.boolean(),
  records: z.number().int(),
  chain: z.union([
    z.object({ ok: z.literal(true), count: z.number().int() }),
    z.object({ ok: z.literal(false), count: z.number().int(), firstBad: LedgerFaultJsonSchema }),
  ]),
  stateMismatches: z.array(z.object({ contactId: z.string(), purpose: z.string(), channel: z.string() })),
});

function faultJson(fault: LedgerFault): z.infer<typeof LedgerFaultJsonSchema> {
  return { seq: fault.seq, id: fault.id, position: fault.position, reason: fault.reason, message: fault.message };
}

function mismatchesJson(report: LedgerReport | ContactLedgerReport): z.infer<typeof LedgerReportJsonSchema>['stateMismatches'] {
  return report.stateMismatches.map((m) => ({ contactId: m.contactId, purpose: m.purpose, channel: m.channel }));
}

function ledgerReportJson(report: LedgerReport): z.infer<typeof LedgerReportJsonSchema> {
  return {
    workspaceId: report.workspaceId,
    ok: report.ok,
    records: report.records,
    chain: report.chain.ok
      ? { ok: true, count: report.chain.count, headHash: report.chain.headHash }
      : { ok: false, count: report.chain.count, firstBad: faultJson(report.chain.firstBad) },
    stateMismatches: mismatchesJson(report),
  };
}

function contactVerificationJson(report: ContactLedgerReport): z.infer<typeof ContactVerificationJsonSchema> {
  return {
    contactId: report.contactId,
    ok: report.ok,
    records: report.records,
    chain: report.chain.ok ? { ok: true, count: report.chain.count } : { ok: false, count: report.chain.count, firstBad: faultJson(report.chain.firstBad) },
    stateMismatches: mismatchesJson(report),
  };
}

/**
 * One decision as a regulator asks to see it (GDPR Art. 7(1): the controller must be able to
 * demonstrate consent): when, how, on which legal basis, and its place in the hash chain.
 */
const ReceiptEntrySchema = z.object({
  recordId: z.string(),
  seq: z.number().int().describe('Position in the workspace hash chain'),
  purpose: z.string(),
  channel: ChannelSchema,
  status: ConsentStatusSchema,
  occurredAt: z.string().describe('When the decision was made'),
  recordedAt: z.string().describe('When Consentry wrote it'),
  source: ConsentSourceSchema.describe('How: keyword, workflow, manual, bulk, api, hubspot, zapier, slack'),
  actor: ActorSchema,
  evidence: z.record(z.string(), z.unknown()).describe('What the contact was shown and answered: message id, texts, keyword, language, policy URL'),
  evidenceDigest: z.string(),
  legalBasis: LegalBasisSchema.nullable(),
  legalBasisLabel: z.string().nullable(),
  explanation: z.string().nullable(),
  idempotencyKey: z.string().nullable().describe("The caller's idempotency key, which the hash covers too"),
  prevHash: z.string(),
  hash: z.string(),
});
type ReceiptEntry = z.infer<typeof ReceiptEntrySchema>;

const ReceiptSchema = z.object({
  generatedAt: z.string(),
  workspace: z.object({ id: z.string(), name: z.string() }),
  contact: z.object({
    id: z.string(),
    name: z.string().nullable(),
    email: z.string().nullable(),
    phone: z.string().nullable(),
    erasedAt: z.string().nullable().describe('Set when personal data was erased; name, email, phone and evidence texts are then gone'),
  }),
  consents: z.array(
    z.object({
      purpose: z.string(),
      channel: ChannelSchema,
      status: ConsentStatusSchema.describe("The status of this purpose and channel's own newest decision"),
      ...GoverningJsonSchema,
      current: ReceiptEntrySchema.describe('The record that decides the current status (latest occurredAt)'),
      history: z.array(ReceiptEntrySchema).describe('Every record for this purpose and channel, in chain order'),
    }),
  ),
  verification: ContactVerificationJsonSchema.describe(
    "This contact's records re-hashed at the time of this receipt, each linked to the record before it in the workspace chain, and its current statuses checked against them; POST /v1/ledger/verify checks the whole chain",
  ),
});

function receiptEntry(record: ConsentRecord): ReceiptEntry {
  return {
    recordId: record.id,
    seq: record.seq,
    purpose: record.purpose,
    channel: record.channel,
    status: record.status,
    occurredAt: record.occurredAt,
    recordedAt: record.recordedAt,
    source: record.source,
    actor: { kind: record.actor.kind, id: record.actor.id },
    evidence: { ...record.evidence },
    evidenceDigest: record.evidenceDigest,
    legalBasis: record.legalBasis,
    legalBasisLabel: record.legalBasis ? LEGAL_BASIS_LABELS[record.legalBasis] : null,
    explanation: record.explanation,
    idempotencyKey: record.idempotencyKey,
    prevHash: record.prevHash,
    hash: record.hash,
  };
}

const ledgerTags = ['ledger'];

export const ledgerRoutes: ApiRoutes = (v1, { clock }) => {
  v1.get(
    '/contacts/:id/proof',
    {
      schema: {
        tags: ledgerTags,
        summary: 'A consent receipt: every current consent of a contact, its history and the chain verification',
        security: API_KEY_SECURITY,
        params: ContactIdParamsSchema,
        response: { 200: ReceiptSchema, ...problemResponses(404) },
      },
    },
    async (request) => {
      const { workspace } = authOf(request);
      const contact = await workspace.getContact(request.params.id);
      const history = await workspace.getHistory(contact.id);
      const owner = await workspace.get();
      const verification = await workspace.verifyContactLedger(contact.id);
      const byId = new Map(history.map((record) => [record.id, record]));
      // The current status is the fold of this very history, so the receipt agrees with itself
      // even if a decision lands between the reads.
      const states = foldLedger(history);
      const indexed = new ConsentStates(states);
      // One pass over the history, however many purposes and channels the contact has.
      const recordsOf = new Map<string, ConsentRecord[]>();
      for (const record of history) {
        const key = purposeChannelKey(record.purpose, record.channel);
        const records = recordsOf.get(key);
        if (records === undefined) recordsOf.set(key, [record]);
        else records.push(record);
      }
      const consents = states.flatMap((state) => {
        const current = byId.get(state.recordId);
        if (!current) return [];
        const entries = (recordsOf.get(purposeChannelKey(state.purpose, state.channel)) ?? []).map(receiptEntry);
        return [{ purpose: state.purpose, channel: state.channel, status: state.status, ...governingJson(indexed, state), current: receiptEntry(current), history: entries }];
      });
      return {
        generatedAt: clock.now().toISOString(),
        workspace: { id: owner.id, name: owner.name },
        contact: { id: contact.id, name: contact.name, email: contact.email, phone: contact.phone, erasedAt: contact.erasedAt },
        consents,
        verification: contactVerificationJson(verification),
      };
    },
  );

  v1.post(
    '/ledger/verify',
    {
      schema: {
        tags: ledgerTags,
        summary: "Re-hash the workspace's chain and compare the current statuses with its fold",
        security: API_KEY_SECURITY,
        response: { 200: LedgerReportJsonSchema },
      },
    },
    async (request) => ledgerReportJson(await authOf(request).workspace.verifyLedger()),
  );
};
