package migrations_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/flagstream/flagstream/internal/testenv"
	"github.com/flagstream/flagstream/migrations"
)

var idempotent = regexp.MustCompile(`(?is)^CREATE\s+(TABLE|MATERIALIZED\s+VIEW|VIEW|DATABASE)\s+IF\s+NOT\s+EXISTS\s`)

// Every statement can run twice: the migrations table is a record, not the
// only guard.
func TestStatementsAreIdempotent(t *testing.T) {
	all, err := migrations.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) == 0 {
		t.Fatal("no migrations embedded")
	}
	for i, m := range all {
		if m.Version != uint32(i+1) {
			t.Errorf("%s: version %d, want %d (no gaps)", m.Name, m.Version, i+1)
		}
		for _, s := range m.Statements {
			if !idempotent.MatchString(s) {
				t.Errorf("%s: statement is not CREATE ... IF NOT EXISTS:\n%s", m.Name, s)
			}
			if strings.Contains(strings.ToUpper(s), "INSERT INTO") && !regexp.MustCompile(`(?i)INSERT INTO \w+ \(`).MatchString(s) {
				t.Errorf("%s: INSERT without a column list", m.Name)
			}
		}
	}
}

func TestSplit(t *testing.T) {
	got := migrations.Split("-- head\nCREATE TABLE a (\n  x UInt8 -- inline\n) ENGINE = Null;\n\n-- only a comment;\nCREATE TABLE b (y UInt8) ENGINE = Null;\n")
	if len(got) != 2 || !strings.HasPrefix(got[0], "CREATE TABLE a") || strings.HasSuffix(got[1], ";") {
		t.Errorf("Split = %q", got)
	}
}

// Applying twice runs each migration once; the tables exist afterwards.
func TestApplyTwice(t *testing.T) {
	conn, _ := testenv.ClickHouse(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	first, err := migrations.Apply(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	all, _ := migrations.List()
	if len(first) != len(all) {
		t.Errorf("first Apply ran %v, want all %d", first, len(all))
	}
	second, err := migrations.Apply(ctx, conn)
	if err != nil || len(second) != 0 {
		t.Errorf("second Apply = %v, %v; want nothing to do", second, err)
	}
	for _, table := range []string{"events", "user_experiments", "state_refresh", "user_state", "user_metric"} {
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = ?", table).Scan(&n); err != nil || n != 1 {
			t.Errorf("table %s: %d, %v", table, n, err)
		}
	}
	// Every statement once more by hand: IF NOT EXISTS holds.
	for _, m := range all {
		for _, s := range m.Statements {
			if err := conn.Exec(ctx, s); err != nil {
				t.Errorf("%s again: %v", m.Name, err)
			}
		}
	}
}

// An applied migration whose file has changed since is refused.
func TestApplyRefusesEditedMigration(t *testing.T) {
	conn, _ := testenv.ClickHouse(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := conn.Exec(ctx, "CREATE TABLE schema_migrations (version UInt32, name String, checksum String, applied_at DateTime) ENGINE = MergeTree() ORDER BY version"); err != nil {
		t.Fatal(err)
	}
	b, err := conn.PrepareBatch(ctx, "INSERT INTO schema_migrations (version, name, checksum, applied_at)")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Append(uint32(1), "0001_events.sql", "0000", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	if _, err := migrations.Apply(ctx, conn); err == nil || !strings.Contains(err.Error(), "must not change") {
		t.Errorf("Apply with an edited migration = %v", err)
	}
}
