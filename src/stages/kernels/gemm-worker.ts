/**
 * A worker thread of the selection kernels' pool (parallel.ts): it waits for a job, takes chunks
 * while there are any, and computes them with its own instance of the dot-product kernel on the
 * job's memory. The memories arrive on its port (synchronously read: the thread never returns to
 * its event loop).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import { sharedDotModule } from './dot-simd.js';
import { instantiate, type WasmMemory } from './wasm-asm.js';
import { claim, CTRL, runChunk, type GemmFn } from './parallel.js';

const { ctrl: buffer, port } = workerData as { ctrl: SharedArrayBuffer; port: MessagePort };
const ctrl = new Int32Array(buffer);
const module = sharedDotModule();
if (!module) throw new Error('the selection kernel pool needs WebAssembly SIMD');
const kernels = new Map<number, { gemm: GemmFn; gemm16: GemmFn; memory: WasmMemory }>();

// This thread allocates almost nothing, so its heap is rarely collected, and the memories it has
// let go (dropped kernels) would stay mapped until it is: it collects itself once they add up.
setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;
const COLLECT_BYTES = 64 << 20;
let droppedBytes = 0;

function drain(): void {
  for (let m; (m = receiveMessageOnPort(port));) {
    const msg = m.message as { id: number; memory: WasmMemory } | { drop: number };
    if ('drop' in msg) {
      droppedBytes += kernels.get(msg.drop)?.memory.buffer.byteLength ?? 0;
      kernels.delete(msg.drop);
    } else {
      const e = instantiate(module!, msg.memory) as unknown as { gemm: GemmFn; gemm16: GemmFn };
      kernels.set(msg.id, { gemm: e.gemm, gemm16: e.gemm16, memory: msg.memory });
    }
  }
  if (droppedBytes > COLLECT_BYTES) {
    droppedBytes = 0;
    collect();
  }
}

/** The kernel on memory `id`: posted before any job names it, so it is on the port by now. */
function kernel(id: number): { gemm: GemmFn; gemm16: GemmFn; memory: WasmMemory } {
  for (;;) {
    drain();
    const k = kernels.get(id);
    if (k) return k;
    Atomics.wait(ctrl, CTRL.sleep, 0, 1); // a millisecond
  }
}

// It sleeps between jobs: spinning for the next one (wake-ups cost ~0.1 ms) measured slower on
// 2 cores, where the spin takes the core the calling thread needs between products.
let gen = Atomics.load(ctrl, CTRL.gen);
for (;;) {
  Atomics.wait(ctrl, CTRL.gen, gen);
  gen = Atomics.load(ctrl, CTRL.gen);
  for (let c; (c = claim(ctrl)) >= 0;) {
    const k = kernel(ctrl[CTRL.id]!);
    runChunk(ctrl, ctrl[CTRL.int16] === 1 ? k.gemm16 : k.gemm, c, () => new Int32Array(k.memory.buffer));
    Atomics.add(ctrl, CTRL.byWorkers, 1);
    Atomics.add(ctrl, CTRL.done, 1);
    Atomics.notify(ctrl, CTRL.done);
  }
}
