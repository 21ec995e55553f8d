package chstore_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/flagstream/flagstream/internal/chstore"
	"github.com/flagstream/flagstream/internal/connect"
	"github.com/flagstream/flagstream/migrations"
)

func TestZZPopulate(t *testing.T) {
	if os.Getenv("ZZ_POPULATE") == "" {
		t.Skip()
	}
	base, _ := connect.ClickHouse("clickhouse://127.0.0.1:19000/default")
	ctx := context.Background()
	base.Exec(ctx, "CREATE DATABASE IF NOT EXISTS fsbench")
	conn, _ := connect.ClickHouse("clickhouse://127.0.0.1:19000/fsbench")
	if _, err := migrations.Apply(ctx, conn); err != nil {
		t.Fatal(err)
	}
	s := chstore.New(conn)
	for from := 0; from < 1000000; from += 20000 {
		evs := experimentEvents(from, from+20000)
		var touched chstore.Touched
		for i := range evs {
			touched.Add(&evs[i])
		}
		if err := s.Insert(ctx, evs, time.Now()); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Refresh(ctx, &touched); err != nil {
			t.Fatal(err)
		}
	}
}

func TestZZRefreshCost(t *testing.T) {
	if os.Getenv("ZZ_REFRESH") == "" {
		t.Skip()
	}
	conn, _ := connect.ClickHouse("clickhouse://127.0.0.1:19000/fsbench")
	ctx := context.Background()
	s := chstore.New(conn)
	for round, n := range []int{10000, 10000, 50000, 100000} {
		evs := benchEvents(n, uint64(round+100))
		for i := range evs {
			evs[i].Experiment = "big"
			evs[i].UserID = fmt.Sprintf("user_%07d", (i*7919+round*104729)%1000000)
		}
		var touched chstore.Touched
		for i := range evs {
			touched.Add(&evs[i])
		}
		t0 := time.Now()
		if err := s.Insert(ctx, evs, time.Now()); err != nil {
			t.Fatal(err)
		}
		t1 := time.Now()
		pairs, err := s.Refresh(ctx, &touched)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%d events, %d pairs: insert %v, refresh %v", n, pairs, t1.Sub(t0).Round(time.Millisecond), time.Since(t1).Round(time.Millisecond))
	}
}
