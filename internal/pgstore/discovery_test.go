package pgstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/internal/protect"
)

func obj(key, etag string) protect.Object {
	return protect.Object{Bucket: "inbox", Key: key, Size: 5, ETag: etag}
}

// queue queues objs for tenant outside any sweep (as storage events do)
// and returns how many of them were new.
func queue(t *testing.T, s *Store, tenant string, objs ...protect.Object) int {
	t.Helper()
	n, err := s.Queue(context.Background(), tenant, "", objs)
	require.NoError(t, err)
	return n
}

func TestDiscoveryQueue(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)

	assert.Equal(t, 2, queue(t, s, "acme", obj("a", "v1"), obj("b", "v1")))
	// The same versions again (a notification redelivered, a sweep of the
	// same prefix): nothing new. A new version, or another tenant: new.
	assert.Equal(t, 1, queue(t, s, "acme", obj("a", "v1"), obj("b", "v1"), obj("a", "v2")))
	assert.Equal(t, 1, queue(t, s, "beta", obj("a", "v1")))

	// Each claim takes distinct rows; claimed rows are not taken again
	// while their lease lasts.
	first, err := s.Claim(ctx, 3, time.Hour)
	require.NoError(t, err)
	require.Len(t, first, 3)
	rest, err := s.Claim(ctx, 10, time.Hour)
	require.NoError(t, err)
	require.Len(t, rest, 1)
	none, err := s.Claim(ctx, 10, time.Hour)
	require.NoError(t, err)
	assert.Empty(t, none)
	seen := map[int64]bool{}
	for _, d := range append(first, rest...) {
		assert.False(t, seen[d.ID])
		seen[d.ID] = true
		assert.Equal(t, 1, d.Attempts)
		assert.NotEmpty(t, d.UploadID)
	}

	// A retry is claimable after its delay, its attempt counted; a lapsed
	// lease (a replica that died) is claimable at once.
	d := first[0]
	require.NoError(t, s.Retry(ctx, d.ID, "boom", 0))
	require.NoError(t, s.Extend(ctx, first[1].ID, 0))
	again, err := s.Claim(ctx, 10, time.Hour)
	require.NoError(t, err)
	require.Len(t, again, 2)
	assert.Equal(t, d.ID, again[0].ID)
	assert.Equal(t, d.UploadID, again[0].UploadID, "the upload id stays: a retried ingest finds its upload")
	assert.Equal(t, 2, again[0].Attempts)

	for _, d := range append(first, rest...) {
		require.NoError(t, s.Finish(ctx, d.ID, protect.OutcomeUploaded, "", ""))
	}
	none, err = s.Claim(ctx, 10, 0)
	require.NoError(t, err)
	assert.Empty(t, none, "finished rows are never claimed")
}

func TestSweepResumesAtTheFirstPageNotQueued(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	id := "0b6f5c39-5b0e-4c39-9d43-0d7e7f7f0001"
	sw, err := s.CreateSweep(ctx, "acme", "key1", protect.SweepRequest{Bucket: "inbox", Prefix: "in/"}, id)
	require.NoError(t, err)
	assert.Equal(t, protect.SweepListing, sw.Status)
	assert.Equal(t, []string{}, sw.Include)

	_, err = s.GetSweep(ctx, "beta", id)
	assert.ErrorIs(t, err, protect.ErrSweepNotFound, "another tenant's sweep does not exist for it")

	c, err := s.ClaimSweep(ctx, time.Hour)
	require.NoError(t, err)
	require.NotNil(t, c)
	assert.Equal(t, "", c.Token)
	other, err := s.ClaimSweep(ctx, time.Hour)
	require.NoError(t, err)
	assert.Nil(t, other, "a sweep is listed by one replica at a time")

	page := func(from, to int) []protect.Object {
		var out []protect.Object
		for i := from; i < to; i++ {
			out = append(out, obj(fmt.Sprintf("in/%04d", i), "v1"))
		}
		return out
	}
	require.NoError(t, s.SavePage(ctx, id, 12, page(0, 10), "token-2", false, 0))

	// The lister died (its lease, 0 here, lapsed): the next claim resumes
	// at the page after the last one saved.
	c, err = s.ClaimSweep(ctx, time.Hour)
	require.NoError(t, err)
	require.NotNil(t, c)
	assert.Equal(t, "token-2", c.Token)
	// The page is listed again by the new lister only if its save was lost;
	// saving overlapping objects adds no rows.
	require.NoError(t, s.SavePage(ctx, id, 12, page(5, 15), "", true, time.Hour))

	sw, err = s.GetSweep(ctx, "acme", id)
	require.NoError(t, err)
	assert.Equal(t, protect.SweepListed, sw.Status)
	assert.Equal(t, int64(24), sw.Listed)
	assert.Equal(t, int64(20), sw.Matched)
	assert.Equal(t, int64(15), sw.Queued)
	assert.Equal(t, int64(15), sw.Pending)
	n, err := s.Pending(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, 15, n)

	require.NoError(t, s.FinishSweeps(ctx))
	sw, _ = s.GetSweep(ctx, "acme", id)
	assert.Equal(t, protect.SweepListed, sw.Status, "not done while objects wait")

	ds, err := s.Claim(ctx, 100, time.Hour)
	require.NoError(t, err)
	require.Len(t, ds, 15)
	for i, d := range ds {
		assert.Equal(t, id, d.SweepID)
		outcome := protect.OutcomeUploaded
		if i%5 == 0 {
			outcome = protect.OutcomeKnown
		}
		require.NoError(t, s.Finish(ctx, d.ID, outcome, "", ""))
	}
	require.NoError(t, s.FinishSweeps(ctx))
	read, err := s.ReadFor(ctx, ds[3].UploadID)
	require.NoError(t, err)
	require.Len(t, read, 1, "the object an upload was read from")
	assert.Equal(t, ds[3].Object, read[0].Object)
	assert.Equal(t, "acme", read[0].Tenant)
	read, err = s.ReadFor(ctx, "0b6f5c39-5b0e-4c39-9d43-0d7e7f7f0099")
	require.NoError(t, err)
	assert.Empty(t, read, "an upload that came through the api")
	sw, _ = s.GetSweep(ctx, "acme", id)
	assert.Equal(t, protect.SweepDone, sw.Status)
	assert.NotNil(t, sw.FinishedAt)
	assert.Equal(t, int64(0), sw.Pending)
	assert.Equal(t, map[string]int64{protect.OutcomeUploaded: 12, protect.OutcomeKnown: 3}, sw.Outcomes)
	assert.Equal(t, int64(15), sw.Reads)

	list, err := s.ListSweeps(ctx, "acme", 10)
	require.NoError(t, err)
	require.Len(t, list, 1)
	list, err = s.ListSweeps(ctx, "beta", 10)
	require.NoError(t, err)
	assert.Empty(t, list)
}

// A sweep adopts the versions storage events queued before it listed them,
// so that it accounts for every object it matched, read or not; a version
// another sweep queued stays that sweep's.
func TestSweepAdoptsWhatEventsQueued(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	require.Equal(t, 2, queue(t, s, "acme", obj("in/a", "v1"), obj("in/b", "v1")))
	ds, err := s.Claim(ctx, 1, time.Hour)
	require.NoError(t, err)
	require.Len(t, ds, 1)
	require.NoError(t, s.Finish(ctx, ds[0].ID, protect.OutcomeUploaded, "", ""))

	sweep := func(id string) protect.Sweep {
		t.Helper()
		_, err := s.CreateSweep(ctx, "acme", "key1", protect.SweepRequest{Bucket: "inbox", Prefix: "in/"}, id)
		require.NoError(t, err)
		c, err := s.ClaimSweep(ctx, time.Hour)
		require.NoError(t, err)
		require.NotNil(t, c)
		require.NoError(t, s.SavePage(ctx, id, 3, []protect.Object{obj("in/a", "v1"), obj("in/b", "v1"), obj("in/c", "v1")}, "", true, time.Hour))
		sw, err := s.GetSweep(ctx, "acme", id)
		require.NoError(t, err)
		return sw
	}
	first := sweep("0b6f5c39-5b0e-4c39-9d43-0d7e7f7f0011")
	assert.Equal(t, int64(3), first.Queued, "the sweep counts the two objects events queued and the one it queued")
	assert.Equal(t, int64(2), first.Pending)
	assert.Equal(t, map[string]int64{protect.OutcomeUploaded: 1}, first.Outcomes)
	assert.Equal(t, int64(1), first.Reads, "the read the event's discovery made")

	second := sweep("0b6f5c39-5b0e-4c39-9d43-0d7e7f7f0012")
	assert.Equal(t, int64(0), second.Queued, "what the first sweep holds is not counted again")
	queue(t, s, "beta", obj("in/a", "v1"))
	first, err = s.GetSweep(ctx, "acme", first.ID)
	require.NoError(t, err)
	assert.Equal(t, int64(3), first.Queued, "another tenant's event is its own")
}
