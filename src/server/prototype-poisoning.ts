import type { FieldIssue } from '../core/errors.js';

const PROTO_MESSAGE = 'a key named "__proto__" is not accepted: merged into an object, it would replace that object\'s prototype';
const CONSTRUCTOR_MESSAGE = 'a "constructor" key holding a "prototype" key is not accepted: merged into an object, it would reach that object\'s prototype';

/**
 * The key for which Fastify's JSON parser refuses a body that is otherwise valid JSON: a
 * `__proto__` key, or a `constructor` key whose value is an object with a `prototype` key,
 * at any depth (secure-json-parse with protoAction and constructorAction "error";
 * https://fastify.dev/docs/latest/Guides/Prototype-Poisoning/). Named by its path, as a field
 * is (`fields.__proto__`, `rows.0.constructor.prototype`); undefined when `text` is not JSON or
 * holds no such key. The nodes are visited breadth-first, in the parser's own order.
 */
export function prototypePoisoning(text: string): FieldIssue | undefined {
  let root: unknown;
  try {
    // The parser skips a byte order mark, as JSON.parse does not.
    root = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch {
    return undefined;
  }
  const queue: { node: unknown; path: readonly string[] }[] = [{ node: root, path: [] }];
  for (let next = 0; next < queue.length; next++) {
    const entry = queue[next];
    if (entry === undefined || typeof entry.node !== 'object' || entry.node === null) continue;
    const { node, path } = entry;
    if (Object.hasOwn(node, '__proto__')) return { path: [...path, '__proto__'].join('.'), message: PROTO_MESSAGE };
    const constructorValue: unknown = Object.hasOwn(node, 'constructor') ? Reflect.get(node, 'constructor') : undefined;
    if (typeof constructorValue === 'object' && constructorValue !== null && Object.hasOwn(constructorValue, 'prototype')) {
      return { path: [...path, 'constructor', 'prototype'].join('.'), message: CONSTRUCTOR_MESSAGE };
    }
    for (const [key, child] of Object.entries(node)) queue.push({ node: child, path: [...path, key] });
  }
  return undefined;
}
