// Package servers starts servers of a test's own: an embedded NATS, and
// redis-server, redis-sentinel and clickhouse-server processes on free
// loopback ports with their files in temporary directories.
//
// Outage tests stop and start a dependency under a running service. They get
// servers of their own, never the shared ones of package testenv, which other
// tests use at the same time.
package servers

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/flagstream/flagstream/internal/testenv"
)

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// binary finds a server's executable, trying each of names in turn (a path,
// or a name on PATH). None installed is a missing service like an unset
// variable: the test skips outside `make test` (which installs the servers)
// and fails inside.
func binary(t testing.TB, serviceVar string, names ...string) string {
	t.Helper()
	var err error
	for _, name := range names {
		var path string
		if path, err = exec.LookPath(name); err == nil {
			return path
		}
	}
	testenv.Lookup(t, serviceVar) // skips outside make test, fails inside
	t.Fatalf("%s not installed: %v", names[len(names)-1], err)
	return ""
}

// child is a server process of the test's own. Its output goes to a file in
// the server's directory, which a failure shows the end of.
type child struct {
	t    testing.TB
	what string
	cmd  *exec.Cmd
	logs []string      // the output file, then any log the server writes itself
	done chan struct{} // closed once the process exited
}

// startChild starts cmd with its output appended to logs[0] and waits until
// ready answers nil (each try bounded by a second). It fails the test when
// the process exits first or within passes.
func startChild(t testing.TB, what string, cmd *exec.Cmd, within time.Duration, ready func(context.Context) error, logs ...string) *child {
	t.Helper()
	out, err := os.OpenFile(logs[0], os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		out.Close()
		t.Fatalf("start %s: %v", what, err)
	}
	c := &child{t: t, what: what, cmd: cmd, logs: logs, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); out.Close(); close(c.done) }()
	deadline := time.Now().Add(within)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := ready(ctx)
		cancel()
		if err == nil {
			return c
		}
		select {
		case <-c.done:
			t.Fatalf("%s ended (%v) before it was ready: %v\n%s", what, cmd.ProcessState, err, c.tails())
		default:
		}
		if time.Now().After(deadline) {
			c.stop(time.Second)
			t.Fatalf("%s not ready within %v: %v\n%s", what, within, err, c.tails())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGTERM (a server saves its data then) and waits for the
// process to end, sending SIGKILL after grace; stopping twice is fine. When
// the test has failed, it logs the end of the server's output.
func (c *child) stop(grace time.Duration) {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(grace):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
	if tails := c.tails(); c.t.Failed() && tails != "" {
		c.t.Logf("%s output:\n%s", c.what, tails)
	}
}

// tails is the end of each of the child's logs.
func (c *child) tails() string {
	var s string
	for _, path := range c.logs {
		b, err := os.ReadFile(path)
		if err != nil || len(b) == 0 {
			continue
		}
		if len(b) > 2000 {
			b = b[len(b)-2000:]
		}
		s += fmt.Sprintf("--- %s:\n%s\n", path, b)
	}
	return s
}
