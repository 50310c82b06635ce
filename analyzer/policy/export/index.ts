// Policy exports (DESIGN.md §8 "Exports"): render one policy, its groups resolved to addresses at
// export time (ExportInput), as a file another tool loads. Each format is a module of its own,
// a pure function of the input: the same input gives the same bytes. Rules a format cannot express
// come back in `skipped` with why, and are listed in the file's header where the format has comments.
import { FlowmapError } from '../../../core/errors.js';
import { renderAws } from './aws.js';
import { renderAzure } from './azure.js';
import { renderCalico } from './calico.js';
import { renderCilium } from './cilium.js';
import { renderCsv } from './csv.js';
import { renderJson } from './json.js';
import { renderKubernetes } from './k8s.js';
import { renderNftables } from './nftables.js';
import { compareSkips, type Rendered } from './rules.js';
import { EXPORT_FORMATS, type ExportFormat, type ExportInput, type Exported } from '../types.js';

export interface ExportContent {
  extension: string;
  contentType: string;
  /** What the file is, for `--help` and the API documentation. */
  description: string;
}

export const EXPORT_CONTENT: Readonly<Record<ExportFormat, ExportContent>> = {
  k8s: { extension: 'yaml', contentType: 'application/yaml; charset=utf-8', description: 'Kubernetes NetworkPolicy (networking.k8s.io/v1), kubectl apply -f' },
  calico: { extension: 'yaml', contentType: 'application/yaml; charset=utf-8', description: 'Calico NetworkPolicy and GlobalNetworkPolicy (projectcalico.org/v3), calicoctl apply -f' },
  cilium: { extension: 'yaml', contentType: 'application/yaml; charset=utf-8', description: 'CiliumNetworkPolicy (cilium.io/v2), kubectl apply -f' },
  'aws-sg': { extension: 'tf', contentType: 'text/plain; charset=utf-8', description: 'AWS security groups and rules as Terraform' },
  'azure-nsg': { extension: 'tf', contentType: 'text/plain; charset=utf-8', description: 'Azure NSGs, rules and application security groups as Terraform' },
  nftables: { extension: 'nft', contentType: 'text/plain; charset=utf-8', description: 'nftables ruleset (table inet flowmap), nft -f' },
  csv: { extension: 'csv', contentType: 'text/csv; charset=utf-8; header=present', description: 'one row per rule and exception, for review' },
  json: { extension: 'json', contentType: 'application/json; charset=utf-8', description: 'the export input: policy, resolved groups and rules' },
};

const RENDERERS: Readonly<Record<ExportFormat, (input: ExportInput) => Rendered>> = {
  k8s: renderKubernetes,
  calico: renderCalico,
  cilium: renderCilium,
  'aws-sg': renderAws,
  'azure-nsg': renderAzure,
  nftables: renderNftables,
  csv: renderCsv,
  json: renderJson,
};

/** `flowmap-<policy id>-v<version>-<format>.<ext>`, with characters unsafe in a file name replaced. */
export function exportFilename(format: ExportFormat, policy: { id: string; version: number }): string {
  const id = policy.id.replace(/[^A-Za-z0-9._-]+/g, '-').slice(0, 100);
  return `flowmap-${id}-v${policy.version}-${format}.${EXPORT_CONTENT[format].extension}`;
}

export function renderExport(format: ExportFormat, input: ExportInput): Exported {
  if (!(EXPORT_FORMATS as readonly string[]).includes(format)) {
    throw new FlowmapError('FLOWMAP_BAD_REQUEST', `unknown export format '${String(format)}'; formats: ${EXPORT_FORMATS.join(', ')}`, {
      status: 400,
      details: { value: format, allowed: EXPORT_FORMATS },
    });
  }
  const { text, skipped } = RENDERERS[format](input);
  return {
    format,
    filename: exportFilename(format, input.policy),
    contentType: EXPORT_CONTENT[format].contentType,
    text,
    skipped: [...skipped].sort(compareSkips),
  };
}
