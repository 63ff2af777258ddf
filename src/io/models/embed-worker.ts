// One embedding worker thread: opens the model given in workerData, then answers tokenize and
// infer requests (a static model: embed requests) one at a time (onnxruntime-node's run() blocks this thread while it computes,
// which is the point: the main thread's event loop, and the Kafka consumer's heartbeats, stay free).
import { parentPort, workerData } from 'node:worker_threads';
import { EmbedderError } from '../../stages/embed/types.js';
import { openModel, type ModelSpec, type StaticBlock, type WorkerReply, type WorkerSpec } from './embedder.js';
import { openStaticModel } from './static-embedder.js';

if (!parentPort) throw new Error('embed-worker.js runs as a worker thread (see createEmbedder)');
const port = parentPort;
const post = (m: WorkerReply, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);

type Request = { id: number; op: 'tokenize'; texts: string[] } | { id: number; op: 'infer'; flat: Int32Array; offsets: Int32Array } | { id: number; op: 'embed'; texts: string[] };

const spec = workerData as WorkerSpec;

async function serveStatic(s: Extract<WorkerSpec, { kind: 'static' }>): Promise<void> {
  const model = await openStaticModel(s);
  port.on('message', (req: Request) => {
    try {
      if (req.op !== 'embed') throw new Error(`a static model answers embed requests only, not ${req.op}`);
      const results = model.embed(req.texts);
      const block: StaticBlock = {
        values: new Float32Array(results.length * model.dim), tokens: new Int32Array(results.length), flags: new Uint8Array(results.length),
        errors: results.map((r) => r.error ?? null),
      };
      results.forEach((r, i) => {
        if (r.values.length > 0) block.values.set(r.values, i * model.dim);
        block.tokens[i] = r.tokens;
        block.flags[i] = (r.truncated ? 1 : 0) | (r.empty ? 2 : 0);
      });
      post({ type: 'result', id: req.id, value: block }, [block.values.buffer as ArrayBuffer, block.tokens.buffer as ArrayBuffer, block.flags.buffer as ArrayBuffer]);
    } catch (e) {
      post({ type: 'error', id: req.id, message: e instanceof Error ? e.message : String(e) });
    }
  });
  post({ type: 'ready', info: { dim: model.dim, pooling: 'mean', dtype: 'fp32', device: 'cpu', maxTokens: model.maxTokens, inputNames: [] } });
}

async function serveTransformer(s: ModelSpec): Promise<void> {
  const model = await openModel(s);
  // Requests are handled strictly one after another: two concurrent runs on one session would
  // only fight over the same intra-op threads.
  let chain: Promise<void> = Promise.resolve();
  port.on('message', (req: Request) => {
    chain = chain.then(async () => {
      try {
        if (req.op === 'tokenize') {
          const block = model.tokenize(req.texts);
          post({ type: 'result', id: req.id, value: block }, [block.flat.buffer as ArrayBuffer, block.offsets.buffer as ArrayBuffer]);
        } else if (req.op === 'infer') {
          const values = await model.infer(req.flat, req.offsets);
          post({ type: 'result', id: req.id, value: values }, [values.buffer as ArrayBuffer]);
        } else {
          throw new Error(`a transformer worker answers tokenize and infer, not ${req.op}`);
        }
      } catch (e) {
        post({ type: 'error', id: req.id, message: e instanceof Error ? e.message : String(e) });
      }
    });
  });
  post({ type: 'ready', info: model.info });
}

try {
  if ('kind' in spec && spec.kind === 'static') await serveStatic(spec);
  else await serveTransformer(spec as ModelSpec);
} catch (e) {
  post({ type: 'failed', message: e instanceof Error ? e.message : String(e), retriable: e instanceof EmbedderError ? e.retriable : true });
}
