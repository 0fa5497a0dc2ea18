// node validate.mjs KUSTOMIZE_DIR OUT_DIR
//
// Checks a kustomize base the way the API server and a cluster operator
// would, with no cluster:
//  1. every object against its Kubernetes API type: the JSON schema
//     (kubernetes-models' validate(): types, formats, required fields, enums)
//     and strict decoding (each object as a TypeScript literal of the API
//     interface, so an unknown or misspelt field anywhere is an error, as
//     `kubectl apply --validate=strict` would report it);
//  2. the references between objects: every ConfigMap, Secret, PVC and
//     ServiceAccount a pod uses is defined here or is one of the objects the
//     install guide tells the operator to create; Service and PDB selectors
//     select a workload; named ports exist; the agent's governor address is
//     the governor's Service;
//  3. the properties taogate relies on: least-privilege RBAC for the agent,
//     hostNetwork pods keep cluster DNS, the workload and operator sockets
//     are in different host directories, the bpffs mount propagates to the
//     host.
// Writes the embedded configuration files to OUT_DIR (agent.yaml,
// governor.yaml, policy.yaml) for the caller to check with the daemons'
// own parsers. Exit 0 if all is well, 1 with one line per problem otherwise.
import fs from "node:fs";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import yaml from "js-yaml";

const [dir, outDir] = process.argv.slice(2);
const problems = [];
const problem = (where, msg) => problems.push(`${where}: ${msg}`);

// Objects the install guide (docs/kubernetes.md) has the operator create
// before `kubectl apply -k`: they hold key material, so they are never in git.
const OPERATOR_CREATED = {
  Secret: ["taogate-agent-tls", "taogate-governor-tls", "taogate-governor-postgres"],
  ConfigMap: ["taogate-trust-bundle"],
};

// --- load -----------------------------------------------------------------
// A kustomization's objects: its resources (files, or directories holding a
// base), then its patches (strategic merge, the way kustomize applies them
// for the fields these manifests use: lists of containers, volumes and env
// merge by name, volumeMounts by mountPath, ports by containerPort;
// `$patch: delete` removes a list item or, at the top, a whole object).
const MERGE_KEYS = { containers: "name", initContainers: "name", volumes: "name", env: "name",
  volumeMounts: "mountPath", ports: "containerPort" };
function merge(base, patch, field) {
  if (Array.isArray(patch)) {
    const key = MERGE_KEYS[field];
    if (!key || !Array.isArray(base)) return patch;
    const out = base.map((x) => x);
    for (const p of patch) {
      const i = out.findIndex((x) => x?.[key] === p?.[key]);
      if (p?.$patch === "delete") {
        if (i < 0) problem("patch", `${field}: no item ${key}=${p[key]} to delete`);
        else out.splice(i, 1);
      } else if (i >= 0) out[i] = merge(out[i], p);
      else out.push(p);
    }
    return out;
  }
  if (patch !== null && typeof patch === "object") {
    const out = { ...(base ?? {}) };
    for (const [k, v] of Object.entries(patch)) {
      if (v === null) delete out[k];
      else out[k] = merge(out[k], v, k);
    }
    return out;
  }
  return patch;
}

function load(kdir) {
  const k = yaml.load(fs.readFileSync(path.join(kdir, "kustomization.yaml"), "utf8"));
  const rel = (f) => path.relative(dir, path.join(kdir, f)) || ".";
  if (k.apiVersion !== "kustomize.config.k8s.io/v1beta1" || k.kind !== "Kustomization")
    problem(rel("kustomization.yaml"), "not a kustomize.config.k8s.io/v1beta1 Kustomization");
  const listed = new Set([...(k.resources ?? []), ...(k.patches ?? []).map((p) => p.path)]);
  for (const f of fs.readdirSync(kdir))
    if (f.endsWith(".yaml") && f !== "kustomization.yaml" && !listed.has(f))
      problem(rel(f), "not listed in kustomization.yaml resources or patches (kubectl apply -k would skip it)");
  const read = (f) => {
    try {
      return yaml.loadAll(fs.readFileSync(path.join(kdir, f), "utf8")).filter((d) => d !== null);  // duplicate keys throw
    } catch (e) {
      problem(rel(f), `YAML: ${e.message.split("\n")[0]}`);
      return [];
    }
  };
  let objs = [];
  for (const f of k.resources ?? []) {
    if (fs.statSync(path.join(kdir, f)).isDirectory()) objs.push(...load(path.join(kdir, f)));
    else read(f).forEach((doc, index) => objs.push({ file: rel(f), index, doc }));
  }
  for (const { path: f } of k.patches ?? []) {
    for (const p of read(f)) {
      const i = objs.findIndex((o) => o.doc.kind === p.kind && o.doc.metadata?.name === p.metadata?.name);
      if (i < 0) { problem(rel(f), `patch for ${p.kind}/${p.metadata?.name}, which is not defined`); continue; }
      if (p.$patch === "delete") objs.splice(i, 1);
      else objs[i] = { ...objs[i], file: `${objs[i].file}+${rel(f)}`, doc: merge(objs[i].doc, p) };
    }
  }
  return objs;
}

const kust = yaml.load(fs.readFileSync(path.join(dir, "kustomization.yaml"), "utf8"));
const objects = load(dir);  // {file, index, doc}
const where = (o) => `${o.file}#${o.index} ${o.doc.kind}/${o.doc.metadata?.name}`;
// --- 1. API types ---------------------------------------------------------
const require = createRequire(import.meta.url);
const modulePath = (apiVersion, kind) =>
  `kubernetes-models/${apiVersion.includes("/") ? apiVersion : `v1`}/${kind}`.replace("kubernetes-models/v1/v1", "kubernetes-models/v1");
let ts = "";
for (const [i, o] of objects.entries()) {
  const { apiVersion, kind } = o.doc;
  if (typeof apiVersion !== "string" || typeof kind !== "string") {
    problem(where(o), "no apiVersion/kind");
    continue;
  }
  const mod = modulePath(apiVersion, kind);
  let Model;
  try {
    Model = (await import(mod))[kind];
    require.resolve(mod);
  } catch {
    problem(where(o), `unknown API type ${apiVersion} ${kind}`);
    continue;
  }
  try {
    new Model(o.doc).validate();
  } catch (e) {
    problem(where(o), `schema: ${e.message}`);
  }
  ts += `import type { I${kind} as T${i} } from "${mod}";\n`;
  ts += `// ${where(o)}\nexport const o${i}: T${i} = ${JSON.stringify(o.doc, null, 1)};\n`;
}
fs.mkdirSync(outDir, { recursive: true });
// Beside this script, so that the type imports resolve in its node_modules.
const here = path.dirname(new URL(import.meta.url).pathname);
const tsFile = path.join(here, "manifests.check.ts");
fs.writeFileSync(tsFile, ts);
try {
  execFileSync(process.execPath, [require.resolve("typescript/bin/tsc"), "--noEmit", "--strict",
    "--module", "node16", "--moduleResolution", "node16", "--target", "es2022", tsFile],
    { cwd: here, encoding: "utf8" });
} catch (e) {
  for (const line of `${e.stdout}`.split("\n").filter((l) => l.includes("error TS")))
    problem("strict decoding", line);
}

// --- 2. references --------------------------------------------------------
const byKind = (k) => objects.filter((o) => o.doc.kind === k);
const defined = (kind, name) =>
  byKind(kind).some((o) => o.doc.metadata?.name === name) || (OPERATOR_CREATED[kind] ?? []).includes(name);
const namespaced = new Set(["ServiceAccount", "ConfigMap", "Secret", "Service", "DaemonSet", "Deployment",
  "PersistentVolumeClaim", "PodDisruptionBudget", "Job"]);
for (const o of objects) {
  if (namespaced.has(o.doc.kind) && o.doc.metadata?.namespace !== kust.namespace)
    problem(where(o), `namespace ${o.doc.metadata?.namespace} is not ${kust.namespace}`);
}
if (!byKind("Namespace").some((o) => o.doc.metadata?.name === kust.namespace))
  problem("kustomization.yaml", `namespace ${kust.namespace} is not defined`);

const workloads = [...byKind("DaemonSet"), ...byKind("Deployment"), ...byKind("Job")];
const selects = (sel, labels) => Object.entries(sel ?? {}).every(([k, v]) => labels?.[k] === v) &&
  Object.keys(sel ?? {}).length > 0;
for (const w of workloads) {
  const spec = w.doc.spec.template.spec;
  if (w.doc.kind !== "Job" && !selects(w.doc.spec.selector.matchLabels, w.doc.spec.template.metadata?.labels))
    problem(where(w), "selector does not match its own pod template labels");
  if (!defined("ServiceAccount", spec.serviceAccountName ?? "default"))
    problem(where(w), `ServiceAccount ${spec.serviceAccountName} is not defined`);
  const volumes = new Map((spec.volumes ?? []).map((v) => [v.name, v]));
  for (const v of spec.volumes ?? []) {
    if (v.configMap && !defined("ConfigMap", v.configMap.name)) problem(where(w), `ConfigMap ${v.configMap.name} is not defined`);
    if (v.secret && !defined("Secret", v.secret.secretName)) problem(where(w), `Secret ${v.secret.secretName} is not defined`);
    if (v.persistentVolumeClaim && !defined("PersistentVolumeClaim", v.persistentVolumeClaim.claimName))
      problem(where(w), `PVC ${v.persistentVolumeClaim.claimName} is not defined`);
    if (v.configMap) {
      const cm = byKind("ConfigMap").find((c) => c.doc.metadata.name === v.configMap.name);
      for (const c of spec.containers)
        for (const m of c.volumeMounts ?? [])
          if (m.name === v.name && m.subPath && cm && !(m.subPath in (cm.doc.data ?? {})))
            problem(where(w), `mount ${m.mountPath}: ConfigMap ${cm.doc.metadata.name} has no key ${m.subPath}`);
    }
  }
  for (const c of spec.containers) {
    const ports = new Set((c.ports ?? []).map((p) => p.name));
    for (const m of c.volumeMounts ?? []) if (!volumes.has(m.name)) problem(where(w), `mount of undefined volume ${m.name}`);
    for (const probe of [c.livenessProbe, c.readinessProbe].filter(Boolean)) {
      const port = probe.httpGet?.port ?? probe.tcpSocket?.port;
      if (typeof port === "string" && !ports.has(port)) problem(where(w), `probe port ${port} is not a container port`);
    }
  }
  if (spec.hostNetwork && spec.dnsPolicy !== "ClusterFirstWithHostNet")
    problem(where(w), "hostNetwork without dnsPolicy ClusterFirstWithHostNet cannot resolve the governor's Service");
}
const podsSelectedBy = (sel) => workloads.filter((w) => selects(sel, w.doc.spec.template.metadata?.labels));
for (const s of byKind("Service")) {
  const pods = podsSelectedBy(s.doc.spec.selector);
  if (pods.length === 0) problem(where(s), "selects no workload");
  for (const p of s.doc.spec.ports ?? []) {
    if (typeof p.targetPort !== "string") continue;
    const named = pods.some((w) => w.doc.spec.template.spec.containers.some((c) => (c.ports ?? []).some((cp) => cp.name === p.targetPort)));
    if (!named) problem(where(s), `targetPort ${p.targetPort} is not a port of the selected pods`);
  }
}
for (const b of byKind("PodDisruptionBudget"))
  if (podsSelectedBy(b.doc.spec.selector?.matchLabels).length === 0) problem(where(b), "selects no workload");
for (const b of byKind("ClusterRoleBinding")) {
  if (!byKind("ClusterRole").some((r) => r.doc.metadata.name === b.doc.roleRef.name))
    problem(where(b), `ClusterRole ${b.doc.roleRef.name} is not defined`);
  for (const s of b.doc.subjects ?? [])
    if (s.kind === "ServiceAccount" && !defined("ServiceAccount", s.name)) problem(where(b), `subject ${s.name} is not defined`);
}

// --- 3. taogate's own properties ------------------------------------------
const agentRole = byKind("ClusterRole").find((r) => r.doc.metadata.name === "taogate-agent");
if (!agentRole) problem("rbac", "no ClusterRole taogate-agent");
for (const rule of agentRole?.doc.rules ?? []) {
  const extra = rule.verbs.filter((v) => !["get", "list", "watch"].includes(v));
  const res = rule.resources.filter((r) => !["pods", "namespaces"].includes(r));
  if (extra.length || res.length || rule.apiGroups.some((g) => g !== ""))
    problem(where(agentRole), `agent role grants more than get/list/watch on pods and namespaces: ${JSON.stringify(rule)}`);
}
const configOf = (name, key) => {
  const cm = byKind("ConfigMap").find((c) => c.doc.metadata.name === name);
  const text = cm?.doc.data?.[key];
  if (text === undefined) { problem("config", `ConfigMap ${name} has no ${key}`); return {}; }
  fs.writeFileSync(path.join(outDir, key), text);
  try { return yaml.load(text) ?? {}; } catch (e) { problem(`${name}/${key}`, e.message.split("\n")[0]); return {}; }
};
const agent = configOf("taogate-agent", "agent.yaml");
const governorYaml = configOf("taogate-governor", "governor.yaml");
configOf("taogate-governor", "policy.yaml");
const gov = /^([^.:]+)\.([^.:]+)\.svc(?:\.cluster\.local)?:(\d+)$/.exec(agent.governor_address ?? "");
if (!gov) problem("agent.yaml", `governor_address ${agent.governor_address} is not a Service name (NAME.NAMESPACE.svc:PORT)`);
else {
  const svc = byKind("Service").find((s) => s.doc.metadata.name === gov[1] && s.doc.metadata.namespace === gov[2]);
  if (!svc) problem("agent.yaml", `governor_address names Service ${gov[1]}.${gov[2]}, which is not defined`);
  else if (!(svc.doc.spec.ports ?? []).some((p) => p.port === Number(gov[3])))
    problem("agent.yaml", `Service ${gov[1]} has no port ${gov[3]}`);
}
const ds = byKind("DaemonSet").find((d) => d.doc.metadata.name === "taogate-agent");
if (ds) {
  const spec = ds.doc.spec.template.spec;
  const agentC = spec.containers[0];
  const hostDirOf = (file) => {
    const m = (agentC.volumeMounts ?? []).filter((v) => file.startsWith(`${v.mountPath}/`))
      .sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
    return m && spec.volumes.find((v) => v.name === m.name)?.hostPath?.path;
  };
  const w = hostDirOf(agent.workload_socket ?? ""), op = hostDirOf(agent.operator_socket ?? "");
  if (!w || !op) problem(where(ds), "workload and operator sockets must each be in a hostPath directory");
  else if (w === op) problem(where(ds), `workload and operator sockets share the host directory ${w}`);
  const bpffs = (agentC.volumeMounts ?? []).find((m) => m.mountPath === "/sys/fs/bpf");
  if (bpffs?.mountPropagation !== "Bidirectional")
    problem(where(ds), "bpffs is not mounted Bidirectional: the pinned gate would die with the pod");
  if (!spec.hostPID) problem(where(ds), "the agent needs hostPID (SO_PEERCRED pids are the host's)");
}

// Replicas share one ledger only through PostgreSQL (never two writers on
// a directory); each on its own node (its own TPM), never more than one down.
const govDeploy = byKind("Deployment").find((d) => d.doc.metadata.name === "taogate-governor");
if (govDeploy && (govDeploy.doc.spec.replicas ?? 1) > 1) {
  if (governorYaml.ledger_dir !== undefined || (!governorYaml.ledger_postgres && !governorYaml.ledger_postgres_file))
    problem(where(govDeploy), "more than one governor replica needs ledger_postgres(_file), never ledger_dir (two writers on one ledger)");
  const anti = govDeploy.doc.spec.template.spec.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? [];
  if (!anti.some((t) => t.topologyKey === "kubernetes.io/hostname" &&
      selects(t.labelSelector?.matchLabels, govDeploy.doc.spec.template.metadata?.labels)))
    problem(where(govDeploy), "governor replicas without required anti-affinity by kubernetes.io/hostname (one TPM node each)");
  if (!byKind("PodDisruptionBudget").some((b) => selects(b.doc.spec.selector?.matchLabels, govDeploy.doc.spec.template.metadata?.labels)))
    problem(where(govDeploy), "governor replicas without a PodDisruptionBudget");
  const args = govDeploy.doc.spec.template.spec.containers[0].args ?? [];
  if (!args.includes("--instance") || governorYaml.instance !== undefined)
    problem(where(govDeploy), "governor replicas need distinct instance names (--instance from the pod name)");
}

if (problems.length) {
  for (const p of problems) console.error(p);
  console.error(`${problems.length} problem(s) in ${dir}`);
  process.exit(1);
}
console.log(`${objects.length} objects in ${dir}: API types, strict decoding, references and taogate properties OK`);
