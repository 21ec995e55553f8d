// Package migrations holds flagstream's ClickHouse schema as ordered SQL
// files and applies them.
//
// Files are named NNNN_name.sql and applied in that order; each holds one or
// more statements, each ended by a semicolon at the end of a line. Every
// statement is idempotent (CREATE ... IF NOT EXISTS), and the table
// schema_migrations records each file applied with its checksum, so applying
// again is a no-op, two services starting at once are harmless, and a file
// edited after it was applied is refused rather than silently skipped.
//
// The SQL runs on ClickHouse 18.16 and is written for current releases (see
// docs/clickhouse.md): no CTEs, no DateTime64, no LowCardinality, columns
// listed in every INSERT.
package migrations

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

//go:embed *.sql
var files embed.FS

// Migration is one SQL file.
type Migration struct {
	Version    uint32
	Name       string   // file name
	Statements []string // in file order
	Checksum   string   // sha256 of the file
}

var fileName = regexp.MustCompile(`^(\d{4})_[a-z0-9_]+\.sql$`)

// List returns the embedded migrations in order.
func List() ([]Migration, error) {
	entries, err := fs.ReadDir(files, ".")
	if err != nil {
		return nil, err
	}
	var out []Migration
	seen := map[uint32]string{}
	for _, e := range entries {
		m := fileName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migration file %q: name must be NNNN_name.sql", e.Name())
		}
		v, _ := strconv.ParseUint(m[1], 10, 32)
		if other, dup := seen[uint32(v)]; dup {
			return nil, fmt.Errorf("migrations %s and %s share version %d", other, e.Name(), v)
		}
		seen[uint32(v)] = e.Name()
		body, err := files.ReadFile(e.Name())
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(body)
		out = append(out, Migration{Version: uint32(v), Name: e.Name(), Statements: Split(string(body)),
			Checksum: hex.EncodeToString(sum[:])})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// Split cuts a SQL file into statements: each ends with a semicolon at the
// end of a line. Lines holding only a -- comment are dropped; a statement
// that is nothing but comments is no statement.
func Split(sql string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(sql, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "--") {
			continue
		}
		if strings.HasSuffix(trimmed, ";") {
			cur.WriteString(strings.TrimSuffix(strings.TrimRight(line, " \t\r"), ";"))
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}

const createTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
    version    UInt32,
    name       String,
    checksum   String,
    applied_at DateTime
) ENGINE = MergeTree() ORDER BY version`

// Apply runs, in order, every migration the connection's database has not
// recorded yet, and records each. It refuses to run when a recorded
// migration's checksum differs from the embedded file (an applied migration
// was edited: add a new file instead) and returns the versions it applied.
func Apply(ctx context.Context, conn driver.Conn) ([]uint32, error) {
	all, err := List()
	if err != nil {
		return nil, err
	}
	if err := conn.Exec(ctx, createTable); err != nil {
		return nil, fmt.Errorf("create schema_migrations: %w", err)
	}
	applied, err := Applied(ctx, conn)
	if err != nil {
		return nil, err
	}
	var done []uint32
	for _, m := range all {
		if sum, ok := applied[m.Version]; ok {
			if sum != m.Checksum {
				return done, fmt.Errorf("migration %s was applied with checksum %.12s but the file now has %.12s: "+
					"an applied migration must not change; add a new one", m.Name, sum, m.Checksum)
			}
			continue
		}
		for i, stmt := range m.Statements {
			if err := conn.Exec(ctx, stmt); err != nil {
				return done, fmt.Errorf("migration %s, statement %d: %w", m.Name, i+1, err)
			}
		}
		b, err := conn.PrepareBatch(ctx, "INSERT INTO schema_migrations (version, name, checksum, applied_at)")
		if err != nil {
			return done, fmt.Errorf("record migration %s: %w", m.Name, err)
		}
		if err := b.Append(m.Version, m.Name, m.Checksum, time.Now().UTC()); err != nil {
			return done, fmt.Errorf("record migration %s: %w", m.Name, err)
		}
		if err := b.Send(); err != nil {
			return done, fmt.Errorf("record migration %s: %w", m.Name, err)
		}
		done = append(done, m.Version)
	}
	return done, nil
}

// Applied returns the recorded migrations: version → checksum.
func Applied(ctx context.Context, conn driver.Conn) (map[uint32]string, error) {
	rows, err := conn.Query(ctx, "SELECT version, any(checksum) FROM schema_migrations GROUP BY version")
	if err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	defer rows.Close()
	out := map[uint32]string{}
	for rows.Next() {
		var v uint32
		var sum string
		if err := rows.Scan(&v, &sum); err != nil {
			return nil, fmt.Errorf("read schema_migrations: %w", err)
		}
		out[v] = sum
	}
	return out, rows.Err()
}
