// One embedding worker thread: opens the model given in workerData, then answers tokenize and
// infer requests one at a time (onnxruntime-node's run() blocks this thread while it computes,
// which is the point: the main thread's event loop, and the Kafka consumer's heartbeats, stay free).
import { parentPort, workerData } from 'node:worker_threads';
import { EmbedderError } from '../../stages/embed/types.js';
import { openModel, type ModelSpec, type WorkerReply } from './embedder.js';

if (!parentPort) throw new Error('embed-worker.js runs as a worker thread (see createEmbedder)');
const port = parentPort;
const post = (m: WorkerReply, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);

type Request = { id: number; op: 'tokenize'; texts: string[] } | { id: number; op: 'infer'; flat: Int32Array; offsets: Int32Array };

try {
  const model = await openModel(workerData as ModelSpec);
  // Requests are handled strictly one after another: two concurrent runs on one session would
  // only fight over the same intra-op threads.
  let chain: Promise<void> = Promise.resolve();
  port.on('message', (req: Request) => {
    chain = chain.then(async () => {
      try {
        if (req.op === 'tokenize') {
          const block = model.tokenize(req.texts);
          post({ type: 'result', id: req.id, value: block }, [block.flat.buffer as ArrayBuffer, block.offsets.buffer as ArrayBuffer]);
        } else {
          const values = await model.infer(req.flat, req.offsets);
          post({ type: 'result', id: req.id, value: values }, [values.buffer as ArrayBuffer]);
        }
      } catch (e) {
        post({ type: 'error', id: req.id, message: e instanceof Error ? e.message : String(e) });
      }
    });
  });
  post({ type: 'ready', info: model.info });
} catch (e) {
  post({ type: 'failed', message: e instanceof Error ? e.message : String(e), retriable: e instanceof EmbedderError ? e.retriable : true });
}
