// Sending syslog messages: UDP, one message per datagram (RFC 5426), and TCP with octet-counting
// framing (RFC 6587 §3.4.1: `MSG-LEN SP SYSLOG-MSG`). It knows sockets and nothing about events.
//
// A TCP connection is opened on the first send, reused for the next ones, and dropped when it
// errors or the receiver closes it; the next send opens a new one. A send that cannot connect or
// write within its deadline throws, so the job that sent it is retried. TCP syslog has no
// acknowledgements: a message written just before the receiver goes away can be lost without an
// error (RFC 6587 §4) — what reaches the kernel is all a sender can know.
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP, Socket } from 'node:net';

export interface SendOptions {
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface SyslogSender {
  send(message: Buffer, options: SendOptions): Promise<void>;
  close(): void;
}

/** RFC 6587 §3.4.1: the message's length in octets, a space, the message. */
export function octetCounted(message: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${message.length} `, 'ascii'), message]);
}

/** Runs `body` with a deadline and the caller's abort signal; `onGiveUp` cleans up what it started. */
function bounded<T>(what: string, options: SendOptions, onGiveUp: () => void, body: (settle: { resolve: (value: T) => void; reject: (err: Error) => void }) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let done = false;
    const finish = (): boolean => {
      if (done) return false;
      done = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      return true;
    };
    const fail = (err: Error): void => {
      if (finish()) {
        onGiveUp();
        reject(err);
      }
    };
    const onAbort = (): void => fail(new Error(`${what}: aborted`));
    const timer = setTimeout(() => fail(new Error(`${what}: no answer within ${options.timeoutMs} ms`)), options.timeoutMs);
    if (options.signal?.aborted === true) {
      onAbort();
      return;
    }
    options.signal?.addEventListener('abort', onAbort, { once: true });
    body({ resolve: (value) => { if (finish()) resolve(value); }, reject: fail });
  });
}

async function resolveHost(host: string): Promise<{ address: string; family: 4 | 6 }> {
  const literal = isIP(host);
  if (literal !== 0) return { address: host, family: literal === 6 ? 6 : 4 };
  const found = await lookup(host);
  return { address: found.address, family: found.family === 6 ? 6 : 4 };
}

export class UdpSender implements SyslogSender {
  private socket: UdpSocket | undefined;
  private family: 4 | 6 | undefined;

  constructor(private readonly host: string, private readonly port: number) {}

  async send(message: Buffer, options: SendOptions): Promise<void> {
    const where = `syslog udp://${this.host}:${this.port}`;
    // Resolved at each send: a name's address may change between messages.
    const { address, family } = await resolveHost(this.host);
    const socket = this.open(family);
    await bounded<void>(`${where}`, options, () => undefined, ({ resolve, reject }) => {
      socket.send(message, this.port, address, (err) => (err === null ? resolve() : reject(new Error(`${where}: ${err.message}`))));
    });
  }

  close(): void {
    this.socket?.close();
    this.socket = undefined;
  }

  private open(family: 4 | 6): UdpSocket {
    if (this.socket !== undefined && this.family === family) return this.socket;
    this.close();
    const socket = createSocket(family === 6 ? 'udp6' : 'udp4');
    // Errors surface through send callbacks; this listener keeps a stray one from crashing the process.
    socket.on('error', () => {
      if (this.socket === socket) this.socket = undefined;
      socket.close();
    });
    socket.unref();
    this.socket = socket;
    this.family = family;
    return socket;
  }
}

export class TcpSender implements SyslogSender {
  private socket: Socket | undefined;
  /** Sends go one at a time over the one connection, in order. */
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly host: string, private readonly port: number) {}

  send(message: Buffer, options: SendOptions): Promise<void> {
    const sent = this.queue.then(() => this.write(octetCounted(message), options));
    this.queue = sent.catch(() => undefined);
    return sent;
  }

  close(): void {
    this.socket?.destroy();
    this.socket = undefined;
  }

  private async write(frame: Buffer, options: SendOptions): Promise<void> {
    const where = `syslog tcp://${this.host}:${this.port}`;
    const socket = await this.connection(where, options);
    socket.ref();
    try {
      await bounded<void>(where, options, () => this.drop(socket), ({ resolve, reject }) => {
        const onClose = (): void => reject(new Error(`${where}: connection closed while sending`));
        socket.once('close', onClose);
        socket.write(frame, (err) => {
          socket.off('close', onClose);
          if (err == null) resolve();
          else reject(new Error(`${where}: ${err.message}`));
        });
      });
    } finally {
      socket.unref();
    }
  }

  private async connection(where: string, options: SendOptions): Promise<Socket> {
    const current = this.socket;
    if (current !== undefined && !current.destroyed && current.writable) return current;
    this.drop(current);
    const { address } = await resolveHost(this.host);
    const socket = new Socket();
    // From the start, so that no error is ever unheard: errors and the receiver's close mark the
    // connection dead, and the next send opens another.
    socket.on('error', () => this.drop(socket));
    socket.on('end', () => this.drop(socket));
    socket.on('close', () => this.drop(socket));
    await bounded<void>(where, options, () => socket.destroy(), ({ resolve, reject }) => {
      socket.once('connect', resolve);
      socket.once('error', (err) => reject(new Error(`${where}: ${err.message}`)));
      socket.connect({ host: address, port: this.port });
    });
    socket.setKeepAlive(true, 30_000);
    socket.setNoDelay(true);
    // A syslog receiver sends nothing; whatever it does send is read and dropped so it cannot pile up.
    socket.on('data', () => undefined);
    socket.unref();
    this.socket = socket;
    return socket;
  }

  private drop(socket: Socket | undefined): void {
    if (socket === undefined) return;
    if (this.socket === socket) this.socket = undefined;
    socket.destroy();
  }
}

/** One sender per transport, host and port, shared by every job of this process. */
export class SyslogSenders {
  private readonly senders = new Map<string, SyslogSender>();

  get(transport: 'udp' | 'tcp', host: string, port: number): SyslogSender {
    const key = `${transport}://${host}:${port}`;
    let sender = this.senders.get(key);
    if (sender === undefined) {
      sender = transport === 'udp' ? new UdpSender(host, port) : new TcpSender(host, port);
      this.senders.set(key, sender);
    }
    return sender;
  }

  close(): void {
    for (const sender of this.senders.values()) sender.close();
    this.senders.clear();
  }
}
