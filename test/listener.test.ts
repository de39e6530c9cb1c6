/**
 * Listener / Client: connections over Unix sockets and TCP in Python's wire
 * format, with authkey challenge-response. Covers values and bytes both
 * ways, big and empty messages, framing boundaries, keys, hostile peers,
 * aborts, lifecycle and argument errors, liveness, and the CPython
 * _TestListener / _TestListenerClient / TestInvalidFamily / OtherTest /
 * ChallengeResponseTest cases that apply (see test/CPYTHON.md).
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { createHmac, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Process, getContext } from 'multiprocessing-ts';
import { Listener, Client, deliverChallenge, answerChallenge, type Address, type ChallengeForm } from '../src/listener.js';
import { AuthenticationError, BufferTooShort, EOFError, ProcessError } from '../src/errors.js';
import { wait, type Connection } from '../src/connection.js';
import { TIMED_OUT, type Channel, type ReadResult } from '../src/internal/channel.js';
import { encodeHeader } from '../src/internal/socket-channel.js';
import * as auth from '../src/internal/auth.js';
import { runProgram, programs } from './helpers.js';
import * as targets from './fixtures/listener-targets.js';

const T = { timeout: 60_000 };
const KEY = Buffer.from('a shared secret');
const bytes = (s: string) => Buffer.from(s, 'latin1');
const text = (b: Uint8Array) => Buffer.from(b).toString('latin1');

const scratch = mkdtempSync(join(tmpdir(), 'mp-ts-listener-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
let seq = 0;
const sockPath = () => join(scratch, `s${++seq}`);

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

/** A connected client and the listener's end of it. */
async function pair(l: Listener, options: Parameters<typeof Client>[1] = {}): Promise<[Connection, Connection]> {
  const [c, a] = await within(Promise.all([Client(l.address, options), l.accept()]), 20_000, 'connect and accept');
  return [c, a];
}

/** Listeners made by a test; closed at its end. */
async function withListener<T>(address: Address | null | undefined, options: Parameters<typeof Listener.create>[1], fn: (l: Listener) => Promise<T>): Promise<T> {
  const l = await Listener.create(address, options);
  try {
    return await fn(l);
  } finally {
    l.close();
  }
}

/** A raw socket to a listener (to play a broken or hostile peer). */
function raw(address: Address): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = typeof address === 'string' ? connect({ path: address }) : connect({ host: address[0], port: address[1] });
    s.once('connect', () => {
      s.off('error', reject);
      s.on('error', () => {});
      s.setNoDelay(true);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** Resolves when the socket is closed (by us or the peer), bounded. */
function closedSoon(s: Socket, ms = 10_000): Promise<void> {
  if (s.destroyed && s.closed) return Promise.resolve();
  s.resume();
  return within(new Promise<void>((r) => s.once('close', () => r())), ms, 'the socket to close');
}

function writeRaw(s: Socket, data: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => s.write(data, (e) => (e ? reject(e) : resolve())));
}

function frame(payload: Uint8Array, long = false): Buffer {
  if (!long) return Buffer.concat([encodeHeader(payload.length), payload]);
  const h = Buffer.alloc(12);
  h.writeInt32BE(-1, 0);
  h.writeUInt32BE(0, 4);
  h.writeUInt32BE(payload.length, 8);
  return Buffer.concat([h, payload]);
}

const FAMILIES: [string, () => Address | null | undefined][] = [
  ['AF_UNIX (default address)', () => undefined],
  ['AF_UNIX (path)', () => sockPath()],
  ['AF_UNIX (abstract name)', () => `\0mp-ts-test-${process.pid}-${++seq}`],
  ['AF_INET', () => ['127.0.0.1', 0]],
];

describe('Listener / Client: messages', () => {
  for (const [label, address] of FAMILIES) {
    it(`${label}: values and bytes both ways, with an authkey`, T, async () => {
      await withListener(address(), { authkey: KEY }, async (l) => {
        if (label.startsWith('AF_INET')) {
          assert.equal(l.family, 'AF_INET');
          assert.ok(Array.isArray(l.address) && l.address[0] === '127.0.0.1' && l.address[1] > 0);
        } else {
          assert.equal(l.family, 'AF_UNIX');
          assert.equal(typeof l.address, 'string');
        }
        assert.equal(l.lastAccepted, null);
        const [c, a] = await pair(l, { authkey: KEY });
        if (l.family === 'AF_INET') {
          const la = l.lastAccepted as unknown as [string, number];
          assert.equal(la[0], '127.0.0.1');
          assert.ok(la[1] > 0);
        } else assert.equal(l.lastAccepted, '');
        const value = { n: 1, s: 'héllo', list: [1, 2.5, null], nested: { big: 12n, date: new Date(0) }, map: new Map([[1, 'a']]) };
        await c.send(value);
        assert.deepEqual(await a.recv(), value);
        await a.send(['back', 42]);
        assert.deepEqual(await c.recv(), ['back', 42]);
        await c.sendBytes(bytes('to listener'));
        assert.equal(text(await a.recvBytes()), 'to listener');
        await a.sendBytes(bytes('to client'));
        assert.equal(text(await c.recvBytes()), 'to client');
        for (const v of [undefined, null, true, 0, -1.5, '', 'x'.repeat(1000)]) {
          await c.send(v);
          assert.deepEqual(await a.recv(), v);
        }
        c.close();
        a.close();
      });
    });
  }

  it("['localhost', 0] binds 127.0.0.1 (AF_INET is IPv4, as Python's)", T, async () => {
    await withListener(['localhost', 0], {}, async (l) => {
      assert.equal((l.address as [string, number])[0], '127.0.0.1');
      const [c, a] = await pair(l);
      await c.send(1);
      assert.equal(await a.recv(), 1);
      c.close();
      a.close();
    });
  });

  it('big messages (20 MB) both ways at once, byte for byte', T, async () => {
    await withListener(null, { authkey: KEY }, async (l) => {
      const [c, a] = await pair(l, { authkey: KEY });
      const up = randomBytes(20 * 2 ** 20);
      const down = randomBytes(20 * 2 ** 20 + 3);
      const [, , gotUp, gotDown] = await within(Promise.all([c.sendBytes(up), a.sendBytes(down), a.recvBytes(), c.recvBytes()]), 30_000, '20 MB both ways');
      assert.ok(Buffer.from(gotUp).equals(up));
      assert.ok(Buffer.from(gotDown).equals(down));
      // a big value too
      const arr = new Float64Array(2 ** 20).map((_, i) => i / 3);
      await c.send(arr);
      assert.deepEqual(await a.recv(), arr);
      c.close();
      a.close();
    });
  });

  it('zero-length messages and boundaries: messages never merge (CPython test_dont_merge, test_empty_string)', T, async () => {
    await withListener(['127.0.0.1', 0], {}, async (l) => {
      const [c, a] = await pair(l);
      assert.equal(await a.poll(), false);
      assert.equal(await a.poll(50), false);
      await c.sendBytes(bytes(''));
      assert.equal(await a.poll(), true);
      assert.equal(await a.poll(), true);
      assert.equal((await a.recvBytes()).length, 0);
      for (const s of ['a', 'b', 'cd', '', 'e']) await c.sendBytes(bytes(s));
      const got: string[] = [];
      for (let i = 0; i < 5; i++) {
        assert.equal(await a.poll(5000), true);
        assert.equal(await a.poll(5000), true);
        got.push(text(await a.recvBytes()));
      }
      assert.deepEqual(got, ['a', 'b', 'cd', '', 'e']);
      assert.equal(await a.poll(), false);
      c.close();
      a.close();
    });
  });

  it('a burst of 20,000 small sends arrives whole and in order', T, async () => {
    await withListener(null, {}, async (l) => {
      const [c, a] = await pair(l);
      const n = 20_000;
      const sends: Promise<void>[] = [];
      for (let i = 0; i < n; i++) sends.push(c.send(i));
      for (let i = 0; i < n; i++) assert.equal(await a.recv(), i);
      await Promise.all(sends);
      c.close();
      a.close();
    });
  });

  it('a sender far ahead of the reader (60 MB in 1 MB messages): every message arrives in order', T, async () => {
    await withListener(null, {}, async (l) => {
      const [c, a] = await pair(l);
      const chunks = Array.from({ length: 60 }, (_, i) => Buffer.alloc(2 ** 20, i));
      const sending = Promise.all(chunks.map((b) => c.sendBytes(b)));
      // the reader's side pauses the socket while 8 MB wait unread; reading resumes it
      for (let i = 0; i < 60; i++) {
        const m = await within(a.recvBytes(), 20_000, `message ${i}`);
        assert.equal(m.length, 2 ** 20);
        assert.equal(m[0], i);
        assert.equal(m[m.length - 1], i);
      }
      await within(sending, 20_000, 'the sends');
      c.close();
      a.close();
    });
  });

  it('framing from a raw peer split at arbitrary points, including the 12-byte header form', T, async () => {
    await withListener(null, {}, async (l) => {
      const accepted = l.accept();
      const s = await raw(l.address);
      const a = await within(accepted, 10_000, 'accept');
      const payloads = [bytes(''), bytes('x'), randomBytes(300), randomBytes(70_000), bytes('long-form header'), bytes('')];
      const stream = Buffer.concat(payloads.map((p, i) => frame(p, i === 4)));
      let off = 0;
      let k = 0;
      while (off < stream.length) {
        const n = off < 400 ? 1 + (k++ % 7) : 1 + ((k++ * 7919) % 9000);
        await writeRaw(s, stream.subarray(off, off + n));
        off += n;
      }
      for (const p of payloads) assert.ok(Buffer.from(await within(a.recvBytes(), 10_000, 'a frame')).equals(p));
      // and what we send is Python's framing
      const got: Buffer[] = [];
      s.on('data', (d: Buffer) => got.push(d));
      await a.sendBytes(bytes('abc'));
      await a.sendBytes(randomBytes(20_000));
      const deadline = Date.now() + 10_000;
      while (Buffer.concat(got).length < 4 + 3 + 4 + 20_000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      const all = Buffer.concat(got);
      assert.equal(all.readInt32BE(0), 3);
      assert.equal(all.subarray(4, 7).toString(), 'abc');
      assert.equal(all.readInt32BE(7), 20_000);
      assert.equal(all.length, 11 + 20_000);
      s.destroy();
      a.close();
    });
  });

  it('the header of a message over 0x7fffffff bytes is -1 then an 8-byte length', () => {
    assert.deepEqual([...encodeHeader(5)], [0, 0, 0, 5]);
    assert.deepEqual([...encodeHeader(0x7fffffff)], [0x7f, 0xff, 0xff, 0xff]);
    assert.deepEqual([...encodeHeader(0x80000000)], [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0x80, 0, 0, 0]);
    assert.deepEqual([...encodeHeader(2 ** 32 + 7)], [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 0, 0, 0, 7]);
  });

  it('poll, recvBytesInto, BufferTooShort, maxLength (the end stops being readable, still writable)', T, async () => {
    await withListener(null, {}, async (l) => {
      const [c, a] = await pair(l);
      await c.sendBytes(bytes('abc'));
      const buf = new Uint8Array(10);
      assert.equal(await a.recvBytesInto(buf, 2), 3);
      assert.deepEqual([...buf], [0, 0, 97, 98, 99, 0, 0, 0, 0, 0]);
      await c.sendBytes(bytes('too long for it'));
      await assert.rejects(a.recvBytesInto(new Uint8Array(4)), (e: unknown) => e instanceof BufferTooShort && text((e as unknown as { bytes: Uint8Array }).bytes) === 'too long for it');
      await c.sendBytes(bytes('12345'));
      await assert.rejects(a.recvBytes(3), /bad message length/);
      assert.equal(a.readable, false);
      assert.equal(a.writable, true);
      await a.sendBytes(bytes('still writable'));
      assert.equal(text(await c.recvBytes()), 'still writable');
      c.close();
      a.close();
    });
  });

  it('maxLength is enforced before a long message has arrived', T, async () => {
    await withListener(null, {}, async (l) => {
      const accepted = l.accept();
      const s = await raw(l.address);
      const a = await within(accepted, 10_000, 'accept');
      await writeRaw(s, Buffer.concat([encodeHeader(1_000_000), bytes('only the start')]));
      await assert.rejects(within(a.recvBytes(100), 10_000, 'recvBytes(100)'), /bad message length/);
      s.destroy();
      a.close();
    });
  });

  it('the peer closes: what was sent is still read, then EOFError; poll is true; send rejects with EPIPE', T, async () => {
    await withListener(null, {}, async (l) => {
      const [c, a] = await pair(l);
      await c.send('last words');
      c.close();
      assert.equal(await a.poll(5000), true);
      assert.equal(await a.recv(), 'last words');
      await assert.rejects(within(a.recv(), 10_000, 'recv at EOF'), EOFError);
      assert.equal(await a.poll(), true);
      await assert.rejects(a.recvBytes(), EOFError);
      await assert.rejects(a.send('anyone?'), (e: unknown) => e instanceof ProcessError && e.code === 'EPIPE');
      a.close();
    });
  });

  it('closing our end: a waiting recv rejects, later calls say the handle is closed', T, async () => {
    await withListener(null, {}, async (l) => {
      const [c, a] = await pair(l);
      const waiting = a.recv();
      a.close();
      await assert.rejects(within(waiting, 5000, 'the waiting recv'), /handle is closed/);
      await assert.rejects(a.recv(), /handle is closed/);
      await assert.rejects(a.send(1), /handle is closed/);
      await assert.rejects(within(c.recv(), 10_000, 'recv after the peer closed'), EOFError);
      c.close();
    });
  });

  it('the Sync forms are not available on socket connections', T, async () => {
    await withListener(null, {}, async (l) => {
      const [c, a] = await pair(l);
      assert.throws(() => c.sendSync(1), (e: unknown) => e instanceof ProcessError && /not available on a socket connection/.test(e.message));
      assert.throws(() => a.recvSync(), /not available on a socket connection/);
      assert.throws(() => a.pollSync(0), /not available on a socket connection/);
      assert.throws(() => c.sendBytesSync(bytes('x')), /not available on a socket connection/);
      c.close();
      a.close();
    });
  });

  it('wait() works with socket connections', T, async () => {
    await withListener(null, {}, async (l) => {
      const [c1, a1] = await pair(l);
      const [c2, a2] = await pair(l);
      assert.deepEqual(await wait([a1, a2], 0), []);
      const waiting = wait([a1, a2], 10_000);
      await c2.send('x');
      assert.deepEqual(await within(waiting, 10_000, 'wait'), [a2]);
      for (const x of [c1, a1, c2, a2]) x.close();
    });
  });

  it('many clients at once, each with its own conversation', T, async () => {
    await withListener(null, { authkey: KEY }, async (l) => {
      const n = 25;
      const clients = Promise.all(
        Array.from({ length: n }, async (_, i) => {
          const c = await Client(l.address, { authkey: KEY });
          await c.send(i);
          const back = await c.recv();
          c.close();
          return back;
        }),
      );
      for (let i = 0; i < n; i++) {
        const a = await within(l.accept(), 20_000, 'accept');
        void (async () => {
          const v = (await a.recv()) as number;
          await a.send(v * 10);
          a.close();
        })();
      }
      assert.deepEqual(await within(clients, 20_000, 'the clients'), Array.from({ length: n }, (_, i) => i * 10));
    });
  });
});

describe('Listener / Client: authentication', () => {
  const forms: ChallengeForm[] = ['sha256', 'legacy', 'md5', 'sha384', 'sha3_256', 'sha3_384'];
  for (const lf of forms) {
    it(`listener challenge '${lf}', client challenge '${forms[(forms.indexOf(lf) + 1) % forms.length]}'`, T, async () => {
      await withListener(null, { authkey: KEY, digest: lf }, async (l) => {
        const [c, a] = await pair(l, { authkey: KEY, digest: forms[(forms.indexOf(lf) + 1) % forms.length] });
        await c.send('ok');
        assert.equal(await a.recv(), 'ok');
        c.close();
        a.close();
      });
    });
  }

  it('a wrong key: AuthenticationError on both sides; the listener accepts the next client', T, async () => {
    await withListener(['127.0.0.1', 0], { authkey: KEY }, async (l) => {
      const [client, server] = await within(Promise.allSettled([Client(l.address, { authkey: bytes('wrong') }), l.accept()]), 20_000, 'the handshake');
      assert.equal(client.status, 'rejected');
      assert.ok(client.reason instanceof AuthenticationError, String(client.reason));
      assert.match(client.reason.message, /digest sent was rejected/);
      assert.equal(server.status, 'rejected');
      assert.ok(server.reason instanceof AuthenticationError, String(server.reason));
      assert.match(server.reason.message, /digest received was wrong/);
      const [c, a] = await pair(l, { authkey: KEY });
      await c.send('fine');
      assert.equal(await a.recv(), 'fine');
      c.close();
      a.close();
    });
  });

  it('a key on the listener only: the keyless client reads the challenge; accept rejects after authTimeout', T, async () => {
    await withListener(null, { authkey: KEY, authTimeout: 300 }, async (l) => {
      const c = await Client(l.address);
      const accepting = l.accept();
      const first = await within(c.recvBytes(), 10_000, 'the challenge');
      assert.equal(text(first.subarray(0, 11)), '#CHALLENGE#');
      assert.equal(text(first.subarray(11, 19)), '{sha256}');
      assert.equal(first.length, 11 + 8 + 40);
      await assert.rejects(within(accepting, 10_000, 'accept'), (e: unknown) => e instanceof AuthenticationError && /authTimeout/.test(e.message));
      await assert.rejects(within(c.recv(), 10_000, 'EOF'), EOFError);
      c.close();
    });
  });

  it('a key on the client only: Client rejects with AuthenticationError after authTimeout', T, async () => {
    await withListener(null, {}, async (l) => {
      const accepting = l.accept();
      await assert.rejects(Client(l.address, { authkey: KEY, authTimeout: 300 }), (e: unknown) => e instanceof AuthenticationError && /authTimeout/.test(e.message));
      const a = await within(accepting, 10_000, 'accept');
      await assert.rejects(within(a.recv(), 10_000, 'EOF'), EOFError);
      a.close();
    });
  });

  it('deliverChallenge / answerChallenge on connections', T, async () => {
    await withListener(null, {}, async (l) => {
      const [c, a] = await pair(l);
      await within(Promise.all([deliverChallenge(a, KEY, { digest: 'sha3_256' }), answerChallenge(c, KEY)]), 10_000, 'handshake');
      await within(Promise.all([deliverChallenge(c, KEY, { digest: 'legacy' }), answerChallenge(a, KEY)]), 10_000, 'handshake');
      const r = await within(Promise.allSettled([deliverChallenge(a, KEY), answerChallenge(c, bytes('other'))]), 10_000, 'handshake');
      assert.ok(r.every((x) => x.status === 'rejected' && x.reason instanceof AuthenticationError));
      await assert.rejects(deliverChallenge(a, 'key' as unknown as Uint8Array), TypeError);
      c.close();
      a.close();
    });
  });

  // CPython 3.12+ ChallengeResponseTest, on the functions of src/internal/auth.ts
  it('ChallengeResponseTest.test_challengeresponse: legacy, {md5} and {sha256} answers verify', () => {
    for (const algo of [null, 'md5', 'sha256']) {
      const msg = Buffer.concat([bytes(algo ? `{${algo}}` : ''), bytes('is-twenty-bytes-long')]);
      const response = auth.createResponse(KEY, msg);
      if (algo === null) {
        assert.equal(response.length, 16);
        assert.ok(Buffer.from(response).equals(createHmac('md5', KEY).update(msg).digest()));
      } else {
        assert.equal(text(response.subarray(0, algo.length + 2)), `{${algo}}`);
        assert.ok(Buffer.from(response.subarray(algo.length + 2)).equals(createHmac(algo, KEY).update(msg).digest()));
      }
      auth.verifyResponse(KEY, msg, response);
    }
  });

  it('ChallengeResponseTest.test_verify_fail: wrong, short, unprefixed or unknown-digest answers are refused', () => {
    const msg = auth.newChallenge('sha256');
    const good = auth.createResponse(KEY, msg);
    const bad = Buffer.from(good);
    bad[bad.length - 1]! ^= 1;
    for (const response of [bad, bytes('{sha256}short'), bytes('no prefix at all, longer than 20'), bytes('{sha1}' + 'x'.repeat(20)), Buffer.alloc(16)]) {
      assert.throws(() => auth.verifyResponse(KEY, msg, response), AuthenticationError);
    }
    assert.throws(() => auth.createResponse(KEY, bytes('{sha1}' + 'x'.repeat(40))), AuthenticationError);
    // the MAC covers the prefix: the same random bytes under another prefix do not verify
    const other = Buffer.concat([bytes('{sha384}'), msg.subarray(8)]);
    assert.throws(() => auth.verifyResponse(KEY, other, good), AuthenticationError);
  });

  /** A Channel that replays canned frames and swallows writes (CPython OtherTest's _FakeConnection). */
  function fake(frames: Uint8Array[]): Channel {
    return {
      canRead: true,
      canWrite: true,
      supportsSync: false,
      write: async () => {},
      writeSync: () => {},
      read: async (): Promise<ReadResult> => frames.shift() ?? null,
      readSync: () => TIMED_OUT,
      poll: async () => true,
      pollSync: () => true,
      close: () => {},
    };
  }

  it('OtherTest.test_deliver_challenge_auth_failure: a bogus answer', async () => {
    await assert.rejects(auth.deliverChallenge(fake([bytes('something bogus')]), bytes('abc')), AuthenticationError);
  });

  it('OtherTest.test_answer_challenge_auth_failure: an empty challenge, then a bogus verdict', async () => {
    await assert.rejects(auth.answerChallenge(fake([auth.CHALLENGE, bytes('something bogus')]), bytes('abc')), AuthenticationError);
    await assert.rejects(auth.answerChallenge(fake([Buffer.concat([auth.CHALLENGE, randomBytes(20)]), bytes('something bogus')]), bytes('abc')), /digest sent was rejected/);
    await assert.rejects(auth.answerChallenge(fake([bytes('not a challenge')]), bytes('abc')), /expected an authentication challenge/);
  });
});

describe('Listener / Client: bad peers are dropped, the listener and other clients carry on', () => {
  const HTTP = bytes('GET / HTTP/1.1\r\nHost: example\r\n\r\n');
  const HUGE32 = encodeHeader(0x7fffffff);
  const HUGE64 = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
  const NEGATIVE = Buffer.from([0xff, 0xff, 0xff, 0xfb]);

  for (const [label, garbage] of [
    ['HTTP request', HTTP],
    ['2 GiB length prefix', HUGE32],
    ['2^63 length prefix (12-byte form)', HUGE64],
    ['negative length prefix', NEGATIVE],
    ['a 300-byte frame (over the 256-byte handshake cap)', frame(Buffer.alloc(300))],
    ['a short frame that is no answer', frame(bytes('hello'))],
  ] as const) {
    it(`with an authkey: ${label}`, T, async () => {
      await withListener(null, { authkey: KEY }, async (l) => {
        const [c1, a1] = await pair(l, { authkey: KEY });
        const s = await raw(l.address);
        s.resume();
        await writeRaw(s, garbage);
        await assert.rejects(within(l.accept(), 10_000, 'accept of the bad peer'), AuthenticationError);
        await closedSoon(s);
        const [c2, a2] = await pair(l, { authkey: KEY });
        await c1.send('first');
        await c2.send('second');
        assert.equal(await a1.recv(), 'first');
        assert.equal(await a2.recv(), 'second');
        for (const x of [c1, a1, c2, a2]) x.close();
      });
    });
  }

  for (const [label, garbage, pattern] of [
    ['HTTP request', HTTP, /over this connection's limit/],
    ['2 GiB length prefix', HUGE32, /over this connection's limit/],
    ['2^63 length prefix', HUGE64, /over this connection's limit/],
    ['negative length prefix', NEGATIVE, /negative length prefix/],
  ] as const) {
    it(`without an authkey: ${label}: the accepted connection fails, the socket is dropped`, T, async () => {
      await withListener(['127.0.0.1', 0], {}, async (l) => {
        const [c1, a1] = await pair(l);
        const s = await raw(l.address);
        const bad = await within(l.accept(), 10_000, 'accept');
        await writeRaw(s, Buffer.concat([frame(bytes('one good frame')), garbage]));
        await closedSoon(s);
        assert.equal(text(await bad.recvBytes()), 'one good frame');
        await assert.rejects(bad.recvBytes(), pattern);
        await assert.rejects(bad.recvBytes(), pattern);
        await assert.rejects(bad.send('x'), (e: unknown) => e instanceof ProcessError && e.code === 'EPIPE');
        bad.close();
        const [c2, a2] = await pair(l);
        await c1.send(1);
        await c2.send(2);
        assert.equal(await a1.recv(), 1);
        assert.equal(await a2.recv(), 2);
        for (const x of [c1, a1, c2, a2]) x.close();
      });
    });
  }

  it('maxMessageSize: a message at the limit passes, one byte more drops the connection', T, async () => {
    await withListener(null, { maxMessageSize: 1000 }, async (l) => {
      const [c, a] = await pair(l, { maxMessageSize: 1000 });
      await c.sendBytes(Buffer.alloc(1000));
      assert.equal((await a.recvBytes()).length, 1000);
      await a.sendBytes(Buffer.alloc(1001));
      await assert.rejects(within(c.recvBytes(), 10_000, 'recv'), /1001 bytes, over this connection's limit of 1000 \(the maxMessageSize option\)/);
      c.close();
      a.close();
    });
  });

  it('end of file in the middle of a message (and of a header)', T, async () => {
    await withListener(null, {}, async (l) => {
      for (const partial of [Buffer.concat([encodeHeader(10), bytes('abc')]), Buffer.from([0, 0])]) {
        const s = await raw(l.address);
        const a = await within(l.accept(), 10_000, 'accept');
        await writeRaw(s, partial);
        s.end();
        await assert.rejects(within(a.recvBytes(), 10_000, 'recv'), /got end of file during message/);
        a.close();
        s.destroy();
      }
    });
  });

  it('a flood of bad peers while nobody accepts: at most 32 failures wait to be reported', T, async () => {
    await withListener(null, { authkey: KEY }, async (l) => {
      const socks = await Promise.all(Array.from({ length: 40 }, () => raw(l.address)));
      await Promise.all(socks.map((s) => writeRaw(s, HUGE32)));
      await Promise.all(socks.map((s) => closedSoon(s)));
      // the handshake runs without accept(): the client is in once it is done
      const c = await within(Client(l.address, { authkey: KEY }), 10_000, 'the good client');
      let failures = 0;
      for (;;) {
        const r = await within(l.accept(), 10_000, 'accept').catch((e: unknown) => e);
        if (r instanceof AuthenticationError) failures++;
        else {
          assert.ok(!(r instanceof Error), String(r));
          await c.send('behind the failures');
          assert.equal(await (r as Connection).recv(), 'behind the failures');
          (r as Connection).close();
          break;
        }
      }
      assert.equal(failures, 32);
      c.close();
    });
  });

  it('a silent peer does not hold up the others; it is refused after authTimeout', T, async () => {
    await withListener(null, { authkey: KEY, authTimeout: 1500 }, async (l) => {
      const s = await raw(l.address);
      s.resume();
      const [c, a] = await within(pair(l, { authkey: KEY }), 1000, 'the good client, ahead of the silent one');
      await assert.rejects(within(l.accept(), 10_000, 'the silent one'), /authTimeout/);
      await closedSoon(s);
      c.close();
      a.close();
    });
  });
});

describe('Listener: lifecycle and arguments (CPython _TestListener, _TestListenerClient, TestInvalidFamily)', () => {
  it('close() is idempotent, removes the socket file and the temporary directory; accept then rejects', T, async () => {
    const l = await Listener.create();
    const path = l.address as string;
    assert.ok(existsSync(path));
    l.close();
    l.close();
    assert.equal(l.closed, true);
    assert.equal(existsSync(path), false);
    assert.equal(existsSync(dirname(path)), false);
    await assert.rejects(l.accept(), (e: unknown) => e instanceof ProcessError && /listener is closed/.test(e.message));
    await assert.rejects(Client(path), (e: NodeJS.ErrnoException) => e.code === 'ENOENT' || e.code === 'ECONNREFUSED');
  });

  it('close() with a path given: the file goes; a waiting accept rejects; accepted connections live on', T, async () => {
    const path = sockPath();
    const l = await Listener.create(path);
    assert.ok(existsSync(path));
    const [c, a] = await pair(l);
    const waiting = l.accept();
    l.close();
    assert.equal(existsSync(path), false);
    await assert.rejects(waiting, (e: unknown) => e instanceof ProcessError && /listener is closed/.test(e.message));
    await a.send('still here');
    assert.equal(await c.recv(), 'still here');
    c.close();
    a.close();
  });

  it('close(): a client not yet accepted sees the end of the stream', T, async () => {
    for (const authkey of [undefined, KEY]) {
      const l = await Listener.create(null, { authkey, authTimeout: Infinity });
      const c = await Client(l.address);
      l.close();
      // with a key, the challenge may have been sent before the close
      let first: Uint8Array | Error = await within(c.recvBytes(), 10_000, 'EOF').catch((e: Error) => e);
      if (authkey && first instanceof Uint8Array) {
        assert.equal(text(first.subarray(0, 11)), '#CHALLENGE#');
        first = await within(c.recvBytes(), 10_000, 'EOF').catch((e: Error) => e);
      }
      assert.ok(first instanceof EOFError, String(first));
      c.close();
    }
  });

  it('test_context: Symbol.dispose / asyncDispose close the listener and connections', T, async () => {
    const l = await Listener.create();
    const [c, a] = await pair(l);
    await c.send(1729);
    assert.equal(await a.recv(), 1729);
    a[Symbol.dispose]();
    await c[Symbol.asyncDispose]();
    await l[Symbol.asyncDispose]();
    assert.equal(l.closed, true);
    await assert.rejects(l.accept(), /listener is closed/);
  });

  for (const [label, address] of FAMILIES.filter(([lbl]) => !lbl.includes('default'))) {
    it(`test_multiple_bind (${label}): a second Listener on a bound address fails with EADDRINUSE`, T, async () => {
      await withListener(address(), {}, async (l) => {
        await assert.rejects(Listener.create(l.address), (e: NodeJS.ErrnoException) => e.code === 'EADDRINUSE');
      });
    });
  }

  it('test_issue14725: a client that connected, sent and closed before accept() is still read', T, async () => {
    await withListener(null, {}, async (l) => {
      const c = await Client(l.address);
      await c.send('hello');
      c.close();
      const a = await within(l.accept(), 10_000, 'accept');
      assert.equal(await a.recv(), 'hello');
      await assert.rejects(a.recv(), EOFError);
      a.close();
    });
  });

  for (const [label, address] of FAMILIES) {
    it(`test_issue16955 (${label}): the client polls true once the accepted end sends`, T, async () => {
      await withListener(address(), {}, async (l) => {
        const c = await Client(l.address);
        const a = await within(l.accept(), 10_000, 'accept');
        await a.sendBytes(bytes('hello'));
        assert.equal(await c.poll(1000), true);
        a.close();
        c.close();
      });
    });
  }

  it('TestInvalidFamily: a Windows pipe name, or AF_PIPE, is not recognized', async () => {
    await assert.rejects(Listener.create('\\\\.\\test'), (e: unknown) => e instanceof RangeError && /Family AF_PIPE is not recognized\./.test(e.message));
    await assert.rejects(Listener.create(null, { family: 'AF_PIPE' }), /Family AF_PIPE is not recognized\./);
    await assert.rejects(Client('\\\\.\\pipe\\x'), /Family AF_PIPE is not recognized\./);
  });

  it('bad arguments: TypeError / RangeError naming them', async () => {
    const bad = (p: Promise<unknown>, cls: typeof TypeError | typeof RangeError, re: RegExp) => assert.rejects(p, (e: unknown) => e instanceof cls && re.test((e as Error).message));
    await bad(Listener.create(null, { authkey: 'secret' as unknown as Uint8Array }), TypeError, /authkey should be a byte string/);
    await bad(Client('/nowhere', { authkey: 'secret' as unknown as Uint8Array }), TypeError, /authkey should be a byte string/);
    await bad(Client(null as unknown as Address), TypeError, /address type of null unrecognized/);
    await bad(Client(42 as unknown as Address), TypeError, /address type of 42 unrecognized/);
    await bad(Listener.create(null, { family: 'AF_INET6' as 'AF_INET' }), RangeError, /options\.family must be 'AF_UNIX' or 'AF_INET'; received 'AF_INET6'/);
    await bad(Listener.create(['127.0.0.1', 70000]), RangeError, /port .* 0 to 65535; received 70000/);
    await bad(Listener.create(['127.0.0.1'] as unknown as Address), TypeError, /\[host, port\]/);
    await bad(Listener.create('/x', { family: 'AF_INET' }), TypeError, /AF_INET address must be a \[host, port\] array/);
    await bad(Listener.create(['127.0.0.1', 0], { family: 'AF_UNIX' }), TypeError, /AF_UNIX address must be a non-empty socket path/);
    await bad(Listener.create(null, { backlog: -1 }), RangeError, /options\.backlog/);
    await bad(Listener.create(null, { maxMessageSize: 1.5 }), RangeError, /options\.maxMessageSize/);
    await bad(Listener.create(null, { digest: 'sha1' as ChallengeForm }), RangeError, /options\.digest must be one of/);
    await bad(Listener.create(null, { authTimeout: Number.NaN }), TypeError, /options\.authTimeout/);
    await bad(Client('/x', { signal: 'no' as unknown as AbortSignal }), TypeError, /options\.signal must be an AbortSignal/);
    const Ctor = Listener as unknown as new (...args: unknown[]) => Listener;
    assert.throws(() => new Ctor(), /Listener\.create/);
  });

  it('connecting where nothing listens: the OS error', T, async () => {
    await assert.rejects(Client(join(scratch, 'missing')), (e: NodeJS.ErrnoException) => e.code === 'ENOENT');
    const l = await Listener.create(['127.0.0.1', 0]);
    const address = l.address;
    l.close();
    await assert.rejects(Client(address), (e: NodeJS.ErrnoException) => e.code === 'ECONNREFUSED');
  });
});

describe('Listener / Client: abort signals', () => {
  it('accept({ signal }): rejects with the reason and takes no connection', T, async () => {
    await withListener(null, {}, async (l) => {
      const ac = new AbortController();
      const waiting = l.accept({ signal: ac.signal });
      ac.abort(new Error('stop waiting'));
      await assert.rejects(waiting, /stop waiting/);
      const c = await Client(l.address);
      await c.send('kept');
      // already aborted: rejects at once, the queued connection stays for the next accept
      await assert.rejects(l.accept({ signal: AbortSignal.abort(new Error('no')) }), /no/);
      const a = await within(l.accept(), 10_000, 'accept');
      assert.equal(await a.recv(), 'kept');
      a.close();
      c.close();
    });
  });

  it('recv({ signal }): rejects with the reason, consumes nothing', T, async () => {
    await withListener(null, {}, async (l) => {
      const [c, a] = await pair(l);
      const ac = new AbortController();
      const waiting = a.recvBytes(undefined, { signal: ac.signal });
      ac.abort(new Error('enough'));
      await assert.rejects(waiting, /enough/);
      await c.sendBytes(bytes('after the abort'));
      assert.equal(text(await a.recvBytes()), 'after the abort');
      const polled = a.poll(null, { signal: AbortSignal.timeout(50) });
      await assert.rejects(polled, (e: unknown) => (e as Error).name === 'TimeoutError');
      await assert.rejects(c.send('x', { signal: AbortSignal.abort(new Error('not sent')) }), /not sent/);
      assert.equal(await a.poll(100), false);
      c.close();
      a.close();
    });
  });

  it('Client({ signal }): aborts the handshake', T, async () => {
    await withListener(null, {}, async (l) => {
      const ac = new AbortController();
      const connecting = Client(l.address, { authkey: KEY, signal: ac.signal });
      const a = await within(l.accept(), 10_000, 'accept');
      ac.abort(new Error('give up'));
      await assert.rejects(connecting, /give up/);
      await assert.rejects(within(a.recv(), 10_000, 'EOF'), EOFError);
      a.close();
    });
  });
});

describe('CPython _TestListenerClient with child processes', () => {
  for (const method of ['thread', 'process'] as const) {
    for (const [label, address] of [
      ['AF_UNIX', () => undefined],
      ['AF_INET', () => ['127.0.0.1', 0] as const],
    ] as const) {
      it(`test_listener_client [${method}, ${label}]: a child connects and sends 'hello'`, T, async () => {
        await withListener(address(), { authkey: KEY }, async (l) => {
          const ctx = getContext(method);
          const p: Process = new ctx.Process({ target: targets.sendHello, args: [l.address, KEY.toString('hex')], daemon: true });
          p.start();
          try {
            const conn = await within(l.accept(), 30_000, 'accept');
            assert.equal(await conn.recv(), 'hello');
            conn.close();
            await p.join(30_000);
            assert.equal(p.exitCode, 0);
          } finally {
            if (p.isAlive()) p.kill();
          }
        });
      });
    }
  }
});

describe('Listener / Client: liveness', () => {
  const prog = join(programs, 'listener-liveness.ts');

  it('an idle listener and idle connections do not keep the program alive; the socket file is removed at exit', T, async () => {
    const r = await runProgram(['--import', 'tsx', prog, 'idle'], { timeoutMs: 20_000 });
    assert.equal(r.code, 0, r.stderr);
    const [first, second] = r.stdout.trim().split('\n');
    assert.equal(second, 'main done');
    const address = (JSON.parse(first!) as { address: string }).address;
    assert.equal(existsSync(address), false);
    assert.equal(existsSync(dirname(address)), false);
  });

  it('a waiting accept() and recv() keep the program alive', T, async () => {
    let sent = false;
    const r = await runProgram(['--import', 'tsx', prog, 'accept'], {
      timeoutMs: 20_000,
      onStdout: (all) => {
        if (sent || !all.includes('\n')) return;
        sent = true;
        const { address } = JSON.parse(all.split('\n')[0]!) as { address: string };
        // connect, wait a little so that an early exit would show, then send
        void Client(address).then(async (c) => {
          await new Promise((res) => setTimeout(res, 300));
          await c.send('ping');
          c.close();
        });
      },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /got ping\n$/);
  });
});
