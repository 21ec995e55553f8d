// Package testenv gives integration tests real Redis, NATS and ClickHouse
// connections from the environment, each test in a namespace of its own.
//
// The variables are FLAGSTREAM_TEST_REDIS_URL, FLAGSTREAM_TEST_NATS_URL and
// FLAGSTREAM_TEST_CLICKHOUSE_DSN (separate from the services' own FLAGSTREAM_*
// settings, so tests never touch a developer's data by accident). A test skips
// when its variable is unset, unless FLAGSTREAM_TEST_NOSKIP is set, as `make
// test` does: there, a missing service fails the test.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/flagstream/flagstream/internal/chconn"
	"github.com/flagstream/flagstream/internal/connect"
)

// Environment variable names.
const (
	RedisURLVar      = "FLAGSTREAM_TEST_REDIS_URL"
	NATSURLVar       = "FLAGSTREAM_TEST_NATS_URL"
	ClickHouseDSNVar = "FLAGSTREAM_TEST_CLICKHOUSE_DSN"
	NoSkipVar        = "FLAGSTREAM_TEST_NOSKIP"
)

// Lookup returns the value of a service variable, skipping the test when it is
// unset outside `make test` and failing it when unset inside.
func Lookup(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		if os.Getenv(NoSkipVar) != "" {
			t.Fatalf("%s is required (%s is set: nothing may skip)", name, NoSkipVar)
		}
		t.Skipf("%s not set; run `make test` for the integration tests", name)
	}
	return v
}

// Namespace returns a name unique to this test run, built from the test's name
// and a random suffix, of [a-z0-9_] only, so it fits a Redis key prefix, a NATS
// stream name and a ClickHouse database name alike.
func Namespace(t testing.TB) string {
	name := strings.ToLower(nonWord.ReplaceAllString(t.Name(), "_"))
	if len(name) > 40 {
		name = name[:40]
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "t_" + strings.Trim(name, "_") + "_" + hex.EncodeToString(b[:])
}

var nonWord = regexp.MustCompile(`[^A-Za-z0-9]+`)

func timeout(t testing.TB) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 30*time.Second)
}

// Redis returns a client for the test Redis and a key prefix ("<ns>:") that
// only this test uses; every key under it is deleted when the test ends.
func Redis(t testing.TB) (redis.UniversalClient, string) {
	t.Helper()
	rdb, err := connect.Redis(Lookup(t, RedisURLVar))
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	ctx, cancel := timeout(t)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("testenv: redis ping: %v", err)
	}
	prefix := Namespace(t) + ":"
	t.Cleanup(func() {
		ctx, cancel := timeout(t)
		defer cancel()
		iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
		_ = rdb.Close()
	})
	return rdb, prefix
}

// NATSURL returns the test NATS URL (for tests that start a service process).
func NATSURL(t testing.TB) string {
	t.Helper()
	return Lookup(t, NATSURLVar)
}

// NATS returns a connection to the test NATS server and a prefix ("<NS>_",
// upper case) for the stream and subject names this test creates; streams whose
// names start with it are deleted when the test ends.
func NATS(t testing.TB) (*nats.Conn, string) {
	t.Helper()
	nc, err := nats.Connect(NATSURL(t), nats.Name(t.Name()))
	if err != nil {
		t.Fatalf("testenv: nats: %v", err)
	}
	prefix := strings.ToUpper(Namespace(t)) + "_"
	t.Cleanup(func() {
		ctx, cancel := timeout(t)
		defer cancel()
		if nc.IsClosed() {
			nc, err = nats.Connect(NATSURL(t))
			if err != nil {
				return
			}
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			return
		}
		names := js.StreamNames(ctx)
		var doomed []string
		for n := range names.Name() {
			if strings.HasPrefix(n, prefix) {
				doomed = append(doomed, n)
			}
		}
		for _, n := range doomed {
			_ = js.DeleteStream(ctx, n)
		}
	})
	return nc, prefix
}

// ClickHouseDSN returns the test DSN with its database replaced by a fresh one
// that is dropped when the test ends, and that database's name.
func ClickHouseDSN(t testing.TB) (dsn, database string) {
	t.Helper()
	base := Lookup(t, ClickHouseDSNVar)
	conn, err := chconn.Open(base)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	database = Namespace(t)
	ctx, cancel := timeout(t)
	defer cancel()
	if err := conn.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+database); err != nil {
		t.Fatalf("testenv: create database %s: %v", database, err)
	}
	t.Cleanup(func() {
		ctx, cancel := timeout(t)
		defer cancel()
		_ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+database)
		_ = conn.Close()
	})
	return withDatabase(base, database), database
}

// ClickHouse returns a connection to a fresh database of its own (see ClickHouseDSN).
func ClickHouse(t testing.TB) (driver.Conn, string) {
	t.Helper()
	dsn, db := ClickHouseDSN(t)
	conn, err := chconn.Open(dsn)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn, db
}

// withDatabase replaces the path of a clickhouse:// DSN by /database, keeping
// the query.
func withDatabase(dsn, database string) string {
	rest, query, _ := strings.Cut(dsn, "?")
	scheme, hostAndPath, _ := strings.Cut(rest, "://")
	host, _, _ := strings.Cut(hostAndPath, "/")
	out := scheme + "://" + host + "/" + database
	if query != "" {
		out += "?" + query
	}
	return out
}
