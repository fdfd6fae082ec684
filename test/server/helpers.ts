import { afterEach, beforeEach } from 'vitest';
import { z } from 'zod';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { createEngine, type Engine } from '../../src/engine.js';
import { FakeClock } from '../../src/ports/clock.js';
import type { Store } from '../../src/ports/store.js';
import { createApiKey, revokeApiKey } from '../../src/server/api-keys.js';
import { buildApp, type AppOptions } from '../../src/server/app.js';
import { createMemoryStore } from '../../src/store/memory.js';

export interface Tenant {
  workspaceId: string;
  key: string;
  keyId: string;
}

export interface TestApp {
  app: FastifyInstance;
  store: Store;
  engine: Engine;
  clock: FakeClock;
  tenant(name: string): Promise<Tenant>;
  /** Another API key of the tenant's workspace (another integration's, or the administrator's). */
  anotherKey(tenant: Tenant, keyName: string): Promise<Tenant>;
  revoke(keyId: string): Promise<void>;
  /** `app.inject` with the tenant's key as a bearer token. */
  as(tenant: Tenant, options: InjectOptions): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

export async function testApp(options: { store?: Store; logger?: AppOptions['logger']; allowPrivateTargets?: boolean } = {}): Promise<TestApp> {
  const store = options.store ?? createMemoryStore();
  const clock = new FakeClock('2026-03-01T09:00:00.000Z');
  const engine = createEngine({ store, clock });
  const app = await buildApp({
    store,
    engine,
    clock,
    defaultMetrics: false,
    ...(options.logger !== undefined ? { logger: options.logger } : {}),
    ...(options.allowPrivateTargets !== undefined ? { allowPrivateTargets: options.allowPrivateTargets } : {}),
  });
  return {
    app,
    store,
    engine,
    clock,
    async tenant(name) {
      const workspace = await engine.createWorkspace({ name });
      const { key, row } = await createApiKey(store, { workspaceId: workspace.id, clock });
      return { workspaceId: workspace.id, key, keyId: row.id };
    },
    async anotherKey(tenant, keyName) {
      const { key, row } = await createApiKey(store, { workspaceId: tenant.workspaceId, name: keyName, clock });
      return { workspaceId: tenant.workspaceId, key, keyId: row.id };
    },
    async revoke(keyId) {
      await revokeApiKey(store, keyId, clock);
    },
    as(tenant, injectOptions) {
      return app.inject({ ...injectOptions, headers: { authorization: `Bearer ${tenant.key}`, ...injectOptions.headers } });
    },
    close: () => app.close(),
  };
}

/** The JSON body of a response, as an object (fails the test when it is not one). */
export function body(response: LightMyRequestResponse): Record<string, unknown> {
  return z.record(z.string(), z.unknown()).parse(response.json());
}

/** A response body parsed with the given schema. */
export function parsed<S extends z.ZodType>(response: LightMyRequestResponse, schema: S): z.output<S> {
  return schema.parse(response.json());
}

const ProblemErrorsSchema = z.object({ errors: z.array(z.object({ path: z.string(), message: z.string() })) });

/** The `errors[].path` of a problem response. */
export function problemPaths(response: LightMyRequestResponse): string[] {
  return ProblemErrorsSchema.parse(response.json()).errors.map((e) => e.path);
}

export function expectProblem(response: LightMyRequestResponse, status: number, code: string): Record<string, unknown> {
  if (response.statusCode !== status) throw new Error(`expected ${status} ${code}, got ${response.statusCode}: ${response.body}`);
  const contentType = String(response.headers['content-type'] ?? '');
  if (!contentType.startsWith('application/problem+json')) throw new Error(`expected problem+json, got ${contentType}`);
  const problem = body(response);
  if (problem.code !== code || problem.status !== status) throw new Error(`expected code ${code}, got ${response.body}`);
  return problem;
}

/** What POST /v1/messages answers, as far as the message tests read it. */
export const MessageAnswerSchema = z.object({
  contactId: z.string(),
  events: z.array(z.object({ type: z.string() })),
  warnings: z.array(z.object({ path: z.string(), message: z.string() })),
});

export const ANA = { name: 'Ana Test', email: 'ana.test@example.com', phone: '+34600000001' };
export const BEN = { name: 'Ben Test', email: 'ben.test@example.com', phone: '+34600000002' };

/**
 * A fresh app for each test, with a tenant per name in `tenantNames` (default: Acme), closed after
 * the test; `use` receives the app and the tenants in that order.
 */
export function useTestApp(use: (app: TestApp, ...tenants: Tenant[]) => void, tenantNames: readonly string[] = ['Acme']): void {
  let current: TestApp | undefined;
  beforeEach(async () => {
    current = await testApp();
    const tenants: Tenant[] = [];
    for (const name of tenantNames) tenants.push(await current.tenant(name));
    use(current, ...tenants);
  });
  afterEach(async () => {
    await current?.close();
    current = undefined;
  });
}

/** The `detail` and `errors` of a problem answer. */
export const ProblemFieldsSchema = z.object({ detail: z.string(), errors: z.array(z.object({ path: z.string(), message: z.string() })) });

/** The detail and errors of a 422 problem with `code`. */
export function refusedWith(response: LightMyRequestResponse, code = 'VALIDATION_FAILED'): z.output<typeof ProblemFieldsSchema> {
  expectProblem(response, 422, code);
  return parsed(response, ProblemFieldsSchema);
}
