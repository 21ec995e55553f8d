package events_test

import (
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/flagstream/flagstream/pkg/events"
)

func TestNewIDUniqueAndSortable(t *testing.T) {
	const goroutines, each = 8, 2000
	var mu sync.Mutex
	seen := make(map[string]bool, goroutines*each)
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			ids := make([]string, each)
			for i := range ids {
				ids[i] = events.NewID()
			}
			mu.Lock()
			defer mu.Unlock()
			for _, id := range ids {
				if seen[id] {
					t.Errorf("id %s made twice", id)
				}
				seen[id] = true
			}
		})
	}
	wg.Wait()

	before := events.NewID()
	time.Sleep(2 * time.Millisecond)
	after := events.NewID()
	if after <= before {
		t.Errorf("id made later %s does not sort after %s", after, before)
	}
	id, err := ulid.ParseStrict(after)
	if err != nil {
		t.Fatalf("NewID() = %q, not a ULID: %v", after, err)
	}
	if d := time.Since(ulid.Time(id.Time())); d < 0 || d > time.Minute {
		t.Errorf("id time is %v off now", d)
	}
}
