package servers

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

	"github.com/flagstream/flagstream/internal/testenv"
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
// same binary) and waits until the sentinel names the master. Both stop when
// the test ends. Without redis-server the test skips outside `make test` and
// fails inside, like [PrivateRedis].
func PrivateSentinel(t testing.TB) *SentinelServer {
	t.Helper()
	server := binary(t, testenv.RedisURLVar, "redis-server")
	dir := t.TempDir()
	s := &SentinelServer{MasterName: "fsmaster", Password: "sentinel-test-master-pw",
		MasterPort: FreePort(t), Port: FreePort(t)}

	master := redis.NewClient(&redis.Options{Addr: s.MasterAddr(), Password: s.Password})
	defer master.Close()
	m := startChild(t, "redis master", exec.Command(server, "--bind", "127.0.0.1", "--port", strconv.Itoa(s.MasterPort),
		"--dir", dir, "--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning",
		"--requirepass", s.Password), 10*time.Second,
		func(ctx context.Context) error { return master.Ping(ctx).Err() }, filepath.Join(dir, "master.log"))
	t.Cleanup(func() { m.stop(10 * time.Second) })

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
	sc := redis.NewSentinelClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", s.Port)})
	defer sc.Close()
	want := []string{"127.0.0.1", strconv.Itoa(s.MasterPort)}
	sentinel := startChild(t, "redis sentinel", cmd, 10*time.Second, func(ctx context.Context) error {
		addr, err := sc.GetMasterAddrByName(ctx, s.MasterName).Result()
		if err != nil {
			return err
		}
		if len(addr) != 2 || addr[0] != want[0] || addr[1] != want[1] {
			return fmt.Errorf("sentinel names %v, want %v", addr, want)
		}
		return nil
	}, filepath.Join(dir, "sentinel.log"))
	t.Cleanup(func() { sentinel.stop(10 * time.Second) })
	return s
}

// MasterAddr is the master's host:port.
func (s *SentinelServer) MasterAddr() string { return fmt.Sprintf("127.0.0.1:%d", s.MasterPort) }

// URL is the Sentinel URL for connect.Redis: the sentinel's address, the
// master's name, and the master's password as a query parameter.
func (s *SentinelServer) URL() string {
	return fmt.Sprintf("redis://127.0.0.1:%d/0?master_name=%s&password=%s", s.Port, s.MasterName, url.QueryEscape(s.Password))
}
