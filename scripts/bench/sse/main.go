// Command sse measures flagd's OFREP event streams (ADR 0008) on loopback:
// it opens -n streams, one per distinct evaluation context (each from its own
// bulk answer), reads flagd's RSS, heap and goroutines before and after, then
// changes one flag through the admin API in a way that alters every
// context's answer and times until every stream got its refetch event.
// It exits 1 if any stream lacks its event after -within, or the last one
// came later than -limit.
//
//	sse -flagd http://127.0.0.1:18180 -pid <flagd pid> -n 10000
//
// The clients are raw TCP connections with small buffers (512 B each), so
// this process holds 10,000 of them in little memory; run it as its own
// process, so that flagd's descriptors and the clients' each fit under
// `ulimit -n`.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	base := flag.String("flagd", "http://127.0.0.1:18180", "flagd base URL (loopback)")
	pid := flag.Int("pid", 0, "flagd's process id, for its RSS (0: not measured)")
	n := flag.Int("n", 10_000, "streams to open")
	flagsN := flag.Int("flags", 20, "flags in every bulk answer (one of them is changed)")
	within := flag.Duration("within", 10*time.Second, "wait at most this long for the events")
	limit := flag.Duration("limit", time.Second, "the last event must arrive within this")
	flag.Parse()
	if err := run(*base, *pid, *n, *flagsN, *within, *limit); err != nil {
		fmt.Fprintln(os.Stderr, "bench-sse:", err)
		os.Exit(1)
	}
}

const changed = "bench_sse_changed"

func run(base string, pid, n, flagsN int, within, limit time.Duration) error {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return fmt.Errorf("-flagd %q: want http://host:port", base)
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	// The flags every context sees; the changed one starts off.
	for i := range flagsN - 1 {
		if err := put(hc, base, fmt.Sprintf("bench_sse_%02d", i), `{"status":"percentage","percentage":50,"variants":{"a":50,"b":50}}`); err != nil {
			return err
		}
	}
	if err := put(hc, base, changed, `{"status":"disabled"}`); err != nil {
		return err
	}
	if err := waitFlags(hc, base, flagsN); err != nil {
		return err
	}
	before := sample(hc, base, pid)

	// One bulk answer per context: its eventStreams names the stream.
	uris := make([]string, n)
	if err := parallel(64, n, func(i int) error {
		uri, err := streamURI(hc, base, fmt.Sprintf("sse_user_%d", i))
		uris[i] = uri
		return err
	}); err != nil {
		return err
	}

	got := make([]time.Duration, n)
	var start atomic.Int64 // unix ns of the change, 0 before it
	var wg sync.WaitGroup
	wg.Add(n)
	conns := make([]net.Conn, n)
	opened := time.Now()
	if err := parallel(64, n, func(i int) error {
		c, err := openStream(u.Host, uris[i])
		if err != nil {
			return err
		}
		conns[i] = c.conn
		go c.read(func() bool {
			s := start.Load()
			if s == 0 {
				return false // an event before the change is not the one timed
			}
			got[i] = time.Duration(time.Now().UnixNano() - s)
			wg.Done()
			return true
		})
		return nil
	}); err != nil {
		return err
	}
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	openFor := time.Since(opened)
	if err := waitOpen(hc, base, n); err != nil {
		return err
	}
	time.Sleep(time.Second) // let the heap settle before reading it
	after := sample(hc, base, pid)

	start.Store(time.Now().UnixNano())
	if err := put(hc, base, changed, `{"status":"enabled"}`); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	missing := 0
	select {
	case <-done:
	case <-time.After(within):
		for _, d := range got {
			if d == 0 {
				missing++
			}
		}
	}
	var lat []time.Duration
	for _, d := range got {
		if d > 0 {
			lat = append(lat, d)
		}
	}
	slices.Sort(lat)
	pct := func(p float64) string {
		if len(lat) == 0 {
			return "-"
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))].Round(100 * time.Microsecond).String()
	}
	per := func(a, b float64) string { return fmt.Sprintf("%.1f KiB", (b-a)/float64(n)/1024) }
	fmt.Printf("\n| %-44s | %14s |\n", fmt.Sprintf("OFREP event streams, %d contexts, %d flags", n, flagsN), "")
	fmt.Printf("|%s|%s|\n", strings.Repeat("-", 46), strings.Repeat("-", 16))
	row := func(k, v string) { fmt.Printf("| %-44s | %14s |\n", k, v) }
	row("streams opened (64 at a time)", openFor.Round(time.Millisecond).String())
	row("flagd RSS before / after", fmt.Sprintf("%.0f / %.0f MiB", before.rss/(1<<20), after.rss/(1<<20)))
	row("flagd RSS per stream", per(before.rss, after.rss))
	row("flagd Go heap in use per stream", per(before.heap, after.heap))
	row("flagd goroutines per stream", fmt.Sprintf("%.2f", (after.goroutines-before.goroutines)/float64(n)))
	row("one flag change → event on every stream: p50", pct(0.50))
	row("p99", pct(0.99))
	row("last stream (must be < "+limit.String()+")", pct(1))
	row("streams without their event", strconv.Itoa(missing))
	switch {
	case missing > 0:
		return fmt.Errorf("%d of %d streams got no event within %v", missing, n, within)
	case lat[len(lat)-1] > limit:
		return fmt.Errorf("the last stream got its event after %v, over %v", lat[len(lat)-1], limit)
	}
	return nil
}

// stream is one raw SSE connection.
type stream struct {
	conn net.Conn
	r    *bufio.Reader
}

func openStream(host, uri string) (*stream, error) {
	c, err := net.DialTimeout("tcp", host, 5*time.Second)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n\r\n", uri, host)
	r := bufio.NewReaderSize(c, 512)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	status, err := r.ReadString('\n')
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("stream: %w", err)
	}
	if !strings.HasPrefix(status, "HTTP/1.1 200") {
		c.Close()
		return nil, fmt.Errorf("stream: %s", strings.TrimSpace(status))
	}
	for { // headers
		line, err := r.ReadString('\n')
		if err != nil {
			c.Close()
			return nil, err
		}
		if line == "\r\n" {
			break
		}
	}
	_ = c.SetReadDeadline(time.Time{})
	return &stream{conn: c, r: r}, nil
}

// read calls got at each event's data line until got returns true (the
// body is chunked; chunk size lines are not data lines).
func (s *stream) read(got func() bool) {
	seen := false
	for {
		line, err := s.r.ReadSlice('\n')
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
		if !seen && bytes.HasPrefix(line, []byte("data: ")) {
			seen = got()
		}
	}
}

func put(hc *http.Client, base, key, body string) error {
	req, _ := http.NewRequest("PUT", base+"/v1/flags/"+key, strings.NewReader(body))
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("PUT %s: %d %s", key, resp.StatusCode, b)
	}
	return nil
}

func bulk(hc *http.Client, base, user string) ([]byte, error) {
	resp, err := hc.Post(base+"/ofrep/v1/evaluate/flags", "application/json",
		strings.NewReader(`{"context":{"targetingKey":"`+user+`"}}`))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != 200 {
		err = fmt.Errorf("bulk: %d %s", resp.StatusCode, b)
	}
	return b, err
}

func streamURI(hc *http.Client, base, user string) (string, error) {
	b, err := bulk(hc, base, user)
	if err != nil {
		return "", err
	}
	var body struct {
		EventStreams []struct {
			Endpoint struct {
				RequestURI string `json:"requestUri"`
			} `json:"endpoint"`
		} `json:"eventStreams"`
	}
	if err := json.Unmarshal(b, &body); err != nil || len(body.EventStreams) == 0 || body.EventStreams[0].Endpoint.RequestURI == "" {
		return "", fmt.Errorf("bulk answer without eventStreams.endpoint.requestUri: %.200s", b)
	}
	return body.EventStreams[0].Endpoint.RequestURI, nil
}

func waitFlags(hc *http.Client, base string, n int) error {
	for range 200 {
		b, err := bulk(hc, base, "probe")
		var body struct {
			Flags []any `json:"flags"`
		}
		if err == nil && json.Unmarshal(b, &body) == nil && len(body.Flags) >= n {
			return nil
		}
		time.Sleep(25 * time.Millisecond)
	}
	return fmt.Errorf("flagd never served %d flags", n)
}

func waitOpen(hc *http.Client, base string, n int) error {
	var v float64
	for range 300 {
		v = metric(hc, base, "flagstream_flagd_event_streams_open")
		if v >= float64(n) {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("flagd has %v streams open, want %d", v, n)
}

type usage struct{ rss, heap, goroutines float64 }

func sample(hc *http.Client, base string, pid int) usage {
	u := usage{heap: metric(hc, base, "go_memstats_heap_inuse_bytes"), goroutines: metric(hc, base, "go_goroutines")}
	if pid > 0 {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
					kb, _ := strconv.ParseFloat(f[1], 64)
					u.rss = kb * 1024
				}
			}
		}
	}
	return u
}

func metric(hc *http.Client, base, name string) float64 {
	resp, err := hc.Get(base + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == name {
			v, _ := strconv.ParseFloat(f[1], 64)
			return v
		}
	}
	return 0
}

// parallel runs fn(0..n-1) on k goroutines and returns the first error.
func parallel(k, n int, fn func(i int) error) error {
	var next atomic.Int64
	var first error
	var once sync.Once
	var wg sync.WaitGroup
	for range k {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					once.Do(func() { first = err })
					next.Store(int64(n))
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}
