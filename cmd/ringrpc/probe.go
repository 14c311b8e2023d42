package main

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/ringrpc/ringrpc/rpc"
	"github.com/ringrpc/ringrpc/transport"
)

// probeTimeout bounds each probe of a server that failed a call.
const probeTimeout = time.Second

// maxPlausibleFrame is a frame length no ringrpc answer to a probe reaches.
const maxPlausibleFrame = 16 << 20

// diagnose explains a failed call to addr when the peer is not what the command
// expects: a TLS server called without TLS, a plain server called with it, or
// something that is not a RocketMQ remoting peer at all. Otherwise it returns err.
func (s *session) diagnose(addr string, err error) error {
	if err == nil || addr == "" || rpc.CodeOf(err) == rpc.CodeServiceNotFound || rpc.CodeOf(err) == rpc.CodeMethodNotFound {
		return err
	}
	if s.tls == nil && speaksTLS(addr) {
		return fmt.Errorf("%s speaks TLS: add --tls (with --ca for a private CA, and --cert/--key for mutual TLS): %w", addr, err)
	}
	what, refused := s.probe(addr)
	if refused != nil {
		return fmt.Errorf("%s refused this side's TLS (%v): a server that asks for a client certificate needs --cert and --key, signed by a CA it trusts: %w", addr, refused, err)
	}
	if what != "" {
		return fmt.Errorf("%s is not a ringrpc server: %s (%w)", addr, what, err)
	}
	return err
}

// speaksTLS reports whether a TLS handshake with addr completes.
func speaksTLS(addr string) bool {
	d := &net.Dialer{Timeout: probeTimeout}
	conn, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // only probes whether the peer speaks TLS
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// probe sends addr a remoting request and describes the answer when it is not a
// remoting frame; "" when it is one, or when the probe itself failed to connect. Over
// TLS, refused is the alert of a server that refused the session once the handshake
// seemed done (TLS 1.3 tells a client that it wants a certificate only then).
func (s *session) probe(addr string) (what string, refused error) {
	d := &net.Dialer{Timeout: probeTimeout}
	var conn net.Conn
	var err error
	if s.tls != nil {
		conn, err = tls.DialWithDialer(d, "tcp", addr, s.tls)
		if err != nil && isNotTLS(err) {
			return "it does not speak TLS: drop --tls, --ca, --cert and --server-name", nil
		}
	} else {
		conn, err = d.Dial("tcp", addr)
	}
	if err != nil {
		return "", nil
	}
	head, sent, err := remotingAnswer(conn)
	if !sent {
		return "", nil
	}
	if len(head) == 0 && s.tls != nil && isRemoteAlert(err) {
		return "", err
	}
	return classify(head, err), nil
}

// isRemoteAlert reports whether err is the alert a TLS peer sent.
func isRemoteAlert(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "remote error"
}

// encryptedGossip is the first byte of a message that memberlist encrypted
// (its encryptMsg type): what a member with a key answers on its gossip port.
const encryptedGossip = 10

// seedNotGossip describes a seed that is not a gossip port but a server that answers
// on TCP (a ringrpc RPC port, HTTP, TLS), or one whose gossip this side cannot
// decrypt, or returns "".
func seedNotGossip(addr string) string {
	const hint = "give a member's gossip address to --seed, or a server's address to --addr"
	if speaksTLS(addr) {
		return fmt.Sprintf("%s speaks TLS, so it is no gossip port: %s", addr, hint)
	}
	conn, err := net.DialTimeout("tcp", addr, probeTimeout)
	if err != nil {
		return ""
	}
	head, _, err := remotingAnswer(conn)
	switch what := classify(head, err); {
	case len(head) > 0 && head[0] == encryptedGossip:
		return fmt.Sprintf("%s is a gossip port whose messages are encrypted with a key this side was not given: give one of the cluster's keys with --gossip-key", addr)
	case len(head) == 8 && what == "":
		return fmt.Sprintf("%s is a ringrpc server's RPC port, not a gossip port: %s", addr, hint)
	case len(head) > 0:
		return fmt.Sprintf("%s is no gossip port: %s; %s", addr, what, hint)
	}
	return ""
}

// remotingAnswer sends conn a remoting request and returns the first 8 bytes of its
// answer (fewer, with the error, if it sent fewer), and whether the request was sent;
// it closes conn.
func remotingAnswer(conn net.Conn) (head []byte, sent bool, err error) {
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(probeTimeout))
	// The body ends in blank lines, which a ringrpc server reads as JSON space and a
	// line-based server (HTTP) as the end of a request it answers.
	req := transport.Command{Code: rpc.RequestCode, Opaque: 1, ExtFields: []transport.Field{{Key: rpc.HeaderInterface, Value: rpc.IntrospectionService}, {Key: rpc.HeaderMethod, Value: "Services"}}, Body: []byte("[]\r\n\r\n")}
	frame, err := transport.AppendFrame(nil, &req, transport.SerializeJSON)
	if err != nil {
		return nil, false, err
	}
	if _, err := conn.Write(frame); err != nil {
		return nil, false, err
	}
	head = make([]byte, 8)
	n, err := io.ReadFull(conn, head)
	return head[:n], true, err
}

// classify names what sent head in answer to a remoting request.
func classify(head []byte, err error) string {
	switch {
	case bytes.HasPrefix(head, []byte("HTTP/")):
		return "it answered with HTTP (an HTTP server?)"
	case len(head) >= 2 && head[0] == 0x15 && head[1] == 0x03:
		return "it answered with a TLS alert: add --tls"
	case len(head) == 0 && errors.Is(err, io.EOF):
		return "it closed the connection on a RocketMQ remoting request (a gossip port? use --seed for that)"
	case len(head) == 0:
		return "it answered neither the call nor a RocketMQ remoting request sent after it, given " + probeTimeout.String() + " more"
	case len(head) < 8:
		return fmt.Sprintf("it answered %q, too short for a remoting frame", head)
	}
	total, hdr := binary.BigEndian.Uint32(head), binary.BigEndian.Uint32(head[4:])&0xFFFFFF
	if total > maxPlausibleFrame || hdr > total {
		return fmt.Sprintf("its answer starts %q, not a remoting frame", head)
	}
	return ""
}

func isNotTLS(err error) bool {
	var re tls.RecordHeaderError
	return errors.As(err, &re)
}
