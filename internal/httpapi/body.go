package httpapi

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// ErrUnsupportedEncoding: a request body in a Content-Encoding the route
// does not read (415).
var ErrUnsupportedEncoding = errors.New("unsupported content encoding")

// Body returns r's body, limited to limit bytes as sent and, when it comes
// gzipped (Content-Encoding: gzip, as SDKs send batches), to limit bytes
// once decompressed too: a small gzip bomb gets a 413 like a big body, never
// the memory to inflate it. A read past either limit fails with an
// *http.MaxBytesError (WriteError: 413); an encoding other than gzip or
// identity is refused with [ErrUnsupportedEncoding], a body that is not the
// gzip it claims with [ErrBadRequest].
func Body(w http.ResponseWriter, r *http.Request, limit int64) (io.Reader, error) {
	body := http.MaxBytesReader(w, r.Body, limit)
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
		return body, nil
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: Content-Encoding is gzip but the body is not gzip (%v)", ErrBadRequest, err)
		}
		return &inflated{r: zr, left: limit, limit: limit}, nil
	default:
		return nil, fmt.Errorf("%w: Content-Encoding %q; send gzip or no encoding", ErrUnsupportedEncoding, enc)
	}
}

// inflated limits what a gzip reader inflates and names corrupt input.
type inflated struct {
	r           *gzip.Reader
	left, limit int64
}

func (z *inflated) Read(p []byte) (int, error) {
	if z.left <= 0 {
		// One more byte would tell whether the body ends exactly here.
		var one [1]byte
		if n, _ := z.r.Read(one[:]); n > 0 {
			return 0, &http.MaxBytesError{Limit: z.limit}
		}
		return 0, io.EOF
	}
	if int64(len(p)) > z.left {
		p = p[:z.left]
	}
	n, err := z.r.Read(p)
	z.left -= int64(n)
	if err != nil && !errors.Is(err, io.EOF) {
		var tooBig *http.MaxBytesError
		if !errors.As(err, &tooBig) {
			err = fmt.Errorf("%w: the gzip body is corrupt (%v)", ErrBadRequest, err)
		}
	}
	return n, err
}
