import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { dirname } from 'node:path';
import type { DeadLetter } from '../../records/item.js';

const NEWLINE = Buffer.from('\n');

/** Appends JSON lines to a file, honouring the stream's backpressure. */
export class JsonlWriter {
  private readonly out: WriteStream;
  count = 0;

  constructor(readonly path: string, options: { append?: boolean } = {}) {
    mkdirSync(dirname(path), { recursive: true });
    this.out = createWriteStream(path, { flags: options.append ? 'a' : 'w' });
  }

  async writeAll(values: readonly unknown[]): Promise<void> {
    await this.writeLines(values.map((v) => Buffer.from(JSON.stringify(v))));
  }

  /** Appends lines already encoded (one JSON value each, no newline). */
  async writeLines(lines: readonly Buffer[]): Promise<void> {
    if (lines.length === 0) return;
    const parts: Buffer[] = [];
    for (const l of lines) parts.push(l, NEWLINE);
    this.count += lines.length;
    if (!this.out.write(Buffer.concat(parts))) await once(this.out, 'drain');
  }

  async close(): Promise<void> {
    this.out.end();
    await once(this.out, 'finish');
  }
}

/** A dead letter as one JSON line: the raw bytes as base64 plus a readable preview. */
export function deadLetterJson(d: DeadLetter): Record<string, unknown> {
  return { ...d, raw: d.raw.toString('base64'), raw_preview: d.raw.subarray(0, 200).toString('utf8') };
}
