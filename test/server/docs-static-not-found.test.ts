import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { buildApp } from '../../src/server/app.js';
import { createMemoryStore } from '../../src/store/memory.js';

/**
 * The API docs' static files answer a missing or refused file as 404 NOT_FOUND, the code the
 * README's table gives for a path that names nothing; 405 stays for a method a path does not take.
 */
const ProblemBody = z.object({ status: z.number(), code: z.string(), detail: z.string() });

let close: (() => Promise<void>) | null = null;
afterEach(async () => {
  await close?.();
  close = null;
});

async function ask(method: 'GET' | 'DELETE', url: string) {
  const app = await buildApp({ store: createMemoryStore() });
  close = () => app.close();
  const response = await app.inject({ method, url });
  return { status: response.statusCode, allow: response.headers.allow, body: ProblemBody.parse(response.json()) };
}

describe('paths that name nothing under the API docs', () => {
  it('answers a missing static file 404 NOT_FOUND, without Allow', async () => {
    const answer = await ask('GET', '/docs/static/no-such-file.js');
    expect(answer).toMatchObject({ status: 404, allow: undefined, body: { status: 404, code: 'NOT_FOUND' } });
  });

  it('answers a path the static file server refuses to read 404 NOT_FOUND', async () => {
    const answer = await ask('GET', '/docs/static/a%00b');
    expect(answer).toMatchObject({ status: 404, body: { status: 404, code: 'NOT_FOUND' } });
  });

  it('still answers a method the path does not take 405 with Allow', async () => {
    const answer = await ask('DELETE', '/docs/static/no-such-file.js');
    expect(answer.status).toBe(405);
    expect(answer.body.code).toBe('METHOD_NOT_ALLOWED');
    expect(answer.allow).toContain('GET');
  });
});
