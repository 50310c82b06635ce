// `aws ec2 describe-instances` JSON: {"Reservations": [{"Instances": [Instance, …]}, …]}.
//
// - An instance is a workload with id = InstanceId, name = its `Name` tag (else the instance id),
//   and its other tags as labels (`aws:` system tags included: aws:autoscaling:groupName is
//   useful for grouping).
// - Its addresses are every NetworkInterfaces[].PrivateIpAddresses[].PrivateIpAddress and
//   NetworkInterfaces[].Ipv6Addresses[].Ipv6Address, plus the top-level PrivateIpAddress (present
//   even when NetworkInterfaces is not). Public addresses are not bound: flow logs record the
//   private address of the interface.
// - A binding starts when the interface was attached (NetworkInterfaces[].Attachment.AttachTime,
//   which survives stop/start), else at LaunchTime (the last start). It ends when the address shows
//   up on an instance launched later, or for a terminated or shutting-down instance at the time
//   AWS states in StateTransitionReason ("User initiated (2024-05-01 12:00:00 GMT)"); when that
//   time is missing the binding is dropped and reported, since the address may have gone anywhere.
// - Stopped instances keep their private addresses (AWS retains them), so they stay bound.
import { tryParseAddress } from '../../core/ip.js';
import { claimsToBindings, isRecord, parseIsoTime, type AddressClaim, type ImportProblem, type ParsedInventory, type ParsedWorkload } from './types.js';

export function isEc2Document(document: unknown): boolean {
  return isRecord(document) && Array.isArray(document.Reservations);
}

const TRANSITION_TIME = /\((\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) GMT\)/;

export function parseEc2Instances(document: unknown): ParsedInventory {
  const problems: ImportProblem[] = [];
  const workloads: ParsedWorkload[] = [];
  const claims: AddressClaim[] = [];
  const result = (): ParsedInventory => ({ format: 'ec2', workloads, bindings: claimsToBindings(claims), rules: [], problems });
  if (!isRecord(document) || !Array.isArray(document.Reservations)) {
    problems.push({ path: '$', reason: 'unknown-shape', detail: 'expected `aws ec2 describe-instances` output: {"Reservations": [{"Instances": […]}]}' });
    return result();
  }
  (document.Reservations as unknown[]).forEach((reservation, ri) => {
    if (!isRecord(reservation) || !Array.isArray(reservation.Instances)) {
      problems.push({ path: `$.Reservations[${ri}]`, reason: 'unknown-shape', detail: 'a reservation has an "Instances" array' });
      return;
    }
    (reservation.Instances as unknown[]).forEach((instance, ii) => {
      const path = `$.Reservations[${ri}].Instances[${ii}]`;
      const problem = (where: string, reason: ImportProblem['reason'], detail: string): void => {
        problems.push({ path: where, reason, detail });
      };
      if (!isRecord(instance)) return problem(path, 'unknown-shape', 'an instance must be an object');
      if (typeof instance.InstanceId !== 'string' || instance.InstanceId === '') return problem(`${path}.InstanceId`, 'missing-field', 'the instance has no InstanceId');
      const id = instance.InstanceId;
      const launched = typeof instance.LaunchTime === 'string' ? parseIsoTime(instance.LaunchTime) : undefined;
      if (launched === undefined) return problem(`${path}.LaunchTime`, 'bad-time', `instance ${id}: LaunchTime ${JSON.stringify(instance.LaunchTime)} is not an ISO-8601 time`);

      const labels: Record<string, string> = {};
      let name = id;
      if (instance.Tags !== undefined) {
        if (!Array.isArray(instance.Tags)) return problem(`${path}.Tags`, 'bad-labels', `instance ${id}: Tags is not an array`);
        for (const [ti, tag] of (instance.Tags as unknown[]).entries()) {
          if (!isRecord(tag) || typeof tag.Key !== 'string' || tag.Key === '' || typeof tag.Value !== 'string') {
            return problem(`${path}.Tags[${ti}]`, 'bad-labels', `instance ${id}: a tag is {"Key": string, "Value": string}`);
          }
          if (tag.Key === 'Name') {
            if (tag.Value !== '') name = tag.Value;
          } else {
            labels[tag.Key] = tag.Value;
          }
        }
      }

      const state = isRecord(instance.State) && typeof instance.State.Name === 'string' ? instance.State.Name : 'unknown';
      let until = Infinity;
      if (state === 'terminated' || state === 'shutting-down') {
        const m = typeof instance.StateTransitionReason === 'string' ? TRANSITION_TIME.exec(instance.StateTransitionReason) : null;
        const at = m?.[1] === undefined ? undefined : parseIsoTime(`${m[1].replace(' ', 'T')}Z`);
        if (at === undefined) {
          workloads.push({ id, name, labels });
          return problem(`${path}.StateTransitionReason`, 'bad-time', `instance ${id} is ${state} and does not say since when; its addresses are not bound`);
        }
        until = at;
      }
      workloads.push({ id, name, labels });

      // The top-level PrivateIpAddress repeats the primary interface's: each text is read once.
      const seen = new Set<unknown>();
      const claim = (text: unknown, where: string, from: number): void => {
        if (seen.has(text)) return;
        seen.add(text);
        const address = typeof text === 'string' ? tryParseAddress(text) : undefined;
        if (address === undefined) return problem(where, 'bad-address', `instance ${id}: ${JSON.stringify(text)} is not an IPv4 or IPv6 address`);
        if (!(until > from)) return problem(where, 'bad-interval', `instance ${id}: terminated before the address was attached`);
        claims.push({ address, workloadId: id, from, until });
      };
      const interfaces: unknown[] = Array.isArray(instance.NetworkInterfaces) ? (instance.NetworkInterfaces as unknown[]) : [];
      interfaces.forEach((eni, ni) => {
        const where = `${path}.NetworkInterfaces[${ni}]`;
        if (!isRecord(eni)) return problem(where, 'unknown-shape', `instance ${id}: a network interface must be an object`);
        const attached = isRecord(eni.Attachment) && typeof eni.Attachment.AttachTime === 'string' ? parseIsoTime(eni.Attachment.AttachTime) : undefined;
        const from = attached ?? launched;
        const privates: unknown[] = Array.isArray(eni.PrivateIpAddresses) ? (eni.PrivateIpAddresses as unknown[]) : [];
        privates.forEach((p, pi) => claim(isRecord(p) ? p.PrivateIpAddress : p, `${where}.PrivateIpAddresses[${pi}].PrivateIpAddress`, from));
        if (privates.length === 0 && eni.PrivateIpAddress !== undefined) claim(eni.PrivateIpAddress, `${where}.PrivateIpAddress`, from);
        const v6: unknown[] = Array.isArray(eni.Ipv6Addresses) ? (eni.Ipv6Addresses as unknown[]) : [];
        v6.forEach((p, pi) => claim(isRecord(p) ? p.Ipv6Address : p, `${where}.Ipv6Addresses[${pi}].Ipv6Address`, from));
      });
      if (instance.PrivateIpAddress !== undefined && instance.PrivateIpAddress !== '') claim(instance.PrivateIpAddress, `${path}.PrivateIpAddress`, launched);
    });
  });
  return result();
}
