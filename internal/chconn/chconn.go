// Package chconn opens ClickHouse connections from the configuration's DSN.
// It is apart from internal/connect so that what needs no ClickHouse (flagd)
// does not link its driver.
package chconn

import (
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/flagstream/flagstream/internal/connect"
)

// Open opens a native-protocol connection pool for a DSN such as
// clickhouse://127.0.0.1:9000/default. Opening does not dial; Ping does.
func Open(dsn string) (driver.Conn, error) {
	opts, err := clickhouse.ParseDSN(dsn)
	if err != nil {
		return nil, connect.URLError("clickhouse dsn", err)
	}
	if opts.DialTimeout == 0 || opts.DialTimeout > 5*time.Second {
		opts.DialTimeout = 5 * time.Second
	}
	if opts.MaxOpenConns == 0 {
		opts.MaxOpenConns = 8
	}
	conn, err := clickhouse.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: %w", err)
	}
	return conn, nil
}
