package objstore_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/internal/files"
	"github.com/intellidox/intellidox/internal/objstore"
	"github.com/intellidox/intellidox/internal/protect"
	"github.com/intellidox/intellidox/internal/testenv"
)

// TestProtectedSource runs protect.Source against a real versitygw and
// moto's S3: the listing pages, and reads and copies that refuse an object
// replaced since it was listed.
func TestProtectedSource(t *testing.T) {
	t.Run("versitygw", func(t *testing.T) { testSource(t, testenv.StartS3(t)) })
	t.Run("moto", func(t *testing.T) { testSource(t, testenv.StartAWSEmulator(t).S3()) })
}

func testSource(t *testing.T, srv testenv.S3) {
	ctx := context.Background()
	uploads, err := objstore.New(ctx, srv.Config())
	require.NoError(t, err)
	require.NoError(t, uploads.EnsureBucket(ctx, nil))
	cfg := srv.Config()
	cfg.Bucket = "protected"
	prot, err := objstore.New(ctx, cfg)
	require.NoError(t, err)
	require.NoError(t, prot.EnsureBucket(ctx, nil))
	client := testenv.S3Client(t, srv)
	put := func(key, body string) {
		_, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("protected"), Key: aws.String(key),
			Body: bytes.NewReader([]byte(body))})
		require.NoError(t, err)
	}
	for i := range 7 {
		put(fmt.Sprintf("in/%02d", i), fmt.Sprintf("object %d", i))
	}
	put("out/x", "elsewhere")
	put("in/a b+c%.txt", "a key to escape")

	var all []protect.Object
	token, pages := "", 0
	for {
		objs, next, err := uploads.List(ctx, "protected", "in/", token, 3)
		require.NoError(t, err)
		all, pages = append(all, objs...), pages+1
		if next == "" {
			break
		}
		token = next
	}
	assert.Equal(t, 3, pages)
	require.Len(t, all, 8)
	for _, o := range all {
		assert.Equal(t, "protected", o.Bucket)
		assert.NotEmpty(t, o.ETag)
		assert.NotContains(t, o.ETag, `"`)
	}
	_, _, err = uploads.List(ctx, "no-such-bucket", "", "", 10)
	assert.ErrorIs(t, err, protect.ErrGone)

	o := all[0] // in/00
	require.Equal(t, "in/00", o.Key)
	head, err := uploads.Head(ctx, "protected", o.Key)
	require.NoError(t, err)
	assert.Equal(t, o, head)

	rc, err := uploads.Open(ctx, "protected", o.Key, o.ETag)
	require.NoError(t, err)
	b, _ := io.ReadAll(rc)
	rc.Close()
	assert.Equal(t, "object 0", string(b))

	require.NoError(t, uploads.CopyIn(ctx, o, "blobs/copied"))
	got, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(srv.Bucket), Key: aws.String("blobs/copied")})
	require.NoError(t, err)
	b, _ = io.ReadAll(got.Body)
	got.Body.Close()
	assert.Equal(t, "object 0", string(b))

	special := all[0]
	for _, x := range all {
		if x.Key == "in/a b+c%.txt" {
			special = x
		}
	}
	require.NoError(t, uploads.CopyIn(ctx, special, "blobs/special"), "keys are escaped in the copy source")

	// Replaced since it was listed: neither read nor copied.
	put(o.Key, "object 0, version 2")
	_, err = uploads.Open(ctx, "protected", o.Key, o.ETag)
	assert.ErrorIs(t, err, protect.ErrChanged)
	assert.ErrorIs(t, uploads.CopyIn(ctx, o, "blobs/stale"), protect.ErrChanged)
	_, err = uploads.Open(ctx, "protected", "in/missing", "")
	assert.ErrorIs(t, err, protect.ErrGone)
	_, err = uploads.Head(ctx, "protected", "in/missing")
	assert.ErrorIs(t, err, protect.ErrGone)

	t.Run("verdict tags on the source keep its own tags", func(t *testing.T) {
		cur, err := uploads.Head(ctx, "protected", "in/01")
		require.NoError(t, err)
		_, err = client.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: aws.String("protected"), Key: aws.String("in/01"),
			Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String("owner"), Value: aws.String("team-a")},
				{Key: aws.String("intellidox-verdict"), Value: aws.String("pending")}}}})
		require.NoError(t, err)
		src := files.SourceObject{Bucket: "protected", Key: "in/01", ETag: cur.ETag}
		require.NoError(t, uploads.TagSource(ctx, src, map[string]string{"intellidox-verdict": "clean", "intellidox-scanned-at": "now"}))
		assert.Equal(t, map[string]string{"owner": "team-a", "intellidox-verdict": "clean", "intellidox-scanned-at": "now"},
			tagsOf(ctx, t, client, "protected", "in/01"))

		put("in/01", "object 1, version 2")
		require.NoError(t, uploads.TagSource(ctx, src, map[string]string{"intellidox-verdict": "malicious"}),
			"a replaced object is not tagged, and that is no error")
		assert.NotEqual(t, "malicious", tagsOf(ctx, t, client, "protected", "in/01")["intellidox-verdict"])
		require.NoError(t, uploads.TagSource(ctx, files.SourceObject{Bucket: "protected", Key: "in/gone", ETag: "x"},
			map[string]string{"intellidox-verdict": "clean"}), "nor is a deleted one")
	})

	t.Run("in parts beyond MaxCopyObject", func(t *testing.T) {
		big := bytes.Repeat([]byte("0123456789abcdef"), (11<<20)/16+3) // 11 MiB + 48 bytes: 3 parts of 5 MiB
		_, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("protected"), Key: aws.String("in/big"),
			Body: bytes.NewReader(big)})
		require.NoError(t, err)
		h, err := uploads.Head(ctx, "protected", "in/big")
		require.NoError(t, err)
		maxCopy, part := objstore.MaxCopyObject, objstore.CopyPartSize
		objstore.MaxCopyObject, objstore.CopyPartSize = 5<<20, 5<<20
		t.Cleanup(func() { objstore.MaxCopyObject, objstore.CopyPartSize = maxCopy, part })

		require.NoError(t, uploads.CopyIn(ctx, h, "blobs/big"))
		got, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(srv.Bucket), Key: aws.String("blobs/big")})
		require.NoError(t, err)
		b, _ := io.ReadAll(got.Body)
		got.Body.Close()
		assert.True(t, bytes.Equal(big, b), "the copy in parts is the object")

		_, err = client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("protected"), Key: aws.String("in/big"),
			Body: bytes.NewReader(big[:len(big)-1])})
		require.NoError(t, err)
		assert.ErrorIs(t, uploads.CopyIn(ctx, h, "blobs/big2"), protect.ErrChanged)
	})
}

func tagsOf(ctx context.Context, t *testing.T, c *s3.Client, bucket, key string) map[string]string {
	t.Helper()
	out, err := c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	require.NoError(t, err)
	m := map[string]string{}
	for _, tag := range out.TagSet {
		m[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
	}
	return m
}
