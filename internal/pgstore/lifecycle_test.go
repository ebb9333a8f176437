package pgstore

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/files"
)

// These run the lifecycle's transitions (files/lifecycle.go) through
// Store.Update, as files.Service does, so that the tests here check the
// store's load and save against a real PostgreSQL.

func confirm(s *Store, ctx context.Context, tenant, id string) (files.File, []int64, error) {
	f, err := s.Get(ctx, tenant, id)
	if err != nil {
		return f, nil, err
	}
	ids, err := s.Update(ctx, files.Key{SHA256: f.SHA256, Uploads: []string{id}}, func(c *files.Content) error {
		return c.Confirm(id)
	})
	if err != nil {
		return files.File{}, nil, err
	}
	f, err = s.Get(ctx, tenant, id)
	return f, ids, err
}

func recordExtraction(s *Store, ctx context.Context, ev contract.FileExtracted, d files.Decider) ([]int64, error) {
	return s.Update(ctx, files.Key{SHA256: ev.SHA256}, func(c *files.Content) error {
		c.Extracted(ev, d)
		return nil
	})
}

func recordScan(s *Store, ctx context.Context, ev contract.ScanCompleted, d files.Decider) ([]int64, error) {
	return s.Update(ctx, files.Key{SHA256: ev.SHA256}, func(c *files.Content) error {
		c.Scanned(ev, d)
		return nil
	})
}

func rescan(s *Store, ctx context.Context, tenant, id string, engines []string) (files.File, []int64, error) {
	f, err := s.Get(ctx, tenant, id)
	if err != nil {
		return f, nil, err
	}
	ids, err := s.Update(ctx, files.Key{SHA256: f.SHA256, Uploads: []string{id}}, func(c *files.Content) error {
		return c.Rescan(tenant, id, engines)
	})
	return f, ids, err
}

// created creates u and confirms it as its tenant.
func created(t testing.TB, s *Store, ctx context.Context, u files.NewUpload) {
	t.Helper()
	_, err := s.CreateUpload(ctx, u)
	require.NoError(t, err)
	_, _, err = confirm(s, ctx, u.Tenant, u.ID)
	require.NoError(t, err)
}

// TestUpdateRollsBack: Update opens its transaction in the load batch and
// commits in the save batch. A transition that fails, or a save that fails,
// leaves nothing behind and hands the connection back idle, not inside a
// transaction (the pool would have to drop it and dial again).
func TestUpdateRollsBack(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	u := newUpload("rolled back", "r.txt")
	created(t, s, ctx, u)
	dialed := pool.Stat().NewConnsCount()

	failed := errors.New("the transition refused")
	for range 3 {
		_, err := s.Update(ctx, files.Key{SHA256: u.SHA256}, func(c *files.Content) error {
			c.Extracted(extracted(u), policy) // changes it, then fails
			return failed
		})
		require.ErrorIs(t, err, failed)
	}
	// A save the database refuses midway: a result, then a status its
	// CHECK constraint rejects.
	_, err := s.Update(ctx, files.Key{SHA256: u.SHA256}, func(c *files.Content) error {
		c.Scanned(withSHA(result("clamav", contract.Clean), u.SHA256), policy)
		c.Uploads[0].Status, c.Uploads[0].Changed = "bogus", true
		return nil
	})
	require.Error(t, err, "the uploads table refuses the status")

	f, err := s.Get(ctx, "t1", u.ID)
	require.NoError(t, err)
	assert.Equal(t, files.Processing, f.Status, "nothing of the failed transitions was saved")
	var results int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM scan_results WHERE sha256 = $1`, u.SHA256).Scan(&results))
	assert.Zero(t, results, "the result saved before the refused status was rolled back")
	assert.Equal(t, dialed, pool.Stat().NewConnsCount(), "every connection came back idle and was reused")

	ids, err := recordExtraction(s, ctx, extracted(u), policy)
	require.NoError(t, err, "and the next update works")
	assert.Empty(t, ids)
}
