import { z as zod } from 'zod';

/** Hosts a plain http:// Server URL may name: the machine itself, for tests and local trials. */
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/** Path ends a user may paste with the base address: the API's own prefix and the API docs page. */
const PASTED_SUFFIX = /\/(v1|docs)$/i;

/**
 * The server's base address as requests are built from it: trailing slashes and a pasted `/v1` or
 * `/docs` left out, a path prefix (a server behind a reverse proxy) kept.
 *
 * Only https:// is accepted for a real server: Zapier reaches it over the internet, and every request
 * carries the API key and contacts' data (Zapier's publishing guidelines 3.4 and check D007 "All URLs
 * Should Be HTTPS", https://docs.zapier.com/integrations/publish/integration-checks-reference).
 */
export const ServerUrlSchema = zod
  .string({ error: 'is required' })
  .trim()
  .min(1, 'is required')
  .transform((raw, ctx) => {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      ctx.addIssue({ code: 'custom', message: "must be your Consentry server's address, such as https://consent.example.com" });
      return zod.NEVER;
    }
    const loopback = LOOPBACK_HOSTS.has(url.hostname);
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
      ctx.addIssue({
        code: 'custom',
        message:
          'must start with https:// (such as https://consent.example.com): Zapier reaches your server over the internet, and the API key and your contacts’ data must not travel unencrypted (http:// is accepted only for localhost)',
      });
      return zod.NEVER;
    }
    if (url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
      ctx.addIssue({ code: 'custom', message: "must be the server's base address, without ?query, #fragment or user name" });
      return zod.NEVER;
    }
    const path = url.pathname.replace(/\/+$/, '').replace(PASTED_SUFFIX, '').replace(/\/+$/, '');
    return `${url.protocol}//${url.host}${path}`;
  });

/**
 * A key as `consentry keys create` prints it: visible ASCII only. Spaces and line breaks pasted around
 * it are left out (the key is sent trimmed, as it is checked); one inside it is refused here, with
 * words that never repeat the key, instead of reaching Node's header check, whose TypeError quotes
 * the whole header value (RFC 9110 §5.5: a field value holds no line break).
 */
const API_KEY = /^[\x21-\x7e]+$/;

/** What the connection stores: the server's base URL and an API key (`consentry keys create`). */
export const AuthDataSchema = zod.object({
  serverUrl: ServerUrlSchema,
  apiKey: zod
    .string({ error: 'is required' })
    .trim()
    .min(1, 'is required')
    .regex(API_KEY, 'must be the key as Consentry printed it, without spaces or line breaks inside it'),
});

