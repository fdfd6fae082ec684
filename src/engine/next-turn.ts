import { setImmediate } from 'node:timers';

/**
 * Resolves on the next turn of the event loop, after pending I/O: long work split into
 * transactions awaits it between them, so a server's other requests are served meanwhile.
 */
export const nextTurn = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve));
