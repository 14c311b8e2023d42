package main

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ringrpc/ringrpc/bench/internal/greeter"
	"github.com/ringrpc/ringrpc/rpc"
	"github.com/ringrpc/ringrpc/transport"
)

// provide serves greeter.Impl with every default on a loopback port and writes its
// address. Each line read from in asks for its peaks so far; at the end of in it
// stops.
func provide(in io.Reader, out io.Writer) error {
	if name := os.Getenv("OVERLOAD_CPUPROFILE"); name != "" {
		f, err := os.Create(name)
		if err != nil {
			return fmt.Errorf("OVERLOAD_CPUPROFILE: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("OVERLOAD_CPUPROFILE: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	logs := &logCounter{}
	log := slog.New(logs)
	s := rpc.NewServer(rpc.ServerOptions{Logger: log, Transport: transport.ServerOptions{ConnOptions: transport.ConnOptions{Logger: log}}})
	if err := greeter.RegisterGreeterServer(s, greeter.Impl{}); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	var peakG atomic.Int64
	stop := make(chan struct{})
	go sampleGoroutines(&peakG, stop)
	fmt.Fprintln(out, ln.Addr())
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		fmt.Fprintf(out, "%d %d %s\n", peakRSS(), peakG.Load(), logs)
	}
	close(stop)
	s.Close()
	<-served
	return nil
}

func sampleGoroutines(peak *atomic.Int64, stop <-chan struct{}) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if n := int64(runtime.NumGoroutine()); n > peak.Load() {
			peak.Store(n)
		}
		select {
		case <-t.C:
		case <-stop:
			return
		}
	}
}

// peakRSS returns the process's peak resident set size in bytes (VmHWM).
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return -1
}
