package chaos

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/intellidox/intellidox/internal/client"
	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/files"
	"github.com/intellidox/intellidox/internal/scan/samples"
)

// engines are the engines the chaos stack counts (dapr.yaml's ENGINES).
var engines = []string{"clamav", "yara", "reputation"}

// outcomes is what each engine must report for a kind of content, in the
// order of engines; "" leaves an engine unchecked.
type outcomes [3]contract.Outcome

const (
	cl = contract.Clean
	ma = contract.Malicious
	su = contract.Suspicious
)

// kind is a kind of content with its documented verdict. Unique kinds make
// new bytes for every file, so that every file is really extracted and
// scanned; shared kinds repeat the project's fixed samples, so that uploads
// of content already in flight or known join it.
type kind struct {
	name    string
	weight  int
	unique  bool
	verdict contract.Verdict
	expect  outcomes
	make    func(i int, rnd *rand.Rand) []byte
}

const suspiciousMarker = "INTELLIDOX-TEST-SUSPICIOUS-2b81d0" // clamav/db/intellidox.ndb

func text(i int, rnd *rand.Rand, n int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "IntelliDox chaos file %d, nonce %016x.\n", i, rnd.Uint64())
	words := []string{"invoice", "report", "draft", "meeting", "notes", "budget", "plan", "summary", "review"}
	for b.Len() < n {
		b.WriteString(words[rnd.IntN(len(words))])
		if rnd.IntN(12) == 0 {
			b.WriteString(".\n")
		} else {
			b.WriteByte(' ')
		}
	}
	return []byte(b.String())
}

func random(rnd *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rnd.Uint32())
	}
	return b
}

func zipOf(members map[string][]byte) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, data := range members {
		w, err := zw.Create(name)
		if err != nil {
			panic(err)
		}
		_, _ = w.Write(data)
	}
	if err := zw.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

const pdfJS = "<< /Type /Action /S /JavaScript /JS (app.alert\\('IntelliDox chaos'\\);) >>"

// kinds is the mix: about 85% of files are unique content.
var kinds = []kind{
	{"random", 22, true, contract.VerdictClean, outcomes{cl, cl, cl},
		func(_ int, rnd *rand.Rand) []byte { return random(rnd, 1<<10+rnd.IntN(64<<10)) }},
	{"random-large", 5, true, contract.VerdictClean, outcomes{cl, cl, cl},
		func(_ int, rnd *rand.Rand) []byte { return random(rnd, 1<<20+rnd.IntN(5<<20)) }},
	{"text", 13, true, contract.VerdictClean, outcomes{cl, cl, cl},
		func(i int, rnd *rand.Rand) []byte { return text(i, rnd, 200+rnd.IntN(20<<10)) }},
	{"marker", 15, true, contract.VerdictMalicious, outcomes{ma, cl, cl},
		func(i int, rnd *rand.Rand) []byte {
			return append(text(i, rnd, 100+rnd.IntN(8<<10)), []byte("\n"+samples.Marker+"\n")...)
		}},
	{"suspicious-signature", 8, true, contract.VerdictSuspicious, outcomes{su, cl, cl},
		func(i int, rnd *rand.Rand) []byte {
			return append(text(i, rnd, 100+rnd.IntN(8<<10)), []byte("\n"+suspiciousMarker+"\n")...)
		}},
	{"eicar-zip", 10, true, contract.VerdictMalicious, outcomes{ma, ma, ma},
		func(i int, rnd *rand.Rand) []byte {
			return zipOf(map[string][]byte{"eicar.com": []byte(samples.EICAR),
				fmt.Sprintf("readme-%d.txt", i): text(i, rnd, 100+rnd.IntN(4<<10))})
		}},
	{"pdf-javascript", 7, true, contract.VerdictSuspicious, outcomes{cl, su, cl},
		func(i int, rnd *rand.Rand) []byte {
			return samples.PDF(fmt.Sprintf("/OpenAction 4 0 R /IDXChaos (%d-%016x)", i, rnd.Uint64()), pdfJS)
		}},
	{"pdf-plain", 5, true, contract.VerdictClean, outcomes{cl, cl, cl},
		func(i int, rnd *rand.Rand) []byte {
			return samples.PDF(fmt.Sprintf("/OpenAction [3 0 R /Fit] /IDXChaos (%d-%016x)", i, rnd.Uint64()), "")
		}},
	// Shared samples: the same bytes for every file of the kind.
	{"eicar", 3, false, contract.VerdictMalicious, outcomes{ma, ma, ma},
		func(int, *rand.Rand) []byte { return []byte(samples.EICAR) }},
	{"eicar-zip-sample", 2, false, contract.VerdictMalicious, outcomes{ma, ma, ma}, // reputation looks up the member
		func(int, *rand.Rand) []byte { return samples.EICARZip() }},
	// clamav/db lists the sample's MD5 too, in some versions of the set.
	{"hash-listed", 2, false, contract.VerdictMalicious, outcomes{"", cl, ma},
		func(int, *rand.Rand) []byte { return []byte(samples.HashListed) }},
	{"macro-document", 2, false, contract.VerdictSuspicious, outcomes{cl, su, cl},
		func(int, *rand.Rand) []byte { return samples.MacroDocument() }},
	{"packed-pe", 2, false, contract.VerdictSuspicious, outcomes{cl, su, cl},
		func(int, *rand.Rand) []byte { return samples.PackedPE() }},
	{"plain-pe", 1, false, contract.VerdictClean, outcomes{cl, cl, cl},
		func(int, *rand.Rand) []byte { return samples.PlainPE() }},
	{"document", 1, false, contract.VerdictClean, outcomes{cl, cl, cl},
		func(int, *rand.Rand) []byte { return samples.Document() }},
	{"clean-sample", 1, false, contract.VerdictClean, outcomes{cl, cl, cl},
		func(int, *rand.Rand) []byte { return []byte(samples.Clean) }},
}

// item is one file of the workload and what happened to it.
type item struct {
	i    int
	kind *kind
	name string
	data []byte
	sha  string

	// Set by the uploader.
	id            string
	createStatus  files.Status
	confirmStatus files.Status
	confirmed     bool
	err           error
	attempts      int
}

// expectsEvent reports whether the api must publish exactly one
// file.completed for the upload: every upload that finishes gets one,
// through processing or at once (done at creation or at confirmation, its
// tenant already owning the judged content).
func (it *item) expectsEvent() bool {
	return it.createStatus == files.Processing || it.confirmStatus == files.Processing ||
		it.createStatus == files.Done || it.confirmStatus == files.Done
}

// workload builds n files from the mix, deterministic for a seed.
func workload(n int, seed uint64) []*item {
	rnd := rand.New(rand.NewPCG(seed, 0x1D0C))
	total := 0
	for _, k := range kinds {
		total += k.weight
	}
	items := make([]*item, n)
	for i := range items {
		x := rnd.IntN(total)
		k := &kinds[0]
		for j := range kinds {
			if x < kinds[j].weight {
				k = &kinds[j]
				break
			}
			x -= kinds[j].weight
		}
		data := k.make(i, rnd)
		sum := sha256.Sum256(data)
		items[i] = &item{i: i, kind: k, name: fmt.Sprintf("chaos-%03d-%s", i, k.name), data: data,
			sha: hex.EncodeToString(sum[:])}
	}
	return items
}

// uploader pushes items through the api like a patient client: each step
// is retried on transient failures (5xx, 429, connection errors) until it
// succeeds or the item's deadline passes.
type uploader struct {
	c         *client.Client
	anomalies atomic.Int64 // answers a client should never see: 5xx other than 503
	mu        sync.Mutex
	notes     []string
	statuses  map[int]int // HTTP status → count of transient failures
	confirmed []string    // ids confirmed so far, for probes while uploads run
}

func newUploader(c *client.Client) *uploader {
	return &uploader{c: c, statuses: map[int]int{}}
}

func (u *uploader) note(format string, args ...any) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.notes) < 50 {
		u.notes = append(u.notes, fmt.Sprintf(format, args...))
	}
}

// transient reports whether err is worth retrying, and counts it.
func (u *uploader) transient(err error) bool {
	var p *client.Problem
	var se *client.StorageError
	var ne net.Error
	switch {
	case errors.As(err, &p):
		u.mu.Lock()
		u.statuses[p.Status]++
		u.mu.Unlock()
		if p.Status >= 500 && p.Status != http.StatusServiceUnavailable {
			u.anomalies.Add(1)
			u.note("unexpected %d %s: %s", p.Status, p.Code, p.Detail)
		}
		return p.Status >= 500 || p.Status == http.StatusTooManyRequests
	case errors.As(err, &se):
		return se.Status >= 500
	case errors.As(err, &ne), errors.Is(err, context.DeadlineExceeded):
		return true
	}
	return strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), "EOF")
}

// retry runs step until it succeeds, fails for good, or ctx ends.
func (u *uploader) retry(ctx context.Context, it *item, step func(context.Context) error) error {
	delay := 100 * time.Millisecond
	for {
		it.attempts++
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := step(sctx)
		cancel()
		if err == nil || !u.transient(err) || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-time.After(delay):
		}
		delay = min(delay*2, 2*time.Second)
	}
}

func (u *uploader) upload(ctx context.Context, it *item) error {
	var cr client.Created
	err := u.retry(ctx, it, func(ctx context.Context) error {
		var err error
		cr, err = u.c.Create(ctx, client.CreateRequest{Name: it.name, Size: int64(len(it.data)), SHA256: it.sha})
		return err
	})
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	it.id, it.createStatus = cr.ID, cr.Status
	if cr.Upload != nil {
		if err := u.retry(ctx, it, func(ctx context.Context) error {
			return u.c.Put(ctx, &cr, bytes.NewReader(it.data), int64(len(it.data)))
		}); err != nil {
			return fmt.Errorf("put: %w", err)
		}
	}
	if err := u.retry(ctx, it, func(ctx context.Context) error {
		s, err := u.confirm(ctx, cr.ID)
		it.confirmStatus = s
		return err
	}); err != nil {
		return fmt.Errorf("confirm: %w", err)
	}
	it.confirmed = true
	u.mu.Lock()
	u.confirmed = append(u.confirmed, it.id)
	u.mu.Unlock()
	return nil
}

// confirm is client.Confirm that also returns the status the api answered.
func (u *uploader) confirm(ctx context.Context, id string) (files.Status, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.c.BaseURL+"/v1/files/"+id+"/confirm", nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+u.c.APIKey)
	resp, err := u.c.HTTP.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var body struct {
		Status files.Status `json:"status"`
		Code   string       `json:"code"`
		Detail string       `json:"detail"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != http.StatusAccepted {
		return "", &client.Problem{Body: problemBody(resp.StatusCode, body.Code, body.Detail)}
	}
	return body.Status, nil
}

// push uploads items in bursts of burst files (a client syncing a folder)
// spread evenly over d, each burst by as many concurrent clients, and
// closes the returned channel when every item is confirmed or has given up.
func (u *uploader) push(ctx context.Context, items []*item, d time.Duration, burst int) <-chan struct{} {
	done := make(chan struct{})
	start := time.Now()
	bursts := (len(items) + burst - 1) / burst
	next := make(chan *item)
	var wg sync.WaitGroup
	for range burst {
		wg.Go(func() {
			for it := range next {
				ictx, cancel := context.WithTimeout(ctx, 3*time.Minute)
				it.err = u.upload(ictx, it)
				cancel()
				if it.err != nil {
					u.note("%s: %v", it.name, it.err)
				}
			}
		})
	}
	go func() {
		defer close(done)
		defer wg.Wait()
		defer close(next)
		for i, it := range items {
			at := start.Add(time.Duration(i/burst) * d / time.Duration(bursts))
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Until(at)):
			}
			select {
			case next <- it:
			case <-ctx.Done():
				return
			}
		}
	}()
	return done
}
