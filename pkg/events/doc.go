// Package events holds flagstream's exposure and conversion events and
// everything about carrying them over NATS JetStream: their JSON, validation,
// ids, batch decoding, subject and stream names, stream setup, and the
// buffered publisher flagd uses for exposures.
//
// An [Event] is JSON exactly as DESIGN.md shows it. [Event.Validate] checks one
// event against the rules of DESIGN.md (names as flag keys, user ids as in
// pkg/flags, a finite value, a timestamp inside a [Window] around now) and
// names the field at fault in a [*FieldError]. [DecodeBatch] reads a JSON
// array or NDJSON body, decodes and validates each item on its own and assigns
// ids ([NewID], sortable ULIDs) where they are missing, so one bad item never
// takes its neighbours down.
//
// [NewNames] is the one place NATS names are made, with a namespace for tests;
// [EnsureStreams] creates or updates the raw and analytics streams with the
// limits of [DefaultStreamLimits]. A [Publisher] takes events without ever
// blocking the caller ([Publisher.Enqueue]) and publishes them in bounded
// async batches with the event id as the JetStream message id, retrying with
// the same id while NATS is away, so delivery is at least once and the
// stream's duplicate window (then the consumers' dedup by id) makes it exact.
// It sends every exposure it is given, repeated evaluations of one user
// included: only the pipeline, which sees every flagd, can tell a user's first
// exposure, and it dedups by (experiment, user).
package events
