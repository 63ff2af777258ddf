#!/usr/bin/env node
// A real Schema Registry on loopback for development and the test suite, provisioned like the
// broker (scripts/kafka.mjs): Apicurio Registry's prebuilt Quarkus distribution from Maven Central
// (io.apicurio:apicurio-registry-app:<v>:tar.gz:all), run as a plain `java -jar` in the
// background, in-memory storage, with its Confluent-compatible API under /apis/ccompat/v7.
//
//   node scripts/registry.mjs up | down | status | --help
//
// Why Apicurio: no Confluent Schema Registry or Karapace package is reachable from these machines;
// Apicurio is on Maven Central and speaks the Confluent API that confluent-kafka's
// SchemaRegistryClient and d4's --schema-registry use. 3.0.9 is the newest that runs on Java 17
// (3.3.x is compiled for Java 21).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pidAlive, portFree, readJson, readText, sleep } from './lib/host.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const VERSION = process.env.D4_REGISTRY_VERSION || '3.0.9';
const HOST = '127.0.0.1';
const DEFAULT_PORT = 18081;
const START_TIMEOUT_MS = 120_000;
const API = '/apis/ccompat/v7';
const RUNTIME = process.env.D4_REGISTRY_DIR ? path.resolve(process.env.D4_REGISTRY_DIR) : path.join(ROOT, '.d4', 'registry');
// up --https <keystore.p12>: TLS only (no plain HTTP port), the keystore's password from
// $D4_REGISTRY_KEYSTORE_PASSWORD (handed to Quarkus through its environment, not the command line).
const HTTPS_AT = process.argv.indexOf('--https');
const KEYSTORE = HTTPS_AT > 0 ? process.argv[HTTPS_AT + 1] : undefined;
const F = {
  pid: path.join(RUNTIME, 'registry.pid'),
  json: path.join(RUNTIME, 'registry.json'),
  log: path.join(RUNTIME, 'registry.log'),
};

function usage() {
  return `Usage: node scripts/registry.mjs <command>

Apicurio Registry ${VERSION} on ${HOST} only, in-memory (a restart forgets every schema), with
the Confluent-compatible API at http://${HOST}:<port>${API} (d4 --schema-registry <that URL>).

Commands:
  up [--https <keystore.p12>]
          Start it in the background and wait until the API answers (at most ${START_TIMEOUT_MS / 1000} s); set
          the global compatibility to BACKWARD (Confluent's default; Apicurio's is NONE). If it already
          runs, print its URL. The first up downloads the distribution (~110 MB) with Maven into
          ~/.m2 and unpacks it into \${XDG_CACHE_HOME:-~/.cache}/d4stream/apicurio-registry-${VERSION};
          later ups are offline. The last line printed is the base URL. --https: TLS only, with
          that PKCS12 keystore (password in $D4_REGISTRY_KEYSTORE_PASSWORD).
  down    Stop it (SIGTERM, then SIGKILL after 20 s). Exit 0 also when nothing runs.
  status  Print whether it runs and its URL. Exit 0 if it answers, 1 if not.

Runtime dir (${path.relative(process.cwd(), RUNTIME) || '.'}): registry.json {"url","port","pid","version"}, registry.pid,
registry.log (the JVM's output).

Environment: D4_REGISTRY_PORT (first port tried, default ${DEFAULT_PORT}), D4_REGISTRY_DIR, D4_REGISTRY_VERSION,
XDG_CACHE_HOME, JAVA_HOME. Needs Java 17+, and Maven for the first up.
`;
}

function die(msg, code = 1) {
  process.stderr.write(`registry: ${msg}\n`);
  process.exit(code);
}
const say = (m) => process.stdout.write(`${m}\n`);

/** True when pid is this runtime dir's registry JVM (guards against a recycled pid). */
function pidIsOurs(pid) {
  if (!pidAlive(pid)) return false;
  const cmd = readText(`/proc/${pid}/cmdline`);
  if (cmd == null) return true;
  return cmd.includes('apicurio-registry') && cmd.includes(`-Dd4.registry.dir=${RUNTIME}`);
}

function request(method, url, body) {
  return new Promise((resolve) => {
    const lib = url.startsWith('https:') ? https : http;
    // Probing our own loopback server: its certificate is the one we gave it.
    const req = lib.request(url, { method, timeout: 3000, rejectUnauthorized: false, headers: body ? { 'content-type': 'application/vnd.schemaregistry.v1+json' } : {} }, (res) => {
      let data = '';
      res.on('data', (d) => { data += d; });
      res.on('end', () => resolve({ status: res.statusCode, body: data }));
    });
    req.on('error', () => resolve({ status: 0, body: '' }));
    req.on('timeout', () => req.destroy());
    if (body) req.write(JSON.stringify(body));
    req.end();
  });
}

let scheme = 'http';
const baseUrl = (port) => `${scheme}://${HOST}:${port}${API}`;
const answers = async (port) => (await request('GET', `${baseUrl(port)}/subjects`)).status === 200;

function javaBin() {
  return process.env.JAVA_HOME ? path.join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
}

/** The unpacked distribution, downloading it with Maven the first time. */
function ensureDistribution() {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  const dir = path.join(base, 'd4stream', `apicurio-registry-${VERSION}`);
  const marker = path.join(dir, '.d4stream-complete');
  const jar = () => ['quarkus-run.jar', `apicurio-registry-app-${VERSION}-runner.jar`].map((j) => path.join(dir, j)).find((j) => fs.existsSync(j));
  if (fs.existsSync(marker) && jar()) return jar();

  const m2 = process.env.MAVEN_REPO || path.join(os.homedir(), '.m2', 'repository');
  const tgz = path.join(m2, 'io', 'apicurio', 'apicurio-registry-app', VERSION, `apicurio-registry-app-${VERSION}-all.tar.gz`);
  if (!fs.existsSync(tgz)) {
    if (spawnSync('mvn', ['-v'], { stdio: 'ignore' }).error) die('Maven (mvn) is needed once, to download Apicurio Registry from Maven Central (apt-get install maven)');
    say(`registry: downloading io.apicurio:apicurio-registry-app:${VERSION}:tar.gz:all with Maven (once, ~110 MB) ...`);
    const r = spawnSync('mvn', ['-q', '-B', 'dependency:get', `-Dartifact=io.apicurio:apicurio-registry-app:${VERSION}:tar.gz:all`, '-Dtransitive=false'], { encoding: 'utf8', maxBuffer: 64 << 20 });
    if (r.status !== 0 || !fs.existsSync(tgz)) die(`Maven could not download the registry (exit ${r.status}); the first up needs Maven Central.\n${`${r.stdout}${r.stderr}`.replace(/\x1b\[[0-9;]*m/g, '').trim()}`);
  }
  const tmp = `${dir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  const r = spawnSync('tar', ['-xzf', tgz, '-C', tmp], { encoding: 'utf8' });
  if (r.status !== 0) { fs.rmSync(tmp, { recursive: true, force: true }); die(`cannot unpack ${tgz}: ${r.stderr}`); }
  fs.writeFileSync(path.join(tmp, '.d4stream-complete'), `${new Date().toISOString()}\n`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(tmp, dir);
  const j = jar();
  if (!j) die(`${dir} holds no runner jar`);
  return j;
}

function checkJava(jar) {
  const r = spawnSync(javaBin(), ['-version'], { encoding: 'utf8' });
  if (r.error) die(`cannot run '${javaBin()}': Apicurio Registry needs Java 17+ (or JAVA_HOME)`);
  const major = Number(`${r.stderr}${r.stdout}`.match(/version "(\d+)/)?.[1]);
  if (!(major >= 17)) die(`Java ${major} found; Apicurio Registry ${VERSION} needs Java 17+`);
  if (/quarkus-run\.jar$/.test(jar) && major < 21) die(`Apicurio Registry ${VERSION} is compiled for Java 21+ and this is Java ${major}: use D4_REGISTRY_VERSION=3.0.9 or a newer JAVA_HOME`);
}

function inspect() {
  const pid = Number.parseInt(readText(F.pid) ?? '', 10);
  const json = readJson(F.json);
  return { pid: Number.isInteger(pid) ? pid : null, running: Number.isInteger(pid) && pidIsOurs(pid), json };
}

async function up() {
  const t0 = Date.now();
  fs.mkdirSync(RUNTIME, { recursive: true });
  const st = inspect();
  if (st.json?.url?.startsWith('https:')) scheme = 'https';
  if (st.running && st.json?.port) {
    if (Boolean(KEYSTORE) !== (scheme === 'https')) die(`the registry of ${RUNTIME} runs with ${scheme.toUpperCase()}: run down first, or use another D4_REGISTRY_DIR`);
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!(await answers(st.json.port))) {
      if (!pidAlive(st.pid) || Date.now() > deadline) die(`pid ${st.pid} runs but ${baseUrl(st.json.port)} does not answer; see ${F.log}`);
      await sleep(250);
    }
    say(`registry: already running (pid ${st.pid})`);
    say(baseUrl(st.json.port));
    return;
  }
  const jar = ensureDistribution();
  checkJava(jar);
  let port = Number(process.env.D4_REGISTRY_PORT || DEFAULT_PORT);
  let tries = 0;
  while (!(await portFree(HOST, port)) || !(await portFree(HOST, port + 1))) {
    if (++tries > 50) die(`no free port from ${DEFAULT_PORT} upwards; set D4_REGISTRY_PORT`);
    port += 2;
  }
  let tlsArgs = [];
  const env = { ...process.env };
  if (KEYSTORE) {
    if (!fs.existsSync(KEYSTORE)) die(`--https ${KEYSTORE}: no such keystore (PKCS12)`);
    scheme = 'https';
    tlsArgs = [`-Dquarkus.http.ssl-port=${port}`, '-Dquarkus.http.insecure-requests=disabled', `-Dquarkus.http.ssl.certificate.key-store-file=${path.resolve(KEYSTORE)}`];
    env.QUARKUS_HTTP_SSL_CERTIFICATE_KEY_STORE_PASSWORD = process.env.D4_REGISTRY_KEYSTORE_PASSWORD ?? '';
  }
  const out = fs.openSync(F.log, 'a');
  fs.writeSync(out, `\n=== ${new Date().toISOString()} starting Apicurio Registry ${VERSION} on ${HOST}:${port} ===\n`);
  const child = spawn(javaBin(), [
    '-Xms128m', '-Xmx512m',
    `-Dd4.registry.dir=${RUNTIME}`,
    `-Dquarkus.http.host=${HOST}`, `-Dquarkus.http.port=${port}`,
    // 3.3+ opens a management port on 0.0.0.0:9000 unless told otherwise.
    `-Dquarkus.management.host=${HOST}`, `-Dquarkus.management.port=${port + 1}`,
    ...tlsArgs,
    '-jar', jar,
  ], { cwd: RUNTIME, detached: true, stdio: ['ignore', out, out], env });
  fs.closeSync(out);
  child.unref();
  fs.writeFileSync(F.pid, `${child.pid}\n`);
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!(await answers(port))) {
    if (!pidAlive(child.pid)) {
      fs.rmSync(F.pid, { force: true });
      die(`the registry JVM exited during startup; last lines of ${F.log}:\n${(readText(F.log) ?? '').split('\n').slice(-25).join('\n')}`);
    }
    if (Date.now() > deadline) die(`not ready after ${START_TIMEOUT_MS / 1000} s; see ${F.log}`);
    await sleep(250);
  }
  const cfg = await request('PUT', `${baseUrl(port)}/config`, { compatibility: 'BACKWARD' });
  if (cfg.status !== 200) die(`could not set the global compatibility to BACKWARD (HTTP ${cfg.status}: ${cfg.body})`);
  fs.writeFileSync(F.json, `${JSON.stringify({ url: baseUrl(port), port, pid: child.pid, version: VERSION, startedAt: new Date().toISOString() }, null, 2)}\n`);
  say(`registry: Apicurio Registry ${VERSION} running (pid ${child.pid}, ${((Date.now() - t0) / 1000).toFixed(1)} s, in-memory, compatibility BACKWARD); log ${F.log}`);
  say(baseUrl(port));
}

async function down() {
  const st = inspect();
  if (!st.running) {
    fs.rmSync(F.pid, { force: true });
    fs.rmSync(F.json, { force: true });
    say('registry: not running');
    return;
  }
  process.kill(st.pid, 'SIGTERM');
  const deadline = Date.now() + 20_000;
  while (pidAlive(st.pid) && Date.now() < deadline) await sleep(200);
  if (pidAlive(st.pid)) process.kill(st.pid, 'SIGKILL');
  fs.rmSync(F.pid, { force: true });
  fs.rmSync(F.json, { force: true });
  say(`registry: stopped pid ${st.pid}`);
}

async function status() {
  const st = inspect();
  if (st.json?.url?.startsWith('https:')) scheme = 'https';
  if (!st.running || !st.json?.port || !(await answers(st.json.port))) {
    say(`registry: not running (dir ${RUNTIME})`);
    return 1;
  }
  say(`registry: running (pid ${st.pid}, Apicurio Registry ${st.json.version})`);
  say(baseUrl(st.json.port));
  return 0;
}

const cmd = process.argv[2];
if (cmd === 'up') await up();
else if (cmd === 'down') await down();
else if (cmd === 'status') process.exitCode = await status();
else {
  process.stdout.write(usage());
  if (!['-h', '--help', 'help'].includes(cmd)) process.exitCode = 2;
}
