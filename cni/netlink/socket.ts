// A NETLINK_ROUTE socket with request/response matching by sequence number.
// It lives in the netns of this process (the node's): Node has no setns.
import { getSystemErrorName } from 'node:util';
import { SystemError } from '../spec/errors.js';
import { loadBinding, type NativeSocket } from './binding.js';
import { errorOf, message, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR, splitMessages, type NlMessage } from './codec.js';

const NETLINK_ROUTE = 0;

export class NetlinkError extends SystemError {
  constructor(call: string, readonly errno: number) {
    super(call, errnoName(errno));
    this.name = 'NetlinkError';
  }
  get errnoName(): string { return errnoName(this.errno); }
}

function errnoName(errno: number): string {
  try { return getSystemErrorName(-errno); } catch { return `errno ${errno}`; }
}

interface Pending { call: string; dump: boolean; replies: NlMessage[]; resolve: (m: NlMessage[]) => void; reject: (e: Error) => void }

export class Rtnl {
  private seq = 1;
  private readonly pending = new Map<number, Pending>();

  private constructor(private readonly sock: NativeSocket) {}

  static async open(cacheDir: string): Promise<Rtnl> {
    const { NativeNetlink } = await loadBinding(cacheDir);
    let self: Rtnl | undefined;
    const sock = new NativeNetlink(NETLINK_ROUTE, 0, (msg) => self?.receive(msg), (err) => self?.fail(err));
    try {
      sock.bind(0, 0); // port 0: the kernel assigns one
    } catch (e) {
      sock.close();
      throw new SystemError('netlink bind', (e as Error).message);
    }
    self = new Rtnl(sock);
    return self;
  }

  /** Sends one request; resolves with the replies (dumps) or [] on ACK; rejects with the errno. */
  request(call: string, type: number, flags: number, ...body: Buffer[]): Promise<NlMessage[]> {
    const seq = this.seq++;
    const dump = (flags & NLM_F_DUMP) === NLM_F_DUMP;
    const msg = message(type, flags | NLM_F_REQUEST | (dump ? 0 : NLM_F_ACK), seq, ...body);
    return new Promise((resolve, reject) => {
      this.pending.set(seq, { call, dump, replies: [], resolve, reject });
      this.sock.send(0, 0, msg, (err) => {
        if (err && this.pending.delete(seq)) reject(new SystemError(`${call} (send)`, err.message));
      });
    });
  }

  close(): void {
    this.sock.close();
    for (const p of this.pending.values()) p.reject(new SystemError(p.call, 'netlink socket closed'));
    this.pending.clear();
  }

  private receive(buf: Buffer): void {
    for (const m of splitMessages(buf)) {
      const p = this.pending.get(m.seq);
      if (!p) continue;
      if (m.type === NLMSG_ERROR) {
        this.pending.delete(m.seq);
        const errno = errorOf(m.body);
        if (errno === 0) p.resolve(p.replies);
        else p.reject(new NetlinkError(p.call, errno));
      } else if (m.type === NLMSG_DONE) {
        this.pending.delete(m.seq);
        p.resolve(p.replies);
      } else {
        p.replies.push(m);
      }
    }
  }

  private fail(err: Error): void {
    for (const p of this.pending.values()) p.reject(new SystemError(p.call, err.message));
    this.pending.clear();
  }
}
