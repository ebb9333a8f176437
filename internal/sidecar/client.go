// Package sidecar is IntelliDox's narrow view of the Dapr sidecar: publish,
// state, the blobstore binding, and the app side of subscriptions. Services
// declare the small interfaces they need; *Client satisfies them.
package sidecar

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	dapr "github.com/dapr/go-sdk/client"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/trace"
)

// Client talks to the local Dapr sidecar over gRPC.
type Client struct {
	conn *grpc.ClientConn
	dapr dapr.Client
}

// Dial returns a client for the sidecar at addr (host:port). The connection
// is lazy, so an app can start before its sidecar; calls made while the
// sidecar is away fail and are retried by their callers.
func Dial(addr string) (*Client, error) {
	if addr == "" {
		port := os.Getenv("DAPR_GRPC_PORT")
		if port == "" {
			port = "50001"
		}
		addr = "127.0.0.1:" + port
	}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(16 << 20)),
		// Reconnect quickly when the sidecar (re)starts: gRPC's default
		// backoff grows to two minutes.
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.Config{
			BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second,
		}, MinConnectTimeout: 5 * time.Second}),
	}
	// The go-sdk adds the API token only on the connections it dials itself;
	// the traceparent makes the sidecar's span a child of the current trace.
	token := os.Getenv("DAPR_API_TOKEN")
	opts = append(opts, grpc.WithUnaryInterceptor(func(ctx context.Context, method string, req, reply any,
		cc *grpc.ClientConn, invoker grpc.UnaryInvoker, callOpts ...grpc.CallOption) error {
		if token != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "dapr-api-token", token)
		}
		if tp := trace.From(ctx); tp != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "traceparent", tp)
		}
		return invoker(ctx, method, req, reply, cc, callOpts...)
	}))
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("dial sidecar %s: %w", addr, err)
	}
	return &Client{conn: conn, dapr: dapr.NewClientWithConnection(conn)}, nil
}

// Close releases the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Publish sends v, encoded as JSON, to topic on the shared pub/sub.
func (c *Client) Publish(ctx context.Context, topic string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", topic, err)
	}
	opts := []dapr.PublishEventOption{dapr.PublishEventWithContentType("application/json")}
	if id := contract.EventID(ctx); id != "" {
		// Dapr's override of the CloudEvent envelope's id.
		opts = append(opts, dapr.PublishEventWithMetadata(map[string]string{"cloudevent.id": id}))
	}
	if err := c.dapr.PublishEvent(ctx, contract.PubSub, topic, b, opts...); err != nil {
		return fmt.Errorf("publish %s: %w", topic, err)
	}
	return nil
}

// ErrNotFound is returned when a state key or an object does not exist.
var ErrNotFound = errors.New("not found")

// GetState decodes the JSON value stored under key into v.
func (c *Client) GetState(ctx context.Context, key string, v any) error {
	item, err := c.dapr.GetState(ctx, contract.StateStore, key, nil)
	if err != nil {
		return fmt.Errorf("get state %s: %w", key, err)
	}
	if item == nil || len(item.Value) == 0 {
		return ErrNotFound
	}
	if err := json.Unmarshal(item.Value, v); err != nil {
		return fmt.Errorf("decode state %s: %w", key, err)
	}
	return nil
}

// SaveState stores v as JSON under key.
func (c *Client) SaveState(ctx context.Context, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode state %s: %w", key, err)
	}
	if err := c.dapr.SaveState(ctx, contract.StateStore, key, b,
		map[string]string{"contentType": "application/json"}); err != nil {
		return fmt.Errorf("save state %s: %w", key, err)
	}
	return nil
}

// GetSecret reads the secret name from the secret store named store.
func (c *Client) GetSecret(ctx context.Context, store, name string) (map[string]string, error) {
	m, err := c.dapr.GetSecret(ctx, store, name, nil)
	if err != nil {
		return nil, fmt.Errorf("get secret %s from %s: %w", name, store, err)
	}
	return m, nil
}

// PresignGet asks the blobstore binding for a GET URL for key, valid for ttl.
func (c *Client) PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error) {
	out, err := c.dapr.InvokeBinding(ctx, &dapr.InvokeBindingRequest{
		Name:      contract.BlobStore,
		Operation: "presign",
		Metadata:  map[string]string{"key": key, "presignTTL": ttl.String()},
	})
	if err != nil {
		return "", fmt.Errorf("presign %s: %w", key, err)
	}
	var resp struct {
		PresignURL string `json:"presignURL"`
	}
	if err := json.Unmarshal(out.Data, &resp); err != nil || resp.PresignURL == "" {
		return "", fmt.Errorf("presign %s: unexpected binding response %q", key, out.Data)
	}
	return resp.PresignURL, nil
}

// PutObject stores data under key through the blobstore binding. The data
// travels as a JSON string of its base64, which the binding decodes
// (decodeBase64): it would otherwise rewrite data that parses as a JSON
// scalar. daprd bounds a request at 4 MiB, so data is kept under 3 MiB.
func (c *Client) PutObject(ctx context.Context, key string, data []byte) error {
	body, err := json.Marshal(base64.StdEncoding.EncodeToString(data))
	if err != nil {
		return err
	}
	if _, err := c.dapr.InvokeBinding(ctx, &dapr.InvokeBindingRequest{
		Name:      contract.BlobStore,
		Operation: "create",
		Data:      body,
		Metadata:  map[string]string{"key": key, "decodeBase64": "true"},
	}); err != nil {
		return fmt.Errorf("put object %s: %w", key, err)
	}
	return nil
}

// OpenObject streams the object stored under key through a presigned GET
// from the blobstore binding. The caller closes the body. A missing object
// is ErrNotFound.
func (c *Client) OpenObject(ctx context.Context, key string) (io.ReadCloser, error) {
	url, err := c.PresignGet(ctx, key, 15*time.Minute)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := objectHTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("get object %s: %w", key, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return resp.Body, nil
	case http.StatusNotFound:
		resp.Body.Close()
		return nil, fmt.Errorf("object %s: %w", key, ErrNotFound)
	}
	resp.Body.Close()
	return nil, fmt.Errorf("get object %s: %s", key, resp.Status)
}

// objectHTTP keeps connections to the object store alive between objects.
var objectHTTP = &http.Client{Transport: &http.Transport{
	Proxy:               http.ProxyFromEnvironment,
	MaxIdleConnsPerHost: 32,
	IdleConnTimeout:     90 * time.Second,
}}
