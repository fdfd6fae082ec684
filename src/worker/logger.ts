/** The slice of a pino (or Fastify) logger the workers use. */
export interface WorkerLogger {
  warn(details: object, message: string): void;
  error(details: object, message: string): void;
}

export const silentLogger: WorkerLogger = {
  warn: () => undefined,
  error: () => undefined,
};
