package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flagstream/flagstream/internal/chconn"
)

// ClickHouseServer is a clickhouse-server process of the test's own, with
// its data in a temporary directory, so an outage test can stop and start it
// without touching the shared server.
type ClickHouseServer struct {
	t        testing.TB
	dir      string
	tcpPort  int
	httpPort int
	cmd      *exec.Cmd
	done     chan struct{}
}

// clickhouseServerBin is where Debian's package installs the server.
const clickhouseServerBin = "/usr/sbin/clickhouse-server"

// PrivateClickHouse starts clickhouse-server (which must be installed, as
// `make test` ensures) on free loopback ports with the configuration
// scripts/services.sh uses; it stops when the test ends.
func PrivateClickHouse(t testing.TB) *ClickHouseServer {
	t.Helper()
	bin := clickhouseServerBin
	if _, err := os.Stat(bin); err != nil {
		if p, lerr := exec.LookPath("clickhouse-server"); lerr == nil {
			bin = p
		} else {
			Lookup(t, ClickHouseDSNVar) // skips outside make test, fails inside
			t.Fatalf("clickhouse-server not installed: %v", err)
		}
	}
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	s := &ClickHouseServer{t: t, dir: t.TempDir(), tcpPort: FreePort(t), httpPort: FreePort(t)}
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
	s.start(bin)
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
	bin := clickhouseServerBin
	if _, err := os.Stat(bin); err != nil {
		bin, _ = exec.LookPath("clickhouse-server")
	}
	s.start(bin)
}

func (s *ClickHouseServer) start(bin string) {
	s.t.Helper()
	s.cmd = exec.Command(bin, "--config-file="+filepath.Join(s.dir, "config.xml"))
	s.cmd.Dir = s.dir
	log, err := os.OpenFile(filepath.Join(s.dir, "log", "stdout.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	s.cmd.Stdout, s.cmd.Stderr = log, log
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); log.Close(); close(done) }(s.cmd, s.done)
	conn, err := chconn.Open(s.DSN())
	if err != nil {
		s.t.Fatal(err)
	}
	defer conn.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := conn.Ping(ctx)
		cancel()
		if err == nil {
			return
		}
		select {
		case <-s.done:
			b, _ := os.ReadFile(filepath.Join(s.dir, "log", "clickhouse-server.err.log"))
			s.t.Fatalf("private clickhouse-server exited: %s", tail(b, 2000))
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("private clickhouse-server not answering: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop shuts the server down with SIGTERM (SIGKILL after 30 s); stopping
// twice is fine.
func (s *ClickHouseServer) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(termSignal)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}

// moduleRoot finds the directory holding go.mod, from the working directory
// up (tests run in their package's directory).
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
