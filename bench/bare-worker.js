// The baseline for cached serving: a bare worker that only streams an R2
// object (?key=...), with none of the product's checks. `scripts/bare-baseline`
// serves the same object through it and through the product, side by side.
export default {
  async fetch(request, env) {
    const key = new URL(request.url).searchParams.get("key");
    const object = key && (await env.RECORDINGS.get(key));
    if (!object) return new Response("not found", { status: 404 });
    return new Response(object.body, {
      headers: {
        "content-type": object.httpMetadata?.contentType ?? "application/octet-stream",
        "content-length": String(object.size),
        etag: object.httpEtag,
      },
    });
  },
};
