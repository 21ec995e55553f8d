// Unit tests of exposure-hook.js under Node's test runner (run by TestExposureHookSnippet
// in e2e/web/browser_test.go): what the hook sends for which evaluations, with fetch
// replaced by a recorder. The browser test covers the hook against a real flagd.
import { test } from "node:test";
import assert from "node:assert/strict";
import { exposureHook } from "./exposure-hook.js";

// fakeFetch records each request and answers with answer(items), a list of statuses in
// request order (or a Response-like failure).
function fakeFetch(answer) {
  const calls = [];
  globalThis.fetch = async (url, init) => {
    const items = JSON.parse(init.body);
    calls.push({ url, init, items });
    const a = answer(items, calls.length);
    if (a instanceof Error) throw a;
    if (typeof a === "number") return { ok: false, status: a, json: async () => ({}) };
    const flags = items.flatMap((it) => it.flags);
    return { ok: true, status: 202, json: async () => ({ results: flags.map((f, i) => ({ key: f.key, status: a[i] ?? "published" })) }) };
  };
  return calls;
}

const ctx = (user, extra = {}) => ({ context: { targetingKey: user, ...extra } });
const variant = (key, v, version) => ({ flagKey: key, value: v, variant: v, flagMetadata: version === undefined ? {} : { version } });

test("reports each variant flag once per user, grouped by context, with the version", async () => {
  const calls = fakeFetch(() => []);
  const hook = exposureHook({ url: "http://flagd/v1/exposures", token: "tok", flushMs: 60000 });
  hook.after(ctx("u1", { plan: "pro" }), variant("checkout", "control", 3));
  hook.after(ctx("u1", { plan: "pro" }), variant("checkout", "control", 3)); // used again: no second report
  hook.after(ctx("u1", { plan: "pro" }), variant("pricing", "variant_a"));
  hook.after(ctx("u2"), variant("checkout", "treatment", 3));
  await hook.flush();
  assert.equal(calls.length, 1);
  const { url, init, items } = calls[0];
  assert.equal(url, "http://flagd/v1/exposures");
  assert.equal(init.method, "POST");
  assert.equal(init.keepalive, true);
  assert.equal(init.headers.Authorization, "Bearer tok");
  assert.deepEqual(items, [
    { context: { targetingKey: "u1", plan: "pro" }, flags: [{ key: "checkout", version: 3 }, { key: "pricing" }] },
    { context: { targetingKey: "u2" }, flags: [{ key: "checkout", version: 3 }] },
  ]);
  hook.after(ctx("u1", { plan: "pro" }), variant("checkout", "control", 3)); // published: still once
  await hook.flush();
  assert.equal(calls.length, 1, "nothing new to send, nothing sent");
});

test("no report without a variant, on an error, or without a targetingKey", async () => {
  const calls = fakeFetch(() => []);
  const hook = exposureHook({ url: "u", token: "t", flushMs: 60000 });
  hook.after(ctx("u1"), { flagKey: "banner", value: true, flagMetadata: { version: 1 } });
  hook.after(ctx("u1"), { ...variant("checkout", ""), errorCode: "FLAG_NOT_FOUND" });
  hook.after(ctx("u1"), { ...variant("checkout", "control", 1), errorCode: "TYPE_MISMATCH" });
  hook.after({ context: {} }, variant("checkout", "control", 1));
  await hook.flush();
  assert.equal(calls.length, 0);
});

test("stale and dropped flags, and failed requests, are reported again on the next use", async () => {
  const calls = fakeFetch((items, n) => (n === 1 ? ["published", "stale", "dropped"] : n === 2 ? 503 : n === 3 ? new Error("offline") : []));
  const hook = exposureHook({ url: "u", token: "t", flushMs: 60000 });
  const use = () => ["a", "b", "c"].forEach((k) => hook.after(ctx("u1"), variant(k, "control", 2)));
  use();
  await hook.flush();
  use(); // a was published; b (stale) and c (dropped) go again
  await hook.flush();
  use(); // the 503 reported nothing: both again
  await hook.flush();
  use(); // so did the network error
  await hook.flush();
  use();
  await hook.flush();
  assert.deepEqual(
    calls.map((c) => c.items.flatMap((it) => it.flags.map((f) => f.key))),
    [["a", "b", "c"], ["b", "c"], ["b", "c"], ["b", "c"]],
  );
});

test("a full batch goes at once; otherwise after flushMs", async () => {
  let sent;
  const arrived = new Promise((resolve) => (sent = resolve));
  const calls = fakeFetch(() => (sent(), []));
  const hook = exposureHook({ url: "u", token: "t", flushMs: 60000, maxBatch: 2 });
  hook.after(ctx("u1"), variant("a", "x", 1));
  assert.equal(calls.length, 0);
  hook.after(ctx("u1"), variant("b", "x", 1)); // the second of maxBatch 2: sent now
  assert.equal(calls.length, 1);

  let sentLater;
  const later = new Promise((resolve) => (sentLater = resolve));
  const timed = exposureHook({ url: "u", token: "t", flushMs: 5 });
  globalThis.fetch = async (url, init) => {
    sentLater(JSON.parse(init.body));
    return { ok: true, json: async () => ({ results: [{ key: "c", status: "published" }] }) };
  };
  timed.after(ctx("u1"), variant("c", "x", 1));
  assert.deepEqual(await later, [{ context: { targetingKey: "u1" }, flags: [{ key: "c", version: 1 }] }]);
  await arrived;
});
