// Package natsjs creates a NATS JetStream stream, for local set-up and
// tests: Dapr's pubsub.jetstream component consumes a stream but does not
// create one, and versitygw publishes plain NATS messages that only a
// stream keeps. It speaks the NATS text protocol (CONNECT, SUB, PUB to
// the JetStream API with a reply subject, MSG) instead of pulling a client
// library into the module for one request.
package natsjs

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/intellidox/intellidox/internal/contract"
)

// StorageStream is the stream that keeps storage events of protected
// buckets (components/local/storage.yaml reads it; scripts/infra.sh, with
// devtool stream, and the tests create it).
var StorageStream = Stream{Name: "STORAGE_EVENTS", Subjects: []string{contract.TopicStorageEvents}, MaxAge: 7 * 24 * time.Hour}

// Stream is the part of a JetStream stream configuration we set.
type Stream struct {
	Name     string        `json:"name"`
	Subjects []string      `json:"subjects"`
	MaxAge   time.Duration `json:"max_age"` // kept this long, then dropped
	// File storage survives a restart of nats-server; memory does not.
	Storage string `json:"storage"`
}

type apiResponse struct {
	Error *struct {
		Code        int    `json:"code"`
		ErrCode     int    `json:"err_code"`
		Description string `json:"description"`
	} `json:"error"`
	Config *json.RawMessage `json:"config"`
}

// errStreamNameInUse is JetStream's answer to creating a stream that exists
// with another configuration.
const errStreamNameInUse = 10058

// EnsureStream creates the stream on the NATS server at addr (host:port),
// or updates it if it exists with another configuration.
func EnsureStream(ctx context.Context, addr string, s Stream) error {
	if s.Storage == "" {
		s.Storage = "file"
	}
	body, err := json.Marshal(struct {
		Stream
		Retention string `json:"retention"`
		Discard   string `json:"discard"`
		Replicas  int    `json:"num_replicas"`
	}{s, "limits", "old", 1})
	if err != nil {
		return err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("nats %s: %w", addr, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	} else {
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	}
	r := bufio.NewReader(conn)
	if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "INFO ") {
		return fmt.Errorf("nats %s: no INFO greeting (%q, %v)", addr, line, err)
	}
	if _, err := fmt.Fprint(conn, "CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,\"no_responders\":true,\"protocol\":1}\r\n"+
		"SUB _INBOX.natsjs 1\r\n"); err != nil {
		return err
	}
	for _, op := range []string{"CREATE", "UPDATE"} {
		if _, err := fmt.Fprintf(conn, "PUB $JS.API.STREAM.%s.%s _INBOX.natsjs %d\r\n%s\r\n", op, s.Name, len(body), body); err != nil {
			return err
		}
		payload, err := reply(conn, r)
		if err != nil {
			return fmt.Errorf("nats %s: stream %s: %w", addr, s.Name, err)
		}
		var resp apiResponse
		if err := json.Unmarshal(payload, &resp); err != nil {
			return fmt.Errorf("nats %s: stream %s: %q: %w", addr, s.Name, payload, err)
		}
		switch {
		case resp.Error == nil && resp.Config != nil:
			return nil
		case resp.Error != nil && op == "CREATE" && resp.Error.ErrCode == errStreamNameInUse:
			continue // exists with another configuration: update it
		case resp.Error != nil:
			return fmt.Errorf("nats %s: %s stream %s: %s (%d)", addr, strings.ToLower(op), s.Name, resp.Error.Description, resp.Error.ErrCode)
		}
		return fmt.Errorf("nats %s: stream %s: unexpected answer %q", addr, s.Name, payload)
	}
	return nil
}

// reply reads protocol lines until the reply message and returns its
// payload, answering the server's PINGs. A reply with headers only is a
// status: 503 means no JetStream.
func reply(w io.Writer, r *bufio.Reader) ([]byte, error) {
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		line = strings.TrimRight(line, "\r\n")
		f := strings.Fields(line)
		switch {
		case len(f) == 0:
		case f[0] == "PING":
			if _, err := io.WriteString(w, "PONG\r\n"); err != nil {
				return nil, err
			}
		case f[0] == "-ERR":
			return nil, fmt.Errorf("server error: %s", line)
		case f[0] == "MSG" || f[0] == "HMSG":
			total, err := strconv.Atoi(f[len(f)-1])
			if err != nil {
				return nil, fmt.Errorf("bad %q", line)
			}
			buf := make([]byte, total+2) // payload and its CRLF
			if _, err := io.ReadFull(r, buf); err != nil {
				return nil, err
			}
			buf = buf[:total]
			if f[0] == "HMSG" {
				hdr, _ := strconv.Atoi(f[len(f)-2])
				head, payload := string(buf[:hdr]), buf[hdr:]
				if len(payload) == 0 {
					if strings.Contains(head, " 503") {
						return nil, fmt.Errorf("JetStream is not enabled (start nats-server with -js)")
					}
					return nil, fmt.Errorf("status reply %q", strings.TrimSpace(head))
				}
				buf = payload
			}
			return buf, nil
		}
	}
}
