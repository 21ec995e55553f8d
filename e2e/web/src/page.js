// The browser test's page (e2e/web/browser_test.go): the OpenFeature web SDK with the OFREP
// web provider against a real flagd, served from the same origin as flagd's routes.
// Query parameters: token (an evaluate token), user (the targetingKey), use (the flags the
// page shows, comma separated; the provider fetches every flag anyway).
//
// The page records what the test checks in window.flagstream: each EventSource it opened
// and the messages on it, each request it made, each ConfigurationChanged event with the
// values of the flags it shows at that moment, and flagd's answers to its exposure reports.
import { OpenFeature, ProviderEvents } from "@openfeature/web-sdk";
import { OFREPWebProvider } from "@openfeature/ofrep-web-provider";
import { exposureHook } from "./exposure-hook.js";

const q = new URLSearchParams(location.search);
const token = q.get("token") || "";
const user = q.get("user") || "";
const use = (q.get("use") || "").split(",").filter(Boolean);

const state = {
  ready: false,
  error: "",
  shown: {}, // flag key → what the page showed: {value, variant, version, reason, errorCode}
  streams: [], // {opens: [ms], errors: [ms]} per EventSource
  messages: [], // {at, data, lastEventId} per SSE message
  requests: [], // {at, method, url} per request of the provider
  changes: [], // {at, flagsChanged, shown} per ConfigurationChanged
  exposures: [], // {at, results} per answer of POST /v1/exposures
};
window.flagstream = state;

// The provider creates its EventSource from the global: this subclass only records what
// arrives. No token in the recorded URL.
const NativeEventSource = window.EventSource;
window.EventSource = class RecordingEventSource extends NativeEventSource {
  constructor(url, init) {
    super(url, init);
    const s = { opens: [], errors: [] };
    state.streams.push(s);
    this.addEventListener("open", () => s.opens.push(Date.now()));
    this.addEventListener("error", () => s.errors.push(Date.now()));
    this.addEventListener("message", (e) => state.messages.push({ at: Date.now(), data: e.data, lastEventId: e.lastEventId }));
  }
};

const provider = new OFREPWebProvider({
  baseUrl: location.origin,
  headers: [["Authorization", `Bearer ${token}`]],
  // Only the event stream may deliver a change: no polling, no refetch when the tab is
  // shown again, no cache in localStorage answering for the network.
  pollInterval: 0,
  changeDetection: "sse",
  disableVisibilityRefresh: true,
  cacheMode: "disabled",
  fetchImplementation: (input, init) => {
    state.requests.push({ at: Date.now(), method: (init && init.method) || input.method || "GET", url: String(input.url || input) });
    return fetch(input, init);
  },
});

const exposures = exposureHook({
  url: `${location.origin}/v1/exposures`,
  token,
  flushMs: 100,
  onResults: (results, err) => state.exposures.push({ at: Date.now(), results, error: err ? String(err) : "" }),
});
OpenFeature.addHooks(exposures);
// Sends what the hook holds now, and resolves once flagd answered.
state.flushExposures = () => exposures.flush();

const client = OpenFeature.getClient();

// show evaluates the flags the page uses, as an app renders them (each evaluation runs
// the exposure hook), and puts them in the DOM.
function show() {
  const shown = {};
  for (const key of use) {
    // A flag without variants answers a boolean, a flag with variants the variant's name.
    const boolean = typeof provider.flagCache[key]?.value === "boolean";
    const b = boolean ? client.getBooleanDetails(key, false) : client.getStringDetails(key, "");
    shown[key] = { value: b.value, variant: b.variant || "", version: b.flagMetadata?.version ?? null, reason: b.reason, errorCode: b.errorCode || "" };
  }
  state.shown = shown;
  document.getElementById("flags").textContent = JSON.stringify(shown, null, 1);
  return shown;
}

client.addHandler(ProviderEvents.ConfigurationChanged, (d) => {
  const at = Date.now();
  state.changes.push({ at, flagsChanged: d.flagsChanged || [], shown: show() });
});

// The flags the provider holds (every flag of the bulk answer), read without an
// evaluation, so without the exposure hook.
state.cache = () => provider.flagCache;

(async () => {
  try {
    await OpenFeature.setProviderAndWait(provider, { targetingKey: user, plan: "pro" });
    show();
    state.ready = true;
  } catch (e) {
    state.error = String(e && e.stack ? e.stack : e);
  }
  document.body.dataset.state = state.error ? "error" : "ready";
})();
