package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/internal/cli"
	"github.com/intellidox/intellidox/internal/client"
	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/testenv"
)

// protectedStack starts a stack whose tenant ("default", of a database of
// the test's own) protects bucket "protected" under in/, except *.skip.
// Claims last 3 s, so that work a killed api held is taken over quickly,
// and sweeps list pages of 100 objects. The bucket starts and ends empty:
// on the k8s profile it is the cluster's, shared by the tests.
func protectedStack(t *testing.T, opts testenv.StackOptions) (*testenv.Stack, *s3.Client) {
	t.Helper()
	rules := fmt.Sprintf(`[{"bucket":"protected","prefix":"in/","exclude":["*.skip"],"tenant":%q}]`, "default")
	opts.Env = map[string]string{"PROTECTED_BUCKETS": rules, "DISCOVERY_LEASE": "3s", "SWEEP_PAGE_SIZE": "100"}
	if opts.DatabaseURL == "" {
		opts.DatabaseURL = testenv.FreshDatabase(t)
	}
	stack := testenv.StartStack(t, opts)
	s3c := testenv.S3Client(t, stack.S3)
	ctx := context.Background()
	_, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("protected")})
	if err != nil {
		_, herr := s3c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("protected")})
		require.NoError(t, herr, "create bucket protected: %v", err)
	}
	emptyProtected(ctx, t, s3c)
	// Emptied again while this api still runs: a storage event it leaves
	// unread then names an object that is gone for the next test's.
	t.Cleanup(func() { emptyProtected(ctx, t, s3c) })
	return stack, s3c
}

// whitespace returns n random characters of " \t\r\n".
func whitespace(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = " \t\r\n"[b[i]%4]
	}
	return string(b)
}

// waitEngineCalls waits until the stack's engines have run want scans, as
// long as they keep scanning: it fails once the count has stood still for
// three minutes (longer than the reconciler takes to redrive a stuck scan,
// RECONCILE_STUCK_AFTER, 2 minutes), not at a fixed time. On a loaded
// machine (CI tests every package at once) 700 contents took longer than
// five minutes while the scanners worked through them.
func waitEngineCalls(ctx context.Context, t *testing.T, stack *testenv.Stack, want int) {
	t.Helper()
	last, moved := -1, time.Now()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		got := engineCalls(t, stack)
		if got >= want {
			return
		}
		if got != last {
			last, moved = got, time.Now()
		}
		if time.Since(moved) > 3*time.Minute {
			t.Fatalf("the engines ran %d of the %d scans expected, and none for three minutes", got, want)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the engines ran %d of the %d scans expected when the test's time ran out", got, want)
		case <-tick.C:
		}
	}
}

func emptyProtected(ctx context.Context, t *testing.T, s3c *s3.Client) {
	t.Helper()
	pages := s3.NewListObjectsV2Paginator(s3c, &s3.ListObjectsV2Input{Bucket: aws.String("protected")})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		require.NoError(t, err)
		for _, o := range page.Contents {
			_, err := s3c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("protected"), Key: o.Key})
			require.NoError(t, err)
		}
	}
}

// TestSweep: a sweep of a prefix of 1,000 objects (mixed, with duplicate
// contents, EICAR among them, and objects its globs leave out) scans each
// content once; the api is killed (SIGKILL) halfway and the sweep resumes
// without reading again what was done, and without scanning again what was
// judged. Every object the rules select ends as an upload of the tenant.
func TestSweep(t *testing.T) {
	stack, s3c := protectedStack(t, testenv.StackOptions{})
	c := stack.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	// 1,000 objects under in/: 700 distinct contents, 250 objects that
	// repeat one of them, 50 *.skip; and 20 under out/, outside the rule.
	// On the aws profile a fifth of that: moto, one Python process behind
	// S3, SNS, SQS and DynamoDB alike, judged about one file a second
	// once 500 were queued (1,000 objects: 9.5 minutes to sweep, over 15
	// to judge), while the sweep's own logic is the same on both.
	// E2E_SWEEP_OBJECTS sets another count (the same shares), e.g. 1000
	// on aws to run the full sweep there by hand.
	// On the k8s profile a fifth too, so that make k8s-test keeps to its
	// ten minutes warm: the cluster's sweep, resume and once-per-content
	// logic is the same code, and its storage events for the same objects
	// are adopted by the sweep (pgstore.insertDiscoveries).
	total := 1000
	if p := testenv.Profile(); p == "aws" || p == "k8s" {
		total = 200
	}
	if n, err := strconv.Atoi(os.Getenv("E2E_SWEEP_OBJECTS")); err == nil && n >= 20 {
		total = n
	}
	distinct, skipped := total*7/10, total/20
	contents := make([][]byte, distinct)
	for i := range contents {
		contents[i] = make([]byte, 512+i)
		_, _ = rand.Read(contents[i])
	}
	// EICAR with a tail of white space of this run's own, as the standard
	// allows: clamav and yara find it, and no engine answers it from an
	// earlier test's results (the k8s profile's scanners share a cache).
	contents[0] = []byte(EICAR + whitespace(40))
	var objects []s3Object
	for i := range total {
		key := fmt.Sprintf("in/%02d/obj-%04d.bin", i%10, i)
		if i >= total-skipped {
			key = fmt.Sprintf("in/parts/obj-%04d.skip", i)
		}
		objects = append(objects, s3Object{key, contents[i%distinct]})
	}
	for i := range 20 {
		objects = append(objects, s3Object{fmt.Sprintf("out/obj-%02d.bin", i), contents[i]})
	}
	// Counted before the objects exist: where storage events flow (the
	// k8s profile's versitygw sends them for every bucket), their scans
	// start as soon as the objects are written.
	before := engineCalls(t, stack)
	putAll(ctx, t, s3c, objects)
	// A tag of the bucket's owner, which the verdict tags must keep.
	_, err := s3c.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: aws.String("protected"), Key: aws.String(objects[0].key),
		Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String("owner"), Value: aws.String("team-a")}}}})
	require.NoError(t, err)
	// What the rules select: every in/ object but *.skip, whose contents
	// are those of the first 950 objects (the .skip ones repeat others).
	selected := total - skipped
	uniq := map[string]bool{}
	for _, o := range objects[:selected] {
		uniq[string(o.body)] = true
	}

	// Refusals first: bad globs, a bucket the tenant does not protect, a
	// user who is not an administrator, a sweep of another tenant.
	_, err = c.StartSweep(ctx, client.SweepRequest{Bucket: "protected", Include: []string{"[x"}})
	assertProblem(t, err, 400, "invalid_pattern")
	_, err = c.StartSweep(ctx, client.SweepRequest{Bucket: "elsewhere"})
	assertProblem(t, err, 403, "bucket_not_protected")
	user := client.New(stack.API)
	user.APIKey = stack.Key(t, stack.Tenant)
	_, err = user.StartSweep(ctx, client.SweepRequest{Bucket: "protected"})
	assertProblem(t, err, 403, "forbidden")
	_, err = user.Sweeps(ctx)
	assertProblem(t, err, 403, "forbidden")

	sw, err := c.StartSweep(ctx, client.SweepRequest{Bucket: "s3://protected", Prefix: "in/"})
	require.NoError(t, err)
	assert.Equal(t, "protected", sw.Bucket)
	other := client.New(stack.API)
	other.APIKey = stack.AdminKey(t, "other-tenant")
	_, err = other.Sweep(ctx, sw.ID)
	assertProblem(t, err, 404, "not_found")
	list, err := other.Sweeps(ctx)
	require.NoError(t, err)
	assert.Empty(t, list, "another tenant sees no sweep of this one")
	_, err = other.StartSweep(ctx, client.SweepRequest{Bucket: "protected"})
	assertProblem(t, err, 403, "bucket_not_protected")
	_, err = user.Sweep(ctx, sw.ID)
	assertProblem(t, err, 403, "forbidden")
	for key, want := range map[string]struct {
		status int
		code   string
	}{user.APIKey: {403, "forbidden"}, other.APIKey: {404, "not_found"}} {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, stack.API+"/v1/admin/sweeps/"+sw.ID+"/events", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+key)
		status, code, _ := send(t, req)
		assert.Equal(t, want.status, status, "sweep events")
		assert.Equal(t, want.code, code, "sweep events")
	}

	// Halfway, the api dies without warning, with objects claimed.
	waitSweep(ctx, t, c, sw.ID, func(s client.Sweep) bool { return done(s) >= int64(total)*3/10 })
	stack.KillApp(t, "api")

	sw = waitSweep(ctx, t, c, sw.ID, func(s client.Sweep) bool { return s.Status == "done" || s.Status == "failed" })
	t.Logf("sweep: %+v", sw)
	require.Equal(t, "done", sw.Status, sw.Error)
	assert.Equal(t, int64(total), sw.Listed, "every page counted once, resumed after the kill")
	assert.Equal(t, int64(selected), sw.Matched)
	assert.Equal(t, int64(selected), sw.Queued)
	assert.Equal(t, int64(0), sw.Pending)
	assert.Equal(t, int64(selected), sw.Outcomes["uploaded"]+sw.Outcomes["known"], "outcomes %v", sw.Outcomes)
	// Objects are read once, but those the killed api held when it died:
	// at most its workers' claims (DISCOVERY_WORKERS, 4).
	assert.GreaterOrEqual(t, sw.Reads, int64(selected))
	assert.LessOrEqual(t, sw.Reads, int64(selected+4), "objects done before the kill were read again")

	// Each content is scanned once, by each engine.
	engines := 0
	for _, a := range stack.Apps(t) {
		if a.Metered {
			engines++
		}
	}
	want := before + len(uniq)*engines
	waitEngineCalls(ctx, t, stack, want)
	// Settle, then count again: nothing scanned twice.
	waitAllDone(ctx, t, c, selected)
	assert.Equal(t, want, engineCalls(t, stack), "a content was scanned more than once")

	// The EICAR objects (every distinct-th) are malicious uploads of the
	// tenant.
	page, err := c.List(ctx, url.Values{"sha256": {sha(contents[0])}})
	require.NoError(t, err)
	require.Len(t, page.Items, (selected+distinct-1)/distinct, "in/00/obj-0000.bin, and its repeats")
	for _, f := range page.Items {
		assert.Equal(t, contract.VerdictMalicious, f.Verdict, f.Name)
	}
	// The objects in the protected bucket carry the verdict, as tags, next
	// to their own.
	require.Eventually(t, func() bool {
		out, err := s3c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String("protected"), Key: aws.String(objects[0].key)})
		if err != nil {
			return false
		}
		tags := map[string]string{}
		for _, tag := range out.TagSet {
			tags[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
		}
		return tags["intellidox-verdict"] == "malicious" && tags["owner"] == "team-a"
	}, time.Minute, 200*time.Millisecond, "the EICAR object is tagged malicious, its owner's tag kept")

	t.Run("sweeping again with the CLI reads nothing", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		code := cli.Run(ctx, []string{"sweep", "--api", stack.API, "--key", stack.APIKey, "--json", "s3://protected/in/"},
			&stdout, &stderr, false)
		require.Equal(t, cli.ExitOK, code, "stderr: %s", stderr.String())
		assert.Contains(t, stderr.String(), "started")
		var again client.Sweep
		require.NoError(t, json.Unmarshal(stdout.Bytes(), &again), stdout.String())
		assert.Equal(t, "done", again.Status, "the CLI follows the sweep to its end")
		assert.Equal(t, int64(selected), again.Matched)
		assert.Equal(t, int64(0), again.Queued, "every version was queued before")
		assert.Equal(t, int64(0), again.Reads)

		stderr.Reset()
		code = cli.Run(ctx, []string{"sweep", "--api", stack.API, "--key", stack.APIKey, "protected/in/"}, &stdout, &stderr, false)
		assert.Equal(t, cli.ExitUsage, code)
		assert.Contains(t, stderr.String(), "want s3://bucket/prefix")
	})
	t.Run("progress as server-sent events", func(t *testing.T) {
		events := sweepEvents(ctx, t, stack, sw.ID)
		require.NotEmpty(t, events)
		assert.Equal(t, "done", events[len(events)-1].Status, "the stream ends with the sweep done")
	})
}

func done(s client.Sweep) int64 {
	var n int64
	for _, v := range s.Outcomes {
		n += v
	}
	return n
}

func waitSweep(ctx context.Context, t *testing.T, c *client.Client, id string, ok func(client.Sweep) bool) client.Sweep {
	t.Helper()
	for {
		sw, err := c.Sweep(ctx, id)
		if err == nil && ok(sw) {
			return sw
		}
		select {
		case <-ctx.Done():
			t.Fatalf("sweep %s: %v (last: %+v, %v)", id, ctx.Err(), sw, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// waitAllDone waits until the tenant has n files, none still processing.
func waitAllDone(ctx context.Context, t *testing.T, c *client.Client, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		count, cursor := 0, ""
		for {
			q := url.Values{"limit": {"100"}}
			if cursor != "" {
				q.Set("cursor", cursor)
			}
			page, err := c.List(ctx, q)
			if err != nil {
				return false
			}
			for _, f := range page.Items {
				if f.Status != "done" {
					return false
				}
				count++
			}
			if page.NextCursor == nil {
				return count == n
			}
			cursor = *page.NextCursor
		}
	}, 5*time.Minute, time.Second, "%d files, all done", n)
}

// s3Object is an object to write straight into a bucket.
type s3Object struct {
	key  string
	body []byte
}

// putAll writes objects into bucket protected, eight at a time, with the
// AWS SDK and nothing of IntelliDox.
func putAll(ctx context.Context, t *testing.T, s3c *s3.Client, objects []s3Object) {
	t.Helper()
	work := make(chan s3Object)
	errs := make(chan error, len(objects))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for o := range work {
				_, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("protected"), Key: aws.String(o.key),
					Body: bytes.NewReader(o.body)})
				if err != nil {
					errs <- fmt.Errorf("put %s: %w", o.key, err)
				}
			}
		})
	}
	for _, o := range objects {
		work <- o
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

// sweepEvents reads a sweep's event stream to its end.
func sweepEvents(ctx context.Context, t *testing.T, stack *testenv.Stack, id string) []client.Sweep {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, stack.API+"/v1/admin/sweeps/"+id+"/events", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+stack.APIKey)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	var out []client.Sweep
	sc := bufio.NewScanner(resp.Body)
	event := ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			require.Equal(t, "progress", event)
			var sw client.Sweep
			require.NoError(t, json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &sw))
			out = append(out, sw)
		}
	}
	require.NoError(t, sc.Err())
	return out
}

// TestStorageEvents: objects written straight into the protected bucket
// with the AWS SDK are scanned without any call to the api, through each
// profile's storage events (versitygw → NATS JetStream locally, S3 → SNS →
// SQS on aws): EICAR ends malicious, a clean object clean, and objects
// outside the rules (another prefix, a glob's exclusion) are not taken.
func TestStorageEvents(t *testing.T) {
	stack, s3c := protectedStack(t, testenv.StackOptions{StorageEvents: true})
	c := stack.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	clean := make([]byte, 4096)
	_, _ = rand.Read(clean)
	putAll(ctx, t, s3c, []s3Object{
		{"out/eicar.com", []byte(EICAR)},     // outside the rule's prefix
		{"in/drop/part.skip", []byte(EICAR)}, // excluded by its glob
		{"in/drop/eicar.com", []byte(EICAR)}, // protected
		{"in/drop/report 1+1.pdf", clean},    // protected; S3 form-encodes this key in its events
	})
	want := map[string]contract.Verdict{"eicar.com": contract.VerdictMalicious, "report 1+1.pdf": contract.VerdictClean}
	var got map[string]client.File
	require.Eventually(t, func() bool {
		page, err := c.List(ctx, url.Values{"limit": {"100"}})
		if err != nil {
			return false
		}
		got = map[string]client.File{}
		for _, f := range page.Items {
			got[f.Name] = f
		}
		for name, v := range want {
			if f, ok := got[name]; !ok || f.Status != "done" || f.Verdict != v {
				return false
			}
		}
		return true
	}, 4*time.Minute, 200*time.Millisecond, "the protected objects are judged without an API call")
	assert.Len(t, got, 2, "only the objects the rules cover became uploads: %v", got)
	assert.Equal(t, sha([]byte(EICAR)), got["eicar.com"].SHA256)
}
