// The template cache for NetFlow v9 and IPFIX, keyed by (exporter, observation domain / source id,
// template id) as RFC 3954 §5.1 and RFC 7011 §8 require. Bounded two ways so a flood of spoofed
// exporters or template ids cannot exhaust memory: templates per exporter and exporters in
// total. When full it refuses the new entry (and the decoder counts why) rather than evicting,
// so an attacker cannot push out the templates of real exporters.
//
// Values are whatever the decoder compiles a template into (a field layout, a reader), opaque here.

export interface TemplateCacheLimits {
  /** Templates (data + options) kept per exporter, across its domains. Default 4096. */
  templatesPerExporter: number;
  /** Exporters tracked. Default 10000. */
  exporters: number;
}

export const DEFAULT_TEMPLATE_LIMITS: TemplateCacheLimits = { templatesPerExporter: 4096, exporters: 10_000 };

export type TemplateSetResult = 'added' | 'replaced' | 'template_limit' | 'exporter_limit';

export class TemplateCache<T = unknown> {
  private readonly exporters = new Map<string, Map<number, T>>();
  readonly limits: TemplateCacheLimits;

  constructor(limits: Partial<TemplateCacheLimits> = {}) {
    this.limits = { ...DEFAULT_TEMPLATE_LIMITS, ...limits };
  }

  /** `exporter` is a stable key for the exporter (e.g. its address as hex plus protocol). */
  get(exporter: string, domain: number, templateId: number): T | undefined {
    return this.exporters.get(exporter)?.get(key(domain, templateId));
  }

  set(exporter: string, domain: number, templateId: number, template: T): TemplateSetResult {
    let templates = this.exporters.get(exporter);
    if (templates === undefined) {
      if (this.exporters.size >= this.limits.exporters) return 'exporter_limit';
      templates = new Map();
      this.exporters.set(exporter, templates);
    }
    const k = key(domain, templateId);
    if (templates.has(k)) {
      templates.set(k, template);
      return 'replaced';
    }
    if (templates.size >= this.limits.templatesPerExporter) return 'template_limit';
    templates.set(k, template);
    return 'added';
  }

  /** IPFIX template withdrawal (RFC 7011 §8.1); true when something was removed. */
  delete(exporter: string, domain: number, templateId: number): boolean {
    return this.exporters.get(exporter)?.delete(key(domain, templateId)) ?? false;
  }

  /** Withdraws every template of a domain (IPFIX "all templates" withdrawal, template id 2 or 3). */
  deleteDomain(exporter: string, domain: number): number {
    const templates = this.exporters.get(exporter);
    if (templates === undefined) return 0;
    let removed = 0;
    for (const k of [...templates.keys()]) {
      if (Math.floor(k / 0x10000) === domain) {
        templates.delete(k);
        removed++;
      }
    }
    return removed;
  }

  /** Templates currently cached for one exporter. */
  templateCount(exporter: string): number {
    return this.exporters.get(exporter)?.size ?? 0;
  }

  /** Every cached entry: for saving the cache across restarts (snapshot.ts). */
  *entries(): IterableIterator<[exporter: string, domain: number, templateId: number, template: T]> {
    for (const [exporter, templates] of this.exporters) {
      for (const [k, template] of templates) yield [exporter, Math.floor(k / 0x10000), k % 0x10000, template];
    }
  }

  get exporterCount(): number {
    return this.exporters.size;
  }

  get size(): number {
    let n = 0;
    for (const templates of this.exporters.values()) n += templates.size;
    return n;
  }
}

/** Domain (32 bits) and template id (16 bits) in one safe integer. */
function key(domain: number, templateId: number): number {
  return domain * 0x10000 + templateId;
}
