/**
 * The prototype stage's keep rule over the whole stream, as a pure function of cumulative counts,
 * so that it can be evaluated by any task that reads the counts published with a centroid version
 * (several tasks deciding partitions of one stream), not only by the one that owns the counts.
 *
 * R_proto so far is R · seen / live (what the upstream stages let through sets how much of it this
 * stage may keep); a deficit (R · seen − kept, positive when too few were kept so far) is paid back
 * over the next `horizon` live documents. A document is kept when its level is at or above the
 * (1 − p) quantile of the levels seen, so its fate depends on the published state and its own
 * level only, never on which batch or task it came in. `batch` quota (the default) is the special
 * case of one task that ranks its own batch instead.
 */
export interface QuotaCounts {
  /** Documents that reached the stage, dropped upstream or not. */
  readonly seen: number;
  /** Of those, the live ones. */
  readonly live: number;
  readonly kept: number;
}

/** The fraction p of the next live documents to keep so that kept / seen tracks `targetRatio`. */
export function streamKeepFraction(targetRatio: number, before: QuotaCounts, upcoming: { readonly seen: number; readonly live: number }, horizon = upcoming.live): number {
  const seen = before.seen + upcoming.seen;
  const live = before.live + upcoming.live;
  if (!(live > 0)) return 1;
  const rate = (targetRatio * seen) / live;
  const deficit = targetRatio * before.seen - before.kept;
  const p = rate + (horizon > 0 ? deficit / horizon : 0);
  return Math.min(1, Math.max(0, p));
}
