package flags

import "time"

// NewStaticClient returns a Client that serves the given flags from memory
// and never reads Redis: for tests of code that evaluates through a Client
// (flagd's handlers) on a machine without a Redis. It prepares the flags,
// which must not change afterwards; later keys replace earlier ones. opts
// apply as in NewClient (OnExposure, OnProblem); the snapshot never changes,
// so OnChange and OnError are never called. Reload answers ErrClosed: there
// is nothing to reload from. Close does nothing.
func NewStaticClient(fs []*Flag, opts ClientOptions) *Client {
	done := make(chan struct{})
	close(done) // no update goroutine: Reload sees a closed client
	c := &Client{opts: opts, cancel: func() {}, done: done, reloads: make(chan reloadRequest), reported: map[string]int64{}}
	m := make(map[string]*Flag, len(fs))
	for _, f := range fs {
		m[f.Key] = f.Prepare()
		c.checkProblem(f)
	}
	c.snap.Store(newSnapshot(m, time.Now()))
	return c
}
