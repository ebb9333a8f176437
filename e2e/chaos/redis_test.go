package chaos

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/intellidox/intellidox/internal/problem"
)

func problemBody(status int, code, detail string) problem.Body {
	return problem.Body{Status: status, Code: code, Detail: detail}
}

// redisDo sends one command to Redis and returns its decoded reply: a
// string, an int64, nil or a []any. It is just enough RESP to read the
// event streams the pub/sub component writes, without a client library.
func redisDo(addr string, args ...string) (any, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Minute))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(conn, b.String()); err != nil {
		return nil, err
	}
	return readRESP(bufio.NewReaderSize(conn, 64<<10))
}

func readRESP(r *bufio.Reader) (any, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return nil, errors.New("redis: empty reply line")
	}
	switch line[0] {
	case '+':
		return line[1:], nil
	case '-':
		return nil, errors.New("redis: " + line[1:])
	case ':':
		return strconv.ParseInt(line[1:], 10, 64)
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return nil, err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return nil, err
		}
		out := make([]any, n)
		for i := range out {
			if out[i], err = readRESP(r); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("redis: unexpected reply %q", line)
}

// streamEvent is one CloudEvent of a stream: its id and its data.
type streamEvent struct {
	ID   string
	Data json.RawMessage
}

// streamEvents returns every CloudEvent in a topic's Redis stream
// (pubsub.redis writes a topic to the stream of the same name), oldest
// first.
func streamEvents(addr, topic string) ([]streamEvent, error) {
	reply, err := redisDo(addr, "XRANGE", topic, "-", "+")
	if err != nil {
		return nil, err
	}
	entries, _ := reply.([]any)
	var out []streamEvent
	for _, e := range entries {
		entry, _ := e.([]any)
		if len(entry) != 2 {
			continue
		}
		fields, _ := entry[1].([]any)
		for i := 0; i+1 < len(fields); i += 2 {
			if fields[i] != "data" {
				continue
			}
			raw, _ := fields[i+1].(string)
			var ce struct {
				ID         string          `json:"id"`
				Data       json.RawMessage `json:"data"`
				DataBase64 string          `json:"data_base64"`
			}
			if err := json.Unmarshal([]byte(raw), &ce); err != nil {
				return nil, fmt.Errorf("stream %s entry %v: %w", topic, entry[0], err)
			}
			data := ce.Data
			if len(data) == 0 && ce.DataBase64 != "" {
				b, err := base64.StdEncoding.DecodeString(ce.DataBase64)
				if err != nil {
					return nil, err
				}
				data = b
			}
			out = append(out, streamEvent{ID: ce.ID, Data: data})
		}
	}
	return out, nil
}
