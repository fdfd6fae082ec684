import { z } from 'zod';

/** The error a promise rejects with (fails the test when it resolves). */
export async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof Error) return error;
    throw new Error(`rejected with a non-Error: ${String(error)}`);
  }
  throw new Error('expected a rejection, got a result');
}

const JsonMessageSchema = z.object({
  message: z.string(),
  code: z.string().optional(),
  status: z.number().optional(),
  delay: z.number().nullable().optional(),
});

/**
 * z.errors.Error and ThrottledError carry a JSON message (`{ message, code, status }` /
 * `{ message, delay }`, zapier-platform-core's errors.js); this reads it back.
 */
export function errorDetails(error: Error): { name: string; message: string; code?: string; status?: number; delay?: number | null } {
  let json: unknown = null;
  try {
    json = JSON.parse(error.message);
  } catch {
    // a plain message (ExpiredAuthError, HaltedError)
  }
  const parsed = JsonMessageSchema.safeParse(json);
  return parsed.success ? { name: error.name, ...parsed.data } : { name: error.name, message: error.message };
}

/** A trigger's operation functions by name (Zapier types it as a union of operation kinds). */
export function operationOf(trigger: { operation: object }): Record<string, unknown> {
  return { ...trigger.operation };
}

export const CONTACT_ID = '01JQ7ZK4C2V9N8M3T5R6W1XYZA';

/** A contact as `GET /v1/contacts/{id}` answers it, with `overrides` applied. */
export function contactJson(overrides: Record<string, unknown> = {}) {
  return {
    id: CONTACT_ID,
    name: 'Ana Test',
    email: 'ana.test@example.com',
    phone: '+34600000001',
    identities: [],
    fields: {},
    tags: [],
    hubspotId: null,
    createdAt: '2026-03-01T09:00:00.000Z',
    updatedAt: '2026-03-01T09:00:00.000Z',
    erasedAt: null,
    ...overrides,
  };
}

/**
 * An erased contact as `GET /v1/contacts/{id}` answers it: 200, `erasedAt` set, no name, email,
 * phone, fields or tags, its identities kept as markers (the server's eraseContactData).
 */
export function erasedContactJson(overrides: Record<string, unknown> = {}) {
  return contactJson({
    name: null,
    email: null,
    phone: null,
    identities: [{ channel: 'whatsapp', externalId: `erased:${CONTACT_ID}:1` }],
    tags: [],
    updatedAt: '2026-03-02T10:00:00.000Z',
    erasedAt: '2026-03-02T10:00:00.000Z',
    ...overrides,
  });
}

/**
 * A call to the Consentry server a test runs on 127.0.0.1, with the test's API key, as a Zap's
 * user would make it by hand (to set up what a step then meets, or to check what it did); a
 * refusal fails the test with the server's answer.
 */
export async function serverApi(serverUrl: string, key: string, path: string, init: { method?: string; body?: unknown } = {}): Promise<unknown> {
  const response = await fetch(`${serverUrl}${path}`, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
  if (!response.ok) throw new Error(`${init.method ?? 'GET'} ${path} answered ${response.status}: ${await response.text()}`);
  return response.json();
}
