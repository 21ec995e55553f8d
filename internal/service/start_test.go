package service

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flagstream/flagstream/internal/testenv/procs"
	"github.com/flagstream/flagstream/internal/testenv/servers"
)

// Each service, started for real with credentials in every URL form (a NATS
// token, a NATS user and password in a cluster list, a Redis password, a
// ClickHouse password) and nothing listening at those addresses, logs every
// failed attempt without the credentials, and /readyz does not show them
// either.
func TestStartLogsNoCredentials(t *testing.T) {
	const secret = "s3cretCREDENTIALzz"
	down := func() string { return fmt.Sprintf("127.0.0.1:%d", servers.FreePort(t)) } // a port just freed: nothing listens
	nats := "nats://" + secret + "@" + down() + ",nats://flagstream:" + secret + "@" + down()
	for _, tc := range []struct {
		bin  string
		env  map[string]string
		deps []string // what its log must show unreachable before the check
	}{
		{"flagd", map[string]string{"FLAGSTREAM_NATS_URL": nats,
			"FLAGSTREAM_REDIS_URL": "redis://default:" + secret + "@" + down() + "/0"}, []string{"nats", "redis"}},
		{"ingest", map[string]string{"FLAGSTREAM_NATS_URL": nats,
			"FLAGSTREAM_REDIS_URL": "rediss://:" + secret + "@" + down() + "/0"}, []string{"nats"}},
		{"aggregate", map[string]string{"FLAGSTREAM_NATS_URL": nats,
			"FLAGSTREAM_CLICKHOUSE_DSN": "clickhouse://flagstream:" + secret + "@" + down() + "/default?password=" + secret}, []string{"nats", "clickhouse"}},
	} {
		t.Run(tc.bin, func(t *testing.T) {
			bin := procs.Build(t, "./cmd/"+tc.bin)
			addr := down()
			cmd := exec.Command(bin)
			for _, kv := range os.Environ() { // the developer's own FLAGSTREAM_* settings stay out
				if !strings.HasPrefix(kv, "FLAGSTREAM_") {
					cmd.Env = append(cmd.Env, kv)
				}
			}
			cmd.Env = append(cmd.Env, "FLAGSTREAM_HTTP_ADDR="+addr)
			for k, v := range tc.env {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			logs := &procs.Logs{}
			cmd.Stdout, cmd.Stderr = logs, logs
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan struct{})
			go func() { _ = cmd.Wait(); close(exited) }()
			t.Cleanup(func() {
				_ = cmd.Process.Signal(syscall.SIGTERM)
				select {
				case <-exited:
				case <-time.After(20 * time.Second):
					_ = cmd.Process.Kill()
					<-exited
				}
			})

			// The barrier: each dependency's failed attempt has been logged
			// (with its address), so there is something to check.
			deadline := time.Now().Add(30 * time.Second)
			for _, dep := range tc.deps {
				want := `"dependency":"` + dep + `"`
				for !strings.Contains(logs.String(), want) || !strings.Contains(logs.String(), "dependency unreachable") {
					select {
					case <-exited:
						t.Fatalf("%s exited:\n%s", tc.bin, logs.String())
					case <-time.After(20 * time.Millisecond):
					}
					if time.Now().After(deadline) {
						t.Fatalf("no failed attempt on %s logged within 30 s:\n%s", dep, logs.String())
					}
				}
			}
			if !strings.Contains(logs.String(), "xxxxx@") {
				t.Errorf("the log shows no redacted address; the check would be empty:\n%s", logs.String())
			}
			var body []byte
			for {
				resp, err := http.Get("http://" + addr + "/readyz")
				if err == nil {
					body, _ = io.ReadAll(resp.Body)
					resp.Body.Close()
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("/readyz: %v\n%s", err, logs.String())
				}
				time.Sleep(20 * time.Millisecond)
			}
			for what, text := range map[string]string{"log": logs.String(), "/readyz": string(body)} {
				if strings.Contains(text, secret) {
					t.Errorf("the %s shows a credential:\n%s", what, text)
				}
			}
		})
	}
}

// A stray word on the command line is refused before anything starts
// ("flagd typo" used to start flagd with the defaults); aggregate's
// subcommands keep working and refuse stray words of their own.
func TestStrayArgumentsRefused(t *testing.T) {
	for _, tc := range []struct {
		bin  string
		args []string
		want string // in stderr, with exit 1
	}{
		{"flagd", []string{"typo"}, `unexpected argument "typo"`},
		{"flagd", []string{"--log-level", "debug", "typo"}, `unexpected argument "typo"`},
		{"flagd", []string{"healthcheck", "typo"}, `unexpected argument "typo"`},
		{"ingest", []string{"typo"}, `unexpected argument "typo"`},
		{"ingest", []string{"--workers", "2", "typo"}, `unexpected argument "typo"`},
		{"aggregate", []string{"typo"}, `unexpected argument "typo"`},
		{"aggregate", []string{"serve", "typo"}, `unexpected argument "typo"`},
		{"aggregate", []string{"migrate", "typo"}, `unexpected argument "typo"`},
		{"aggregate", []string{"stats", "typo"}, "usage: aggregate stats"},
	} {
		bin := procs.Build(t, "./cmd/"+tc.bin)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		cmd := exec.CommandContext(ctx, bin, tc.args...)
		cmd.Env = []string{"FLAGSTREAM_HTTP_ADDR=127.0.0.1:" + strconv.Itoa(servers.FreePort(t)),
			"FLAGSTREAM_NATS_URL=nats://127.0.0.1:1", "FLAGSTREAM_REDIS_URL=redis://127.0.0.1:1/0",
			"FLAGSTREAM_CLICKHOUSE_DSN=clickhouse://127.0.0.1:1/default"}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		err := cmd.Run()
		timedOut := ctx.Err() != nil
		cancel()
		if timedOut {
			t.Errorf("%s %q: still running after 20 s; want a refusal", tc.bin, tc.args)
			continue
		}
		if code := cmd.ProcessState.ExitCode(); err == nil || code != 1 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%s %q: exit %d, stderr %q; want exit 1 with %s", tc.bin, tc.args, code, stderr.String(), tc.want)
		}
	}
	// What still works: help, and aggregate's report with its experiment.
	for _, args := range [][]string{{"-h"}, {"report", "-h"}, {"stats", "-h"}} {
		out, err := exec.Command(procs.Build(t, "./cmd/aggregate"), args...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "usage") {
			t.Errorf("aggregate %q: %v\n%s", args, err, out)
		}
	}
}
