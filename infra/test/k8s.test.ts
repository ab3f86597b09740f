import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { ROOT, readText, SERVICES, type ServiceName, serviceConfig } from "./config-sources.js";

type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  spec?: Record<string, unknown>;
};
type Container = {
  name: string;
  env?: { name: string; value?: string }[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  readinessProbe?: { httpGet?: { path: string } };
  livenessProbe?: { httpGet?: { path: string } };
  securityContext?: { readOnlyRootFilesystem?: boolean; allowPrivilegeEscalation?: boolean };
};
type PodSpec = { containers: Container[]; securityContext?: { runAsNonRoot?: boolean } };

const OVERLAYS = ["dev", "production"] as const;

async function render(overlay: string): Promise<K8sObject[]> {
  const { stdout } = await promisify(execFile)("kubectl", [
    "kustomize",
    join(ROOT, "infra", "k8s", "overlays", overlay),
  ]);
  return parseAllDocuments(stdout).map((doc) => {
    const object = doc.toJSON() as K8sObject;
    // kustomize folds long base64 values over lines; the API server ignores the breaks.
    if (object.kind === "Secret" && object.data) {
      for (const key of Object.keys(object.data)) object.data[key] = object.data[key]!.replace(/\s+/g, "");
    }
    return object;
  });
}

/** The kubernetes-models class of an object (its JSON schema), e.g. apps/v1 Deployment. */
async function modelOf(object: K8sObject) {
  const path = `kubernetes-models/${object.apiVersion}/${object.kind}`;
  const module = (await import(path)) as Record<string, new (data: unknown) => { validate(): void }>;
  return module[object.kind]!;
}

// Base64 "data" in a generated Secret; the production Secret's keys come from its example.
function secretValues(objects: K8sObject[], name: string): Record<string, string> {
  const secret = objects.find((o) => o.kind === "Secret" && o.metadata.name === name);
  if (secret) {
    return Object.fromEntries(
      Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64").toString()]),
    );
  }
  const example = parse(readText("infra/k8s/overlays/production/secret.example.yaml")) as K8sObject;
  return example.stringData ?? {};
}

function environmentOf(objects: K8sObject[], container: Container): Record<string, string> {
  const env: Record<string, string> = {};
  for (const source of container.envFrom ?? []) {
    if (source.configMapRef) {
      const map = objects.find(
        (o) => o.kind === "ConfigMap" && o.metadata.name === source.configMapRef!.name,
      );
      expect(map, `ConfigMap ${source.configMapRef.name}`).toBeDefined();
      Object.assign(env, map!.data);
    }
    if (source.secretRef) Object.assign(env, secretValues(objects, source.secretRef.name));
  }
  for (const item of container.env ?? []) if (item.value !== undefined) env[item.name] = item.value;
  return env;
}

const podSpecOf = (deployment: K8sObject) =>
  (deployment.spec as { template: { spec: PodSpec } }).template.spec;

describe.each(OVERLAYS)("infra/k8s overlay %s", (overlay) => {
  it("renders with kubectl kustomize, and every object passes its Kubernetes schema", async () => {
    const objects = await render(overlay);
    expect(objects.length).toBeGreaterThan(20);
    for (const object of objects) {
      const Model = await modelOf(object);
      expect(() => new Model(object).validate(), `${object.kind}/${object.metadata.name}`).not.toThrow();
    }
  });

  it("gives each service a configuration it accepts, probes, a hardened pod, an autoscaler and a budget", async () => {
    const objects = await render(overlay);
    const named = (kind: string, name: string) =>
      objects.find((o) => o.kind === kind && o.metadata.name === name);
    for (const name of SERVICES) {
      const deployment = named("Deployment", name);
      expect(deployment, `Deployment ${name}`).toBeDefined();
      const pod = podSpecOf(deployment!);
      const container = pod.containers.find((c) => c.name === name)!;
      const { load, variables } = await serviceConfig(name as ServiceName);
      expect(() => load(environmentOf(objects, container)), `${name} config`).not.toThrow();
      for (const item of container.env ?? [])
        expect(variables.has(item.name), `${name} ${item.name}`).toBe(true);

      expect(container.readinessProbe?.httpGet?.path).toBe("/readyz");
      expect(container.livenessProbe?.httpGet?.path).toBe("/healthz");
      expect(pod.securityContext?.runAsNonRoot).toBe(true);
      expect(container.securityContext).toMatchObject({
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
      });
      expect(named("Service", name), `Service ${name}`).toBeDefined();
      expect(named("HorizontalPodAutoscaler", name), `HPA ${name}`).toBeDefined();
      expect(named("PodDisruptionBudget", name), `PDB ${name}`).toBeDefined();
    }
    // The edge holds no secret: it only routes.
    const edge = podSpecOf(named("Deployment", "edge")!).containers[0]!;
    expect(edge.envFrom?.some((source) => source.secretRef)).toBe(false);
  });

  it("migrates with a Job, denies ingress by default and enters only through the edge", async () => {
    const objects = await render(overlay);
    expect(objects.some((o) => o.kind === "Job" && o.metadata.name === "perseus-migrate")).toBe(true);
    const denyAll = objects.find(
      (o) => o.kind === "NetworkPolicy" && o.metadata.name === "default-deny-ingress",
    );
    expect(denyAll?.spec).toMatchObject({ podSelector: {}, policyTypes: ["Ingress"] });
    const ingress = objects.find((o) => o.kind === "Ingress")!;
    const backends = JSON.stringify(ingress.spec).match(/"service":\{"name":"([^"]+)"/g);
    expect(new Set(backends)).toEqual(new Set(['"service":{"name":"edge"']));
    // Robot and browser sockets outlive nginx's 60 s default.
    const annotations = (ingress.metadata as { annotations?: Record<string, string> }).annotations ?? {};
    expect(Number(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"])).toBeGreaterThanOrEqual(
      3600,
    );
  });
  it("lets Prometheus find every service pod and reach its metrics port", async () => {
    const objects = await render(overlay);
    for (const name of SERVICES) {
      const deployment = objects.find((o) => o.kind === "Deployment" && o.metadata.name === name)!;
      const template = (
        deployment.spec as { template: { metadata: { annotations?: Record<string, string> } } }
      ).template;
      expect(template.metadata.annotations, name).toMatchObject({
        "prometheus.io/scrape": "true",
        "prometheus.io/path": "/metrics",
      });
      const ports = (podSpecOf(deployment).containers[0] as { ports?: { name: string }[] }).ports ?? [];
      expect(
        ports.map((port) => port.name),
        name,
      ).toEqual(["http"]);
    }
    const policy = objects.find(
      (o) => o.kind === "NetworkPolicy" && o.metadata.name === "metrics-from-monitoring",
    );
    const selected = JSON.stringify(policy?.spec);
    for (const name of SERVICES) expect(selected, name).toContain(`"${name}"`);
    expect(selected).toContain('"ports":[{"port":"http"}]');
  });
});
