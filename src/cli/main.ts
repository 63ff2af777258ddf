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

const brokersOption = () => new Option('--brokers <list>', 'bootstrap brokers, comma-separated (default: $D4_KAFKA_BROKERS, else the broker `npm run kafka:up` started, else 127.0.0.1:9092)');
const schemaIdOption = () => new Option('--schema-id <id>', 'use the Confluent wire format (magic byte + this schema id) for Avro records').argParser(positiveInt('--schema-id'));

program.command('run')
  .description('Run a topology against Kafka: consume its source topic as a consumer group, run the stages, and commit decisions, kept documents, dead letters, store changelogs and offsets in one transaction per batch (exactly once in read-committed view). Stops cleanly on SIGINT/SIGTERM.')
  .argument('<topology>', 'a topologies/*.yaml file')
  .addOption(brokersOption())
  .option('--set <stage.option=value>', 'override a stage option (repeatable)', collect, [])
  .option('--app-id <id>', 'application id: consumer group, transactional-id and changelog prefix (default: the topology\'s application_id, else d4-<name>)')
  .option('--until-idle <ms>', 'stop after this many milliseconds without new records (default: run until stopped)', positiveInt('--until-idle'))
  .option('--max-bytes <n>', 'largest text in UTF-8 bytes; larger documents are dead-lettered', positiveInt('--max-bytes'), 1_000_000)
  .option('--max-batch-bytes <n>', 'bytes fetched per partition per poll: the size of a batch and of its transaction', positiveInt('--max-batch-bytes'), 4 << 20)
  .addOption(schemaIdOption())
  .option('--verbose', 'log every committed batch')
  .option('--json', 'print the final summary as one JSON line')
  .action(async (path: string, opts) => {
    const { runCommand } = await import('./kafka-commands.js');
    process.exitCode = await runCommand(path, opts);
  });

program.command('produce')
  .description('Produce a file\'s documents to a topic, keyed by document id. With --format avro (default), records that are not valid documents are refused and printed on stderr; with --format json each line goes as it is and the worker dead-letters bad ones.')
  .argument('<input>', 'JSONL, JSONL.gz, a JSON array, or - for stdin')
  .requiredOption('--topic <topic>', 'destination topic (created if missing)')
  .addOption(brokersOption())
  .addOption(new Option('--format <format>', 'record encoding').choices(['avro', 'json']).default('avro'))
  .option('--partitions <n>', 'partitions when the topic is created', positiveInt('--partitions'), 1)
  .option('--id-field <name>', 'input field holding the document id', 'id')
  .option('--text-field <name>', 'input field holding the text', 'text')
  .option('--max-bytes <n>', 'largest text in UTF-8 bytes (avro format; json lines go as they are)', positiveInt('--max-bytes'), 1_000_000)
  .option('--batch-size <n>', 'records per produce request', positiveInt('--batch-size'), 500)
  .addOption(schemaIdOption())
  .action(async (input: string, opts) => {
    const { produceCommand } = await import('./kafka-commands.js');
    process.exitCode = await produceCommand(input, opts);
  });

program.command('consume')
  .description('Print a topic\'s records as JSON lines (read-committed, from the beginning), then stop when it has been idle.')
  .requiredOption('--topic <topic>', 'topic to read')
  .addOption(brokersOption())
  .addOption(new Option('--as <kind>', 'how to decode the values').choices(['decision', 'document', 'dead-letter', 'embedding', 'centroids', 'raw']).default('decision'))
  .option('--max <n>', 'stop after this many records', positiveInt('--max'))
  .option('--idle-ms <ms>', 'stop after this long without a record', positiveInt('--idle-ms'), 3000)
  .addOption(schemaIdOption())
  .action(async (opts) => {
    const { consumeCommand } = await import('./kafka-commands.js');
    process.exitCode = await consumeCommand(opts);
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
