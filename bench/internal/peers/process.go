package peers

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
)

// ServeMain is the server process: it serves peer on an ephemeral loopback port,
// writes the address as one line to out, and serves until in reaches its end.
func ServeMain(peer string, in io.Reader, out io.Writer) error {
	p, err := Lookup(peer)
	if err != nil {
		return err
	}
	if p.Serve == nil {
		return fmt.Errorf("%s is linked only into the build with -tags kitex", p.Name)
	}
	return ServeOn(p.Serve, in, out)
}

// ServeOn runs serve on an ephemeral loopback port, writes the address as one line to
// out, and serves until in reaches its end: the body of a server process.
func ServeOn(serve func(net.Listener) (stop func(), err error), in io.Reader, out io.Writer) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	stop, err := serve(ln)
	if err != nil {
		ln.Close()
		return err
	}
	defer stop()
	if _, err := fmt.Fprintln(out, ln.Addr()); err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, in)
	return err
}

// Server is a peer's server running in a child process.
type Server struct {
	// Addr is the address it serves.
	Addr  string
	cmd   *exec.Cmd
	stdin io.Closer
}

// StartServer starts cmd, a process that runs ServeMain, and reads the address it
// serves.
func StartServer(cmd *exec.Cmd) (*Server, error) {
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		stdin.Close()
		cmd.Wait()
		return nil, fmt.Errorf("starting the server process: %w", err)
	}
	return &Server{Addr: strings.TrimSpace(line), cmd: cmd, stdin: stdin}, nil
}

// Stop tells the server process to exit and waits for it.
func (s *Server) Stop() error {
	s.stdin.Close()
	return s.cmd.Wait()
}
