package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/files"
)

// Reconciler re-drives uploads stuck in processing, so that no confirmed
// file is left without a terminal status. Several api replicas may run it at
// once: each takes its rows with FOR UPDATE SKIP LOCKED.
type Reconciler struct {
	Store *Store
	// StuckAfter is how long an upload may sit in processing untouched
	// before it is re-driven.
	StuckAfter time.Duration
	// MaxRedrives bounds re-drives; after that the file is finished with
	// what its engines reported, missing engines counting as errors.
	MaxRedrives int
	Decider     files.Decider
	Relay       files.Relay
	// Batch bounds the uploads handled per call.
	Batch int
}

type stuck struct {
	ID, SHA, BlobState string
	Redrives           int
}

// Reconcile runs one pass and returns how many uploads got each action:
// "redrive_extract", "redrive_scan", "settled" or "finished_unscanned".
func (r *Reconciler) Reconcile(ctx context.Context) (map[string]int, error) {
	actions := map[string]int{}
	var ids []int64
	err := r.Store.withTx(ctx, "reconcile", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT u.id, u.sha256, b.state, u.redrives
			FROM uploads u JOIN blobs b USING (sha256)
			WHERE u.status = 'processing' AND u.updated_at < now() - $1::interval
			ORDER BY u.updated_at LIMIT $2
			FOR UPDATE OF u SKIP LOCKED`, r.StuckAfter.String(), max(r.Batch, 1))
		if err != nil {
			return err
		}
		list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[stuck])
		if err != nil {
			return err
		}
		done := map[string]bool{} // one action per content
		for _, u := range list {
			if done[u.SHA] {
				continue
			}
			done[u.SHA] = true
			action, err := r.reconcileOne(ctx, tx, u, &ids)
			if err != nil {
				return fmt.Errorf("upload %s: %w", u.ID, err)
			}
			actions[action]++
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	r.Relay.Relay(ctx, ids)
	return actions, nil
}

func (r *Reconciler) reconcileOne(ctx context.Context, tx pgx.Tx, u stuck, ids *[]int64) (string, error) {
	// Lock the content, as result recording does.
	var state string
	if err := tx.QueryRow(ctx, `SELECT state FROM blobs WHERE sha256 = $1 FOR UPDATE`, u.SHA).Scan(&state); err != nil {
		return "", err
	}
	touch := func() error {
		_, err := tx.Exec(ctx, `UPDATE uploads SET redrives = redrives + 1, updated_at = now()
			WHERE sha256 = $1 AND status = 'processing'`, u.SHA)
		return err
	}
	if u.Redrives >= r.MaxRedrives {
		return "finished_unscanned", r.finish(ctx, tx, u.SHA, ids)
	}
	if state != files.BlobVerified {
		// The extraction never came back: ask again for the bytes the
		// content is processed from (or let a waiting upload carry it).
		carrier, err := scanFile(tx.QueryRow(ctx, fileColumns+` WHERE u.sha256 = $1 AND u.status = 'processing'
			AND u.dispatched AND coalesce(u.object_key, b.object_key) = b.object_key
			ORDER BY u.confirmed_at LIMIT 1`, u.SHA))
		switch {
		case errors.Is(err, files.ErrNotFound):
			if err := promote(ctx, tx, u.SHA, ids); err != nil {
				return "", err
			}
		case err != nil:
			return "", err
		default:
			id, err := enqueueUploaded(ctx, tx, carrier)
			if err != nil {
				return "", err
			}
			*ids = append(*ids, id)
		}
		return "redrive_extract", touch()
	}
	results, err := queryResults(ctx, tx, u.SHA)
	if err != nil {
		return "", err
	}
	if missing := r.Decider.Missing(results); len(missing) > 0 {
		id, err := enqueueRescan(ctx, tx, u.SHA, u.ID, missing)
		if err != nil {
			return "", err
		}
		*ids = append(*ids, id)
		return "redrive_scan", touch()
	}
	// Uploads whose own bytes were sent for verification and never came
	// back: ask again.
	unproven, err := unprovenUploads(ctx, tx, u.SHA)
	if err != nil {
		return "", err
	}
	for _, f := range unproven {
		id, err := enqueueUploaded(ctx, tx, f)
		if err != nil {
			return "", err
		}
		*ids = append(*ids, id)
	}
	if len(unproven) > 0 {
		return "redrive_verify", touch()
	}
	// Every engine reported but the verdict was never settled.
	return "settled", settle(ctx, tx, u.SHA, r.Decider, ids)
}

// unprovenUploads are the processing uploads of verified content whose own
// bytes were sent to the extractor but whose tenant has not proved
// possession yet.
func unprovenUploads(ctx context.Context, tx pgx.Tx, sha string) ([]files.File, error) {
	rows, err := tx.Query(ctx, fileColumns+` WHERE u.sha256 = $1 AND u.status = 'processing' AND u.dispatched
		AND u.object_key IS NOT NULL AND p.tenant IS NULL FOR UPDATE OF u`, sha)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (files.File, error) { return scanFile(row) })
}

// finish gives up waiting: engines that never reported get an error result
// saying so, and the verdict is settled from what there is (an error makes
// it "unscanned" unless another engine found something).
func (r *Reconciler) finish(ctx context.Context, tx pgx.Tx, sha string, ids *[]int64) error {
	var state string
	if err := tx.QueryRow(ctx, `SELECT state FROM blobs WHERE sha256 = $1`, sha).Scan(&state); err != nil {
		return err
	}
	if state != files.BlobVerified {
		return reject(ctx, tx, contract.FileExtracted{SHA256: sha, Rejection: &contract.Rejection{
			Code: "extraction_timeout", Reason: "the extractor never reported after repeated re-drives"}}, ids)
	}
	results, err := queryResults(ctx, tx, sha)
	if err != nil {
		return err
	}
	missing := r.Decider.Missing(results)
	for _, engine := range missing {
		if _, err := tx.Exec(ctx, upsertResult, sha, engine, contract.Error, []string{}, "", "",
			time.Now().UTC(), 0, "timeout: the engine never reported after repeated re-drives"); err != nil {
			return err
		}
	}
	if len(missing) > 0 {
		if _, err := tx.Exec(ctx, `UPDATE uploads SET reason = $2 WHERE sha256 = $1 AND status = 'processing'`,
			sha, "engines that never reported: "+strings.Join(missing, ", ")); err != nil {
			return err
		}
	}
	if err := settle(ctx, tx, sha, r.Decider, ids); err != nil {
		return err
	}
	unproven, err := unprovenUploads(ctx, tx, sha)
	if err != nil {
		return err
	}
	for _, f := range unproven {
		if err := rejectUpload(ctx, tx, contract.FileExtracted{SHA256: sha, ObjectKey: f.ObjectKey,
			Rejection: &contract.Rejection{Code: "extraction_timeout",
				Reason: "the extractor never verified this upload's bytes after repeated re-drives"}}, ids); err != nil {
			return err
		}
	}
	return nil
}
