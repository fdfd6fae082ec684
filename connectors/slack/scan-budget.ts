/**
 * A token bucket on the injected clock's time: `burst` tokens at most, refilled at `perSecond`.
 * The Slack receiver spends one per full scan (every workspace's signing secret tried on a request
 * no known origin verified), so what unauthenticated requests can make the server compute stays
 * bounded however many workspaces there are.
 */
export class ScanBudget {
  private tokens: number;
  private updatedAtMs: number | null = null;

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
  ) {
    if (!(perSecond > 0) || !(burst >= 1)) throw new RangeError('a scan budget needs a positive rate and a burst of at least 1');
    this.tokens = burst;
  }

  /** Spends a token when one is left; otherwise says how many whole seconds until the next one. */
  take(nowMs: number): { ok: true } | { ok: false; retryAfterSeconds: number } {
    this.refill(nowMs);
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - this.tokens) / this.perSecond)) };
  }

  private refill(nowMs: number): void {
    if (this.updatedAtMs !== null && nowMs > this.updatedAtMs) {
      this.tokens = Math.min(this.burst, this.tokens + ((nowMs - this.updatedAtMs) / 1000) * this.perSecond);
    }
    if (this.updatedAtMs === null || nowMs > this.updatedAtMs) this.updatedAtMs = nowMs;
  }
}
