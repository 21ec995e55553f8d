package events

import (
	"sync"
	"time"
)

// queue is the publisher's buffer: a ring of events behind a mutex that grows
// up to max and shrinks again once drained, so memory follows the backlog
// (an Event is 136 bytes: 100,000 of them in a buffered channel, whose ring
// is cycled through, would keep 13 MB resident for a backlog that exists
// only during outages).
type queue struct {
	mu     sync.Mutex
	buf    []Event
	head   int
	n      int
	max    int
	grewAt time.Time
	wake   chan struct{} // signalled when the queue turns non-empty
}

const (
	queueMinCap    = 64
	queueShrinkAt  = 16 << 10         // a drained ring bigger than this is released...
	queueShrinkAge = 10 * time.Second // ...once it has not grown for this long, so a busy queue is not re-grown over and over
)

func newQueue(max int) *queue {
	return &queue{max: max, wake: make(chan struct{}, 1)}
}

// push adds e unless the queue is full; it never blocks for longer than the
// mutex is held by another push or a take (a copy of at most one batch).
func (q *queue) push(e Event) bool {
	q.mu.Lock()
	if q.n >= q.max {
		q.mu.Unlock()
		return false
	}
	if q.n == len(q.buf) {
		q.grow()
	}
	i := q.head + q.n
	if i >= len(q.buf) {
		i -= len(q.buf)
	}
	q.buf[i] = e
	q.n++
	first := q.n == 1
	q.mu.Unlock()
	if first {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
	return true
}

// grow doubles the ring (up to max), keeping the order. Lock held.
func (q *queue) grow() {
	c := min(max(2*len(q.buf), queueMinCap), q.max)
	buf := make([]Event, c)
	k := copy(buf, q.buf[q.head:])
	copy(buf[k:], q.buf[:q.head])
	q.buf, q.head = buf, 0
	if c > queueShrinkAt {
		q.grewAt = time.Now()
	}
}

// take appends up to limit events, oldest first, to dst.
func (q *queue) take(dst []Event, limit int) []Event {
	q.mu.Lock()
	defer q.mu.Unlock()
	for k := min(limit, q.n); k > 0; k-- {
		dst = append(dst, q.buf[q.head])
		q.buf[q.head] = Event{} // let the strings go
		q.head++
		if q.head == len(q.buf) {
			q.head = 0
		}
		q.n--
	}
	if q.n == 0 {
		q.head = 0
		if len(q.buf) > queueShrinkAt && time.Since(q.grewAt) > queueShrinkAge {
			q.buf = nil
		}
	}
	return dst
}

// len is the number of events queued.
func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}

// clear drops everything queued and says how much that was.
func (q *queue) clear() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := q.n
	q.buf, q.head, q.n = nil, 0, 0
	return n
}
