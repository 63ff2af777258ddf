// A restarted near-duplicate stage decides exactly as an uninterrupted one, whether its store is
// rebuilt from a snapshot or by replaying its changelog (full, or compacted to the latest record
// per key as Kafka keeps it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { from, lastValueFrom, toArray } from 'rxjs';
import { nearStage } from '../src/stages/near/near.js';
import { createHasher } from '../src/stages/text/hash.js';
import type { BuiltStage } from '../src/stages/stage.js';
import type { Change } from '../src/state/store.js';
import { origin, type DocItem, type Item } from '../src/records/item.js';
import { WordPool, edit, prng, readJsonl, words, type EditKind, type TextDoc } from '../bench/near/corpus.js';
import { sharedData } from './helpers.js';

const hasher = await createHasher();
// Capacity below the number of kept documents, so evictions happen on both sides of the restart.
const options = nearStage.options.parse({ capacity: 1200 });
const BATCH = 100;

/** The C4 sample and, interleaved after it, edited copies of its documents (seeded). */
function stream(): DocItem[] {
  const c4 = readJsonl<TextDoc>(sharedData('web/c4-en-1k.jsonl'));
  const pool = new WordPool(c4);
  const rnd = prng(5);
  const kinds: EditKind[] = ['header-footer-7%', 'words-2%', 'words-40%'];
  const docs: TextDoc[] = [...c4];
  for (let i = 0; i < 2400; i++) {
    const k = Math.floor(rnd() * c4.length);
    docs.push({ id: `copy-${i}-of-${c4[k]!.id}`, text: edit(kinds[i % 3]!, words(c4[k]!.text), pool, k, rnd).join(' ') });
  }
  return docs.map((d, seq) => ({ kind: 'doc', seq, origin: origin({ line: seq + 1 }), doc: { id: d.id, url: null, fetched_at: null, content_type: null, language: null, text: d.text, metadata: {} } }));
}

const build = () => nearStage.build('near', options, { hasher }) as Promise<BuiltStage>;

/** Runs items through the stage batch by batch, as the runners do, collecting the changelog. */
async function process(stage: BuiltStage, items: readonly DocItem[], changelog: Change[] = []): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < items.length; i += BATCH) {
    const batch = await lastValueFrom(from(items.slice(i, i + BATCH)).pipe(stage.operator, toArray()));
    for (const it of batch as Item[]) {
      const d = it as DocItem;
      out.push(d.drop ? `${d.doc.id} dropped: duplicate of ${d.drop.duplicate_of} at ${d.drop.similarity} (${d.drop.params_hash})` : `${d.doc.id} kept`);
    }
    changelog.push(...stage.stores[0]!.drainChanges());
  }
  return out;
}

test('restart: snapshot/restore and changelog replay give the decisions of an uninterrupted run', async () => {
  const items = stream();
  const half = Math.floor(items.length / 2) + 37; // mid-batch, to be awkward
  const uninterrupted = await process(await build(), items);
  const drops = uninterrupted.filter((d) => d.includes('dropped')).length;
  assert.ok(drops > 800, `the stream has near-duplicates on both sides of the restart (${drops} drops)`);

  const first = await build();
  const changelog: Change[] = [];
  const before = await process(first, items.slice(0, half), changelog);
  const snapshot = first.stores[0]!.snapshot();
  assert.ok(first.stores[0]!.size() === options.capacity, 'the store is full: evictions happened before the restart');

  const compacted = [...new Map(changelog.map((c) => [c.key, c])).values()];
  const restores: [string, (s: BuiltStage) => void][] = [
    ['snapshot', (s) => s.stores[0]!.restore(snapshot)],
    ['full changelog', (s) => changelog.forEach((c) => s.stores[0]!.applyChange(c))],
    ['compacted changelog', (s) => compacted.forEach((c) => s.stores[0]!.applyChange(c))],
  ];
  for (const [how, restore] of restores) {
    const second = await build();
    restore(second);
    assert.deepEqual(second.stores[0]!.drainChanges(), [], `${how}: restoring records no new changes`);
    const after = await process(second, items.slice(half));
    assert.deepEqual([...before, ...after], uninterrupted, `restored from the ${how}`);
  }
  console.log(`restart after ${half} of ${items.length} documents (${drops} drops, capacity ${options.capacity}): `
    + `identical decisions from the snapshot (${snapshot.length} B), the changelog (${changelog.length} records) and its compaction (${compacted.length} records)`);
});
