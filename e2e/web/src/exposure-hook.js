// exposureHook: an OpenFeature web SDK hook that tells flagstream which flags a page
// actually used, so that only users who saw an experiment count in its report.
//
// flagd's bulk evaluation (what the OFREP web provider fetches) exposes nobody: a page
// fetches every flag but shows a few. After each evaluation that put the user in a
// variant, this hook queues {key, version} and POSTs the queue in batches to flagd's
// POST /v1/exposures with the evaluation context. flagd evaluates the flag again on the
// server and publishes the exposure itself; the variant is never sent (flagd would not
// trust it). Each flag is reported once per user and page load. A flag that changed since
// the page fetched it answers "stale" and a full exposure buffer "dropped": the hook then
// forgets it (as it does all flags of a request that failed), and the page's next use of
// the flag (after the event stream's refetch) reports it again.
//
// Options: url and token (an evaluate token), flushMs (the longest a report waits),
// maxBatch (a batch this large goes at once), onResults(results, error) (flagd's answers).
//
//   import { OpenFeature } from "@openfeature/web-sdk";
//   OpenFeature.addHooks(exposureHook({ url: "https://flags.example.com/v1/exposures", token }));
//
// Requests use fetch with keepalive, so a batch sent as the page goes away still arrives;
// the queue is sent when the page is hidden, and by the hook's flush() (which returns a
// promise), e.g. before a single-page app navigates. navigator.sendBeacon does not fit: it
// cannot send the Authorization header. No time is sent: flagd stamps the exposure when
// the report arrives (a batch waits flushMs at most), and a browser's clock may be off by
// more than flagd accepts.
export function exposureHook({ url, token, flushMs = 1000, maxBatch = 100, onResults } = {}) {
  const reported = new Set(); // targetingKey + "\n" + flag key: queued or published this page load
  let queue = new Map(); // JSON of the context → {context, flags: [{key, version}]}
  let queued = 0;
  let timer;

  function flush() {
    clearTimeout(timer);
    timer = undefined;
    if (queued === 0) return Promise.resolve();
    const items = [...queue.values()];
    queue = new Map();
    queued = 0;
    const body = JSON.stringify(items);
    // keepalive lets the request outlive the page; browsers refuse keepalive bodies
    // above 64 KiB, which maxBatch flags stay far below.
    return fetch(url, {
      method: "POST",
      keepalive: body.length < 60000,
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
      body,
    })
      .then((r) => (r.ok ? r.json() : Promise.reject(new Error(`POST ${url}: ${r.status}`))))
      .then(({ results }) => {
        // Results come in request order, one per flag.
        let i = 0;
        for (const item of items) {
          for (const flag of item.flags) {
            const status = results[i++]?.status;
            if (status === "stale" || status === "dropped") forget(item.context, flag.key);
          }
        }
        onResults?.(results);
      })
      .catch((err) => {
        // Not reported: the next use of these flags tries again.
        for (const item of items) for (const flag of item.flags) forget(item.context, flag.key);
        onResults?.(null, err);
      });
  }

  const id = (context, key) => `${context.targetingKey}\n${key}`;
  const forget = (context, key) => reported.delete(id(context, key));

  if (typeof window !== "undefined") {
    // pagehide and a hidden page (mobile browsers may never fire pagehide) send what waits.
    window.addEventListener("pagehide", flush);
    document.addEventListener("visibilitychange", () => document.visibilityState === "hidden" && flush());
  }

  return {
    flush,
    after(hookContext, details) {
      const context = hookContext.context;
      // No variant (a plain on/off flag, an off flag, an error): no experiment to report.
      // No targetingKey: flagd cannot place an anonymous user in a variant.
      if (!details.variant || details.errorCode || !context?.targetingKey) return;
      if (reported.has(id(context, details.flagKey))) return;
      reported.add(id(context, details.flagKey));
      const flag = { key: details.flagKey };
      // The version the page evaluated: flagd answers "stale" instead of guessing when
      // the flag changed in between.
      if (typeof details.flagMetadata?.version === "number") flag.version = details.flagMetadata.version;
      const ctx = JSON.stringify(context);
      if (!queue.has(ctx)) queue.set(ctx, { context, flags: [] });
      queue.get(ctx).flags.push(flag);
      if (++queued >= maxBatch) flush();
      else timer ??= setTimeout(flush, flushMs);
    },
  };
}
