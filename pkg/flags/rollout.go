package flags

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// Stage is one step of a rollout plan: the flag's percentage and, when Groups is
// not nil, its allowed groups while the plan is at this stage.
type Stage struct {
	Percentage *float64 `json:"percentage,omitempty"`
	Groups     []string `json:"groups,omitzero"` // omitzero: an empty list clears the groups, an absent one keeps them
}

// Rollout is a plan of stages for one flag, stored in rollout:<flag> as the
// seed's GradualRollout stores it (flag_name, stages as JSON, current_stage,
// status, created_at).
type Rollout struct {
	Flag         string  `json:"flag"`
	Stages       []Stage `json:"stages"`
	CurrentStage int     `json:"current_stage"`
	Status       string  `json:"status"` // "active", or "disabled" after a roll back from stage 0
	CreatedAt    string  `json:"created_at"`
}

// Rollout statuses.
const (
	RolloutActive   = "active"
	RolloutDisabled = "disabled"
)

// ErrRolloutEnd means an advance past the last stage.
var ErrRolloutEnd = errors.New("rollout already at its final stage")

func validateStages(stages []Stage) error {
	if len(stages) == 0 {
		return &FieldError{"stages", "needs at least one stage"}
	}
	for i, st := range stages {
		if st.Percentage != nil {
			if err := checkPercentage(*st.Percentage); err != nil {
				return &FieldError{fmt.Sprintf("stages[%d].percentage", i), err.Error()}
			}
		}
		if err := checkGroups(fmt.Sprintf("stages[%d].groups", i), st.Groups); err != nil {
			return err
		}
	}
	return nil
}

// apply returns a copy of f configured for the stage; the seed keeps a field
// the stage does not set.
func (st Stage) apply(f *Flag) *Flag {
	out := *f
	out.prep = nil
	if st.Percentage != nil {
		out.Percentage = *st.Percentage
	}
	if st.Groups != nil {
		out.AllowedGroups = st.Groups
	}
	return &out
}

func (r *Rollout) fields() []string {
	stages, _ := json.Marshal(r.Stages)
	return []string{
		"flag_name", r.Flag,
		"stages", string(stages),
		"current_stage", strconv.Itoa(r.CurrentStage),
		"status", r.Status,
		"created_at", r.CreatedAt,
	}
}

// GetRollout loads a flag's rollout plan; [ErrNotFound] if it has none.
func (s *Store) GetRollout(ctx context.Context, key string) (*Rollout, error) {
	if err := CheckKey(key); err != nil {
		return nil, fmt.Errorf("%w: key %s", ErrNotFound, err)
	}
	h, err := s.rdb.HGetAll(ctx, s.keys.rolloutKey(key)).Result()
	if err != nil {
		return nil, fmt.Errorf("load rollout %q: %w", key, err)
	}
	if len(h) == 0 {
		return nil, fmt.Errorf("rollout of %q: %w", key, ErrNotFound)
	}
	r := &Rollout{Flag: key, Status: h["status"], CreatedAt: h["created_at"]}
	if err := json.Unmarshal([]byte(h["stages"]), &r.Stages); err != nil {
		return nil, fmt.Errorf("rollout of %q: stages: %w", key, err)
	}
	r.CurrentStage, err = strconv.Atoi(h["current_stage"])
	if err != nil || r.CurrentStage < 0 || r.CurrentStage >= len(r.Stages) {
		return nil, fmt.Errorf("rollout of %q: current_stage %q is not a stage", key, h["current_stage"])
	}
	return r, nil
}

// maxRetries bounds the optimistic read-modify-write loops of rollouts.
const maxRetries = 10

// CreateRollout stores a plan for an existing flag and applies its first stage:
// the flag gets status percentage and stage 0's percentage and groups. (The
// seed's create_rollout leaves the flag alone until the first advance; starting
// the plan where it says it starts is what its users expect.) A plan the flag
// already has is replaced.
//
// Status percentage would switch the seed's variant draw from the plain to the
// salted bucket and move users who already saw a variant to another one, so
// the flag's variant_hash is recorded first (unless it has one): "plain" for a
// flag with variants that is not yet at percentage, "salted" for one that is
// (see pinVariantHash). No user then changes variant while the plan moves.
func (s *Store) CreateRollout(ctx context.Context, key string, stages []Stage) (*Rollout, *Flag, error) {
	if err := validateStages(stages); err != nil {
		return nil, nil, err
	}
	return s.moveRollout(ctx, key, func(*Rollout) (*Rollout, error) {
		return &Rollout{Flag: key, Stages: stages, Status: RolloutActive, CreatedAt: nowISO()}, nil
	}, false)
}

// AdvanceRollout moves the plan one stage forward and applies it to the flag
// (status percentage); [ErrRolloutEnd] at the last stage.
func (s *Store) AdvanceRollout(ctx context.Context, key string) (*Rollout, *Flag, error) {
	return s.moveRollout(ctx, key, func(r *Rollout) (*Rollout, error) {
		next := *r
		if r.Status == RolloutDisabled { // re-enable at the stage it was disabled at
			next.Status = RolloutActive
			return &next, nil
		}
		if r.CurrentStage >= len(r.Stages)-1 {
			return nil, fmt.Errorf("rollout of %q at stage %d of %d: %w", key, r.CurrentStage, len(r.Stages), ErrRolloutEnd)
		}
		next.CurrentStage++
		return &next, nil
	}, true)
}

// RollbackRollout moves the plan one stage back and applies it; rolling back
// from stage 0 disables the flag, as the seed does.
func (s *Store) RollbackRollout(ctx context.Context, key string) (*Rollout, *Flag, error) {
	return s.moveRollout(ctx, key, func(r *Rollout) (*Rollout, error) {
		next := *r
		if r.CurrentStage == 0 {
			next.Status = RolloutDisabled
		} else {
			next.CurrentStage--
		}
		return &next, nil
	}, true)
}

// moveRollout reads the flag (and plan, if existing), computes the next plan,
// and writes both in one atomic step guarded by the flag's version; a concurrent
// change of the flag makes it start over.
func (s *Store) moveRollout(ctx context.Context, key string, step func(*Rollout) (*Rollout, error), needPlan bool) (*Rollout, *Flag, error) {
	for range maxRetries {
		f, err := s.Get(ctx, key)
		if err != nil {
			return nil, nil, err
		}
		var cur *Rollout
		if needPlan {
			if cur, err = s.GetRollout(ctx, key); err != nil {
				return nil, nil, err
			}
		}
		next, err := step(cur)
		if err != nil {
			return nil, nil, err
		}
		nf := next.Stages[next.CurrentStage].apply(f)
		if nf.VariantHash == VariantHashDefault {
			nf.VariantHash = pinVariantHash(f, !needPlan)
		}
		nf.Status = StatusPercentage
		if next.Status == RolloutDisabled {
			nf.Status = StatusDisabled
		}
		stored, err := s.put(ctx, nf, f.Version, next.fields())
		if errors.Is(err, ErrConflict) {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		return next, stored, nil
	}
	return nil, nil, fmt.Errorf("rollout of %q: %w %d times in a row", key, ErrConflict, maxRetries)
}

// pinVariantHash is the variant_hash that keeps every user on the variant the
// flag gives them now, for a flag that has none recorded and is about to be
// set to status percentage by a plan.
func pinVariantHash(f *Flag, creating bool) VariantHash {
	switch {
	case f.Status == StatusPercentage:
		// Already on the salted draw: record it, so that a later status
		// change (the plan done, the flag set to enabled) keeps it too.
		return VariantHashSalted
	case f.Status == StatusDisabled && !creating:
		// A plan written before variant_hash existed, rolled back to
		// disabled: its stages ran on the seed's rule, which status
		// percentage brings back. Leave it so.
		return VariantHashDefault
	case len(f.Variants) > 0:
		// enabled or targeted (or disabled at creation): users got, or
		// will get, the plain draw; keep it under percentage.
		return VariantHashPlain
	}
	return VariantHashDefault // no variants: nothing to keep
}
