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
