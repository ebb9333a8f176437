package sidecar

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/mux"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRegister(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var got Event
	r := mux.NewRouter()
	Register(r, log,
		Subscription{Topic: "t.ok", Route: "/ok", Handler: func(_ context.Context, ev Event) Status { got = ev; return Success }},
		Subscription{Topic: "t.retry", Route: "/retry", Handler: func(context.Context, Event) Status { return Retry }},
		Subscription{Topic: "t.panic", Route: "/panic", Handler: func(context.Context, Event) Status { panic("boom") }},
		Subscription{PubSub: "live", Topic: "t.live", Route: "/live", NoDeadLetter: true,
			Handler: func(context.Context, Event) Status { return Success }},
	)

	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/dapr/subscribe", nil))
	var subs []map[string]string
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &subs))
	require.Len(t, subs, 4)
	assert.Equal(t, map[string]string{"pubsubname": "events", "topic": "t.ok", "route": "/ok", "deadLetterTopic": "deadletter"}, subs[0])
	assert.Equal(t, map[string]string{"pubsubname": "live", "topic": "t.live", "route": "/live"}, subs[3])

	post := func(route, body string) Status {
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, route, strings.NewReader(body)))
		require.Equal(t, http.StatusOK, rec.Code)
		var reply map[string]Status
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &reply))
		return reply["status"]
	}
	assert.Equal(t, Success, post("/ok", `{"id":"1","data":{"version":1,"x":2}}`))
	assert.Equal(t, "t.ok", got.Topic)
	assert.JSONEq(t, `{"version":1,"x":2}`, string(got.Data))
	assert.Equal(t, Success, post("/ok", `{"id":"2","data_base64":"eyJ2ZXJzaW9uIjoxfQ=="}`))
	assert.JSONEq(t, `{"version":1}`, string(got.Data))
	assert.Equal(t, Retry, post("/retry", `{"id":"3","data":{}}`))
	assert.Equal(t, Drop, post("/ok", `not json`), "an undecodable event is poison")
	assert.Equal(t, Drop, post("/panic", `{"id":"4","data":{}}`), "a panicking handler dead-letters the message")
}

func TestDecode(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var v struct {
		Version int    `json:"version"`
		Name    string `json:"name"`
	}
	assert.True(t, Decode(log, Event{Data: []byte(`{"version":1,"name":"a"}`)}, &v))
	assert.Equal(t, "a", v.Name)
	assert.False(t, Decode(log, Event{Data: []byte(`{"version":2}`)}, &v), "unknown schema version")
	assert.False(t, Decode(log, Event{Data: []byte(`{"version":1,"name":3}`)}, &v), "wrong field type")
	assert.False(t, Decode(log, Event{Data: []byte(`[`)}, &v))
}
