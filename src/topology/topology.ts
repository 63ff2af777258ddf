import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ConfigError, stageDefinition } from './registry.js';
import { planSubtopologies } from './plan.js';
import type { StageDeps, BuiltStage } from '../stages/stage.js';

const TOPIC = z.string().regex(/^[a-zA-Z0-9._-]{1,249}$/, 'a Kafka topic name: letters, digits, ".", "_", "-"');
const ID = z.string().regex(/^[a-z][a-z0-9-]*$/, 'a lower-case id: letters, digits, "-"');

const topologySchema = z.strictObject({
  name: ID,
  description: z.string().default(''),
  application_id: ID.optional().describe('consumer group, transactional-id and changelog prefix; defaults to d4-<name>'),
  source: z.strictObject({
    id: ID.default('crawl'),
    topic: TOPIC,
    format: z.enum(['avro', 'json', 'embedded']).default('avro').describe('avro: crawled-document records; json; embedded: embedded-document records (the output of an embed topology)'),
    partitions: z.number().int().positive().default(1).describe('partitions when d4 creates the topic'),
  }),
  stages: z.array(z.strictObject({
    id: ID,
    type: z.string(),
    options: z.record(z.string(), z.unknown()).default({}),
  })).min(1),
  sinks: z.strictObject({
    decisions: z.strictObject({ id: ID.default('decisions'), topic: TOPIC }),
    kept: z.strictObject({ id: ID.default('curated'), topic: TOPIC }),
    dead_letter: z.strictObject({ id: ID.default('dead-letter'), topic: TOPIC }),
    embeddings: z.strictObject({ id: ID.default('embeddings'), topic: TOPIC }).optional()
      .describe('compacted topic of embeddings keyed by document id (default: <source topic>.embeddings when an embed stage runs)'),
  }),
});

export type TopologySpec = z.infer<typeof topologySchema>;

export interface StageSpec {
  readonly id: string;
  readonly type: string;
  readonly options: Record<string, unknown>;
}

function zodMessage(error: z.ZodError, prefix: string): string {
  return error.issues.map((i) => `${[prefix, ...i.path.map(String)].filter(Boolean).join('.')}: ${i.message}`).join('; ');
}

/** Validates one stage's options against its definition; the error names the offending key. */
export function resolveStageOptions(spec: StageSpec, where: string): Record<string, unknown> {
  const def = stageDefinition(spec.type);
  const parsed = def.options.safeParse(spec.options);
  if (!parsed.success) throw new ConfigError(`${where}: ${zodMessage(parsed.error, `${spec.id}`)}`);
  return parsed.data as Record<string, unknown>;
}

export function parseTopology(text: string, where: string): TopologySpec {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (e) {
    throw new ConfigError(`${where}: not valid YAML: ${(e as Error).message}`);
  }
  const parsed = topologySchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(`${where}: ${zodMessage(parsed.error, '')}`);
  const ids = new Set<string>();
  parsed.data.stages.forEach((s, i) => {
    if (ids.has(s.id)) throw new ConfigError(`${where}: stages.${i}.id: "${s.id}" is used twice`);
    ids.add(s.id);
    resolveStageOptions(s, `${where}: stages.${i}.options`);
  });
  return parsed.data;
}

export function loadTopology(path: string): TopologySpec {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read topology ${path}: ${(e as Error).message}`);
  }
  return parseTopology(text, path);
}

/** Applies `--set <stage>.<option>=<value>` overrides; values are parsed as JSON when they can be. */
export function applyOverrides(stages: readonly StageSpec[], sets: readonly string[]): StageSpec[] {
  const out = stages.map((s) => ({ ...s, options: { ...s.options } }));
  for (const set of sets) {
    const m = /^([a-z][a-z0-9-]*)\.([A-Za-z][A-Za-z0-9]*)=(.*)$/.exec(set);
    if (!m) throw new ConfigError(`--set ${set}: expected <stage>.<option>=<value>, e.g. --set exact.caseFold=true`);
    const [, id, key, value] = m as unknown as [string, string, string, string];
    const stage = out.find((s) => s.id === id);
    if (!stage) throw new ConfigError(`--set ${set}: no stage "${id}" in this run (stages: ${out.map((s) => s.id).join(', ')})`);
    let v: unknown = value;
    try { v = JSON.parse(value); } catch { /* a bare string */ }
    stage.options[key] = v;
  }
  return out;
}

export async function buildStages(specs: readonly StageSpec[], deps: StageDeps): Promise<BuiltStage[]> {
  const built: BuiltStage[] = [];
  for (const spec of specs) {
    const options = resolveStageOptions(spec, `stage ${spec.id}`);
    built.push(await stageDefinition(spec.type).build(spec.id, options, deps));
  }
  return built;
}

export function embeddingsTopicOf(t: TopologySpec): string {
  return t.sinks.embeddings?.topic ?? `${t.source.topic}.embeddings`;
}

/** The topology as a graph a person can read (Kafka Streams' TopologyDescription). */
export function describeTopology(t: TopologySpec): string {
  const app = t.application_id ?? `d4-${t.name}`;
  const lines = [`Topology ${t.name}${t.description ? ` — ${t.description}` : ''}`, `  application id: ${app}`,
    `  Source: ${t.source.id} (topic: ${t.source.topic}, ${t.source.format})`, `    --> ${t.stages[0]!.id}`];
  t.stages.forEach((s, i) => {
    const def = stageDefinition(s.type);
    const options = resolveStageOptions(s, `stages.${i}.options`);
    lines.push(`  Processor: ${s.id} (type: ${s.type}) ${def.summary}`);
    lines.push(`    options: ${JSON.stringify(options)}`);
    for (const store of def.stores(s.id)) lines.push(`    store: ${store} (changelog: ${app}-${store}-changelog)`);
    lines.push(`    <-- ${i === 0 ? t.source.id : t.stages[i - 1]!.id}`);
    lines.push(`    --> ${i + 1 < t.stages.length ? t.stages[i + 1]!.id : `${t.sinks.decisions.id}, ${t.sinks.kept.id}`}`);
  });
  lines.push(`  Sink: ${t.sinks.decisions.id} (topic: ${t.sinks.decisions.topic}) <-- ${t.stages.at(-1)!.id}: one decision per document`);
  lines.push(`  Sink: ${t.sinks.kept.id} (topic: ${t.sinks.kept.topic}) <-- ${t.stages.at(-1)!.id}: kept documents`);
  const embed = t.stages.find((s) => s.type === 'embed');
  if (embed) lines.push(`  Sink+Store: ${t.sinks.embeddings?.id ?? 'embeddings'} (topic: ${embeddingsTopicOf(t)}, compacted) <-- ${embed.id}: each document's vector, mirrored at start so nothing is embedded twice`);
  lines.push(`  Sink: ${t.sinks.dead_letter.id} (topic: ${t.sinks.dead_letter.topic}) <-- ${t.source.id}, ${t.stages.map((s) => s.id).join(', ')}: records that could not be curated`);
  const plan = planSubtopologies(app, t.source, t.stages);
  lines.push('', `Sub-topologies on ${t.source.partitions} partition(s) (tasks <sub-topology>_<partition>, each with its own transactional producer ${app}-<task>):`);
  for (const s of plan) {
    lines.push(`  Sub-topology ${s.index}: ${s.index === 0 ? 'decode, dead letters, order key' : s.name}${s.stages.length > 0 ? ` [${s.stages.map((x) => x.id).join(' → ')}]` : ''}, ${s.input.partitions} task(s)${s.ordered ? ', releases documents in the crawl order (watermarks)' : ''}`);
    lines.push(`    <-- ${s.input.topic}${s.input.internal ? ` (internal, ${s.input.partitions} partition(s))` : ''}`);
    const stores = [...s.stages.flatMap((x) => stageDefinition(x.type).stores(x.id)), ...(s.index === 0 ? ['source-clock'] : []), ...(s.ordered ? [`${s.name}-reorder`] : [])];
    if (stores.length > 0) lines.push(`    stores: ${stores.map((x) => `${x} (${app}-${x}-changelog)`).join(', ')}`);
    lines.push(s.next
      ? `    --> ${s.next.topic} (internal, ${s.next.partitions} partition(s), keyed by ${s.next.key === 'text-hash' ? 'the normalised-text hash' : s.next.key === 'id' ? 'document id' : 'nothing: one partition'})`
      : `    --> ${t.sinks.decisions.topic}, ${t.sinks.kept.topic}: keep decisions and kept documents`);
  }
  return lines.join('\n');
}
