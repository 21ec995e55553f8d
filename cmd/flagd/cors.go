package main

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// corsOrigins are the page origins allowed to call flagd's evaluation
// routes from a browser (--cors-origins): web apps whose pages are served
// from another origin than flagd. Only evaluation, exposure, tracking and
// event-stream routes answer cross-origin requests; the admin API never does.
type corsOrigins struct {
	any     bool     // "*": every origin
	origins []string // exact "scheme://host[:port]"
}

// parseCORSOrigins reads a comma-separated list of origins, or "*".
func parseCORSOrigins(list string) (corsOrigins, error) {
	var c corsOrigins
	for _, o := range strings.Split(list, ",") {
		o = strings.TrimSpace(o)
		switch {
		case o == "":
		case o == "*":
			c.any = true
		default:
			u, err := url.Parse(o)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
				return c, fmt.Errorf("cors-origins: %q is not an origin such as https://shop.example.com", o)
			}
			c.origins = append(c.origins, u.Scheme+"://"+u.Host)
		}
	}
	return c, nil
}

func (c corsOrigins) allows(origin string) bool {
	return origin != "" && (c.any || slices.Contains(c.origins, origin))
}

// crossOriginPath: the routes a page may call.
func crossOriginPath(p string) bool {
	return strings.HasPrefix(p, "/ofrep/v1/") || p == "/v1/evaluate" || p == "/v1/evaluate/all" ||
		p == "/v1/exposures" || p == "/v1/track"
}

// wrap answers preflights and marks the answers of allowed origins. The
// origin is echoed (never "*"), so credentials in headers work, and Vary
// keeps caches from serving one origin's answer to another.
func (c corsOrigins) wrap(next http.Handler) http.Handler {
	if !c.any && len(c.origins) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if !crossOriginPath(r.URL.Path) || !c.allows(origin) {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		h.Add("Vary", "Origin")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", "GET, POST")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, If-None-Match, X-API-Key, Last-Event-ID, Flagstream-Exposure")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.Set("Access-Control-Expose-Headers", "ETag, Retry-After")
		next.ServeHTTP(w, r)
	})
}
