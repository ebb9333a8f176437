// Package clamav is a client for clamd's INSTREAM protocol and the ClamAV
// scan engine built on it.
package clamav

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"
)

// Client speaks to one clamd over TCP. It is safe for concurrent use: each
// call uses its own connection, because clamd serves one INSTREAM per
// connection outside of IDSESSION mode and localhost dials are cheap.
type Client struct {
	Addr    string        // host:port of clamd
	Timeout time.Duration // bound on one command, including the scan
	Chunk   int           // INSTREAM chunk size; clamd's default StreamMaxLength applies to the total
}

// Reply is clamd's answer to INSTREAM.
type Reply struct {
	Found   bool   // a signature matched
	Threat  string // signature name when Found
	Limited bool   // clamd refused the stream: size limit exceeded
	Raw     string
}

// ErrUnavailable means clamd could not be reached or dropped the connection.
var ErrUnavailable = errors.New("clamd unavailable")

func (c *Client) dial(ctx context.Context) (net.Conn, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", c.Addr)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	deadline := time.Now().Add(c.timeout())
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = conn.SetDeadline(deadline)
	return conn, nil
}

func (c *Client) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return 5 * time.Minute
}

// command sends a z-terminated command and reads one NUL-terminated reply.
func (c *Client) command(ctx context.Context, cmd string) (string, error) {
	conn, err := c.dial(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("z" + cmd + "\x00")); err != nil {
		return "", fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return readReply(conn)
}

func readReply(r io.Reader) (string, error) {
	s, err := bufio.NewReader(r).ReadString(0)
	if err != nil && !(errors.Is(err, io.EOF) && s != "") {
		return "", fmt.Errorf("%w: reading reply: %v", ErrUnavailable, err)
	}
	return strings.TrimRight(s, "\x00\n"), nil
}

// Ping checks that clamd answers PING with PONG.
func (c *Client) Ping(ctx context.Context) error {
	r, err := c.command(ctx, "PING")
	if err != nil {
		return err
	}
	if r != "PONG" {
		return fmt.Errorf("clamd PING: unexpected reply %q", r)
	}
	return nil
}

// Version returns clamd's VERSION line, e.g. "ClamAV 1.4.6/27500/Mon Jan 1 ...".
func (c *Client) Version(ctx context.Context) (string, error) {
	return c.command(ctx, "VERSION")
}

// Scan streams r to clamd and returns its verdict. It never buffers more
// than one chunk.
func (c *Client) Scan(ctx context.Context, r io.Reader) (Reply, error) {
	conn, err := c.dial(ctx)
	if err != nil {
		return Reply{}, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	st := getStreamBuf(c.Chunk)
	defer putStreamBuf(st)
	buf, w := st.buf, st.w
	w.Reset(conn)
	copy(buf, "zINSTREAM\x00")
	if _, err := w.Write(buf[:10]); err != nil {
		return Reply{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	for {
		n, rerr := io.ReadFull(r, buf[4:])
		if n > 0 {
			binary.BigEndian.PutUint32(buf[:4], uint32(n))
			if _, err := w.Write(buf[:4+n]); err != nil {
				// clamd closes the connection once the stream exceeds its
				// limit; its reply says so.
				if reply, rerr := readReply(conn); rerr == nil && reply != "" {
					return parse(reply)
				}
				return Reply{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return Reply{}, fmt.Errorf("read object: %w", rerr)
		}
	}
	if _, err := w.Write([]byte{0, 0, 0, 0}); err != nil {
		return Reply{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if err := w.Flush(); err != nil {
		if reply, rerr := readReply(conn); rerr == nil && reply != "" {
			return parse(reply)
		}
		return Reply{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	reply, err := readReply(conn)
	if err != nil {
		if err := ctxErr(ctx); err != nil {
			return Reply{}, err
		}
		return Reply{}, err
	}
	return parse(reply)
}

// defaultChunk is the INSTREAM chunk size unless Client.Chunk says otherwise.
const defaultChunk = 256 << 10

// streamBuf is one scan's chunk buffer and the writer that coalesces the
// command, the chunk headers and small files into few writes.
type streamBuf struct {
	buf []byte // 4-byte length prefix + chunk
	w   *bufio.Writer
}

// streamBufs keeps default-sized buffers between scans: two 256 KiB
// allocations per file were the INSTREAM client's main cost on small files.
var streamBufs = sync.Pool{New: func() any {
	return &streamBuf{buf: make([]byte, 4+defaultChunk), w: bufio.NewWriterSize(nil, 4+defaultChunk)}
}}

func getStreamBuf(chunk int) *streamBuf {
	if chunk <= 0 || chunk == defaultChunk {
		return streamBufs.Get().(*streamBuf)
	}
	return &streamBuf{buf: make([]byte, 4+chunk), w: bufio.NewWriterSize(nil, 4+chunk)}
}

func putStreamBuf(st *streamBuf) {
	st.w.Reset(nil)
	if len(st.buf) == 4+defaultChunk {
		streamBufs.Put(st)
	}
}

// parse reads "stream: OK", "stream: <name> FOUND" or "<message> ERROR".
func parse(reply string) (Reply, error) {
	out := Reply{Raw: reply}
	body := strings.TrimPrefix(reply, "stream: ")
	switch {
	case body == "OK":
		return out, nil
	case strings.HasSuffix(body, " FOUND"):
		out.Found, out.Threat = true, strings.TrimSuffix(body, " FOUND")
		return out, nil
	case strings.Contains(reply, "size limit exceeded"):
		out.Limited = true
		return out, nil
	case strings.HasSuffix(reply, " ERROR"):
		return out, fmt.Errorf("clamd: %s", strings.TrimSuffix(reply, " ERROR"))
	}
	return out, fmt.Errorf("clamd: unexpected reply %q", reply)
}

// ctxErr is ctx.Err(), also when ctx's deadline has passed but its timer
// has not fired yet: the connection's deadline is the context's, so a read
// can time out a moment before the context says so.
func ctxErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}
