export interface NormalizeOptions {
  /** Lower-case before comparing (off by default: "Apple" and "apple" pages are often different). */
  readonly caseFold: boolean;
}

const WHITESPACE = /\s+/gu;

/**
 * The one text normalisation every de-duplication stage shares, so that `exact` and `near`
 * agree on what "the same text" means: Unicode NFC (composed and decomposed accents compare
 * equal), runs of any whitespace collapsed to one space, trimmed, optionally case-folded.
 */
export function normalizeText(text: string, options: NormalizeOptions): string {
  const s = text.normalize('NFC').replace(WHITESPACE, ' ').trim();
  return options.caseFold ? s.toLowerCase() : s;
}
