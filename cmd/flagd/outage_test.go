package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flagstream/flagstream/internal/testenv"
)

// NATS away for a while: evaluations keep answering, exposures wait in the
// buffer, and once NATS is back every one arrives, none twice.
func TestExposuresSurviveNATSOutage(t *testing.T) {
	nats := testenv.EmbeddedNATS(t)
	e := newEnv(t)
	e["FLAGSTREAM_NATS_URL"] = nats.URL()
	e["FLAGSTREAM_NATS_NAMESPACE"] = ""
	in := start(t, e, nil)
	in.expect(t, 200, "PUT", "/v1/flags/exp", map[string]any{"status": "enabled", "variants": map[string]any{"a": 50, "b": 50}})
	in.waitServed(t, "exp", 1)
	probes, _ := streamEventsSettled(t, e)

	client := &http.Client{Timeout: 2 * time.Second} // an evaluation blocked on NATS would fail here
	evaluate := func(from, to int) {
		for i := from; i < to; i++ {
			resp, err := client.Post(in.URL+"/ofrep/v1/evaluate/flags/exp", "application/json",
				strings.NewReader(fmt.Sprintf(`{"context":{"targetingKey":"user_%d"}}`, i)))
			if err != nil {
				t.Fatalf("evaluation %d: %v", i, err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("evaluation %d: %d", i, resp.StatusCode)
			}
		}
	}
	evaluate(0, 200)
	nats.Stop()
	evaluate(200, 700)
	if r := in.do(t, "GET", "/readyz", nil); r.Status != http.StatusServiceUnavailable {
		t.Errorf("readyz with NATS away = %d, want 503", r.Status)
	}
	time.Sleep(time.Second)
	nats.Start()
	waitStream(t, nats.URL(), "", probes+700, 30*time.Second)
	time.Sleep(300 * time.Millisecond)
	got, seen := streamEvents(t, nats.URL(), "")
	users := map[string]int{}
	for id, ev := range got {
		if seen[id] != 1 {
			t.Errorf("event %s stored %d times", id, seen[id])
		}
		users[ev.UserID]++
	}
	for i := range 700 {
		if users[fmt.Sprintf("user_%d", i)] != 1 {
			t.Fatalf("user_%d has %d exposures, want 1", i, users[fmt.Sprintf("user_%d", i)])
		}
	}
}

// The real binary under SIGTERM: it exits 0 and every exposure of the
// evaluations it answered is on the stream.
func TestSIGTERMFlushesExposures(t *testing.T) {
	e := newEnv(t)
	bin := filepath.Join(t.TempDir(), "flagd")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build flagd: %v\n%s", err, out)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "--http-addr", addr)
	cmd.Env = os.Environ()
	for k, v := range e {
		if k != "FLAGSTREAM_HTTP_ADDR" {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	var logs testenv.Logs
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	in := &instance{&testenv.Service{URL: "http://" + addr, Logs: &logs}}
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(in.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("flagd binary not ready:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	in.expect(t, 200, "PUT", "/v1/flags/exp", map[string]any{"status": "enabled", "variants": map[string]any{"a": 50, "b": 50}})
	in.waitServed(t, "exp", 1)
	const n = 2000
	for i := range n {
		in.do(t, "POST", "/ofrep/v1/evaluate/flags/exp", map[string]any{"context": map[string]any{"targetingKey": fmt.Sprintf("u%d", i)}})
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("flagd exited with %v:\n%s", err, logs.String())
		}
	case <-ctx.Done():
		t.Fatalf("flagd did not exit after SIGTERM:\n%s", logs.String())
	}
	got, _ := streamEvents(t, e["FLAGSTREAM_NATS_URL"], e["FLAGSTREAM_NATS_NAMESPACE"])
	users := map[string]bool{}
	for _, ev := range got {
		users[ev.UserID] = true
	}
	for i := range n {
		if !users[fmt.Sprintf("u%d", i)] {
			t.Fatalf("exposure of u%d missing after SIGTERM (%d events on the stream)", i, len(got))
		}
	}
}
