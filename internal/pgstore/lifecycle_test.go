package pgstore

import (
	"context"

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
