// Package objstore issues presigned uploads with aws-sdk-go-v2. It is the one
// place IntelliDox talks to object storage without Dapr: the blobstore
// binding presigns GET URLs only, and uploads must be bound to their bytes.
// Custom endpoints and path-style addressing make the same code work against
// S3 and any S3-compatible server.
package objstore

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/intellidox/intellidox/internal/files"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Config locates the bucket.
type Config struct {
	Bucket    string
	Region    string
	Endpoint  string // empty for AWS itself
	PathStyle bool
	// AccessKey and SecretKey are optional: when empty the default AWS
	// credential chain applies (environment, IRSA, instance role).
	AccessKey string
	SecretKey string
}

// Store presigns uploads into one bucket.
type Store struct {
	bucket  string
	client  *s3.Client
	presign *s3.PresignClient
}

// New builds a Store. It makes no network calls.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Bucket == "" {
		return nil, fmt.Errorf("objstore: bucket is required")
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	awsCfg, err := loadAWSConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
	})
	return &Store{bucket: cfg.Bucket, client: client, presign: s3.NewPresignClient(client)}, nil
}

// PresignPut returns a PUT for key that storage accepts only with exactly
// size bytes whose SHA-256 is sha256Hex.
func (s *Store) PresignPut(ctx context.Context, key string, size int64, sha256Hex string, ttl time.Duration) (files.Upload, error) {
	sum, err := hex.DecodeString(sha256Hex)
	if err != nil || len(sum) != 32 {
		return files.Upload{}, fmt.Errorf("presign %s: bad sha256 %q", key, sha256Hex)
	}
	checksum := base64.StdEncoding.EncodeToString(sum)
	req, err := s.presign.PresignPutObject(ctx, &s3.PutObjectInput{
		Bucket:         aws.String(s.bucket),
		Key:            aws.String(key),
		ContentLength:  aws.Int64(size),
		ChecksumSHA256: aws.String(checksum),
	}, s3.WithPresignExpires(ttl))
	if err != nil {
		return files.Upload{}, fmt.Errorf("presign %s: %w", key, err)
	}
	return files.Upload{
		URL:       req.URL,
		Method:    http.MethodPut,
		Headers:   clientHeaders(req.SignedHeader),
		ExpiresAt: time.Now().Add(ttl).UTC().Truncate(time.Second),
	}, nil
}

// clientHeaders keeps the signed headers a client must send itself. Host and
// Content-Length are set by every HTTP client (browsers refuse to set them).
func clientHeaders(h http.Header) map[string]string {
	out := make(map[string]string, len(h))
	for k, v := range h {
		switch strings.ToLower(k) {
		case "host", "content-length":
			continue
		}
		out[strings.ToLower(k)] = strings.Join(v, ",")
	}
	return out
}

// EnsureBucket creates the bucket if it is missing and sets CORS so that
// browsers on origins may PUT to presigned URLs. It is for local set-up and
// tests; in AWS the bucket is provisioned outside the application.
func (s *Store) EnsureBucket(ctx context.Context, origins []string) error {
	_, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(s.bucket)})
	if err != nil {
		if _, err := s.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(s.bucket)}); err != nil {
			return fmt.Errorf("create bucket %s: %w", s.bucket, err)
		}
	}
	if len(origins) == 0 {
		return nil
	}
	_, err = s.client.PutBucketCors(ctx, &s3.PutBucketCorsInput{
		Bucket: aws.String(s.bucket),
		CORSConfiguration: &types.CORSConfiguration{CORSRules: []types.CORSRule{{
			AllowedOrigins: origins,
			AllowedMethods: []string{http.MethodPut, http.MethodGet, http.MethodHead},
			AllowedHeaders: []string{"*"},
			ExposeHeaders:  []string{"ETag", "x-amz-checksum-sha256"},
			MaxAgeSeconds:  aws.Int32(3600),
		}}},
	})
	if err != nil {
		return fmt.Errorf("set cors on %s: %w", s.bucket, err)
	}
	return nil
}

func loadAWSConfig(ctx context.Context, cfg Config) (aws.Config, error) {
	if cfg.AccessKey != "" {
		return aws.Config{
			Region:      cfg.Region,
			Credentials: credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, ""),
		}, nil
	}
	return defaultConfig(ctx, cfg.Region)
}

// ObjectSize returns the size of the object under key and whether it exists,
// with one HEAD request. (Listing by prefix through the blobstore binding
// also works, but an S3-compatible server may list a whole directory to
// answer it, so its cost grows with the number of objects.)
func (s *Store) ObjectSize(ctx context.Context, key string) (int64, bool, error) {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if notFound(err) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("head %s: %w", key, err)
	}
	return aws.ToInt64(out.ContentLength), true, nil
}

func notFound(err error) bool {
	var nf *types.NotFound
	var nsk *types.NoSuchKey
	var re interface{ HTTPStatusCode() int }
	return err != nil && (errors.As(err, &nf) || errors.As(err, &nsk) || (errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound))
}

// PresignGet returns a GET for key whose response storage sends as an
// attachment named name, so a browser saves an uploaded HTML or SVG file
// instead of rendering it from the bucket's origin.
func (s *Store) PresignGet(ctx context.Context, key, name string, ttl time.Duration) (files.PresignedGet, error) {
	req, err := s.presign.PresignGetObject(ctx, &s3.GetObjectInput{
		Bucket:                     aws.String(s.bucket),
		Key:                        aws.String(key),
		ResponseContentDisposition: aws.String(Attachment(name)),
		ResponseContentType:        aws.String("application/octet-stream"),
	}, s3.WithPresignExpires(ttl))
	if err != nil {
		return files.PresignedGet{}, fmt.Errorf("presign get %s: %w", key, err)
	}
	return files.PresignedGet{URL: req.URL, ExpiresAt: time.Now().Add(ttl).UTC().Truncate(time.Second)}, nil
}

// Attachment is a Content-Disposition that saves the file as name: an ASCII
// fallback with every other byte replaced, and the exact name in RFC 5987
// form for clients that read it.
func Attachment(name string) string {
	var ascii, ext strings.Builder
	for _, r := range name {
		switch {
		case r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-+ ()", r)):
			ascii.WriteRune(r)
		default:
			ascii.WriteByte('_')
		}
	}
	for _, b := range []byte(name) {
		if b < 0x80 && (b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || strings.IndexByte("!#$&+-.^_`|~", b) >= 0) {
			ext.WriteByte(b)
		} else {
			fmt.Fprintf(&ext, "%%%02X", b)
		}
	}
	fallback := strings.TrimLeft(ascii.String(), ". ")
	if fallback == "" {
		fallback = "download"
	}
	return fmt.Sprintf(`attachment; filename="%s"; filename*=UTF-8''%s`, fallback, ext.String())
}

// PutTags replaces the tags of the object under key. A missing object has
// nothing to tag: that is not an error.
func (s *Store) PutTags(ctx context.Context, key string, tags map[string]string) error {
	set := make([]types.Tag, 0, len(tags))
	for k, v := range tags {
		set = append(set, types.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	_, err := s.client.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{
		Bucket: aws.String(s.bucket), Key: aws.String(key), Tagging: &types.Tagging{TagSet: set},
	})
	if notFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("tag %s: %w", key, err)
	}
	return nil
}

// Tags returns the tags of the object under key.
func (s *Store) Tags(ctx context.Context, key string) (map[string]string, error) {
	out, err := s.client.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		return nil, fmt.Errorf("tags of %s: %w", key, err)
	}
	m := make(map[string]string, len(out.TagSet))
	for _, t := range out.TagSet {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m, nil
}

// Copy copies the object under from to to, inside the bucket.
func (s *Store) Copy(ctx context.Context, from, to string) error {
	_, err := s.client.CopyObject(ctx, &s3.CopyObjectInput{
		Bucket: aws.String(s.bucket), Key: aws.String(to),
		CopySource: aws.String(s.bucket + "/" + from),
	})
	if err != nil {
		return fmt.Errorf("copy %s to %s: %w", from, to, err)
	}
	return nil
}

// Delete removes the object under key; a missing object is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil && !notFound(err) {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}

// StartMultipart begins a multipart upload to key whose parts carry SHA-256
// checksums, and returns its id.
func (s *Store) StartMultipart(ctx context.Context, key string) (string, error) {
	out, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: aws.String(s.bucket), Key: aws.String(key), ChecksumAlgorithm: types.ChecksumAlgorithmSha256,
	})
	if err != nil {
		return "", fmt.Errorf("start multipart upload %s: %w", key, err)
	}
	return aws.ToString(out.UploadId), nil
}

// PresignPart returns a PUT for part number of the multipart upload id that
// storage accepts only with exactly size bytes whose SHA-256 is sha256Hex.
func (s *Store) PresignPart(ctx context.Context, key, id string, number int32, size int64, sha256Hex string, ttl time.Duration) (files.Part, error) {
	sum, err := hex.DecodeString(sha256Hex)
	if err != nil || len(sum) != 32 {
		return files.Part{}, fmt.Errorf("presign part %d of %s: bad sha256 %q", number, key, sha256Hex)
	}
	req, err := s.presign.PresignUploadPart(ctx, &s3.UploadPartInput{
		Bucket: aws.String(s.bucket), Key: aws.String(key), UploadId: aws.String(id),
		PartNumber: aws.Int32(number), ContentLength: aws.Int64(size),
		ChecksumSHA256: aws.String(base64.StdEncoding.EncodeToString(sum)),
	}, s3.WithPresignExpires(ttl))
	if err != nil {
		return files.Part{}, fmt.Errorf("presign part %d of %s: %w", number, key, err)
	}
	return files.Part{Number: number, Size: size, URL: req.URL, Headers: clientHeaders(req.SignedHeader)}, nil
}

// Parts lists the parts storage holds for the multipart upload id: number,
// size, SHA-256 (hex) and ETag. ok is false when the upload is unknown
// (completed or aborted).
func (s *Store) Parts(ctx context.Context, key, id string) (parts []files.StoredPart, ok bool, err error) {
	p := s3.NewListPartsPaginator(s.client, &s3.ListPartsInput{Bucket: aws.String(s.bucket), Key: aws.String(key), UploadId: aws.String(id)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if noSuchUpload(err) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, fmt.Errorf("list parts of %s: %w", key, err)
		}
		for _, pt := range out.Parts {
			sum, _ := base64.StdEncoding.DecodeString(aws.ToString(pt.ChecksumSHA256))
			parts = append(parts, files.StoredPart{Number: aws.ToInt32(pt.PartNumber), Size: aws.ToInt64(pt.Size),
				SHA256: hex.EncodeToString(sum), ETag: aws.ToString(pt.ETag)}) // "" when storage gives no checksum
		}
	}
	return parts, true, nil
}

// CompleteMultipart joins the parts into the object under key.
func (s *Store) CompleteMultipart(ctx context.Context, key, id string, parts []files.StoredPart) error {
	done := make([]types.CompletedPart, len(parts))
	for i, p := range parts {
		sum, _ := hex.DecodeString(p.SHA256)
		done[i] = types.CompletedPart{PartNumber: aws.Int32(p.Number), ETag: aws.String(p.ETag),
			ChecksumSHA256: aws.String(base64.StdEncoding.EncodeToString(sum))}
	}
	_, err := s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String(s.bucket), Key: aws.String(key), UploadId: aws.String(id),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: done},
	})
	if err != nil {
		return fmt.Errorf("complete multipart upload %s: %w", key, err)
	}
	return nil
}

// AbortMultipart discards the multipart upload id and its parts; an
// unknown upload is not an error.
func (s *Store) AbortMultipart(ctx context.Context, key, id string) error {
	_, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket: aws.String(s.bucket), Key: aws.String(key), UploadId: aws.String(id)})
	if err != nil && !noSuchUpload(err) {
		return fmt.Errorf("abort multipart upload %s: %w", key, err)
	}
	return nil
}

func noSuchUpload(err error) bool {
	var nsu *types.NoSuchUpload
	var re interface{ HTTPStatusCode() int }
	return err != nil && (errors.As(err, &nsu) || (errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound))
}
