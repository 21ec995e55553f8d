// Package ofhook connects Go apps that use the OpenFeature Go SDK with the
// OFREP provider to flagstream's flagd: a [Hook] that reports exposures for
// the flags the app actually evaluated, and a [Tracker] that turns
// OpenFeature tracking events (client.Track) into flagstream conversions.
//
// Exposures: after every successful evaluation with a variant, [Hook.After]
// queues the flag key, the flag version from the answer's metadata and the
// evaluation context, and returns at once. A goroutine sends the queue to
// flagd's POST /v1/exposures in batches ([Options.BatchSize] exposures, or
// whatever waited [Options.FlushInterval]). flagd recomputes the variant from
// the current flag, so the hook never sends one. The queue is bounded: when
// it is full an exposure is dropped and counted ([Stats.QueueFull]);
// evaluation never waits for the network. Call [Hook.Close] at shutdown to
// send what is queued.
//
// Each exposure carries the time of its evaluation, so batching never moves
// it after a conversion tracked right after. flagd answers "stale" for a flag
// that changed between the evaluation and the report: nothing is published
// (the user saw the old variant, which flagd no longer computes) and the
// hook counts it ([Stats.Stale]). Every exposure carries an event id of its
// own, the same on every attempt, so a retry after an answer was lost counts
// once.
//
// Give the OFREP provider the header [ExposureOnUse]
// (ofrep.WithHeaderProvider(ofhook.ExposureOnUse)): flagd's single
// evaluation (the route the Go OFREP provider calls) publishes an exposure of
// its own otherwise, and each evaluation would count twice. The header asks
// flagd for that one request only, so one flagd serves apps with and without
// the hook.
//
// Tracking: [WithTracking] wraps the OFREP provider so that the SDK's
// client.Track reaches flagd's POST /v1/track (flagstream's extension of
// OFREP) as a conversion: conversion_type is the tracking event's name,
// user_id the context's targetingKey, value the details' value, and the
// details' "experiment" and "id" attributes, when set, the conversion's.
// Each Track call gets its own event id, so the tracker's retries of a
// transient failure count once.
package ofhook
