// A streaming record extractor for JSON flow logs that arrive as one large document
// (`{"records": [ … ]}`, Azure's blob format) or as JSON lines (one record per line, as Event Hub
// exports and test samples have them). It never parses the document: a byte-level scanner tracks
// string/escape state and bracket nesting, cuts out the text of each record, and hands that text
// to the caller, who `JSON.parse`s one record at a time. Memory is bounded by the longest record:
// bytes already handed out are never kept, and a record over `maxRecordBytes` is dropped (counted)
// instead of buffered, so a 2 GB stream without structure cannot exhaust the heap.
//
// What counts as a record:
// - every element of the `records` array (the key is configurable) of a top-level object; the
//   other keys of that object are ignored, and the wrapper may repeat (concatenated documents, or
//   one `{"records":[…]}` per line as Event Hub delivers them);
// - every element of a top-level array;
// - any other top-level object (JSON lines), handed out whole once it closes.
//
// Scanning bytes rather than decoded text is safe for UTF-8: every structural character is ASCII
// and no byte of a multi-byte sequence is below 0x80, so a chunk boundary inside a character only
// matters when the record text is decoded, and that happens on the joined bytes.

export interface JsonRecordSink {
  /** One record's JSON text; `line` is the 1-based line where it starts. */
  record(text: string, line: number): void;
  /** Input that is not a record: bad structure, a truncated document, an oversized record. */
  error(detail: string, line: number): void;
}

export interface JsonRecordExtractorOptions {
  /** The key of the records array in a wrapper object. Default `records`. */
  arrayKey?: string;
  /** A record longer than this is skipped and reported, not buffered. Default 64 MiB. */
  maxRecordBytes?: number;
}

export interface JsonRecordExtractor {
  write(chunk: Uint8Array): void;
  /** End of input: reports a document or record left open (a file cut short). */
  end(): void;
  /** Bytes held for the record in progress (0 between records): a debug view of the bound. */
  readonly bufferedBytes: number;
  /** The most bytes ever held at once, for tests that check memory stays within one record. */
  readonly peakBufferedBytes: number;
  /** Records handed out so far. */
  readonly records: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;
const NEWLINE = 0x0a;

// What the scanner is doing at nesting depth 0.
const TOP = 0; // between top-level values
const GARBAGE = 1; // skipping a line that is not JSON, up to its newline
const VALUE = 2; // inside a top-level object or array

// What kind of top-level value is open.
const NONE = 0;
const CANDIDATE = 1; // an object that is a record unless it turns out to be a wrapper
const WRAPPER = 2; // an object whose records array we are in (or were in)
const ARRAY = 3; // a top-level array whose elements are records

/** A key longer than this cannot be the records key; no need to collect it. */
const MAX_KEY_BYTES = 64;

function isWhitespace(byte: number): boolean {
  // JSON whitespace, plus the UTF-8 byte order mark some Windows tools write at the start.
  return byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d || byte === 0xef || byte === 0xbb || byte === 0xbf;
}

export function createJsonRecordExtractor(sink: JsonRecordSink, options: JsonRecordExtractorOptions = {}): JsonRecordExtractor {
  const arrayKey = options.arrayKey ?? 'records';
  const maxRecordBytes = options.maxRecordBytes ?? 64 * 1024 * 1024;

  let line = 1;
  let mode = TOP;
  let kind = NONE;
  let valueLine = 1; // where the open top-level value started
  const stack: number[] = []; // open brackets, innermost last
  let inString = false;
  let escape = false;
  // The array whose elements are records: its depth (stack length inside it), or 0 for none.
  let containerDepth = 0;

  // Key detection at depth 1 of a top-level object: the last string seen there, and the key whose
  // value comes next (set at ':', cleared at ',').
  let collectingKey = false;
  let keyBytes: number[] = [];
  let lastString: string | undefined;
  let pendingKey: string | undefined;

  // The record being cut out.
  let capturing = false;
  let scalarElement = false; // a record that is not an object/array ends at ',' or ']'
  let oversized = false;
  let recordLine = 1;
  let parts: Buffer[] = [];
  let partsBytes = 0;
  let peak = 0;
  let records = 0;
  let atLineStart = true;
  let quiet = false; // a skip was just reported; lines skipped right after it are not reported again
  let segStart = -1; // where the record in progress starts in the current chunk

  function resetStructure(): void {
    stack.length = 0;
    inString = false;
    escape = false;
    containerDepth = 0;
    kind = NONE;
    collectingKey = false;
    lastString = undefined;
    pendingKey = undefined;
  }

  function dropCapture(): void {
    capturing = false;
    scalarElement = false;
    oversized = false;
    parts = [];
    partsBytes = 0;
  }

  function startCapture(at: number, scalar: boolean): void {
    capturing = true;
    scalarElement = scalar;
    oversized = false;
    recordLine = line;
    segStart = at;
  }

  /** The record ends before `end` (exclusive) in the current chunk. */
  function finishCapture(chunk: Uint8Array, end: number): void {
    if (oversized) {
      sink.error(`record starting at line ${recordLine} is larger than ${maxRecordBytes} bytes; skipped`, recordLine);
    } else {
      const tail = chunk.subarray(segStart, end);
      if (partsBytes + tail.length > maxRecordBytes) {
        sink.error(`record starting at line ${recordLine} is larger than ${maxRecordBytes} bytes; skipped`, recordLine);
      } else {
        const text = parts.length === 0 ? Buffer.from(tail.buffer, tail.byteOffset, tail.length).toString('utf8') : Buffer.concat([...parts, tail]).toString('utf8');
        records++;
        // Released before the sink runs: nothing of this record stays referenced here.
        dropCapture();
        sink.record(text, recordLine);
      }
    }
    dropCapture();
  }

  function structureError(detail: string, at = line): void {
    sink.error(`${detail} at line ${at}${kind === WRAPPER || kind === ARRAY ? ` (inside the document starting at line ${valueLine}; the rest of it is skipped)` : ''}`, at);
    dropCapture();
    resetStructure();
    mode = GARBAGE;
    quiet = true;
  }

  function write(chunk: Uint8Array): void {
    segStart = capturing ? 0 : -1;
    const n = chunk.length;
    for (let i = 0; i < n; i++) {
      const byte = chunk[i] as number;
      const lineStart = atLineStart;
      atLineStart = byte === NEWLINE;
      if (byte === NEWLINE) line++;

      // A JSON line cut short leaves its object open, and the lines after it would be read as its
      // continuation until the end of the input. Pretty-printers indent nested values, so a '{' in
      // the first column inside a top-level record means the record before it ended early.
      if (lineStart && byte === OPEN_OBJECT && mode === VALUE && kind === CANDIDATE && !inString) {
        sink.error(`the JSON value starting at line ${recordLine} is cut short (line ${line} starts a new one)`, recordLine);
        dropCapture();
        resetStructure();
        mode = TOP;
      }

      if (mode === GARBAGE) {
        if (byte === NEWLINE) mode = TOP;
        continue;
      }

      if (mode === TOP) {
        if (isWhitespace(byte)) continue;
        if (byte === OPEN_OBJECT || byte === OPEN_ARRAY) {
          quiet = false;
          mode = VALUE;
          valueLine = line;
          stack.push(byte);
          if (byte === OPEN_OBJECT) {
            kind = CANDIDATE;
            startCapture(i, false);
          } else {
            kind = ARRAY;
            containerDepth = 1;
          }
          continue;
        }
        // One report per run of such lines: the rest of a document broken by a structure error
        // would otherwise yield one report per line.
        if (!quiet) sink.error(`line ${line} is not JSON (expected '{' or '['); skipped up to the next line that starts a JSON value`, line);
        quiet = true;
        mode = GARBAGE;
        continue;
      }

      // mode === VALUE
      if (inString) {
        if (escape) {
          escape = false;
        } else if (byte === BACKSLASH) {
          escape = true;
        } else if (byte === QUOTE) {
          inString = false;
          if (collectingKey) {
            collectingKey = false;
            lastString = keyBytes.length <= MAX_KEY_BYTES ? String.fromCharCode(...keyBytes) : undefined;
          }
        } else if (collectingKey && keyBytes.length <= MAX_KEY_BYTES) {
          keyBytes.push(byte);
        }
        if (byte === NEWLINE) {
          // A raw newline cannot occur inside a JSON string: the value is broken (typically a
          // JSON line cut short, the next line carrying on). Resynchronize at the next line.
          structureError('line break inside a string', line - 1);
          mode = TOP;
        }
        continue;
      }

      if (isWhitespace(byte)) continue;
      const depth = stack.length;

      // Between elements of the records array: a new record starts at any value byte.
      if (!capturing && containerDepth !== 0 && depth === containerDepth && byte !== COMMA && byte !== CLOSE_ARRAY) {
        startCapture(i, byte !== OPEN_OBJECT && byte !== OPEN_ARRAY);
      }
      // A scalar record ends at the ',' or ']' after it.
      if (capturing && scalarElement && depth === containerDepth && (byte === COMMA || byte === CLOSE_ARRAY)) {
        finishCapture(chunk, i);
      }

      if (byte === QUOTE) {
        inString = true;
        if (depth === 1 && (kind === CANDIDATE || kind === WRAPPER)) {
          collectingKey = true;
          keyBytes = [];
        }
        continue;
      }
      if (byte === OPEN_OBJECT || byte === OPEN_ARRAY) {
        if (depth === 1 && (kind === CANDIDATE || kind === WRAPPER)) {
          if (byte === OPEN_ARRAY && pendingKey === arrayKey) {
            // The wrapper's records array: from here on, records are its elements, and the
            // wrapper itself (everything buffered so far) is not one.
            kind = WRAPPER;
            dropCapture();
            containerDepth = 2;
          }
          pendingKey = undefined;
        }
        stack.push(byte);
        continue;
      }
      if (byte === CLOSE_OBJECT || byte === CLOSE_ARRAY) {
        const open = stack.pop();
        if (open !== (byte === CLOSE_OBJECT ? OPEN_OBJECT : OPEN_ARRAY)) {
          structureError(`unexpected '${String.fromCharCode(byte)}'`);
          continue;
        }
        const now = stack.length;
        if (capturing && !scalarElement && containerDepth !== 0 && now === containerDepth) {
          finishCapture(chunk, i + 1); // an object/array record closed
        } else if (containerDepth !== 0 && now === containerDepth - 1) {
          containerDepth = 0; // the records array closed
        }
        if (now === 0) {
          if (capturing && kind === CANDIDATE) finishCapture(chunk, i + 1); // a JSON line
          mode = TOP;
          kind = NONE;
          pendingKey = undefined;
        }
        continue;
      }
      if (depth === 1) {
        if (byte === COLON) pendingKey = lastString;
        else if (byte === COMMA) pendingKey = undefined;
      }
    }
    if (capturing) {
      const tail = chunk.subarray(segStart);
      if (!oversized && partsBytes + tail.length > maxRecordBytes) {
        oversized = true;
        parts = [];
        partsBytes = 0;
      }
      if (!oversized && tail.length > 0) {
        parts.push(Buffer.from(tail)); // a copy: the caller may reuse its chunk
        partsBytes += tail.length;
        if (partsBytes > peak) peak = partsBytes;
      }
    }
    segStart = -1;
  }

  function end(): void {
    if (mode === VALUE) {
      if (capturing && kind !== CANDIDATE) {
        sink.error(`input ends inside the record starting at line ${recordLine}: the document is cut short (truncated file?); ${records} complete records before it were read`, recordLine);
      } else if (capturing) {
        sink.error(`input ends inside the JSON value starting at line ${recordLine} (truncated file or line?)`, recordLine);
      } else {
        sink.error(`input ends before the document starting at line ${valueLine} is closed (truncated file?); ${records} complete records in it were read`, line);
      }
    }
    dropCapture();
    resetStructure();
    mode = TOP;
  }

  return {
    write,
    end,
    get bufferedBytes() {
      return partsBytes;
    },
    get peakBufferedBytes() {
      return peak;
    },
    get records() {
      return records;
    },
  };
}
