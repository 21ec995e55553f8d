package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/rs/zerolog"
)

// Limits of every flagstream server. The write timeout bounds a slow reader;
// bulk answers (evaluate/all, reports) finish well inside it.
const (
	ReadHeaderTimeout = 5 * time.Second
	ReadTimeout       = 30 * time.Second
	WriteTimeout      = 60 * time.Second
	IdleTimeout       = 120 * time.Second
	MaxHeaderBytes    = 64 << 10
	ShutdownTimeout   = 10 * time.Second
)

// NewServer returns an http.Server with every timeout set and the logger in
// each request's context.
func NewServer(addr string, h http.Handler, log zerolog.Logger) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		BaseContext:       func(net.Listener) context.Context { return log.WithContext(context.Background()) },
		ErrorLog:          nil,
	}
}

// Serve listens on srv.Addr and serves until ctx ends, then drains in-flight
// requests for up to ShutdownTimeout. ready, if not nil, receives the bound
// address (useful with port 0).
func Serve(ctx context.Context, srv *http.Server, ready func(addr net.Addr)) error {
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		return err
	}
	if ready != nil {
		ready(ln.Addr())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil { // Close would drop in-flight requests
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// ServeDebug serves Go's /debug/pprof on a loopback address until ctx ends;
// an empty addr serves nothing. Profiles show internals, so never on a
// network address.
func ServeDebug(ctx context.Context, addr string, log zerolog.Logger) error {
	if addr == "" {
		return nil
	}
	if err := CheckListen(addr, Tokens{}); err != nil {
		return fmt.Errorf("pprof-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return Serve(ctx, NewServer(addr, mux, log), nil)
}
