// Command postload drives the whole pipeline over HTTP, as apps would: for
// -duration it POSTs batches of new users' exposures and conversions to
// ingest from -conns connections, then waits until aggregate's report holds
// exactly what was accepted, and prints the intake rate and the time the
// pipeline took to count everything (scripts/bench-pipeline.sh).
package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flagstream/flagstream/pkg/events"
)

func main() {
	ingestURL := flag.String("ingest-url", "http://127.0.0.1:8081", "ingest's base URL")
	aggregateURL := flag.String("aggregate-url", "http://127.0.0.1:8082", "aggregate's base URL")
	experiment := flag.String("experiment", "bench_pipeline", "experiment key (use a fresh one per run)")
	duration := flag.Duration("duration", 60*time.Second, "how long to post")
	conns := flag.Int("conns", 8, "concurrent POSTs")
	batch := flag.Int("batch", 500, "events per POST (4 exposures to 1 conversion)")
	zip := flag.Bool("gzip", true, "send bodies with Content-Encoding: gzip, as SDKs do")
	wait := flag.Duration("wait", 10*time.Minute, "how long to wait for the report to hold every event")
	flag.Parse()
	if err := run(*ingestURL, *aggregateURL, *experiment, *duration, *conns, *batch, *zip, *wait); err != nil {
		fmt.Fprintln(os.Stderr, "postload:", err)
		os.Exit(1)
	}
}

// totals is what ingest accepted.
type totals struct {
	users, conversions, refused atomic.Int64
}

func run(ingestURL, aggregateURL, experiment string, duration time.Duration, conns, batch int, zip bool, wait time.Duration) error {
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: conns}}
	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	var t totals
	var seq atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	start := time.Now()
	for c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				n := seq.Add(1)
				body, users, conversions := makeBatch(experiment, c, n, batch)
				status, err := post(client, ingestURL+"/v1/events", body, zip)
				switch {
				case err != nil:
					errs <- err
					return
				case status == http.StatusAccepted:
					t.users.Add(users)
					t.conversions.Add(conversions)
				case status == http.StatusServiceUnavailable:
					t.refused.Add(1) // not counted: a real sender would resend it
					time.Sleep(100 * time.Millisecond)
				default:
					errs <- fmt.Errorf("POST answered %d", status)
					return
				}
			}
		}()
	}
	wg.Wait()
	posted := time.Since(start)
	select {
	case err := <-errs:
		return err
	default:
	}
	users, conversions := t.users.Load(), t.conversions.Load()
	events := users + conversions
	fmt.Printf("RESULT_INTAKE events=%d seconds=%.1f rate=%.0f refused_batches=%d\n", events, posted.Seconds(), float64(events)/posted.Seconds(), t.refused.Load())
	deadline := time.Now().Add(wait)
	for {
		gotUsers, gotConversions, err := reportTotals(client, aggregateURL, experiment)
		if err == nil && gotUsers == users && gotConversions == conversions {
			all := time.Since(start)
			fmt.Printf("RESULT_EXACT seconds=%.1f rate=%.0f users=%d conversions=%d\n", all.Seconds(), float64(events)/all.Seconds(), users, conversions)
			return nil
		}
		if err == nil && (gotUsers > users || gotConversions > conversions) {
			return fmt.Errorf("the report counts more than was sent: %d users, %d conversions; sent %d, %d", gotUsers, gotConversions, users, conversions)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %v the report holds %d of %d users, %d of %d conversions (%v)", wait, gotUsers, users, gotConversions, conversions, err)
		}
		time.Sleep(time.Second)
	}
}

// makeBatch builds one POST body: each group of five events is four new
// users' exposures and the first one's purchase.
func makeBatch(experiment string, conn int, n int64, size int) (body []byte, users, conversions int64) {
	now := time.Now().UTC()
	value := 9.99
	var buf []byte
	for i := range size {
		user := fmt.Sprintf("p%d_%d_%d", conn, n, i/5*4+min(i%5, 3))
		e := events.Event{ID: fmt.Sprintf("%s-%d", user, i%5/4), UserID: user, Experiment: experiment, TS: now}
		if i%5 < 4 {
			e.Type, e.Variant = events.TypeExposure, []string{"control", "treatment"}[i%2]
			users++
		} else {
			e.Type, e.ConversionType, e.Value = events.TypeConversion, "purchase", &value
			user = fmt.Sprintf("p%d_%d_%d", conn, n, i/5*4)
			e.UserID, e.ID = user, user+"-c"
			e.TS = now.Add(time.Millisecond)
			conversions++
		}
		buf, _ = e.AppendJSON(buf)
		buf = append(buf, '\n')
	}
	return buf, users, conversions
}

func post(client *http.Client, url string, body []byte, zip bool) (int, error) {
	var r io.Reader = bytes.NewReader(body)
	if zip {
		var z bytes.Buffer
		zw := gzip.NewWriter(&z)
		_, _ = zw.Write(body)
		_ = zw.Close()
		r = &z
	}
	req, err := http.NewRequest(http.MethodPost, url, r)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	if zip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// reportTotals reads the purchase report's users and conversions, summed
// over the variants.
func reportTotals(client *http.Client, aggregateURL, experiment string) (users, conversions int64, err error) {
	resp, err := client.Get(aggregateURL + "/v1/experiments/" + experiment + "/report?metric=purchase")
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("report answered %d", resp.StatusCode)
	}
	var rep struct {
		Variants []struct {
			Users       int64 `json:"users"`
			Conversions int64 `json:"conversions"`
		} `json:"variants"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		return 0, 0, err
	}
	for _, v := range rep.Variants {
		users += v.Users
		conversions += v.Conversions
	}
	return users, conversions, nil
}
