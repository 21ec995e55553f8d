// Package connect builds clients for flagstream's dependencies (Redis, NATS,
// ClickHouse) from the URLs of the configuration, in one place, so every
// command and test reaches them the same way.
package connect
