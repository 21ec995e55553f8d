package procs

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flagstream/flagstream/internal/testenv"
	"github.com/flagstream/flagstream/internal/testenv/servers"
)

var builds sync.Map // package path → *buildResult

type buildResult struct {
	once sync.Once
	bin  string
	err  error
}

// Build compiles a command of this module (e.g. "./cmd/ingest") once per
// test process and returns the binary's path. The binary is built without
// -race: it stands for the real thing.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	v, _ := builds.LoadOrStore(pkg, &buildResult{})
	b := v.(*buildResult)
	b.once.Do(func() {
		root, err := testenv.ModuleRoot()
		if err != nil {
			b.err = err
			return
		}
		dir, err := os.MkdirTemp("", "flagstream-bin-")
		if err != nil {
			b.err = err
			return
		}
		b.bin = filepath.Join(dir, filepath.Base(pkg))
		cmd := exec.Command("go", "build", "-o", b.bin, pkg)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		}
	})
	if b.err != nil {
		t.Fatalf("procs: %v", b.err)
	}
	return b.bin
}

// Process is a flagstream binary running as a child process.
type Process struct {
	*Service
	Cmd *exec.Cmd
}

// Kill sends SIGKILL and waits for the process to end.
func (p *Process) Kill() {
	_ = p.Cmd.Process.Kill()
	_ = p.Stop()
}

// StartProcess runs bin with args and the environment env (on top of this
// process's, without FLAGSTREAM_HTTP_ADDR: the service gets a free loopback
// port), waits until /readyz answers 200 (at most 30 s) and stops it with
// SIGTERM when the test ends. Stop returns once the process exited.
func StartProcess(t testing.TB, bin string, env map[string]string, args ...string) *Process {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", servers.FreePort(t))
	cmd := exec.Command(bin, args...)
	cmd.Env = os.Environ()
	for k, v := range env {
		if k != "FLAGSTREAM_HTTP_ADDR" {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	cmd.Env = append(cmd.Env, "FLAGSTREAM_HTTP_ADDR="+addr)
	logs := &Logs{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("procs: start %s: %v", bin, err)
	}
	exited := make(chan struct{}) // closed when the process ended; waitErr is then set
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
				runErr = waitErr
			case <-time.After(20 * time.Second):
				_ = cmd.Process.Kill()
				runErr = fmt.Errorf("%s did not stop within 20 s of SIGTERM", filepath.Base(bin))
				<-exited
			}
		})
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	p := &Process{Service: &Service{URL: "http://" + addr, Logs: logs, Env: env, stop: stop}, Cmd: cmd}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if r, err := http.Get(p.URL + "/readyz"); err == nil {
			r.Body.Close()
			if r.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-exited:
			t.Fatalf("procs: %s exited: %v\n%s", filepath.Base(bin), waitErr, logs.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("procs: %s not ready within 30 s:\n%s", filepath.Base(bin), logs.String())
	return nil
}
