import { codecs as avroCodecs, type Codec, type Codecs } from '../avro/codec.js';
import type { CrawledDocument, DeadLetter, Decision } from '../../records/item.js';
import { centroidSnapshotFromJson, centroidSnapshotToJson, type CentroidSnapshotJson } from '../../stages/centroids/centroid-store.js';
import { embeddingToLine, lineToEmbedding } from './embeddings-file.js';
import { deadLetterJson } from './sink.js';

/** A codec of one line of text (no newline); a line that does not read back is a decode error, never a throw. */
function lineCodec<T>(toLine: (value: T) => string, fromLine: (line: string) => T): Codec<T> {
  return {
    encode: (value) => Buffer.from(toLine(value)),
    decode: (bytes) => {
      try {
        return { value: fromLine(bytes.toString('utf8')) };
      } catch (e) {
        return { error: (e as Error).message, reason: 'malformed-json' };
      }
    },
    prepare: () => undefined,
  };
}

/** A codec of one JSON line: `toJson` gives what JSON.stringify writes, `fromJson` reads the parsed line back. */
const jsonCodec = <T>(toJson: (value: T) => unknown, fromJson: (parsed: unknown) => T): Codec<T> =>
  lineCodec((v) => JSON.stringify(toJson(v)), (line) => fromJson(JSON.parse(line)));

const plain = <T>(): Codec<T> => jsonCodec<T>((v) => v, (p) => p as T);

/**
 * The codecs of file mode (same interface as the Avro ones, so the Task writes a file's records
 * the way it writes topics): each record is one JSON line, as `d4 curate` writes decisions.jsonl,
 * kept.jsonl and dead-letter.jsonl (a dead letter's raw bytes as base64, plus a readable preview),
 * the embeddings file and the centroid files. Documents handed between sub-topologies
 * (embeddedDocument) stay Avro: they are internal records, and a file is one partition, so
 * nothing is forwarded.
 */
export function jsonCodecs(): Codecs {
  return {
    document: plain<CrawledDocument>(),
    decision: plain<Decision>(),
    deadLetter: jsonCodec<DeadLetter>(deadLetterJson, (p) => {
      const { raw, raw_preview: _preview, ...rest } = p as Record<string, unknown>;
      return { ...rest, raw: Buffer.from(String(raw ?? ''), 'base64') } as unknown as DeadLetter;
    }),
    embedding: lineCodec(embeddingToLine, lineToEmbedding),
    centroids: jsonCodec(centroidSnapshotToJson, (p) => centroidSnapshotFromJson(p as CentroidSnapshotJson)),
    embeddedDocument: avroCodecs().embeddedDocument,
  };
}
