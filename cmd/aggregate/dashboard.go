package main

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/flagstream/flagstream/internal/httpapi"
)

// The dashboard is static: hand-written HTML, JS and CSS embedded in the
// binary, so that a deployment is one file and the page works offline (no
// CDN, no build step). It holds no data: the browser reads the same /v1 JSON
// routes any dashboard uses, with the user's token, so the page and its
// assets are served without one.
//
//go:embed web/index.html web/app.js web/app.css
var webFiles embed.FS

// asset is one embedded file, ready to serve.
type asset struct {
	body        []byte
	contentType string
	etag        string // quoted, from the content: revalidation is cheap
	version     string // the query a versioned URL carries (?v=...)
}

// dashboardCSP keeps the page to its own origin: no inline script or style,
// no third-party fetches, no framing. It narrows what an injected string
// could do should escaping ever fail.
const dashboardCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// dashboard serves GET / (index.html) and GET /assets/{app.js,app.css}.
// index.html links the assets with ?v=<content hash>, so those URLs are
// cached for a year and a new binary's page fetches new ones; the page itself
// is always revalidated (ETag), and an asset asked for without the current
// version too. It is built once (the hashes) and shared by both routes.
var dashboard = sync.OnceValue(func() http.Handler {
	read := func(name string) []byte {
		b, err := webFiles.ReadFile("web/" + name)
		if err != nil {
			panic("dashboard: embedded " + name + ": " + err.Error()) // a build mistake, not a runtime state
		}
		return b
	}
	newAsset := func(body []byte, contentType string) *asset {
		sum := sha256.Sum256(body)
		v := hex.EncodeToString(sum[:6])
		return &asset{body: body, contentType: contentType, etag: `"` + v + `"`, version: v}
	}
	js := newAsset(read("app.js"), "text/javascript; charset=utf-8")
	css := newAsset(read("app.css"), "text/css; charset=utf-8")
	assets := map[string]*asset{"app.js": js, "app.css": css}
	page := read("index.html")
	page = bytes.ReplaceAll(page, []byte(`"/assets/app.js"`), []byte(`"/assets/app.js?v=`+js.version+`"`))
	page = bytes.ReplaceAll(page, []byte(`"/assets/app.css"`), []byte(`"/assets/app.css?v=`+css.version+`"`))
	index := newAsset(page, "text/html; charset=utf-8")

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, cache := index, "no-cache"
		if r.URL.Path != "/" {
			var ok bool
			if a, ok = assets[strings.TrimPrefix(r.URL.Path, "/assets/")]; !ok {
				httpapi.WriteError(w, r, httpapi.ErrNotFound)
				return
			}
			if r.URL.Query().Get("v") == a.version {
				cache = "public, max-age=31536000, immutable"
			}
		}
		h := w.Header()
		h.Set("Content-Type", a.contentType)
		h.Set("Cache-Control", cache)
		h.Set("ETag", a.etag)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if a == index {
			h.Set("Content-Security-Policy", dashboardCSP)
		}
		// ServeContent answers If-None-Match with 304, and HEAD and ranges.
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
	})
})
