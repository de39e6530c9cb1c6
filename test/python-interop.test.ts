/**
 * Listener / Client against the real thing: the local `python3`'s
 * `multiprocessing.connection` on the other end, both directions, with and
 * without an authkey, right and wrong keys, in the handshake form of the
 * running Python (HMAC-MD5 on 3.11) and, through a small Python helper that
 * runs Python 3.12's `{digest}` form over the stdlib framing, in that form too.
 * Skipped with a note when `python3` is absent.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Listener, Client, type Address, type ChallengeForm } from '../src/listener.js';
import { AuthenticationError } from '../src/errors.js';
import type { Connection } from '../src/connection.js';

const PEER = fileURLToPath(new URL('./fixtures/python/peer.py', import.meta.url));
const probe = spawnSync('python3', ['-c', 'import sys, multiprocessing.connection; print("%d.%d" % sys.version_info[:2])'], { encoding: 'utf8' });
const pythonVersion = probe.status === 0 ? probe.stdout.trim() : null;
const skip = pythonVersion === null ? 'python3 (with multiprocessing) is not installed here: the interoperability tests need it' : false;
const T = { timeout: 60_000, skip };

const KEY = randomBytes(24);
const WRONG = randomBytes(24);

/** Rejects when `p` does not settle within `ms`. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

type PeerEvent = Record<string, unknown>;

/** A running `peer.py`, read line by line (each line one JSON object). */
class PythonPeer {
  readonly child: ChildProcess;
  readonly lines: PeerEvent[] = [];
  stderr = '';
  readonly exited: Promise<number | null>;
  #waiters: (() => void)[] = [];

  constructor(args: string[]) {
    this.child = spawn('python3', [PEER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let buf = '';
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        this.lines.push(JSON.parse(buf.slice(0, i)) as PeerEvent);
        buf = buf.slice(i + 1);
      }
      for (const w of this.#waiters.splice(0)) w();
    });
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
    void this.exited.then(() => {
      for (const w of this.#waiters.splice(0)) w();
    });
    running.add(this);
    void this.exited.then(() => running.delete(this));
  }

  /** The first line matching `pred` (waits for it, bounded). */
  async line(pred: (e: PeerEvent) => boolean, ms = 20_000): Promise<PeerEvent> {
    const deadline = Date.now() + ms;
    for (;;) {
      const hit = this.lines.find(pred);
      if (hit) return hit;
      if (this.child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`python peer gave no matching line; lines: ${JSON.stringify(this.lines)}; stderr: ${this.stderr}`);
      }
      await within(new Promise<void>((r) => this.#waiters.push(r)), Math.max(1, deadline - Date.now()), 'a line from the python peer').catch(() => {});
    }
  }

  events(kind: string): PeerEvent[] {
    return this.lines.filter((e) => e.event === kind);
  }

  async finish(ms = 20_000): Promise<void> {
    const code = await within(this.exited, ms, 'the python peer to exit');
    assert.equal(code, 0, `python peer failed: ${this.stderr}`);
  }
}

const running = new Set<PythonPeer>();
after(() => {
  for (const p of running) p.child.kill('SIGKILL');
});

function peer(role: 'client' | 'server', address: Address | null, key: Uint8Array | null, extra: string[] = []): PythonPeer {
  return new PythonPeer([role, JSON.stringify(address), key === null ? '-' : Buffer.from(key).toString('hex'), ...extra]);
}

const text = (b: Uint8Array) => Buffer.from(b).toString('latin1');

/** Messages that cross the framing's interesting sizes: empty, tiny, around 16 KiB, a few MB. */
const MESSAGES = [
  Buffer.alloc(0),
  Buffer.from('x'),
  randomBytes(16384),
  randomBytes(16385),
  randomBytes(100_000),
  randomBytes(3 * 2 ** 20),
];

/** Our side of peer.py's conversation: its hello, then an echo of each message, then bye. */
async function converse(conn: Connection<unknown, unknown>): Promise<void> {
  assert.equal(text(await within(conn.recvBytes(), 20_000, 'hello from python')), 'hello from python');
  for (const m of MESSAGES) {
    await conn.sendBytes(m);
    const back = await within(conn.recvBytes(), 20_000, 'an echo');
    assert.equal(back.length, m.length + 5);
    assert.equal(text(back.subarray(0, 5)), 'echo:');
    assert.ok(Buffer.from(back.subarray(5)).equals(m), `echo of ${m.length} bytes differs`);
  }
  await conn.sendBytes(Buffer.from('bye'));
  assert.equal(text(await within(conn.recvBytes(), 20_000, 'bye')), 'bye');
}

async function serverAddress(p: PythonPeer): Promise<Address> {
  const line = await p.line((e) => 'address' in e);
  const a = line.address;
  return Array.isArray(a) ? [String(a[0]), Number(a[1])] : String(a);
}

describe(`python ${pythonVersion ?? '(absent)'} Client -> our Listener`, () => {
  for (const [label, address] of [
    ['AF_UNIX', null],
    ['AF_INET', ['127.0.0.1', 0]],
  ] as const) {
    it(`${label}, authkey, default challenge ({sha256}): bytes both ways`, T, async () => {
      const l = await Listener.create(address, { authkey: KEY });
      try {
        const py = peer('client', l.address, KEY);
        const conn = await within(l.accept(), 20_000, 'accept');
        await converse(conn);
        conn.close();
        await py.finish();
        assert.deepEqual(py.events('done').map((e) => e.echoed), [MESSAGES.length]);
      } finally {
        l.close();
      }
    });
  }

  it("authkey, challenge in Python 3.11's exact form (digest: 'legacy')", T, async () => {
    const l = await Listener.create(['127.0.0.1', 0], { authkey: KEY, digest: 'legacy' });
    try {
      const py = peer('client', l.address, KEY);
      const conn = await within(l.accept(), 20_000, 'accept');
      await converse(conn);
      conn.close();
      await py.finish();
    } finally {
      l.close();
    }
  });

  it('no authkey on either side', T, async () => {
    const l = await Listener.create();
    try {
      const py = peer('client', l.address, null);
      const conn = await within(l.accept(), 20_000, 'accept');
      await converse(conn);
      conn.close();
      await py.finish();
    } finally {
      l.close();
    }
  });

  it('wrong key: AuthenticationError on both sides; the listener then accepts the right client', T, async () => {
    const l = await Listener.create(null, { authkey: KEY });
    try {
      const bad = peer('client', l.address, WRONG);
      await assert.rejects(within(l.accept(), 20_000, 'accept of the wrong key'), AuthenticationError);
      await bad.finish();
      assert.equal(bad.events('error')[0]?.type, 'AuthenticationError', JSON.stringify(bad.lines));
      const good = peer('client', l.address, KEY);
      const conn = await within(l.accept(), 20_000, 'accept of the right key');
      await converse(conn);
      conn.close();
      await good.finish();
    } finally {
      l.close();
    }
  });

  for (const form of ['sha256', 'md5', 'sha384', 'sha3_256', 'sha3_384', 'legacy'] as ChallengeForm[]) {
    it(`Python 3.12's handshake (py312 helper), our challenge '${form}'`, T, async () => {
      const l = await Listener.create(['127.0.0.1', 0], { authkey: KEY, digest: form });
      try {
        const py = peer('client', l.address, KEY, ['--impl', 'py312', '--digest', 'sha384']);
        const conn = await within(l.accept(), 20_000, 'accept');
        await converse(conn);
        conn.close();
        await py.finish();
        // what the Python side saw of our challenge
        const seen = await py.line((e) => e.event === 'challenge');
        if (form === 'legacy') assert.deepEqual(seen, { event: 'challenge', digest: '', randomBytes: 20 });
        else assert.deepEqual(seen, { event: 'challenge', digest: form, randomBytes: 40 });
      } finally {
        l.close();
      }
    });
  }

  it("Python 3.12's handshake with a wrong key: AuthenticationError on both sides", T, async () => {
    const l = await Listener.create(null, { authkey: KEY });
    try {
      const py = peer('client', l.address, WRONG, ['--impl', 'py312']);
      await assert.rejects(within(l.accept(), 20_000, 'accept'), AuthenticationError);
      await py.finish();
      assert.equal(py.events('error')[0]?.type, 'AuthenticationError');
    } finally {
      l.close();
    }
  });
});

describe(`our Client -> python ${pythonVersion ?? '(absent)'} Listener`, () => {
  for (const [label, address] of [
    ['AF_UNIX', null],
    ['AF_INET', ['127.0.0.1', 0]],
  ] as const) {
    it(`${label}, authkey: bytes both ways`, T, async () => {
      const py = peer('server', address, KEY);
      const conn = await Client(await serverAddress(py), { authkey: KEY });
      await converse(conn);
      conn.close();
      await py.finish();
      assert.deepEqual(py.events('done').map((e) => e.echoed), [MESSAGES.length]);
    });
  }

  for (const form of ['legacy', 'md5', 'sha3_384'] as ChallengeForm[]) {
    it(`authkey, our challenge to the Python listener in form '${form}'`, T, async () => {
      const py = peer('server', ['127.0.0.1', 0], KEY);
      const conn = await Client(await serverAddress(py), { authkey: KEY, digest: form });
      await converse(conn);
      conn.close();
      await py.finish();
    });
  }

  it('no authkey on either side', T, async () => {
    const py = peer('server', null, null);
    const conn = await Client(await serverAddress(py));
    await converse(conn);
    conn.close();
    await py.finish();
  });

  it('wrong key: AuthenticationError on both sides; the Python listener then accepts us with the right key', T, async () => {
    const py = peer('server', ['127.0.0.1', 0], KEY, ['--accepts', '2']);
    const address = await serverAddress(py);
    await assert.rejects(Client(address, { authkey: WRONG }), AuthenticationError);
    const err = await py.line((e) => e.event === 'error');
    assert.equal(err.type, 'AuthenticationError');
    const conn = await Client(address, { authkey: KEY });
    await converse(conn);
    conn.close();
    await py.finish();
  });

  for (const digest of ['sha256', 'md5', 'sha384', 'sha3_256', 'sha3_384']) {
    it(`Python 3.12's handshake (py312 helper), its challenge '{${digest}}'`, T, async () => {
      const py = peer('server', ['127.0.0.1', 0], KEY, ['--impl', 'py312', '--digest', digest]);
      const conn = await Client(await serverAddress(py), { authkey: KEY });
      // we answered in the challenge's own digest, prefixed
      assert.equal((await py.line((e) => e.event === 'answered')).digest, digest);
      // and the Python side answered our {sha256} challenge in kind
      const seen = await py.line((e) => e.event === 'challenge');
      assert.deepEqual(seen, { event: 'challenge', digest: 'sha256', randomBytes: 40 });
      await converse(conn);
      conn.close();
      await py.finish();
    });
  }

  it("Python 3.12's handshake with a wrong key: AuthenticationError on both sides", T, async () => {
    const py = peer('server', ['127.0.0.1', 0], KEY, ['--impl', 'py312']);
    await assert.rejects(Client(await serverAddress(py), { authkey: WRONG }), AuthenticationError);
    assert.equal((await py.line((e) => e.event === 'error')).type, 'AuthenticationError');
    await py.finish();
  });
});
