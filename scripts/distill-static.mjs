// Distils a static embedding model from a BERT-family sentence encoder, the way model2vec 0.10's
// distill() does it, with onnxruntime-node instead of torch, and writes it in model2vec's on-disk
// layout (model.safetensors with "embeddings", tokenizer.json, config.json) so that model2vec and
// semhash load the very same directory. Imported by scripts/setup-model.mjs; see docs/model.md.
//
// 1. Vocabulary: the teacher tokenizer's tokens in id order, minus those matching
//    token_remove_pattern ([unused0] … [unused993] in a BERT vocabulary); ids renumbered densely.
// 2. Each remaining token goes through the teacher alone, as [CLS] token [SEP] (the teacher's ids),
//    and its three output vectors are averaged (model2vec's default "mean" pooling).
// 3. PCA to pca_dims dimensions: covariance of the centred vectors, eigenvectors by the cyclic
//    Jacobi method (float64), the largest first, each component's sign fixed so that its largest
//    score is positive (as model2vec's _pca_fit_transform does).
// 4. Row r (0-based, in vocabulary order) scaled by the SIF weight a / (a + p_r), where
//    p_r ∝ 1 / (r + 2) (Zipf's law over the vocabulary order) and a = sif_coefficient: frequent
//    tokens ("the", ",") count little in the mean, rare ones much.
import { availableParallelism } from 'node:os';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** @returns {Promise<{files: string[], dimension: number, vocabulary: number, removed: number, explainedVarianceRatio: number, ortVersion: string, seconds: number}>} */
export async function distillStatic({ teacherDir, outDir, params, log = () => {} }) {
  const t0 = Date.now();
  const ort = await import('onnxruntime-node');
  const tokenizer = JSON.parse(await readFile(path.join(teacherDir, 'tokenizer.json'), 'utf8'));
  if (tokenizer.model?.type !== 'WordPiece') throw new Error(`distill: only WordPiece tokenizers are supported, got ${tokenizer.model?.type}`);
  const vocab = tokenizer.model.vocab;
  const byId = Object.entries(vocab).sort((a, b) => a[1] - b[1]);
  const remove = new RegExp(params.token_remove_pattern);
  const kept = byId.filter(([token]) => !remove.test(token));
  const removed = byId.length - kept.length;
  const idOf = (token) => {
    const id = vocab[token];
    if (id === undefined) throw new Error(`distill: the teacher vocabulary has no ${token}`);
    return id;
  };
  const cls = idOf('[CLS]');
  const sep = idOf('[SEP]');
  log(`vocabulary: ${kept.length} tokens (${removed} removed by ${params.token_remove_pattern})`);

  // 2. Teacher vectors, mean of the three positions.
  const session = await ort.InferenceSession.create(path.join(teacherDir, 'onnx', 'model.onnx'), {
    intraOpNumThreads: availableParallelism(), interOpNumThreads: 1, graphOptimizationLevel: 'all',
  });
  const n = kept.length;
  let dim = 0;
  let X; // Float64Array n × dim
  const BATCH = 512;
  for (let start = 0; start < n; start += BATCH) {
    const rows = kept.slice(start, start + BATCH);
    const b = rows.length;
    const ids = new BigInt64Array(b * 3);
    rows.forEach(([, id], i) => { ids[3 * i] = BigInt(cls); ids[3 * i + 1] = BigInt(id); ids[3 * i + 2] = BigInt(sep); });
    const feeds = {
      input_ids: new ort.Tensor('int64', ids, [b, 3]),
      attention_mask: new ort.Tensor('int64', new BigInt64Array(b * 3).fill(1n), [b, 3]),
    };
    if (session.inputNames.includes('token_type_ids')) feeds.token_type_ids = new ort.Tensor('int64', new BigInt64Array(b * 3), [b, 3]);
    const out = (await session.run(feeds)).last_hidden_state;
    if (!out) throw new Error('distill: the teacher has no last_hidden_state output');
    const d = out.dims[2];
    if (!X) {
      dim = d;
      X = new Float64Array(n * dim);
    }
    const h = out.data;
    for (let i = 0; i < b; i++) {
      const row = (start + i) * dim;
      for (let k = 0; k < dim; k++) X[row + k] = (h[(3 * i) * dim + k] + h[(3 * i + 1) * dim + k] + h[(3 * i + 2) * dim + k]) / 3;
    }
  }
  await session.release();
  log(`teacher vectors: ${n} × ${dim} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  // 3. PCA.
  const k = Math.min(params.pca_dims, dim);
  const mean = new Float64Array(dim);
  for (let i = 0; i < n; i++) for (let j = 0; j < dim; j++) mean[j] += X[i * dim + j];
  for (let j = 0; j < dim; j++) mean[j] /= n;
  for (let i = 0; i < n; i++) for (let j = 0; j < dim; j++) X[i * dim + j] -= mean[j];
  const cov = new Float64Array(dim * dim);
  for (let i = 0; i < n; i++) {
    const r = i * dim;
    for (let a = 0; a < dim; a++) {
      const xa = X[r + a];
      const base = a * dim;
      for (let c = a; c < dim; c++) cov[base + c] += xa * X[r + c];
    }
  }
  for (let a = 0; a < dim; a++) {
    for (let c = a; c < dim; c++) {
      cov[a * dim + c] /= n - 1;
      cov[c * dim + a] = cov[a * dim + c];
    }
  }
  const { values, vectors } = jacobiEigen(cov.slice(), dim);
  const order = [...values.keys()].sort((a, b) => values[b] - values[a]);
  const total = values.reduce((s, v) => s + Math.max(0, v), 0);
  const explained = order.slice(0, k).reduce((s, i) => s + Math.max(0, values[i]), 0) / total;
  checkEigenpairs(cov, dim, values, vectors, order.slice(0, 8));
  const scores = new Float64Array(n * k);
  for (let c = 0; c < k; c++) {
    const e = order[c];
    let best = 0;
    let bestAbs = -1;
    for (let i = 0; i < n; i++) {
      let s = 0;
      const r = i * dim;
      for (let j = 0; j < dim; j++) s += X[r + j] * vectors[j * dim + e];
      scores[i * k + c] = s;
      if (Math.abs(s) > bestAbs) {
        bestAbs = Math.abs(s);
        best = s;
      }
    }
    if (best < 0) for (let i = 0; i < n; i++) scores[i * k + c] = -scores[i * k + c];
  }
  log(`PCA: ${dim} → ${k} dimensions, explained variance ratio ${explained.toFixed(3)}`);

  // 4. SIF weights from Zipf's law over the vocabulary order.
  let z = 0;
  for (let r = 0; r < n; r++) z += 1 / (r + 2);
  const embeddings = new Float32Array(n * k);
  for (let r = 0; r < n; r++) {
    const p = 1 / (r + 2) / z;
    const w = params.sif_coefficient / (params.sif_coefficient + p);
    for (let c = 0; c < k; c++) embeddings[r * k + c] = scores[r * k + c] * w;
  }

  // The student's tokenizer: the teacher's with the vocabulary renumbered, and no post-processor
  // ([CLS]/[SEP]: a static model adds no special tokens), padding or truncation (model2vec and d4
  // truncate themselves).
  const newId = new Map(kept.map(([token], i) => [token, i]));
  const student = {
    ...tokenizer,
    truncation: null,
    padding: null,
    added_tokens: (tokenizer.added_tokens ?? []).filter((t) => newId.has(t.content)).map((t) => ({ ...t, id: newId.get(t.content) })),
    post_processor: null,
    model: { ...tokenizer.model, vocab: Object.fromEntries(kept.map(([token], i) => [token, i])) },
  };
  const config = {
    model_type: 'model2vec',
    architectures: ['StaticModel'],
    tokenizer_name: params.teacher_name ?? path.basename(teacherDir),
    apply_pca: params.pca_dims,
    sif_coefficient: params.sif_coefficient,
    hidden_dim: k,
    seq_length: 1000000,
    normalize: true,
    pooling: params.pooling,
    max_length: params.max_length,
    embedding_dtype: 'float32',
  };
  await writeFile(path.join(outDir, 'model.safetensors'), safetensors({ embeddings: { dtype: 'F32', shape: [n, k], data: embeddings } }));
  await writeFile(path.join(outDir, 'tokenizer.json'), JSON.stringify(student));
  await writeFile(path.join(outDir, 'config.json'), `${JSON.stringify(config, null, 4)}\n`);
  return {
    files: ['config.json', 'model.safetensors', 'tokenizer.json'],
    dimension: k, vocabulary: n, removed, explainedVarianceRatio: Number(explained.toFixed(4)),
    ortVersion: ort.env.versions?.common ?? 'unknown', seconds: (Date.now() - t0) / 1000,
  };
}

/**
 * Eigen-decomposition of a symmetric matrix (row-major, overwritten) by cyclic Jacobi rotations.
 * Returns the eigenvalues and the eigenvectors as the columns of `vectors` (row-major n × n).
 */
export function jacobiEigen(A, n) {
  const V = new Float64Array(n * n);
  for (let i = 0; i < n; i++) V[i * n + i] = 1;
  let diag = 0;
  for (let i = 0; i < n; i++) diag += A[i * n + i] * A[i * n + i];
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += A[p * n + q] * A[p * n + q];
    if (off <= 1e-24 * diag) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = A[p * n + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (A[q * n + q] - A[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        // A ← Jᵀ A J with J the rotation in the (p, q) plane: columns, then rows.
        for (let k = 0; k < n; k++) {
          const akp = A[k * n + p];
          const akq = A[k * n + q];
          A[k * n + p] = c * akp - s * akq;
          A[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = A[p * n + k];
          const aqk = A[q * n + k];
          A[p * n + k] = c * apk - s * aqk;
          A[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = V[k * n + p];
          const vkq = V[k * n + q];
          V[k * n + p] = c * vkp - s * vkq;
          V[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  return { values: Array.from({ length: n }, (_, i) => A[i * n + i]), vectors: V };
}

/** Fails unless cov · v = λ v for the given eigenpairs (a wrong rotation would pass silently otherwise). */
function checkEigenpairs(cov, n, values, V, which) {
  for (const e of which) {
    let res = 0;
    let norm = 0;
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += cov[i * n + j] * V[j * n + e];
      res += (s - values[e] * V[i * n + e]) ** 2;
      norm += V[i * n + e] ** 2;
    }
    if (Math.sqrt(res) > 1e-6 * Math.abs(values[e]) + 1e-12 || Math.abs(norm - 1) > 1e-9) {
      throw new Error(`distill: eigenpair ${e} does not check (residual ${Math.sqrt(res)}, λ ${values[e]})`);
    }
  }
}

/** The safetensors format: u64 LE header length, JSON header (padded with spaces to 8 bytes), raw little-endian data. */
function safetensors(tensors) {
  const header = {};
  const parts = [];
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const bytes = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes.length] };
    parts.push(bytes);
    offset += bytes.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  return Buffer.concat([len, Buffer.from(json), ...parts]);
}
