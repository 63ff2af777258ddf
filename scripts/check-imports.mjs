#!/usr/bin/env node
// Dependencies point downward only: stages/, state/, records/, batch/ and feed/ never import an I/O
// library (kafkajs, avsc, fs, transformers.js, hnswlib-node, onnxruntime); those live in io/.
// A stage gets what it needs through its `deps` argument. Test files are exempt (they read
// shared data from disk).
import { readdirSync, readFileSync } from 'node:fs';
import { join, dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pure = ['stages', 'state', 'records', 'batch', 'feed'].map((d) => join(root, 'src', d));
const forbidden = /from\s+['"](kafkajs|avsc|hnswlib-node|onnxruntime-node|@huggingface\/transformers|node:fs|fs|node:fs\/promises|fs\/promises|node:net|node:http)['"]|import\(\s*['"](kafkajs|avsc|hnswlib-node|onnxruntime-node|@huggingface\/transformers|node:fs|fs)['"]/;
const bad = [];
for (const dir of pure) {
  let entries;
  try { entries = readdirSync(dir, { recursive: true }); } catch { continue; }
  for (const f of entries) {
    if (!String(f).endsWith('.ts') || String(f).endsWith('.test.ts')) continue;
    const path = join(dir, String(f));
    readFileSync(path, 'utf8').split('\n').forEach((line, i) => {
      if (forbidden.test(line)) bad.push(`${relative(root, path)}:${i + 1}: ${line.trim()}`);
    });
  }
}
if (bad.length) {
  console.error(`I/O imported outside src/io (pass it in through the stage's deps instead):\n${bad.join('\n')}`);
  process.exit(1);
}
console.log(`no I/O imports in ${pure.map((d) => relative(root, d)).join(', ')}`);
