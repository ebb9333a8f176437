package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/intellidox/intellidox/internal/files"
	"github.com/intellidox/intellidox/internal/protect"
)

// Protected buckets (protect.Source): objects written there without the
// api are listed, read once to learn their hash, and copied server-side into
// the upload bucket for the extractor and the scanners, which read only the
// upload bucket, through the sidecar. Every read and copy is conditional on
// the ETag that was listed or announced, so an object replaced meanwhile is
// never judged by bytes of another version. Needs s3:ListBucket and
// s3:GetObject on the protected buckets (docs/storage-events.md).

// MaxCopyObject is the largest object one CopyObject copies (S3's limit);
// larger objects are copied in parts of CopyPartSize.
var (
	MaxCopyObject int64 = 5 << 30
	CopyPartSize  int64 = 1 << 30
)

// List implements protect.Source.
func (s *Store) List(ctx context.Context, bucket, prefix, token string, max int) ([]protect.Object, string, error) {
	in := &s3.ListObjectsV2Input{Bucket: aws.String(bucket), MaxKeys: aws.Int32(int32(max))}
	if prefix != "" {
		in.Prefix = aws.String(prefix)
	}
	if token != "" {
		in.ContinuationToken = aws.String(token)
	}
	out, err := s.client.ListObjectsV2(ctx, in)
	if err != nil {
		if noBucket(err) {
			return nil, "", protect.ErrGone
		}
		return nil, "", fmt.Errorf("list %s/%s: %w", bucket, prefix, err)
	}
	objs := make([]protect.Object, 0, len(out.Contents))
	for _, o := range out.Contents {
		objs = append(objs, protect.Object{Bucket: bucket, Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size),
			ETag: protect.CleanETag(aws.ToString(o.ETag))})
	}
	next := ""
	if aws.ToBool(out.IsTruncated) {
		next = aws.ToString(out.NextContinuationToken)
	}
	return objs, next, nil
}

// Open implements protect.Source.
func (s *Store) Open(ctx context.Context, bucket, key, etag string) (io.ReadCloser, error) {
	in := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	if etag != "" {
		in.IfMatch = aws.String(`"` + etag + `"`)
	}
	out, err := s.client.GetObject(ctx, in)
	if err != nil {
		return nil, sourceErr("get", bucket, key, err)
	}
	return out.Body, nil
}

// Head implements protect.Source.
func (s *Store) Head(ctx context.Context, bucket, key string) (protect.Object, error) {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return protect.Object{}, sourceErr("head", bucket, key, err)
	}
	return protect.Object{Bucket: bucket, Key: key, Size: aws.ToInt64(out.ContentLength),
		ETag: protect.CleanETag(aws.ToString(out.ETag))}, nil
}

// CopyIn implements protect.Source: one CopyObject up to MaxCopyObject,
// a multipart copy beyond. The copy is conditional on the ETag, and the
// source is looked at again once copied, for servers that ignore the
// condition (moto does): a copy of another version is deleted and
// reported as ErrChanged. (The extractor's hash check would reject it
// anyway, but as a bad upload instead of a new version to scan.)
func (s *Store) CopyIn(ctx context.Context, o protect.Object, key string) error {
	if err := s.copyIn(ctx, o, key); err != nil {
		return err
	}
	cur, err := s.Head(ctx, o.Bucket, o.Key)
	if err == nil && cur.ETag != o.ETag {
		err = protect.ErrChanged
	}
	if err != nil {
		_ = s.Delete(context.WithoutCancel(ctx), key)
	}
	return err
}

func (s *Store) copyIn(ctx context.Context, o protect.Object, key string) error {
	source := o.Bucket + "/" + escapeKey(o.Key)
	match := aws.String(`"` + o.ETag + `"`)
	if o.Size <= MaxCopyObject {
		_, err := s.client.CopyObject(ctx, &s3.CopyObjectInput{
			Bucket: aws.String(s.bucket), Key: aws.String(key),
			CopySource: aws.String(source), CopySourceIfMatch: match,
		})
		return sourceErr("copy", o.Bucket, o.Key, err)
	}
	up, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		return fmt.Errorf("copy %s/%s: start: %w", o.Bucket, o.Key, err)
	}
	abort := func() {
		_, _ = s.client.AbortMultipartUpload(context.WithoutCancel(ctx), &s3.AbortMultipartUploadInput{
			Bucket: aws.String(s.bucket), Key: aws.String(key), UploadId: up.UploadId})
	}
	var parts []types.CompletedPart
	for n, off := int32(1), int64(0); off < o.Size; n, off = n+1, off+CopyPartSize {
		end := min(off+CopyPartSize, o.Size) - 1
		out, err := s.client.UploadPartCopy(ctx, &s3.UploadPartCopyInput{
			Bucket: aws.String(s.bucket), Key: aws.String(key), UploadId: up.UploadId, PartNumber: aws.Int32(n),
			CopySource: aws.String(source), CopySourceIfMatch: match,
			CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", off, end)),
		})
		if err != nil {
			abort()
			return sourceErr("copy part", o.Bucket, o.Key, err)
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(n), ETag: out.CopyPartResult.ETag})
	}
	_, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String(s.bucket), Key: aws.String(key), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	if err != nil {
		abort()
		return fmt.Errorf("copy %s/%s: complete: %w", o.Bucket, o.Key, err)
	}
	return nil
}

// escapeKey escapes a key for CopySource, keeping its slashes. + is
// escaped too: servers decode the source as a query value would be.
func escapeKey(key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
	}
	return strings.Join(segs, "/")
}

// sourceErr maps a failed conditional read or copy to protect's errors.
func sourceErr(op, bucket, key string, err error) error {
	var re interface{ HTTPStatusCode() int }
	switch {
	case err == nil:
		return nil
	case notFound(err):
		return protect.ErrGone
	case errors.As(err, &re) && re.HTTPStatusCode() == http.StatusPreconditionFailed:
		return protect.ErrChanged
	}
	return fmt.Errorf("%s %s/%s: %w", op, bucket, key, err)
}

func noBucket(err error) bool {
	var nb *types.NoSuchBucket
	var re interface{ HTTPStatusCode() int }
	return errors.As(err, &nb) || (errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound)
}

// TagSource implements files.Storage: the verdict tags on the object a
// protected upload was read from, merged with its own tags (S3 replaces the
// whole set), and only if it is still the version that was judged: a newer
// version is queued and tagged on its own. Needs s3:GetObjectTagging and
// s3:PutObjectTagging on the protected bucket.
func (s *Store) TagSource(ctx context.Context, o files.SourceObject, tags map[string]string) error {
	cur, err := s.Head(ctx, o.Bucket, o.Key)
	if errors.Is(err, protect.ErrGone) || err == nil && cur.ETag != o.ETag {
		return nil
	}
	if err != nil {
		return err
	}
	old, err := s.client.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String(o.Bucket), Key: aws.String(o.Key)})
	if err != nil {
		return sourceErr("get tags of", o.Bucket, o.Key, err)
	}
	set := make([]types.Tag, 0, len(old.TagSet)+len(tags))
	for _, t := range old.TagSet {
		if _, ours := tags[aws.ToString(t.Key)]; !ours {
			set = append(set, t)
		}
	}
	for k, v := range tags {
		set = append(set, types.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	_, err = s.client.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{
		Bucket: aws.String(o.Bucket), Key: aws.String(o.Key), Tagging: &types.Tagging{TagSet: set}})
	if errors.Is(sourceErr("", "", "", err), protect.ErrGone) {
		return nil
	}
	return sourceErr("tag", o.Bucket, o.Key, err)
}
