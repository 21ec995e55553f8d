package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/flagstream/flagstream/internal/connect"
	"github.com/flagstream/flagstream/pkg/flags"
)

// OFREP answers each request from one snapshot of the flags. A writer
// churns two flags (updated in the order first, last; deleted and re-created
// every few rounds) while readers evaluate them, singly and in bulk with many
// static flags in between. Every flag version carries its own version and
// round in its metadata, so an answer that pairs one snapshot's flag with
// another's result, or a bulk answer that reads its flags at different
// moments, shows:
//   - single: metadata.gen == metadata.version (the flag's metadata and the
//     result's version are the same version); 200 or 404, never a 500 or a
//     dropped connection (a nil flag with a found result panicked);
//   - bulk: no FLAG_NOT_FOUND entry (every listed flag was there), every
//     static flag present, and round(first) >= round(last): the writer
//     updates first before last, so only flags read at different moments
//     can show last ahead of first.
func TestOFREPOneSnapshotPerRequest(t *testing.T) {
	e := newEnv(t)
	// Many static flags, written straight to the store before flagd starts
	// (quicker than the API), widen the time between reading the first and
	// the last flag of a bulk answer.
	const statics = 150
	rdb, err := connect.Redis(e["FLAGSTREAM_REDIS_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	store := flags.NewStore(rdb, flags.WithKeyPrefix(e["FLAGSTREAM_REDIS_PREFIX"]))
	for i := range statics {
		if _, err := store.Put(t.Context(), &flags.Flag{Key: fmt.Sprintf("m_%03d", i), Status: flags.StatusEnabled,
			Variants: flags.Variants{{Name: "control", Weight: 50}, {Name: "treatment", Weight: 50}}}); err != nil {
			t.Fatal(err)
		}
	}
	in := start(t, e, nil)
	// a_churn sorts before every m_ flag and z_churn after them, so a bulk
	// request reads them a whole bulk evaluation apart.
	version := map[string]int{"a_churn": 0, "z_churn": 0}
	put := func(key string, round int) error {
		body, _ := json.Marshal(map[string]any{"status": "enabled", "variants": map[string]any{"control": 50, "treatment": 50},
			"metadata": map[string]any{"gen": version[key] + 1, "round": round}})
		r, err := request("PUT", in.URL+"/v1/flags/"+key, body, "If-Match", strconv.Itoa(version[key]))
		if err != nil || r.status != 200 {
			return fmt.Errorf("PUT %s: %v %d %s", key, err, r.status, r.body)
		}
		version[key]++
		return nil
	}
	del := func(key string) error {
		r, err := request("DELETE", in.URL+"/v1/flags/"+key, nil)
		if err != nil || r.status != 204 {
			return fmt.Errorf("DELETE %s: %v %d %s", key, err, r.status, r.body)
		}
		version[key] = 0
		return nil
	}
	for _, k := range []string{"a_churn", "z_churn"} {
		if err := put(k, 0); err != nil {
			t.Fatal(err)
		}
	}
	in.waitServed(t, "z_churn", 1)

	const rounds = 150
	var done atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() {
		defer done.Store(true)
		for round := 1; round <= rounds; round++ {
			if round%10 == 0 {
				for _, k := range []string{"a_churn", "z_churn"} {
					if err := del(k); err != nil {
						t.Error(err)
						return
					}
				}
			}
			for _, k := range []string{"a_churn", "z_churn"} {
				if err := put(k, round); err != nil {
					t.Error(err)
					return
				}
			}
		}
	})

	ctxBody := []byte(`{"context":{"targetingKey":"user_42"}}`)
	var singles, bulks, notFound atomic.Int64
	var seenMu sync.Mutex
	seenRounds := map[float64]bool{}
	fail := func(format string, args ...any) bool {
		t.Errorf(format, args...)
		done.Store(true)
		return false
	}
	single := func() bool {
		r, err := request("POST", in.URL+"/ofrep/v1/evaluate/flags/a_churn", ctxBody)
		if err != nil {
			return fail("single: %v (a panic in the handler drops the connection)", err)
		}
		singles.Add(1)
		switch r.status {
		case 404:
			notFound.Add(1)
			return true
		case 200:
		default:
			return fail("single: %d %s", r.status, r.body)
		}
		var m map[string]any
		if err := json.Unmarshal(r.body, &m); err != nil {
			return fail("single: %v in %s", err, r.body)
		}
		md, _ := m["metadata"].(map[string]any)
		if md["version"] != md["gen"] || md["version"] == nil {
			return fail("single: metadata of version %v with the result of version %v: %s", md["gen"], md["version"], r.body)
		}
		return true
	}
	bulk := func() bool {
		r, err := request("POST", in.URL+"/ofrep/v1/evaluate/flags", ctxBody)
		if err != nil {
			return fail("bulk: %v (a panic in the handler drops the connection)", err)
		}
		if r.status != 200 {
			return fail("bulk: %d %s", r.status, r.body)
		}
		var resp struct {
			Flags []map[string]any `json:"flags"`
		}
		if err := json.Unmarshal(r.body, &resp); err != nil {
			return fail("bulk: %v in %s", err, r.body)
		}
		bulks.Add(1)
		got := map[string]float64{}
		n := 0
		for _, f := range resp.Flags {
			key, _ := f["key"].(string)
			if f["errorCode"] != nil {
				return fail("bulk: %s answered %v: listed but not found in the same answer", key, f["errorCode"])
			}
			md, _ := f["metadata"].(map[string]any)
			switch key {
			case "a_churn", "z_churn":
				if md["version"] != md["gen"] {
					return fail("bulk: %s metadata of version %v with the result of version %v", key, md["gen"], md["version"])
				}
				got[key], _ = md["round"].(float64)
			default:
				n++
			}
		}
		if n != statics {
			return fail("bulk: %d static flags, want %d", n, statics)
		}
		a, okA := got["a_churn"]
		z, okZ := got["z_churn"]
		if okA && okZ && z > a {
			return fail("bulk: z_churn at round %v but a_churn, written first, at %v: flags from two moments", z, a)
		}
		seenMu.Lock()
		seenRounds[a] = true
		seenMu.Unlock()
		return true
	}
	for _, check := range []func() bool{single, single, bulk, bulk} {
		wg.Go(func() {
			for !done.Load() && check() {
			}
		})
	}
	wg.Wait()
	// The readers must have run through the churn, or nothing was tested.
	seenMu.Lock()
	defer seenMu.Unlock()
	if !t.Failed() && (len(seenRounds) < 20 || singles.Load() < 100 || bulks.Load() < 100) {
		t.Errorf("readers saw %d rounds in %d single and %d bulk requests; want them to run through the churn",
			len(seenRounds), singles.Load(), bulks.Load())
	}
	t.Logf("%d single (%d not found) and %d bulk requests over %d rounds", singles.Load(), notFound.Load(), bulks.Load(), len(seenRounds))
}

type rawResponse struct {
	status int
	body   []byte
}

// request is an HTTP exchange that reports errors instead of failing the
// test, for goroutines other than the test's.
func request(method, url string, body []byte, headers ...string) (rawResponse, error) {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return rawResponse{}, err
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return rawResponse{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return rawResponse{status: resp.StatusCode, body: b}, err
}
