package pgstore

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/intellidox/intellidox/internal/files"
)

// SaveDeadLetter keeps a dead-lettered message; a redelivery of the same
// event is stored once.
func (s *Store) SaveDeadLetter(ctx context.Context, topic, eventID string, data json.RawMessage) error {
	if !json.Valid(data) {
		b, _ := json.Marshal(string(data))
		data = b
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO dead_letters (topic, event_id, data) VALUES ($1, $2, $3)
		ON CONFLICT (event_id) WHERE event_id <> '' DO NOTHING`, topic, eventID, data)
	return classify("save dead letter", err)
}

// DeadLetters lists messages, newest first; pending only unless all.
func (s *Store) DeadLetters(ctx context.Context, all bool, limit int) ([]files.DeadLetter, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, topic, event_id, data, received_at, redriven_at FROM dead_letters
		WHERE $1 OR redriven_at IS NULL ORDER BY id DESC LIMIT $2`, all, limit)
	if err != nil {
		return nil, classify("dead letters", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[files.DeadLetter])
	return out, classify("dead letters", err)
}

// PendingDeadLetters counts messages not yet re-driven.
func (s *Store) PendingDeadLetters(ctx context.Context) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM dead_letters WHERE redriven_at IS NULL`).Scan(&n)
	return n, classify("dead letters", err)
}

// Redrive queues a dead-lettered message on its original topic again, in
// the outbox, and marks it re-driven.
func (s *Store) Redrive(ctx context.Context, id int64) ([]int64, error) {
	var ids []int64
	err := s.withTx(ctx, "redrive", func(tx pgx.Tx) error {
		var topic string
		var data json.RawMessage
		err := tx.QueryRow(ctx, `UPDATE dead_letters SET redriven_at = now() WHERE id = $1 AND redriven_at IS NULL
			RETURNING topic, data`, id).Scan(&topic, &data)
		if errors.Is(err, pgx.ErrNoRows) {
			return files.ErrNotFound
		}
		if err != nil {
			return err
		}
		oid, err := enqueue(ctx, tx, topic, data)
		ids = append(ids, oid)
		return err
	})
	return ids, err
}
