// The service-port list that orientation (DESIGN.md §6, collector/orientation.ts) ranks ports by:
// a curated built-in list of IANA-registered (and a few de-facto) server ports seen in enterprise
// networks, per transport protocol, plus ports the operator configures (`collector.servicePorts`,
// e.g. tcp/9999 or udp/5000-5010).
//
// The rank of a port, and so which side of a flow is the server when both ports are listed:
//   3 CONFIGURED   a port the operator named: they know their network better than any list
//   2 WELL_KNOWN   a built-in port below 1024 (a client rarely binds one; NAT and Windows
//                  clients do land on registered ports such as 3306 or 8080)
//   1 REGISTERED   a built-in port from 1024 up
//   0 NONE         not a service port
// Equal ranks are no evidence; orientation then falls back to the lower port.
//
// The built-in list deliberately leaves out ports in 600–1023 that are rare in enterprises: NFS and
// rsh clients bind reserved source ports there (Linux sunrpc uses 665–1023), and a listed one would
// outrank the NFS server's 2049. It lists no port in 49152–65535 (IANA's dynamic range, where
// Windows, BSD and macOS pick client ports) except WireGuard's 51820 and gRPC's 50051, and few in
// Linux's 32768–60999 client range: a client port that lands on a listed port against an unlisted
// server port comes out wrong until the analyzer's listener evidence corrects it.
//
// Lookups are for the orientation hot path: one Uint8Array of 65536 ranks per listed protocol and a
// 256-entry table from IANA protocol number to list, so a row costs two array reads per port.
import { FlowmapError } from '../core/errors.js';

export const SERVICE_RANK = { NONE: 0, REGISTERED: 1, WELL_KNOWN: 2, CONFIGURED: 3 } as const;

/** Transport protocols with a service-port list, and their IANA protocol numbers. */
export const LISTED_PROTOCOLS = { tcp: 6, udp: 17, sctp: 132 } as const;
export type ListedProtocol = keyof typeof LISTED_PROTOCOLS;

/**
 * What `ServicePorts.protocols[proto]` holds: 0 for a protocol without ports (ICMP, GRE, ESP, …),
 * the list number (1 tcp, 2 udp, 3 sctp) for a listed protocol, or PORTS_WITHOUT_LIST for a
 * protocol with ports but no list (DCCP, UDP-Lite), which orientation decides by the lower port.
 */
export const PORTS_WITHOUT_LIST = 4;
const LIST_NUMBER: Record<ListedProtocol, number> = { tcp: 1, udp: 2, sctp: 3 };
/** RFC 4340 DCCP and RFC 3828 UDP-Lite carry 16-bit ports in the same place as UDP. */
const PROTOCOLS_WITH_PORTS_UNLISTED = [33, 136];

export interface BuiltinServicePort {
  readonly name: string;
  readonly proto: ListedProtocol;
  readonly port: number;
}

type Ports = number | readonly [first: number, last: number];
type Protos = 'tcp' | 'udp' | 'sctp' | 'tcp udp' | 'tcp sctp' | 'tcp udp sctp';

// name, protocols, port or inclusive range. IANA service names where IANA has one; the product
// name where the port is a product's default rather than a registration (marked "de facto").
const BUILTIN: ReadonlyArray<readonly [string, Protos, Ports]> = [
  // Below 1024: IANA well-known.
  ['ftp-data', 'tcp', 20],
  ['ftp', 'tcp', 21],
  ['ssh', 'tcp sctp', 22],
  ['telnet', 'tcp', 23],
  ['smtp', 'tcp', 25],
  ['nameserver (WINS replication)', 'tcp', 42],
  ['whois', 'tcp', 43],
  ['tacacs', 'tcp udp', 49],
  ['domain (DNS)', 'tcp udp', 53],
  ['bootps (DHCP server)', 'udp', 67],
  ['tftp', 'udp', 69],
  ['http', 'tcp sctp', 80],
  ['kerberos', 'tcp udp', 88],
  ['iso-tsap (Siemens S7)', 'tcp', 102],
  ['pop3', 'tcp', 110],
  ['sunrpc (portmapper)', 'tcp udp', 111],
  ['auth (ident)', 'tcp', 113],
  ['nntp', 'tcp', 119],
  ['ntp', 'udp', 123],
  ['epmap (MS RPC endpoint mapper)', 'tcp udp', 135],
  ['netbios-ns', 'udp', 137],
  ['netbios-dgm', 'udp', 138],
  ['netbios-ssn', 'tcp', 139],
  ['imap', 'tcp', 143],
  ['snmp', 'udp', 161],
  ['snmptrap', 'udp', 162],
  ['xdmcp', 'udp', 177],
  ['bgp', 'tcp', 179],
  ['ldap', 'tcp udp', 389],
  ['svrloc (SLP)', 'tcp udp', 427],
  ['https', 'tcp udp sctp', 443],
  ['microsoft-ds (SMB)', 'tcp', 445],
  ['kpasswd', 'tcp udp', 464],
  ['submissions (SMTP over TLS)', 'tcp', 465],
  ['isakmp (IKE)', 'udp', 500],
  ['mbap (Modbus/TCP)', 'tcp', 502],
  ['exec (rexec)', 'tcp', 512],
  ['login (rlogin)', 'tcp', 513],
  ['shell (rsh)', 'tcp', 514],
  ['syslog', 'udp', 514],
  ['printer (LPD)', 'tcp', 515],
  ['router (RIP)', 'udp', 520],
  ['ripng', 'udp', 521],
  ['dhcpv6-server', 'udp', 547],
  ['afpovertcp', 'tcp', 548],
  ['rtsp', 'tcp udp', 554],
  ['submission', 'tcp', 587],
  ['http-rpc-epmap (RPC over HTTP)', 'tcp', 593],
  ['asf-rmcp (IPMI)', 'udp', 623],
  ['ipp', 'tcp', 631],
  ['ldaps', 'tcp', 636],
  ['ldp', 'tcp udp', 646],
  ['kerberos-adm', 'tcp', 749],
  ['netconf-ssh', 'tcp', 830],
  ['domain-s (DNS over TLS/QUIC)', 'tcp udp', 853],
  ['rsync', 'tcp', 873],
  ['vmware-authd (ESXi, de facto)', 'tcp udp', 902],
  ['ftps-data', 'tcp', 989],
  ['ftps', 'tcp', 990],
  ['imaps', 'tcp', 993],
  ['pop3s', 'tcp', 995],
  // From 1024: IANA registered, and de-facto defaults of widely deployed products.
  ['socks', 'tcp', 1080],
  ['openvpn', 'tcp udp', 1194],
  ['icap', 'tcp', 1344],
  ['ms-sql-s', 'tcp', 1433],
  ['ms-sql-m (SQL Server browser)', 'udp', 1434],
  ['ica (Citrix)', 'tcp', 1494],
  ['ncube-lm (Oracle listener)', 'tcp', 1521],
  ['radius (old port, de facto)', 'udp', 1645],
  ['radius-acct (old port, de facto)', 'udp', 1646],
  ['l2tp', 'udp', 1701],
  ['h323gatedisc', 'udp', 1718],
  ['h323gatestat', 'udp', 1719],
  ['h323hostcall', 'tcp', 1720],
  ['pptp', 'tcp', 1723],
  ['radius', 'udp', 1812],
  ['radius-acct', 'udp', 1813],
  ['mqtt', 'tcp', 1883],
  ['ssdp', 'udp', 1900],
  ['hsrp', 'udp', 1985],
  ['cisco-sccp', 'tcp', 2000],
  ['nfs', 'tcp udp sctp', 2049],
  ['cisco-netflow (de facto)', 'udp', 2055],
  ['eforward (ZooKeeper, de facto)', 'tcp', 2181],
  ['docker', 'tcp', 2375],
  ['docker-s', 'tcp', 2376],
  ['etcd-client', 'tcp', 2379],
  ['etcd-server', 'tcp', 2380],
  ['iec-104', 'tcp', 2404],
  ['oracle-tcps (de facto)', 'tcp', 2484],
  ['citrix-cgp (session reliability, de facto)', 'tcp', 2598],
  ['m2ua', 'sctp', 2904],
  ['m3ua', 'sctp', 2905],
  ['megaco-h248', 'sctp', 2944],
  ['grafana (de facto)', 'tcp', 3000],
  ['squid-http (de facto)', 'tcp', 3128],
  ['iscsi-target', 'tcp', 3260],
  ['msft-gc (AD global catalog)', 'tcp', 3268],
  ['msft-gc-ssl', 'tcp', 3269],
  ['mysql', 'tcp', 3306],
  ['ms-cluster-net', 'udp', 3343],
  ['ms-wbt-server (RDP)', 'tcp udp', 3389],
  ['stun', 'tcp udp', 3478],
  ['svn', 'tcp', 3690],
  ['bfd-control', 'udp', 3784],
  ['bfd-echo', 'udp', 3785],
  ['diameter', 'tcp sctp', 3868],
  ['nats (de facto)', 'tcp', 4222],
  ['epmd (Erlang, RabbitMQ)', 'tcp', 4369],
  ['ipsec-nat-t', 'udp', 4500],
  ['salt-master (de facto)', 'tcp', [4505, 4506]],
  ['galera (de facto)', 'tcp', 4567],
  ['ipfix', 'tcp udp sctp', 4739],
  ['ipfixs', 'tcp sctp', 4740],
  ['vxlan', 'udp', 4789],
  ['opcua-tcp', 'tcp', 4840],
  ['docker-registry (de facto)', 'tcp', 5000],
  ['beats (Logstash, de facto)', 'tcp', 5044],
  ['sip', 'tcp udp sctp', 5060],
  ['sips', 'tcp sctp', 5061],
  ['xmpp-client', 'tcp', 5222],
  ['capwap-control', 'udp', 5246],
  ['capwap-data', 'udp', 5247],
  ['xmpp-server', 'tcp', 5269],
  ['mdns', 'udp', 5353],
  ['llmnr', 'tcp udp', 5355],
  ['postgresql', 'tcp', 5432],
  ['vmware-vami (de facto)', 'tcp', 5480],
  ['kibana (de facto)', 'tcp', 5601],
  ['icinga (de facto)', 'tcp', 5665],
  ['nrpe', 'tcp', 5666],
  ['amqps', 'tcp', 5671],
  ['amqp', 'tcp sctp', 5672],
  ['dfsr (de facto)', 'tcp', 5722],
  ['diameters', 'tcp sctp', 5868],
  ['rfb (VNC)', 'tcp', [5900, 5903]],
  ['teamviewer (de facto)', 'tcp udp', 5938],
  ['couchdb', 'tcp', 5984],
  ['wsman (WinRM)', 'tcp', 5985],
  ['wsmans (WinRM over TLS)', 'tcp', 5986],
  ['x11', 'tcp', 6000],
  ['geneve', 'udp', 6081],
  ['sflow', 'udp', 6343],
  ['redis', 'tcp', 6379],
  ['sun-sr-https (Kubernetes API, de facto)', 'tcp', 6443],
  ['syslog-tls', 'tcp', 6514],
  ['openflow', 'tcp', 6653],
  ['afs3-fileserver (Cassandra inter-node, de facto)', 'tcp', 7000],
  ['afs3-callback (Cassandra inter-node TLS, de facto)', 'tcp', 7001],
  ['spark-master (de facto)', 'tcp', 7077],
  ['cassandra-jmx (de facto)', 'tcp', 7199],
  ['neo4j-http (de facto)', 'tcp', 7474],
  ['neo4j-bolt (de facto)', 'tcp', 7687],
  ['serf (Docker Swarm, Consul, de facto)', 'tcp udp', 7946],
  ['irdmi (HTTP alternate, de facto)', 'tcp', 8000],
  ['http-alt', 'tcp', 8008],
  ['ajp13 (Tomcat, de facto)', 'tcp', 8009],
  ['http-alt', 'tcp', 8080],
  ['sunproxyadmin (HTTP alternate, de facto)', 'tcp', 8081],
  ['influxdb (de facto)', 'tcp', 8086],
  ['radan-http (Hadoop YARN, de facto)', 'tcp', 8088],
  ['splunk-mgmt (de facto)', 'tcp', 8089],
  ['puppet (de facto)', 'tcp', 8140],
  ['trivnet1 (HashiCorp Vault, de facto)', 'tcp', 8200],
  ['consul-rpc (de facto)', 'tcp', 8300],
  ['consul-serf (de facto)', 'tcp udp', [8301, 8302]],
  ['pcsync-https (HTTPS alternate, de facto)', 'tcp udp', 8443],
  ['flannel-vxlan (de facto)', 'udp', 8472],
  ['fmtp (Consul HTTP, de facto)', 'tcp', 8500],
  ['wsus (de facto)', 'tcp', [8530, 8531]],
  ['consul-dns (de facto)', 'tcp udp', 8600],
  ['nessus (de facto)', 'tcp', 8834],
  ['secure-mqtt', 'tcp', 8883],
  ['ddi-tcp-1 (HTTP alternate, de facto)', 'tcp', 8888],
  ['cslistener (MinIO, SonarQube, ClickHouse native, de facto)', 'tcp', 9000],
  ['cassandra-cql (de facto)', 'tcp', 9042],
  ['glrpc (WebSphere HTTP, de facto)', 'tcp', 9080],
  ['websm (Prometheus, de facto)', 'tcp', 9090],
  ['xmltec-xmlmail (Prometheus Pushgateway, de facto)', 'tcp', 9091],
  ['XmlIpcRegSvc (Kafka, de facto)', 'tcp', 9092],
  ['copycat (Alertmanager, de facto)', 'tcp', 9093],
  ['hp-pdl-datastr (JetDirect; Prometheus node exporter)', 'tcp', 9100],
  ['wap-wsp (Elasticsearch HTTP, de facto)', 'tcp', 9200],
  ['vrace (Elasticsearch transport, de facto)', 'tcp', 9300],
  ['adws (AD Web Services, de facto)', 'tcp', 9389],
  ['zipkin (de facto)', 'tcp', 9411],
  ['git', 'tcp', 9418],
  ['tungsten-https (HTTPS alternate, de facto)', 'tcp', 9443],
  ['iua', 'sctp', 9900],
  ['netflow (nfdump default, de facto)', 'udp', [9995, 9996]],
  ['ndmp', 'tcp', 10000],
  ['zabbix-agent', 'tcp', 10050],
  ['zabbix-trapper', 'tcp', 10051],
  ['kubelet (de facto)', 'tcp', 10250],
  ['kube-proxy health (de facto)', 'tcp', 10256],
  ['memcache', 'tcp udp', 11211],
  ['sua', 'sctp', 14001],
  ['rabbitmq-management (de facto)', 'tcp', 15672],
  ['dnp', 'tcp udp', 20000],
  ['mountd (NFS)', 'tcp udp', 20048],
  ['cockroachdb (de facto)', 'tcp', 26257],
  ['mongodb', 'tcp', [27017, 27019]],
  ['sgsap', 'sctp', 29118],
  ['sbcap', 'sctp', 29168],
  ['s1-control (LTE S1AP)', 'sctp', 36412],
  ['x2-control (LTE X2AP)', 'sctp', 36422],
  ['ngap (5G)', 'sctp', 38412],
  ['xnap (5G)', 'sctp', 38422],
  ['EtherNet-IP-2', 'tcp udp', 44818],
  ['bacnet', 'udp', 47808],
  ['grpc (de facto)', 'tcp', 50051],
  ['wireguard (de facto)', 'udp', 51820],
];

/** The built-in list, one entry per protocol and port, for documentation and tests. */
export const BUILTIN_SERVICE_PORTS: readonly BuiltinServicePort[] = BUILTIN.flatMap(([name, protos, ports]) => {
  const [first, last] = typeof ports === 'number' ? [ports, ports] : ports;
  const entries: BuiltinServicePort[] = [];
  for (const proto of protos.split(' ') as ListedProtocol[]) {
    for (let port = first; port <= last; port++) entries.push({ name, proto, port });
  }
  return entries;
});

/** A configured service port or inclusive range, after parsing. */
export interface ServicePortRange {
  readonly proto: ListedProtocol;
  readonly first: number;
  readonly last: number;
}

/** What `createServicePorts({ extra })` accepts: `tcp/9999`, `udp/5000-5010`, or an object. */
export type ServicePortSpec = string | { readonly proto: number | ListedProtocol; readonly port: number; readonly last?: number };

const SPEC_TEXT = /^\s*([A-Za-z]+)\s*\/\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/;
const ALLOWED = 'PROTO/PORT or PROTO/FIRST-LAST with PROTO tcp, udp or sctp and ports 1-65535, e.g. tcp/9999 or udp/5000-5010';

function invalid(value: unknown, problem: string): FlowmapError {
  const shown = typeof value === 'string' ? `'${value}'` : JSON.stringify(value);
  return new FlowmapError('FLOWMAP_CONFIG_INVALID', `service port ${shown}: ${problem}; expected ${ALLOWED}`, {
    status: 400,
    details: { value, allowed: ALLOWED },
  });
}

function protocolOf(value: unknown, proto: number | string): ListedProtocol {
  if (typeof proto === 'number') {
    const name = (Object.keys(LISTED_PROTOCOLS) as ListedProtocol[]).find((key) => LISTED_PROTOCOLS[key] === proto);
    if (name === undefined) throw invalid(value, `protocol number ${proto} has no service-port list (6 tcp, 17 udp, 132 sctp)`);
    return name;
  }
  const name = proto.toLowerCase();
  if (!Object.hasOwn(LISTED_PROTOCOLS, name)) throw invalid(value, `'${proto}' is not tcp, udp or sctp`);
  return name as ListedProtocol;
}

function checkedPort(value: unknown, port: number): number {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw invalid(value, `port ${port} is outside 1-65535`);
  return port;
}

/** Parses one configured service port; throws FLOWMAP_CONFIG_INVALID naming the value and the form allowed. */
export function parseServicePort(spec: ServicePortSpec): ServicePortRange {
  if (typeof spec === 'string') {
    const match = SPEC_TEXT.exec(spec);
    if (match === null) throw invalid(spec, 'not in the form PROTO/PORT');
    const proto = protocolOf(spec, match[1] ?? '');
    const first = checkedPort(spec, Number(match[2]));
    const last = match[3] === undefined ? first : checkedPort(spec, Number(match[3]));
    if (last < first) throw invalid(spec, `range ${first}-${last} ends before it starts`);
    return { proto, first, last };
  }
  const proto = protocolOf(spec, spec.proto);
  const first = checkedPort(spec, spec.port);
  const last = spec.last === undefined ? first : checkedPort(spec, spec.last);
  if (last < first) throw invalid(spec, `range ${first}-${last} ends before it starts`);
  return { proto, first, last };
}

export interface ServicePortsOptions {
  /** Operator-configured service ports; they outrank every built-in port. */
  readonly extra?: readonly ServicePortSpec[];
  /** Whether to load the built-in list (default true; false leaves only `extra`). */
  readonly builtin?: boolean;
}

/** Ranked service ports per protocol; build with `createServicePorts`. */
export class ServicePorts {
  /**
   * Rank per (list, port) at `(list - 1) * 65536 + port`, list as in `protocols`. Read directly by
   * the orientation loop.
   */
  readonly ranks = new Uint8Array(3 * 65536);
  /** Per IANA protocol number: 0 (no ports), a list number 1–3, or PORTS_WITHOUT_LIST. */
  readonly protocols = new Uint8Array(256);
  private readonly names = new Map<number, string>();

  /** @internal use createServicePorts */
  constructor(builtin: readonly BuiltinServicePort[], extra: readonly ServicePortRange[]) {
    for (const [proto, list] of Object.entries(LIST_NUMBER) as [ListedProtocol, number][]) this.protocols[LISTED_PROTOCOLS[proto]] = list;
    for (const proto of PROTOCOLS_WITH_PORTS_UNLISTED) this.protocols[proto] = PORTS_WITHOUT_LIST;
    for (const entry of builtin) {
      const at = this.slot(entry.proto, entry.port);
      this.ranks[at] = entry.port < 1024 ? SERVICE_RANK.WELL_KNOWN : SERVICE_RANK.REGISTERED;
      if (!this.names.has(at)) this.names.set(at, entry.name);
    }
    for (const range of extra) {
      for (let port = range.first; port <= range.last; port++) {
        const at = this.slot(range.proto, port);
        this.ranks[at] = SERVICE_RANK.CONFIGURED;
        this.names.set(at, this.names.get(at) ?? 'configured');
      }
    }
  }

  /** Rank of a port (SERVICE_RANK) for an IANA protocol number; 0 for protocols without a list. */
  rank(proto: number, port: number): number {
    const list = this.protocols[proto] ?? 0;
    if (list === 0 || list === PORTS_WITHOUT_LIST || port < 0 || port > 65535) return SERVICE_RANK.NONE;
    return this.ranks[(list - 1) * 65536 + port] ?? SERVICE_RANK.NONE;
  }

  /** The service name of a listed port ('configured' for an operator port with no built-in name). */
  name(proto: number, port: number): string | undefined {
    const list = this.protocols[proto] ?? 0;
    if (list === 0 || list === PORTS_WITHOUT_LIST) return undefined;
    return this.names.get((list - 1) * 65536 + port);
  }

  private slot(proto: ListedProtocol, port: number): number {
    return (LIST_NUMBER[proto] - 1) * 65536 + port;
  }
}

/** Service ports from the built-in list plus configured ones (validated here, so bad config fails at start). */
export function createServicePorts(options: ServicePortsOptions = {}): ServicePorts {
  const extra = (options.extra ?? []).map(parseServicePort);
  return new ServicePorts(options.builtin === false ? [] : BUILTIN_SERVICE_PORTS, extra);
}
