// The baseline for cached serving: a bare worker that only streams an R2
// object (?key=...), with none of the product's checks. `scripts/bench`
// serves the same object through it and through the product, one after the
// other on the same persisted local R2. With the var LOG_LINE set it also
// writes, per request, the same JSON line as the product (the same fields,
// in the same order): under `wrangler dev` a line's cost grows with its
// length, so a shorter line would not be the same work.
export default {
  async fetch(request, env) {
    const started = Date.now();
    const url = new URL(request.url);
    const response = await answer(url, env);
    if (env.LOG_LINE) {
      const header = request.headers.get("x-user-action");
      const query = url.search.slice(1);
      console.log(JSON.stringify({
        at: started,
        duration_ms: Date.now() - started,
        event: "request",
        method: request.method,
        path: url.pathname,
        range: request.headers.get("range"),
        request_id: Math.floor(Math.random() * 0xffffffff).toString(16).padStart(8, "0"),
        status: response.status,
        user_action: header?.trim().toLowerCase() === "play" ||
          query.split("&").includes("explicit_user_action=true"),
        user_action_header: header !== null,
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
