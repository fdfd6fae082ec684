export * from './schema.js';
export * from './transition.js';
export * from './templates.js';
export * from './redaction.js';
export * from './shown.js';
