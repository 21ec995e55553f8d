package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/flagstream/flagstream/internal/httpapi"
	"github.com/flagstream/flagstream/pkg/flags"
)

// The admin API reads and writes Redis through the store, not the cache: an
// operator sees what is stored, and every flagd (this one included) learns of
// a write through the change channel.

// flagStore is what the admin and rollout handlers need of the flag store:
// *flags.Store in flagd, whose methods document the contract (ErrNotFound,
// ErrConflict, validation errors as *flags.FieldError); memory in the
// handler tests.
type flagStore interface {
	All(ctx context.Context) ([]*flags.Flag, []*flags.LoadError, error)
	Get(ctx context.Context, key string) (*flags.Flag, error)
	Put(ctx context.Context, f *flags.Flag) (*flags.Flag, error)
	PutIfVersion(ctx context.Context, f *flags.Flag, expected int64) (*flags.Flag, error)
	Delete(ctx context.Context, key string) error
	GetRollout(ctx context.Context, key string) (*flags.Rollout, error)
	CreateRollout(ctx context.Context, key string, stages []flags.Stage) (*flags.Rollout, *flags.Flag, error)
	AdvanceRollout(ctx context.Context, key string) (*flags.Rollout, *flags.Flag, error)
	RollbackRollout(ctx context.Context, key string) (*flags.Rollout, *flags.Flag, error)
}

func (a *api) listFlags() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		all, broken, err := a.store.All(r.Context())
		if err != nil {
			httpapi.WriteError(w, r, fmt.Errorf("%w: %w", httpapi.ErrUnavailable, err))
			return
		}
		slices.SortFunc(all, func(x, y *flags.Flag) int { return strings.Compare(x.Key, y.Key) })
		unreadable := make([]map[string]string, 0, len(broken))
		for _, b := range broken {
			unreadable = append(unreadable, map[string]string{"key": b.Key, "error": b.Err.Error()})
		}
		httpapi.WriteJSON(w, http.StatusOK, map[string]any{"flags": all, "unreadable": unreadable})
	})
}

func (a *api) getFlag() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := a.store.Get(r.Context(), r.PathValue("key"))
		if err != nil {
			httpapi.WriteError(w, r, storeErr(err))
			return
		}
		httpapi.WriteJSON(w, http.StatusOK, f)
	})
}

// putFlag creates or replaces a flag. The key comes from the path; a key in
// the body must agree. With If-Match: <version> the write happens only while
// the stored version is still that one (0: the flag must not exist yet).
func (a *api) putFlag() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := httpapi.Decode[flags.Flag](w, r, flagBodyLimit)
		if err == nil {
			err = a.adoptKey(&f, r.PathValue("key"))
		}
		var stored *flags.Flag
		if err == nil {
			stored, err = a.write(r, &f)
		}
		if err != nil {
			httpapi.WriteError(w, r, storeErr(err))
			return
		}
		a.log.Info().Str("flag", stored.Key).Int64("version", stored.Version).Msg("flag written")
		a.serveOwnWrite(r, stored.Key)
		httpapi.WriteJSON(w, http.StatusOK, stored)
	})
}

func (a *api) adoptKey(f *flags.Flag, key string) error {
	if f.Key != "" && f.Key != key {
		return &flags.FieldError{Field: "key", Reason: fmt.Sprintf("%q differs from the path's %q", f.Key, key)}
	}
	f.Key = key
	return nil
}

func (a *api) write(r *http.Request, f *flags.Flag) (*flags.Flag, error) {
	im := strings.Trim(r.Header.Get("If-Match"), `" `)
	if im == "" {
		return a.store.Put(r.Context(), f)
	}
	v, err := strconv.ParseInt(im, 10, 64)
	if err != nil || v < 0 {
		return nil, fmt.Errorf("%w: If-Match must be a flag version, got %q", httpapi.ErrBadRequest, im)
	}
	return a.store.PutIfVersion(r.Context(), f, v)
}

func (a *api) deleteFlag() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := a.store.Delete(r.Context(), r.PathValue("key")); err != nil {
			httpapi.WriteError(w, r, storeErr(err))
			return
		}
		a.log.Info().Str("flag", r.PathValue("key")).Msg("flag deleted")
		a.serveOwnWrite(r, r.PathValue("key"))
		w.WriteHeader(http.StatusNoContent)
	})
}

type rolloutRequest struct {
	Stages []flags.Stage `json:"stages"`
}

type rolloutResponse struct {
	Rollout *flags.Rollout `json:"rollout"`
	Flag    *flags.Flag    `json:"flag"`
}

func (a *api) getRollout() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ro, err := a.store.GetRollout(r.Context(), r.PathValue("key"))
		if err != nil {
			httpapi.WriteError(w, r, storeErr(err))
			return
		}
		httpapi.WriteJSON(w, http.StatusOK, ro)
	})
}

func (a *api) putRollout() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := httpapi.Decode[rolloutRequest](w, r, flagBodyLimit)
		var resp rolloutResponse
		if err == nil {
			resp.Rollout, resp.Flag, err = a.store.CreateRollout(r.Context(), r.PathValue("key"), req.Stages)
		}
		if err != nil {
			httpapi.WriteError(w, r, storeErr(err))
			return
		}
		a.log.Info().Str("flag", resp.Flag.Key).Int("stages", len(resp.Rollout.Stages)).Msg("rollout created")
		a.serveOwnWrite(r, resp.Flag.Key)
		httpapi.WriteJSON(w, http.StatusOK, resp)
	})
}

func (a *api) moveRollout(move func(context.Context, string) (*flags.Rollout, *flags.Flag, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var resp rolloutResponse
		var err error
		resp.Rollout, resp.Flag, err = move(r.Context(), r.PathValue("key"))
		if err != nil {
			httpapi.WriteError(w, r, storeErr(err))
			return
		}
		a.log.Info().Str("flag", resp.Flag.Key).Int("stage", resp.Rollout.CurrentStage).
			Str("status", string(resp.Flag.Status)).Msg("rollout moved")
		a.serveOwnWrite(r, resp.Flag.Key)
		httpapi.WriteJSON(w, http.StatusOK, resp)
	})
}

// The seed's Express admin routes: POST takes a flag as the seed's Python or
// Node manager shapes it ("name", snake_case or camelCase, variants as an
// object) and answers {"success": true}; GET lists names as {"flags": [...]}.

func (a *api) seedCreate() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := httpapi.Decode[flags.Flag](w, r, flagBodyLimit)
		if err == nil {
			_, err = a.store.Put(r.Context(), &f)
		}
		if err != nil {
			httpapi.WriteError(w, r, storeErr(err))
			return
		}
		a.log.Info().Str("flag", f.Key).Msg("flag written (seed route)")
		a.serveOwnWrite(r, f.Key)
		httpapi.WriteJSON(w, http.StatusOK, map[string]bool{"success": true})
	})
}

func (a *api) seedList() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		all, broken, err := a.store.All(r.Context())
		if err != nil {
			httpapi.WriteError(w, r, fmt.Errorf("%w: %w", httpapi.ErrUnavailable, err))
			return
		}
		names := make([]string, 0, len(all)+len(broken))
		for _, f := range all {
			names = append(names, f.Key)
		}
		for _, b := range broken {
			names = append(names, b.Key)
		}
		slices.Sort(names)
		httpapi.WriteJSON(w, http.StatusOK, map[string]any{"flags": names})
	})
}

func (a *api) seedDelete() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := a.store.Delete(r.Context(), r.PathValue("name")); err != nil {
			httpapi.WriteError(w, r, storeErr(err))
			return
		}
		a.serveOwnWrite(r, r.PathValue("name"))
		httpapi.WriteJSON(w, http.StatusOK, map[string]bool{"success": true})
	})
}

// storeErr marks Redis failures as unavailability (503 with Retry-After);
// the store's own sentinels keep their meaning.
func storeErr(err error) error {
	if status, _ := httpapi.Status(err); status != http.StatusInternalServerError {
		return err
	}
	return fmt.Errorf("%w: %w", httpapi.ErrUnavailable, err)
}

// serveOwnWrite makes this instance serve a flag it just wrote from the next
// request on (read-your-writes for an admin who evaluates right after a
// change); other flagd instances follow with the change notice, within a
// second. Failing that, the notice still arrives: it is logged, not an error.
func (a *api) serveOwnWrite(r *http.Request, key string) {
	c := a.client.Load()
	if c == nil {
		return
	}
	if err := c.Reload(r.Context(), key); err != nil {
		a.log.Warn().Err(err).Str("flag", key).Msg("could not reload the flag just written; the change notice will")
	}
}
