import { stringify } from 'csv-stringify/sync';
import type { ConsentRecord } from '../core/consent.js';
import type { Engine, WorkspaceEngine } from '../engine.js';
import type { CliIo } from './io.js';
import { CliFailure, writeLine } from './io.js';

const HEADER = [
  'seq', 'record_id', 'contact_id', 'email', 'phone', 'purpose', 'channel', 'status', 'legal_basis', 'explanation',
  'source', 'actor', 'occurred_at', 'recorded_at', 'prev_hash', 'hash',
] as const;

/** Writes the whole ledger (every decision, in chain order) as CSV or JSON. */
export async function exportCommand(engine: Engine, workspace: WorkspaceEngine, format: string, io: CliIo): Promise<void> {
  if (format !== 'csv' && format !== 'json') throw new CliFailure(`--format must be csv or json, not "${format}"`);
  const records: ConsentRecord[] = await engine.store.transaction((tx) => tx.listConsentRecords(workspace.workspaceId, {}));
  const contacts = new Map<string, { email: string | null; phone: string | null }>();
  for (const record of records) {
    if (!contacts.has(record.contactId)) {
      const contact = await workspace.getContact(record.contactId);
      contacts.set(record.contactId, { email: contact.email, phone: contact.phone });
    }
  }
  const rows = records.map((r) => ({
    seq: r.seq,
    record_id: r.id,
    contact_id: r.contactId,
    email: contacts.get(r.contactId)?.email ?? null,
    phone: contacts.get(r.contactId)?.phone ?? null,
    purpose: r.purpose,
    channel: r.channel,
    status: r.status,
    legal_basis: r.legalBasis,
    explanation: r.explanation,
    source: r.source,
    actor: `${r.actor.kind}:${r.actor.id}`,
    occurred_at: r.occurredAt,
    recorded_at: r.recordedAt,
    prev_hash: r.prevHash,
    hash: r.hash,
  }));
  if (format === 'json') {
    writeLine(io.stdout, JSON.stringify(rows, null, 2));
    return;
  }
  io.stdout.write(stringify(rows, { header: true, columns: [...HEADER] }));
}
