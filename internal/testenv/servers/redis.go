package servers

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/flagstream/flagstream/internal/testenv"
)

// RedisServer is a redis-server process of the test's own, persisting to a
// temporary directory so that a stop and start keeps its data.
type RedisServer struct {
	t     testing.TB
	bin   string
	port  int
	dir   string
	child *child
}

// PrivateRedis starts redis-server (which must be installed, as `make test`
// ensures) on a free loopback port; it stops when the test ends.
func PrivateRedis(t testing.TB) *RedisServer {
	t.Helper()
	s := &RedisServer{t: t, bin: binary(t, testenv.RedisURLVar, "redis-server"), port: FreePort(t), dir: t.TempDir()}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// URL is the server's redis:// URL.
func (s *RedisServer) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", s.port) }

// Start (re)starts the server and waits until it answers PING (at most
// 10 s).
func (s *RedisServer) Start() {
	s.t.Helper()
	cmd := exec.Command(s.bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(s.port),
		"--dir", s.dir, "--save", "3600 1", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning")
	rdb := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", s.port)})
	defer rdb.Close()
	s.child = startChild(s.t, "private redis-server", cmd, 10*time.Second,
		func(ctx context.Context) error { return rdb.Ping(ctx).Err() }, filepath.Join(s.dir, "redis.log"))
}

// Stop shuts the server down with SIGTERM, which saves its data first
// (SIGKILL after 10 s); stopping twice is fine.
func (s *RedisServer) Stop() {
	if s.child != nil {
		s.child.stop(10 * time.Second)
		s.child = nil
	}
}
