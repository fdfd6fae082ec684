import { stringify } from 'csv-stringify/sync';
import type { Workspace } from '../core/settings.js';
import type { Engine } from '../engine.js';
import type { CliIo } from './io.js';
import { CliFailure, writeLine } from './io.js';

const HEADER = [
  'workspace_id', 'seq', 'record_id', 'contact_id', 'email', 'phone', 'purpose', 'channel', 'status', 'legal_basis', 'explanation',
  'source', 'actor', 'evidence', 'evidence_digest', 'idempotency_key', 'occurred_at', 'recorded_at', 'prev_hash', 'hash',
] as const;

export type ExportFormat = 'csv' | 'json';

/** `--format`, checked when the command line is read: a typo is named before the database is opened. */
export function parseExportFormat(value: string): ExportFormat {
  if (value !== 'csv' && value !== 'json') throw new CliFailure(`--format must be csv or json, not "${value}"`);
  return value;
}

/**
 * Writes the ledgers of the given workspaces (every decision, in chain order) as CSV or JSON,
 * with everything a record's hash covers (evidence included, as JSON in the CSV), so an export
 * can be checked again away from the database.
 */
export async function exportCommand(engine: Engine, workspaces: readonly Workspace[], format: ExportFormat, io: CliIo): Promise<void> {
  const rows = [];
  for (const { id } of workspaces) {
    const workspace = engine.workspace(id);
    const records = await engine.store.transaction((tx) => tx.listConsentRecords(id, {}));
    const contacts = new Map<string, { email: string | null; phone: string | null }>();
    for (const record of records) {
      if (!contacts.has(record.contactId)) {
        const contact = await workspace.getContact(record.contactId);
        contacts.set(record.contactId, { email: contact.email, phone: contact.phone });
      }
    }
    for (const r of records) {
      const row = {
        workspace_id: r.workspaceId,
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
        evidence: r.evidence,
        evidence_digest: r.evidenceDigest,
        idempotency_key: r.idempotencyKey,
        occurred_at: r.occurredAt,
        recorded_at: r.recordedAt,
        prev_hash: r.prevHash,
        hash: r.hash,
      };
      rows.push(row);
    }
  }
  if (format === 'json') {
    writeLine(io.stdout, JSON.stringify(rows, null, 2));
    return;
  }
  const csvRows = rows.map((row) => ({ ...row, evidence: JSON.stringify(row.evidence) }));
  io.stdout.write(stringify(csvRows, { header: true, columns: [...HEADER] }));
}
