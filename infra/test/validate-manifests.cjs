// Syntax + structure check of infra/compose.yaml and infra/k8s/*.yaml without new dependencies: uses the `yaml`
// package already in node_modules (a transitive dependency of vite), found in pnpm's store folder.
// usage: node infra/test/validate-manifests.cjs   (from the repository root; also renders with `kubectl kustomize`
// when kubectl is installed)
const fs0 = require('fs');
const store = require('path').join(__dirname, '../../node_modules/.pnpm');
const dir = fs0.readdirSync(store).filter((d) => /^yaml@2\./.test(d)).sort().pop();
if (!dir) { console.error('no yaml package in node_modules/.pnpm (run pnpm install)'); process.exit(2); }
const YAML = require(require('path').join(store, dir, 'node_modules/yaml'));
process.chdir(require('path').join(__dirname, '../..'));
const fs = require('fs'); const path = require('path');
let bad = 0; const kinds = {};
const files = ['infra/compose.yaml', ...fs.readdirSync('infra/k8s').map((f) => path.join('infra/k8s', f))];
const kust = YAML.parse(fs.readFileSync('infra/k8s/kustomization.yaml', 'utf8'));
for (const f of files) {
  const docs = YAML.parseAllDocuments(fs.readFileSync(f, 'utf8'), { merge: true, uniqueKeys: true });
  for (const d of docs) {
    if (d.errors.length || d.warnings.length) { bad++; console.log(f, d.errors, d.warnings); continue; }
    const o = d.toJS({ maxAliasCount: -1 });
    if (!f.includes('k8s') || f.endsWith('kustomization.yaml')) continue;
    if (!o.apiVersion || !o.kind || !o.metadata?.name) { bad++; console.log('missing apiVersion/kind/name', f); }
    if (!kust.resources.includes(path.basename(f))) { bad++; console.log('not in kustomization', f); }
    kinds[o.kind] = (kinds[o.kind] ?? 0) + 1;
    if (o.kind === 'Deployment' && o.metadata.labels?.['app.kubernetes.io/component'] === 'worker') {
      // Workers reach the graph through the gateway only: a key file, no database URL, never the internal secret.
      const c = o.spec.template.spec.containers[0];
      const names = (c.env ?? []).map((e) => e.name);
      const ok = c.livenessProbe?.httpGet?.path === '/healthz' && names.includes('COS_API_KEY_FILE') && names.includes('COS_GATEWAY_URL') &&
        !names.includes('INTERNAL_SECRET') && !names.some((n) => n.includes('DATABASE_URL')) && c.resources?.requests;
      console.log('Deployment', o.metadata.name, '(worker)', ok ? 'ok' : 'BAD');
      if (!ok) bad++;
    } else if (o.kind === 'Deployment') {
      const c = o.spec.template.spec.containers[0];
      const names = (c.env ?? []).map((e) => e.name);
      const port = c.ports[0].containerPort;
      const ok = c.readinessProbe?.httpGet?.path === '/readyz' && c.livenessProbe?.httpGet?.path === '/healthz' &&
        o.spec.template.spec.terminationGracePeriodSeconds === 30 && c.lifecycle?.preStop && c.resources?.requests &&
        // The MCP server must NOT hold the internal secret: it is a plain client of the gateway with the caller's key.
        // Secrets come as files (*_FILE, mounted from cos-secrets), never as plain env values.
        (o.metadata.name === 'mcp' ? !names.some((n) => n.startsWith('INTERNAL_SECRET')) : names.includes('INTERNAL_SECRET_FILE') && !names.includes('INTERNAL_SECRET')) &&
        (c.env ?? []).every((e) => !e.valueFrom?.secretKeyRef) && names.includes('PORT') && String(c.env.find((e) => e.name === 'PORT').value) === String(port) &&
        JSON.stringify(o.spec.selector.matchLabels) === JSON.stringify({ 'app.kubernetes.io/name': o.metadata.name }) &&
        o.spec.template.metadata.labels['app.kubernetes.io/name'] === o.metadata.name;
      console.log('Deployment', o.metadata.name, 'replicas', o.spec.replicas ?? '(hpa)', 'port', port, ok ? 'ok' : 'BAD');
      if (!ok) bad++;
    }
  }
}
console.log(kinds);
const { spawnSync } = require('child_process');
const k = spawnSync('kubectl', ['kustomize', 'infra/k8s'], { encoding: 'utf8' });
if (k.error) console.log('kubectl not installed: kustomize render skipped');
else if (k.status !== 0) { bad++; console.log('kubectl kustomize failed:', k.stderr); }
else console.log(`kubectl kustomize: ${YAML.parseAllDocuments(k.stdout).length} objects rendered`);
process.exit(bad ? 1 : 0);
