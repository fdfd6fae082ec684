/**
 * Typed failures with stable codes. Adapters map `code` to their platform
 * (HTTP problem+json, Zapier z.errors, HubSpot FAIL_CONTINUE, Slack ephemeral).
 */
export const ERROR_CODES = [
  'VALIDATION_FAILED',
  'LEGAL_BASIS_REQUIRED',
  'EXPLANATION_REQUIRED',
  'INVALID_EMAIL',
  'INVALID_PHONE',
  'NOT_FOUND',
  'CONFLICT',
  'CONTACT_ERASED',
  'UNKNOWN_TEMPLATE',
  'INVALID_WORKFLOW',
  'KEYWORD_NOT_REMOVABLE',
  'LEDGER_TAMPERED',
  'PAYLOAD_TOO_LARGE',
  'UNAUTHORIZED',
  'STORE_CORRUPT',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export interface FieldIssue {
  /** Dotted path of the offending field, e.g. `rows.3.legalBasis`. */
  path: string;
  message: string;
}

export class ConsentryError extends Error {
  readonly code: ErrorCode;
  readonly issues: readonly FieldIssue[];

  constructor(code: ErrorCode, message: string, issues: readonly FieldIssue[] = []) {
    super(message);
    this.name = 'ConsentryError';
    this.code = code;
    this.issues = issues;
  }
}

export function isConsentryError(value: unknown): value is ConsentryError {
  return value instanceof ConsentryError;
}

/**
 * A stored row that cannot be read back (a column edited outside Consentry no longer holds JSON):
 * names the table, the row and the column, so the one bad row can be found and the others trusted.
 */
export class UnreadableRowError extends ConsentryError {
  readonly table: string;
  readonly rowId: string;

  constructor(table: string, rowId: string, column: string, reason: string) {
    super('STORE_CORRUPT', `${table} row ${rowId} cannot be read: its ${column} ${reason}`, [{ path: `${table}.${column}`, message: reason }]);
    this.name = 'UnreadableRowError';
    this.table = table;
    this.rowId = rowId;
  }
}
