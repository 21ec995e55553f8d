package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

func TestRedisNamespace(t *testing.T) {
	rdb, prefix := Redis(t)
	_, other := Redis(t)
	if prefix == other {
		t.Fatalf("two calls gave the same prefix %q", prefix)
	}
	ctx := context.Background()
	if err := rdb.Set(ctx, prefix+"k", "v", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if got := rdb.Get(ctx, prefix+"k").Val(); got != "v" {
		t.Errorf("read back %q", got)
	}
}

func TestNATSNamespace(t *testing.T) {
	nc, prefix := NATS(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: prefix + "S", Subjects: []string{prefix + ".x"}, Storage: jetstream.MemoryStorage}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, prefix+".x", []byte("hello")); err != nil {
		t.Fatal(err)
	}
}

func TestClickHouseNamespace(t *testing.T) {
	conn, db := ClickHouse(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var current string
	if err := conn.QueryRow(ctx, "SELECT currentDatabase()").Scan(&current); err != nil {
		t.Fatal(err)
	}
	if current != db {
		t.Errorf("connected to database %q, want %q", current, db)
	}
}

func TestWithDatabase(t *testing.T) {
	for in, want := range map[string]string{
		"clickhouse://127.0.0.1:19000/default":            "clickhouse://127.0.0.1:19000/t_x",
		"clickhouse://u:p@h:9000/default?dial_timeout=1s": "clickhouse://u:p@h:9000/t_x?dial_timeout=1s",
		"clickhouse://h:9000":                             "clickhouse://h:9000/t_x",
	} {
		if got := withDatabase(in, "t_x"); got != want {
			t.Errorf("withDatabase(%q) = %q, want %q", in, got, want)
		}
	}
}
