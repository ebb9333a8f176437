package files

import (
	"context"
	"fmt"
	"time"
)

// Reconciler re-drives uploads stuck in processing, so that no confirmed
// file is left without a terminal status (Content.Reconcile). Several api
// replicas may run it at once: each content is re-driven under its lock,
// and a replica that comes second finds its uploads touched and does
// nothing.
type Reconciler struct {
	Store Store
	Relay Relay
	// Decider judges the results, as the Service's does.
	Decider Decider
	// StuckAfter is how long an upload may sit in processing untouched
	// before it is re-driven.
	StuckAfter time.Duration
	// MaxRedrives bounds re-drives; after that the file is finished with
	// what its engines reported, missing engines counting as errors.
	MaxRedrives int
	// Batch bounds the contents handled per call.
	Batch int
}

// Reconcile runs one pass and returns how many contents got each action
// (RedriveExtract, RedriveScan, RedriveVerify, Settled, FinishedUnscanned).
func (r *Reconciler) Reconcile(ctx context.Context) (map[string]int, error) {
	shas, err := r.Store.Stuck(ctx, r.StuckAfter, max(r.Batch, 1))
	if err != nil {
		return nil, err
	}
	actions := map[string]int{}
	for _, sha := range shas {
		var action string
		ids, err := r.Store.Update(ctx, Key{SHA256: sha}, func(c *Content) error {
			action = c.Reconcile(r.StuckAfter, r.MaxRedrives, r.Decider)
			return nil
		})
		if err != nil {
			return actions, fmt.Errorf("content %s: %w", sha, err)
		}
		r.Relay.Relay(ctx, ids)
		if action != "" {
			actions[action]++
		}
	}
	return actions, nil
}
