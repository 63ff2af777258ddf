#!/usr/bin/env node
// A real single-node Apache Kafka 4.x broker (KRaft, combined broker+controller) on loopback,
// for development and the test suite. No Docker and no npm dependencies: the broker's jars
// come from Maven Central (resolved once with Maven from docker/local-broker/pom.xml and
// cached), and the broker runs as a plain `java` process in the background.
//
//   node scripts/kafka.mjs up | down | status | --help
//
// See usage() below for the details, the files and the environment variables.

import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createScramUsers, ensureTls, saslSslListenerProperties, writeClientConfigs } from './kafka-sasl-ssl.mjs';
import { pidAlive, portFree, readJson, readText, sleep } from './lib/host.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BROKER_SRC = path.join(ROOT, 'docker', 'local-broker');
const POM = path.join(BROKER_SRC, 'pom.xml');
const LOG4J = path.join(BROKER_SRC, 'log4j2.properties');

const RUNTIME = process.env.D4_KAFKA_DIR
  ? path.resolve(process.env.D4_KAFKA_DIR)
  : path.join(ROOT, '.d4', 'kafka');
const F = {
  props: path.join(RUNTIME, 'server.properties'),
  data: path.join(RUNTIME, 'data'),
  pid: path.join(RUNTIME, 'broker.pid'),
  json: path.join(RUNTIME, 'broker.json'),
  log: path.join(RUNTIME, 'broker.log'), // log4j2 output of the broker
  out: path.join(RUNTIME, 'broker.out'), // the JVM's own stdout/stderr (crashes, bad options)
  toolsLog: path.join(RUNTIME, 'tools.log'), // log4j2 output of StorageTool runs
  lock: path.join(RUNTIME, 'up.lock'), // held by a running `up` (concurrent ups wait)
};

const DEFAULT_PORT = 19092; // broker; the controller listens on the next port
const MAX_PORT_TRIES = 50;
const START_TIMEOUT_MS = 90_000;
const STOP_TIMEOUT_MS = 30_000;
const STARTED_LINE = 'Kafka Server started'; // "[KafkaRaftServer nodeId=1] Kafka Server started"
const HOST = '127.0.0.1';
const SASL_SSL = process.argv.slice(3).includes('--sasl-ssl');
const MODE = SASL_SSL ? 'SASL_SSL' : 'PLAINTEXT';

// ---------------------------------------------------------------------------------------------

function usage() {
  return `Usage: node scripts/kafka.mjs <command>

A single-node Apache Kafka ${kafkaVersionOrUnknown()} broker (KRaft, broker+controller in one JVM),
listening on ${HOST} only, for development and the test suite.

Commands:
  up       Start the broker in the background and wait until it serves (at most ${START_TIMEOUT_MS / 1000} s).
           If the broker of this runtime dir is already running, print its address and exit 0.
           The first run resolves the broker's jars with Maven (network: Maven Central) into
           \${XDG_CACHE_HOME:-~/.cache}/d4stream/kafka-<version>/lib; later runs reuse that
           cache without Maven and without network. The KRaft storage is formatted only once;
           topics and data survive down/up.
  down     Stop the broker (SIGTERM, after ${STOP_TIMEOUT_MS / 1000} s SIGKILL). Exit 0 also when nothing runs.
           --sasl-ssl: the only client listener is SASL_SSL (see "SASL_SSL mode" below).
  status   Print whether the broker runs and its address. Exit 0 if it runs and answers, 1 if not.
  --help   This text.

Ports: broker ${DEFAULT_PORT} and controller ${DEFAULT_PORT + 1} (or D4_KAFKA_PORT and the next port). If
either is taken by another process (say another checkout's broker), up picks the next free
pair (+2, +4, ...) and says so. Clients must read the address from broker.json (or the last
line printed by up/status) rather than assume ${DEFAULT_PORT}.

Runtime dir (${path.relative(process.cwd(), RUNTIME) || '.'}):
  server.properties   generated on every up
  data/               KRaft metadata and topic data (delete it, while down, for a clean broker)
  broker.json         {"bootstrap":"${HOST}:<port>","port":..,"controllerPort":..,"pid":..,
                       "kafkaVersion":..,"clusterId":..,"logFile":..,"startedAt":..}
                      written when the broker serves, removed by down
  broker.pid          pid of the broker JVM
  broker.log          the broker's log (log4j2, rolls at 20 MB); broker.out: JVM stdout/stderr

SASL_SSL mode (up --sasl-ssl): at the first such up, keytool makes a self-signed CA and a
broker certificate for 127.0.0.1 (in tls/ of the runtime dir, kept); the listener takes SASL
PLAIN (user d4-plain) and SCRAM-SHA-256/512 (user d4, created with kafka-configs at every up).
Clients read client.properties (SCRAM-SHA-256), client-scram512.properties or
client-plain.properties from the runtime dir: \`d4 ... --kafka-config .d4/kafka/client.properties\`.
A runtime dir runs in one mode at a time: down, then up in the other (data is kept).

Environment:
  D4_KAFKA_PORT    broker port to try first (controller: port+1)
  D4_KAFKA_DIR     runtime dir instead of <repo>/.d4/kafka
  XDG_CACHE_HOME   base of the jar cache (default ~/.cache)
  JAVA_HOME        Java to use (default: java on PATH); Kafka 4 needs Java 17+

Needs: Java 17+ always; Maven (mvn) only for the first up of a Kafka version.
`;
}

function die(msg, code = 1) {
  process.stderr.write(`kafka: ${msg}\n`);
  process.exit(code);
}
function say(msg) {
  process.stdout.write(`${msg}\n`);
}

function kafkaVersion() {
  const pom = fs.readFileSync(POM, 'utf8');
  const m = pom.match(/<kafka\.version>\s*([^<\s]+)\s*<\/kafka\.version>/);
  if (!m) die(`no <kafka.version> in ${POM}`);
  return m[1];
}
function kafkaVersionOrUnknown() {
  try {
    return kafkaVersion();
  } catch {
    return '4.x';
  }
}

function rmf(file) {
  fs.rmSync(file, { force: true, recursive: true });
}
function writeAtomic(file, text) {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}
function tail(file, lines = 30) {
  const t = readText(file);
  if (!t) return '';
  return t.split('\n').slice(-lines - 1).join('\n');
}

// --- processes --------------------------------------------------------------------------------

// True when pid is the broker JVM of this runtime dir (guards against a recycled pid).
// Without /proc (not Linux) only liveness can be checked.
function pidIsOurBroker(pid) {
  if (!pidAlive(pid)) return false;
  if (!fs.existsSync('/proc/self/cmdline')) return true;
  const cmd = readText(`/proc/${pid}/cmdline`);
  if (cmd == null) return false;
  const args = cmd.split('\0');
  return args.includes('kafka.Kafka') && args.includes(F.props);
}

function readPid() {
  const t = readText(F.pid);
  const pid = t == null ? NaN : Number.parseInt(t.trim(), 10);
  return Number.isInteger(pid) ? pid : null;
}

// --- network ----------------------------------------------------------------------------------

function portAnswers(port, timeoutMs = 1000) {
  return new Promise((resolve) => {
    const s = net.connect({ host: HOST, port });
    const done = (ok) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

function validPort(p) {
  return Number.isInteger(p) && p >= 1024 && p <= 65534;
}

// Ports of this runtime dir's server.properties (to reach a running broker without broker.json).
function configuredPorts() {
  const t = readText(F.props);
  if (!t) return null;
  const b = t.match(/^listeners=(?:.*,)?(?:PLAINTEXT|SASL_SSL):\/\/[^:,]+:(\d+)/m);
  const c = t.match(/^listeners=.*CONTROLLER:\/\/[^:,]+:(\d+)/m);
  if (!b || !c) return null;
  const port = Number(b[1]);
  const controllerPort = Number(c[1]);
  return validPort(port) && validPort(controllerPort) ? { port, controllerPort } : null;
}

async function choosePorts() {
  // The controller port may differ from the one at format time: with a single voter the
  // broker starts fine on a new pair (tested), so no port memory per runtime dir is needed.
  const env = process.env.D4_KAFKA_PORT;
  let first = DEFAULT_PORT;
  if (env != null && env !== '') {
    first = Number(env);
    if (!validPort(first)) die(`D4_KAFKA_PORT=${env} is not a port number in 1024..65534`);
  }
  for (let i = 0; i < MAX_PORT_TRIES; i++) {
    const port = first + 2 * i;
    const controllerPort = port + 1;
    if (!validPort(port) || !validPort(controllerPort)) break;
    if ((await portFree(HOST, port)) && (await portFree(HOST, controllerPort))) {
      if (i > 0) {
        say(
          `kafka: port ${first} or ${first + 1} is taken by another process; ` +
            `using ${HOST}:${port} (controller ${controllerPort}) instead`,
        );
      }
      return { port, controllerPort };
    }
  }
  die(`no free port pair found from ${first} upwards (${MAX_PORT_TRIES} tries); set D4_KAFKA_PORT`);
}

// --- Java and the jar cache -------------------------------------------------------------------

function javaBin() {
  return process.env.JAVA_HOME ? path.join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
}

function checkJava() {
  const java = javaBin();
  const r = spawnSync(java, ['-version'], { encoding: 'utf8' });
  if (r.error) {
    die(
      `cannot run '${java}' (${r.error.code ?? r.error.message}). The Kafka 4 broker needs a ` +
        `Java 17+ runtime: install one (Debian/Ubuntu: apt-get install openjdk-17-jre-headless) ` +
        `or point JAVA_HOME at it.`,
    );
  }
  const m = `${r.stderr}${r.stdout}`.match(/version "(\d+)(?:\.(\d+))?/);
  let major = m ? Number(m[1]) : NaN;
  if (major === 1 && m[2]) major = Number(m[2]); // "1.8.0_x"
  if (!(major >= 17)) {
    die(
      `'${java}' is Java ${Number.isNaN(major) ? '(unknown version)' : major}; Kafka 4 needs ` +
        `Java 17+ (Debian/Ubuntu: apt-get install openjdk-17-jre-headless, or set JAVA_HOME).`,
    );
  }
  return java;
}

function cacheDir(version) {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'd4stream', `kafka-${version}`);
}

const MARKER = '.d4stream-complete.json';

function pomHash() {
  return createHash('sha256').update(fs.readFileSync(POM)).digest('hex');
}

function libComplete(lib, hash) {
  const m = readJson(path.join(lib, MARKER));
  if (!m || m.pomSha256 !== hash || !Array.isArray(m.jars) || m.jars.length === 0) return false;
  return m.jars.every((j) => fs.existsSync(path.join(lib, j)));
}

// Leftovers of interrupted or concurrent runs whose process is gone.
function sweepCache(dir) {
  for (const name of fs.readdirSync(dir)) {
    const m = name.match(/^lib\.(?:tmp|old)-(\d+)-/);
    if (m && !pidAlive(Number(m[1]))) rmf(path.join(dir, name));
  }
}

function ensureLib(version) {
  const dir = cacheDir(version);
  const lib = path.join(dir, 'lib');
  const hash = pomHash();
  if (libComplete(lib, hash)) return lib;

  const probe = spawnSync('mvn', ['-v'], { encoding: 'utf8' });
  if (probe.error) {
    die(
      `Maven (mvn) not found on PATH (${probe.error.code ?? probe.error.message}). It is needed ` +
        `once, to download the Kafka ${version} broker jars from Maven Central into ${lib}. ` +
        `Install Maven 3.6+ (Debian/Ubuntu: apt-get install maven) and run again.`,
    );
  }
  fs.mkdirSync(dir, { recursive: true });
  sweepCache(dir);
  const tmp = path.join(dir, `lib.tmp-${process.pid}-${Date.now()}`);
  say(`kafka: resolving the Kafka ${version} broker jars with Maven into ${lib} (once) ...`);
  const t0 = Date.now();
  // Output is captured (mvn -q prints nothing useful on success, but Maven 3.8 emits stray
  // ANSI resets even with -B) and shown only when Maven fails.
  const r = spawnSync(
    'mvn',
    [
      '-q',
      '-B',
      '-f',
      POM,
      'dependency:copy-dependencies',
      '-DincludeScope=runtime',
      `-DoutputDirectory=${tmp}`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  );
  if (r.status !== 0) {
    rmf(tmp);
    const output = `${r.stdout ?? ''}${r.stderr ?? ''}`.replace(/\x1b\[[0-9;]*m/g, '').trim();
    die(
      `Maven could not resolve the broker jars (exit ${r.status ?? r.signal ?? r.error?.message}). ` +
        `The first run needs Maven Central (https://repo.maven.apache.org).\n${output}`,
    );
  }
  const jars = fs.existsSync(tmp) ? fs.readdirSync(tmp).filter((f) => f.endsWith('.jar')) : [];
  for (const want of [`kafka_2.13-${version}.jar`, 'log4j-core-']) {
    if (!jars.some((j) => j.startsWith(want))) {
      rmf(tmp);
      die(`Maven finished but ${want}* is missing from the resolved jars; check ${POM}`);
    }
  }
  fs.writeFileSync(
    path.join(tmp, MARKER),
    `${JSON.stringify({ kafkaVersion: version, pomSha256: hash, jars: jars.sort(), resolvedAt: new Date().toISOString() }, null, 2)}\n`,
  );
  // Publish atomically: a half-finished download is never at `lib`.
  const old = path.join(dir, `lib.old-${process.pid}-${Date.now()}`);
  if (fs.existsSync(lib)) fs.renameSync(lib, old);
  try {
    fs.renameSync(tmp, lib);
  } catch (e) {
    // Another `up` (with another runtime dir) published at the same time.
    rmf(tmp);
    if (!libComplete(lib, hash)) throw e;
  }
  rmf(old);
  say(`kafka: ${jars.length} jars resolved in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return lib;
}

function javaArgs(lib, logName) {
  return [
    `-Dlog4j2.configurationFile=${LOG4J}`,
    `-Dkafka.logs.dir=${RUNTIME}`,
    `-Dd4.log.name=${logName}`,
    '-Djava.awt.headless=true',
    '-cp',
    `${lib}${path.sep}*`, // expanded by java itself, not by a shell
  ];
}

function runTool(java, lib, args) {
  const r = spawnSync(java, [...javaArgs(lib, 'tools'), 'kafka.tools.StorageTool', ...args], {
    encoding: 'utf8',
    cwd: RUNTIME,
  });
  if (r.error || r.status !== 0) {
    die(
      `StorageTool ${args[0]} failed (exit ${r.status ?? r.error?.message}):\n` +
        `${r.stdout ?? ''}${r.stderr ?? ''}\nsee also ${F.toolsLog}`,
    );
  }
  return r.stdout;
}

// --- server.properties ------------------------------------------------------------------------

function serverProperties({ port, controllerPort }, tls) {
  const listeners = tls
    ? saslSslListenerProperties({ host: HOST, port, controllerPort }, tls)
    : `listeners=PLAINTEXT://${HOST}:${port},CONTROLLER://${HOST}:${controllerPort}
advertised.listeners=PLAINTEXT://${HOST}:${port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
`;
  return `# Generated by scripts/kafka.mjs on every \`up\`: change the script, not this file.
# Single node, KRaft, broker and controller in one JVM, loopback only.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=${HOST}:${controllerPort}
${listeners}
log.dirs=${F.data}

# One node: every internal topic has replication factor 1 and min ISR 1, or group offsets,
# transactions and share groups would wait forever for replicas that cannot exist.
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
share.coordinator.state.topic.num.partitions=4

# Topics: the product creates its own; auto-creation stays on (Kafka's default) for tools.
num.partitions=1
auto.create.topics.enable=true
delete.topic.enable=true

# Tests should not wait 3 s for a consumer group's first rebalance.
group.initial.rebalance.delay.ms=0

# Development data is kept until deleted by hand (about 10 years); small segments.
log.retention.hours=87600
log.retention.bytes=-1
log.segment.bytes=16777216

# A 2-core machine.
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
background.threads=4
`;
}

// --- commands ---------------------------------------------------------------------------------

function brokerInfo(pid, ports, extra = {}) {
  return {
    bootstrap: `${HOST}:${ports.port}`,
    port: ports.port,
    controllerPort: ports.controllerPort,
    pid,
    kafkaVersion: kafkaVersion(),
    securityProtocol: MODE,
    ...extra,
  };
}

// The state of this runtime dir's broker: { pid, running, ports }.
function inspect() {
  const pid = readPid();
  const running = pid != null && pidIsOurBroker(pid);
  const json = readJson(F.json);
  const ports =
    json && validPort(json.port) && validPort(json.controllerPort)
      ? { port: json.port, controllerPort: json.controllerPort }
      : configuredPorts();
  return { pid, running, ports, json };
}

function clusterIdOf() {
  const t = readText(path.join(F.data, 'meta.properties'));
  return t?.match(/^cluster\.id=(.+)$/m)?.[1]?.trim() ?? null;
}

async function waitReady(pid, ports, logOffset, deadline) {
  let seen = false;
  for (;;) {
    if (!pidAlive(pid)) return { ok: false, why: `the broker JVM (pid ${pid}) exited during startup` };
    if (!seen) {
      const t = readText(F.log) ?? '';
      // If the log rolled over meanwhile, search all of it.
      const from = Buffer.byteLength(t) >= logOffset ? logOffset : 0;
      const fresh = Buffer.from(t).subarray(from).toString();
      if (fresh.includes(STARTED_LINE)) seen = true;
      else if (/Address already in use|BindException/.test(fresh)) {
        return { ok: false, why: 'a port was taken between the check and the bind', fatal: true };
      }
    }
    if (seen && (await portAnswers(ports.port))) return { ok: true };
    if (Date.now() > deadline) return { ok: false, why: `not ready after ${START_TIMEOUT_MS / 1000} s` };
    await sleep(200);
  }
}

async function stopPid(pid) {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return 'gone';
  }
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (!pidAlive(pid)) return 'terminated';
    await sleep(200);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return 'terminated';
  }
  for (let i = 0; i < 50 && pidAlive(pid); i++) await sleep(100);
  return 'killed';
}

// One `up` at a time per runtime dir (test runners may start several): the others wait, then
// find the broker running. A lock whose owner died is taken over.
async function withUpLock(fn) {
  fs.mkdirSync(RUNTIME, { recursive: true });
  const deadline = Date.now() + START_TIMEOUT_MS + 120_000;
  let told = false;
  for (;;) {
    try {
      const fd = fs.openSync(F.lock, 'wx');
      fs.writeSync(fd, `${process.pid}\n`);
      fs.closeSync(fd);
      break;
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
      const owner = Number.parseInt(readText(F.lock) ?? '', 10);
      if (Number.isInteger(owner) && !pidAlive(owner)) {
        rmf(F.lock);
        continue;
      }
      if (Date.now() > deadline) die(`${F.lock} is held by pid ${owner}; remove it if that is not an \`up\``);
      if (!told) say(`kafka: another up (pid ${owner}) is in progress; waiting for it`);
      told = true;
      await sleep(250);
    }
  }
  const release = () => {
    if (readText(F.lock)?.trim() === String(process.pid)) rmf(F.lock);
  };
  process.on('exit', release); // die() exits without unwinding
  try {
    return await fn();
  } finally {
    release();
  }
}

async function up() {
  const t0 = Date.now();

  const st = inspect();
  if (st.running) {
    if (!st.ports) die(`pid ${st.pid} runs but its ports are unknown; run down, then up`);
    if (!(await portAnswers(st.ports.port))) {
      // Probably a concurrent `up` still starting it: wait for the port.
      const deadline = Date.now() + START_TIMEOUT_MS;
      while (!(await portAnswers(st.ports.port))) {
        if (!pidAlive(st.pid) || Date.now() > deadline) {
          die(`broker pid ${st.pid} runs but ${HOST}:${st.ports.port} does not answer; see ${F.log}`);
        }
        await sleep(250);
      }
    }
    const runningMode = st.json?.securityProtocol ?? (/^listeners=.*SASL_SSL:/m.test(readText(F.props) ?? '') ? 'SASL_SSL' : 'PLAINTEXT');
    if (runningMode !== MODE) {
      die(`the broker of ${RUNTIME} runs with a ${runningMode} listener, not ${MODE}: run down first (data is kept), or use another D4_KAFKA_DIR`);
    }
    if (!st.json) {
      writeAtomic(
        F.json,
        `${JSON.stringify(brokerInfo(st.pid, st.ports, { clusterId: clusterIdOf(), logFile: F.log }), null, 2)}\n`,
      );
    }
    say(`kafka: already running at ${HOST}:${st.ports.port} (pid ${st.pid})${st.json?.clientConfig ? `; client config ${st.json.clientConfig}` : ''}`);
    say(`${HOST}:${st.ports.port}`);
    return;
  }
  if (st.pid != null) {
    if (pidAlive(st.pid)) say(`kafka: pid file names pid ${st.pid}, which is not this dir's broker; ignoring it`);
    rmf(F.pid);
  }
  rmf(F.json);

  const version = kafkaVersion();
  const java = checkJava();
  const lib = ensureLib(version);
  const ports = await choosePorts();
  const tls = SASL_SSL ? ensureTls(RUNTIME, die, say) : undefined;
  writeAtomic(F.props, serverProperties(ports, tls));
  if (tls) fs.chmodSync(F.props, 0o600); // it holds the keystore and admin passwords

  // Format the KRaft storage once. Without meta.properties the dir was never fully formatted.
  if (!fs.existsSync(path.join(F.data, 'meta.properties'))) {
    rmf(F.data);
    const clusterId = runTool(java, lib, ['random-uuid']).trim().split('\n').pop().trim();
    if (!/^[A-Za-z0-9_-]{22}$/.test(clusterId)) die(`unexpected cluster id from StorageTool: '${clusterId}'`);
    runTool(java, lib, ['format', '--standalone', '-t', clusterId, '-c', F.props]);
    say(`kafka: formatted ${F.data} (cluster id ${clusterId})`);
  }

  const logOffset = fs.existsSync(F.log) ? fs.statSync(F.log).size : 0;
  const out = fs.openSync(F.out, 'a');
  fs.writeSync(out, `\n=== ${new Date().toISOString()} starting Kafka ${version} on ${HOST}:${ports.port} ===\n`);
  const child = spawn(
    java,
    [
      '-Xms512m',
      '-Xmx512m',
      // Kafka's own defaults from kafka-server-start.sh / kafka-run-class.sh:
      '-XX:+UseG1GC',
      '-XX:MaxGCPauseMillis=20',
      '-XX:InitiatingHeapOccupancyPercent=35',
      '-XX:+ExplicitGCInvokesConcurrent',
      ...javaArgs(lib, 'broker'),
      'kafka.Kafka',
      F.props,
    ],
    { cwd: RUNTIME, detached: true, stdio: ['ignore', out, out] },
  );
  fs.closeSync(out);
  const pid = child.pid;
  if (pid == null) die(`could not start ${java}`);
  child.unref();
  writeAtomic(F.pid, `${pid}\n`);

  const r = await waitReady(pid, ports, logOffset, Date.now() + START_TIMEOUT_MS);
  if (!r.ok) {
    if (pidAlive(pid)) await stopPid(pid);
    rmf(F.pid);
    die(
      `Kafka did not start: ${r.why}.\n` +
        `--- last lines of ${F.log} ---\n${tail(F.log)}\n` +
        `--- last lines of ${F.out} ---\n${tail(F.out, 15)}\n` +
        `Full logs: ${F.log} and ${F.out}` +
        (r.fatal ? '\nRun up again: it will pick free ports.' : ''),
    );
  }
  let clientConfig;
  if (tls) {
    createScramUsers(java, javaArgs(lib, 'tools'), `${HOST}:${ports.port}`, tls, clusterIdOf(), die, say);
    clientConfig = writeClientConfigs(RUNTIME, `${HOST}:${ports.port}`, tls).scram256;
    say(`kafka: SASL_SSL only; client config ${clientConfig} (d4 --kafka-config ${path.relative(process.cwd(), clientConfig)}, or export D4_KAFKA_CONFIG)`);
  }
  const info = brokerInfo(pid, ports, {
    clusterId: clusterIdOf(),
    logFile: F.log,
    startedAt: new Date().toISOString(),
    ...(clientConfig ? { clientConfig } : {}),
  });
  writeAtomic(F.json, `${JSON.stringify(info, null, 2)}\n`);
  say(
    `kafka: Kafka ${version} running at ${HOST}:${ports.port} (pid ${pid}, ` +
      `${((Date.now() - t0) / 1000).toFixed(1)} s); log ${F.log}`,
  );
  say(`${HOST}:${ports.port}`);
}

async function down() {
  const st = inspect();
  if (st.pid == null || !pidAlive(st.pid)) {
    rmf(F.pid);
    rmf(F.json);
    say('kafka: not running');
    return;
  }
  if (!st.running) {
    say(`kafka: pid ${st.pid} from ${F.pid} is not this dir's broker (pid reused?); not touching it`);
    rmf(F.pid);
    rmf(F.json);
    return;
  }
  const t0 = Date.now();
  const how = await stopPid(st.pid);
  if (pidAlive(st.pid)) die(`pid ${st.pid} is still alive after SIGKILL`);
  rmf(F.pid);
  rmf(F.json);
  say(`kafka: stopped pid ${st.pid} (${how}, ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
}

async function status() {
  const st = inspect();
  if (!st.running) {
    say(`kafka: not running (dir ${RUNTIME})`);
    return 1;
  }
  const port = st.ports?.port;
  if (port == null || !(await portAnswers(port))) {
    say(`kafka: pid ${st.pid} runs but ${HOST}:${port ?? '?'} does not answer (starting?)`);
    return 1;
  }
  say(`kafka: running at ${HOST}:${port} (pid ${st.pid}, Kafka ${st.json?.kafkaVersion ?? kafkaVersion()}, dir ${RUNTIME})`);
  say(`${HOST}:${port}`);
  return 0;
}

// --- main -------------------------------------------------------------------------------------

const cmd = process.argv[2];
switch (cmd) {
  case 'up':
    await withUpLock(up);
    break;
  case 'down':
    await down();
    break;
  case 'status':
    process.exitCode = await status();
    break;
  case undefined:
  case '-h':
  case '--help':
  case 'help':
    process.stdout.write(usage());
    if (cmd === undefined) process.exitCode = 2;
    break;
  default:
    process.stderr.write(`kafka: unknown command '${cmd}'\n\n${usage()}`);
    process.exitCode = 2;
}
