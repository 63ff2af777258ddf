// Quality of the near-duplicate stage, with its default parameters, on real text: graded
// human-labelled plagiarism (Clough & Stevenson), generated edits of C4 documents, and MRPC
// sentence pairs that humans judged *not* paraphrases. Tables are printed into the test output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { from, lastValueFrom, toArray } from 'rxjs';
import { nearStage } from '../src/stages/near/near.js';
import { createHasher } from '../src/stages/text/hash.js';
import { origin, type Decision, type DocItem, type Item } from '../src/records/item.js';
import { WordPool, edit, prng, readJsonl, readMrpc, words, type EditKind, type TextDoc } from '../bench/near/corpus.js';
import { sharedData } from './helpers.js';

const hasher = await createHasher();

function item(d: TextDoc, seq: number): DocItem {
  return { kind: 'doc', seq, origin: origin({ line: seq + 1 }), doc: { id: d.id, url: null, fetched_at: null, content_type: null, language: null, text: d.text, metadata: {} } };
}

/** Runs documents through a `near` stage built exactly as `d4 curate --stages near` builds it. */
async function decide(docs: readonly TextDoc[], overrides: Record<string, unknown> = {}): Promise<Map<string, Decision | undefined>> {
  const stage = await nearStage.build('near', nearStage.options.parse(overrides), { hasher });
  const out = await lastValueFrom(from(docs.map(item)).pipe(stage.operator, toArray()));
  assert.equal(out.length, docs.length, 'one item out per item in');
  return new Map(out.map((i: Item) => [(i as DocItem).doc.id, (i as DocItem).drop]));
}

const pct = (a: number, b: number) => `${((100 * a) / b).toFixed(1)}%`;

test('Clough plagiarism corpus: flagged rate falls from cut to light to heavy to non; no independent answer and nothing across tasks is flagged', async () => {
  interface Answer extends TextDoc { category: 'orig' | 'cut' | 'light' | 'heavy' | 'non'; task: string }
  const all = readJsonl<Answer>(sharedData('plagiarism-clough-100.jsonl'));
  const stream = [...all.filter((d) => d.category === 'orig'), ...all.filter((d) => d.category !== 'orig')];
  assert.equal(stream.slice(0, 5).filter((d) => d.category === 'orig').length, 5, 'the 5 sources come first');
  const task = new Map(all.map((d) => [d.id, d.task]));
  const rows: string[] = [];
  for (const verify of ['estimate', 'exact'] as const) {
    const decisions = await decide(stream, { verify });
    const rates: number[] = [];
    const cells: string[] = [];
    for (const category of ['cut', 'light', 'heavy', 'non'] as const) {
      const docs = all.filter((d) => d.category === category);
      const flagged = docs.filter((d) => decisions.get(d.id) !== undefined);
      rates.push(flagged.length / docs.length);
      cells.push(`${category} ${flagged.length}/${docs.length}`);
    }
    rows.push(`  verify=${verify.padEnd(8)}  ${cells.join('   ')}`);
    for (const [id, drop] of decisions) {
      if (drop) assert.equal(task.get(drop.duplicate_of!), task.get(id), `${id} flagged against ${drop.duplicate_of}, a document of another task`);
    }
    assert.ok(rates[0]! >= rates[1]! && rates[1]! >= rates[2]! && rates[2]! >= rates[3]!, `verify=${verify}: rates ${rates.join(' ')} are not in the order cut ≥ light ≥ heavy ≥ non`);
    assert.equal(rates[3], 0, `verify=${verify}: an independently written answer was flagged`);
    assert.equal(all.filter((d) => d.category === 'orig').some((d) => decisions.get(d.id)), false, 'no source is flagged');
  }
  console.log(`Clough & Stevenson (5 sources first, then 95 answers), near defaults; flagged/total:\n${rows.join('\n')}\n`
    + '  (Most cut and light answers copy only part of a source: their 5-gram Jaccard with it is 0.1–0.5,\n'
    + '   below what near-duplicate removal should take.)');
});

test('C4 with generated edits: re-headed and lightly edited copies caught at >= 90%, 40%-edited ones at <= 10%', async () => {
  const c4 = readJsonl<TextDoc>(sharedData('web/c4-en-1k.jsonl'));
  const pool = new WordPool(c4);
  const eligible = c4.map((d, i) => [d, i] as const).filter(([d]) => words(d.text).length >= 50);
  const kinds: [EditKind, string, (rate: number) => boolean][] = [
    ['header-footer-7%', 'first and last 7% of the words replaced by text of other documents', (r) => r >= 0.9],
    ['words-2%', '2% of the words replaced by words of other documents', (r) => r >= 0.9],
    ['words-40%', '40% of the words replaced', (r) => r <= 0.1],
  ];
  const rows: string[] = [];
  for (const [kind, what, ok] of kinds) {
    const rnd = prng(20240 + kind.length);
    const copies = eligible.map(([d, i]) => ({ id: `${d.id}~${kind}`, of: d.id, text: edit(kind, words(d.text), pool, i, rnd).join(' ') }));
    // The originals first, then the copies: each copy should be dropped as a duplicate of its original.
    const decisions = await decide([...c4, ...copies]);
    const caught = copies.filter((c) => decisions.get(c.id)?.duplicate_of === c.of).length;
    const originalsFlagged = c4.filter((d) => decisions.get(d.id)).length;
    rows.push(`  ${kind.padEnd(17)} ${String(caught).padStart(4)}/${copies.length}  ${pct(caught, copies.length).padStart(6)}   ${what}`);
    assert.ok(ok(caught / copies.length), `${kind}: detection ${pct(caught, copies.length)}`);
    assert.ok(originalsFlagged <= 5, `${originalsFlagged} C4 originals flagged against each other`);
  }
  console.log(`C4 sample, ${c4.length} originals then one copy of each of the ${eligible.length} with ≥ 50 words `
    + `(${c4.length - eligible.length} shorter ones skipped: one edited word is already a large share of them); detection rate:\n${rows.join('\n')}`);
});

test('MRPC non-paraphrase pairs fed as separate documents: fewer than 1% flagged', async () => {
  const pairs = readMrpc(sharedData('mrpc-train.tsv')).filter((p) => p.quality === 0);
  assert.ok(pairs.length > 1000);
  const docs = pairs.flatMap((p, i) => [{ id: `${i}:1:${p.id1}`, text: p.s1 }, { id: `${i}:2:${p.id2}`, text: p.s2 }]);
  const decisions = await decide(docs);
  const flaggedPairs = pairs.filter((p, i) => {
    const a = `${i}:1:${p.id1}`;
    const b = `${i}:2:${p.id2}`;
    return decisions.get(b)?.duplicate_of === a || decisions.get(a)?.duplicate_of === b;
  }).length;
  // Sentences repeated across pairs (the same MRPC sentence used in several pairs) are real
  // duplicates; they are reported apart, not counted against the bar.
  const sameTextElsewhere = [...decisions].filter(([id, d]) => d && d.duplicate_of!.split(':')[0] !== id.split(':')[0]).length;
  console.log(`MRPC train, ${pairs.length} non-paraphrase pairs (${docs.length} sentences):\n`
    + `  pairs whose two sentences were judged near-duplicates: ${flaggedPairs} (${pct(flaggedPairs, pairs.length)})\n`
    + `  sentences dropped against a sentence of another pair (MRPC reuses sentences): ${sameTextElsewhere}`);
  assert.ok(flaggedPairs / pairs.length < 0.01, `${pct(flaggedPairs, pairs.length)} of non-paraphrase pairs flagged`);
});
