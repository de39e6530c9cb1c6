/**
 * Python's `multiprocessing.connection` challenge-response authentication,
 * in both of its forms, over any `Channel`:
 *
 * - the form of Python 3.11 and older: the challenger sends
 *   `#CHALLENGE#` + 20 random bytes; the answer is the raw 16-byte
 *   HMAC-MD5 of those 20 bytes under the authkey;
 * - the form of Python 3.12 and newer: the challenge is `#CHALLENGE#` +
 *   `{sha256}` + 40 random bytes (the name in braces is the challenger's
 *   digest); the answer is `{digest}` + HMAC-digest of everything after
 *   `#CHALLENGE#`, prefix included. An answerer that sees a 20-byte
 *   challenge answers in the old form; a challenger that gets a 16-byte
 *   answer checks it as HMAC-MD5 (so a 3.11 peer answering a `{sha256}`
 *   challenge with HMAC-MD5 of the whole message is accepted, as Python 3.12
 *   accepts it).
 *
 * The challenger then sends `#WELCOME#` or `#FAILURE#`. Each message read
 * during the handshake is capped at 256 bytes. Both sides of a failed
 * handshake raise `AuthenticationError`.
 * @internal
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { AuthenticationError, EOFError } from '../errors.js';
import { TIMED_OUT, type Channel } from './channel.js';
import { HANDSHAKE_FRAME_LIMIT } from './socket-channel.js';

/** HMAC digests a challenge may name (Python's `_ALLOWED_DIGESTS`). */
export type AuthDigest = 'md5' | 'sha256' | 'sha384' | 'sha3_256' | 'sha3_384';

/**
 * The form of a challenge: a digest name for the `{digest}`-prefixed form of
 * Python 3.12+, or `'legacy'` for the exact form of Python 3.11 and older
 * (20 random bytes, HMAC-MD5).
 */
export type ChallengeForm = AuthDigest | 'legacy';

/** Every value a `ChallengeForm` may take. */
export const CHALLENGE_FORMS: readonly ChallengeForm[] = ['md5', 'sha256', 'sha384', 'sha3_256', 'sha3_384', 'legacy'];

export const CHALLENGE = Buffer.from('#CHALLENGE#', 'latin1');
export const WELCOME = Buffer.from('#WELCOME#', 'latin1');
export const FAILURE = Buffer.from('#FAILURE#', 'latin1');

/** Random bytes in a challenge of the 3.12+ form. */
export const MESSAGE_LENGTH = 40;
/** Random bytes in a challenge of the 3.11 form; also the shortest challenge answered. */
export const LEGACY_MESSAGE_LENGTH = 20;
/** Length of a raw HMAC-MD5 answer. */
export const MD5_DIGEST_LENGTH = 16;

const NODE_HASH: Record<AuthDigest, string> = {
  md5: 'md5',
  sha256: 'sha256',
  sha384: 'sha384',
  sha3_256: 'sha3-256',
  sha3_384: 'sha3-384',
};
const MAX_DIGEST_NAME = Math.max(...Object.keys(NODE_HASH).map((k) => k.length));

function isDigest(name: string): name is AuthDigest {
  return Object.hasOwn(NODE_HASH, name);
}

/** HMAC of `message` under `key`, or null when this Node.js lacks the hash (FIPS mode and md5). */
function hmac(digest: AuthDigest, key: Uint8Array, message: Uint8Array): Buffer | null {
  try {
    return createHmac(NODE_HASH[digest], key).update(message).digest();
  } catch {
    return null;
  }
}

function preview(b: Uint8Array): string {
  const s = Buffer.from(b.subarray(0, 48)).toString('latin1');
  return JSON.stringify(s) + (b.length > 48 ? '…' : '');
}

/**
 * Splits a challenge (after `#CHALLENGE#`) or an answer into its digest name
 * and payload. The name is `''` in the legacy form: a 20-byte challenge or a
 * 16-byte answer.
 * @throws AuthenticationError on a missing or unknown `{digest}` prefix.
 */
export function splitDigest(message: Uint8Array): { digest: AuthDigest | ''; payload: Uint8Array } {
  if (message.length === LEGACY_MESSAGE_LENGTH || message.length === MD5_DIGEST_LENGTH) return { digest: '', payload: message };
  if (message[0] === 0x7b /* { */) {
    const end = message.subarray(0, MAX_DIGEST_NAME + 2).indexOf(0x7d /* } */, 1);
    if (end > 0) {
      const name = Buffer.from(message.subarray(1, end)).toString('latin1');
      if (isDigest(name)) return { digest: name, payload: message.subarray(end + 1) };
    }
  }
  throw new AuthenticationError(
    `unsupported message length, missing digest prefix, or unsupported digest: ${message.length} bytes starting ${preview(message)}`,
  );
}

/**
 * The answer to a challenge (`message` is what follows `#CHALLENGE#`): the raw
 * HMAC-MD5 for a legacy challenge, else `{digest}` + HMAC-digest of the whole
 * message.
 */
export function createResponse(authkey: Uint8Array, message: Uint8Array): Uint8Array {
  let { digest } = splitDigest(message);
  if (digest === '') {
    const raw = hmac('md5', authkey, message);
    if (raw !== null) return raw;
    // No MD5 here (FIPS): answer in the modern form; a legacy peer will refuse it.
    digest = 'sha256';
  }
  const mac = hmac(digest, authkey, message);
  if (mac === null) throw new AuthenticationError(`the ${digest} digest is not available in this Node.js`);
  return Buffer.concat([Buffer.from(`{${digest}}`, 'latin1'), mac]);
}

/**
 * Checks `response` against the challenge `message` sent. The answerer may use
 * any allowed digest; a 16-byte answer is HMAC-MD5.
 * @throws AuthenticationError when it does not match.
 */
export function verifyResponse(authkey: Uint8Array, message: Uint8Array, response: Uint8Array): void {
  const split = splitDigest(response);
  const digest: AuthDigest = split.digest === '' ? 'md5' : split.digest;
  const expected = hmac(digest, authkey, message);
  if (expected === null) throw new AuthenticationError(`the ${digest} digest used by the peer is not available in this Node.js`);
  if (expected.length !== split.payload.length) {
    throw new AuthenticationError(`expected a ${digest} digest of ${expected.length} bytes, got ${split.payload.length}`);
  }
  if (!timingSafeEqual(expected, split.payload)) throw new AuthenticationError('digest received was wrong: the peer does not have the same authkey');
}

/** A fresh challenge (without the `#CHALLENGE#` prefix) of the given form. */
export function newChallenge(form: ChallengeForm): Uint8Array {
  if (form === 'legacy') return randomBytes(LEGACY_MESSAGE_LENGTH);
  return Buffer.concat([Buffer.from(`{${form}}`, 'latin1'), randomBytes(MESSAGE_LENGTH)]);
}

async function recvAuth(channel: Channel, signal: AbortSignal | undefined, what: string): Promise<Uint8Array> {
  const r = await channel.read(Infinity, signal, HANDSHAKE_FRAME_LIMIT);
  if (r === null) throw new EOFError(`the peer closed the connection while this side waited for ${what}`);
  if (r === TIMED_OUT) throw new AuthenticationError(`no ${what} arrived in time`);
  return r;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(b);
}

/**
 * Challenges the peer to prove it holds `authkey` (Python's
 * `deliver_challenge`): sends a challenge, checks the answer, sends
 * `#WELCOME#` or `#FAILURE#`.
 * @throws AuthenticationError when the answer is wrong.
 */
export async function deliverChallenge(channel: Channel, authkey: Uint8Array, form: ChallengeForm = 'sha256', signal?: AbortSignal): Promise<void> {
  const message = newChallenge(form);
  await channel.write([CHALLENGE, message], signal);
  const response = await recvAuth(channel, signal, 'the answer to the authentication challenge');
  try {
    verifyResponse(authkey, message, response);
  } catch (e) {
    await channel.write([FAILURE], signal).catch(() => {});
    throw e;
  }
  await channel.write([WELCOME], signal);
}

/**
 * Answers the peer's challenge (Python's `answer_challenge`): reads the
 * challenge, sends the HMAC of it under `authkey`, and expects `#WELCOME#`.
 * @throws AuthenticationError when the peer refuses the answer or does not speak the protocol.
 */
export async function answerChallenge(channel: Channel, authkey: Uint8Array, signal?: AbortSignal): Promise<void> {
  const first = await recvAuth(channel, signal, 'an authentication challenge');
  if (first.length < CHALLENGE.length || !equalBytes(first.subarray(0, CHALLENGE.length), CHALLENGE)) {
    throw new AuthenticationError(`protocol error: expected an authentication challenge, got ${first.length} bytes starting ${preview(first)}`);
  }
  const message = first.subarray(CHALLENGE.length);
  if (message.length < LEGACY_MESSAGE_LENGTH) throw new AuthenticationError(`challenge too short: ${message.length} bytes`);
  await channel.write([createResponse(authkey, message)], signal);
  const verdict = await recvAuth(channel, signal, 'the verdict on the answer to the challenge');
  if (!equalBytes(verdict, WELCOME)) throw new AuthenticationError('digest sent was rejected: the peer does not have the same authkey');
}
