package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/internal/client"
	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/files"
	"github.com/intellidox/intellidox/internal/testenv"
)

type sseEvent struct {
	ID, Event, Data string
}

// sseReader reads one Server-Sent Events stream.
type sseReader struct {
	resp *http.Response
	sc   *bufio.Scanner
}

func openEvents(ctx context.Context, t *testing.T, url, key, lastEventID string) *sseReader {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	return &sseReader{resp: resp, sc: bufio.NewScanner(resp.Body)}
}

// next returns the next event, or false when the stream has ended.
func (r *sseReader) next() (sseEvent, bool) {
	var cur sseEvent
	for r.sc.Scan() {
		line := r.sc.Text()
		switch {
		case line == "" && cur.Event != "":
			return cur, true
		case strings.HasPrefix(line, "id: "):
			cur.ID = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			cur.Event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			cur.Data = strings.TrimPrefix(line, "data: ")
		}
	}
	return sseEvent{}, false
}

// rest reads every remaining event until the server ends the stream.
func (r *sseReader) rest(ctx context.Context, t *testing.T) []sseEvent {
	t.Helper()
	var out []sseEvent
	for {
		e, ok := r.next()
		if !ok {
			break
		}
		out = append(out, e)
	}
	require.NoError(t, ctx.Err(), "the stream did not end before the deadline; got %v", names(out))
	return out
}

func readEvents(ctx context.Context, t *testing.T, url, key, lastEventID string) []sseEvent {
	return openEvents(ctx, t, url, key, lastEventID).rest(ctx, t)
}

func names(evs []sseEvent) []string {
	var n []string
	for _, e := range evs {
		n = append(n, e.Event)
	}
	return n
}

func TestLiveEventsAcrossReplicas(t *testing.T) {
	// With the database resync off, a stream can only learn of results
	// through the live pub/sub.
	stack := testenv.StartStack(t, testenv.StackOptions{Env: map[string]string{"SSE_RESYNC_INTERVAL": "1h"}})
	replicaPort, _ := stack.StartReplica(t, "api")
	replica := stack.APIURL(t, replicaPort)
	c := stack.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	data := make([]byte, 64<<10)
	_, _ = rand.Read(data)
	cr, err := c.Create(ctx, client.CreateRequest{Name: "random.bin", Size: int64(len(data)), SHA256: sha(data)})
	require.NoError(t, err)
	require.NoError(t, c.Put(ctx, &cr, strings.NewReader(string(data)), int64(len(data))))

	// Watch on the replica; confirm on the first instance. The replica can
	// only learn of results through pub/sub. The first event proves the
	// replica is watching before anything happens.
	stream := openEvents(ctx, t, replica+"/v1/files/"+cr.ID+"/events", stack.APIKey, "")
	first, ok := stream.next()
	require.True(t, ok)
	assert.Equal(t, "status", first.Event)
	assert.Contains(t, first.Data, `"awaiting_upload"`)
	require.NoError(t, c.Confirm(ctx, cr.ID))

	evs := stream.rest(ctx, t)
	require.NotEmpty(t, evs)
	assert.Equal(t, "done", evs[len(evs)-1].Event)
	var last statusJSON
	require.NoError(t, json.Unmarshal([]byte(evs[len(evs)-1].Data), &last))
	assert.Equal(t, files.Done, last.Status)
	assert.Equal(t, contract.VerdictClean, last.Verdict)
	var scans []contract.Result
	for _, e := range evs {
		if e.Event == "scan" {
			var r contract.Result
			require.NoError(t, json.Unmarshal([]byte(e.Data), &r))
			scans = append(scans, r)
		}
	}
	require.NotEmpty(t, scans, "events: %v", names(evs))
	for _, r := range scans {
		assert.Equal(t, contract.Clean, r.Result, r.Engine)
	}

	t.Run("a finished file streams its state and ends", func(t *testing.T) {
		// Its state, every stored result, then done. An engine the verdict
		// does not wait for (on the cluster, the Node example) may store
		// its result after the live stream ended: the replay has it too,
		// so the count lies between the results stored before and after.
		before, err := c.Scans(ctx, cr.ID)
		require.NoError(t, err)
		got := names(readEvents(ctx, t, replica+"/v1/files/"+cr.ID+"/events", stack.APIKey, ""))
		after, err := c.Scans(ctx, cr.ID)
		require.NoError(t, err)
		require.GreaterOrEqual(t, len(got), 2, "events: %v", got)
		assert.Equal(t, "status", got[0], "events: %v", got)
		assert.Equal(t, "done", got[len(got)-1], "events: %v", got)
		middle := got[1 : len(got)-1]
		for _, name := range middle {
			assert.Equal(t, "scan", name, "events: %v", got)
		}
		assert.GreaterOrEqual(t, len(middle), max(len(scans), len(before.Engines)), "a stored result is missing: %v", got)
		assert.LessOrEqual(t, len(middle), len(after.Engines), "more results than stored: %v", got)
	})
	t.Run("resuming long after the last event sends no old results", func(t *testing.T) {
		future := fmt.Sprint(time.Now().Add(time.Hour).UnixMilli())
		evs := readEvents(ctx, t, stack.API+"/v1/files/"+cr.ID+"/events", stack.APIKey, future)
		assert.Equal(t, []string{"status", "done"}, names(evs))
	})
	t.Run("unknown file is a problem, not a stream", func(t *testing.T) {
		resp, err := http.Get(stack.API + "/v1/files/00000000-0000-4000-8000-000000000000/events?access_token=" + stack.APIKey)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusNotFound, resp.StatusCode)
		assert.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
	})
}

type statusJSON struct {
	ID      string           `json:"id"`
	Status  files.Status     `json:"status"`
	Verdict contract.Verdict `json:"verdict"`
}
