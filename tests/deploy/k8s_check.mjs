// Checks Kubernetes manifests offline, in four passes, each returning a list of error strings:
//   parse   YAML as the API server reads it (YAML 1.1, like sigs.k8s.io/yaml) and as YAML 1.2;
//           a scalar the two read differently (0440, on, yes) is an error: it is ambiguous
//   schema  the Kubernetes API's OpenAPI schema, through kubernetes-models 4.x (ajv validators
//           compiled from the OpenAPI spec: types, required fields, enums, formats)
//   fields  unknown fields. The schemas above allow them (no additionalProperties: false), so a
//           typo such as `readinesProbe` would pass; the API server's strict field validation
//           would reject it. The known fields come from kubernetes-models' type declarations.
//   refs    what no schema can see: selectors against pod labels, Service and probe ports
//           against container ports, volumes, the HPA's target, the server's flags against
//           the ports, mounts and grace periods that must agree with them (checkRefs below)
//
// As a command: node k8s_check.mjs DIR-with-kustomization.yaml | FILE.yaml ...
// prints each error and exits 1 if there is any, else prints a summary and exits 0.
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import YAML from "yaml";

const require = createRequire(import.meta.url);
const MODELS_DIR = path.dirname(require.resolve("kubernetes-models/package.json"));
const APIMACHINERY_DIR = path.dirname(
  require.resolve("@kubernetes-models/apimachinery/package.json", { paths: [MODELS_DIR] })
);

// ---------------------------------------------------------------------------------------------
// parse

/** Every document of a YAML file: [{file, index, obj}] and errors. */
export function parseFile(file) {
  const text = readFileSync(file, "utf8");
  return parseText(text, file);
}

export function parseText(text, file = "<input>") {
  const errors = [];
  const docs = [];
  const d11 = YAML.parseAllDocuments(text, { version: "1.1", uniqueKeys: true });
  const d12 = YAML.parseAllDocuments(text, { version: "1.2", uniqueKeys: true });
  d11.forEach((doc, i) => {
    for (const e of doc.errors) errors.push(`${file}: document ${i + 1}: YAML: ${e.message}`);
    if (doc.errors.length) return;
    const obj = doc.toJS();
    if (obj === null || obj === undefined) return; // an empty document (a trailing ---)
    const obj12 = d12[i] && !d12[i].errors.length ? d12[i].toJS() : undefined;
    const diff = firstDifference(obj, obj12, "");
    if (diff !== null)
      errors.push(
        `${file}: document ${i + 1}: ${diff || "/"} reads differently as YAML 1.1 (the API ` +
          `server) and YAML 1.2: quote it, or write octal modes in decimal`
      );
    docs.push({ file, index: i, obj });
  });
  return { docs, errors };
}

function firstDifference(a, b, at) {
  if (typeof a !== typeof b || Array.isArray(a) !== Array.isArray(b) || (a === null) !== (b === null))
    return at;
  if (a && typeof a === "object") {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of keys) {
      const d = firstDifference(a[k], b[k], `${at}/${k}`);
      if (d !== null) return d;
    }
    return null;
  }
  return a === b ? null : at;
}

/** The resources a kustomization.yaml lists (files only; kustomize itself is not reimplemented:
 *  the kustomization may use `resources` and `images`, nothing that changes objects otherwise). */
export function loadKustomization(dir) {
  const errors = [];
  const kfile = path.join(dir, "kustomization.yaml");
  const { docs, errors: perr } = parseFile(kfile);
  errors.push(...perr);
  if (!docs.length) return { docs: [], errors: [...errors, `${kfile}: empty`] };
  const k = docs[0].obj;
  const allowed = new Set(["apiVersion", "kind", "resources", "images"]);
  for (const key of Object.keys(k))
    if (!allowed.has(key))
      errors.push(`${kfile}: '${key}' is not handled by this check (only ${[...allowed]})`);
  if (k.apiVersion !== "kustomize.config.k8s.io/v1beta1" || k.kind !== "Kustomization")
    errors.push(`${kfile}: not a kustomize.config.k8s.io/v1beta1 Kustomization`);
  const out = [];
  const listed = new Set();
  for (const r of k.resources || []) {
    const f = path.join(dir, r);
    listed.add(path.resolve(f));
    if (!existsSync(f) || !statSync(f).isFile()) {
      errors.push(`${kfile}: resource ${r} is not a file here`);
      continue;
    }
    const p = parseFile(f);
    errors.push(...p.errors);
    out.push(...p.docs);
  }
  // A manifest beside the kustomization that it does not list would silently not be deployed.
  for (const f of readdirSync(dir))
    if (/\.ya?ml$/.test(f) && f !== "kustomization.yaml" && !listed.has(path.resolve(dir, f)))
      errors.push(`${path.join(dir, f)}: not listed in kustomization.yaml resources`);
  // `images` rewrites container images by name; each entry must match one.
  for (const img of k.images || []) {
    const used = out.some((d) =>
      podSpecOf(d.obj)?.containers?.some((c) => (c.image || "").split(/[:@]/)[0] === img.name)
    );
    if (!used) errors.push(`${kfile}: images entry ${img.name} matches no container image`);
  }
  return { docs: out, errors, kustomization: k };
}

// ---------------------------------------------------------------------------------------------
// schema

const modelCache = new Map();

async function modelFor(apiVersion, kind) {
  if (typeof apiVersion !== "string" || typeof kind !== "string") return null;
  const mod = apiVersion.includes("/") ? apiVersion : `${apiVersion}`; // core: "v1"
  const key = `${mod}|${kind}`;
  if (!modelCache.has(key)) {
    let cls = null;
    try {
      const m = await import(`kubernetes-models/${mod}`);
      cls = typeof m[kind] === "function" ? m[kind] : null;
    } catch {
      cls = null;
    }
    modelCache.set(key, cls);
  }
  return modelCache.get(key);
}

export async function checkSchema(doc) {
  const { obj } = doc;
  const where = `${doc.file}: ${obj?.kind || "?"} ${obj?.metadata?.name || "?"}`;
  const cls = await modelFor(obj?.apiVersion, obj?.kind);
  if (!cls) return [`${where}: no schema for apiVersion ${obj?.apiVersion} kind ${obj?.kind}`];
  try {
    new cls(obj).validate();
    return [];
  } catch (e) {
    const details = e.details || e.errors;
    if (Array.isArray(details))
      return details.map((d) => `${where}: ${d.instancePath || "/"} ${d.message}` +
        (d.params?.allowedValues ? ` (${d.params.allowedValues.join(", ")})` : ""));
    return [`${where}: ${e.message}`];
  }
}

// ---------------------------------------------------------------------------------------------
// fields: interface name -> {field: type text}, read from the .d.ts files

let typeIndex = null;

function dtsFiles(dir, out = []) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== "node_modules" && e.name !== "_schemas") dtsFiles(p, out);
    } else if (e.name.endsWith(".d.ts")) out.push(p);
  }
  return out;
}

/** Fields of each `export interface` in a declaration file, by local name. */
function interfacesOf(text) {
  const res = new Map();
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const m = /^export interface (\w+)\b[^{]*\{\s*$/.exec(lines[i]);
    if (!m) continue;
    const fields = {};
    let cur = null;
    for (i++; i < lines.length && lines[i] !== "}"; i++) {
      const line = lines[i];
      const f = /^ {4}"([^"]+)"\??: (.*)$/.exec(line);
      if (f) {
        cur = f[1];
        fields[cur] = f[2];
      } else if (cur && /^ {5,}\S/.test(line) && !/^\s*(\/\*\*|\*)/.test(line)) {
        fields[cur] += " " + line.trim();
      } else if (/^ {4}\S/.test(line)) {
        cur = null; // a comment at field level
      }
    }
    res.set(m[1], fields);
  }
  return res;
}

function buildTypeIndex() {
  const byAlias = new Map(); // IIoK8sApiCoreV1Probe -> fields
  const byFile = new Map(); // absolute .d.ts path -> Map(local name -> fields)
  for (const f of [...dtsFiles(MODELS_DIR), ...dtsFiles(APIMACHINERY_DIR)]) {
    const text = readFileSync(f, "utf8");
    if (!text.includes("export interface")) continue;
    const ifaces = interfacesOf(text);
    byFile.set(f, ifaces);
    const re = /export \{([^}]*)\}/g;
    let m;
    while ((m = re.exec(text))) {
      for (const part of m[1].split(",")) {
        const a = /(\w+) as (\w+)/.exec(part.trim());
        if (a && ifaces.has(a[1])) byAlias.set(a[2], ifaces.get(a[1]));
      }
    }
  }
  return { byAlias, byFile };
}

function topLevelFields(apiVersion, kind) {
  typeIndex ??= buildTypeIndex();
  const f = path.join(MODELS_DIR, ...apiVersion.split("/"), `${kind}.d.ts`);
  return typeIndex.byFile.get(f)?.get(`I${kind}`) || null;
}

function walkFields(value, type, at, errors) {
  if (value === null || value === undefined) return;
  type = type.trim().replace(/;$/, "");
  const arr = /^Array<(.*)>$/.exec(type);
  if (arr) {
    if (Array.isArray(value)) value.forEach((v, i) => walkFields(v, arr[1], `${at}/${i}`, errors));
    return;
  }
  const map = /^\{\s*\[key: string\]: (.*?);?\s*\}$/.exec(type);
  if (map) {
    if (typeof value === "object")
      for (const [k, v] of Object.entries(value)) walkFields(v, map[1], `${at}/${k}`, errors);
    return;
  }
  if (!/^\w+$/.test(type)) return; // a union of literals, a primitive
  const fields = typeIndex.byAlias.get(type);
  if (fields) checkFields(value, fields, at, errors);
}

function checkFields(value, fields, at, errors) {
  if (typeof value !== "object" || Array.isArray(value)) return; // the schema pass says why
  for (const [k, v] of Object.entries(value)) {
    if (!(k in fields)) {
      const near = Object.keys(fields).filter((f) => closeTo(f, k));
      errors.push(`${at}/${k}: unknown field` + (near.length ? ` (did you mean ${near.join(", ")}?)` : ""));
      continue;
    }
    walkFields(v, fields[k], `${at}/${k}`, errors);
  }
}

function closeTo(a, b) {
  if (a.toLowerCase() === b.toLowerCase()) return true;
  // edit distance <= 2, cheaply
  const m = a.length, n = b.length;
  if (Math.abs(m - n) > 2) return false;
  let prev = Array.from({ length: n + 1 }, (_, j) => j);
  for (let i = 1; i <= m; i++) {
    const cur = [i];
    for (let j = 1; j <= n; j++)
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[n] <= 2;
}

export function checkFieldsOf(doc) {
  const { obj } = doc;
  const where = `${doc.file}: ${obj?.kind || "?"} ${obj?.metadata?.name || "?"}`;
  if (typeof obj?.apiVersion !== "string" || typeof obj?.kind !== "string") return [];
  const fields = topLevelFields(obj.apiVersion, obj.kind);
  if (!fields) return []; // the schema pass already said there is no such kind
  const errors = [];
  checkFields(obj, fields, "", errors);
  return errors.map((e) => `${where}: ${e}`);
}

// ---------------------------------------------------------------------------------------------
// refs

export function podSpecOf(obj) {
  if (!obj || typeof obj !== "object") return null;
  if (obj.kind === "Pod") return obj.spec || null;
  if (["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"].includes(obj.kind))
    return obj.spec?.template?.spec || null;
  return null;
}

function podLabelsOf(obj) {
  return obj.kind === "Pod" ? obj.metadata?.labels || {} : obj.spec?.template?.metadata?.labels || {};
}

function matches(selector, labels) {
  return Object.entries(selector || {}).every(([k, v]) => labels[k] === v);
}

function labelSelectorMatches(sel, labels) {
  if (!sel) return false;
  if (!matches(sel.matchLabels, labels)) return false;
  for (const e of sel.matchExpressions || []) {
    const has = e.key in labels;
    const v = labels[e.key];
    if (e.operator === "In" && !(has && e.values.includes(v))) return false;
    if (e.operator === "NotIn" && has && e.values.includes(v)) return false;
    if (e.operator === "Exists" && !has) return false;
    if (e.operator === "DoesNotExist" && has) return false;
  }
  return true;
}

/** "--flag=value" or "--flag value" from a container's args (the server takes both). */
export function flagValue(args, flag) {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === flag) return i + 1 < args.length ? args[i + 1] : "";
    if (args[i].startsWith(flag + "=")) return args[i].slice(flag.length + 1);
  }
  return undefined;
}

function portOf(addr) {
  const m = /:(\d+)$/.exec(addr || "");
  return m ? Number(m[1]) : undefined;
}

/** The container port a probe, Service targetPort or annotation names (a number or a name). */
function findPort(containers, p) {
  for (const c of containers)
    for (const cp of c.ports || [])
      if ((typeof p === "number" && cp.containerPort === p) || (typeof p === "string" && cp.name === p))
        return cp;
  if (typeof p === "string" && /^\d+$/.test(p)) return findPort(containers, Number(p));
  return null;
}

/**
 * Cross-references between the objects, and (opts.server) the uringrpc server's own rules for
 * containers whose image is uringrpc. `opts.seccompDir`:
 * where a Localhost seccomp profile's file is looked for (the repository's deploy/, standing in
 * for the nodes' /var/lib/kubelet/seccomp/uringrpc/).
 */
export function checkRefs(docs, opts = {}) {
  const errors = [];
  const objs = docs.map((d) => d.obj);
  const name = (o) => `${o.kind} ${o.metadata?.name}`;
  const workloads = objs.filter((o) => podSpecOf(o));
  const byKindName = new Map(objs.map((o) => [`${o.apiVersion}|${o.kind}|${o.metadata?.name}`, o]));

  const seen = new Set();
  for (const o of objs) {
    const k = `${o.kind}|${o.metadata?.namespace || ""}|${o.metadata?.name}`;
    if (seen.has(k)) errors.push(`${name(o)}: defined twice`);
    seen.add(k);
  }

  for (const w of workloads) {
    const spec = podSpecOf(w);
    const labels = podLabelsOf(w);
    const containers = spec.containers || [];
    const volumes = new Map((spec.volumes || []).map((v) => [v.name, v]));

    if (w.kind !== "Pod" && !labelSelectorMatches(w.spec?.selector, labels))
      errors.push(`${name(w)}: spec.selector does not match the pod template's labels`);

    for (const t of spec.topologySpreadConstraints || [])
      if (!labelSelectorMatches(t.labelSelector, labels))
        errors.push(`${name(w)}: topologySpreadConstraint on ${t.topologyKey} selects other pods than its own`);

    // Prometheus annotations name a container port that serves /metrics.
    const ann = w.kind === "Pod" ? w.metadata?.annotations || {} : w.spec?.template?.metadata?.annotations || {};
    if (ann["prometheus.io/scrape"] === "true") {
      const p = findPort(containers, ann["prometheus.io/port"]);
      if (!p) errors.push(`${name(w)}: prometheus.io/port ${ann["prometheus.io/port"]} is no container port`);
      if (ann["prometheus.io/path"] !== "/metrics")
        errors.push(`${name(w)}: prometheus.io/path is ${ann["prometheus.io/path"]}, the server serves /metrics`);
    }

    for (const c of containers) {
      const cn = `${name(w)} container ${c.name}`;
      for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"]) {
        const pr = c[probe];
        if (!pr) continue;
        const port = pr.grpc?.port ?? pr.httpGet?.port ?? pr.tcpSocket?.port;
        if (port !== undefined && !findPort([c], port))
          errors.push(`${cn}: ${probe} port ${port} is not one of the container's ports`);
      }
      for (const m of c.volumeMounts || []) {
        if (!volumes.has(m.name)) errors.push(`${cn}: volumeMount ${m.name} names no volume of the pod`);
      }
      // The server's own rules, for containers running the uringrpc image.
      if (opts.server && /(^|\/)uringrpc(:|@|$)/.test(c.image || ""))
        errors.push(...checkServer(w, spec, c, volumes, cn, opts));
    }
    for (const v of spec.volumes || []) {
      if (v.secret && !v.secret.secretName) errors.push(`${name(w)}: secret volume ${v.name} names no Secret`);
      const used = containers.some((c) => (c.volumeMounts || []).some((m) => m.name === v.name));
      if (!used) errors.push(`${name(w)}: volume ${v.name} is mounted by no container`);
    }
  }

  for (const s of objs.filter((o) => o.kind === "Service")) {
    const sel = s.spec?.selector;
    if (!sel || !Object.keys(sel).length) {
      errors.push(`${name(s)}: no selector`);
      continue;
    }
    const targets = workloads.filter((w) => matches(sel, podLabelsOf(w)));
    if (!targets.length) errors.push(`${name(s)}: selector ${JSON.stringify(sel)} matches no pod template`);
    for (const p of s.spec?.ports || []) {
      const tp = p.targetPort ?? p.port;
      for (const w of targets)
        if (!findPort(podSpecOf(w).containers || [], tp))
          errors.push(`${name(s)}: port ${p.name} targetPort ${tp} is no container port of ${name(w)}`);
    }
  }

  for (const pdb of objs.filter((o) => o.kind === "PodDisruptionBudget")) {
    const targets = workloads.filter((w) => labelSelectorMatches(pdb.spec?.selector, podLabelsOf(w)));
    if (!targets.length) errors.push(`${name(pdb)}: selector matches no pod template`);
  }

  for (const h of objs.filter((o) => o.kind === "HorizontalPodAutoscaler")) {
    const r = h.spec?.scaleTargetRef || {};
    const t = byKindName.get(`${r.apiVersion}|${r.kind}|${r.name}`);
    if (!t) {
      errors.push(`${name(h)}: scaleTargetRef ${r.apiVersion} ${r.kind} ${r.name} is not defined here`);
      continue;
    }
    // A Utilization target is a share of the request: a container without one breaks the HPA.
    for (const m of h.spec?.metrics || []) {
      if (m.type !== "Resource" || m.resource?.target?.type !== "Utilization") continue;
      for (const c of podSpecOf(t)?.containers || [])
        if (!c.resources?.requests?.[m.resource.name])
          errors.push(`${name(h)}: ${m.resource.name} utilization, but ${name(t)} container ${c.name} requests no ${m.resource.name}`);
    }
    if (t.spec?.replicas !== undefined && h.spec?.minReplicas !== undefined &&
        (t.spec.replicas < h.spec.minReplicas || t.spec.replicas > h.spec.maxReplicas))
      errors.push(`${name(h)}: ${name(t)} replicas ${t.spec.replicas} outside ${h.spec.minReplicas}..${h.spec.maxReplicas}`);
  }
  return errors;
}

/** A uringrpc-server container: its flags against its ports, mounts, probes, limits, context. */
function checkServer(w, spec, c, volumes, cn, opts) {
  const errors = [];
  const args = [...(c.command || []).slice(1), ...(c.args || [])];
  const portNamed = (n) => (c.ports || []).find((p) => p.name === n)?.containerPort;

  const listen = portOf(flagValue(args, "--listen") ?? "[::]:50051");
  if (listen !== portNamed("grpc")) errors.push(`${cn}: --listen port ${listen} is not the port named grpc (${portNamed("grpc")})`);
  // The kubelet's grpc probes speak plaintext: they must reach the --listen port.
  for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"]) {
    const pr = c[probe];
    if (!pr) {
      errors.push(`${cn}: no ${probe}`);
    } else if (!pr.grpc) {
      errors.push(`${cn}: ${probe} is not a grpc probe`);
    } else {
      if (pr.grpc.port !== listen) errors.push(`${cn}: ${probe} grpc port ${pr.grpc.port} is not the plaintext --listen port ${listen}`);
      if ((pr.grpc.service ?? "") !== "") errors.push(`${cn}: ${probe} asks for service '${pr.grpc.service}', the server's overall health is ""`);
    }
  }
  const admin = flagValue(args, "--admin-listen");
  if (admin !== undefined) {
    if (portOf(admin) !== portNamed("admin")) errors.push(`${cn}: --admin-listen port ${portOf(admin)} is not the port named admin`);
    const ann = w.spec?.template?.metadata?.annotations || w.metadata?.annotations || {};
    if (ann["prometheus.io/port"] !== String(portOf(admin)))
      errors.push(`${cn}: prometheus.io/port ${ann["prometheus.io/port"]} is not the --admin-listen port ${portOf(admin)}`);
  }
  const tls = flagValue(args, "--tls-listen");
  if (tls !== undefined) {
    if (portOf(tls) !== portNamed("grpc-tls")) errors.push(`${cn}: --tls-listen port ${portOf(tls)} is not the port named grpc-tls`);
    for (const f of ["--tls-cert", "--tls-key", "--tls-client-ca"]) {
      const file = flagValue(args, f);
      if (file === undefined) {
        if (f !== "--tls-client-ca") errors.push(`${cn}: --tls-listen without ${f}`);
        continue;
      }
      const m = (c.volumeMounts || []).find((vm) => file.startsWith(vm.mountPath.replace(/\/?$/, "/")));
      const v = m && volumes.get(m.name);
      if (!v || !(v.secret || v.projected)) {
        errors.push(`${cn}: ${f} ${file} is not in a mounted Secret volume`);
        continue;
      }
      // subPath mounts are never updated: the server would never see a rotated certificate.
      if (m.subPath || m.subPathExpr) errors.push(`${cn}: ${f} comes through a subPath mount, which rotation never updates`);
      const key = file.slice(m.mountPath.replace(/\/?$/, "/").length);
      const keys = v.secret?.items ? v.secret.items.map((i) => i.path) : ["tls.crt", "tls.key", "ca.crt"];
      if (!keys.includes(key)) errors.push(`${cn}: ${f} ${file}: the Secret volume ${v.name} has no ${key}`);
    }
  }
  // The drain must fit in the grace period, after the preStop hook that the kubelet counts in it.
  const grace = Number(flagValue(args, "--shutdown-grace") ?? 10);
  const pre = c.lifecycle?.preStop;
  const preStop = pre?.sleep ? pre.sleep.seconds :
    pre?.exec?.command?.[0] === "sleep" ? Number(pre.exec.command[1]) : 0;
  const tgps = spec.terminationGracePeriodSeconds ?? 30;
  if (!(tgps > preStop + grace))
    errors.push(`${cn}: terminationGracePeriodSeconds ${tgps} is not above preStop ${preStop} s + --shutdown-grace ${grace} s`);
  for (const f of ["--max-connection-age", "--keepalive-time"])
    if (flagValue(args, f) === undefined) errors.push(`${cn}: no ${f}`);

  // The shard count comes from the CPU limit (cgroup quota): it must be there.
  if (!c.resources?.limits?.cpu) errors.push(`${cn}: no CPU limit, so no cgroup quota to size the shards by`);
  if (!c.resources?.limits?.memory) errors.push(`${cn}: no memory limit`);

  const psc = spec.securityContext || {};
  const sc = c.securityContext || {};
  const eff = (k) => (sc[k] !== undefined ? sc[k] : psc[k]);
  if (eff("runAsNonRoot") !== true) errors.push(`${cn}: runAsNonRoot is not true`);
  if (eff("runAsUser") !== 65532) errors.push(`${cn}: runAsUser is not 65532 (the image's user)`);
  if (sc.readOnlyRootFilesystem !== true) errors.push(`${cn}: readOnlyRootFilesystem is not true`);
  if (sc.allowPrivilegeEscalation !== false) errors.push(`${cn}: allowPrivilegeEscalation is not false`);
  if (!(sc.capabilities?.drop || []).includes("ALL")) errors.push(`${cn}: capabilities do not drop ALL`);
  const sp = eff("seccompProfile");
  if (!sp) {
    errors.push(`${cn}: no seccompProfile (Unconfined)`);
  } else if (sp.type === "Localhost") {
    if (sp.localhostProfile !== "uringrpc/seccomp.json")
      errors.push(`${cn}: seccomp localhostProfile ${sp.localhostProfile}, deploy/README.md installs uringrpc/seccomp.json`);
    if (opts.seccompDir) {
      const f = path.join(opts.seccompDir, path.basename(sp.localhostProfile || ""));
      let prof = null;
      try {
        prof = JSON.parse(readFileSync(f, "utf8"));
      } catch (e) {
        errors.push(`${cn}: seccomp profile ${f}: ${e.message}`);
      }
      const allowed = (prof?.syscalls || []).filter((s) => s.action === "SCMP_ACT_ALLOW").flatMap((s) => s.names);
      for (const s of ["io_uring_setup", "io_uring_enter", "io_uring_register"])
        if (prof && !allowed.includes(s)) errors.push(`${cn}: seccomp profile ${f} does not allow ${s}`);
    }
  } else if (sp.type !== "RuntimeDefault") {
    errors.push(`${cn}: seccompProfile type ${sp.type}: use Localhost (io_uring) or RuntimeDefault (epoll)`);
  }
  return errors;
}

/** All four passes over a set of documents. */
export async function checkAll(docs, opts = {}) {
  const errors = [];
  for (const d of docs) {
    errors.push(...(await checkSchema(d)));
    errors.push(...checkFieldsOf(d));
  }
  errors.push(...checkRefs(docs, opts));
  return errors;
}

// ---------------------------------------------------------------------------------------------

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const targets = process.argv.slice(2);
  if (!targets.length) {
    console.error("usage: node k8s_check.mjs DIR|FILE.yaml...");
    process.exit(2);
  }
  const docs = [];
  const errors = [];
  for (const t of targets) {
    const r = statSync(t).isDirectory() ? loadKustomization(t) : parseFile(t);
    docs.push(...r.docs);
    errors.push(...r.errors);
  }
  const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
  errors.push(...(await checkAll(docs, { server: true, seccompDir: path.join(repo, "deploy") })));
  for (const e of errors) console.log(e);
  if (errors.length) {
    console.log(`${errors.length} error(s) in ${docs.length} object(s)`);
    process.exit(1);
  }
  console.log(`${docs.length} object(s) valid: ${docs.map((d) => `${d.obj.kind}/${d.obj.metadata?.name}`).join(", ")}`);
}
