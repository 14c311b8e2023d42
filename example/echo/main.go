// Command echo runs a RocketMQ-remoting echo server and a client in one process on
// loopback, and makes a sync, an async and a oneway call: the transport layer alone.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/ringrpc/ringrpc/transport"
)

const (
	codeEcho   int32 = 100
	codeNotify int32 = 101
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
}

func run() error {
	notified := make(chan string, 1)
	srv := transport.NewServer(transport.ServerOptions{})
	if err := srv.RegisterProcessor(codeEcho, transport.ProcessorFunc(echo), transport.PoolOptions{}); err != nil {
		return err
	}
	err := srv.RegisterProcessor(codeNotify, transport.ProcessorFunc(func(_ context.Context, _ *transport.Conn, req *transport.Command) (*transport.Command, error) {
		notified <- string(req.Body)
		return nil, nil
	}), transport.PoolOptions{})
	if err != nil {
		return err
	}
	ln, err := transport.Listen("127.0.0.1:0")
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	addr := ln.Addr().String()
	fmt.Println("server listening on", addr)

	client := transport.NewClient(transport.ClientOptions{})
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	resp, err := client.InvokeSync(ctx, addr, transport.NewRequest(codeEcho, transport.Fields{{Key: "from", Value: "sync"}}, []byte("hello")))
	if err != nil {
		return fmt.Errorf("sync call: %w", err)
	}
	fmt.Printf("sync:   %s\n", resp.Body)

	done := make(chan error, 1)
	client.InvokeAsync(ctx, addr, transport.NewRequest(codeEcho, nil, []byte("hello again")), func(resp *transport.Command, err error) {
		if err == nil {
			fmt.Printf("async:  %s\n", resp.Body)
		}
		done <- err
	})
	if err := <-done; err != nil {
		return fmt.Errorf("async call: %w", err)
	}

	if err := client.InvokeOneway(ctx, addr, transport.NewRequest(codeNotify, nil, []byte("fire and forget"))); err != nil {
		return fmt.Errorf("oneway call: %w", err)
	}
	select {
	case msg := <-notified:
		fmt.Printf("oneway: server got %q\n", msg)
	case <-ctx.Done():
		return fmt.Errorf("oneway call never arrived: %w", ctx.Err())
	}

	resp, err = client.InvokeSync(ctx, addr, transport.NewRequest(4242, nil, nil))
	if err != nil {
		return err
	}
	fmt.Printf("unknown code: response code %d, remark %q\n", resp.Code, resp.Remark)

	if err := srv.Shutdown(ctx); err != nil {
		return err
	}
	<-served
	fmt.Println("server shut down gracefully")
	return nil
}

func echo(_ context.Context, _ *transport.Conn, req *transport.Command) (*transport.Command, error) {
	resp := transport.NewResponse(req, transport.CodeSuccess, "")
	resp.Body = append([]byte("echo: "), req.Body...)
	return resp, nil
}
