package chstore_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/flagstream/flagstream/internal/connect"
)

func TestZZTime(t *testing.T) {
	qs := os.Getenv("ZZ_QUERIES")
	if qs == "" {
		t.Skip()
	}
	conn, _ := connect.ClickHouse("clickhouse://127.0.0.1:19000/fsbench")
	ctx := clickhouse.Context(context.Background(), clickhouse.WithSettings(clickhouse.Settings{"optimize_move_to_prewhere": 0}))
	b, _ := os.ReadFile(qs)
	for _, q := range strings.Split(string(b), "\n;\n") {
		q = strings.TrimSpace(q)
		if q == "" {
			continue
		}
		var best time.Duration
		for range 3 {
			t0 := time.Now()
			rows, err := conn.Query(ctx, q)
			if err != nil {
				t.Fatalf("%v: %s", err, q)
			}
			n := 0
			for rows.Next() {
				n++
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			rows.Close()
			if d := time.Since(t0); best == 0 || d < best {
				best = d
			}
		}
		t.Logf("%6.0f ms  %s", float64(best.Microseconds())/1000, strings.Join(strings.Fields(q), " ")[:min(150, len(strings.Join(strings.Fields(q), " ")))])
	}
}
