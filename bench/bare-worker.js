// The baseline for cached serving: a bare worker that only streams an R2
// object (?key=...), with none of the product's checks. `scripts/bench`
// serves the same object through it and through the product, one after the
// other on the same persisted local R2. With the var
// LOG_LINE set it also writes one JSON line per request, as the product must.
export default {
  async fetch(request, env) {
    const started = Date.now();
    const url = new URL(request.url);
    const response = await answer(url, env);
    if (env.LOG_LINE) {
      console.log(JSON.stringify({
        event: "request", at: started, method: request.method, path: url.pathname,
        status: response.status, range: request.headers.get("range"),
        duration_ms: Date.now() - started,
      }));
    }
    return response;
  },
};

async function answer(url, env) {
  if (url.pathname === "/healthz") return new Response("ok");
  const key = url.searchParams.get("key");
  const object = key && (await env.RECORDINGS.get(key));
  if (!object) return new Response("not found", { status: 404 });
  return new Response(object.body, {
    headers: {
      "content-type": object.httpMetadata?.contentType ?? "application/octet-stream",
      "content-length": String(object.size),
      etag: object.httpEtag,
    },
  });
}
