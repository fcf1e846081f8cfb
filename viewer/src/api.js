// The Serve app's HTTP API, called with URLs relative to the page (so a route prefix works).
// Errors come back as JSON {error, message, request_id}; they are thrown as ApiError.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function send(path, init) {
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    throw new ApiError(0, 'network', `cannot reach the server (${error.message})`);
  }
  if (!response.ok) {
    let body = null;
    try {
      body = await response.json();
    } catch {
      // not an API error body (e.g. a proxy's page): fall back to the status line
    }
    throw new ApiError(response.status, body?.error ?? 'http_error',
      body?.message ?? `${response.status} ${response.statusText}`);
  }
  return response;
}

export async function getJSON(path) {
  return (await send(path)).json();
}

export async function getBytes(path) {
  return (await send(path)).arrayBuffer();
}

/**
 * POST /generate. `input` is {text}, {glosses: [...]} (a signed sentence: one clip per sample,
 * with its segments), {fingerspell: word} (its letters as a sentence) or {image: File}; `options`
 * are GenerateOptions fields (num_samples, seed, format). Returns the fetch Response (JSON clips,
 * or npz / zip bytes).
 */
export function generate(input, options) {
  if (input.image) {
    const form = new FormData();
    form.append('image', input.image, input.image.name);
    for (const [key, value] of Object.entries(options)) form.append(key, String(value));
    return send('generate', { method: 'POST', body: form });
  }
  const what = input.glosses ? { glosses: input.glosses }
    : input.fingerspell ? { fingerspell: input.fingerspell } : { text: input.text };
  return send('generate', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ...what, ...options }),
  });
}

/**
 * POST /reconstruct of an uploaded video or motion clip `file` signing `gloss`. Returns the fetch
 * Response: {clip} JSON, or the reconstruction as npz bytes with format 'npz'.
 */
export function reconstruct(file, { gloss, seed, format }) {
  const form = new FormData();
  form.append('file', file, file.name);
  form.append('gloss', gloss);
  form.append('seed', String(seed));
  form.append('format', format);
  return send('reconstruct', { method: 'POST', body: form });
}

/** The file name a response asks to be saved under (content-disposition), or `fallback`. */
export function attachmentName(response, fallback) {
  const match = /filename="([^"]+)"/.exec(response.headers.get('content-disposition') ?? '');
  return match ? match[1] : fallback;
}
