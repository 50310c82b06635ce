// Identifiers each target accepts, made from flowmap's group names and rule ids. Group names are
// already safe (lowercase letters, digits, dashes, ≤ 50 chars, unique per export); these functions
// map them into each target's alphabet without merging two names into one, and shorten with a hash
// suffix where a target's limit is tighter than the input.
import { createHash } from 'node:crypto';

function hash8(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 8);
}

/** Keeps `text` within `max` characters, replacing the tail by a hash of the whole when it is longer. */
function fit(text: string, max: number, trim: (t: string) => string): string {
  if (text.length <= max) return text;
  return `${trim(text.slice(0, max - 9))}-${hash8(text)}`;
}

/** A Terraform block label / reference name: `[a-z_][a-z0-9_]*` (dashes become underscores). */
export function terraformName(text: string): string {
  const name = text.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  return /^[a-z_]/.test(name) ? name : `_${name}`;
}

/**
 * A Kubernetes object name as an RFC 1123 label: lowercase alphanumerics and dashes, starting and
 * ending alphanumeric, at most 63 characters.
 */
export function kubernetesName(text: string): string {
  const trim = (t: string): string => t.replace(/^-+|-+$/g, '');
  const name = trim(text.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/-{2,}/g, '-'));
  return trim(fit(name === '' ? `x-${hash8(text)}` : name, 63, trim));
}

/**
 * An Azure resource or security rule name: 1–80 of letters, digits, `_ . -`, starting with a letter
 * or digit and ending with a letter, digit or underscore.
 */
export function azureName(text: string): string {
  const trim = (t: string): string => t.replace(/^[^A-Za-z0-9]+/, '').replace(/[.-]+$/, '');
  const name = trim(text.replace(/[^A-Za-z0-9_.-]+/g, '-'));
  return trim(fit(name === '' ? `x-${hash8(text)}` : name, 80, trim));
}

/** An nftables set name: letters, digits and underscores. */
export function nftName(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9_]/g, '_');
}

const LABEL_NAME = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Whether a label key and value are valid on a Kubernetes object (prefix ≤ 253 + `/` + name ≤ 63; value ≤ 63 or empty). */
export function isKubernetesLabel(key: string, value: string): boolean {
  const slash = key.lastIndexOf('/');
  const prefix = slash < 0 ? undefined : key.slice(0, slash);
  const name = slash < 0 ? key : key.slice(slash + 1);
  if (prefix !== undefined && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) return false;
  return LABEL_NAME.test(name) && (value === '' || LABEL_NAME.test(value));
}
