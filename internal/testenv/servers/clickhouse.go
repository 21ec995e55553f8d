package servers

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flagstream/flagstream/internal/chconn"
	"github.com/flagstream/flagstream/internal/testenv"
)

// ClickHouseServer is a clickhouse-server process of the test's own, with
// its data in a temporary directory, so an outage test can stop and start it
// without touching the shared server.
type ClickHouseServer struct {
	t        testing.TB
	bin      string
	dir      string
	tcpPort  int
	httpPort int
	child    *child
}

// PrivateClickHouse starts clickhouse-server (which must be installed, as
// `make test` ensures) on free loopback ports with the configuration
// scripts/services.sh uses; it stops when the test ends.
func PrivateClickHouse(t testing.TB) *ClickHouseServer {
	t.Helper()
	// Debian's package installs the server outside a user's PATH.
	bin := binary(t, testenv.ClickHouseDSNVar, "/usr/sbin/clickhouse-server", "clickhouse-server")
	root, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	s := &ClickHouseServer{t: t, bin: bin, dir: t.TempDir(), tcpPort: FreePort(t), httpPort: FreePort(t)}
	for _, sub := range []string{"data", "tmp", "user_files", "format_schemas", "log"} {
		if err := os.MkdirAll(filepath.Join(s.dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	repl := strings.NewReplacer("@TCP_PORT@", strconv.Itoa(s.tcpPort), "@HTTP_PORT@", strconv.Itoa(s.httpPort), "@CH_DIR@", s.dir)
	for tmpl, out := range map[string]string{"clickhouse-config.xml.tmpl": "config.xml", "clickhouse-users.xml.tmpl": "users.xml"} {
		b, err := os.ReadFile(filepath.Join(root, "scripts", "services", tmpl))
		if err != nil {
			t.Fatalf("private clickhouse: %v", err)
		}
		if err := os.WriteFile(filepath.Join(s.dir, out), []byte(repl.Replace(string(b))), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// DSN is the server's clickhouse:// DSN for its default database.
func (s *ClickHouseServer) DSN() string {
	return fmt.Sprintf("clickhouse://127.0.0.1:%d/default", s.tcpPort)
}

// Start (re)starts the server with the same ports and data and waits until
// it answers (at most 60 s).
func (s *ClickHouseServer) Start() {
	s.t.Helper()
	cmd := exec.Command(s.bin, "--config-file="+filepath.Join(s.dir, "config.xml"))
	cmd.Dir = s.dir
	conn, err := chconn.Open(s.DSN())
	if err != nil {
		s.t.Fatal(err)
	}
	defer conn.Close()
	// The server logs its errors to the file its configuration names, not
	// to its output.
	s.child = startChild(s.t, "private clickhouse-server", cmd, 60*time.Second, conn.Ping,
		filepath.Join(s.dir, "log", "stdout.log"), filepath.Join(s.dir, "log", "clickhouse-server.err.log"))
}

// Stop shuts the server down with SIGTERM (SIGKILL after 30 s); stopping
// twice is fine.
func (s *ClickHouseServer) Stop() {
	if s.child != nil {
		s.child.stop(30 * time.Second)
		s.child = nil
	}
}
