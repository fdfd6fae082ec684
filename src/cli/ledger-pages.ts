import type { UnreadableRecord } from '../engine/ledger-pages.js';

/** Counts the records a command could not read, and keeps the first, for its one stderr line. */
export class UnreadableTally {
  count = 0;
  private first: UnreadableRecord | null = null;

  add(unreadable: UnreadableRecord): void {
    this.count++;
    this.first ??= unreadable;
  }

  /** `shownAs`: how the command shows such a record ("exported as a row"). */
  warning(shownAs: string): string | null {
    if (this.first === null) return null;
    const count = this.count === 1 ? '1 record cannot be read and is' : `${this.count} records cannot be read and are`;
    return `warning: ${count} ${shownAs} with status "unreadable": ${this.first.reason}${this.count > 1 ? ' (the first of them)' : ''}`;
  }
}
