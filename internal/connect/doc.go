// Package connect builds clients for flagstream's dependencies (Redis, NATS)
// from the URLs of the configuration, in one place, so every command and test
// reaches them the same way; ClickHouse's is internal/chconn, so that flagd
// does not link its driver.
package connect
