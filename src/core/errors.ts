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
  // A message to the contact was asked for on a channel the contact has no address or identity on.
  'CONTACT_UNREACHABLE',
  'UNKNOWN_TEMPLATE',
  'INVALID_WORKFLOW',
  'KEYWORD_NOT_REMOVABLE',
  // The `Consent: Privacy` tag added from outside while the contact's privacy decision in force is no opt-in: the tag follows the ledger.
  'TAG_NEEDS_CONSENT',
  'LEDGER_TAMPERED',
  'PAYLOAD_TOO_LARGE',
  // One workspace asked for more of a costly operation at once than it may (a second bulk request while one runs).
  'TOO_MANY_REQUESTS',
  'UNAUTHORIZED',
  'STORE_CORRUPT',
  // Another process held the database's write lock for longer than the store waits for it.
  'STORE_BUSY',
  // The disk has no room for what a transaction writes; it was rolled back.
  'STORE_FULL',
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
 * The refusal a check raises, or null when it passes: for checks run one after the other so that
 * one answer names every problem. Anything but a ConsentryError is a fault, and is rethrown.
 */
export function refusalOf(check: () => unknown): ConsentryError | null {
  try {
    check();
    return null;
  } catch (error) {
    if (!isConsentryError(error)) throw error;
    return error;
  }
}

/** A refusal's issues: its own, or its message as one issue on no field in particular. */
export function issuesOfRefusal(refusal: ConsentryError): FieldIssue[] {
  return refusal.issues.length > 0 ? [...refusal.issues] : [{ path: '', message: refusal.message }];
}

/** Issues as one line of a problem's detail: `path: message` each (`(root)` for the value itself), `; ` between. */
export function describeIssues(issues: readonly FieldIssue[]): string {
  return issues.map((issue) => `${issue.path || '(root)'}: ${issue.message}`).join('; ');
}

/**
 * A refusal of the one field, path parameter or setting at fault, its message worded as every
 * refusal of a field is (`path: message`), so that a problem's `detail` and `errors` say the same.
 */
export function refusedField(code: ErrorCode, path: string, message: string): ConsentryError {
  const issues = [{ path, message }];
  return new ConsentryError(code, describeIssues(issues), issues);
}

/** `first`, then the issues of `more` on fields `first` does not name already: one entry per bad field. */
export function withUnnamedFields(first: readonly FieldIssue[], more: readonly FieldIssue[]): FieldIssue[] {
  const named = new Set(first.map((issue) => issue.path));
  return [...first, ...more.filter((issue) => !named.has(issue.path))];
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
