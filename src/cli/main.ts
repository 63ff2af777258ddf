#!/usr/bin/env node
// The d4 command. Heavy modules (kafkajs, transformers.js) are imported inside the actions that
// need them so that `d4 --help` answers at once.
import { Command, Option } from 'commander';
import { stageDefinitions, ConfigError } from '../topology/registry.js';
import { collect, positiveInt, stageList } from './options.js';

const STAGES = [...stageDefinitions.keys()];
const program = new Command();

program
  .name('d4')
  .description('Online curation of LLM pre-training data with the D4 method: exact and MinHash de-duplication, embeddings, SemDeDup and SSL-prototype pruning, over files or Kafka topics.')
  .version('0.1.0')
  .showHelpAfterError('(run with --help for usage)');

program.command('curate')
  .description('Curate a file with no broker: writes <out>/decisions.jsonl (one line per input document, in input order), kept.jsonl, dead-letter.jsonl and summary.json, and prints a summary.')
  .argument('<input>', 'JSONL, JSONL.gz, a JSON array (optionally .gz), or - for stdin')
  .requiredOption('-o, --out <dir>', 'output directory (created if missing; files in it are overwritten)')
  .addOption(new Option('--stages <list>', `comma-separated stages, in order; known: ${STAGES.join(', ')}`).default([STAGES[0]!], STAGES[0]).argParser(stageList(STAGES)))
  .option('--set <stage.option=value>', 'override a stage option, e.g. --set exact.caseFold=true (repeatable)', collect, [])
  .option('--id-field <name>', 'input field holding the document id', 'id')
  .option('--text-field <name>', 'input field holding the text, e.g. original_text', 'text')
  .option('--max-bytes <n>', 'largest text in UTF-8 bytes; larger documents are dead-lettered', positiveInt('--max-bytes'), 1_000_000)
  .option('--batch-size <n>', 'documents per batch (bounds memory)', positiveInt('--batch-size'), 1024)
  .option('--state-dir <dir>', 'restore store snapshots from this directory before the run and save them after it (incremental curation)')
  .option('--no-progress', 'no progress bar (it only shows on a terminal anyway)')
  .option('--json', 'print the summary as one JSON line instead of a table')
  .addHelpText('after', `
Stages:
${[...stageDefinitions.values()].map((d) => `  ${d.type.padEnd(10)} ${d.summary}`).join('\n')}

Exit codes: 0 done (a warning on stderr when records were dead-lettered), 1 failed, 2 bad options.`)
  .action(async (input: string, opts) => {
    const { curateCommand } = await import('./curate.js');
    process.exitCode = await curateCommand(input, opts);
  });

program.command('describe')
  .description('Print a topology as a graph of named sources, processors, stores and sinks.')
  .argument('<topology>', 'a topologies/*.yaml file')
  .action(async (path: string) => {
    const { loadTopology, describeTopology } = await import('../topology/topology.js');
    console.log(describeTopology(loadTopology(path)));
  });

try {
  await program.parseAsync();
} catch (e) {
  if (e instanceof ConfigError) {
    console.error(`d4: ${e.message}`);
    process.exitCode = 2;
  } else {
    console.error(e);
    process.exitCode = 1;
  }
}
