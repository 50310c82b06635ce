// One webhook attempt: POST the body, and say what the answer means for retrying. It knows HTTP
// and nothing about jobs or records.
//
// 2xx: delivered. 4xx other than 408 (timeout) and 429 (too many requests): the receiver refuses
// this request and would refuse it again, so it is not retried. Anything else — 3xx (redirects are
// not followed: a signed delivery goes only where it was configured to), 408, 429, 5xx, a timeout,
// a refused connection — may pass later, and is retried.

export type AttemptOutcome =
  | { kind: 'delivered'; status: number }
  | { kind: 'rejected'; status: number; error: string }
  | { kind: 'retry'; status?: number; error: string };

export function outcomeOfStatus(status: number): AttemptOutcome['kind'] {
  if (status >= 200 && status < 300) return 'delivered';
  if (status >= 400 && status < 500 && status !== 408 && status !== 429) return 'rejected';
  return 'retry';
}

/** What of a receiver's answer is kept on the record: enough to say why, never a whole page. */
const ANSWER_BYTES = 200;

export async function postWebhook(url: string, body: string, headers: Record<string, string>, options: { timeoutMs: number; signal?: AbortSignal }): Promise<AttemptOutcome> {
  const deadline = AbortSignal.timeout(options.timeoutMs);
  const signal = options.signal === undefined ? deadline : AbortSignal.any([deadline, options.signal]);
  let response: Response;
  try {
    response = await fetch(url, { method: 'POST', body, headers, redirect: 'manual', signal });
  } catch (err) {
    return { kind: 'retry', error: deadline.aborted ? `no answer within ${options.timeoutMs} ms` : networkError(err) };
  }
  const status = response.status;
  const kind = outcomeOfStatus(status);
  if (kind === 'delivered') {
    await response.body?.cancel().catch(() => undefined);
    return { kind, status };
  }
  // The body is read only to say why a delivery failed, and at most ANSWER_BYTES of it.
  const answer = await answerText(response);
  return { kind, status, error: `HTTP ${status}${answer === '' ? '' : `: ${answer}`}` };
}

async function answerText(response: Response): Promise<string> {
  if (response.body === null) return '';
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < ANSWER_BYTES) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } catch {
    // A body cut off (or timed out) leaves what was read.
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  // eslint-disable-next-line no-control-regex -- control characters are what is replaced
  return Buffer.concat(chunks).subarray(0, ANSWER_BYTES).toString('utf8').replace(/[\x00-\x1f\x7f]+/g, ' ').trim();
}

/** fetch hides the reason in `cause` ("fetch failed" → ECONNREFUSED 127.0.0.1:8443). */
function networkError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause;
  if (cause instanceof Error) {
    const code = (cause as NodeJS.ErrnoException).code;
    return code !== undefined && !cause.message.includes(code) ? `${code}: ${cause.message}` : cause.message;
  }
  return err.message;
}
