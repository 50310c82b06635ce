// Sampling rates per exporter and observation domain, learnt from the flows themselves (NetFlow
// v5 header, v9/IPFIX options records, sFlow samples) or configured. A configured override wins
// over what the exporter says; a configured default applies to exporters that never say. Where
// neither exists the decoder stores rate 1 and counts `samplingUnknown` — it never drops the flow
// (a missing rate silently dropping everything is Akvorado's most common complaint).

export interface SamplingConfig {
  /** Rate for exporters that announce none. Unset: 1, counted as unknown. */
  defaultRate?: number;
  /** Per exporter address text (e.g. "192.0.2.1"): a rate that replaces what the exporter announces. */
  overrides?: ReadonlyMap<string, number>;
  /** Learnt entries kept (exporter × domain). Default 100000. */
  maxEntries?: number;
}

export class SamplingRates {
  private readonly learnt = new Map<string, number>();
  private readonly maxEntries: number;

  constructor(private readonly config: SamplingConfig = {}) {
    this.maxEntries = config.maxEntries ?? 100_000;
  }

  /** Records a rate an exporter announced (ignored when 0 or absurd). */
  learn(exporter: string, domain: number, rate: number): void {
    if (!Number.isInteger(rate) || rate < 1 || rate > 0xffffffff) return;
    const k = `${exporter}/${domain}`;
    if (!this.learnt.has(k) && this.learnt.size >= this.maxEntries) return;
    this.learnt.set(k, rate);
  }

  /**
   * The rate to apply: configured override, else learnt for this domain, else learnt for the
   * exporter's domain 0, else the configured default; undefined when nothing is known.
   * `exporterText` is the exporter address as text, the key overrides are configured by.
   */
  rate(exporter: string, domain: number, exporterText?: string): number | undefined {
    if (exporterText !== undefined) {
      const override = this.config.overrides?.get(exporterText);
      if (override !== undefined) return override;
    }
    return this.learnt.get(`${exporter}/${domain}`) ?? this.learnt.get(`${exporter}/0`) ?? this.config.defaultRate;
  }

  /** True when any override is configured: lets a decoder skip formatting the exporter address. */
  get hasOverrides(): boolean {
    return (this.config.overrides?.size ?? 0) > 0;
  }

  /**
   * The configured override for an exporter, for protocols whose every sample carries its own
   * rate (sFlow): the operator's word still wins over the exporter's.
   */
  override(exporterText: string): number | undefined {
    return this.config.overrides?.get(exporterText);
  }

  /** Learnt rates as [exporter, domain, rate]: for saving them across restarts (snapshot.ts). */
  *entries(): IterableIterator<[exporter: string, domain: number, rate: number]> {
    for (const [k, rate] of this.learnt) {
      const slash = k.lastIndexOf('/');
      yield [k.slice(0, slash), Number(k.slice(slash + 1)), rate];
    }
  }

  get size(): number {
    return this.learnt.size;
  }
}
