import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyOverrides, describeTopology, parseTopology } from './topology.js';

const valid = `
name: t1
source: { topic: crawl }
stages:
  - { id: exact, type: exact, options: { caseFold: true } }
sinks:
  decisions: { topic: dec }
  kept: { topic: cur }
  dead_letter: { topic: dlq }
`;

test('topology: a valid file loads with defaults filled in', () => {
  const t = parseTopology(valid, 't.yaml');
  assert.equal(t.source.format, 'avro');
  assert.equal(t.source.id, 'crawl');
  assert.equal(t.stages[0]!.options.caseFold, true);
});

test('topology: errors name the file and the offending key', () => {
  const cases: [string, RegExp][] = [
    [valid.replace('caseFold: true', 'caseFold: "yes"'), /t\.yaml: stages\.0\.options: exact\.caseFold: .*boolean/],
    [valid.replace('caseFold: true', 'casefold: true'), /exact.*casefold/],
    [valid.replace('type: exact', 'type: exakt'), /unknown stage type "exakt"/],
    [valid.replace('topic: dec', 'topic: "bad topic"'), /sinks\.decisions\.topic/],
    [valid.replace('name: t1', 'name: T1'), /name: /],
    [valid + 'extra: 1\n', /extra/],
    ['name: [', /not valid YAML/],
  ];
  for (const [text, message] of cases) assert.throws(() => parseTopology(text, 't.yaml'), message);
});

test('topology: describe prints sources, processors, stores and sinks', () => {
  const d = describeTopology(parseTopology(valid, 't.yaml'));
  assert.match(d, /Source: crawl \(topic: crawl, avro\)/);
  assert.match(d, /Processor: exact \(type: exact\)/);
  assert.match(d, /store: exact-seen \(changelog: d4-t1-exact-seen-changelog\)/);
  assert.match(d, /Sink: decisions \(topic: dec\)/);
});

test('topology: --set overrides parse JSON values and refuse unknown stages', () => {
  const stages = parseTopology(valid, 't.yaml').stages;
  assert.deepEqual(applyOverrides(stages, ['exact.capacity=10'])[0]!.options, { caseFold: true, capacity: 10 });
  assert.equal(stages[0]!.options.capacity, undefined, 'the input is not mutated');
  assert.throws(() => applyOverrides(stages, ['near.x=1']), /no stage "near"/);
  assert.throws(() => applyOverrides(stages, ['exact']), /expected <stage>\.<option>=<value>/);
});
