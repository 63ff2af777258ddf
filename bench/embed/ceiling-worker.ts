// One bare onnxruntime-node session for the embed benchmark's ceiling. Token batches arrive
// ahead of time under a key and are turned into tensors then (untimed); each 'run' message names
// one prebuilt batch, so the timed part is session.run() and a message, nothing else.
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';

export interface CeilingWorkerData {
  readonly onnxFile: string;
  readonly threads: number;
}

/** A batch as token rows: row i is flat[offsets[i] .. offsets[i+1]). */
export interface CeilingBatch {
  readonly flat: Int32Array;
  readonly offsets: Int32Array;
}

export type CeilingMessage = { type: 'load'; key: string; batches: CeilingBatch[] } | { type: 'run'; key: string; index: number };

function tensors(b: CeilingBatch): Record<string, ort.Tensor> {
  const n = b.offsets.length - 1;
  let width = 0;
  for (let i = 0; i < n; i++) width = Math.max(width, b.offsets[i + 1]! - b.offsets[i]!);
  const ids = new BigInt64Array(n * width);
  const mask = new BigInt64Array(n * width);
  for (let i = 0; i < n; i++) {
    const start = b.offsets[i]!;
    for (let j = start; j < b.offsets[i + 1]!; j++) {
      ids[i * width + j - start] = BigInt(b.flat[j]!);
      mask[i * width + j - start] = 1n;
    }
  }
  const dims = [n, width];
  return { input_ids: new ort.Tensor('int64', ids, dims), attention_mask: new ort.Tensor('int64', mask, dims), token_type_ids: new ort.Tensor('int64', new BigInt64Array(n * width), dims) };
}

const port = parentPort!;
const data = workerData as CeilingWorkerData;
const session = await ort.InferenceSession.create(data.onnxFile, { intraOpNumThreads: data.threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' });
const loaded = new Map<string, Record<string, ort.Tensor>[]>();
port.on('message', async (m: CeilingMessage) => {
  if (m.type === 'load') {
    const feeds = m.batches.map(tensors);
    loaded.set(m.key, feeds);
    if (feeds[0]) await session.run(feeds[0]); // warm this shape up, untimed
    port.postMessage({ type: 'loaded' });
  } else {
    await session.run(loaded.get(m.key)![m.index]!);
    port.postMessage({ type: 'done' });
  }
});
port.postMessage({ type: 'ready' });
