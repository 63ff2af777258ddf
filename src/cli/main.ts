#!/usr/bin/env node
// The d4 command. Heavy modules (kafkajs, transformers.js) are imported inside the actions that
// need them so that `d4 --help` answers at once.
import { Command, CommanderError, Option } from 'commander';
import { stageDefinitions, ConfigError } from '../topology/registry.js';
import { collect, portArg, positiveInt, shareArg, stageList } from './options.js';
import { ratioArg } from './select-options.js';
import { selectionThreads } from '../stages/kernels/parallel.js';
import { KAFKA_CONFIG_ENV, KafkaConfigError, KafkaSecurityError, useClientConfig, activeClientConfig } from '../io/kafka/security.js';

const STAGES = [...stageDefinitions.keys()];
// `d4 … | head`: the reader closed the pipe; stop quietly as Unix tools do (no EPIPE stack trace).
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});
const program = new Command();

program
  .name('d4')
  .description('Online curation of LLM pre-training data with the D4 method: exact and MinHash de-duplication, embeddings, SemDeDup and SSL-prototype pruning, over files or Kafka topics.')
  .version('0.1.0')
  .showHelpAfterError('(run with --help for usage)')
  .addHelpText('after', `
Environment:
  D4_SELECT_THREADS=n   threads for the selection stages' matrix products (k-means, centroid
                        assignment, the semantic index's exact search): default the machine's
                        cores, at most 4; 1 keeps them on the calling thread. Decisions are the
                        same for any n.`)
  // Commander's own errors (unknown option, bad choice, failed parser) are bad options: exit 2,
  // as --help says. Inherited by every command defined below.
  .exitOverride()
  // The client config is read before the command starts, so that a bad file is a bad option
  // (exit 2) and every Kafka and registry client the command makes uses it.
  .hook('preAction', (_program, action) => {
    // A bad thread count is a bad option, found before any work.
    try { selectionThreads(); } catch (e) { throw new ConfigError((e as Error).message); }
    if (!action.options.some((o) => o.attributeName() === 'kafkaConfig')) return;
    const file = action.opts()['kafkaConfig'] as string | undefined;
    if (file !== undefined) useClientConfig(file);
    else activeClientConfig();
  });

/** The options every command that reads documents from a file shares. */
function inputOptions(c: Command, batchHelp: string): Command {
  return c
    .option('--id-field <name>', 'input field holding the document id', 'id')
    .option('--text-field <name>', 'input field holding the text, e.g. original_text', 'text')
    .option('--max-bytes <n>', 'largest text in UTF-8 bytes; larger documents are dead-lettered', positiveInt('--max-bytes'), 1_000_000)
    .option('--batch-size <n>', batchHelp, positiveInt('--batch-size'), 1024);
}

const brokersOption = () => new Option('--brokers <list>', 'bootstrap brokers, comma-separated (default: $D4_KAFKA_BROKERS, else the broker `npm run kafka:up` started, else 127.0.0.1:9092)');
const maxDeadShareOption = () => new Option('--max-dead-share <share>', 'poison-topic guard: stop with exit 1, before committing, when more than this share of a window\'s records cannot be curated (default 1: only when all of them fail, e.g. a topic read with the wrong --format or --schema-id)').argParser(shareArg('--max-dead-share'));
const kafkaConfigOption = () => new Option('--kafka-config <file>', `Kafka client properties (security.protocol, sasl.mechanism, sasl.jaas.config or sasl.username/sasl.password, ssl.truststore.*/ssl.ca.location, ssl.keystore.*, bootstrap.servers, schema.registry.*): TLS and SASL for the brokers and the schema registry (default: $${KAFKA_CONFIG_ENV})`);
const schemaIdOption = () => new Option('--schema-id <id>', 'use the Confluent wire format (magic byte + this schema id) for Avro records').argParser(positiveInt('--schema-id')).conflicts('schemaRegistry');
const schemaRegistryOption = () => new Option('--schema-registry <url>', 'a Confluent-compatible schema registry (e.g. the URL `npm run registry:up` prints): each record type\'s schema is registered under <topic>-value and records are framed with its id; framed records are read by the writer schema their id names (unknown ids are dead-lettered as unknown-schema-id). TLS and credentials: schema.registry.* / basic.auth.* in --kafka-config');

inputOptions(program.command('curate'), 'lines per window (the records of n consecutive lines): bounds memory, and is the selection stages\' decision window')
  .description('Curate a file with no broker: writes <out>/decisions.jsonl (one line per input document, in input order), kept.jsonl, dead-letter.jsonl and summary.json, and prints a summary.')
  .argument('<input>', 'JSONL, JSONL.gz, a JSON array (optionally .gz), or - for stdin')
  .requiredOption('-o, --out <dir>', 'output directory (created if missing; files in it are overwritten)')
  .addOption(new Option('--stages <list>', `comma-separated stages, in order; known: ${STAGES.join(', ')}`).default(STAGES, STAGES.join(',')).argParser(stageList(STAGES)))
  .option('--set <stage.option=value>', 'override a stage option, e.g. --set exact.caseFold=true (repeatable)', collect, [])
  .option('--state-dir <dir>', 'restore store snapshots from this directory before the run and save them after it (incremental curation)')
  .option('--embeddings <file>', 'embed stage: embeddings file (JSONL), read at start if it exists; documents found in it skip the model, new embeddings are appended')
  .option('--model <id|path>', 'embed stage: static | minilm | bge-small | e5-small, a model id under --models-dir, or a model directory (default minilm: sentence-transformers/all-MiniLM-L6-v2)')
  .addOption(new Option('--pooling <how>', 'embed stage: pooling (default: the model\'s d4-model.json, else mean)').choices(['mean', 'last-token', 'cls']))
  .option('--max-tokens <n>', 'embed stage: tokens per text, special tokens included; longer texts are truncated (default 256)', positiveInt('--max-tokens'))
  .addOption(new Option('--device <device>', 'embed stage: where the model runs (cuda: onnxruntime-node CUDA provider, see docs/embedding.md)').choices(['cpu', 'cuda']))
  .addOption(new Option('--dtype <dtype>', 'embed stage: weights (default q8 on cpu, fp32 on cuda)').choices(['fp32', 'fp16', 'q8']))
  .option('--models-dir <dir>', 'embed stage: where model ids are looked up (default $D4_MODELS_DIR, else .d4/models)')
  .option('--target-ratio <R>', 'prototype stage: overall kept fraction to reach (default 0.25, as in D4)', ratioArg('--target-ratio'))
  .option('--expected-docs <n>', 'semantic/prototype stages: documents expected, k ≈ √n (default: the lines of a JSONL input without --state-dir, else 1,000,000)', positiveInt('--expected-docs'))
  .option('--no-progress', 'no progress bar (it only shows on a terminal anyway)')
  .option('--json', 'print the summary as one JSON line instead of a table')
  .option('--report', 'also write <out>/report.html (see d4 report); its path is printed on stderr')
  .option('--metrics-port <port>', 'serve Prometheus metrics and the live dashboard while curating, as d4 run does (0: any free port)', portArg('--metrics-port'))
  .option('--metrics-host <address>', 'address the metrics server listens on (default 127.0.0.1)')
    .option('--metrics-token-file <file>', `metrics server: require "Authorization: Bearer <token>" (all but /healthz), the token being this file's one line (default: $D4_HTTP_TOKEN if set)`)
  .option('--metrics-hold <ms>', 'after the run, keep serving the final metrics this long', positiveInt('--metrics-hold'))
  .addHelpText('after', `
Stages:
${[...stageDefinitions.values()].map((d) => `  ${d.type.padEnd(10)} ${d.summary}`).join('\n')}

Exit codes: 0 done (a warning on stderr when records were dead-lettered), 1 failed, 2 bad options.`)
  .action(async (input: string, opts) => {
    const { curateCommand } = await import('./curate.js');
    process.exitCode = await curateCommand(input, opts);
  });

inputOptions(program.command('batch'), 'documents per batch through the stages before semantic')
  .description('The published D4 selection over a whole file (the yardstick of the online stages): the stages before semantic run as in curate (exact, near, embed), then spherical k-means (k ≈ √N, 20 iterations), SemDeDup with the reference rule (farthest from the centroid first), re-clustering and prototype pruning to --target-ratio. Writes the same outputs as curate.')
  .argument('<input>', 'JSONL, JSONL.gz, a JSON array (optionally .gz), or - for stdin')
  .requiredOption('-o, --out <dir>', 'output directory (created if missing; files in it are overwritten)')
  .addOption(new Option('--stages <list>', `comma-separated stages, in order; semantic and prototype run as the batch algorithm; known: ${STAGES.join(', ')}`).default(STAGES, STAGES.join(',')).argParser(stageList(STAGES)))
  .option('--set <stage.option=value>', 'override a stage option, e.g. --set semantic.epsilon=0.1 (repeatable; semantic takes epsilon, seed; prototype targetRatio, scope, seed)', collect, [])
  .option('--target-ratio <R>', 'overall kept fraction (default 0.25, as in D4)', ratioArg('--target-ratio'))
  .option('--iterations <n>', 'k-means iterations (D4: 20)', positiveInt('--iterations'), 20)
  .option('--embeddings <file>', 'embed stage: embeddings file (JSONL), read at start if it exists; new embeddings are appended')
  .option('--model <id|path>', 'embed stage: model id under --models-dir, or a model directory')
  .addOption(new Option('--dtype <dtype>', 'embed stage: weights (default q8 on cpu)').choices(['fp32', 'fp16', 'q8']))
  .option('--models-dir <dir>', 'embed stage: where model ids are looked up (default $D4_MODELS_DIR, else .d4/models)')
  .option('--json', 'print the summary as one JSON line instead of a table')
  .action(async (input: string, opts) => {
    const { batchCommand } = await import('./batch.js');
    process.exitCode = await batchCommand(input, opts);
  });

inputOptions(program.command('sweep'), 'lines per window, as d4 curate (the selection stages\' decision window)')
  .description('Evaluate several parameter sets of the selection stages over the same input in one pass: exact, near and embed run once, each parameter set gets its own semantic/prototype stages. Prints, per set: kept fraction, drops per stage, R_dedup, clusters covered, time. With --target-dedup-ratio, searches the semantic epsilon that keeps that fraction (SemDeDup\'s recipe: trial values, then interpolation).')
  .argument('<input>', 'JSONL, JSONL.gz or a JSON array; or a topologies/*.yaml file: its crawl topic is the input and its embeddings topic the embeddings (--stages is then the topology\'s)')
  .addOption(brokersOption())
  .addOption(kafkaConfigOption())
  .addOption(schemaIdOption())
  .addOption(schemaRegistryOption())
  .option('--grid <stage.option=v1,v2,...>', 'an axis of the grid, e.g. --grid semantic.epsilon=0.03,0.05,0.07 --grid target-ratio=0.2,0.25 (repeatable)', collect, [])
  .addOption(new Option('--stages <list>', 'comma-separated stages, in order').default(STAGES, STAGES.join(',')).argParser(stageList(STAGES)))
  .option('--set <stage.option=value>', 'fix a stage option for every point (repeatable)', collect, [])
  .option('--target-dedup-ratio <r>', 'also search the semantic epsilon so that the semantic stage keeps this fraction, e.g. 0.75 (D4)', ratioArg('--target-dedup-ratio'))
  .option('--embeddings <file>', 'embeddings file: read before embedding, new ones appended (so a later sweep embeds nothing)')
  .option('--models-dir <dir>', 'where model ids are looked up')
  .option('--json', 'print the results as one JSON line')
  .option('-o, --out <dir>', 'also write the results to <dir>/sweep.json (what --json prints), for d4 report')
  .action(async (input: string, opts) => {
    const { sweepCommand } = await import('./sweep.js');
    process.exitCode = await sweepCommand(input, opts);
  });

program.command('report')
  .description('Write <out-dir>/report.html: one self-contained HTML file (data, uPlot and code inline; opens offline) with the plots of a file-mode run: kept fraction along the input against the target, drops per stage and reason, dead letters, similarity of duplicates, cluster sizes before and after pruning, distances to the centroids; for a sweep (sweep --out), kept fraction and R_dedup against epsilon and the target ratio. Prints its path.')
  .argument('<out-dir>', 'the --out directory of d4 curate, d4 batch or d4 sweep')
  .action(async (dir: string) => {
    const { existsSync } = await import('node:fs');
    const { resolve } = await import('node:path');
    if (!existsSync(dir)) throw new ConfigError(`${dir} does not exist`);
    const { writeReport } = await import('../observe/report.js');
    try {
      console.log(resolve(await writeReport(dir)));
    } catch (e) {
      throw new ConfigError((e as Error).message);
    }
  });

program.command('describe')
  .description('Print a topology as a graph of named sources, processors, stores and sinks.')
  .argument('<topology>', 'a topologies/*.yaml file')
  .action(async (path: string) => {
    const { loadTopology, describeTopology } = await import('../topology/topology.js');
    console.log(describeTopology(loadTopology(path)));
  });


/** Options `d4 run` and `d4 replay` share. */
function kafkaRunOptions(c: Command): Command {
  return c
    .addOption(brokersOption())
    .addOption(kafkaConfigOption())
    .option('--set <stage.option=value>', 'override a stage option, e.g. --set semantic.epsilon=0.05 (repeatable)', collect, [])
    .option('--until-idle <ms>', 'stop after this many milliseconds without new records (default: run until stopped)', positiveInt('--until-idle'))
    .option('--window <n>', 'offsets per processing window (aligned on multiples, so a replay sees the same windows): the decision delay of the selection stages and the size of a transaction', positiveInt('--window'), 1024)
    .option('--linger-ms <ms>', 'process a partial window after waiting this long for the rest', positiveInt('--linger-ms'), 2000)
    .option('--max-bytes <n>', 'largest text in UTF-8 bytes; larger documents are dead-lettered', positiveInt('--max-bytes'), 1_000_000)
    .option('--max-batch-bytes <n>', 'bytes fetched per partition per poll', positiveInt('--max-batch-bytes'), 4 << 20)
    .option('--models-dir <dir>', 'where model ids are looked up (default: $D4_MODELS_DIR, else .d4/models)')
    .addOption(schemaIdOption())
    .addOption(maxDeadShareOption())
    .addOption(schemaRegistryOption())
    .option('--verbose', 'log every committed window')
    .option('--json', 'print the final summary as one JSON line')
    .option('--metrics-port <port>', 'serve Prometheus metrics at http://127.0.0.1:<port>/metrics, /healthz, /readyz and a live dashboard at / (0: any free port; the address is logged)', portArg('--metrics-port'))
    .option('--metrics-host <address>', 'address the metrics server listens on (default 127.0.0.1, loopback only)')
    .option('--metrics-token-file <file>', `metrics server: require "Authorization: Bearer <token>" (all but /healthz), the token being this file's one line (default: $D4_HTTP_TOKEN if set)`)
    .option('--metrics-hold <ms>', 'after the run ends, keep serving the final metrics this long (so a last scrape sees the totals)', positiveInt('--metrics-hold'));
}

kafkaRunOptions(program.command('run')
  .description('Run a topology against Kafka: consume its source topic as a consumer group, run the stages, and commit decisions, kept documents, dead letters, new embeddings, store changelogs and offsets in one transaction per window (exactly once in read-committed view). Stops cleanly on SIGINT/SIGTERM.')
  .argument('<topology>', 'a topologies/*.yaml file')
  .option('--app-id <id>', 'application id: consumer group, transactional-id and changelog prefix (default: the topology\'s application_id, else d4-<name>)'))
  .action(async (path: string, opts) => {
    const { runCommand } = await import('./kafka-commands.js');
    process.exitCode = await runCommand(path, opts);
  });

kafkaRunOptions(program.command('replay')
  .description('Re-select with other parameters: run a topology again over its retained input topic under a new consumer group, into new output topics named <topic>.<params hash>, reading embeddings from the embeddings topic (the model is not called for documents already embedded; the count is printed). The live pipeline is untouched. Same input, parameters and seed give the same decisions.')
  .argument('<topology>', 'a topologies/*.yaml file')
  .option('--from <when>', '"earliest", an ISO time, or epoch milliseconds: where the replay starts', 'earliest')
  .option('--app-id <id>', 'application id (default: <application>-replay-<params hash>)'))
  .action(async (path: string, opts) => {
    const { replayCommand } = await import('./kafka-commands.js');
    process.exitCode = await replayCommand(path, { untilIdle: 5000, ...opts });
  });

program.command('produce')
  .description('Produce a file\'s documents to a topic, keyed by document id. With --format avro (default), records that are not valid documents are refused and printed on stderr; with --format json each line goes as it is and the worker dead-letters bad ones.')
  .argument('<input>', 'JSONL, JSONL.gz, a JSON array, or - for stdin')
  .requiredOption('--topic <topic>', 'destination topic (created if missing)')
  .addOption(brokersOption())
  .addOption(kafkaConfigOption())
  .addOption(new Option('--format <format>', 'record encoding').choices(['avro', 'json']).default('avro'))
  .option('--partitions <n>', 'partitions when the topic is created', positiveInt('--partitions'), 1)
  .option('--id-field <name>', 'input field holding the document id', 'id')
  .option('--text-field <name>', 'input field holding the text', 'text')
  .option('--max-bytes <n>', 'largest text in UTF-8 bytes (avro format; json lines go as they are)', positiveInt('--max-bytes'), 1_000_000)
  .option('--batch-size <n>', 'records per produce request', positiveInt('--batch-size'), 500)
  .addOption(schemaIdOption())
    .addOption(schemaRegistryOption())
  .action(async (input: string, opts) => {
    const { produceCommand } = await import('./kafka-commands.js');
    process.exitCode = await produceCommand(input, opts);
  });

program.command('consume')
  .description('Print a topic\'s records as JSON lines (read-committed, from the beginning), then stop when it has been idle.')
  .requiredOption('--topic <topic>', 'topic to read')
  .addOption(brokersOption())
  .addOption(kafkaConfigOption())
  .addOption(new Option('--as <kind>', 'how to decode the values').choices(['decision', 'document', 'dead-letter', 'embedding', 'centroids', 'raw']).default('decision'))
  .option('--max <n>', 'stop after this many records', positiveInt('--max'))
  .option('--idle-ms <ms>', 'stop after this long without a record', positiveInt('--idle-ms'), 3000)
  .addOption(schemaIdOption())
    .addOption(schemaRegistryOption())
  .action(async (opts) => {
    const { consumeCommand } = await import('./kafka-commands.js');
    process.exitCode = await consumeCommand(opts);
  });

program.command('feed')
  .description('Stream the documents of a curated topic to a trainer: shuffled through a bounded buffer with a seed, for --epochs epochs, in batches of --batch-size documents or --batch-tokens estimated tokens. Prints one NDJSON line per batch on stdout, {"epoch","batch","checkpoint","tokens","documents"} (epoch and batch 0-based); --resume <checkpoint> continues right after that batch, neither repeating nor skipping a document of the epoch. With --serve, streams the same lines over HTTP instead (see docs/feed.md).')
  .requiredOption('--topic <topic>', 'topic of Avro CrawledDocument records, e.g. a topology\'s kept topic')
  .addOption(brokersOption())
  .addOption(kafkaConfigOption())
  .option('--epochs <n>', 'epochs in all, counting those a --resume checkpoint has finished', positiveInt('--epochs'), 1)
  .addOption(new Option('--batch-size <n>', 'documents per batch (default 32)').argParser(positiveInt('--batch-size')).conflicts('batchTokens'))
  .addOption(new Option('--batch-tokens <n>', 'token budget per batch, tokens estimated as UTF-8 bytes / 4; a longer document goes alone in its batch').argParser(positiveInt('--batch-tokens')))
  .option('--shuffle-buffer <n>', 'documents held for shuffling (default 10000; 1 keeps topic order); memory ≈ n × the average record size', positiveInt('--shuffle-buffer'))
  .option('--seed <seed>', 'shuffle seed, any string (default "0"); each epoch shuffles differently from the same seed')
  .option('--resume <checkpoint>', 'continue after the batch that carried this checkpoint; seed, shuffle buffer and batching come from it (giving different ones is an error)')
  .option('--serve <port>', 'serve the batches as NDJSON at http://127.0.0.1:<port>/batches?resume=<checkpoint> instead of printing them (0: any free port; the address is printed on stderr); runs until SIGINT/SIGTERM')
  .option('--serve-host <address>', 'with --serve: listen on this address instead of 127.0.0.1 (0.0.0.0: every interface); consider --serve-token-file')
  .option('--serve-token-file <file>', `with --serve: require "Authorization: Bearer <token>", the token being this file's one line (default: $D4_HTTP_TOKEN if set)`)
  .option('--max-batches <n>', 'stop after this many batches (per request with --serve)', positiveInt('--max-batches'))
  .option('--metrics-port <port>', 'with --serve: Prometheus metrics (batches, documents, tokens served) at http://127.0.0.1:<port>/metrics, /healthz, /readyz and a dashboard at / (0: any free port)', portArg('--metrics-port'))
  .option('--metrics-host <address>', 'address the metrics server listens on (default 127.0.0.1)')
    .option('--metrics-token-file <file>', `metrics server: require "Authorization: Bearer <token>" (all but /healthz), the token being this file's one line (default: $D4_HTTP_TOKEN if set)`)
  .addOption(schemaIdOption())
  .addOption(schemaRegistryOption())
  .addOption(maxDeadShareOption())
  .addHelpText('after', `
Each epoch reads what is committed on the topic when it starts (read-committed), partitions
merged round-robin, and delivers every record exactly once; its order depends only on those
records, the seed and the epoch. Progress and the last checkpoint go to stderr.
Exit codes: 0 done (or stopped by SIGINT/SIGTERM after a whole batch), 1 failed, 2 bad options or checkpoint.`)
  .action(async (opts) => {
    const { feedCommand } = await import('./feed.js');
    process.exitCode = await feedCommand(opts);
  });

program.command('export')
  .description('Write kept documents as shards for offline loaders: <out>/shard-00000.jsonl.gz … (and .parquet with --parquet), one CrawledDocument per line/row, plus manifest.json (documents per shard, bytes and sha256 of every file, totals, source) and SHA256SUMS. From a topic (read-committed, what is committed at the start, partitions merged round-robin) or from a kept.jsonl file (in its order).')
  .argument('[input]', 'a kept.jsonl from d4 curate (JSONL or JSONL.gz, or - for stdin); or use --topic')
  .option('--topic <topic>', 'read this topic of Avro CrawledDocument records instead of a file')
  .addOption(brokersOption())
  .addOption(kafkaConfigOption())
  .requiredOption('-o, --out <dir>', 'output directory (created if missing; must not hold an earlier export unless --overwrite)')
  .option('--shard-docs <n>', 'documents per shard', positiveInt('--shard-docs'), 10_000)
  .option('--parquet', 'also write shard-NNNNN.parquet beside each .jsonl.gz, the same documents (one shard is held in memory while it is written)')
  .option('--overwrite', 'replace the shards, manifest.json and SHA256SUMS of an earlier export in --out')
  .addOption(schemaIdOption())
  .addOption(schemaRegistryOption())
  .addOption(maxDeadShareOption())
  .addHelpText('after', `
Exit codes: 0 done (a warning on stderr when some records were not documents), 1 failed, 2 bad options.`)
  .action(async (input: string | undefined, opts) => {
    const { exportCommand } = await import('./export.js');
    process.exitCode = await exportCommand(input, opts);
  });

try {
  await program.parseAsync();
} catch (e) {
  if (e instanceof CommanderError) {
    // Help and version end here too, with exit code 0; the message was already printed.
    process.exitCode = e.exitCode === 0 ? 0 : 2;
  } else if (e instanceof KafkaConfigError || e instanceof KafkaSecurityError || (e instanceof Error && (e.name === 'SchemaRegistryError' || e.name === 'HttpAccessError'))) {
    console.error(`d4: ${e.message}`);
    process.exitCode = (e as { exitCode?: number }).exitCode ?? 1;
  } else if (e instanceof ConfigError) {
    console.error(`d4: ${e.message}`);
    process.exitCode = 2;
  } else if (e instanceof Error && (e.name === 'PoisonTopicError' || e.name === 'FatalRunError')) {
    // Failures whose message says what happened and what to do (nothing was committed past the last good window): no stack trace.
    console.error(`d4: ${e.message}${process.env.D4_DEBUG ? `
${e.stack}` : ''}`);
    process.exitCode = 1;
  } else {
    console.error(e);
    process.exitCode = 1;
  }
}
