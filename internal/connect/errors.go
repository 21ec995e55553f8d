package connect

import (
	"errors"
	"fmt"
	"net/url"

	"github.com/flagstream/flagstream/internal/config"
)

// URLError is err from parsing a URL, prefixed with what it is, with the URL
// that net/url's errors quote (password, token and all) redacted.
func URLError(what string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %s %s: %v", what, ue.Op, config.Redact(ue.URL), ue.Err)
	}
	return fmt.Errorf("%s: %w", what, err)
}
