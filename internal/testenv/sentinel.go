package testenv

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// SentinelServer is a Redis master and one Redis Sentinel monitoring it, both
// processes of the test's own on free loopback ports, with their files in a
// temporary directory. The master requires a password, which the sentinel
// knows (auth-pass), so a client must pass it the way deployments do.
type SentinelServer struct {
	MasterName string
	Password   string // the master's requirepass
	MasterPort int
	Port       int // the sentinel's
}

// PrivateSentinel starts redis-server as a master and a sentinel
// (redis-sentinel if installed, else `redis-server <conf> --sentinel`, the
// same binary) and waits until the sentinel names the master. Both stop
// (SIGTERM to their PIDs) when the test ends. Without redis-server the test
// skips outside `make test` and fails inside, like [PrivateRedis].
func PrivateSentinel(t testing.TB) *SentinelServer {
	t.Helper()
	server, err := exec.LookPath("redis-server")
	if err != nil {
		Lookup(t, RedisURLVar) // skips outside make test, fails inside
		t.Fatalf("redis-server not installed (it runs the sentinel too): %v", err)
	}
	dir := t.TempDir()
	s := &SentinelServer{MasterName: "fsmaster", Password: "sentinel-test-master-pw",
		MasterPort: FreePort(t), Port: FreePort(t)}

	startProcess(t, "redis master", exec.Command(server, "--bind", "127.0.0.1", "--port", strconv.Itoa(s.MasterPort),
		"--dir", dir, "--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning",
		"--requirepass", s.Password))
	master := redis.NewClient(&redis.Options{Addr: s.MasterAddr(), Password: s.Password})
	defer master.Close()
	waitFor(t, "the redis master", func(ctx context.Context) error { return master.Ping(ctx).Err() })

	// Sentinel rewrites its configuration file, so it gets one of its own.
	conf := filepath.Join(dir, "sentinel.conf")
	text := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\ndaemonize no\nloglevel warning\n"+
		"sentinel monitor %s 127.0.0.1 %d 1\nsentinel auth-pass %s %s\nsentinel down-after-milliseconds %s 5000\n",
		s.Port, dir, s.MasterName, s.MasterPort, s.MasterName, s.Password, s.MasterName)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(server, conf, "--sentinel")
	if bin, err := exec.LookPath("redis-sentinel"); err == nil {
		cmd = exec.Command(bin, conf)
	}
	startProcess(t, "redis sentinel", cmd)
	sc := redis.NewSentinelClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", s.Port)})
	defer sc.Close()
	want := []string{"127.0.0.1", strconv.Itoa(s.MasterPort)}
	waitFor(t, "the sentinel to name the master", func(ctx context.Context) error {
		addr, err := sc.GetMasterAddrByName(ctx, s.MasterName).Result()
		if err != nil {
			return err
		}
		if len(addr) != 2 || addr[0] != want[0] || addr[1] != want[1] {
			return fmt.Errorf("sentinel names %v, want %v", addr, want)
		}
		return nil
	})
	return s
}

// MasterAddr is the master's host:port.
func (s *SentinelServer) MasterAddr() string { return fmt.Sprintf("127.0.0.1:%d", s.MasterPort) }

// URL is the Sentinel URL for connect.Redis: the sentinel's address, the
// master's name, and the master's password as a query parameter.
func (s *SentinelServer) URL() string {
	return fmt.Sprintf("redis://127.0.0.1:%d/0?master_name=%s&password=%s", s.Port, s.MasterName, url.QueryEscape(s.Password))
}

// startProcess starts cmd and stops it (SIGTERM to its PID, SIGKILL after
// 10 s) when the test ends.
func startProcess(t testing.TB, what string, cmd *exec.Cmd) {
	t.Helper()
	logs := &Logs{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", what, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(termSignal)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() && logs.String() != "" {
			t.Logf("%s output:\n%s", what, logs.String())
		}
	})
}

// waitFor retries fn for up to 10 s.
func waitFor(t testing.TB, what string, fn func(context.Context) error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := fn(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
