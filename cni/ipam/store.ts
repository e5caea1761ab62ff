// On-disk allocations in host-local's layout, so either plugin can read the other's
// state: <dataDir>/<network>/<ip> holds "<container id>\r\n<ifname>", and
// last_reserved_ip.<set index> the round-robin cursor.
//
// A reservation is written to a private temp file and then hard-linked to its IP
// name: link() fails atomically when the name exists, so two processes can never
// hold the same IP (whatever runs concurrently, in whichever netns), and no
// half-written reservation is ever visible. A kill -9 before the temp file is
// unlinked leaves only that file, holding the owner's key: release and GC remove it.
import { closeSync, linkSync, mkdirSync, openSync, readdirSync, readFileSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { IP } from '../net/ip.js';
import { SystemError } from '../spec/errors.js';

const LAST_PREFIX = 'last_reserved_ip.';
const TMP_PREFIX = '.kna-tmp-';
const LINE_BREAK = '\r\n';

export interface Reservation { ip: IP; containerId: string; ifname: string; file: string }

export class DiskStore {
  constructor(readonly dir: string) {}

  static forNetwork(dataDir: string, network: string): DiskStore {
    return new DiskStore(join(dataDir, network));
  }

  ensureDir(): void {
    io('mkdir', this.dir, () => mkdirSync(this.dir, { recursive: true, mode: 0o755 }));
  }

  /** true when `ip` is now ours; false when someone else holds it. */
  reserve(ip: IP, containerId: string, ifname: string, setIndex: number): boolean {
    return this.reserveFirst([{ ip }], containerId, ifname, setIndex) !== undefined;
  }

  /** Reserves the first free candidate (one temp file, one link() per try); undefined when none is free. */
  reserveFirst<C extends { ip: IP }>(cands: Iterable<C>, containerId: string, ifname: string, setIndex: number): C | undefined {
    const tmp = join(this.dir, `${TMP_PREFIX}${process.pid}-${Math.random().toString(36).slice(2, 10)}`);
    io('write', tmp, () => {
      const fd = openSync(tmp, 'wx', 0o644);
      try { writeSync(fd, `${containerId}${LINE_BREAK}${ifname}`); } finally { closeSync(fd); }
    });
    try {
      for (const c of cands) {
        const name = join(this.dir, c.ip.toString());
        try {
          linkSync(tmp, name);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'EEXIST') continue;
          throw new SystemError(`link ${name}`, (e as Error).message);
        }
        // A hint only (host-local writes it the same way); a torn write reads as absent.
        try { writeFileSync(join(this.dir, LAST_PREFIX + setIndex), c.ip.toString()); } catch { /* cursor is best effort */ }
        return c;
      }
      return undefined;
    } finally {
      try { unlinkSync(tmp); } catch { /* already gone */ }
    }
  }

  lastReserved(setIndex: number): IP | undefined {
    try {
      return IP.tryParse(readFileSync(join(this.dir, LAST_PREFIX + setIndex), 'utf8').trim());
    } catch {
      return undefined;
    }
  }

  /** All reservations, plus leftover temp files (ip undefined) so callers can clean them. */
  scan(): Array<Omit<Reservation, 'ip'> & { ip?: IP }> {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new SystemError(`readdir ${this.dir}`, (e as Error).message);
    }
    const out: Array<Omit<Reservation, 'ip'> & { ip?: IP }> = [];
    for (const name of names) {
      const isTmp = name.startsWith(TMP_PREFIX);
      const ip = isTmp ? undefined : IP.tryParse(name);
      if (!isTmp && !ip) continue; // lock, last_reserved_ip.N, anything else
      let text: string;
      try { text = readFileSync(join(this.dir, name), 'utf8'); } catch { continue; }
      const [containerId = '', ifname = ''] = text.trim().split(LINE_BREAK);
      out.push({ ...(ip ? { ip } : {}), containerId: containerId.trim(), ifname: ifname.trim(), file: join(this.dir, name) });
    }
    return out;
  }

  /** host-local wrote files holding only the id before 0.8: those match any ifname. */
  static owns(r: { containerId: string; ifname: string }, containerId: string, ifname: string): boolean {
    return r.containerId === containerId && (r.ifname === ifname || r.ifname === '');
  }

  getById(containerId: string, ifname: string): IP[] {
    return this.scan().filter((r) => r.ip && DiskStore.owns(r, containerId, ifname)).map((r) => r.ip!);
  }

  /** Removes the attachment's reservations (and its temp files); returns the IPs freed. */
  releaseById(containerId: string, ifname: string): IP[] {
    const freed: IP[] = [];
    for (const r of this.scan()) {
      if (!DiskStore.owns(r, containerId, ifname)) continue;
      if (remove(r.file) && r.ip) freed.push(r.ip);
    }
    return freed;
  }

  release(ip: IP): void {
    remove(join(this.dir, ip.toString()));
  }

  removeFile(file: string): boolean {
    return remove(file);
  }
}

function remove(file: string): boolean {
  try {
    unlinkSync(file);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new SystemError(`unlink ${file}`, (e as Error).message);
  }
}

function io<T>(call: string, path: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw new SystemError(`${call} ${path}`, (e as Error).message);
  }
}
