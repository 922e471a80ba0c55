// The drain's peer: the same queue in its barest form, on the same runtime,
// the same origin and the same kind of persisted state as the product.
// `scripts/bench` drains it beside the product.
//
// What it keeps of the product: a Durable Object per call that holds every
// play of its call until one download has stored it (its state written at
// queued, downloading and ready), a Durable Object per business that leases
// SLOTS_PER_BUSINESS slots in FIFO order (its table written at every acquire
// and release) and hands a released slot to the next held acquire, and one
// R2 put per recording. What it leaves out: authentication, admission (the
// call list, budgets), alarms and watchdogs, retries, peaks, logs, ranges,
// metadata. So it is a floor: what this runtime costs for the hand-over alone.
import { DurableObject } from "cloudflare:workers";

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/healthz") return new Response("ok");
    // /play/{business}/{call}
    const [, , business, call] = url.pathname.split("/");
    if (!business || !call) return new Response("not found", { status: 404 });
    const key = `${business}/${call}`;
    const object = await env.RECORDINGS.get(key);
    if (object) return answer(object);
    return env.CALLS.get(env.CALLS.idFromName(key)).fetch(request);
  },
};

function answer(object) {
  return new Response(object.body, {
    headers: { "content-length": String(object.size) },
  });
}

export class BareCall extends DurableObject {
  async fetch(request) {
    const [, , business, call] = new URL(request.url).pathname.split("/");
    const key = `${business}/${call}`;
    if ((await this.ctx.storage.get("state")) !== "ready") {
      if (!this.download) {
        this.download = this.run(business, key);
        this.ctx.waitUntil(this.download);
      }
      await this.download;
    }
    return answer(await this.env.RECORDINGS.get(key));
  }

  async run(business, key) {
    await this.ctx.storage.put("state", "queued");
    const slots = this.env.SLOTS.get(this.env.SLOTS.idFromName(business));
    const owner = encodeURIComponent(key);
    // Answered once this call holds a slot.
    await slots.fetch(`http://slots/acquire?owner=${owner}`);
    await this.ctx.storage.put("state", "downloading");
    const call = key.split("/")[1];
    const response = await fetch(
      `${this.env.ORIGIN_BASE_URL}/v1/businesses/${business}/calls/${call}/recording`,
      { headers: { authorization: `Bearer ${this.env.ORIGIN_TOKEN}` } },
    );
    const body = await response.arrayBuffer();
    // The body is read: the slot goes back, then R2 takes the recording.
    await slots.fetch(`http://slots/release?owner=${owner}`);
    await this.env.RECORDINGS.put(key, body);
    await this.ctx.storage.put("state", "ready");
  }
}

export class BareSlots extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.held = new Map();
  }

  async fetch(request) {
    const url = new URL(request.url);
    const owner = url.searchParams.get("owner");
    const slots = Number(this.env.SLOTS_PER_BUSINESS ?? 3);
    const table = (await this.ctx.storage.get("table")) ?? { leases: [], queue: [] };
    if (url.pathname === "/acquire") {
      if (table.leases.length < slots) {
        table.leases.push(owner);
        await this.ctx.storage.put("table", table);
        return new Response("granted");
      }
      table.queue.push(owner);
      await this.ctx.storage.put("table", table);
      await new Promise((granted) => this.held.set(owner, granted));
      return new Response("granted");
    }
    // Only a lease's own release frees a slot.
    if (!table.leases.includes(owner)) return new Response("not a lease");
    table.leases = table.leases.filter((o) => o !== owner);
    const next = table.queue.shift();
    if (next !== undefined) table.leases.push(next);
    await this.ctx.storage.put("table", table);
    if (next !== undefined) {
      this.held.get(next)?.();
      this.held.delete(next);
    }
    return new Response("released");
  }
}
