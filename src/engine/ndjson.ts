/** The engine's streams of one JSON document a line (pull progress, events). */
import { StringDecoder } from 'node:string_decoder';

/** The stream's non-empty lines, trimmed, however its chunks cut them (a character split across two included). */
export async function* ndjsonLines(stream: AsyncIterable<unknown>): AsyncIterable<string> {
  const decoder = new StringDecoder('utf8');
  let buffered = '';
  for await (const chunk of stream) {
    buffered += Buffer.isBuffer(chunk) ? decoder.write(chunk) : String(chunk);
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      if (line !== '') yield line;
    }
  }
  const last = (buffered + decoder.end()).trim();
  if (last !== '') yield last;
}
