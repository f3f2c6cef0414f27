// deploy/k8s checked offline (ctest deploy.k8s.<case>; k8s_check.mjs does the checking):
//   manifests    every object parses, validates against the Kubernetes API schemas
//                (kubernetes-models 4.x), has no unknown field, and the cross-references hold
//   negative     the checks can fail: a deliberately broken file is rejected with each of its
//                errors, and each single mutation of the real manifests is caught
//   kustomize    `kubectl kustomize` (when kubectl is installed) renders the same objects,
//                and they pass the same checks
//   server_args  the real uringrpc-server accepts the Deployment's arguments: it starts with
//                them (addresses moved to loopback, a test certificate in place of the Secret),
//                serves /readyz, and drains and exits 0 on SIGTERM
//   secret_rotation  the same server, its certificate in a directory laid out the way the
//                kubelet writes a Secret volume (tls.crt -> ..data/tls.crt, ..data -> a
//                timestamped directory); the kubelet's update (a new directory, ..data swapped
//                by rename, the old one removed) is picked up: new handshakes get the new
//                certificate within a few seconds, without a signal
// Exit 0 pass, 1 fail, 77 skip (a missing prerequisite, said why).
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import tls from "node:tls";
import { request } from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, "../..");
const K8S = path.join(REPO, "deploy/k8s");
const SKIP = 77;

function arg(name) {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

if (!existsSync(path.join(HERE, "node_modules/kubernetes-models/package.json"))) {
  console.log(`SKIP: ${HERE}/node_modules has no kubernetes-models: run deploy/install-deps.sh`);
  process.exit(SKIP);
}
const chk = await import("./k8s_check.mjs");
const OPTS = { server: true, seccompDir: path.join(REPO, "deploy") };

class Failure extends Error {}
const fail = (msg) => {
  throw new Failure(msg);
};

function load() {
  const r = chk.loadKustomization(K8S);
  if (r.errors.length) fail(`loading ${K8S}:\n  ${r.errors.join("\n  ")}`);
  return r.docs;
}
const find = (docs, kind, name) => docs.find((d) => d.obj.kind === kind && d.obj.metadata.name === name).obj;
const server = (docs) => find(docs, "Deployment", "uringrpc").spec.template.spec.containers[0];
const setArg = (c, flag, value) => {
  c.args = c.args.map((a) => (a.startsWith(flag + "=") ? `${flag}=${value}` : a));
};

async function caseManifests() {
  const docs = load();
  const kinds = docs.map((d) => `${d.obj.kind}/${d.obj.metadata.name}`).sort();
  const want = ["Deployment/uringrpc", "HorizontalPodAutoscaler/uringrpc", "PodDisruptionBudget/uringrpc",
    "Service/uringrpc", "Service/uringrpc-headless"];
  if (JSON.stringify(kinds) !== JSON.stringify(want)) fail(`objects ${kinds}, expected ${want}`);
  const errors = await chk.checkAll(docs, OPTS);
  if (errors.length) fail(`deploy/k8s does not validate:\n  ${errors.join("\n  ")}`);
  console.log(`ok: ${kinds.join(", ")} valid (schema, fields, references)`);
}

// Each mutation of the real manifests must be caught, with a message containing `expect`.
const MUTATIONS = [
  ["schema: replicas as a string", "/spec/replicas must be integer", (d) => { find(d, "Deployment", "uringrpc").spec.replicas = "3"; }],
  ["schema: a grpc probe port by name", "readinessProbe/grpc/port must be integer", (d) => { server(d).readinessProbe.grpc.port = "grpc"; }],
  ["schema: a seccomp type that does not exist", "must be equal to one of the allowed values", (d) => { find(d, "Deployment", "uringrpc").spec.template.spec.securityContext.seccompProfile.type = "Default"; }],
  ["schema: HPA without maxReplicas", "must have required property maxReplicas", (d) => { delete find(d, "HorizontalPodAutoscaler", "uringrpc").spec.maxReplicas; }],
  ["fields: a misspelt probe", "readinesProbe: unknown field (did you mean readinessProbe?)", (d) => { const c = server(d); c.readinesProbe = c.readinessProbe; delete c.readinessProbe; }],
  ["fields: a misspelt Service field", "appProtocl: unknown field", (d) => { const p = find(d, "Service", "uringrpc").spec.ports[0]; p.appProtocl = p.appProtocol; delete p.appProtocol; }],
  ["refs: Service selector", "matches no pod template", (d) => { find(d, "Service", "uringrpc").spec.selector["app.kubernetes.io/name"] = "uring-rpc"; }],
  ["refs: headless Service targetPort", "targetPort grpcs is no container port", (d) => { find(d, "Service", "uringrpc-headless").spec.ports[0].targetPort = "grpcs"; }],
  ["refs: Deployment selector", "spec.selector does not match", (d) => { find(d, "Deployment", "uringrpc").spec.selector.matchLabels["app.kubernetes.io/instance"] = "other"; }],
  ["refs: probe port", "livenessProbe port 50052 is not one of the container's ports", (d) => { server(d).livenessProbe.grpc.port = 50052; }],
  ["refs: probe on the TLS port", "grpc port 50443 is not the plaintext --listen port", (d) => { server(d).startupProbe.grpc.port = 50443; }],
  ["refs: mount without volume", "volumeMount tls names no volume", (d) => { find(d, "Deployment", "uringrpc").spec.template.spec.volumes[0].name = "certs"; }],
  ["refs: Secret volume without a name", "names no Secret", (d) => { delete find(d, "Deployment", "uringrpc").spec.template.spec.volumes[0].secret.secretName; }],
  ["refs: certificate outside the Secret mount", "is not in a mounted Secret volume", (d) => { setArg(server(d), "--tls-cert", "/etc/tls/tls.crt"); }],
  ["refs: certificate not a key of the Secret", "has no server.pem", (d) => { setArg(server(d), "--tls-cert", "/etc/uringrpc/tls/server.pem"); }],
  ["refs: certificate through subPath", "subPath mount, which rotation never updates", (d) => { server(d).volumeMounts[0].subPath = "tls.crt"; }],
  ["refs: HPA target", "scaleTargetRef apps/v1 Deployment uring is not defined here", (d) => { find(d, "HorizontalPodAutoscaler", "uringrpc").spec.scaleTargetRef.name = "uring"; }],
  ["refs: HPA without CPU request", "requests no cpu", (d) => { delete server(d).resources.requests.cpu; }],
  ["refs: PDB selector", "PodDisruptionBudget uringrpc: selector matches no pod template", (d) => { find(d, "PodDisruptionBudget", "uringrpc").spec.selector.matchLabels["app.kubernetes.io/name"] = "x"; }],
  ["refs: topology spread selector", "selects other pods than its own", (d) => { find(d, "Deployment", "uringrpc").spec.template.spec.topologySpreadConstraints[0].labelSelector.matchLabels["app.kubernetes.io/name"] = "x"; }],
  ["refs: Prometheus port", "prometheus.io/port 9091 is no container port", (d) => { find(d, "Deployment", "uringrpc").spec.template.metadata.annotations["prometheus.io/port"] = "9091"; }],
  ["refs: admin port", "--admin-listen port 9091 is not the port named admin", (d) => { setArg(server(d), "--admin-listen", "[::]:9091"); }],
  ["refs: grace period", "terminationGracePeriodSeconds 25 is not above preStop 5 s + --shutdown-grace 20 s", (d) => { find(d, "Deployment", "uringrpc").spec.template.spec.terminationGracePeriodSeconds = 25; }],
  ["refs: no CPU limit", "no CPU limit", (d) => { delete server(d).resources.limits.cpu; }],
  ["refs: root", "runAsUser is not 65532", (d) => { server(d).securityContext.runAsUser = 0; }],
  ["refs: writable root", "readOnlyRootFilesystem is not true", (d) => { server(d).securityContext.readOnlyRootFilesystem = false; }],
  ["refs: capabilities", "capabilities do not drop ALL", (d) => { server(d).securityContext.capabilities.drop = ["NET_RAW"]; }],
  ["refs: seccomp profile name", "localhostProfile uringrpc.json", (d) => { find(d, "Deployment", "uringrpc").spec.template.spec.securityContext.seccompProfile.localhostProfile = "uringrpc.json"; }],
  ["refs: no seccomp", "no seccompProfile (Unconfined)", (d) => { delete find(d, "Deployment", "uringrpc").spec.template.spec.securityContext.seccompProfile; }],
];

async function caseNegative() {
  // 1. The broken file, through the command line a person would use.
  const broken = path.join(HERE, "broken/manifests.yaml");
  const r = spawnSync(process.execPath, [path.join(HERE, "k8s_check.mjs"), broken], { encoding: "utf8", timeout: 30000 });
  if (r.status !== 1) fail(`k8s_check.mjs ${broken} exited ${r.status}, expected 1:\n${r.stdout}${r.stderr}`);
  for (const want of ["/spec/replicas must be integer", "readinessProbe/grpc/port must be integer",
    "startupProb: unknown field (did you mean startupProbe?)", "livenessProbe port 50052 is not one of the container's ports",
    "Service broken: selector {\"app\":\"brokn\"} matches no pod template"])
    if (!r.stdout.includes(want)) fail(`k8s_check.mjs ${broken} did not report '${want}':\n${r.stdout}`);
  console.log(`ok: ${path.relative(REPO, broken)} rejected (${r.stdout.trim().split("\n").length - 1} errors)`);

  // 2. The real manifests pass, and each mutation of them fails with its own message.
  const clean = await chk.checkAll(load(), OPTS);
  if (clean.length) fail(`the unmutated manifests fail:\n  ${clean.join("\n  ")}`);
  const missed = [];
  for (const [what, expect, mutate] of MUTATIONS) {
    const docs = load();
    mutate(docs);
    const errors = await chk.checkAll(docs, OPTS);
    if (!errors.some((e) => e.includes(expect))) missed.push(`${what}: expected '${expect}', got:\n    ${errors.join("\n    ") || "(no error)"}`);
  }
  if (missed.length) fail(`mutations not caught:\n  ${missed.join("\n  ")}`);
  console.log(`ok: ${MUTATIONS.length} mutations of deploy/k8s each caught`);

  // 3. YAML the API server reads differently from YAML 1.2 (an octal mode), and the
  //    kustomization's own rules: an unlisted manifest, a listed file that is missing.
  const amb = chk.parseText("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {mode: 0440}\n");
  if (!amb.errors.some((e) => e.includes("/data/mode reads differently as YAML 1.1")))
    fail(`an octal scalar was not flagged: ${amb.errors}`);
  const tmp = mkdtempSync(path.join(os.tmpdir(), "k8s-check-"));
  try {
    cpSync(K8S, tmp, { recursive: true });
    writeFileSync(path.join(tmp, "extra.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n");
    unlinkSync(path.join(tmp, "pdb.yaml"));
    const k = chk.loadKustomization(tmp);
    for (const want of ["extra.yaml: not listed in kustomization.yaml", "resource pdb.yaml is not a file here"])
      if (!k.errors.some((e) => e.includes(want))) fail(`kustomization check missed '${want}': ${k.errors}`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  console.log("ok: ambiguous YAML and kustomization mistakes caught");
}

async function caseKustomize() {
  const kubectl = ["/usr/bin/kubectl", "/usr/local/bin/kubectl"].find((p) => existsSync(p));
  if (!kubectl) {
    console.log("SKIP: no kubectl to run kustomize with");
    process.exit(SKIP);
  }
  const out = spawnSync(kubectl, ["kustomize", K8S], { encoding: "utf8", timeout: 30000 });
  if (out.status !== 0) fail(`kubectl kustomize ${K8S}: ${out.stderr}`);
  const rendered = chk.parseText(out.stdout, "kubectl kustomize");
  if (rendered.errors.length) fail(rendered.errors.join("\n"));
  const src = load();
  const key = (o) => `${o.kind}/${o.metadata.name}`;
  const a = rendered.docs.map((d) => key(d.obj)).sort(), b = src.map((d) => key(d.obj)).sort();
  if (JSON.stringify(a) !== JSON.stringify(b)) fail(`kustomize renders ${a}, the files hold ${b}`);
  // Only `images` may change anything, and it names the same image.
  for (const d of rendered.docs) {
    const s = src.find((x) => key(x.obj) === key(d.obj)).obj;
    if (JSON.stringify(sortKeys(d.obj)) !== JSON.stringify(sortKeys(s)))
      fail(`kustomize changed ${key(d.obj)}:\n${JSON.stringify(d.obj)}\nvs\n${JSON.stringify(s)}`);
  }
  const errors = await chk.checkAll(rendered.docs, OPTS);
  if (errors.length) fail(`the rendered manifests do not validate:\n  ${errors.join("\n  ")}`);
  const v = spawnSync(kubectl, ["version", "--client"], { encoding: "utf8" }).stdout.split("\n").filter(Boolean).join(", ");
  console.log(`ok: kubectl kustomize (${v}) renders ${a.length} objects, same as the files, valid`);
}

function sortKeys(v) {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === "object") return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys(v[k])]));
  return v;
}

function httpGet(port, p) {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path: p, timeout: 5000 }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode));
    });
    req.on("error", reject);
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.end();
  });
}

function makeCert(dir, cn) {
  mkdirSync(dir, { recursive: true });
  execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
    "-keyout", `${dir}/tls.key`, "-out", `${dir}/tls.crt`, "-days", "1", "-subj", `/CN=${cn}`,
    "-addext", "subjectAltName=DNS:uringrpc"], { stdio: "pipe", timeout: 30000 });
}

/** Starts the server with the Deployment's arguments, the pod's addresses moved to loopback and
 *  the Secret's mount point to `certDir`. Returns {child, line, out(), err(), exited, stop()}. */
async function startServer(certDir) {
  const bin = arg("--server");
  if (!bin || !existsSync(bin)) fail(`--server ${bin}: no such file`);
  const c = server(load());
  const mount = c.volumeMounts.find((m) => m.name === "tls").mountPath;
  const args = c.args.map((a) => a
    .replace(/^(--(?:listen|tls-listen|admin-listen))=\[::\]:\d+$/, "$1=127.0.0.1:0")
    .replace(mount, certDir));
  const stayed = args.filter((a) => /\[::\]|\/etc\//.test(a));
  if (stayed.length) fail(`arguments not moved to the test's addresses and files: ${stayed}`);
  const child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "", err = "";
  child.stdout.on("data", (b) => (out += b));
  child.stderr.on("data", (b) => (err += b));
  const exited = new Promise((resolve) => child.on("exit", (code, sig) => resolve({ code, sig })));
  const srv = { child, args, out: () => out, err: () => err, exited };
  srv.stop = async () => {
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 30000);
    const r = await exited;
    clearTimeout(timer);
    return r;
  };
  const t0 = Date.now();
  while (!/listening on .*admin=\S+/.test(out)) {
    if (child.exitCode !== null) fail(`uringrpc-server ${args.join(" ")} exited ${child.exitCode}:\n${out}${err}`);
    if (Date.now() - t0 > 15000) {
      child.kill("SIGKILL");
      fail(`uringrpc-server did not say it serves within 15 s:\n${out}${err}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  srv.line = out.split("\n").find((l) => l.includes("listening on")).trim();
  const port = (name) => Number(new RegExp(` ${name}=127\\.0\\.0\\.1:(\\d+)`).exec(srv.line)?.[1]);
  srv.tlsPort = port("tls");
  srv.adminPort = port("admin");
  if (!srv.tlsPort || !srv.adminPort) {
    child.kill("SIGKILL");
    fail(`no TLS or admin listener: ${srv.line}`);
  }
  return srv;
}

async function caseServerArgs() {
  const tmp = mkdtempSync(path.join(os.tmpdir(), "k8s-args-"));
  let srv = null;
  try {
    makeCert(tmp, "uringrpc");
    srv = await startServer(tmp);
    const ready = await httpGet(srv.adminPort, "/readyz");
    if (ready !== 200) fail(`/readyz answered ${ready}`);
    const { code, sig } = await srv.stop();
    const out = srv.out(), err = srv.err();
    srv = null;
    if (code !== 0) fail(`uringrpc-server exited ${code ?? sig} after SIGTERM:\n${out}${err}`);
    console.log(`ok: uringrpc-server accepts the Deployment's arguments: ${out.split("\n")[0]}`);
    if (err.trim()) console.log(`  stderr: ${err.trim().split("\n").join("\n  stderr: ")}`);
  } finally {
    if (srv) srv.child.kill("SIGKILL");
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** The certificate's subject CN that a new TLS handshake (ALPN h2) gets. */
function servedCN(port) {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: "127.0.0.1", port, ALPNProtocols: ["h2"], servername: "uringrpc",
      rejectUnauthorized: false, session: undefined }, () => {
      const cn = s.getPeerCertificate().subject?.CN;
      s.destroy();
      resolve(cn);
    });
    s.setTimeout(5000, () => s.destroy(new Error("TLS handshake timeout")));
    s.on("error", reject);
  });
}

/** A Secret volume's layout as the kubelet's atomic writer makes it, and its update. */
function secretVolume(dir) {
  let n = 0;
  const payload = (cn) => {
    const ts = `..2025_01_01_00_00_0${n++}.${process.pid}`;
    makeCert(path.join(dir, ts), cn);
    return ts;
  };
  return {
    create(cn) {
      mkdirSync(dir, { recursive: true });
      this.current = payload(cn);
      symlinkSync(this.current, path.join(dir, "..data"));
      for (const f of ["tls.crt", "tls.key"]) symlinkSync(path.join("..data", f), path.join(dir, f));
    },
    update(cn) {
      const old = this.current;
      this.current = payload(cn);
      symlinkSync(this.current, path.join(dir, "..data_tmp"));
      renameSync(path.join(dir, "..data_tmp"), path.join(dir, "..data")); // the atomic swap
      rmSync(path.join(dir, old), { recursive: true });
    },
  };
}

async function caseSecretRotation() {
  const tmp = mkdtempSync(path.join(os.tmpdir(), "k8s-secret-"));
  const vol = path.join(tmp, "tls");
  let srv = null;
  try {
    const sv = secretVolume(vol);
    sv.create("first");
    srv = await startServer(vol);
    const before = await servedCN(srv.tlsPort);
    if (before !== "first") fail(`the server presents CN=${before}, expected first`);
    sv.update("second");
    const t0 = Date.now();
    let after = before;
    while (after !== "second" && Date.now() - t0 < 10000) {
      await new Promise((r) => setTimeout(r, 200));
      after = await servedCN(srv.tlsPort);
    }
    const took = ((Date.now() - t0) / 1000).toFixed(1);
    if (after !== "second") fail(`after the ..data swap the server still presents CN=${after} (10 s):\n${srv.err()}`);
    if (!srv.err().includes("TLS certificate reloaded")) fail(`no reload line:\n${srv.err()}`);
    const { code } = await srv.stop();
    srv = null;
    if (code !== 0) fail(`exit ${code} after SIGTERM`);
    console.log(`ok: a Secret volume update (..data swapped) was picked up in ${took} s: CN first -> second`);
  } finally {
    if (srv) srv.child.kill("SIGKILL");
    rmSync(tmp, { recursive: true, force: true });
  }
}

const CASES = { manifests: caseManifests, negative: caseNegative, kustomize: caseKustomize, server_args: caseServerArgs,
  secret_rotation: caseSecretRotation };
const name = arg("--case");
if (!CASES[name]) {
  console.error(`usage: node test_k8s_manifests.mjs --case ${Object.keys(CASES).join("|")} [--server PATH]`);
  process.exit(2);
}
try {
  await CASES[name]();
} catch (e) {
  if (!(e instanceof Failure)) throw e;
  console.log(`FAIL: ${e.message}`);
  process.exit(1);
}
